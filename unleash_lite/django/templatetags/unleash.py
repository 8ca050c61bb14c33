"""``{% load unleash %}``: the ``flag`` block tag and the ``flag_variant`` tag.

::

    {% flag "new-checkout" %}<a href="/checkout/v2">new</a>{% else %}old{% endflag %}
    {% flag_variant "banner" as banner %}
    {% if banner.enabled %}{{ banner.payload.value }}{% endif %}

Both answer for the template's ``request`` (the ``request`` context processor, or
``render(request, ...)``), or else for the current request context variable.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context

from ..flags import current_flags

register = template.Library()


def _flags(context: Context) -> Any:
    return current_flags(context.get("request"))


class FlagNode(template.Node):
    def __init__(self, name: FilterExpression, on: NodeList, off: NodeList) -> None:
        self.name, self.on, self.off = name, on, off

    def render(self, context: Context) -> str:
        name = self.name.resolve(context)
        enabled = isinstance(name, str) and _flags(context).is_enabled(name)
        return (self.on if enabled else self.off).render(context)


@register.tag("flag")
def flag(parser: Parser, token: Token) -> FlagNode:
    """``{% flag NAME %}...{% else %}...{% endflag %}``: the first part when the flag is on
    for the request, else the ``else`` part (optional). ``NAME`` is a string or a variable."""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError(f"{bits[0]} takes one argument: the flag's name")
    on = parser.parse(("else", "endflag"))
    off = NodeList()
    if parser.next_token().contents == "else":
        off = parser.parse(("endflag",))
        parser.delete_first_token()
    return FlagNode(parser.compile_filter(bits[1]), on, off)


class VariantNode(template.Node):
    def __init__(self, name: FilterExpression, target: str) -> None:
        self.name, self.target = name, target

    def render(self, context: Context) -> str:
        name = self.name.resolve(context)
        flags = _flags(context)
        context[self.target] = (
            flags.get_variant(name)
            if isinstance(name, str)
            else {"name": "disabled", "enabled": False, "feature_enabled": False}
        )
        return ""


@register.tag("flag_variant")
def flag_variant(parser: Parser, token: Token) -> VariantNode:
    """``{% flag_variant NAME as VAR %}``: ``VAR`` is the flag's variant for the request
    (``name``, ``enabled``, ``feature_enabled``, ``payload`` with ``type`` and ``value``)."""
    bits = token.split_contents()
    if len(bits) != 4 or bits[2] != "as":
        raise template.TemplateSyntaxError(f"usage: {{% {bits[0]} NAME as VARIABLE %}}")
    return VariantNode(parser.compile_filter(bits[1]), bits[3])
