from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The shared harness (real nginx, recorder, TLS loop) lives with the nginx tests;
# the code under test is not an installed package.
sys.path[:0] = [
    str(ROOT / "tests" / "nginx"),
    str(ROOT / "nginx"),
    str(ROOT / "certs"),
    str(ROOT / "certs" / "certbot"),
]
