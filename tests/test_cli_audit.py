"""``unleash-lite audit``: every call shape and template form it recognises, dynamic names,
the flags-file, cache and client-API sources, exit codes and the ``--json`` shape. (The
Admin API source, with stale and archived flags, is in tests/integration/test_audit_server.py.)
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import Ran
from tests.support.payloads import feature, payload
from tests.support.server import FakeUnleashServer
from unleash_lite import UnleashClient
from unleash_lite.cli import audit as audit_module
from unleash_lite.cli import main
from unleash_lite.cli.admin_api import AdminError
from unleash_lite.cli.audit import _admin_flag, _lifetimes
from unleash_lite.cli.audit_scan import Scan, scan
from unleash_lite.cli.errors import EXIT_FILE, EXIT_FINDINGS, EXIT_NETWORK, EXIT_OK, EXIT_USAGE

TOKEN = "client-token-that-must-never-show"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def found(result: Scan) -> set[tuple[str, int, str]]:
    """(name, line, shape) of each reference."""
    return {(r.name, r.line, r.shape) for r in result.references}


def audit(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    try:
        code = main(["audit", *argv])
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    return Ran(code, captured.out, captured.err)


def flags_file(path: Path, *features: dict[str, Any]) -> str:
    path.write_text(json.dumps(payload(*features)), encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def _private_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for variable in ("UNLEASH_API_TOKEN", "UNLEASH_ADMIN_TOKEN"):
        monkeypatch.delenv(variable, raising=False)


# -- Python call shapes ------------------------------------------------------------------


def test_the_client_methods_on_any_receiver(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "app.py": """\
                def view(request, client, unleash_client):
                    client.is_enabled("a")
                    request.unleash.get_variant("b", {"userId": "1"})
                    unleash_client.evaluate("c")
                    self.client.explain("d")
                    is_enabled(feature_name="e")
                    await request.unleash.ais_enabled("f")
                    await flags.aget_variant("g")
                    await flags.aevaluate("h")
                    client.is_enabled()  # no flag at all: nothing to report
                """,
        },
    )
    result = scan([tmp_path])
    assert found(result) == {
        ("a", 2, "is_enabled"),
        ("b", 3, "get_variant"),
        ("c", 4, "evaluate"),
        ("d", 5, "explain"),
        ("e", 6, "is_enabled"),
        ("f", 7, "ais_enabled"),
        ("g", 8, "aget_variant"),
        ("h", 9, "aevaluate"),
    }
    assert result.dynamic == []
    assert {r.path for r in result.references} == {str(tmp_path / "app.py")}


def test_fake_unleash_rules_and_the_pytest_marker(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "test_app.py": """\
                import logging
                import pytest
                from unleash_lite.testing import FakeUnleash

                @pytest.mark.unleash(enabled=["m1", "m2"], disabled="m3", variants={"m4": "blue"})
                def test_one(unleash):
                    unleash.enable("f1", "f2", for_users=["1"])
                    unleash.disable("f3")
                    fake = FakeUnleash()
                    fake.set_variant("f4", "red")
                    self.fake = FakeUnleash(bootstrap={})
                    self.fake.enable("f5")
                    logging.disable(logging.INFO)  # not a fake: not a flag
                    feature.enable("not-a-flag")

                def helper(fake: FakeUnleash, other: "FakeUnleash"):
                    fake.enable("f6")
                    other.disable("f7")
                """,
        },
    )
    result = scan([tmp_path])
    assert found(result) == {
        ("m1", 5, "@pytest.mark.unleash"),
        ("m2", 5, "@pytest.mark.unleash"),
        ("m3", 5, "@pytest.mark.unleash"),
        ("m4", 5, "@pytest.mark.unleash"),
        ("f1", 7, "FakeUnleash.enable"),
        ("f2", 7, "FakeUnleash.enable"),
        ("f3", 8, "FakeUnleash.disable"),
        ("f4", 10, "FakeUnleash.set_variant"),
        ("f5", 12, "FakeUnleash.enable"),
        ("f6", 17, "FakeUnleash.enable"),
        ("f7", 18, "FakeUnleash.disable"),
    }
    assert result.dynamic == []


def test_framework_decorators_dependencies_and_overrides(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "views.py": """\
                from fastapi import Depends
                from unleash_lite.django import FlagRequiredMixin, flag_required
                from unleash_lite.django.testing import override_flag, override_flags
                from unleash_lite.flask import feature_required

                @feature_required("flask-page", status=403)
                def flask_view(): ...

                @flag_required("django-page")
                def django_view(request): ...

                class BetaView(FlagRequiredMixin, TemplateView):
                    flag_name = "mixin-page"

                @app.get("/x", dependencies=[Depends(flag_required("fastapi-gate"))])
                def endpoint(variant=Depends(variant_of("fastapi-variant"))): ...

                @override_flag("django-override", active=False)
                def test_django(): ...

                def test_overrides(client, unleash_override):
                    with client.override({"o1": True, "o2": "blue"}):
                        pass
                    unleash_override(client, {"o3": False})
                    with override_flags({"o4": True}):
                        pass
                    jinja_env.globals["x"] = feature_enabled("py-jinja")
                """,
        },
    )
    assert found(scan([tmp_path])) == {
        ("flask-page", 6, "feature_required"),
        ("django-page", 9, "flag_required"),
        ("mixin-page", 13, "BetaView.flag_name"),
        ("fastapi-gate", 15, "flag_required"),
        ("fastapi-variant", 16, "variant_of"),
        ("django-override", 18, "override_flag"),
        ("o1", 22, "override"),
        ("o2", 22, "override"),
        ("o3", 24, "unleash_override"),
        ("o4", 25, "override_flags"),
        ("py-jinja", 27, "feature_enabled"),
    }


def test_names_through_module_constants_classes_and_imports(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "src/shop/__init__.py": "",
            "src/shop/flags.py": """\
                from typing import Final
                NEW_CHECKOUT = "new-checkout"
                DARK: Final = "dark-mode"
                class Flags:
                    BETA = "beta-page"
                """,
            "src/shop/reexport.py": "from .flags import DARK as NIGHT\n",
            "src/shop/views.py": """\
                from . import flags
                from .flags import NEW_CHECKOUT, Flags
                from .reexport import NIGHT
                import shop.flags
                import shop.flags as shop_flags
                LOCAL = "local-flag"

                def view(client):
                    client.is_enabled(NEW_CHECKOUT)
                    client.is_enabled(Flags.BETA)
                    client.is_enabled(flags.DARK)
                    client.is_enabled(NIGHT)
                    client.is_enabled(shop.flags.NEW_CHECKOUT)
                    client.is_enabled(shop_flags.Flags.BETA)
                    client.is_enabled(LOCAL)
                """,
        },
    )
    result = scan([tmp_path])
    assert {(r.name, r.line, r.via) for r in result.references} == {
        ("new-checkout", 9, "NEW_CHECKOUT"),
        ("beta-page", 10, "Flags.BETA"),
        ("dark-mode", 11, "flags.DARK"),
        ("dark-mode", 12, "NIGHT"),
        ("new-checkout", 13, "shop.flags.NEW_CHECKOUT"),
        ("beta-page", 14, "shop_flags.Flags.BETA"),
        ("local-flag", 15, "LOCAL"),
    }
    assert result.dynamic == []


def test_dynamic_names_are_listed_never_guessed(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "app.py": """\
                from elsewhere import IMPORTED  # not in the scanned tree
                PREFIX = "shop-"

                def view(client, name, names):
                    client.is_enabled(f"beta-{name}")
                    client.get_variant(name)
                    client.is_enabled(PREFIX + name)
                    client.is_enabled(IMPORTED)
                    client.is_enabled(*names)
                    client.override({name: True, **extra})
                """,
        },
    )
    result = scan([tmp_path])
    assert result.references == []
    assert [(d.line, d.shape, d.expression) for d in result.dynamic] == [
        (5, "is_enabled", "f'beta-{name}'"),
        (6, "get_variant", "name"),
        (7, "is_enabled", "PREFIX + name"),
        (8, "is_enabled", "IMPORTED"),
        (9, "is_enabled", "client.is_enabled(*names)"),
        (10, "override", "name"),
        (10, "override", "{name: True, **extra}"),
    ]


# -- templates ---------------------------------------------------------------------------


def test_jinja_helpers_and_django_tags(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "templates/page.html": """\
                {% if feature_enabled("jinja-on") %}new{% endif %}
                {% set v = feature_variant( 'jinja-variant', {"userId": "1"}) %}
                {% load unleash %}
                {% flag "django-on" %}on{% else %}off{% endflag %}
                {%- flag 'django-trimmed' -%}x{% endflag %}
                {% flag_variant "django-variant" as variant %}{{ variant.name }}
                {{ feature_enabled(flag_name) }}
                {% flag some.flag %}{% endflag %}
                {% flag_variant chosen as v %}
                <p>a flag of the country</p>
                """,
            "templates/mail.txt": '{% if feature_enabled("mail-flag") %}x{% endif %}\n',
            "static/app.js": 'feature_enabled("not-a-template")\n',
        },
    )
    result = scan([tmp_path])
    assert {(r.name, r.line, r.shape, Path(r.path).name) for r in result.references} == {
        ("jinja-on", 1, "feature_enabled()", "page.html"),
        ("jinja-variant", 2, "feature_variant()", "page.html"),
        ("django-on", 4, "{% flag %}", "page.html"),
        ("django-trimmed", 5, "{% flag %}", "page.html"),
        ("django-variant", 6, "{% flag_variant %}", "page.html"),
        ("mail-flag", 1, "feature_enabled()", "mail.txt"),
    }
    assert [(d.line, d.shape, d.expression) for d in result.dynamic] == [
        (7, "feature_enabled()", "flag_name"),
        (8, "{% flag %}", "some.flag"),
        (9, "{% flag_variant %}", "chosen"),
    ]


def test_hidden_and_virtualenv_directories_excludes_and_unreadable_files(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "app.py": 'client.is_enabled("kept")\n',
            ".venv/lib/x.py": 'client.is_enabled("in-venv")\n',
            "node_modules/x/t.html": '{% flag "in-node-modules" %}\n',
            "migrations/0001.py": 'client.is_enabled("excluded")\n',
            "old.py": "print 'python 2'; client.is_enabled('x')\n",
        },
    )
    (tmp_path / "latin1.py").write_bytes(b"# \xe9\nclient.is_enabled('x')\n")
    result = scan([tmp_path], exclude=["migrations"])
    assert {r.name for r in result.references} == {"kept"}
    assert sorted((Path(path).name, why.split(" (")[0]) for path, why in result.skipped) == [
        ("latin1.py", "not UTF-8 text"),
        ("old.py", "not valid Python"),
    ]
    assert result.files == 2  # app.py and old.py were read (old.py not parsed), latin1.py not
    with pytest.raises(FileNotFoundError):
        scan([tmp_path / "missing"])
    # A file named on the command line is read whatever its suffix (as a template unless .py).
    (tmp_path / "page.tpl").write_text('{% flag "named" %}{% endflag %}\n', encoding="utf-8")
    assert {r.name for r in scan([tmp_path]).references} == {"kept", "excluded"}
    assert [r.name for r in scan([tmp_path / "page.tpl"]).references] == ["named"]


# -- the command: sources, report, exit codes, JSON ----------------------------------------

APP = {
    "app/flags.py": 'DELETE = "delete_survey_flg"\n',
    "app/views.py": """\
        from .flags import DELETE

        def view(client, name):
            client.is_enabled(DELETE)
            client.is_enabled("new-checkout")
            client.get_variant("old-banner")
            client.is_enabled(f"x-{name}")
        """,
    "app/templates/base.html": '{% flag "new-checkout" %}x{% endflag %}\n',
}
SOURCE = (
    feature("delete_survey_flag"),
    feature("new-checkout"),
    feature("old-banner", stale=True),
    feature("forgotten"),
)


def test_the_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "repo", APP)
    source = flags_file(tmp_path / "flags.json", *SOURCE)
    ran = audit(capsys, str(root), "--source", source, "--fail-on", "none")
    assert ran.code == EXIT_OK, ran.err
    views = root / "app" / "views.py"
    header = f"3 files (9 lines) read: 3 flags referenced in 4 places, 1 dynamic; source: {source}"
    assert ran.out == textwrap.dedent(f"""\
        {header} (4 flags)

        unknown flags (in the code, not in the source): 1
          delete_survey_flg  (did you mean delete_survey_flag?)
            {views}:4  is_enabled via DELETE

        stale flags still referenced: 1
          old-banner
            {views}:6  get_variant

        cleanup candidates (in the source, referenced nowhere): 2
          delete_survey_flag
          forgotten
          (a dynamic name below may still use one of them)

        dynamic flag names (not resolved; check by hand): 1
          {views}:7  is_enabled: f'x-{{name}}'
        """)


def test_every_flag_with_its_places(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "repo", APP)
    source = flags_file(tmp_path / "flags.json", *SOURCE)
    ran = audit(capsys, str(root), "--source", source, "--all", "--fail-on", "none")
    every = ran.out.split("every referenced flag:\n")[1]
    assert every.splitlines() == [
        "  delete_survey_flg",
        f"    {root}/app/views.py:4  is_enabled via DELETE",
        "  new-checkout",
        f"    {root}/app/templates/base.html:1  {{% flag %}}",
        f"    {root}/app/views.py:5  is_enabled",
        "  old-banner",
        f"    {root}/app/views.py:6  get_variant",
    ]


@pytest.mark.parametrize(
    ("fail_on", "code", "failing"),
    [
        (None, EXIT_FINDINGS, "unknown"),  # the default
        ("unknown", EXIT_FINDINGS, "unknown"),
        ("stale", EXIT_FINDINGS, "stale"),
        ("archived,potentially-stale", EXIT_OK, None),
        ("unused,dynamic", EXIT_FINDINGS, "unused, dynamic"),
        ("none", EXIT_OK, None),
    ],
)
def test_fail_on_sets_the_exit_code(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fail_on: str | None,
    code: int,
    failing: str | None,
) -> None:
    root = write_tree(tmp_path / "repo", APP)
    source = flags_file(tmp_path / "flags.json", *SOURCE)
    ran = audit(capsys, str(root), "--source", source, *(["--fail-on", fail_on] if fail_on else []))
    assert ran.code == code
    last = ran.out.strip().splitlines()[-1]
    if failing is None:
        assert not last.startswith("failing")
    else:
        assert last.startswith(f"failing: found {failing} (--fail-on ")


def test_a_clean_tree_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "repo", {"app.py": 'client.is_enabled("a")\n'})
    source = flags_file(tmp_path / "flags.json", feature("a"))
    ran = audit(capsys, str(root), "--source", source, "--fail-on", "unknown,stale,unused,dynamic")
    assert ran.code == EXIT_OK
    assert ran.out == (
        f"1 file (1 line) read: 1 flag referenced in 1 place, 0 dynamic; source: {source} "
        "(1 flag)\n"
    )


def test_the_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "repo", {**APP, "broken.py": "client.is_enabled(\n"})
    source = flags_file(tmp_path / "flags.json", *SOURCE)
    ran = audit(capsys, str(root), "--source", source, "--json", "--fail-on", "unknown,stale")
    assert ran.code == EXIT_FINDINGS
    data = json.loads(ran.out)
    views = str(root / "app" / "views.py")
    unknown = {"project": None, "stale": False, "potentially_stale": False}
    assert data == {
        "source": {"origin": source, "flags": 4},
        "scanned": {
            "files": 4,
            "lines": 10,
            "skipped": [
                {"path": str(root / "broken.py"), "reason": data["scanned"]["skipped"][0]["reason"]}
            ],
        },
        "flags": [
            {
                "name": "delete_survey_flg",
                "known": False,
                "did_you_mean": ["delete_survey_flag"],
                "references": [
                    {"path": views, "line": 4, "shape": "is_enabled", "via": "DELETE"},
                ],
            },
            {
                "name": "new-checkout",
                "known": True,
                "project": "default",
                "stale": False,
                "potentially_stale": False,
                "archived": False,
                "last_seen_at": None,
                "references": [
                    {
                        "path": str(root / "app" / "templates" / "base.html"),
                        "line": 1,
                        "shape": "{% flag %}",
                        "via": None,
                    },
                    {"path": views, "line": 5, "shape": "is_enabled", "via": None},
                ],
            },
            {
                "name": "old-banner",
                "known": True,
                "project": "default",
                "stale": True,
                "potentially_stale": False,
                "archived": False,
                "last_seen_at": None,
                "references": [{"path": views, "line": 6, "shape": "get_variant", "via": None}],
            },
        ],
        "unknown": ["delete_survey_flg"],
        "archived": [],
        "stale": ["old-banner"],
        "potentially_stale": [],
        "unused": ["delete_survey_flag", "forgotten"],
        "unused_flags": [
            {"name": name, **unknown, "project": "default", "archived": False, "last_seen_at": None}
            for name in ("delete_survey_flag", "forgotten")
        ],
        "dynamic": [{"path": views, "line": 7, "shape": "is_enabled", "expression": "f'x-{name}'"}],
        "fail_on": ["unknown", "stale"],
        "failed_on": ["unknown", "stale"],
    }
    assert data["scanned"]["skipped"][0]["reason"].startswith("not valid Python (line 1")


def test_a_delta_and_an_admin_export_are_flag_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tmp_path / "repo", {"app.py": 'c.is_enabled("a")\nc.is_enabled("b")\n'})
    delta = tmp_path / "delta.json"
    delta.write_text(
        json.dumps({"events": [{"type": "feature-updated", "eventId": 1, "feature": feature("a")}]})
    )
    ran = audit(capsys, str(root), "--source", str(delta), "--json")
    assert json.loads(ran.out)["unknown"] == ["b"]
    export = tmp_path / "export.json"
    export.write_text(
        json.dumps(
            {
                "features": [
                    {"name": "a", "stale": True},
                    {"name": "b", "archivedAt": "2026-01-01"},
                ],
                "featureStrategies": [],
                "featureEnvironments": [],
            }
        )
    )
    data = json.loads(audit(capsys, str(root), "--source", str(export), "--json").out)
    assert (data["unknown"], data["stale"], data["archived"]) == ([], ["a"], ["b"])


def test_the_disk_cache_a_client_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    flags = payload(feature("new-checkout"), feature("retired", stale=True))
    with FakeUnleashServer(payload=flags, token=TOKEN) as server:
        client = UnleashClient(
            url=server.url,
            app_name="shop",
            custom_headers={"Authorization": TOKEN},
            cache_directory=str(cache),
            disable_metrics=True,
            disable_registration=True,
        )
        client.initialize_client()
        assert client.wait_until_ready(10)
        client.destroy()
    (written,) = cache.glob("*.json")
    root = write_tree(tmp_path / "repo", {"app.py": 'c.is_enabled("retired")\n'})
    for where in (str(cache), str(written)):
        data = json.loads(audit(capsys, str(root), "--cache", where, "--json").out)
        assert data["source"] == {"origin": str(written), "flags": 2}
        assert (data["stale"], data["unused"]) == (["retired"], ["new-checkout"])
    (cache / "other.json").write_text("{}")  # newer, and holds no flags
    ran = audit(capsys, str(root), "--cache", str(cache))
    assert ran.code == EXIT_FILE
    assert "holds no usable flags" in ran.err
    assert audit(capsys, str(root), "--cache", str(tmp_path / "none")).code == EXIT_FILE


def test_the_client_api_of_a_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "repo", {"app.py": 'c.is_enabled("new-chekout")\n'})
    with FakeUnleashServer(payload=payload(feature("new-checkout")), token=TOKEN) as server:
        ran = audit(capsys, str(root), "--url", server.url, "--token", TOKEN)
        assert ran.code == EXIT_FINDINGS
        assert "new-chekout  (did you mean new-checkout?)" in ran.out
        assert f"source: {server.url} (1 flag)" in ran.out
        refused = audit(capsys, str(root), "--url", server.url, "--token", "wrong", "--json")
    assert refused.code == EXIT_NETWORK
    assert json.loads(refused.out)["error"]["kind"] == "network"


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no source
        ["--source", "f.json", "--cache", "dir"],  # two
        ["--source", "f.json", "--fail-on", "unknwn"],
        ["--source", "f.json", "--project", "p"],  # --project without --url
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert audit(capsys, ".", *argv).code == EXIT_USAGE


def test_unreadable_paths_and_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = flags_file(tmp_path / "flags.json", feature("a"))
    missing = audit(capsys, str(tmp_path / "nowhere"), "--source", source)
    assert (missing.code, missing.err) == (
        EXIT_FILE,
        f"unleash-lite audit: cannot read {tmp_path / 'nowhere'}: no such file or directory\n",
    )
    (tmp_path / "bad.json").write_text("{")
    assert audit(capsys, str(tmp_path), "--source", str(tmp_path / "bad.json")).code == EXIT_FILE


def test_potentially_stale_and_last_seen_from_the_admin_search_answer() -> None:
    """As unleash-server 8.2.0 answers /admin/search/features (no potentiallyStale, last seen
    per environment only) and /admin/feature-types: potentially stale is a flag older than
    its type's expected lifetime, and not marked stale."""
    lifetimes = _lifetimes(
        {
            "types": [
                {"id": "release", "lifetimeDays": 40},
                {"id": "kill-switch", "lifetimeDays": None},
            ]
        }
    )
    assert lifetimes == {"release": 40}
    now = datetime(2026, 6, 1, tzinfo=UTC)

    def flag(name: str, kind: str, created: str, stale: bool = False) -> dict[str, Any]:
        return {
            "name": name,
            "type": kind,
            "project": "default",
            "stale": stale,
            "createdAt": created,
            "archivedAt": None,
            "environments": [
                {"name": "development", "lastSeenAt": "2026-05-30T10:00:00.000Z"},
                {"name": "production", "lastSeenAt": "2026-05-31T09:00:00.000Z"},
                {"name": "staging", "lastSeenAt": None},
            ],
        }

    old = _admin_flag(flag("old", "release", "2026-04-01T00:00:00.000Z"), lifetimes, now)
    young = _admin_flag(flag("young", "release", "2026-05-01T00:00:00.000Z"), lifetimes, now)
    switch = _admin_flag(flag("switch", "kill-switch", "2020-01-01T00:00:00Z"), lifetimes, now)
    stale = _admin_flag(flag("stale", "release", "2020-01-01T00:00:00Z", True), lifetimes, now)
    assert [f.potentially_stale for f in (old, young, switch, stale)] == [True, False, False, False]
    assert old.last_seen_at == "2026-05-31T09:00:00.000Z"
    unseen = _admin_flag({"name": "x", "environments": [{"lastSeenAt": None}]}, lifetimes, now)
    assert (unseen.last_seen_at, unseen.potentially_stale, unseen.archived) == (None, False, False)


