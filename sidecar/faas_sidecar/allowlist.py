"""Allowlists of glob patterns (pure): the images and the secrets a function may use.

The system API (``system.payloads``) and the engine gate (``gate.policy``)
both check a deployment's image and secrets against the same allowlists
(``SYSTEM_IMAGE_ALLOWLIST``, ``SYSTEM_SECRET_ALLOWLIST``), with this one rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase


def allowed(name: str, patterns: Iterable[str]) -> bool:
    """True when ``name`` matches one of the shell-style ``patterns`` (case-sensitive)."""
    return any(fnmatchcase(name, pattern) for pattern in patterns)
