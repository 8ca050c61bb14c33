"""How flag answers are shown, as text and as ``--json``: one place for the ``unleash-lite``
commands and the ``flask unleash`` commands. Each function returns text; the caller writes
it (``print`` for ``unleash-lite``, ``click.echo`` for ``flask unleash``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from .. import Explanation, Reason


def json_text(data: Any) -> str:
    """``data`` as indented JSON; dates as ISO 8601, anything else unknown as ``str``."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)


def count(number: int, noun: str) -> str:
    """``1 flag``, ``2 flags``."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def describe(context: Mapping[str, Any]) -> str:
    """``userId=17, country=NO``: a context on one line."""
    pairs = [(key, value) for key, value in context.items() if key != "properties"]
    pairs += list(context.get("properties", {}).items())
    return ", ".join(f"{key}={value}" for key, value in pairs) or "(empty)"


def answer_data(result: Explanation) -> dict[str, Any]:
    """The answer and its reason as JSON-ready data, without the strategy traces."""
    return {
        "flag": result.feature_name,
        "enabled": result.enabled,
        "variant": result.variant,
        "reason": str(result.reason),
        "message": result.message,
    }


def explanation_data(result: Explanation) -> dict[str, Any]:
    """An explanation as JSON-ready data (the ``--json`` shape of one flag)."""
    answer = answer_data(result)
    return {
        "flag": answer.pop("flag"),
        "known": result.reason is not Reason.UNKNOWN_FLAG,
        **answer,
        "strategy": dataclasses.asdict(result.strategy) if result.strategy else None,
        "strategies": [dataclasses.asdict(trace) for trace in result.strategies],
    }


def explanation_text(result: Explanation) -> str:
    """One flag's answer in a few aligned lines (``unleash-lite eval``)."""
    variant = result.variant
    shown = f" (variant {variant['name']})" if variant["enabled"] else ""
    lines = [
        f"{result.feature_name}: {'ON' if result.enabled else 'off'}{shown}",
        f"  reason:  {result.reason}",
        f"  detail:  {result.message}",
    ]
    payload = variant.get("payload")
    if isinstance(payload, Mapping):
        lines.append(f"  payload: {payload.get('type')} {payload.get('value')}")
    return "\n".join(lines)


def answer_text(result: Explanation, context: Mapping[str, Any]) -> str:
    """One flag's answer, variant and context, one per line (``flask unleash eval``)."""
    variant = result.variant
    variant_text = str(variant.get("name"))
    if "payload" in variant:
        variant_text += f" (payload: {json.dumps(variant['payload'], default=str)})"
    return "\n".join(
        [
            f"{result.feature_name}: {'on' if result.enabled else 'off'}",
            f"reason: {result.reason} ({result.message})",
            f"variant: {variant_text}",
            f"context: {json.dumps(dict(context), default=str)}",
        ]
    )


def flag_line(result: Explanation, *, reason: bool) -> str:
    """``  ON  name [variant] (reason): message``: one flag in a list of answers."""
    state = "ON " if result.enabled else "off"
    variant = f" [{result.variant['name']}]" if result.variant["enabled"] else ""
    shown_reason = f" ({result.reason})" if reason else ""
    return f"  {state} {result.feature_name}{variant}{shown_reason}: {result.message}"


def table_text(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` (the first one the header) in left-aligned columns two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
