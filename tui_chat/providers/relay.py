"""RelayProvider: streams from a `tui-chat serve`-style relay (`POST /api/chat/stream`, SSE).

The relay's `reasoning` events become `ReasoningDelta`s, its `content` events `Delta`s; a relay
that sends no reasoning (an older one, or another backend of the same protocol) is read as
before."""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from tui_chat.attachments import has_images, message_text
from tui_chat.models import (
    AuthFailed,
    BadRequest,
    BadResponse,
    ContextTooLong,
    Delta,
    Finished,
    ImagesNotSupported,
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
from tui_chat.sanitize import sanitize_line
from tui_chat.urls import shown_url, split_credentials


class RelayProvider:
    """Sends the last user message and the history before it; parses the relay's events."""

    def __init__(self, base_url: str, *, token: str | None = None,
                 connect_timeout: float = 10.0, stall_timeout: float = 60.0,
                 max_connections: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # A `user:password@` (basic auth at a proxy in front of the relay) is sent as a
        # header, unless the relay's own token takes that header; messages never show it.
        self._url, self._basic_auth = split_credentials(self.base_url)
        self._shown = shown_url(self.base_url)
        self._max_connections = max_connections
        """Most connections to the relay at once; None: aiohttp's limit (100)."""
        self._token = token
        self._connect_timeout = connect_timeout
        self._stall_timeout = stall_timeout
        self._session: Any = None
        self.reported_model: str | None = None
        """The model the relay last said it answers with (its health or `done` event)."""

    def _client(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout,
                                            sock_read=None)
            connector = (aiohttp.TCPConnector(limit=self._max_connections)
                         if self._max_connections is not None else None)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        return self._session

    async def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]:
        import aiohttp

        if has_images(messages):
            # The relay's protocol carries text only; say so rather than drop the picture.
            raise ImagesNotSupported("the relay carries text only: an image cannot be sent "
                                     "through it; remove the image, or connect to the "
                                     "endpoint directly")
        *history, last = list(messages) or [Message("user", "")]
        # Text files go as their fenced blocks, in the text.
        body = {"message": message_text(last),
                "conversationHistory": [{"role": m.role, "content": message_text(m)}
                                        for m in history]}
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        elif self._basic_auth:
            headers["Authorization"] = self._basic_auth
        url = f"{self._url}/api/chat/stream"
        got_text = False
        response: Any = None
        try:
            try:
                # A relay that accepts the connection but never answers must not hang the app.
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result
                # when a cancel lands as the result arrives, and the cancel is lost.
                async with asyncio.timeout(self._stall_timeout):
                    response = await self._client().post(url, json=body, headers=headers)
            except TimeoutError:
                raise Unreachable(f"no answer from the relay at {self._shown} within "
                                  f"{self._stall_timeout:g} s") from None
            if response.status != 200:
                raise await self._http_error(response)
            decoder = codecs.getincrementaldecoder("utf-8")()
            buffer = ""
            while True:
                try:
                    # Any bytes, heartbeat comments included, restart the stall timer.
                    async with asyncio.timeout(self._stall_timeout):
                        raw = await response.content.readany()
                except TimeoutError:
                    error_type = StreamStalled if got_text else Unreachable
                    raise error_type(f"stalled: no data from the relay for "
                                     f"{self._stall_timeout:g} s") from None
                if not raw:
                    break
                try:
                    buffer += decoder.decode(raw)
                except UnicodeDecodeError:
                    raise BadResponse("the relay sent text that is not UTF-8") from None
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    event = self._parse(line.rstrip("\r"))
                    if event is None:
                        continue
                    if "error" in event:
                        status = event.get("status")
                        raise _error_event(sanitize_line(str(event["error"])), got_text,
                                           status if isinstance(status, int) else None)
                    if "reasoning" in event:
                        # Reasoning first: an event carrying both has the thinking's end and
                        # the answer's start, in that order.
                        got_text = True
                        yield ReasoningDelta(str(event["reasoning"]),
                                             retracts_answer=event.get("retracts_content") is True)
                    if "content" in event:
                        got_text = True
                        yield Delta(str(event["content"]))
                    if event.get("done"):
                        if isinstance(model := event.get("model"), str) and model.strip():
                            self.reported_model = model
                        if (usage := _reported_usage(event.get("usage"))) is not None:
                            yield usage
                        yield Finished("stop")
                        return
            raise StreamBroken("the relay closed the stream before the answer was done")
        except aiohttp.ClientConnectorError as error:
            raise Unreachable(f"cannot reach the relay at {self._shown}: "
                              f"{sanitize_line(str(error.os_error or error))}") from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError) as error:
            if got_text:
                raise StreamBroken("the connection to the relay dropped mid-answer") from None
            raise Unreachable(f"no answer from the relay at {self._shown}: "
                              f"{sanitize_line(str(error))}") from None
        finally:
            if response is not None:
                # close(), not release(): an unfinished answer must drop the connection now,
                # which is what makes the relay cancel its upstream request.
                response.close()

    @staticmethod
    def _parse(line: str) -> dict[str, Any] | None:
        if not line.startswith("data:"):
            return None  # comments (": heartbeat"), blank lines, other fields
        try:
            event = json.loads(line[5:].strip())
        except json.JSONDecodeError:
            raise BadResponse("the relay sent a malformed event") from None
        if not isinstance(event, dict):
            raise BadResponse("the relay sent a malformed event")
        return event

    async def _http_error(self, response: Any) -> ProviderError:
        try:
            detail = sanitize_line(str((await response.json(content_type=None))
                                       .get("error", "")))[:200]
        except Exception:
            detail = ""
        status = response.status
        text = f"{status} from the relay" + (f": {detail}" if detail else "")
        if status in (401, 403):
            return AuthFailed(f"{text} (check the relay token)")
        if status == 429:
            return RateLimited(None, f"from the relay{': ' + detail if detail else ''}")
        if status >= 500:
            return ServerError(text, status=status)
        return BadRequest(text)

    async def list_models(self) -> list[str]:
        """The model the relay reports (its health answer), or none: the relay, not this
        client, chooses the model, so that is the only one to offer."""
        model = await self.health_model()
        return [model] if model else []

    async def health_model(self) -> str | None:
        """Ask `GET /api/health` which model the relay uses; None when it does not say."""
        import aiohttp

        headers = ({"Authorization": f"Bearer {self._token}"} if self._token else
                   {"Authorization": self._basic_auth} if self._basic_auth else {})
        try:
            async with asyncio.timeout(self._connect_timeout), self._client().get(
                    f"{self._url}/api/health", headers=headers) as response:
                if response.status != 200:
                    return None
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        model = body.get("model") if isinstance(body, dict) else None
        if isinstance(model, str) and model.strip():
            self.reported_model = model
        return self.reported_model

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _reported_usage(raw: Any) -> Usage | None:
    """The relay's usage object as ours, or None when it is unknown: missing, not numbers, all
    zero (some relays send zeros always), or our relay's own estimate (we estimate alike)."""
    if not isinstance(raw, dict) or raw.get("estimated"):
        return None
    try:
        prompt = int(raw.get("prompt_tokens") or 0)
        completion = int(raw.get("completion_tokens") or 0)
    except (TypeError, ValueError):
        return None
    if prompt <= 0 and completion <= 0:
        return None
    return Usage(prompt, completion)


