"""The client core: what the sync and the async client share.

Flags, answers and their explanations, overrides, readiness, impression events and the
counting of usage, over an immutable compiled snapshot swapped in atomically. How flags
arrive and how usage leaves (threads or asyncio tasks) is each client's own
(:mod:`unleash_lite.client`, :mod:`unleash_lite.async_client`).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

from .bootstrap import BootstrapSource, require_bootstrap
from .cache import BaseCache, FileCache
from .config import (
    ClientConfig,
    InstanceAllowType,
    check_custom_strategies,
    default_instance_id,
)
from .context import current_request_context, merge_contexts
from .engine import (
    CompiledFeature,
    FlagState,
    Snapshot,
    StaticContext,
    Variant,
    compile_snapshot,
    disabled_variant,
    flag_project,
    flag_type,
    utc_now,
)
from .engine.explain import EvaluationDetail, Reason, explain
from .engine.strategies import CustomStrategy
from .errors import MultipleInstancesNotAllowedError
from .hooks import HookRunner, check_hooks, global_hooks
from .impact_metrics import ImpactMetrics, environment_of
from .sync import processes
from .sync.backoff import FetchStatus
from .sync.loader import FlagLoader, compile_payload
from .sync.metrics import FlagCounters, MetricsRegistry

if TYPE_CHECKING:
    from .hooks import Hook
    from .sync.events import EventDispatcher
    from .sync.synchronizer import Operations

LOGGER = logging.getLogger("unleash_lite")

FallbackFunction = Callable[[str, Mapping[str, Any]], bool]
# What ``override`` accepts per flag: on/off, a variant name, or {"name", "payload"?}.
OverrideValue = bool | str | Mapping[str, Any]
EXIT_FLUSH_TIMEOUT = 2.0
_EMPTY_CONTEXT: Mapping[str, Any] = {}


class _FlagEntry:
    """What the hot path needs of one flag name: how to answer and where to count.

    For a name the snapshot does not know, ``feature`` is None and ``check`` answers None,
    which tells the caller to use the fallback. ``counted`` is False when nothing is counted
    (metrics disabled, or past the cap on unknown names): then there are no counters.
    """

    __slots__ = (
        "check",
        "constant",
        "counted",
        "counters",
        "feature",
        "impression_data",
        "no",
        "snapshot",
        "tally",
        "variants",
        "yes",
    )

    def __init__(
        self, snapshot: Snapshot, feature: CompiledFeature | None, counters: FlagCounters | None
    ) -> None:
        self.snapshot = snapshot
        self.feature = feature
        self.constant = feature.constant if feature is not None else None
        self.check: Callable[[Mapping[str, Any]], bool | None] = (
            snapshot.checker(feature) if feature is not None else _unknown_flag
        )
        self.impression_data = feature is not None and feature.impression_data
        self.counted = counters is not None
        self.counters = counters if counters is not None else _UNCOUNTED
        self.yes = self.counters.yes
        self.no = self.counters.no
        self.tally = self.yes if self.constant else self.no  # for constant answers
        self.variants = self.counters.variants


# Stands in for the counters of an entry that counts nothing (``counted`` is False): never
# advanced, never read.
_UNCOUNTED = FlagCounters("")


KEYWORDS_DOC = """
    Keywords (``help()`` shows them; ``docs/compatibility.md`` compares each with 6.9.1):

    url: the Unleash API URL, ending in ``/api`` (or an Unleash Edge URL); ``""`` runs
        offline from ``bootstrap``.
    app_name: your application's name, sent to Unleash and given to every evaluation.
    environment: the ``environment`` context field (the token decides which flags).
    instance_id: this process's id in Unleash; a random one by default.
    refresh_interval: seconds between flag fetches (15).
    refresh_jitter: up to this many extra seconds per fetch, so a fleet spreads out.
    metrics_interval: seconds between metrics sends (60).
    metrics_jitter: up to this many extra seconds per send.
    disable_metrics: send no usage counts (and count nothing).
    disable_registration: do not register the client with Unleash.
    custom_headers: headers for every request; the API token goes in ``Authorization``.
    custom_options: ``requests`` options for every request (``verify``, ``cert``,
        ``proxies``, ``timeout``); the async client takes the same keys.
    request_timeout: seconds one call may take, retries and reading included (30).
    request_retries: how often a connection that could not be made is tried again (3).
    custom_strategies: ``{name: strategy}``, each with ``apply(parameters, context)``.
    cache_directory: where the default file cache lives (the platform's cache dir).
    project_name: fetch only this project's flags.
    verbose_log_level: the level for the "unknown flag" message (30: WARNING).
    cache: a ``BaseCache`` to use instead of the file cache (``MemoryCache`` keeps none on
        disk); a cache passed here is destroyed with the client, as in 6.9.1.
    multiple_instance_mode: ``InstanceAllowType.WARN`` (default), ``BLOCK`` (raise
        ``MultipleInstancesNotAllowedError``) or ``SILENTLY_ALLOW`` for a second client of
        the same server, app name and token.
    event_callback: called, off the caller's thread, with READY, FETCHED and impression
        events.
    sdk_flavor: names an integration built on this SDK, sent to Unleash.
    sdk_flavor_version: that integration's version.
    bootstrap: flags to answer from before (or without) a server: a dict, JSON text or a
        JSON file path (a client API payload or an ``export_payload()``).
    max_payload_bytes: the largest flags payload read from the server or the cache (64 MiB).
    experimental_mode: how flags arrive: ``None`` or ``{"type": "polling"}`` (polling),
        ``{"type": "streaming"}`` (server-sent events, falling back to polling; both
        clients stream) or ``{"type": "polling", "format": "delta"}``; see
        ``docs/streaming.md``.
    hooks: ``unleash_lite.hooks.Hook`` objects run around every ``is_enabled``,
        ``get_variant`` and ``evaluate`` (tracing, logging; see ``docs/hooks.md``).
    use_request_context: merge the current request's context (set by the Flask, Django and
        ASGI integrations, or ``unleash_lite.context.request_context``) under the context
        of every evaluation, so code deep in a call stack can call ``is_enabled("x")``.
