"""Test configuration: CI runs hypothesis derandomized, so a green run is reproducible.

``HYPOTHESIS_PROFILE=deep`` runs the property tests at random with thousands of examples
(before an engine change is resolved; every counterexample is kept as an ``@example``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("deep", derandomize=False, max_examples=int(os.environ.get("DEEP_EXAMPLES", "2000")), deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
elif os.environ.get("CI"):
    settings.load_profile("ci")
