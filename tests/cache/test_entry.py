"""What a cache entry holds and its binary form: round trips, SSE replay, corrupt data."""

from __future__ import annotations

import pytest

from rin.cache import CachedAnswer, StreamRecorder
from rin.types import Usage
from tests.cache.support import answer, stream_answer


def test_a_json_answer_round_trips_byte_for_byte() -> None:
    entry = answer()
    entry.created_at = 1234.5
    back = CachedAnswer.decode(entry.encode())
    assert back == entry
    assert back.body == entry.body


def test_a_stream_answer_round_trips_with_its_usage_chunk() -> None:
    entry = stream_answer()
    back = CachedAnswer.decode(entry.encode())
    assert back == entry
    assert back.chunks == entry.chunks and back.usage_chunk == entry.usage_chunk


def test_an_answer_without_usage_or_usage_chunk_round_trips() -> None:
    entry = CachedAnswer.from_stream([b"{}", b'{"a":"\\n\\u0000"}'], None, None, "openai/x", "x")
    assert CachedAnswer.decode(entry.encode()) == entry
    empty = CachedAnswer.from_json(b"", None, "openai/x", "x")
    assert CachedAnswer.decode(empty.encode()) == empty


def test_sse_replay_sends_the_usage_chunk_only_when_asked() -> None:
    entry = stream_answer()
    plain = entry.sse(include_usage=False)
    with_usage = entry.sse(include_usage=True)
    assert plain == b"".join(b"data: " + c + b"\n\n" for c in entry.chunks) + b"data: [DONE]\n\n"
    assert entry.usage_chunk is not None
    assert with_usage == plain[:-len(b"data: [DONE]\n\n")] + b"data: " + entry.usage_chunk + b"\n\ndata: [DONE]\n\n"


@pytest.mark.parametrize("data", [
    b"",
    b"RIN0" + b"\x00" * 10,
    b'{"k":"json"}',
    answer().encode()[:-3],  # truncated
    answer().encode() + b"extra",
    b"RIN1\x00\x00\x00\x05{bad}",
    b"RIN1\x00\x00\x00\x02{}",
])
def test_anything_but_a_whole_entry_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        CachedAnswer.decode(data)


def test_the_recorder_keeps_payloads_in_order() -> None:
    rec = StreamRecorder(limit=1000)
    rec.add([b"a", b"b"])
    rec.add([])
    rec.add([b"c"])
    got = rec.answer(b"u", Usage(1, 1, 2), "openai/x", "x")
    assert got is not None
    assert (got.kind, got.chunks, got.usage_chunk, got.model_group) == ("stream", [b"a", b"b", b"c"], b"u", "x")


def test_the_recorder_gives_up_past_its_limit_and_frees_what_it_held() -> None:
    rec = StreamRecorder(limit=10)
    rec.add([b"12345"])
    rec.add([b"123456"])
    assert rec.overflowed and rec.chunks == []
    rec.add([b"x"])
    assert rec.answer(None, None, "openai/x", "x") is None


def test_a_stream_that_relayed_nothing_is_not_an_answer() -> None:
    assert StreamRecorder(limit=10).answer(None, None, "openai/x", "x") is None


def test_a_media_answers_billed_quantities_round_trip_and_chat_entries_stay_short() -> None:
    media = Usage(seconds=12.5, characters=0, images=2, search_units=0, image_variant="hd/1024x1792")
    entry = CachedAnswer.from_json(b"{}", media, "openai/dall-e-3", "images")
    assert CachedAnswer.decode(entry.encode()).usage == media
    chat = CachedAnswer.from_json(b"{}", Usage(1, 2, 3, 0, 0, 0), "openai/x", "x")
    assert b'"u":[1,2,3,0,0,0]' in chat.encode()  # entries written before the media fields read the same
    assert CachedAnswer.decode(chat.encode()).usage == Usage(1, 2, 3)
