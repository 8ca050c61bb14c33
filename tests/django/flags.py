"""The flags the Django tests run on."""

from __future__ import annotations

from typing import Any

from tests.support.payloads import constraint, feature, strategy, variant

BLUE = {"type": "string", "value": "sky"}
FLAGS: dict[str, Any] = {
    "version": 2,
    "features": [
        feature("on"),
        feature("off", enabled=False),
        feature("user-42", [strategy(constraints=[constraint("userId", "IN", ["42"])])]),
        feature("signed-in", [strategy(constraints=[constraint("userId", "NUM_GTE", value="1")])]),
        feature(
            "from-10-0-0-7",
            [strategy(constraints=[constraint("remoteAddress", "IN", ["10.0.0.7"])])],
        ),
        feature("pro-plan", [strategy(constraints=[constraint("plan", "IN", ["pro"])])]),
        feature("colors", variants=[variant("blue", 1000, payload=BLUE)]),
    ],
}
