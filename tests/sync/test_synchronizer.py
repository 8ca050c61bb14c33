"""``Synchronizer``: poll/install/cache, cache reloads, jobs, stop, after_fork."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import responses
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from tests.support.doubles import DictCache, StubScheduler
from tests.support.helpers import messages, wait_for
from tests.support.payloads import body_of, feature, payload
from tests.support.server import FEATURES, METRICS, REGISTER, TOKEN, URL, FakeUnleashServer
from tests.support.sync import Installs, names
from unleash_lite import FileCache, UnleashClient
from unleash_lite.cache import ETAG, FEATURES_URL
from unleash_lite.config import ClientConfig
from unleash_lite.sync.loader import FlagLoader
from unleash_lite.sync.metrics import MetricsRegistry
from unleash_lite.sync.scheduler import ApschedulerRunner, Job, ThreadRunner
from unleash_lite.sync.synchronizer import Synchronizer

FIRST = payload(feature("a"))
SECOND = payload(feature("a"), feature("b", enabled=False))


class Recorder(Installs):
    """Stands in for the client: its swap, and ``on_fetched``."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def on_fetched(self, raw: str) -> None:
        self.fetched.append(raw)


def make(cache: Any = None, scheduler: Any = None, etag: str | None = None,
         **overrides: Any) -> tuple[Synchronizer, Recorder]:
    options: dict[str, Any] = {"url": URL, "app_name": "sync-app",
                               "custom_headers": {"Authorization": TOKEN},
                               "refresh_interval": 10, "metrics_interval": 20,
                               "request_timeout": 3, "request_retries": 0}
    options.update(overrides)
    recorder = Recorder()
    loader = FlagLoader(cache if cache is not None else DictCache(), recorder,
                        recorder.on_fetched)
    loader.etag = etag
    sync = Synchronizer(ClientConfig(**options), loader, MetricsRegistry(),
                        ["default", "custom"],
                        scheduler if scheduler is not None else StubScheduler())
    return sync, recorder


# -- poll ---------------------------------------------------------------------------------------


@responses.activate
def test_poll_installs_caches_and_announces_a_new_payload() -> None:
    responses.get(FEATURES, body=body_of(FIRST), headers={"ETag": '"e1"'})
    cache = DictCache()
    sync, recorder = make(cache)
    sync.poll()
    assert recorder.applied == [names(FIRST)]
    assert recorder.fetched == [body_of(FIRST)]
    assert cache.mset_calls == [{FEATURES_URL: body_of(FIRST), ETAG: '"e1"'}]
    assert sync.loader.etag == '"e1"'


@responses.activate
def test_a_payload_without_etag_is_cached_with_an_empty_one() -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    cache = DictCache()
    sync, _ = make(cache)
    sync.poll()
    sync.poll()
    assert "If-None-Match" not in responses.calls[1].request.headers
    assert cache.entries[ETAG] == ""
    assert sync.loader.etag is None


@responses.activate
def test_the_cached_etag_is_used_for_the_first_fetch() -> None:
    responses.get(FEATURES, status=304)
    sync, recorder = make(etag='"from-cache"')
    sync.poll()
    assert responses.calls[0].request.headers["If-None-Match"] == '"from-cache"'
    assert recorder.applied == [] and recorder.fetched == []


@responses.activate
def test_a_delta_payload_is_handed_over_as_is() -> None:
    delta = {"events": [{"type": "hydration", "eventId": 1, "features": [feature("d")],
                         "segments": []}]}
    responses.get(FEATURES, body=body_of(delta), headers={"ETag": '"d1"'})
    installs = Installs()
    sync = Synchronizer(ClientConfig(url=URL, app_name="delta"),
                        FlagLoader(DictCache(), installs), MetricsRegistry(), [],
                        StubScheduler())
    sync.poll()
    assert installs.applied == [["d"]]


# -- the disk cache of a fetch_toggles=False client ------------------------------------------


