"""Evaluation hooks: code of yours that runs around every flag evaluation, to trace, log or
record flags (``hooks=[...]`` on both clients), in the spirit of OpenFeature's and
LaunchDarkly's hooks.

::

    class PrintHook(Hook):
        def after_evaluation(self, series, data, result):
            print(series.flag_name, result.enabled, result.detail.reason)

    client = UnleashClient(URL, "app", hooks=[PrintHook()])

Hooks run for ``is_enabled``, ``get_variant`` and ``evaluate`` (``explain`` and
``all_flags`` are diagnostics, as for metrics), on the caller's thread, in the order given
before the evaluation and in reverse order after it. A hook that raises is logged (at
WARNING the first time, then at DEBUG) and never changes the answer. A client without hooks
runs none of this code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from .engine.explain import EvaluationDetail
from .engine.variants import Variant

__all__ = [
    "EvaluationResult",
    "EvaluationSeries",
    "Hook",
    "HookRunner",
    "Method",
    "add_global_hook",
    "global_hooks",
    "remove_global_hook",
]

LOGGER = logging.getLogger("unleash_lite")

Method = Literal["is_enabled", "get_variant", "evaluate"]


class EvaluationSeries(NamedTuple):
    """What is being evaluated: the flag, the context (as the client evaluates it: with
    ``use_request_context``, the request's merged in) and the method called."""

    flag_name: str
    context: Mapping[str, Any]
    method: Method


class EvaluationResult:
    """What an evaluation answered: ``enabled`` (``is_enabled``'s answer), ``variant``
    (``get_variant``'s answer; ``None`` after ``is_enabled``) and ``detail``, the
    :class:`~unleash_lite.EvaluationDetail` with the reason, computed the first time a hook
    reads it (it costs a second, slower walk over the flag; for an unknown flag it says
    ``unknown_flag`` even when a fallback function gave ``enabled``)."""

    __slots__ = ("_detail", "_explain", "_series", "enabled", "variant")

    def __init__(
        self,
        enabled: bool,
        variant: Variant | None,
        detail: EvaluationDetail | None,
        explain: Callable[[str, Mapping[str, Any]], EvaluationDetail] | None = None,
        series: EvaluationSeries | None = None,
    ) -> None:
        self.enabled = enabled
        self.variant = variant
        self._detail = detail
        self._explain = explain  # with the series: how to get the detail when none is given
        self._series = series

    @property
    def detail(self) -> EvaluationDetail:
        """The evaluation with its reason (see :meth:`UnleashClient.evaluate`)."""
        if self._detail is None:
            if self._explain is None or self._series is None:
                raise ValueError("this result was built without its detail")
            self._detail = self._explain(self._series.flag_name, self._series.context)
        return self._detail


class Hook:
    """A hook: subclass it and override either method (both do nothing here)."""

    #: A name for log lines about this hook (default: the class name).
    name: str = ""

    def before_evaluation(self, series: EvaluationSeries) -> Any:
        """Called before the evaluation; what it returns is handed to
        :meth:`after_evaluation` as ``data`` (to time the evaluation, say)."""
        return None

    def after_evaluation(
        self, series: EvaluationSeries, data: Any, result: EvaluationResult
    ) -> None:
        """Called after the evaluation, with its result (never raises into the caller)."""


class HookRunner:
    """Runs a client's hooks around its evaluations (the client builds one when ``hooks``
    are given)."""

    __slots__ = ("_after", "_before", "_failed", "_wants_data", "hooks")

    def __init__(self, hooks: Sequence[Hook]) -> None:
        self.hooks = tuple(hooks)
        # A method left as Hook's own (it does nothing) is not called at all.
        self._before = [_overridden(hook, "before_evaluation") for hook in self.hooks]
        self._after = [_overridden(hook, "after_evaluation") for hook in self.hooks]
        self._wants_data = any(before is not None for before in self._before)
        self._failed: set[int] = set()  # hooks (by position) already logged at WARNING

    @property
    def active(self) -> bool:
        """Whether any hook does something (overrides one of the methods)."""
        return any(method is not None for method in (*self._before, *self._after))

    def wrap(
        self,
        method: Method,
        evaluate: Callable[..., Any],
        answer: Callable[[Any], tuple[bool, Variant | None]],
        detail: Callable[[str, Mapping[str, Any]], EvaluationDetail],
    ) -> Callable[..., Any]:
        """``evaluate(feature_name, context, ...)`` with the hooks around it: ``answer`` turns
        what it returns into ``(enabled, variant)``; ``detail(feature_name, context)`` gives
        the reason when a hook asks for it."""

        wants_data, befores, afters = self._wants_data, self._before, self._after
        call = self._call

        @functools.wraps(evaluate)
        def hooked(
            feature_name: str,
            context: Mapping[str, Any] | None = None,
            fallback_function: Any = _NOT_GIVEN,
        ) -> Any:
            series = EvaluationSeries(feature_name, _mapping(context), method)
            data = (
                [
                    None if before is None else call(index, before, (series,))
                    for index, before in enumerate(befores)
                ]
                if wants_data
                else None
            )
            if fallback_function is _NOT_GIVEN:
                value = evaluate(feature_name, context)
            else:
                value = evaluate(feature_name, context, fallback_function)
            enabled, variant = answer(value)
            if type(value) is EvaluationDetail:
                result = EvaluationResult(enabled, variant, value)
            else:
                result = EvaluationResult(enabled, variant, None, detail, series)
            index = len(afters)
            for after in reversed(afters):
                index -= 1
                if after is not None:
                    call(index, after, (series, data and data[index], result))
            return value

        return hooked

    def _call(self, index: int, function: Callable[..., Any], arguments: tuple[Any, ...]) -> Any:
        try:
            return function(*arguments)
        except Exception:
            hook = self.hooks[index]
            name = getattr(hook, "name", "") or type(hook).__name__
            if index in self._failed:
                LOGGER.debug("Unleash hook %s failed again", name, exc_info=True)
            else:
                self._failed.add(index)
                LOGGER.warning(
                    "Unleash hook %s failed (the evaluation goes on; later failures of this "
                    "hook are logged at DEBUG)",
                    name,
                    exc_info=True,
                )
            return None


_EMPTY: Mapping[str, Any] = {}
_NOT_GIVEN: Any = object()  # no fallback_function argument (get_variant has none)


def _overridden(hook: Any, name: str) -> Callable[..., Any] | None:
    """The hook's method ``name``, or ``None`` when it has none or it is :class:`Hook`'s."""
    method = getattr(hook, name, None)
    if method is None or getattr(type(hook), name, None) is getattr(Hook, name):
        return None
    return method  # type: ignore[no-any-return]


def _mapping(context: Any) -> Mapping[str, Any]:
    if type(context) is dict or isinstance(context, Mapping):
        return context
    return _EMPTY


# Hooks for every client created while they are registered (OpenFeature's API-level hooks):
# for tools such as the pytest plugin, which cannot reach each client's constructor.
_global_hooks: tuple[Hook, ...] = ()


def add_global_hook(hook: Hook) -> None:
    """Run ``hook`` in every client created from now on, before the client's own ``hooks``
    (clients already created keep theirs). For tools that see no client being built, such as
    a test plugin; an application passes ``hooks=[...]`` to its client."""
    global _global_hooks
    (checked,) = check_hooks([hook])
    _global_hooks = (*_global_hooks, checked)


def remove_global_hook(hook: Hook) -> None:
    """Stop adding ``hook`` to new clients (those created meanwhile keep it)."""
    global _global_hooks
    _global_hooks = tuple(known for known in _global_hooks if known is not hook)


def global_hooks() -> tuple[Hook, ...]:
    """The hooks :func:`add_global_hook` registered, in order."""
    return _global_hooks


def check_hooks(hooks: Any) -> tuple[Hook, ...]:
    """``hooks`` as a tuple, each with at least one of the two methods; a ``TypeError`` naming
    the keyword otherwise."""
    if hooks is None:
        return ()
    if isinstance(hooks, (str, bytes, Mapping)) or not isinstance(hooks, Sequence):
        raise TypeError(f"hooks must be a list of hooks, not {type(hooks).__name__}")
    for position, hook in enumerate(hooks):
        if not (hasattr(hook, "before_evaluation") or hasattr(hook, "after_evaluation")):
            raise TypeError(
                f"hooks[{position}] ({type(hook).__name__}) has neither before_evaluation "
                "nor after_evaluation (subclass unleash_lite.hooks.Hook)"
            )
    return tuple(hooks)
