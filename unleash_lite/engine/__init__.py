"""The evaluation engine: payload -> compiled snapshot -> answers.

Pure code: no I/O, no threads, no process-wide effects, no clock of its own (a missing
``currentTime`` is ``StaticContext.clock()``). The sync layer (HTTP, scheduler, disk cache,
metrics) feeds it payloads; the client swaps the snapshots in.
"""

from .compiler import CompiledFeature, flag_project, flag_type
from .context import StaticContext, utc_now
from .snapshot import Snapshot, compile_snapshot, disabled_variant
from .state import FlagState, PayloadError
from .strategies import BUILTIN_STRATEGIES, CustomStrategy
from .variants import Variant

__all__ = [
    "BUILTIN_STRATEGIES",
    "CompiledFeature",
    "CustomStrategy",
    "FlagState",
    "PayloadError",
    "Snapshot",
    "StaticContext",
    "Variant",
    "compile_snapshot",
    "disabled_variant",
    "flag_project",
    "flag_type",
    "utc_now",
]
