"""Test doubles for code that uses Unleash: :class:`FakeUnleash` answers what your test says.

``FakeUnleash`` *is* an :class:`~unleash_lite.UnleashClient` (a subclass running offline, with
no network, no threads and no files), so it goes wherever your app expects a client, type
hints included, and its answers have exactly the real client's shapes::

    fake = FakeUnleash()
    fake.enable("new-checkout")
    fake.enable("beta", for_users=["1", "2"])
    fake.set_variant("pricing-page", "annual-first", payload={"headline": "Save 20%"})

    app = create_app(unleash=fake)
    ...
    assert fake.was_checked("beta", {"userId": "1"})

The rules become real flag definitions that the client's own engine evaluates, so
``get_variant``, ``explain``, contexts and dependencies behave as in production. Pass
``bootstrap=`` (or call :meth:`FakeUnleash.apply_payload`) to run real definitions exported
from Unleash; rules set on the fake replace the definitions of the flags they name.
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self

from . import EvaluationDetail, Reason, Variant
from .bootstrap import BootstrapSource, load_bootstrap
from .client import FallbackFunction, OverrideValue, UnleashClient
from .config import InstanceAllowType
from .context import context_text

if TYPE_CHECKING:
    from . import CustomStrategy, Snapshot

__all__ = ["Evaluation", "FakeUnleash", "Predicate"]

LOGGER = logging.getLogger("unleash_lite")

Predicate = Callable[[Mapping[str, Any]], bool]
"""A ``when=`` rule: called with the evaluation context, returns whether the flag is on."""

PAYLOAD_TYPES = frozenset({"string", "json", "csv", "number"})
# The strategy that runs ``when=`` predicates; its name cannot clash with a real strategy.
_WHEN_STRATEGY = "FakeUnleash.when"
_CLIENT_KEYWORDS = frozenset(inspect.signature(UnleashClient.__init__).parameters) - {"self"}


@dataclass(frozen=True)
class Evaluation:
    """One flag check made through a :class:`FakeUnleash`."""

    feature_name: str
    context: Mapping[str, Any]
    """A copy of the context the check was given (``{}`` for none)."""
    method: Literal["is_enabled", "get_variant", "evaluate"]
    enabled: bool
    """The ``is_enabled`` answer, or for ``get_variant`` whether the flag was on."""
    variant: str | None = None
    """The variant name ``get_variant`` or ``evaluate`` answered; ``None`` for
    ``is_enabled``."""


@dataclass(frozen=True)
class _Rule:
    """What the fake was told about one flag with enable() or disable()."""

    enabled: bool
    constraints: tuple[Mapping[str, Any], ...] = ()
    predicate: Predicate | None = None
    predicate_id: str = ""  # how the flag's definition names the predicate


class _WhenStrategy:
    """A custom strategy calling the ``when=`` predicate its parameters name."""

    def __init__(self, predicates: Mapping[str, Predicate]) -> None:
        self._predicates = predicates

    def apply(self, parameters: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        predicate = self._predicates.get(str(parameters.get("id")))
        if predicate is None:
            return False
        try:
            return bool(predicate(context))
        except Exception:
            LOGGER.warning(
                "FakeUnleash: the when= predicate of %r raised; treating it as not matching",
                parameters.get("flag"),
                exc_info=True,
            )
            return False


class FakeUnleash(UnleashClient):
    """An offline :class:`~unleash_lite.UnleashClient` whose flags a test sets directly.

    Every flag is off until a test turns it on (unknown flags answer the ``fallback_function``
    then ``False``, as in the real client). The constructor takes the official keywords
    (``url``, ``app_name``, ``custom_headers``, ...) so it can be swapped in for a real client;
    ``app_name`` and ``environment`` are used as the static context, ``bootstrap`` and
    ``custom_strategies`` as in the real client, and the others are ignored: a fake never
    touches the network or the disk and starts no thread.

    Each call of :meth:`enable`, :meth:`disable` or :meth:`set_variant` replaces what the fake
    answered for the flags it names (the last call wins); a flag given a rule by the fake
    ignores its bootstrapped definition. Checks are recorded in :attr:`evaluations`.
    """

    def __init__(
        self,
        url: str = "",
        app_name: str = "fake-unleash",
        environment: str = "default",
        *,
        bootstrap: BootstrapSource | None = None,
        custom_strategies: Mapping[str, CustomStrategy] | None = None,
        **ignored: Any,
    ) -> None:
        unknown = set(ignored) - _CLIENT_KEYWORDS
        if unknown:
            raise TypeError(f"FakeUnleash got unexpected keyword arguments: {sorted(unknown)}")
        self.evaluations: list[Evaluation] = []
        """Every ``is_enabled`` and ``get_variant`` call, oldest first."""
        self._config_lock = threading.RLock()
        # Real definitions (the bootstrap and apply_payload()), as a full payload.
        self._base: dict[str, Any] = {"version": 2, "features": [], "segments": []}
        self._rules: dict[str, _Rule] = {}
        self._variants: dict[str, dict[str, Any]] = {}
        self._default: bool | None = None  # set by enable_all() / disable_all()
        self._predicates: dict[str, Predicate] = {}
        self._predicate_ids = itertools.count(1)
        self._overridden: list[frozenset[str]] = []
        super().__init__(
            url="",
            app_name=app_name,
            environment=environment,
            disable_metrics=True,
            disable_registration=True,
            custom_strategies={
                **(custom_strategies or {}),
                _WHEN_STRATEGY: _WhenStrategy(self._predicates),
            },
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
        )
        if bootstrap is not None:
            # As an offline real client does, a fake refuses a bad bootstrap: the test is wrong.
            self.apply_payload(load_bootstrap(bootstrap), owned=not isinstance(bootstrap, Mapping))
            self.unleash_bootstrapped = True
        else:
            self._publish()

    def __repr__(self) -> str:
        return (
            f"FakeUnleash(app_name={self.config.app_name!r}, flags={len(self.snapshot)}, "
            f"evaluations={len(self.evaluations)})"
        )

    # -- setting answers ------------------------------------------------------------------

    def enable(
        self,
        *names: str,
        for_users: Iterable[object] | None = None,
        when: Mapping[str, object] | Predicate | None = None,
    ) -> None:
        """Turn flags on: for everyone, or only for the contexts the conditions select.

        ``for_users``: the ``userId`` values the flags are on for. ``when``: either a mapping
        from context field to the value (or collection of values) it must have, e.g.
        ``{"country": ["NO", "SE"], "plan": "pro"}`` (fields are read at the top level of the
        context, then in its ``properties``, and compared as text, as Unleash constraints
        do), or a predicate called with the context (with ``appName`` and ``environment``
        filled in) that returns whether the flag is on. Conditions given together must all
        hold. A predicate that raises counts as not matching (and is logged as a warning).
        """
        constraints: list[Mapping[str, Any]] = []
        if for_users is not None:
            constraints.append(_in_constraint("userId", for_users, "for_users"))
        predicate: Predicate | None = None
        predicate_id = ""
        if callable(when):
            predicate, predicate_id = when, str(next(self._predicate_ids))
        elif isinstance(when, Mapping):
            constraints.extend(_in_constraint(str(f), v, f"when[{f!r}]") for f, v in when.items())
        elif when is not None:
            raise TypeError(f"when= takes a mapping or a callable, not {type(when).__name__}")
        rule = _Rule(True, tuple(constraints), predicate, predicate_id)
        self._set_rules(_names(names), rule)

    def disable(self, *names: str) -> None:
        """Turn flags off for every context."""
        self._set_rules(_names(names), _Rule(False))

    def set_variant(self, name: str, variant: str, payload: object = None) -> None:
        """Make ``get_variant(name)`` answer ``variant`` (with ``payload``) when the flag is on.

        A flag the fake has no :meth:`enable`/:meth:`disable` rule for is turned on for
        everyone. ``payload`` is the official ``{"type": ..., "value": ...}`` dict (types
        ``string``, ``json``, ``csv``, ``number``), or a shortcut: a ``str`` becomes a string
        payload, an ``int`` or ``float`` a number payload, and a dict or list a JSON payload.
        """
        (name,) = _names((name,))
        if not isinstance(variant, str) or not variant:
            raise ValueError("set_variant: the variant name must be a non-empty string")
        entry: dict[str, Any] = {"name": variant}
        converted = _payload(payload)
        if converted is not None:
            entry["payload"] = converted
        with self._config_lock:
            self._variants[name] = entry
            self._publish()

    def enable_all(self) -> None:
        """Every flag without a rule of its own (bootstrapped or unknown) answers on.

        Rules set with :meth:`enable`, :meth:`disable` and :meth:`set_variant` still win,
        whether set before or after. Unknown flags then ignore the ``fallback_function``.
        """
        self._set_default(True)

    def disable_all(self) -> None:
        """Every flag without a rule of its own (bootstrapped or unknown) answers off."""
        self._set_default(False)

    def reset(self) -> None:
        """Forget every rule, variant and recorded evaluation. Real definitions (bootstrap,
        :meth:`apply_payload`) stay; so do ``override()`` blocks still open."""
        with self._config_lock:
            self._rules.clear()
            self._variants.clear()
            self._default = None
            self.evaluations.clear()
            self._publish()

    def apply_payload(self, payload: Any, owned: bool = False) -> Snapshot:
        """Load real flag definitions (a full payload or a delta, as from the Unleash client
        API) under the fake's rules: flags the fake has a rule for keep answering it."""
        with self._config_lock:
            self._base = _applied(self._base, payload, owned)
            return self._publish()

    @contextmanager
    def override(self, flags: Mapping[str, OverrideValue]) -> Iterator[Self]:
        """As :meth:`UnleashClient.override`: fixed answers inside a ``with`` block, on top of
        the fake's rules."""
        names = frozenset(flags)
        with super().override(flags):
            self._overridden.append(names)
            try:
                yield self
            finally:
                self._overridden.remove(names)

    # -- what the code under test asked ---------------------------------------------------

    @property
    def checked_flags(self) -> frozenset[str]:
        """The names of the flags checked so far (with ``is_enabled`` or ``get_variant``)."""
        return frozenset(evaluation.feature_name for evaluation in self.evaluations)

    def was_checked(self, name: str, context: Mapping[str, Any] | None = None) -> bool:
        """Whether flag ``name`` was checked; with ``context``, checked with a context holding
        at least those fields and values (nested ``properties`` compare the same way)."""
        return any(
            evaluation.feature_name == name
            and (context is None or _holds(evaluation.context, context))
            for evaluation in self.evaluations
        )

    # -- the client surface ---------------------------------------------------------------

    def is_enabled(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> bool:
        """As :meth:`UnleashClient.is_enabled`, and recorded in :attr:`evaluations`."""
        default = self._default
        if default is not None:
            fallback_function = _constant_fallback(default)
        enabled = super().is_enabled(feature_name, context, fallback_function)
        self.evaluations.append(
            Evaluation(feature_name, _copy_context(context), "is_enabled", enabled)
        )
        return enabled

    def get_variant(self, feature_name: str, context: Mapping[str, Any] | None = None) -> Variant:
        """As :meth:`UnleashClient.get_variant`, and recorded in :attr:`evaluations`."""
        variant = super().get_variant(feature_name, context)
        if self._default and not self._knows(feature_name):
            variant = _disabled_variant(True)
        self.evaluations.append(
            Evaluation(
                feature_name,
                _copy_context(context),
                "get_variant",
                bool(variant["feature_enabled"]),
                variant["name"],
            )
        )
        return variant

    def evaluate(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None = None,
        fallback_function: FallbackFunction | None = None,
    ) -> EvaluationDetail:
        """As :meth:`UnleashClient.evaluate`, and recorded in :attr:`evaluations`."""
        detail = super().evaluate(feature_name, context, fallback_function)
        self.evaluations.append(
            Evaluation(
                feature_name,
                _copy_context(context),
                "evaluate",
                detail.enabled,
                detail.variant["name"],
            )
        )
        return detail

    def _evaluation(
        self,
        feature_name: str,
        context: Mapping[str, Any] | None,
        fallback_function: FallbackFunction | None,
    ) -> EvaluationDetail:
        default = self._default
        if default is not None and not self._knows(feature_name):
            method = "enable_all" if default else "disable_all"
            return EvaluationDetail(
                feature_name,
                default,
                _disabled_variant(default),
                Reason.FALLBACK,
                f"the flag is unknown; FakeUnleash.{method}() answers {default}",
                static=True,
            )
        return super()._evaluation(feature_name, context, fallback_function)

    # -- internals ------------------------------------------------------------------------

    def _knows(self, name: str) -> bool:
        return name in self.snapshot or any(name in names for names in self._overridden)

    def _set_rules(self, names: tuple[str, ...], rule: _Rule) -> None:
        with self._config_lock:
            for name in names:
                self._rules[name] = rule
            self._publish()

    def _set_default(self, default: bool) -> None:
        with self._config_lock:
            self._default = default
            self._publish()

    def _publish(self) -> Snapshot:
        """Compile the real definitions with the fake's rules on top, and swap them in."""
        with self._config_lock:
            base = {definition["name"]: definition for definition in self._base["features"]}
            features: dict[str, Mapping[str, Any]] = {}
            for name, definition in base.items():
                features[name] = definition
                if self._default is not None:
                    features[name] = _all_definition(name, definition, self._default)
            for name in dict.fromkeys([*self._rules, *self._variants]):
                rule = self._rules.get(name) or _Rule(True)
                strategy: dict[str, Any] = {
                    "name": "default",
                    "parameters": {},
                    "constraints": [dict(c) for c in rule.constraints],
                }
                if rule.predicate is not None:
                    parameters = {"id": rule.predicate_id, "flag": name}
                    strategy.update(name=_WHEN_STRATEGY, parameters=parameters)
                variant = self._variants.get(name)
                features[name] = {
                    "name": name,
                    "enabled": rule.enabled,
                    "type": str(base.get(name, {}).get("type") or "release"),
                    "project": str(base.get(name, {}).get("project") or "default"),
                    "strategies": [strategy],
                    "variants": [_fixed_variant(variant)] if variant is not None else [],
                }
            live = {r.predicate_id: r.predicate for r in self._rules.values() if r.predicate}
            self._predicates.update(live)
            payload = {
                "version": 2,
                "features": list(features.values()),
                "segments": self._base["segments"],
            }
            snapshot = super().apply_payload(payload)
            for key in set(self._predicates) - set(live):
                del self._predicates[key]
            return snapshot


def _names(names: Iterable[object]) -> tuple[str, ...]:
    checked: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"flag names are non-empty strings, not {name!r}")
        checked.append(name)
    if not checked:
        raise ValueError("name at least one flag")
    return tuple(checked)


