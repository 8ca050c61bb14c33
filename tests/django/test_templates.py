"""The ``{% flag %}`` and ``{% flag_variant %}`` template tags and the Jinja2 helpers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template, TemplateSyntaxError, engines
from django.test import Client

from unleash_lite.context import request_context

pytestmark = pytest.mark.django_db


def page(source: str, engine: str = "django", browser: Client | None = None) -> str:
    response = (browser or Client()).get("/template/", {"source": source, "engine": engine})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{% load unleash %}{% flag "on" %}yes{% else %}no{% endflag %}', "yes"),
        ('{% load unleash %}{% flag "off" %}yes{% else %}no{% endflag %}', "no"),
        ('{% load unleash %}{% flag "unknown" %}yes{% else %}no{% endflag %}', "no"),
        ('{% load unleash %}[{% flag "off" %}yes{% endflag %}]', "[]"),
        ("{% load unleash %}{% flag name %}yes{% else %}no{% endflag %}", "yes"),  # a variable
        ("{% load unleash %}{% flag missing %}yes{% else %}no{% endflag %}", "no"),
    ],
)
def test_the_flag_tag(source: str, expected: str) -> None:
    assert page(source) == expected


def test_the_flag_tag_answers_for_the_request_s_user() -> None:
    source = '{% load unleash %}{% flag "user-42" %}hello 42{% else %}who?{% endflag %}'
    browser = Client()
    assert page(source, browser=browser) == "who?"
    browser.force_login(User.objects.create(id=42, username="ada"))
    assert page(source, browser=browser) == "hello 42"


def test_the_variant_tag() -> None:
    source = (
        '{% load unleash %}{% flag_variant "colors" as c %}'
        "{{ c.name }} {{ c.enabled }} {{ c.payload.value }}"
        '{% flag_variant "off" as d %} {{ d.name }} {{ d.enabled }}'
    )
    assert page(source) == "blue True sky disabled False"


@pytest.mark.parametrize(
    "source",
    [
        "{% load unleash %}{% flag %}x{% endflag %}",
        '{% load unleash %}{% flag "a" "b" %}x{% endflag %}',
        '{% load unleash %}{% flag_variant "a" %}',
        '{% load unleash %}{% flag_variant "a" to v %}',
    ],
)
def test_misused_tags_fail_when_the_template_compiles(source: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template(source)


def test_outside_a_request_the_tags_use_the_current_request_context() -> None:
    template = Template('{% load unleash %}{% flag "user-42" %}42{% else %}-{% endflag %}')
    assert template.render(Context()) == "-"
    with request_context({"userId": "42"}):
        assert template.render(Context()) == "42"


def test_the_jinja2_helpers() -> None:
    source = (
        "{{ feature_enabled('on') }} {{ feature_enabled('off') }} "
        "{{ feature_enabled('pro-plan', {'properties': {'plan': 'pro'}}) }} "
        "{% set c = feature_variant('colors') %}{{ c.name }} {{ c.payload.value }}"
    )
    assert page(source, engine="jinja2") == "True False True blue sky"


def test_the_jinja2_helpers_answer_for_the_request_s_user() -> None:
    browser = Client()
    browser.force_login(User.objects.create(id=42, username="ada"))
    assert page("{{ feature_enabled('user-42') }}", "jinja2", browser) == "True"
    assert page("{{ feature_enabled('user-42') }}", "jinja2") == "False"


def test_the_jinja2_helpers_outside_a_request() -> None:
    template = engines["jinja2"].from_string("{{ feature_enabled('user-42') }}")
    assert template.render({}) == "False"
    with request_context({"userId": "42"}):
        assert template.render({}) == "True"
