"""The kinds of answer an evaluation gives (shared by the decision walk and its reports)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """The kind of answer an evaluation gave."""

    UNKNOWN_FLAG = "unknown_flag"
    DISABLED = "disabled"
    INVALID_DEFINITION = "invalid_definition"
    DEPENDENCY_UNMET = "dependency_unmet"
    NO_STRATEGIES = "no_strategies"
    STRATEGY_MATCHED = "strategy_matched"
    NO_STRATEGY_MATCHED = "no_strategy_matched"
    FALLBACK = "fallback"
    OVERRIDDEN = "overridden"  # set by UnleashClient.override(), never by the engine
