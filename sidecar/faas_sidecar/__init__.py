"""The swarmfaas sidecar: discovery, routing, proxy, system API and metrics."""
