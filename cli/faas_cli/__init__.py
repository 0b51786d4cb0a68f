"""faas: the command line of swarmfaas (build, deploy and call functions)."""

__version__ = "0.1.0"
