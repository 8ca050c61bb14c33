"""Scenario 7: polling with ``If-None-Match``. Unchanged flags cost a 304 and no parsing;
a change gets a 200 with a new ETag, which the next polls send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unleash_lite import UnleashClient
from unleash_lite.sync.outcome import Outcome, Result
from unleash_lite.sync.steps import Steps

from .admin import AdminApi
from .conftest import ClientFactory
from .polling import wait_for
from .server import UnleashServer

REFRESH_INTERVAL = 0.2
UNCHANGED_POLLS = 5


@dataclass(frozen=True)
class Fetch:
    sent_etag: str | None  # the If-None-Match the client sent
    outcome: Outcome


def record_fetches(client: UnleashClient) -> list[Fetch]:
    """Wrap the client's feature fetch (internal API) and log every call."""
    assert client._sync is not None
    api = client._sync.calls  # the protocol's fetch, as steps
    fetch = api.fetch_features
    fetches: list[Fetch] = []

    def recording(etag: str | None, retries: int | None = None) -> Steps[Outcome]:
        outcome = yield from fetch(etag, retries)
        fetches.append(Fetch(etag, outcome))
        return outcome

    api.fetch_features = recording  # type: ignore[method-assign]
    return fetches


def wait_for_fetches(fetches: list[Fetch], start: int, count: int, timeout: float) -> list[Fetch]:
    batch, _ = wait_for(
        lambda: fetches[start:] if len(fetches) - start >= count else None,
        timeout=timeout,
        what=f"{count} polls",
    )
    return batch


def wait_for_a_304(fetches: list[Fetch], start: int, timeout: float) -> int:
    """The index of the first 304 from ``start`` on: the ETag has settled.

    (The server's ETag carries its configuration revision, re-read every 0.1 s with fast
    jobs, every 1 s stock: right after a change one more 200 may come with the same flags.)
    """
    found, _ = wait_for(
        lambda: next(
            (i + 1 for i in range(start, len(fetches)) if fetches[i].outcome.status == 304), None
        ),
        timeout=timeout,
        what="a 304",
    )
    return found - 1  # +1/-1: index 0 is falsy for wait_for


def test_unchanged_flags_get_304_and_a_change_gets_a_new_etag(
    unleash_server: UnleashServer,
    admin: AdminApi,
    make_client: ClientFactory,
    flag_name: str,
    record_property: Callable[[str, object], None],
) -> None:
    admin.create_flag(flag_name)
    admin.add_strategy(flag_name, "default")
    admin.enable(flag_name)
    client = make_client(refresh_interval=REFRESH_INTERVAL, disable_metrics=True)
    fetches = record_fetches(client)
    client.initialize_client()
    assert client._sync is not None
    timeout = 10 * REFRESH_INTERVAL + 5.0

    wait_for(lambda: client.is_enabled(flag_name), timeout=timeout, what="flag served")
    assert fetches[0].sent_etag is None  # a fresh cache: nothing to send
    assert fetches[0].outcome.result is Result.OK
    settled = wait_for_a_304(fetches, 0, timeout)
    etag = client._sync.loader.etag
    assert etag and fetches[settled].sent_etag == etag

    # Nothing changes: every poll sends the ETag and gets an empty 304.
    unchanged = wait_for_fetches(fetches, settled + 1, UNCHANGED_POLLS, timeout)
    assert [(f.sent_etag, f.outcome.status) for f in unchanged] == [(etag, 304)] * len(unchanged)
    assert all(f.outcome.result is Result.NOT_MODIFIED for f in unchanged)
    assert client._sync.loader.etag == etag
    record_property("304 polls", len(unchanged))

    # A change: the same If-None-Match now gets a 200 with a new ETag.
    before_change = len(fetches)
    admin.disable(flag_name)

    def changed() -> int | None:
        return next(
            (i for i in range(before_change, len(fetches)) if fetches[i].outcome.status == 200),
            None,
        )

    # wait_for wants a truthy value; index 0 cannot happen here (before_change > 0).
    change_at, elapsed = wait_for(changed, timeout=timeout, what="a 200 after the change")
    change = fetches[change_at]
    record_property("change -> 200", round(elapsed, 3))
    assert all(f.outcome.status == 304 for f in fetches[before_change:change_at])
    assert change.sent_etag == etag
    assert change.outcome.result is Result.OK
    assert change.outcome.etag and change.outcome.etag != etag
    wait_for(lambda: not client.is_enabled(flag_name), timeout=timeout, what="flag off")

    # And once settled, the polls send the new ETag and get 304s again.
    settled = wait_for_a_304(fetches, change_at + 1, timeout)
    new_etag = client._sync.loader.etag
    assert new_etag and new_etag != etag and fetches[settled].sent_etag == new_etag
    assert client.cache is not None and client.cache.get("etag") == new_etag
    after = wait_for_fetches(fetches, settled + 1, 3, timeout)
    assert [(f.sent_etag, f.outcome.status) for f in after] == [(new_etag, 304)] * len(after)
