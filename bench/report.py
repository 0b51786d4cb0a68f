"""Where every benchmark writes its figures: bench/results/<name>-<epoch>.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_json(name: str, doc: dict) -> Path:
    """Write ``doc`` with the UTC date added; print and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{int(time.time())}.json"
    path.write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **doc}, indent=2))
    print(f"wrote {path}")
    return path
