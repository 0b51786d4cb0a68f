"""Fixtures for the system API tests; helpers live in sys_harness.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib puts no test folder on sys.path; our helper module needs it.
sys.path.insert(0, str(Path(__file__).parent))

from sys_harness import PASSWORD, USER


@pytest.fixture
def secret_files(tmp_path):
    user_file = tmp_path / "basic-auth-user"
    password_file = tmp_path / "basic-auth-password"
    user_file.write_text(USER + "\n")
    password_file.write_text(PASSWORD + "\n")
    return {"SYSTEM_AUTH_USER_FILE": str(user_file),
            "SYSTEM_AUTH_PASSWORD_FILE": str(password_file)}