def test_reload_cache_installs_what_another_process_wrote(tmp_path: Any) -> None:
    writer = FileCache("shared", directory=tmp_path)
    writer.mset({FEATURES_URL: body_of(FIRST), ETAG: '"e1"'})
    sync, recorder = make(FileCache("shared", directory=tmp_path))
    sync.reload_cache()
    assert recorder.applied == [names(FIRST)]
    sync.reload_cache()  # same ETag: not installed again
    assert recorder.applied == [names(FIRST)]
    writer.mset({FEATURES_URL: body_of(SECOND), ETAG: '"e2"'})
    sync.reload_cache()
    assert recorder.applied == [names(FIRST), names(SECOND)]
    assert recorder.fetched == []  # a cache reload is not a fetch
    assert sync.loader.etag == '"e2"'


def test_reload_cache_accepts_dict_entries_and_ignores_junk(
        caplog: pytest.LogCaptureFixture) -> None:
    cache = DictCache({FEATURES_URL: FIRST, ETAG: '"x"'})
    sync, recorder = make(cache)
    sync.reload_cache()
    assert recorder.applied == [names(FIRST)]
    cache.entries.update({FEATURES_URL: "{broken", ETAG: '"y"'})
    sync.reload_cache()
    cache.entries.update({FEATURES_URL: "[]", ETAG: '"z"'})
    sync.reload_cache()
    assert recorder.applied == [names(FIRST)]
    assert messages(caplog.records, logging.WARNING)  # said so (how often: see below)
    cache.entries.clear()
    sync.reload_cache()  # an empty cache changes nothing
    assert recorder.applied == [names(FIRST)]


def test_reload_cache_warns_once_for_the_same_unusable_entry(
        caplog: pytest.LogCaptureFixture) -> None:
    cache = DictCache({FEATURES_URL: "{broken", ETAG: '"bad"'})
    sync, recorder = make(cache)
    for _ in range(4):
        sync.reload_cache()
    assert recorder.applied == []
    assert len(messages(caplog.records, logging.WARNING)) == 1


def test_reload_cache_survives_a_failing_user_cache() -> None:
    class Down(DictCache):
        def get(self, key: str, default: Any | None = None) -> Any:
            raise ConnectionError("cache backend down")

    sync, recorder = make(Down())
    sync.reload_cache()  # must not raise
    assert recorder.applied == []


@responses.activate
def test_fetch_toggles_false_never_calls_the_features_endpoint() -> None:
    responses.post(REGISTER, status=202)
    scheduler = StubScheduler()
    cache = DictCache({FEATURES_URL: body_of(FIRST), ETAG: '"e1"'})
    sync, recorder = make(cache, scheduler)
    sync.start(fetch_toggles=False)
    assert recorder.applied == [names(FIRST)]
    assert scheduler.job("poll").function == sync.reload_cache
    scheduler.job("poll").function()
    assert all(call.request.url != FEATURES for call in responses.calls)


# -- jobs ---------------------------------------------------------------------------------------


@responses.activate
def test_start_fetches_once_then_adds_the_jobs() -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    scheduler = StubScheduler()
    sync, recorder = make(scheduler=scheduler)
    sync.start()
    assert recorder.applied == [names(FIRST)]
    assert len(responses.calls) == 1
    assert scheduler.interval("poll") == 10
    assert scheduler.interval("metrics") == 20
    assert scheduler.job("poll").function == sync.poll
    assert scheduler.job("metrics").function == sync.send_metrics
    assert scheduler.job("register").function == sync.register
    assert scheduler.job("register").trigger is None  # runs once, right away


@pytest.mark.parametrize(("options", "kinds"), [
    ({}, {"poll", "metrics", "register"}),
    ({"disable_metrics": True}, {"poll", "register"}),
    ({"disable_registration": True}, {"poll", "metrics"}),
    ({"disable_metrics": True, "disable_registration": True}, {"poll"}),
])
@responses.activate
def test_jobs_follow_the_configuration(options: dict[str, Any], kinds: set[str]) -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    scheduler = StubScheduler()
    sync, _ = make(scheduler=scheduler, **options)
    sync.start()
    assert {job.id.rsplit("-", 1)[1] for job in scheduler.jobs.values()} == kinds


@responses.activate
def test_jitter_is_passed_to_the_triggers() -> None:
    responses.get(FEATURES, status=503)
    scheduler = StubScheduler()
    sync, _ = make(scheduler=scheduler, refresh_jitter=1.5, metrics_jitter=2.5)
    sync.start()
    assert scheduler.job("poll").trigger.jitter == 1.5
    assert scheduler.job("metrics").trigger.jitter == 2.5
    sync.poll()
    assert scheduler.job("poll").trigger.jitter == 1.5  # kept when rescheduled


