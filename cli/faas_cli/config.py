"""Where the gateway is and who we are: flags, then the environment, then `faas login`'s file.

`resolve_gateway` is pure (the file and the password file come in as data and
a reader), table-tested in tests/cli/test_config.py; `load_file` and
`save_login` are the adapters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CliError, Exit

DEFAULT_URL = "https://127.0.0.1:8443"
DEFAULT_USER = "admin"

# OPENFAAS_URL is faas-cli's; the rest are ours (a password only ever from a file).
ENV_URL = ("SWARMFAAS_URL", "OPENFAAS_URL")
ENV_USER = "SWARMFAAS_USER"
ENV_PASSWORD_FILE = "SWARMFAAS_PASSWORD_FILE"
ENV_CA = "SWARMFAAS_CA"
ENV_CONFIG = "SWARMFAAS_CONFIG"


@dataclass(frozen=True)
class Gateway:
    url: str
    user: str = ""
    password: str = field(default="", repr=False)  # never printed, never logged
    ca: str = ""  # a CA file to trust; "" uses the system's
    verify: bool = True

    @property
    def has_credentials(self) -> bool:
        return bool(self.user and self.password)


def config_path(env: Mapping[str, str]) -> Path:
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "swarmfaas" / "config.json"


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(
            f"gateway URL {url!r} has no scheme", Exit.USAGE, "write it as https://host:port"
        )
    return url


def resolve_gateway(
    *,
    url: str | None,
    user: str | None,
    password_file: str | None,
    ca: str | None,
    insecure: bool,
    env: Mapping[str, str],
    stack_url: str = "",
    saved: Mapping[str, object],
    read: Callable[[str], str],
) -> Gateway:
    """Each setting from the first of: its flag, its environment variable, `faas login`'s file.

    The URL may also come from the stack file's `provider.gateway`: after the
    gateway `faas login` saved, so an existing faas-cli project (whose file says
    http://127.0.0.1:8080) deploys unchanged to the gateway logged in to.
    `saved` is the parsed config file ({"default": url, "gateways": {url: {...}}});
    `read` reads a password file (so tests need no files).
    """
    env_url = next((env[k] for k in ENV_URL if env.get(k)), None)
    chosen = url or env_url or str(saved.get("default") or "") or stack_url or DEFAULT_URL
    chosen = normalize_url(chosen)
    gateways = saved.get("gateways") or {}
    entry = gateways.get(chosen, {}) if isinstance(gateways, Mapping) else {}
    if not isinstance(entry, Mapping):
        entry = {}

    pw_file = password_file or env.get(ENV_PASSWORD_FILE)
    if pw_file:
        try:
            password = read(pw_file).rstrip("\r\n")
        except OSError as exc:
            raise CliError(
                f"cannot read the password file {pw_file} ({exc.strerror or exc})",
                Exit.USAGE,
                "check --password-file / SWARMFAAS_PASSWORD_FILE",
            ) from None
    else:
        password = str(entry.get("password", ""))
    return Gateway(
        url=chosen,
        user=user or env.get(ENV_USER) or str(entry.get("user", "")) or DEFAULT_USER,
        password=password,
        ca=ca or env.get(ENV_CA) or str(entry.get("ca", "")),
        verify=not (insecure or bool(entry.get("insecure", False))),
    )


def with_login(saved: Mapping[str, object], gw: Gateway) -> dict[str, object]:
    """The config file's content after logging in to `gw` (which becomes the default)."""
    gateways = dict(saved.get("gateways") or {})  # type: ignore[arg-type]
    entry: dict[str, object] = {"user": gw.user, "password": gw.password}
    if gw.ca:
        entry["ca"] = str(Path(gw.ca).resolve())
    if not gw.verify:
        entry["insecure"] = True
    gateways[gw.url] = entry
    return {"default": gw.url, "gateways": gateways}


def load_file(path: Path) -> dict[str, object]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"cannot read {path} ({exc.strerror})", Exit.USAGE) from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise CliError(
            f"{path} is not valid JSON", Exit.USAGE, "fix it, or delete it and run `faas login`"
        ) from None
    return doc if isinstance(doc, dict) else {}


def save_file(path: Path, doc: Mapping[str, object]) -> None:
    """Write the config with mode 600 from the first byte (it holds a password)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