def test_an_import_two_scanned_modules_could_be_is_dynamic(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "one/flags.py": 'NAME = "one"\n',
            "two/flags.py": 'NAME = "two"\n',
            "app.py": "from flags import NAME\nclient.is_enabled(NAME)\n",
            "one/app.py": "from one.flags import NAME\nclient.is_enabled(NAME)\n",
        },
    )
    result = scan([tmp_path])
    assert [(r.name, Path(r.path).parent.name) for r in result.references] == [("one", "one")]
    assert [(Path(d.path).name, d.expression) for d in result.dynamic] == [("app.py", "NAME")]


def test_a_rate_limited_search_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """unleash-server 8.x answers 429 past 15 search requests a minute."""
    monkeypatch.setattr(audit_module, "RATE_LIMIT_WAIT", 0.0)
    answers: list[Exception | list[str]] = [AdminError("Too Many Requests", 429), ["a"]]

    def search() -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert audit_module._rate_limited(search, AdminError) == ["a"]
    assert "rate limited" in capsys.readouterr().err
    answers[:] = [AdminError("Unauthorized", 401)]
    with pytest.raises(AdminError):
        audit_module._rate_limited(search, AdminError)
    answers[:] = [AdminError("Too Many Requests", 429)] * audit_module.RATE_LIMIT_ATTEMPTS
    with pytest.raises(AdminError):
        audit_module._rate_limited(search, AdminError)
