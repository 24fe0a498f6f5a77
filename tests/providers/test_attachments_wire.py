"""Attachments on the wire, against the loopback server in its vision and non-vision modes."""

from __future__ import annotations

import asyncio
import base64
from contextlib import aclosing

import pytest

from tests import images
from tests.fake_openai import FakeOpenAI, Reply, openai_no_images
from tui_chat.models import (
    Attachment,
    Delta,
    ImagesNotSupported,
    Message,
    ProviderError,
    RequestParams,
    ServerError,
)
from tui_chat.providers.openai_compat import OpenAICompatible

PNG = Attachment("shots/screen.png", "image/png", images.png(3, 2), 3, 2)
CODE = Attachment("src/app.py", "text/plain", b"print('```')\n")


async def answer(fake: FakeOpenAI, messages: list[Message], model: str = "fake-model") -> str:
    provider = OpenAICompatible(fake.url, "sk-test", connect_timeout=2.0, stall_timeout=5.0)
    try:
        async with asyncio.timeout(10):
            async with aclosing(provider.stream(messages, RequestParams(model))) as stream:
                return "".join([e.text async for e in stream if isinstance(e, Delta)])
    finally:
        await provider.aclose()


async def test_text_only_messages_stay_plain_strings() -> None:
    async with FakeOpenAI(vision=False) as fake:
        await answer(fake, [Message("user", "what does it print?", (CODE,))])
    (sent,) = fake.chat_requests[0].messages
    assert sent["content"] == "````src/app.py\nprint('```')\n````\n\nwhat does it print?"


async def test_an_image_goes_as_a_data_url_part_the_vision_server_accepts() -> None:
    async with FakeOpenAI(vision=True) as fake:
        text = await answer(fake, [Message("user", "what is this?", (CODE, PNG))])
    request = fake.chat_requests[0]
    parts = request.messages[0]["content"]
    assert [part["type"] for part in parts] == ["text", "image_url"]
    assert parts[0]["text"].endswith("what is this?") and "```src/app.py" in parts[0]["text"]
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == PNG.data
    described = [image.describe() for image in request.images]
    assert described == [f"image/png {len(PNG.data)} bytes 3x2"]
    assert text == f"I see 1 image(s): image/png {len(PNG.data)} bytes 3x2."


async def test_an_image_alone_is_sent_without_an_empty_text_part() -> None:
    async with FakeOpenAI(vision=True) as fake:
        await answer(fake, [Message("user", "", (PNG,))])
    assert [p["type"] for p in fake.chat_requests[0].messages[0]["content"]] == ["image_url"]


async def test_the_vision_fake_refuses_a_wrong_mime() -> None:
    wrong = Attachment("x.png", "image/jpeg", images.png())  # claims JPEG, holds a PNG
    async with FakeOpenAI(vision=True) as fake:
        with pytest.raises(ProviderError, match="not a image/jpeg image"):
            await answer(fake, [Message("user", "hi", (wrong,))])


@pytest.mark.parametrize("refusal", [None, openai_no_images()], ids=["llama.cpp", "openai"])
async def test_a_model_without_vision_gives_one_clear_line_and_is_not_retried(
        refusal: Reply | None) -> None:
    async with FakeOpenAI(vision=False, no_vision=refusal) as fake:
        with pytest.raises(ImagesNotSupported) as raised:
            await answer(fake, [Message("user", "what is this?", (PNG,))])
    message = str(raised.value)
    assert "fake-model" in message and "takes no images" in message and "\n" not in message
    assert not raised.value.retryable  # llama.cpp says it with a 500: still not a server fault


async def test_a_500_about_something_else_stays_a_server_error() -> None:
    async with FakeOpenAI(vision=True) as fake:
        fake.script(Reply.error(500))
        with pytest.raises(ServerError):
            await answer(fake, [Message("user", "what is this?", (PNG,))])


async def test_the_same_message_to_a_vision_model_then_works() -> None:
    async with FakeOpenAI(vision=["gpt-4o-mini"]) as fake:
        message = Message("user", "what is this?", (PNG,))
        with pytest.raises(ImagesNotSupported):
            await answer(fake, [message], model="fake-model")
        text = await answer(fake, [message], model="gpt-4o-mini")
    assert text.startswith("I see 1 image(s)")
