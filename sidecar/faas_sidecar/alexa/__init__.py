"""The Alexa skill endpoint: validated envelopes, intent routing, Amazon's checks.

``setup_alexa(app, AlexaConfig.from_env(os.environ))`` registers ``POST /alexa``
and ``POST /``. See docs/alexa.md.
"""

from .config import AlexaConfig, AlexaConfigError
from .endpoint import setup_alexa

__all__ = ["AlexaConfig", "AlexaConfigError", "setup_alexa"]
