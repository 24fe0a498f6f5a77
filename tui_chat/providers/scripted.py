"""A provider that plays back scripted events: for tests, snapshots and `--demo`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from tui_chat.models import Delta, Finished, Message, ProviderError, RequestParams, StreamEvent


class ScriptedProvider:
    """Yields the same events for every request, optionally with a delay or a stall.

    Args:
        events: What each request yields, in order.
        delay: Seconds to wait before each event.
        stall_after: After this many events, wait forever (until cancelled).
        error: Raised after the events, if given.
    """

    def __init__(
        self,
        events: Sequence[StreamEvent] = (),
        *,
        delay: float = 0.0,
        stall_after: int | None = None,
        error: ProviderError | None = None,
        models: Sequence[str] = (),
    ) -> None:
        self.events = list(events)
        self.delay = delay
        self.stall_after = stall_after
        self.error = error
        self.models = list(models)
        self.requests: list[tuple[list[Message], RequestParams]] = []
        self.closed = 0
        """How many streams were closed (finished, cancelled or failed)."""

    @classmethod
    def from_text(cls, text: str, *, chunk: int = 8, **kwargs: object) -> ScriptedProvider:
        pieces = [Delta(text[i : i + chunk]) for i in range(0, len(text), chunk)]
        return cls([*pieces, Finished("stop")], **kwargs)  # type: ignore[arg-type]

    async def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]:
        self.requests.append((list(messages), params))
        try:
            for index, event in enumerate(self.events):
                if self.stall_after is not None and index >= self.stall_after:
                    await asyncio.Event().wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield event
            if self.error is not None:
                raise self.error
        finally:
            self.closed += 1

    async def list_models(self) -> list[str]:
        return list(self.models)

    async def aclose(self) -> None:
        return None
