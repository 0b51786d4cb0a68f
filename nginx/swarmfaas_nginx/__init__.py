"""swarmfaas's nginx front door: settings, config rendering, and the supervisor
that starts nginx, installs a renewed certificate in place (no reload), and
reloads nginx when the sidecar's addresses change."""
