"""fwatchdog: turns any process into an HTTP function (standard library only)."""

__version__ = "0.1.0"
