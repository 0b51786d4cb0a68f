"""`fwatchdog --healthcheck` stays cheap: it imports only the lock module, the
lock path follows $TMPDIR/$TEMP/$TMP, and the zipapp carries bytecode that
zipimport uses (and falls back from when another Python runs it)."""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import zipapp
from pathlib import Path

import pytest

from fwatchdog.lockfile import lock_path, temp_dir

WATCHDOG = Path(__file__).resolve().parents[2] / "watchdog"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, str]:
    made = {}
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        made[name] = str(tmp_path / name)
    made["missing"] = str(tmp_path / "missing")
    made["file"] = str(tmp_path / "file")
    Path(made["file"]).write_text("")
    return made


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "/tmp"),
    ({"TMPDIR": "a"}, "a"),
    ({"TMPDIR": "a", "TEMP": "b", "TMP": "c"}, "a"),
    ({"TEMP": "b", "TMP": "c"}, "b"),
    ({"TMP": "c"}, "c"),
    ({"TMPDIR": "missing", "TMP": "c"}, "c"),
    ({"TMPDIR": "file"}, "/tmp"),
    ({"TMPDIR": ""}, "/tmp"),
])
def test_temp_dir(dirs: dict[str, str], env: dict[str, str], expected: str) -> None:
    resolved = {k: dirs.get(v, v) for k, v in env.items()}
    assert temp_dir(resolved) == dirs.get(expected, expected)
    assert lock_path(resolved) == os.path.join(dirs.get(expected, expected), ".lock")


def run_check(argv: list[str], tmp: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(tmp), **extra}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_the_check_imports_only_the_lock_module(tmp_path: Path) -> None:
    probe = ("import sys; from fwatchdog.__main__ import main; code = main(['--healthcheck']); "
             "print(code, sorted(m for m in sys.modules if m.startswith('fwatchdog') "
             "or m in ('asyncio', 'tempfile', 'logging', 'socket')))")
    argv = [sys.executable, "-c", probe]
    assert run_check(argv, tmp_path, PYTHONPATH=str(WATCHDOG)).stdout.split(" ", 1) == [
        "1", "['fwatchdog', 'fwatchdog.__main__', 'fwatchdog.lockfile']\n"]
    (tmp_path / ".lock").write_text("")
    assert run_check(argv, tmp_path, PYTHONPATH=str(WATCHDOG)).stdout.startswith("0 ")


def build_zipapp(tmp_path: Path) -> Path:
    """As watchdog/Dockerfile does: bytecode beside the sources (-b), then zipapp."""
    source = tmp_path / "src"
    shutil.copytree(WATCHDOG / "fwatchdog", source / "fwatchdog",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert compileall.compile_dir(source, quiet=1, legacy=True)
    target = tmp_path / "fwatchdog.pyz"
    zipapp.create_archive(source, target, interpreter=sys.executable,
                          main="fwatchdog.__main__:run")
    return target


def test_the_zipapp_check_uses_its_bytecode(tmp_path: Path) -> None:
    app = build_zipapp(tmp_path)
    loaded = run_check([sys.executable, "-c", "import fwatchdog.lockfile as m; print(m.__file__)"],
                       tmp_path, PYTHONPATH=str(app))
    assert loaded.stdout.strip() == f"{app}/fwatchdog/lockfile.pyc", loaded.stderr
    (tmp_path / ".lock").write_text("")
    assert run_check([sys.executable, str(app), "--healthcheck"], tmp_path).returncode == 0


def test_the_zipapp_exits_with_main_s_status(tmp_path: Path) -> None:
    """zipapp's own __main__ drops main()'s return value: the entry point must not."""
    app = build_zipapp(tmp_path)
    assert run_check([sys.executable, str(app), "--healthcheck"], tmp_path).returncode == 1
    bad_config = run_check([sys.executable, str(app)], tmp_path, port="not-a-port")
    assert bad_config.returncode == 2 and "configuration error" in bad_config.stderr
    assert run_check([sys.executable, str(app), "--no-such-flag"], tmp_path).returncode == 2


def test_another_python_falls_back_to_the_sources(tmp_path: Path) -> None:
    """Bytecode of another Python version (another magic number) is skipped, not fatal."""
    source = tmp_path / "src" / "fwatchdog"
    build_zipapp(tmp_path)
    for pyc in source.rglob("*.pyc"):
        data = bytearray(pyc.read_bytes())
        data[0] ^= 0xFF
        pyc.write_bytes(bytes(data))
    app = tmp_path / "other.pyz"
    zipapp.create_archive(source.parent, app, interpreter=sys.executable,
                          main="fwatchdog.__main__:run")
    (tmp_path / ".lock").write_text("")
    assert run_check([sys.executable, str(app), "--healthcheck"], tmp_path).returncode == 0
    loaded = run_check([sys.executable, "-c", "import fwatchdog.lockfile as m; print(m.__file__)"],
                       tmp_path, PYTHONPATH=str(app))
    assert loaded.stdout.strip() == f"{app}/fwatchdog/lockfile.py", loaded.stderr
    version = run_check([sys.executable, str(app), "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("fwatchdog ")
