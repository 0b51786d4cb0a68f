"""The OpenAPI document must ship in the wheel the sidecar image installs from."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_wheel_contains_the_openapi_document(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=240,
    )
    (wheel,) = tmp_path.glob("swarmfaas-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # Without it, setup_system_api cannot serve /system/openapi.json and the sidecar
    # would not start: pyproject's package-data must list system/*.json.
    assert "faas_sidecar/system/openapi.json" in names