"""


def config_from_keywords(keywords: Mapping[str, Any]) -> ClientConfig:
    """The :class:`ClientConfig` of a client's constructor keywords (its ``locals()``):
    each keyword the config knows, under the same name, validated there."""
    settings = {
        field.name: keywords[field.name]
        for field in dataclasses.fields(ClientConfig)
        if field.name in keywords
    }
    settings["instance_id"] = keywords.get("instance_id") or default_instance_id()
    settings["instance_id_given"] = keywords.get("instance_id") is not None
    settings["custom_headers"] = dict(keywords.get("custom_headers") or {})
    settings["custom_options"] = dict(keywords.get("custom_options") or {})
    return ClientConfig(**settings)


def _setting(name: str) -> Any:
    """A client attribute ``unleash_<name>`` over ``config.<name>``, as the official SDK's:
    readable, and writable (checked like the keyword; see :meth:`ClientCore._reconfigure`)."""

    def read(client: ClientCore) -> Any:
        return getattr(client.config, name)

    def write(client: ClientCore, value: Any) -> None:
        client._reconfigure(**{name: value})

    return property(read, write, doc=f"The ``{name}`` setting (writable, as in the official SDK).")


class ClientCore:
    """Evaluation and flag state, shared by :class:`~unleash_lite.UnleashClient` and
    :class:`~unleash_lite.AsyncUnleashClient`; see those for the keywords."""

    _sync: Operations | None = None  # how each kind of client talks to the server

    unleash_url = _setting("url")
    unleash_app_name = _setting("app_name")
    unleash_environment = _setting("environment")
    unleash_instance_id = _setting("instance_id")
    unleash_project_name = _setting("project_name")
    unleash_refresh_interval = _setting("refresh_interval")
    unleash_refresh_jitter = _setting("refresh_jitter")
    unleash_metrics_interval = _setting("metrics_interval")
    unleash_metrics_jitter = _setting("metrics_jitter")
    unleash_request_timeout = _setting("request_timeout")
    unleash_request_retries = _setting("request_retries")
    unleash_disable_metrics = _setting("disable_metrics")
    unleash_disable_registration = _setting("disable_registration")
    unleash_custom_headers = _setting("custom_headers")
    unleash_custom_options = _setting("custom_options")
    unleash_verbose_log_level = _setting("verbose_log_level")
    unleash_sdk_flavor = _setting("sdk_flavor")
    unleash_sdk_flavor_version = _setting("sdk_flavor_version")
    unleash_event_callback = _setting("event_callback")

    def __init__(
        self,
        config: ClientConfig,
        *,
        custom_strategies: Mapping[str, CustomStrategy] | None,
        cache: BaseCache | None,
        multiple_instance_mode: InstanceAllowType,
        event_callback: Callable[[Any], None] | None,
        bootstrap: BootstrapSource | None,
        hooks: Sequence[Hook] | None = None,
        read_cache_now: bool = True,
    ) -> None:
        self.config = config
        self.custom_strategies: Mapping[str, CustomStrategy] = check_custom_strategies(
            custom_strategies
        )
        hooks = (*global_hooks(), *check_hooks(hooks))
        for warning in self.config.warnings():
            LOGGER.warning(warning)
        self.cache: BaseCache | None = cache
        self._user_cache = cache is not None and not isinstance(cache, FileCache)
        if cache is None and not self.config.offline:
            self.cache = FileCache(
                _cache_name(self.config),
                directory=config.cache_directory,
                max_bytes=self.config.max_payload_bytes,
                read_now=read_cache_now,
            )
        self._identifier = _register_instance(self.config, multiple_instance_mode)
        self._counted_instance = True
        self._static = StaticContext(
            config.app_name, config.environment, socket.gethostname(), utc_now
        )
        self._swap_lock = threading.Lock()  # serialises writers only; readers never lock
        self._snapshot = compile_snapshot(FlagState(), self._static, self.custom_strategies)
        self._entries: dict[str, _FlagEntry] = {}
        self._overrides: list[Snapshot] = []  # innermost last; see override()
        self.impact_metrics = ImpactMetrics(
            config.app_name,
            environment_of(config.authorization, config.environment),
            self._uncounted_variant,
        )
        self.metrics = MetricsRegistry(self.impact_metrics)
        self._counting = not config.disable_metrics
        self._events: EventDispatcher | None = None
        if event_callback:  # the event types and their thread load only for those who listen
            from .sync.events import EventDispatcher

            self._events = EventDispatcher(event_callback)
        self._ready = threading.Event()
        self._announce_lock = threading.Lock()
        self._ready_announced = False
        self._pid = os.getpid()
        self._resume_pending = False  # background work to start on first use after a fork
        self.is_initialized = False
        # Every source of flags (bootstrap, cache, server) installs through the loader.
        self._loader = FlagLoader(self.cache, self._swap, self._fetched)
        self._loader.start(bootstrap, use_cache=read_cache_now)
        self.unleash_bootstrapped = self._loader.bootstrapped
        if bootstrap is not None and self.config.offline and not self.unleash_bootstrapped:
            # Offline nothing else will ever bring flags: refuse to answer every flag's default.
            # Checked after the fact, so that a usable bootstrap is read only once.
            self._release()
            require_bootstrap(bootstrap)  # raises, saying what is wrong
            raise ValueError(
                'bootstrap could not be installed (see the error logged above); with url="" it is '
                "the only source of flags"
            )
        runner = HookRunner(hooks)
        if runner.active:
            self._run_hooks(runner)
        if config.use_request_context:  # outermost: hooks see the merged context
            self._merge_request_context()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self.config.display_url!r}, "
            f"app_name={self.config.app_name!r}, "
            f"instance_id={self.config.instance_id!r}, flags={len(self._snapshot)})"
        )

    # -- evaluation (the hot path) --------------------------------------------------------

    def is_enabled(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> bool:
        """Whether ``feature_name`` is on for ``context``.

        Unknown flags (and, should it ever happen, an internal error) answer
        ``fallback_function(feature_name, context)`` when given, else ``False``. Never raises.
        """
        try:
            entry = self._entries.get(feature_name) or self._entry(feature_name)
            enabled = entry.constant
            if enabled is None:
                enabled = entry.check(context if type(context) is dict else _as_context(context))
                if enabled is None:  # an unknown flag
                    enabled = fallback_function is not None and self._fallback(
                        feature_name, context, fallback_function
                    )
                if entry.counted:
                    next(entry.yes if enabled else entry.no)
            elif entry.counted:
                next(entry.tally)
            if entry.impression_data and self._events is not None:
                self._impression(False, feature_name, enabled, context, "", _plain_reason(entry))
            return enabled
        except Exception:
            LOGGER.debug("is_enabled(%r) failed; using the fallback", feature_name, exc_info=True)
            return self._fallback(feature_name, context, fallback_function)

    def get_variant(self, feature_name: str, context: Mapping[str, Any] | None = None) -> Variant:
        """The variant of ``feature_name`` for ``context``, as the official SDK's dict:
        ``{"name", "enabled", "feature_enabled", "payload"?}``. Never raises."""
        try:
            entry = self._entries.get(feature_name) or self._entry(feature_name)
            feature = entry.feature
            if feature is None:  # an unknown flag
                variant = disabled_variant(False)
            else:
                variant = entry.snapshot.variant_of(
                    feature, context if type(context) is dict else _as_context(context)
                )
            if entry.counted:
                next(entry.yes if variant["feature_enabled"] else entry.no)
                counter = entry.variants.get(variant["name"])
                if counter is None:
                    counter = self.metrics.variant_counter(entry.counters, variant["name"])
                next(counter)
            if entry.impression_data and self._events is not None:
                self._impression(
                    True,
                    feature_name,
                    variant["enabled"],
                    context,
                    variant["name"],
                    _plain_reason(entry),
                )
            return variant
        except Exception:
            LOGGER.debug(
                "get_variant(%r) failed; answering 'disabled'", feature_name, exc_info=True
            )
            return disabled_variant(False)

    def _uncounted_variant(self, feature_name: str, context: dict[str, Any]) -> Variant:
        """What get_variant answers, neither counted nor raising an impression event (the
        labels of impact metrics). May raise."""
        entry = self._entries.get(feature_name) or self._entry(feature_name)
        if entry.feature is None:
            return disabled_variant(False)
        return entry.snapshot.variant_of(entry.feature, context)

    def evaluate(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> EvaluationDetail:
        """``is_enabled`` and ``get_variant`` in one call, with the reason: what the flag
        answers for ``context`` (``enabled``, ``variant``), why (``reason``, ``message``,
        the deciding ``strategy`` with the failing constraint and the value it saw, or the
        rollout bucket and threshold), and whether the answer is ``static`` or a ``split``.

        The counterpart of LaunchDarkly's ``variation_detail`` and OpenFeature's resolution
        details. Counted in metrics as one ``is_enabled`` call plus, when a variant was
        chosen, that variant; raises an impression event for flags with impression data;
        slower than ``is_enabled``. Never raises.
        """
        result = self._evaluation(feature_name, context, fallback_function)
        try:
            entry = self._entries.get(feature_name) or self._entry(feature_name)
            if entry.counted:
                next(entry.yes if result.enabled else entry.no)
                if result.variant["enabled"]:  # a flag without variants counts as is_enabled
                    name = result.variant["name"]
                    counter = entry.variants.get(name)
                    if counter is None:
                        counter = self.metrics.variant_counter(entry.counters, name)
                    next(counter)
            if entry.impression_data and self._events is not None:
                chosen = result.variant["enabled"]
                name = result.variant["name"] if chosen else ""
                self._impression(
                    chosen, feature_name, result.enabled, context, name, result.reason.value
                )
        except Exception:
            LOGGER.debug("counting evaluate(%r) failed", feature_name, exc_info=True)
        return result

    def explain(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> EvaluationDetail:
        """What :meth:`evaluate` answers, for diagnostics: not counted in metrics and
        raising no impression events. Never raises."""
        return self._evaluation(feature_name, context, fallback_function)

    def all_flags(
        self, context: Mapping[str, Any] | None = None, include_disabled: bool = False
    ) -> list[dict[str, Any]]:
        """Every flag's answer for ``context``, in the shape of Unleash's frontend API
        (``{"name", "enabled", "variant": {...}, "impressionData"}`` per flag), to hand a
        user's flags to a front end in one call.

        Like the frontend API, only flags that are on are listed, unless
        ``include_disabled``. Not counted in metrics (the front end's own SDK reports what
        it uses) and raises no impression events. Never raises.
        """
        layers = {name: self._snapshot for name in self._snapshot.features}
        for layer in self._overrides:
            layers.update(dict.fromkeys(layer.features, layer))
        ctx = context if type(context) is dict else _as_context(context)
        flags = []
        for name, snapshot in layers.items():
            try:
                feature = snapshot.features[name]
                enabled = bool(snapshot.is_enabled(name, ctx))
                variant = snapshot.variant_of(feature, ctx)
            except Exception:
                LOGGER.debug("all_flags: %r failed; listing it as off", name, exc_info=True)
                enabled, variant, feature = False, disabled_variant(False), None
            if enabled or include_disabled:
                impression = feature is not None and feature.impression_data
                flags.append(
                    {
                        "name": name,
                        "enabled": enabled,
                        "variant": variant,
                        "impressionData": impression,
                    }
                )
        return flags

    def _evaluation(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None,
        fallback_function: FallbackFunction | None,
    ) -> EvaluationDetail:
        snapshot = self._snapshot
        for layer in self._overrides:
            if feature_name in layer:
                snapshot = layer
        try:
            result = explain(snapshot, feature_name, _as_context(context))
            if snapshot is not self._snapshot:
                result = dataclasses.replace(
                    result,
                    reason=Reason.OVERRIDDEN,
                    message="overridden by client.override()",
                    static=not result.split,
                )
        except Exception as error:
            LOGGER.debug("evaluating %r in detail failed", feature_name, exc_info=True)
            result = EvaluationDetail(
                feature_name,
                False,
                disabled_variant(False),
                Reason.INVALID_DEFINITION,
                f"evaluation failed: {error}",
            )
        if result.reason is Reason.UNKNOWN_FLAG and fallback_function is not None:
            enabled = self._fallback(feature_name, context, fallback_function)
            return EvaluationDetail(
                feature_name,
                enabled,
                disabled_variant(False),
                Reason.FALLBACK,
                f"the flag is unknown; the fallback function answered {enabled}",
            )
        return result

    def _run_hooks(self, runner: HookRunner) -> None:
        """``hooks``: ``is_enabled``, ``get_variant`` and ``evaluate`` run them. Set on this
        instance only, so that a client without hooks pays nothing for them."""
        cls = type(self)

        def detail(feature_name: str, context: Mapping[str, Any]) -> EvaluationDetail:
            return cls.explain(self, feature_name, context)

        self.__dict__["is_enabled"] = runner.wrap(
            "is_enabled", self.is_enabled, lambda enabled: (enabled, None), detail
        )
        self.__dict__["get_variant"] = runner.wrap(
            "get_variant",
            self.get_variant,
            lambda variant: (variant["feature_enabled"], variant),
            detail,
        )
        self.__dict__["evaluate"] = runner.wrap(
            "evaluate", self.evaluate, lambda result: (result.enabled, result.variant), detail
        )

    def _merge_request_context(self) -> None:
        """``use_request_context``: the evaluation methods take the current request's context,
        with the one given merged over it. Set on this instance only, so that a client
        without the option pays nothing for it on the hot path."""
        inner = {
            name: getattr(self, name)  # the class's, or the hooked ones
            for name in ("is_enabled", "get_variant", "evaluate", "explain", "all_flags")
        }

        def in_request(context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
            current = current_request_context()
            if current is None:
                return context
            if context is None or not isinstance(context, Mapping):
                return current
            try:
                return merge_contexts(current, context)
            except Exception:  # a mapping that fails to read: the caller's context alone
                LOGGER.debug("merging the request context failed", exc_info=True)
                return context

        def is_enabled(
            feature_name: str,
            context: Mapping[str, Any] | None = None,
            fallback_function: FallbackFunction | None = None,
        ) -> bool:
            enabled: bool = inner["is_enabled"](
                feature_name, in_request(context), fallback_function
            )
            return enabled

        def get_variant(feature_name: str, context: Mapping[str, Any] | None = None) -> Variant:
            variant: Variant = inner["get_variant"](feature_name, in_request(context))
            return variant

        def evaluate(
            feature_name: str,
            context: Mapping[str, Any] | None = None,
            fallback_function: FallbackFunction | None = None,
        ) -> EvaluationDetail:
            result: EvaluationDetail = inner["evaluate"](
                feature_name, in_request(context), fallback_function
            )
            return result

        def explain(
            feature_name: str,
            context: Mapping[str, Any] | None = None,
            fallback_function: FallbackFunction | None = None,
        ) -> EvaluationDetail:
            result: EvaluationDetail = inner["explain"](
                feature_name, in_request(context), fallback_function
            )
            return result

        def all_flags(
            context: Mapping[str, Any] | None = None, include_disabled: bool = False
        ) -> list[dict[str, Any]]:
            flags: list[dict[str, Any]] = inner["all_flags"](in_request(context), include_disabled)
            return flags

        for function in (is_enabled, get_variant, evaluate, explain, all_flags):
            function.__doc__ = inner[function.__name__].__doc__
            self.__dict__[function.__name__] = function

    # -- flag state -----------------------------------------------------------------------

    def feature_definitions(self) -> dict[str, dict[str, Any]]:
        """Known flags: ``{name: {"type": ..., "project": ...}}`` as the official SDK returns."""
        return {
            name: {"type": flag_type(definition), "project": flag_project(definition)}
            for name, definition in self._snapshot.state.features.items()
        }

    def export_payload(self) -> dict[str, Any]:
        """The flag definitions the client answers from, as a client API payload (version
        2, with segments): for a bootstrap file or a cache. A copy: editing it changes
        nothing in the client."""
        return copy.deepcopy(self._snapshot.state.to_payload())

    @property
    def snapshot(self) -> Snapshot:
        """The compiled flag set answering right now (immutable)."""
        return self._snapshot

    def apply_payload(self, payload: Any, owned: bool = False) -> Snapshot:
        """Compile a features payload (full or delta) and swap it in atomically.

        The client keeps its own copy of the definitions, so editing ``payload`` afterwards
        changes nothing; ``owned=True`` hands the dict over instead (e.g. one just parsed from
        JSON) and skips the copy. Raises :class:`~unleash_lite.engine.PayloadError` when the
        payload is not one; the current flags then stay as they are.
        """
        return self._swap(lambda current: compile_payload(current, payload, owned))

    def _swap(self, update: Callable[[Snapshot], Snapshot]) -> Snapshot:
        """Swap in ``update(current snapshot)``, serialised with every other writer: the one
        way flags get in (the sync layer's loader calls it too)."""
        with self._swap_lock:
            snapshot = update(self._snapshot)
            self._snapshot = snapshot
            self._install_entries()
            self._mark_ready()
        for warning in snapshot.state.warnings:  # flags' own problems are logged as they compile
            LOGGER.debug("flag payload: %s", warning)
        return snapshot

    @contextmanager
    def override(self, flags: Mapping[str, OverrideValue]) -> Iterator[Self]:
        """Force flags to fixed answers inside a ``with`` block, for tests of your app.

        Each value is ``True``/``False`` (on/off for every context), a variant name (on, with
        that variant), or ``{"name": ..., "payload": {"type": ..., "value": ...}}``. Other
        flags keep answering from the server's definitions, refreshes included; overrides
        nest, the innermost winning. Overridden checks are counted in metrics as usual.
        """
        layer = compile_snapshot(
            FlagState().apply(
                {"version": 2, "features": [_override_definition(n, v) for n, v in flags.items()]},
                owned=True,
            ),
            self._static,
            {},
        )
        with self._swap_lock:
            self._overrides.append(layer)
            self._install_entries()
        try:
            yield self
        finally:
            with self._swap_lock:
                self._overrides.remove(layer)
                self._install_entries()

    def _install_entries(self) -> None:
        """Rebuild the hot-path table (under the swap lock): entries for the flags the
        snapshot has already compiled and for any overrides; other flags get theirs on
        their first evaluation (:meth:`_entry`)."""
        entries: dict[str, _FlagEntry] = {}
        if self._resume_pending:  # every call must reach _entry(), which starts the work
            self._entries = entries
            return
        layers = [(self._snapshot, self._snapshot.features.compiled())]
        layers += [(layer, dict(layer.features.items())) for layer in self._overrides]
        for snapshot, features in layers:
            for name, feature in features.items():
                if not self._counting:
                    entries[name] = _FlagEntry(snapshot, feature, None)
                    continue
                counters = self.metrics.counters(name)
                if counters is not None:
                    entries[name] = _FlagEntry(snapshot, feature, counters)
        self._entries = entries  # one reference swap: readers see old or new, never a mix

    def _entry(self, feature_name: str) -> _FlagEntry:
        """The entry of a name first evaluated since the last swap: the flag compiled now,
        or, for a name the snapshot does not know, an entry that answers the fallback."""
        # Read the table before the snapshot: apply_payload stores them in the other order,
        # so an entry is never added to a newer table than its snapshot.
        if self._pid != os.getpid():  # forked without Python's at-fork hook (uWSGI)
            processes.check_pid()
        if self._resume_pending:
            self._resume_background_work()
        entries = self._entries
        snapshot = self._snapshot
        feature = snapshot.features.get(feature_name)
        if not isinstance(feature_name, str):
            return _FlagEntry(snapshot, None, None)
        counters = None
        if self._counting:
            counters = self.metrics.counters(feature_name, known=feature is not None)
            if counters is None:  # past the cap on counted unknown names: answer, don't keep
                return _FlagEntry(snapshot, None, None)
        entry = _FlagEntry(snapshot, feature, counters)
        if not self._resume_pending:  # until the work starts, every call comes through here
            entries[feature_name] = entry
        return entry

    def is_ready(self) -> bool:
        """Whether the client holds flags (from the server, the disk cache or a bootstrap)."""
        return self._ready.is_set()

    # -- events -----------------------------------------------------------------------------

    def _impression(
        self,
        of_variant: bool,
        feature_name: str,
        enabled: bool,
        context: Any,
        variant: str,
        reason: str | None,
    ) -> None:
        """An impression event: of a variant (``get_variant``) or of a flag."""
        if self._events is not None:
            from .events import UnleashEvent, UnleashEventType

            kind = UnleashEventType.VARIANT if of_variant else UnleashEventType.FEATURE_FLAG
            self._events.emit(
                UnleashEvent(
                    event_type=kind,
                    event_id=uuid.uuid4(),
                    context=self._static.merged_with(_as_context(context)),
                    enabled=enabled,
                    feature_name=feature_name,
                    variant=variant,
                    timestamp=utc_now(),
                    reason=reason,
                )
            )

    def _mark_ready(self) -> None:
        if self._ready.is_set():
            return
        self._ready.set()
        self._became_ready()
        if self.is_initialized:
            self._announce_ready()

    def _open_events(self) -> None:
        """Deliver events from now on (``initialize_client``), READY first if the client
        already holds flags: as in the official SDK, READY is never announced before."""
        if self._events is not None:
            self._events.open()
            if self._ready.is_set():
                self._announce_ready()

    def _announce_ready(self) -> None:
        with self._announce_lock:
            if self._events is None or self._ready_announced:
                return
            self._ready_announced = True
        from .events import UnleashEventType, UnleashReadyEvent

        self._events.emit(UnleashReadyEvent(UnleashEventType.READY, uuid.uuid4()))

    def _fetched(self, raw_features: str) -> None:
        if self._events is not None:
            from .events import UnleashEventType, UnleashFetchedEvent

            self._events.emit(
                UnleashFetchedEvent(UnleashEventType.FETCHED, uuid.uuid4(), raw_features)
            )

    def _release(self) -> None:
        """What ending a client means here, whatever its kind: the event thread ends, a
        cache the user passed is destroyed (as the official SDK does; the default file
        cache is kept for other processes), and the client no longer counts as an instance
        (once, however often it is called)."""
        self.is_initialized = False
        if self._counted_instance and self._user_cache and self.cache is not None:
            try:
                self.cache.destroy()
            except Exception as error:  # a user-provided cache must not break the shutdown
                LOGGER.warning("Unleash could not destroy the cache: %s", error)
        if self._events is not None:
            self._events.close(timeout=1.0)
        with _instances_lock:
            if self._counted_instance:
                self._counted_instance = False
                _instances[self._identifier] -= 1
                if _instances[self._identifier] <= 0:
                    del _instances[self._identifier]

    def _fallback(
        self, feature_name: Any, context: Any, fallback_function: FallbackFunction | None
    ) -> bool:
        """``fallback_function``'s answer for an unknown flag (given the enriched context, as
        the official SDK does); ``False`` without one, or when it raises."""
        if fallback_function is None:
            return False
        try:
            return bool(
                fallback_function(feature_name, self._static.enriched(_as_context(context)))
            )
        except Exception:
            LOGGER.debug(
                "the fallback function for %r raised; answering False", feature_name, exc_info=True
            )
            return False

    @property
    def unleash_static_context(self) -> dict[str, Any]:
        """The fields every evaluation gets: ``{"appName", "environment"}``."""
        return {"appName": self._static.app_name, "environment": self._static.environment}

    @property
    def unleash_metrics_interval_str_millis(self) -> str:
        """``metrics_interval`` in milliseconds, as the ``unleash-interval`` header sends it."""
        return str(int(self.config.metrics_interval * 1000))

    @property
    def connector_mode(self) -> Mapping[str, str] | None:
        """The ``experimental_mode`` the client runs in (``None``: polling)."""
        return self.config.experimental_mode

    @property
    def fetch_status(self) -> FetchStatus:
        """How the flags fetch goes (:class:`~unleash_lite.FetchStatus`: ``state`` "ok",
        "unavailable", "rejected" or "invalid", the ``problem`` as logged, ``since`` when);
        "ok" offline. For health checks: read it rather than the log lines."""
        if self._sync is None:
            return FetchStatus("ok")
        return self._sync.features_backoff.status

    @property
    def connection_id(self) -> str | None:
        """This client's connection id (the ``unleash-connection-id`` header and the
        ``connectionId`` of its bodies); ``None`` offline."""
        return None if self._sync is None else self._sync.calls.connection_id

    def _reconfigure(self, **changes: Any) -> None:
        """Change settings after construction (the writable ``unleash_*`` attributes): the
        new values are checked as keywords are, and reach the next request (headers,
        timeouts, retries, intervals from the next run). What was derived once at
        construction stays: the cache file's name, and the app name and environment that
        evaluations see (``unleash_static_context``)."""
        config = dataclasses.replace(self.config, **changes)
        self.config = config
        counting = not config.disable_metrics
        if counting != self._counting:
            with self._swap_lock:  # entries count, or not, as they were built
                self._counting = counting
                self._install_entries()
        if self._sync is not None:
            self._sync.reconfigure(config)

    def _became_ready(self) -> None:
        """Called once, by whichever thread installed the first flags."""

    def _resume_background_work(self) -> None:
        """Start the background work left for the first use (see ``_resume_pending``)."""
        self._resume_pending = False


_instances: Counter[str] = Counter()
_instances_lock = threading.Lock()


def _register_instance(config: ClientConfig, mode: InstanceAllowType) -> str:
    """Count clients per configuration and warn about (or refuse) a duplicate, as the
    official SDK: same server, app name and token (and ``instance_id`` when chosen)."""
    identifier = config.instance_identifier
    with _instances_lock:
        if _instances[identifier] and mode is not InstanceAllowType.SILENTLY_ALLOW:
            message = (
                f"You already have {_instances[identifier]} instance(s) configured for this "
                f"config: {identifier}; create one client per process and share it"
            )
            if mode is InstanceAllowType.BLOCK:
                raise MultipleInstancesNotAllowedError(message)
            LOGGER.error(message)
        _instances[identifier] += 1
    return identifier


def _cache_name(config: ClientConfig) -> str:
    """A cache file name unique to everything that selects the flag set: the app, the server
    URL, the project, the environment and the token (only inside a digest)."""
    identity = "\0".join(
        (config.api_url, config.project_name or "", config.environment, config.authorization)
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{config.app_name}-{config.environment}-{digest}"


def _plain_reason(entry: _FlagEntry) -> str | None:
    """The reason of an answer when the entry alone tells it (impression events)."""
    if entry.feature is not None and not entry.feature.enabled:
        return Reason.DISABLED.value
    return None


def _unknown_flag(context: Mapping[str, Any]) -> None:
    return None


def _override_definition(name: str, value: OverrideValue) -> dict[str, Any]:
    """A flag definition that answers ``value`` for every context."""
    if isinstance(value, bool):
        return {"name": name, "enabled": value, "strategies": [{"name": "default"}]}
    variant: dict[str, Any] = {"name": value} if isinstance(value, str) else dict(value)
    if not isinstance(variant.get("name"), str):
        raise ValueError(f"override for {name!r}: a variant needs a 'name' string")
    variant.update(weight=1000, weightType="fix", stickiness="default")
    return {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "default"}],
        "variants": [variant],
    }


def _as_context(context: Any) -> Mapping[str, Any]:
    """Any context argument as a mapping; ``None`` and non-mappings become empty."""
    if isinstance(context, Mapping):
        return context
    if context is not None:
        LOGGER.debug("ignoring a context of type %s: contexts are mappings", type(context).__name__)
    return _EMPTY_CONTEXT