@responses.activate
def test_no_reschedule_when_the_delay_did_not_change() -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    scheduler = StubScheduler()
    sync, _ = make(scheduler=scheduler)
    sync.start()
    for _ in range(3):
        sync.poll()
    assert scheduler.job("poll").reschedules == []


@responses.activate
def test_stop_removes_jobs_flushes_and_leaves_a_user_scheduler_running() -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    responses.post(REGISTER, status=202)
    responses.post(METRICS, status=202)
    scheduler = StubScheduler()
    sync, _ = make(scheduler=scheduler)
    sync.start()
    counters = sync.metrics.counters("a")
    assert counters is not None
    next(counters.yes)
    sync.stop(flush_budget=2)
    # the periodic jobs are gone (the one-shot registration job is the scheduler's to drop)
    assert not [job for job in scheduler.jobs.values() if job.trigger is not None]
    assert scheduler.state == STATE_RUNNING  # not ours to stop
    bodies = [json.loads(c.request.body) for c in responses.calls if c.request.url == METRICS]
    assert [b["bucket"]["toggles"] for b in bodies] == [{"a": {"yes": 1, "no": 0,
                                                              "variants": {}}}]


def own_runner_sync(**config: Any) -> Synchronizer:
    options: dict[str, Any] = {"refresh_interval": 60, "metrics_interval": 60,
                               "disable_registration": True, **config}
    return Synchronizer(ClientConfig(url=URL, app_name="own", **options),
                        FlagLoader(DictCache(), Installs()), MetricsRegistry(), [])


def test_stop_ends_the_thread_of_our_own_runner() -> None:
    sync = own_runner_sync(disable_metrics=True)
    sync.active = True
    sync.resume(first_poll_in=60)
    runner = sync.runner
    assert isinstance(runner, ThreadRunner) and runner.thread is not None
    assert runner.running and runner.thread.is_alive()
    sync.stop(flush_budget=None)
    runner.thread.join(2)
    assert not runner.running and not runner.thread.is_alive()


def test_a_job_that_raises_never_ends_the_runner_thread() -> None:
    runner = ThreadRunner("unleash-lite-test")
    ran: list[str] = []

    def broken() -> None:
        ran.append("broken")
        raise RuntimeError("a bug")

    try:
        runner.start([Job("broken", broken, 0.01), Job("fine", lambda: ran.append("fine"), 0.01)])
        deadline = time.monotonic() + 5
        while ran.count("fine") < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ran.count("broken") >= 4 and ran.count("fine") >= 5
        assert runner.running
    finally:
        runner.stop(timeout=2)
    assert runner.thread is not None and not runner.thread.is_alive()


def test_jobs_on_a_user_scheduler_use_its_default_executor() -> None:
    scheduler = BackgroundScheduler()
    try:
        sync = Synchronizer(ClientConfig(url=URL, app_name="user", refresh_interval=60,
                                         metrics_interval=60, disable_registration=True),
                            FlagLoader(DictCache(), Installs()), MetricsRegistry(), [],
                            scheduler=scheduler)
        sync.active = True
        sync.resume(first_poll_in=60)
        jobs = scheduler.get_jobs()
        assert len(jobs) == 2
        assert {job.executor for job in jobs} == {"default"}
        sync.stop(flush_budget=None)
        assert scheduler.get_jobs() == []
        assert scheduler.running
    finally:
        scheduler.shutdown(wait=False)


# -- after fork (in-process) ------------------------------------------------------------------


def test_after_fork_gives_a_new_connection_and_runner_and_starts_nothing_until_resumed() -> None:
    sync = own_runner_sync()
    sync.active = True
    sync.resume(first_poll_in=60)
    old_runner, old_session = sync.runner, sync.api.transport.session
    old_connection = sync.api.connection_id
    try:
        sync.after_fork()
        assert sync.api.connection_id != old_connection
        assert sync.api.transport.session is not old_session
        assert sync.runner is not old_runner
        assert not sync.runner.running  # nothing starts during the fork
        sync.resume()
        assert sync.runner.running
        assert isinstance(sync.runner, ThreadRunner)
        assert {name for name in ("poll", "metrics") if sync.runner.interval(name)} == {
            "poll", "metrics"}
    finally:
        sync.stop(flush_budget=None)
        sync.runner.stop(timeout=5)  # its first poll must not log into a later test
        old_runner.stop(timeout=2)


