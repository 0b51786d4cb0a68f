"""swarmfaas's nginx front door: settings, config rendering, and the supervisor
that starts nginx, installs a renewed certificate in place and hands nginx
the sidecar's new addresses, neither with a reload."""
