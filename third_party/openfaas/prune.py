"""Copy an OpenFaaS watchdog's source tree keeping only what `go build` reads.

Usage: python3 prune.py SRC DEST PKGDIRS_FILE
SRC is a checkout of github.com/openfaas/classic-watchdog or of-watchdog;
PKGDIRS_FILE lists, one a line, the directory (relative to SRC) of every
package the build compiles and the files it embeds (update.sh makes it with
`go list -deps`, non-standard packages only). Kept: go.mod, go.sum, LICENSE,
vendor/modules.txt, each listed package's non-test .go/.s/.h files (every
GOOS/GOARCH variant, so the copy builds anywhere) and each vendored module's
license files. Tests, docs, CI files, unused vendored packages and files
only other systems than Linux compile (a GOOS in their name: golang.org/x/sys
is 6.7 of 10 MB otherwise) are dropped: the copy builds for Linux on any
GOARCH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

KEEP_SUFFIXES = (".go", ".s", ".h")
# Go's known GOOS values but linux (go/build's syslist): a file named
# *_<goos>[_<goarch>].<ext> is compiled only there.
OTHER_GOOS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "nacl",
    "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos",
})


def keep(path: Path, embedded: frozenset[str]) -> bool:
    if path.name in embedded:  # //go:embed
        return True
    if path.suffix not in KEEP_SUFFIXES or path.name.endswith("_test.go"):
        return False
    return not OTHER_GOOS & set(path.stem.split("_")[1:])


def module_roots(modules_txt: Path) -> list[str]:
    return [line.split()[1] for line in modules_txt.read_text().splitlines()
            if line.startswith("# ") and not line.startswith("## ")]


def main(src: Path, dest: Path, pkgdirs: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    copies = [src / name for name in ("go.mod", "go.sum", "LICENSE", "vendor/modules.txt")]
    for line in pkgdirs.read_text().splitlines():
        rel, *embeds = line.split()
        directory, embedded = src / rel, frozenset(embeds)
        copies += [f for f in directory.iterdir() if f.is_file() and keep(f, embedded)]
    for module in module_roots(src / "vendor/modules.txt"):
        root = src / "vendor" / module
        if root.is_dir():
            copies += [f for f in root.iterdir() if f.is_file()
                       and f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE",
                                                     "PATENTS"))]
    for path in copies:
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
