"""The system API: OpenFaaS-compatible management of functions, behind basic auth.

See docs/system-api.md. The sidecar's app factory calls ``setup_system_api``.
"""

from .auth import CredentialsError
from .config import SystemApiConfig, SystemConfigError
from .routes import setup_system_api

__all__ = ["CredentialsError", "SystemApiConfig", "SystemConfigError", "setup_system_api"]