def test_after_fork_before_start_starts_nothing() -> None:
    sync, _ = make()
    sync.after_fork()
    sync.resume()
    assert not sync.runner.running


@responses.activate
def test_after_fork_with_a_user_scheduler_warns(caplog: pytest.LogCaptureFixture) -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    scheduler = StubScheduler()
    sync, _ = make(scheduler=scheduler)
    sync.start()
    sync.after_fork()
    assert isinstance(sync.runner, ApschedulerRunner) and sync.runner.scheduler is scheduler
    (warning,) = messages(caplog.records, logging.WARNING)
    assert "custom scheduler" in warning


# -- the real thing, end to end -----------------------------------------------------------------


def test_a_real_scheduler_keeps_polling(tmp_path: Any) -> None:
    with FakeUnleashServer(payload=FIRST) as server:
        client = UnleashClient(server.url, "live", refresh_interval=0.05, metrics_interval=60,
                               custom_headers={"Authorization": TOKEN},
                               cache_directory=str(tmp_path), request_timeout=2)
        try:
            client.initialize_client()
            assert client.is_enabled("a") and not client.is_enabled("c")
            server.payload = payload(feature("c"))
            wait_for(lambda: client.is_enabled("c"), message="the new payload")
            assert not client.is_enabled("a")
            gets = server.feature_gets()
            wait_for(lambda: len(server.feature_gets()) > len(gets) + 2)
            statuses = [g.header("If-None-Match") for g in server.feature_gets()[1:]]
            assert all(statuses)  # every later poll is conditional
            assert server.recorded("/client/register", "POST")
        finally:
            client.destroy()


# -- regressions from the reliability suite (tests/reliability) ---------------------------------


@responses.activate
def test_json_nested_deeper_than_the_parser_is_a_bad_payload_not_an_exception(
        caplog: pytest.LogCaptureFixture) -> None:
    """json.loads raises RecursionError (not ValueError) for such a body; it used to escape
    poll(), so APScheduler logged a traceback on every poll and the backoff never heard."""
    responses.get(FEATURES, body="[" * 100_000)
    sync, recorder = make()
    for _ in range(3):
        sync.poll()
    assert recorder.applied == []
    (warning,) = messages(caplog.records, logging.WARNING)
    assert "nested too deeply" in warning
    assert sync.features_backoff.state == "invalid"


@responses.activate
def test_an_unexpected_error_while_installing_leaves_the_poller_running(
        caplog: pytest.LogCaptureFixture) -> None:
    responses.get(FEATURES, body=body_of(FIRST))
    sync, recorder = make()

    recorder.failure = TypeError("a bug in the engine")
    sync.poll()  # no exception
    sync.poll()
    (warning,) = messages(caplog.records, logging.WARNING)
    assert "unusable flags payload (TypeError)" in warning
    recorder.failure = None
    sync.poll()
    assert recorder.applied == [names(FIRST)]


@responses.activate
def test_a_payload_over_the_limit_backs_off_and_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    responses.get(FEATURES, body=body_of(payload(*(feature(f"f{n}") for n in range(50)))))
    sync, recorder = make(max_payload_bytes=1000)
    assert isinstance(sync.runner, ApschedulerRunner)
    scheduler = sync.runner.scheduler
    sync.start()
    assert isinstance(scheduler, StubScheduler)
    delays = []
    for _ in range(3):
        sync.poll()
        delays.append(scheduler.interval("poll"))
    assert recorder.applied == []
    assert delays == [30, 40, 50]  # one step per refusal: each try costs a full answer
    (warning,) = messages(caplog.records, logging.WARNING)
    assert "refused the flags payload" in warning and "max_payload_bytes=1000" in warning
    responses.replace(responses.GET, FEATURES, body=body_of(FIRST))
    sync.poll()
    assert recorder.applied == [names(FIRST)]
    assert scheduler.interval("poll") == 10