def _in_constraint(field: str, wanted: object, argument: str) -> dict[str, Any]:
    """An ``IN`` constraint: ``field`` has one of the values ``wanted`` (one or many)."""
    if wanted is None:
        raise ValueError(f"{argument}: give a value or a collection of values, not None")
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Iterable):
        wanted = [wanted]
    values = [context_text(value) for value in wanted]
    if any(value is None for value in values):
        raise ValueError(f"{argument}: None is not a context value")
    return {"contextName": field, "operator": "IN", "values": values, "inverted": False}


def _applied(base: Mapping[str, Any], payload: Any, owned: bool) -> dict[str, Any]:
    """The definitions of full payload ``base`` once ``payload`` (full, or a delta to
    ``base``) is applied to them, exactly as a client applies it."""
    # A client of its own (offline, for a moment): the fake's client holds the rules too.
    folder = UnleashClient(
        url="",
        app_name="FakeUnleash.definitions",
        disable_metrics=True,
        disable_registration=True,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    try:
        if base["features"] or base["segments"]:
            folder.apply_payload(base)
        folder.apply_payload(payload, owned)
        return folder.export_payload()
    finally:
        folder.destroy()


def _disabled_variant(feature_enabled: bool) -> Variant:
    """The official SDK's variant answer when no variant applies."""
    return {"name": "disabled", "enabled": False, "feature_enabled": feature_enabled}


def _payload(value: object) -> dict[str, str] | None:
    """A variant payload in the official ``{"type", "value"}`` form, from it or a shortcut."""
    if value is None:
        return None
    if (
        isinstance(value, Mapping)
        and set(value) == {"type", "value"}
        and value["type"] in PAYLOAD_TYPES
        and isinstance(value["value"], str)
    ):
        return {"type": value["type"], "value": value["value"]}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"type": "number", "value": str(value)}
    if isinstance(value, (Mapping, list, tuple)):
        return {"type": "json", "value": json.dumps(value)}
    raise TypeError(
        "a payload is a {'type', 'value'} dict, a str, a number, a dict or a list, "
        f"not {type(value).__name__}"
    )


