"""Make the self-contained `fwatchdog` binary: launcher + bundle (docs/watchdog.md, "The binary").

Runs under the Python that will be bundled (Debian's python3 in the watchdog
image's build stage), standard library only:

    python3 bundle.py --launcher LAUNCHER --source watchdog/ --out /fwatchdog

The bundle holds the interpreter, every shared library it and the bundled
extension modules load (found with ldd; the dynamic loader and glibc too),
the modules the watchdog can import (found with modulefinder, plus what the
interpreter itself imports at start-up) as bytecode without sources, and the
watchdog package. The format is the one launcher.c reads. The output is the
same bytes for the same inputs: sorted entries, fixed modes, hash-based pyc.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import modulefinder
import os
import pkgutil
import py_compile
import re
import struct
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

MAGIC = b"FWDBUNDL"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
VERSION_DIR = f"lib/python{sys.version_info.major}.{sys.version_info.minor}"
# Reached only through imports the watchdog never runs (optional or lazy ones
# in the standard library: asyncio's ssl, shutil's archives, dataclasses' and
# logging's rarely used corners), and large. Left out; the tests of every mode
# run against the binary (docs/watchdog.md, "The binary").
EXCLUDES = ["tkinter", "test", "unittest", "pydoc", "pydoc_data", "lib2to3", "idlelib",
            "ensurepip", "venv", "distutils", "setuptools", "pip", "sqlite3", "curses",
            "ssl", "_ssl", "multiprocessing", "email", "http", "xml", "xmlrpc",
            "decimal", "_decimal", "_pydecimal", "pdb", "bdb", "doctest", "difflib",
            "tarfile", "zipfile", "gzip", "bz2", "_bz2", "lzma", "_lzma", "readline",
            "argparse", "calendar", "_strptime", "statistics", "fractions", "random",
            "hashlib", "_hashlib", "hmac", "secrets", "base64", "quopri", "pickle",
            "_pickle", "_compat_pickle", "csv", "_csv", "zoneinfo", "tracemalloc",
            "pprint", "code", "codeop", "cmd", "glob", "getopt", "gettext", "runpy",
            "py_compile", "pkgutil", "_json", "datetime", "_datetime", "_ctypes_test"]


def watchdog_modules(source: Path) -> list[str]:
    """Every module of the fwatchdog package, imported lazily or not."""
    names = ["fwatchdog"]
    for info in pkgutil.walk_packages([str(source / "fwatchdog")], prefix="fwatchdog."):
        names.append(info.name)
    return names


def startup_modules() -> set[str]:
    """What the interpreter imports before any code runs, as the launcher starts it."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", "import sys; print(*sys.modules)"],
                         check=True, capture_output=True, text=True).stdout
    return set(out.split()) - {"__main__"}


def find_modules(source: Path) -> dict[str, Path]:
    """Module name -> file, for every non-builtin module to bundle."""
    finder = modulefinder.ModuleFinder(path=[str(source), *sys.path], excludes=EXCLUDES)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as entry:
        entry.write("".join(f"import {name}\n" for name in watchdog_modules(source)))
        entry.write("import encodings\n")
    try:
        finder.run_script(entry.name)
    finally:
        os.unlink(entry.name)
    found = {name: Path(mod.__file__) for name, mod in finder.modules.items()
             if mod.__file__ and name != "__main__"}
    names = startup_modules() | {m.name for m in pkgutil.iter_modules(
        [str(STDLIB / "encodings")], prefix="encodings.")}
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and spec.has_location:
            found.setdefault(name, Path(spec.origin))
    return found


def bundle_path(name: str, file: Path, source: Path) -> str | None:
    """Where a module goes in the bundle, or None to leave it out."""
    for root in (source, STDLIB):
        if file.is_relative_to(root):
            return f"{VERSION_DIR}/{file.relative_to(root).with_suffix('.pyc')}"
    return None  # site-packages: the watchdog uses none