_STATUS = re.compile(
    r"""^\s*(?:error(?:\s+code)?\s*:?\s*|http\s*)?(?P<lead>[45]\d\d)(?![\d.])  # 401 …, 401: …
      | \((?:status\s*)?(?P<tail>[45]\d\d)\)\s*$                        # … (401)
      | \bstatus(?:\s+code)?\s*:?\s*(?P<word>[45]\d\d)\b                # … status code 401
    """, re.IGNORECASE | re.VERBOSE)


def leading_status(message: str) -> int | None:
    """The HTTP status an error message gives, in the forms servers write it: "401: …" (ours),
    "401 Incorrect API key provided" (the Node SDK's), "Error code: 401 - …", "… (401)",
    "Request failed with status code 401"; None when it names none."""
    match = _STATUS.search(message)
    if match is None:
        return None
    return int(match.group("lead") or match.group("tail") or match.group("word"))


def _error_event(message: str, got_text: bool, status: int | None = None) -> ProviderError:
    """The error type for a relay `error` event, from its `status` field or the status its
    message names. A rejected key or request is not retried; unknown failures are."""
    text = f"relay: {message}"
    if got_text:
        return StreamBroken(text)
    status = status or leading_status(message)
    if status in (401, 403):
        return AuthFailed(text)
    if status == 404:
        return ModelNotFound(text)
    if status == 429:
        return RateLimited(None, text)
    if status is not None and 400 <= status < 500:
        return ContextTooLong(text) if "too long" in message else BadRequest(text)
    # 5xx, or the upstream could not be reached or stalled: worth a retry.
    return ServerError(text, status=status)
