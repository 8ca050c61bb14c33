"""``EventStreamParser``: the WHATWG event-stream rules, in chunks of any size, within a limit."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzz import FUZZ
from unleash_lite.sync.sse import BOM, Event, EventStreamParser, EventTooLarge


def parse(*chunks: bytes, limit: int = 1 << 20) -> list[Event]:
    parser = EventStreamParser(limit)
    return [event for chunk in chunks for event in parser.feed(chunk)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_named_event_with_id_and_data() -> None:
    assert parse(b"event: unleash-connected\nid: 7\ndata: {}\n\n") == [
        Event("unleash-connected", "{}", "7")
    ]


def test_unnamed_event_is_a_message_and_data_lines_join_with_newlines() -> None:
    assert parse(b"data: one\ndata:two\ndata\n\n") == [Event("message", "one\ntwo\n")]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(end: bytes) -> None:
    text = end.join([b"event: e", b"data: x", b"", b"data: y", b"", b""])
    assert parse(text) == [Event("e", "x"), Event("message", "y")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # "\r" ends a chunk; the "\n" opening the next must not end an empty line (dispatch).
    assert parse(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [Event("message", "a\nb")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    assert parse(b": heartbeat\n\nfoo: bar\ndata: x\n:comment\n\n") == [Event("message", "x")]


def test_only_one_leading_space_is_dropped_from_a_value() -> None:
    assert parse(b"data:  two spaces\n\n") == [Event("message", " two spaces")]


def test_a_leading_bom_is_dropped_even_split_but_only_at_the_start() -> None:
    assert parse(BOM[:1], BOM[1:] + b"data: x\n\n") == [Event("message", "x")]
    # A BOM later is part of the field name: an unknown field.
    assert parse(b"data: x\n\n" + BOM + b"data: y\n\n") == [Event("message", "x")]


def test_id_persists_and_an_id_with_nul_is_ignored() -> None:
    events = parse(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x00\ndata: c\n\nid\ndata: d\n\n")
    assert [event.id for event in events] == ["1", "1", "1", ""]


def test_an_event_without_data_is_not_dispatched_but_its_id_counts() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"event: nothing\nid: 5\n\n") == []
    assert parser.last_event_id == "5"
    assert parser.feed(b"data: x\n\n") == [Event("message", "x", "5")]


def test_retry_takes_digits_only() -> None:
    parser = EventStreamParser()
    parser.feed(b"retry: 1500\n\nretry: soon\n\nretry: 1.5\n\n")
    assert parser.retry_ms == 1500


def test_an_unfinished_event_is_held_until_its_empty_line() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: par") == []
    assert parser.feed(b"tial\n") == []
    assert parser.feed(b"\n") == [Event("message", "partial")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse(b"data: \xff\xfe ok\n\n") == [Event("message", "\ufffd\ufffd ok")]


def test_a_line_past_the_limit_raises_without_growing_past_it() -> None:
    parser = EventStreamParser(max_event_bytes=1000)
    parser.feed(b"data: " + b"x" * 900)
    with pytest.raises(EventTooLarge):
        parser.feed(b"x" * 200)
    assert len(parser._partial) <= 1000


def test_many_data_lines_past_the_limit_raise() -> None:
    parser = EventStreamParser(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        for _ in range(100):
            parser.feed(b"data: " + b"y" * 50 + b"\n")


def test_an_event_at_the_limit_passes() -> None:
    data = b"z" * 990
    assert parse(b"data:" + data + b"\n\n", limit=1000) == [Event("message", data.decode())]


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["", "unleash-connected", "unleash-updated", "fetch-mode"]),
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
            max_size=30,
        ),
        st.lists(
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                max_size=20,
            ),
            min_size=1,
            max_size=3,
        ),
    ),
    max_size=8,
)


@FUZZ
@given(EVENTS, st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(0, 2000)))
def test_any_chunking_gives_the_events_written(
    events: list[tuple[str, str, list[str]]], end: str, cuts: list[int]
) -> None:
    text = ""
    expected = []
    last_id = ""
    for name, event_id, lines in events:
        if name:
            text += f"event: {name}{end}"
        text += f"id: {event_id}{end}"
        text += "".join(f"data: {line}{end}" for line in lines)
        text += end
        last_id = event_id
        expected.append(Event(name or "message", "\n".join(lines), last_id))
    data = text.encode("utf-8")
    assert parse(*split(data, cuts)) == expected


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000)))
def test_garbage_never_raises_anything_but_too_large_and_stays_bounded(
    data: bytes, cuts: list[int]
) -> None:
    parser = EventStreamParser(max_event_bytes=256)
    try:
        for chunk in split(data, cuts):
            parser.feed(chunk)
    except EventTooLarge:
        return
    assert len(parser._partial) + parser._data_size <= 256