def shared_libraries(binaries: list[Path]) -> tuple[Path, set[Path]]:
    """The dynamic loader and every library the binaries need, from ldd."""
    loader: Path | None = None
    libs: set[Path] = set()
    for binary in binaries:
        out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            if m := re.search(r"=>\s+(/\S+)", line):
                libs.add(Path(m.group(1)))
            elif m := re.match(r"\s*(/\S*ld-linux\S*)", line):
                loader = Path(m.group(1))
    if loader is None:
        raise SystemExit(f"no dynamic loader in the ldd output for {binaries[0]}")
    return loader, libs


Files = dict[str, tuple[str, Path, int]]  # bundle path -> (kind, file with the bytes, mode)


def collect(source: Path, work: Path) -> Files:
    """Every entry: machine code for memfds ('m'), bytecode to unpack ('f')."""
    files: Files = {}
    extensions: list[Path] = []
    here = Path(__file__).resolve().parent
    modules = find_modules(source)
    modules["_fwatchdog_boot"] = here / "boot.py"
    for name, file in sorted(modules.items()):
        if file.suffix == ".so":
            files[f"ext/{name}"] = ("m", file, 0o755)
            extensions.append(file)
            continue
        target = bundle_path(name, file, source) if file.parent != here \
            else f"{VERSION_DIR}/{name}.pyc"
        if target is None:
            continue
        pyc = work / target
        pyc.parent.mkdir(parents=True, exist_ok=True)
        # Hash-based, unchecked: no timestamps in the output, and no source to check.
        py_compile.compile(str(file), cfile=str(pyc), dfile=f"<fwatchdog>/{target}",
                           doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        files[target] = ("f", pyc, 0o644)
    if f"{VERSION_DIR}/os.pyc" not in files:  # the landmark Python finds its prefix by
        raise SystemExit("os was not found: the bundled Python would not find its library")
    # bin/python3 only tells Python where it is (the launcher passes it as argv[0]);
    # the interpreter itself runs from a memfd.
    empty = work / "empty"
    empty.write_bytes(b"")
    files["bin/python3"] = ("f", empty, 0o644)
    python = Path(os.path.realpath(sys.executable))
    files["python3"] = ("m", python, 0o755)
    loader, libs = shared_libraries([python, *extensions])
    files["ld.so"] = ("m", loader, 0o755)
    for lib in libs:
        files[f"lib/{lib.name}"] = ("m", lib, 0o755)
    return files


def entry(kind: bytes, mode: int, path: str, data: bytes = b"") -> bytes:
    raw = path.encode()
    return kind + struct.pack("<IIQ", mode, len(raw), len(data)) + raw + data


def payload(files: Files) -> tuple[bytes, bytes]:
    """The memfd entries, then the directories and files to unpack."""
    code = [entry(b"m", mode, path, file.read_bytes())
            for path, (kind, file, mode) in sorted(files.items()) if kind == "m"]
    unpacked = [path for path, (kind, _, _) in files.items() if kind == "f"]
    # lib-dynload must exist, empty, or Python warns that it found no platform library.
    dirs = sorted({str(parent) for path in unpacked for parent in Path(path).parents
                   if str(parent) != "."} | {f"{VERSION_DIR}/lib-dynload"},
                  key=lambda d: (d.count("/"), d))
    rest = [entry(b"d", 0o755, d) for d in dirs]
    rest += [entry(b"f", mode, path, file.read_bytes())
             for path, (kind, file, mode) in sorted(files.items()) if kind == "f"]
    return b"".join(code), b"".join(rest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launcher", type=Path, required=True, help="the static launcher")
    parser.add_argument("--source", type=Path, required=True,
                        help="the directory that holds the fwatchdog package")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        code, rest = payload(collect(args.source.resolve(), Path(work)))
    launcher = args.launcher.read_bytes()
    ident = hashlib.sha256(code + rest).hexdigest()[:16].encode()
    trailer = MAGIC + struct.pack("<QQ", len(launcher), len(launcher) + len(code)) + ident
    args.out.write_bytes(launcher + code + rest + trailer)
    args.out.chmod(0o755)
    print(f"{args.out}: {args.out.stat().st_size} bytes, bundle {ident.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
