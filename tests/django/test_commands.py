"""``manage.py unleash list|eval|explain``."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("unleash", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_list() -> None:
    lines = run("list").splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "PROJECT", "EMPTY", "CONTEXT"]
    rows = {line.split()[0]: line.split()[-1] for line in lines[1:]}
    assert rows["on"] == "on"
    assert rows["off"] == "off"
    assert rows["user-42"] == "off"


def test_list_as_json() -> None:
    flags = json.loads(run("list", "--json"))["flags"]
    assert {"name": "on", "type": "release", "project": "default", "enabled": True} in flags


def test_eval_with_a_context() -> None:
    text = run("eval", "user-42", "-c", "userId=42")
    assert text.splitlines()[0] == "user-42: on"
    assert 'context: {"userId": "42"}' in text
    data = json.loads(run("eval", "pro-plan", "--context", "plan=pro", "--json"))
    assert (data["enabled"], data["context"]) == (True, {"properties": {"plan": "pro"}})


def test_eval_of_an_unknown_flag_exits_3() -> None:
    with pytest.raises(CommandError, match="unknown flag 'nope'") as raised:
        run("eval", "nope")
    assert raised.value.returncode == 3


def test_explain() -> None:
    text = run("explain", "-c", "userId=42")
    assert text.splitlines()[0] == "7 flags; context: userId=42"
    assert "  ON  user-42 (strategy_matched)" in text
    data = json.loads(run("explain", "--json"))
    assert [flag["flag"] for flag in data["flags"]][:2] == ["colors", "from-10-0-0-7"]


def test_a_context_item_that_is_not_key_value_is_a_usage_error() -> None:
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run("eval", "on", "-c", "userId")


@override_settings(UNLEASH={"app_name": "empty"})
def test_list_exits_1_when_the_client_holds_no_flags() -> None:
    with pytest.raises(CommandError, match="no flags") as raised:
        run("list")
    assert raised.value.returncode == 1


@override_settings(UNLEASH={"app_name": "x", "urll": ""})
def test_a_broken_setting_is_reported_by_name() -> None:
    with pytest.raises(Exception, match="unknown key 'urll'; did you mean 'url'"):
        run("list")