def _fixed_variant(variant: Mapping[str, Any]) -> dict[str, Any]:
    return {**variant, "weight": 1000, "weightType": "fix", "stickiness": "default"}


def _all_definition(name: str, definition: Mapping[str, Any], enabled: bool) -> dict[str, Any]:
    """A bootstrapped flag made on (or off) for everyone by enable_all() (disable_all());
    its feature-level variants stay."""
    return {
        **{key: definition[key] for key in ("type", "project", "variants") if key in definition},
        "name": name,
        "enabled": enabled,
        "strategies": [{"name": "default", "parameters": {}}],
    }


def _constant_fallback(answer: bool) -> FallbackFunction:
    def fallback(_name: str, _context: Mapping[str, Any]) -> bool:
        return answer

    return fallback


def _copy_context(context: object) -> dict[str, Any]:
    """A copy of a context, so later changes by the code under test don't rewrite history."""
    if not isinstance(context, Mapping):
        return {}
    return {key: _copy_value(value) for key, value in context.items()}


def _copy_value(value: object) -> object:
    if isinstance(value, Mapping):
        return {key: _copy_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_value(item) for item in value]
    return value


def _holds(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """Whether ``actual`` has every key of ``expected`` with an equal value (mappings nested
    in both compare the same way)."""
    for key, value in expected.items():
        if key not in actual:
            return False
        seen = actual[key]
        if isinstance(value, Mapping) and isinstance(seen, Mapping):
            if not _holds(seen, value):
                return False
        elif seen != value:
            return False
    return True
