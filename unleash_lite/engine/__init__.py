"""The evaluation engine: payload -> compiled snapshot -> answers.

Pure code: no I/O, no threads, no clocks beyond ``currentTime`` defaulting to now. The sync
layer (HTTP, scheduler, disk cache, metrics) feeds it payloads and swaps snapshots.
"""

from .context import StaticContext
from .snapshot import (
    CompiledFeature,
    Snapshot,
    collector_paused,
    compile_snapshot,
    disabled_variant,
    flag_project,
    flag_type,
    resume_collector_after_fork,
)
from .state import FlagState, PayloadError
from .strategies import BUILTIN_STRATEGIES, CustomStrategy

__all__ = [
    "BUILTIN_STRATEGIES",
    "CompiledFeature",
    "CustomStrategy",
    "FlagState",
    "PayloadError",
    "Snapshot",
    "StaticContext",
    "collector_paused",
    "compile_snapshot",
    "disabled_variant",
    "flag_project",
    "flag_type",
    "resume_collector_after_fork",
]
