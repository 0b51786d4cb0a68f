"""The engine gate: the only holder of the Docker socket in the stack.

The sidecar reaches the Docker Engine through it (DOCKER_HOST=tcp://engine-gate:2375
on an internal network) and can do only what discovery and the system API
need, and only to function services. docs/engine-gate.md says what passes.
"""
