"""Suite-wide settings.

Hypothesis: no per-example deadline (CI machines are shared and slow ones would fail on time,
not on answers; tests that promise speed measure it themselves), and with CI=true a fixed
seed, so a CI run is reproducible while local runs keep exploring new examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "unleash_lite",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI", "").lower() == "true",
)
settings.load_profile("unleash_lite")
