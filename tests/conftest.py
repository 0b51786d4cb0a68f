"""Settings shared by every test directory: the hypothesis profiles.

`make unit` runs the property tests with a bounded number of examples (the
"unit" profile, the default); HYPOTHESIS_PROFILE=full searches much longer
(docs/reliability.md, the full form)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# deadline=None: the shared machine's timing varies; a slow example is not a bug.
settings.register_profile("unit", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("full", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "unit"))
