"""The queue tests' helpers live in queue_harness.py."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib puts no test folder on sys.path; our helper module needs it.
sys.path.insert(0, str(Path(__file__).parent))
