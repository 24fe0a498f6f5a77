"""RelayProvider: streams from a `tui-chat serve`-style relay (`POST /api/chat/stream`, SSE)."""

from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from tui_chat.models import (
    AuthFailed,
    BadRequest,
    BadResponse,
    Delta,
    Finished,
    Message,
    ProviderError,
    RequestParams,
    ServerError,
    StreamBroken,
    StreamEvent,
    StreamStalled,
    Unreachable,
    Usage,
)
from tui_chat.sanitize import sanitize_line


class RelayProvider:
    """Sends the last user message and the history before it; parses the relay's events."""

    def __init__(self, base_url: str, *, token: str | None = None,
                 connect_timeout: float = 10.0, stall_timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._connect_timeout = connect_timeout
        self._stall_timeout = stall_timeout
        self._session: Any = None

    def _client(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout,
                                            sock_read=None)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]:
        import aiohttp

        *history, last = list(messages) or [Message("user", "")]
        body = {"message": last.content,
                "conversationHistory": [{"role": m.role, "content": m.content}
                                        for m in history]}
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        url = f"{self.base_url}/api/chat/stream"
        got_text = False
        try:
            async with self._client().post(url, json=body, headers=headers) as response:
                if response.status != 200:
                    raise await self._http_error(response)
                decoder = codecs.getincrementaldecoder("utf-8")()
                buffer = ""
                while True:
                    try:
                        raw = await asyncio.wait_for(response.content.readany(),
                                                     self._stall_timeout)
                    except TimeoutError:
                        error_type = StreamStalled if got_text else Unreachable
                        raise error_type(f"stalled: no data from the relay for "
                                         f"{self._stall_timeout:g} s") from None
                    if not raw:
                        break
                    buffer += decoder.decode(raw)
                    *lines, buffer = buffer.split("\n")
                    for line in lines:
                        event = self._parse(line.rstrip("\r"))
                        if event is None:
                            continue
                        if "error" in event:
                            message = sanitize_line(str(event["error"]))
                            raise (StreamBroken if got_text else ServerError)(
                                f"relay: {message}")
                        if "content" in event:
                            got_text = True
                            yield Delta(str(event["content"]))
                        if event.get("done"):
                            usage = event.get("usage") or {}
                            if usage:
                                yield Usage(int(usage.get("prompt_tokens", 0)),
                                            int(usage.get("completion_tokens", 0)))
                            yield Finished("stop")
                            return
            raise StreamBroken("the relay closed the stream before the answer was done")
        except aiohttp.ClientConnectorError as error:
            raise Unreachable(f"cannot reach the relay at {self.base_url}: "
                              f"{sanitize_line(str(error.os_error or error))}") from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError) as error:
            if got_text:
                raise StreamBroken("the connection to the relay dropped mid-answer") from None
            raise Unreachable(f"no answer from the relay at {self.base_url}: "
                              f"{sanitize_line(str(error))}") from None

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
            detail = sanitize_line(str((await response.json()).get("error", "")))[:200]
        except Exception:
            detail = ""
        status = response.status
        text = f"{status} from the relay" + (f": {detail}" if detail else "")
        if status in (401, 403):
            return AuthFailed(f"{text} (check the relay token)")
        if status >= 500:
            return ServerError(text, status=status)
        return BadRequest(text)

    async def list_models(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
