"""What contains every function, whoever deploys it: values the system API
sets and the engine gate checks (stack.yml's x-function says the same)."""

from __future__ import annotations

# A function's log on its node: Docker's json-file, rotated, so a function
# that floods stderr fills at most 30 MiB of the node's disk. The engine gate
# allows exactly this driver in a function's spec.
FUNCTION_LOG_DRIVER = "json-file"
FUNCTION_LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
