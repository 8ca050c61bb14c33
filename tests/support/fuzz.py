"""Hypothesis settings: the suite's profile (loaded by ``tests/conftest.py``) and ``FUZZ``,
for the thorough property tests.

No per-example deadline (CI machines are shared and slow ones would fail on time, not on
answers; tests that promise speed measure it themselves), and with CI=true a fixed seed, so a
CI run is reproducible while local runs keep exploring new examples. ``FUZZ`` states all of
this itself, so it does not depend on being created after the profile is loaded.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

PROFILE = "unleash_lite"
SUITE: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": os.environ.get("CI", "").lower() == "true",
}
settings.register_profile(PROFILE, **SUITE)

# More examples than the default, and no example database: every run explores afresh.
FUZZ = settings(max_examples=150, database=None, **SUITE)
