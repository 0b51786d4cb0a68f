"""swarmfaas's nginx front door: settings, config rendering, and the supervisor
that starts nginx and reloads it when the certificate or the sidecar's
addresses change."""
