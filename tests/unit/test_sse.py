"""EventReader: any split of a valid event stream gives the same events as the whole."""

from __future__ import annotations

import random

import pytest

from tui_chat.providers.sse import EventReader

STREAM = (
    b": keep-alive\n\n"
    b"data: {\"a\": 1}\n\n"
    b"data:{\"b\": \"\xe4\xbd\xa0\xe5\xa5\xbd\"}\n\n"
    b"event: error\ndata: {\"message\": \"boom\"}\n\n"
    b"id: 7\nretry: 100\ndata: first line\ndata:  second line\n\n"
    b": comment only\n\n"
    b"data: [DONE]\n\n"
)
EVENTS = [
    ("message", b"{\"a\": 1}"),
    ("message", b"{\"b\": \"\xe4\xbd\xa0\xe5\xa5\xbd\"}"),
    ("error", b"{\"message\": \"boom\"}"),
    ("message", b"first line\n second line"),
    ("message", b"[DONE]"),
]


def read_in_pieces(data: bytes, cuts: list[int]) -> list[tuple[str, bytes]]:
    reader = EventReader()
    events = []
    start = 0
    for cut in [*cuts, len(data)]:
        events.extend(reader.feed(data[start:cut]))
        start = cut
    return events + reader.close()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_any_split_of_the_stream_gives_the_same_events(ending: bytes) -> None:
    data = STREAM.replace(b"\n", ending)
    assert read_in_pieces(data, []) == EVENTS
    rng = random.Random(ending)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        assert read_in_pieces(data, cuts) == EVENTS, cuts
    # One byte at a time: every CR/LF pair is split somewhere.
    assert read_in_pieces(data, list(range(1, len(data)))) == EVENTS


def test_a_last_event_without_its_blank_line_is_kept_when_the_stream_ends() -> None:
    reader = EventReader()
    assert reader.feed(b"data: one\n\ndata: two") == [("message", b"one")]
    assert reader.close() == [("message", b"two")]
    assert reader.close() == []


def test_many_events_in_one_read_come_back_together_in_order() -> None:
    reader = EventReader()
    data = b"".join(b"data: %d\n\n" % i for i in range(500))
    assert reader.feed(data) == [("message", b"%d" % i) for i in range(500)]


async def test_the_decoder_hands_over_a_list_per_read_of_the_events_it_completes() -> None:
    from tui_chat.providers.sse import BatchDecoder

    async def reads():
        yield b"data: 1\n\ndata: 2\n\ndata: 3"  # two whole events and the start of a third
        yield b"\n\n"
        yield b": keep-alive\n\n"  # completes nothing
        yield b"data: 4\n\ndata: 5"  # the last one never gets its blank line

    batches = [batch async for batch in BatchDecoder().aiter_bytes(reads())]
    assert batches == [[("message", b"1"), ("message", b"2")], [("message", b"3")],
                       [("message", b"4")], [("message", b"5")]]
