"""The binary's bundle format (watchdog/freeze/bundle.py), as launcher.c reads it."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from wdkit import ROOT

sys.path.insert(0, str(ROOT / "watchdog" / "freeze"))
import bundle  # (a script's module, beside launcher.c)


def read_entries(blob: bytes) -> list[tuple[str, str, int, bytes]]:
    """A reader written from launcher.c's read_entry: kind, path, mode, data."""
    out, at = [], 0
    while at < len(blob):
        kind = blob[at:at + 1].decode()
        mode, length, size = struct.unpack_from("<IIQ", blob, at + 1)
        path = blob[at + 17:at + 17 + length].decode()
        data = blob[at + 17 + length:at + 17 + length + size] if kind != "d" else b""
        out.append((kind, path, mode, data))
        at += 17 + length + (size if kind != "d" else 0)
    return out


def test_machine_code_first_then_directories_then_files(tmp_path: Path):
    lib, pyc = tmp_path / "libc.so.6", tmp_path / "os.pyc"
    lib.write_bytes(b"\x7fELF...")
    pyc.write_bytes(b"bytecode")
    files = {"lib/libc.so.6": ("m", lib, 0o755),
             f"{bundle.VERSION_DIR}/os.pyc": ("f", pyc, 0o644),
             f"{bundle.VERSION_DIR}/json/__init__.pyc": ("f", pyc, 0o644)}
    code, rest = bundle.payload(files)
    assert read_entries(code) == [("m", "lib/libc.so.6", 0o755, b"\x7fELF...")]
    entries = read_entries(rest)
    kinds = [e[0] for e in entries]
    assert kinds == sorted(kinds)  # every directory before any file
    dirs = [e[1] for e in entries if e[0] == "d"]
    # Parents before children, and lib-dynload present though empty (Python warns without it).
    assert dirs == ["lib", bundle.VERSION_DIR, f"{bundle.VERSION_DIR}/json",
                    f"{bundle.VERSION_DIR}/lib-dynload"]
    assert ("f", f"{bundle.VERSION_DIR}/os.pyc", 0o644, b"bytecode") in entries


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path):
    a = tmp_path / "a.pyc"
    a.write_bytes(b"x")
    files = {f"lib/m{i}.pyc": ("f", a, 0o644) for i in (3, 1, 2)}
    assert bundle.payload(files) == bundle.payload(dict(reversed(files.items())))
