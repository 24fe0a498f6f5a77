"""RelayProvider against scripted relays on 127.0.0.1 and against the real relay app."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from tests.fake_openai import FakeOpenAI, Reply
from tests.relay.serving import serving
from tui_chat.config import load_settings
from tui_chat.models import (
    AuthFailed,
    BadRequest,
    BadResponse,
    ContextTooLong,
    Delta,
    Finished,
    Message,
    ModelNotFound,
    ProviderError,
    RateLimited,
    ReasoningDelta,
    RequestParams,
    ServerError,
    StreamBroken,
    StreamEvent,
    StreamStalled,
    Unreachable,
    Usage,
)
from tui_chat.providers import make_provider, make_relay_provider
from tui_chat.providers.relay import RelayProvider
from tui_chat.relay.server import make_relay_app

Script = Sequence[bytes | float]
"""What a scripted relay writes: bytes are written as they are, a float is a pause."""


class ScriptedRelay:
    """A relay stand-in that answers every stream request with the same bytes or status."""

    def __init__(self, script: Script = (), *, status: int = 200, json_body: Any = None,
                 hang: bool = False) -> None:
        self.script, self.status, self.json_body, self.hang = script, status, json_body, hang
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self.finished = asyncio.Event()
        """Set when the test is over: wakes handlers that pause or hang, so cleanup is quick."""

    async def pause(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.finished.wait(), seconds)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        self.headers.append(dict(request.headers))
        if self.hang:
            await self.pause(None)
        if self.status != 200:
            return web.json_response(self.json_body, status=self.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for step in self.script:
            if isinstance(step, float):
                await self.pause(step)
            else:
                await response.write(step)
        await response.write_eof()
        return response



@asynccontextmanager
async def scripted(relay: ScriptedRelay) -> AsyncIterator[ScriptedRelay]:
    app = web.Application()
    app.router.add_post("/api/chat/stream", relay.handle)
    async with serving(app) as url:
        relay.url = url
        try:
            yield relay
        finally:
            relay.finished.set()


@asynccontextmanager
async def real_relay(fake: FakeOpenAI) -> AsyncIterator[str]:
    settings = load_settings(None, {"OPENAI_API_KEY": "sk-test-provider"}, base_url=fake.url,
                             model="m", retries=0)
    async with serving(make_relay_app(settings, make_provider(settings))) as url:
        yield url


MESSAGES = [Message("system", "Be brief."), Message("user", "first"),
            Message("assistant", "answer"), Message("user", "second")]


async def collect(provider: RelayProvider, messages: Sequence[Message] = MESSAGES,
                  into: list[StreamEvent] | None = None) -> list[StreamEvent]:
    events = [] if into is None else into
    try:
        async with asyncio.timeout(10), aclosing(provider.stream(messages,
                                                                 RequestParams("m"))) as stream:
            async for event in stream:
                events.append(event)
    finally:
        await provider.aclose()
    return events


def done(prompt: int = 4, completion: int = 2) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion}
    return f"data: {json.dumps({'done': True, 'usage': usage})}\n\n".encode()


async def test_posts_the_last_message_and_the_history_with_the_token() -> None:
    async with scripted(ScriptedRelay([b'data: {"content": "ok"}\n\n', done()])) as relay:
        events = await collect(RelayProvider(relay.url + "/", token="tok-1"))
    assert events == [Delta("ok"), Usage(4, 2), Finished("stop")]
    assert relay.bodies == [{"message": "second", "conversationHistory": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"}]}]
    assert relay.headers[0]["Authorization"] == "Bearer tok-1"


async def test_credentials_in_the_url_go_as_basic_auth_unless_a_token_takes_the_header(
        ) -> None:
    """A `user:password@` in the relay's URL (basic auth at a proxy in front of it) is sent
    as a header: aiohttp refused the URL with a bare ValueError on every request."""
    wire = [b'data: {"content": "ok"}\n\n', done()]
    sent = []
    for token in (None, "tok-1"):
        async with scripted(ScriptedRelay(wire)) as relay:
            url = relay.url.replace("http://", "http://bob:pa%24s@")
            events = await collect(RelayProvider(url, token=token))
            sent.append(relay.headers[0]["Authorization"])
        assert events == [Delta("ok"), Usage(4, 2), Finished("stop")]
    assert sent == ["Basic " + base64.b64encode(b"bob:pa$s").decode(), "Bearer tok-1"]


async def test_a_password_in_the_relays_url_is_never_shown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unreachable) as caught:
        await collect(RelayProvider(f"http://bob:s3cret-pw@127.0.0.1:{port}"))
    assert str(caught.value).startswith(f"cannot reach the relay at http://127.0.0.1:{port}")
    assert "s3cret" not in str(caught.value)


async def test_utf8_split_anywhere_comments_and_crlf() -> None:
    wire = ': hello\r\n\r\ndata: {"content": "日本語"}\r\n\r\n: heartbeat\n\n' \
           'event: message\nid: 7\ndata: {"content": "🙂 ok"}\n\n'.encode() + done(9, 3)
    # One byte per write splits every multi-byte character and every line.
    script: list[bytes | float] = []
    for index in range(len(wire)):
        script += [wire[index:index + 1], 0.0005] if index % 7 == 0 else [wire[index:index + 1]]
    async with scripted(ScriptedRelay(script)) as relay:
        events = await collect(RelayProvider(relay.url))
    assert events == [Delta("日本語"), Delta("🙂 ok"), Usage(9, 3), Finished("stop")]


async def test_comment_lines_keep_a_slow_answer_alive_and_silence_stalls() -> None:
    beats: list[bytes | float] = [b": heartbeat\n\n", 0.1] * 6
    alive = ScriptedRelay([b'data: {"content": "a"}\n\n', *beats,
                           b'data: {"content": "b"}\n\n', done()])
    silent = ScriptedRelay([b'data: {"content": "a"}\n\n', 5.0, done()])
    async with scripted(alive), scripted(silent):
        kept = await collect(RelayProvider(alive.url, stall_timeout=0.3))
        events: list[StreamEvent] = []
        with pytest.raises(StreamStalled, match=r"no data from the relay for 0\.3 s"):
            await collect(RelayProvider(silent.url, stall_timeout=0.3), into=events)
    assert [e.text for e in kept if isinstance(e, Delta)] == ["a", "b"]
    assert events == [Delta("a")]


@pytest.mark.parametrize(("script", "error", "words"), [
    ([b'data: {"error": "401: API key rejected by api.test"}\n\n'], AuthFailed, "401"),
    ([b'data: {"error": "404: model \'x\' not found at api.test"}\n\n'], ModelNotFound, "404"),
    ([b'data: {"error": "429: rate limited by the server"}\n\n'], RateLimited, "429"),
    ([b'data: {"error": "400: the conversation is too long for x"}\n\n'], ContextTooLong,
     "too long"),
    ([b'data: {"error": "400: api.test refused the request"}\n\n'], BadRequest, "refused"),
    ([b'data: {"error": "503: server error at api.test"}\n\n'], ServerError, "503"),
    ([b'data: {"error": "cannot reach http://api.test/v1: refused"}\n\n'], ServerError,
     "cannot reach"),
    ([b'data: {"content": "par"}\n\n', b'data: {"error": "500: boom"}\n\n'], StreamBroken,
     "boom"),
    ([b'data: {"content": "par"}\n\n'], StreamBroken, "before the answer was done"),
    ([], StreamBroken, "before the answer was done"),
    ([b"data: {not json\n\n"], BadResponse, "malformed event"),
    ([b'data: ["a list"]\n\n'], BadResponse, "malformed event"),
    ([b'data: {"content": "\xff\xfe"}\n\n'], BadResponse, "not UTF-8"),
    ([b'data: {"error": "bad \\u001b[31mred\\nline"}\n\n'], ServerError, "bad"),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
async def test_error_events_and_broken_streams_map_to_provider_errors(script, error,
                                                                      words) -> None:
    async with scripted(ScriptedRelay(script)) as relay:
        with pytest.raises(error, match=words) as caught:
            await collect(RelayProvider(relay.url))
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message
    assert type(caught.value) is error  # not a subclass: the app words each kind its own way


@pytest.mark.parametrize(("status", "body", "error", "words"), [
    (400, {"success": False, "error": "'message' must not be empty."}, BadRequest,
     "400 from the relay: 'message' must not be empty."),
    (401, {"success": False, "error": "A valid bearer token is required."}, AuthFailed,
     "check the relay token"),
    (429, {"success": False, "error": "slow down"}, RateLimited, "slow down"),
    (500, None, ServerError, "500 from the relay"),
    (503, {"success": False}, ServerError, "503 from the relay"),
])
async def test_http_statuses_map_to_provider_errors(status, body, error, words) -> None:
    async with scripted(ScriptedRelay(status=status, json_body=body)) as relay:
        with pytest.raises(error) as caught:
            await collect(RelayProvider(relay.url))
    assert words in str(caught.value)


async def test_a_refused_connection_and_a_relay_that_never_answers_are_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    with pytest.raises(Unreachable, match=f"cannot reach the relay at http://127.0.0.1:{port}"):
        await collect(RelayProvider(f"http://127.0.0.1:{port}"))
    async with scripted(ScriptedRelay(hang=True)) as relay:
        with pytest.raises(Unreachable, match="no answer from the relay"):
            await collect(RelayProvider(relay.url, stall_timeout=0.3))


async def test_streams_through_the_real_relay_with_split_utf8(fake_openai) -> None:
    fake_openai.script(Reply(chunks=["Grüße ", "和 ", "🎉"], usage=(8, 3), split_utf8=True))
    async with real_relay(fake_openai) as url:
        events = await collect(RelayProvider(url))
    assert events == [Delta("Grüße "), Delta("和 "), Delta("🎉"), Usage(8, 3), Finished("stop")]
    assert [(m["role"], m["content"]) for m in fake_openai.chat_requests[0].messages] == [
        (m.role, m.content) for m in MESSAGES]


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_closing_or_cancelling_the_stream_closes_the_upstream_at_once(fake_openai,
                                                                            how) -> None:
    fake_openai.script(Reply(chunks=[f"w{i} " for i in range(400)], chunks_per_second=40))
    async with real_relay(fake_openai) as url:
        provider = RelayProvider(url)
        stream = provider.stream(MESSAGES, RequestParams("m"))
        async with asyncio.timeout(10):
            assert isinstance(await anext(stream), Delta)
            if how == "aclose":
                await stream.aclose()
            else:
                async def read_on() -> None:
                    async for _ in stream:
                        pass

                # A reader that keeps reading (a single anext() could finish on a buffered
                # chunk before the cancel lands, and then there is nothing to cancel).
                reader = asyncio.ensure_future(read_on())
                await asyncio.sleep(0.05)
                assert not reader.done()
                reader.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reader
        upstream = fake_openai.chat_requests[0]
        async with asyncio.timeout(5):
            await upstream.wait_disconnected()
        await provider.aclose()
    assert upstream.outcome == "disconnected" and len(upstream.chunks) < 400


async def test_a_cancel_that_lands_as_data_arrives_is_never_lost(fake_openai) -> None:
    # Python 3.11's asyncio.wait_for returns the result when a cancel lands in the same
    # moment as the data, and the cancelled stream reads on to the end. With wait_for around
    # readany, 36 of 60 cancels below were lost; a fast upstream keeps data always arriving.
    rounds = 30
    fake_openai.script(*[Reply(chunks=[f"w{i} " for i in range(3000)], chunks_per_second=3000)
                         for _ in range(rounds)])
    pick = random.Random(19)
    lost = 0
    async with real_relay(fake_openai) as url:
        provider = RelayProvider(url)
        for _ in range(rounds):
            stream = provider.stream(MESSAGES, RequestParams("m"))

            async def read_on(stream: AsyncIterator[StreamEvent] = stream) -> None:
                async for _ in stream:
                    pass

            reader = asyncio.ensure_future(read_on())
            await asyncio.sleep(0.02 + pick.random() * 0.01)
            for _ in range(pick.randrange(5)):
                await asyncio.sleep(0)
            reader.cancel()
            try:
                async with asyncio.timeout(10):
                    await reader
                lost += 1
            except asyncio.CancelledError:
                pass
        await provider.aclose()
    assert lost == 0, f"{lost} of {rounds} cancels were lost"


async def test_settings_give_the_timeouts() -> None:
    settings = load_settings(None, {}, stall_timeout=12.5, connect_timeout=3.0)
    provider = make_relay_provider("http://127.0.0.1:3000/", settings)
    assert isinstance(provider, RelayProvider)
    assert provider.base_url == "http://127.0.0.1:3000"
    assert (provider._stall_timeout, provider._connect_timeout) == (12.5, 3.0)
    await provider.aclose()
    assert issubclass(StreamStalled, ProviderError)


def test_the_relay_provider_never_imports_openai() -> None:
    import subprocess
    import sys

    code = ("import sys, tui_chat.providers.relay, tui_chat.relay.server; "
            "print('openai' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, check=True)
    assert json.loads(result.stdout.strip().lower()) is False


async def test_text_files_travel_in_the_text_and_an_image_is_refused_in_one_line() -> None:
    from tests import images
    from tui_chat.models import Attachment, ImagesNotSupported

    note = Attachment("notes.md", "text/plain", b"# N\n")
    async with scripted(ScriptedRelay([b'data: {"content": "ok"}\n\n', done()])) as relay:
        await collect(RelayProvider(relay.url), [Message("user", "read", (note,))])
        picture = Attachment("p.png", "image/png", images.png())
        with pytest.raises(ImagesNotSupported, match="the relay carries text only"):
            await collect(RelayProvider(relay.url), [Message("user", "see", (picture,))])
    assert relay.bodies == [{"message": "```notes.md\n# N\n```\n\nread",
                             "conversationHistory": []}]


def kinds(events: Sequence[StreamEvent]) -> list[tuple[str, str]]:
    """Events as (kind, text), consecutive pieces of one kind joined: how many reads the text
    came in is up to the network, the order is not."""
    out: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, ReasoningDelta):
            kind = "retract" if event.retracts_answer else "reasoning"
            if event.retracts_answer:
                out.append(("retract", ""))
                kind = "reasoning"
            text = event.text
        elif isinstance(event, Delta):
            kind, text = "answer", event.text
        else:
            out.append((type(event).__name__, ""))
            continue
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        elif text:
            out.append((kind, text))
    return out


@pytest.mark.parametrize("form", ["reasoning_content", "reasoning", "think"])
async def test_reasoning_comes_through_the_real_relay_before_the_answer(fake_openai,
                                                                         form) -> None:
    fake_openai.script(Reply(reasoning=["Die Frage ", "ist ", "leicht. "], reasoning_form=form,
                             chunks=["Hallo ", "Welt"], usage=(5, 9), chunks_per_second=200))
    async with real_relay(fake_openai) as url:
        events = await collect(RelayProvider(url))
    assert kinds(events) == [("reasoning", "Die Frage ist leicht. "),
                             ("answer", "Hallo Welt"), ("Usage", ""), ("Finished", "")]
    assert isinstance(events[0], ReasoningDelta)


async def test_content_that_turns_out_to_be_reasoning_is_retracted_through_the_relay(
        fake_openai) -> None:
    # No opening tag: the upstream provider passes the thinking on as answer until `</think>`.
    fake_openai.script(Reply(reasoning=["Erst ", "denken. "], reasoning_form="think_no_open",
                             chunks=["Dann ", "reden."], chunks_per_second=200))
    async with real_relay(fake_openai) as url:
        events = await collect(RelayProvider(url))
    assert kinds(events)[:4] == [("answer", "Erst denken. "), ("retract", ""),
                                 ("answer", "Dann reden."), ("Usage", "")]


async def test_reasoning_and_content_in_one_relay_event_keep_their_order() -> None:
    script = [b'data: {"reasoning": "hmm "}\n\n',
              b'data: {"reasoning": "ok.", "content": "Yes"}\n\n',
              b'data: {"content": "!"}\n\n', done()]
    async with scripted(ScriptedRelay(script)) as relay:
        events = await collect(RelayProvider(relay.url))
    assert events[:4] == [ReasoningDelta("hmm "), ReasoningDelta("ok."), Delta("Yes"),
                          Delta("!")]
