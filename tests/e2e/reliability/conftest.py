"""Shared by the reliability suite: every platform error body it received, for
the secrets check that runs after the corpus (test_secrets_in_logs.py)."""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("RELIABILITY_FULL") == "1"


@pytest.fixture(scope="session")
def received() -> list[bytes]:
    """Every response body (head and body) the suite got back; appended by the tests."""
    return []
