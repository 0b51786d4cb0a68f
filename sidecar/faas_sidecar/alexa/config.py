"""Settings of the Alexa endpoint: read once from a mapping, validated, frozen.

Every error names the environment variable and what it accepts. Only the
sidecar's ``main()`` passes ``os.environ`` in; tests pass plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..settings import ConfigError, Settings

# The OS bundle (Debian's ca-certificates); Amazon's chain ends in one of its roots.
DEFAULT_TRUST_ROOTS = Path("/etc/ssl/certs/ca-certificates.crt")
SCHEMA_FILE = "alexa-request.schema.json"
# Where the schema is looked for when ALEXA_SCHEMA is not set: the repository
# checkout (development, tests), then the path the sidecar image installs it to.
SCHEMA_CANDIDATES = (
    Path(__file__).resolve().parents[3] / "schemas" / SCHEMA_FILE,
    Path("/usr/local/share/swarmfaas/schemas") / SCHEMA_FILE,
)
# Amazon's limits: a skill must answer within 8 s with at most 24 kB of JSON.
ALEXA_DEADLINE_S = 8.0
ALEXA_MAX_RESPONSE_BYTES = 24 * 1024
# Amazon's rule: a request timestamp may be at most 150 s away from now.
MAX_TIMESTAMP_TOLERANCE_S = 150.0


class AlexaConfigError(ConfigError):
    """A setting has a bad value; the message names the setting."""


@dataclass(frozen=True, slots=True)
class AlexaConfig:
    # None: the default bundle is missing and ALEXA_TRUST_ROOTS is unset; the
    # platform still starts, and every signed Alexa request is refused.
    trust_roots: Path | None = DEFAULT_TRUST_ROOTS
    schema_path: Path | None = None  # None: the first of SCHEMA_CANDIDATES that exists
    cert_fetch_timeout: float = 2.0
    cert_cache_ttl: float = 3600.0
    cert_cache_size: int = 32
    cert_max_bytes: int = 64 * 1024
    # Fetch the chains from this base instead of https://s3.amazonaws.com/echo.api/
    # (file:///dir/ or http(s)://host/dir/). The URL rules are unchanged; see docs/alexa.md.
    cert_mirror: str | None = None
    timestamp_tolerance: float = MAX_TIMESTAMP_TOLERANCE_S
    max_body: int = 128 * 1024
    forward_timeout: float = ALEXA_DEADLINE_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlexaConfig:
        s = Settings(env, AlexaConfigError)
        roots_setting = s.text("ALEXA_TRUST_ROOTS")
        roots: Path | None = Path(roots_setting) if roots_setting else DEFAULT_TRUST_ROOTS
        if roots is not None and not roots.is_file():
            if roots_setting:
                raise AlexaConfigError(
                    f"ALEXA_TRUST_ROOTS={roots_setting!r}: expected a readable PEM bundle of "
                    "trusted root certificates"
                )
            roots = None  # no OS bundle: fail closed at request time, not at start-up
        schema = s.text("ALEXA_SCHEMA")
        schema_path = Path(schema) if schema else find_schema()
        if schema_path is None or not schema_path.is_file():
            shown = schema or ", ".join(str(p) for p in SCHEMA_CANDIDATES)
            raise AlexaConfigError(f"ALEXA_SCHEMA={shown!r}: the Alexa request schema is not there")
        mirror = s.text("ALEXA_CERT_MIRROR")
        if mirror is not None:
            check_mirror(mirror)
        return cls(
            trust_roots=roots,
            schema_path=schema_path,
            cert_fetch_timeout=s.seconds("ALEXA_CERT_FETCH_TIMEOUT", 2.0, low=0.1, high=30.0),
            cert_cache_ttl=s.seconds("ALEXA_CERT_CACHE_TTL", 3600.0, low=0.0, high=86400.0),
            cert_cache_size=s.integer("ALEXA_CERT_CACHE_SIZE", 32, low=1, high=10_000),
            cert_max_bytes=s.size("ALEXA_CERT_MAX_BYTES", 64 * 1024, low=1024,
                                  high=1024 * 1024),
            cert_mirror=mirror,
            timestamp_tolerance=s.seconds("ALEXA_TIMESTAMP_TOLERANCE",
                                          MAX_TIMESTAMP_TOLERANCE_S, low=1.0,
                                          high=MAX_TIMESTAMP_TOLERANCE_S),
            max_body=s.size("ALEXA_MAX_BODY", 128 * 1024, low=1024, high=16 * 1024 * 1024),
            forward_timeout=s.seconds("ALEXA_TIMEOUT", ALEXA_DEADLINE_S, low=0.1, high=600.0),
        )

    def resolved_schema_path(self) -> Path:
        path = self.schema_path or find_schema()
        if path is None:
            raise AlexaConfigError("ALEXA_SCHEMA: the Alexa request schema was not found")
        return path


def find_schema() -> Path | None:
    return next((p for p in SCHEMA_CANDIDATES if p.is_file()), None)


def check_mirror(mirror: str) -> None:
    """A mirror is a directory URL: file:///abs/dir/ or http(s)://host[:port]/dir/."""
    parts = urlsplit(mirror)
    ok = mirror.endswith("/") and (
        (
            parts.scheme == "file"
            and parts.netloc in ("", "localhost")
            and parts.path.startswith("/")
        )
        or (parts.scheme in ("http", "https") and bool(parts.hostname))
    )
    if not ok or parts.query or parts.fragment:
        raise AlexaConfigError(
            f"ALEXA_CERT_MIRROR={mirror!r}: expected a directory URL ending in '/', "
            "file:///path/ or http(s)://host/path/"
        )
