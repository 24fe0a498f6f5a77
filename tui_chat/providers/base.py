"""The provider protocol: a conversation in, a stream of typed events out."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol

from tui_chat.models import Message, RequestParams, StreamEvent


class Provider(Protocol):
    """Turns a conversation into a stream of events. Knows nothing of Textual.

    Implementations raise `ProviderError` subclasses, never SDK exceptions, and close their
    HTTP response when the generator is closed or cancelled.
    """

    def stream(
        self, messages: Sequence[Message], params: RequestParams
    ) -> AsyncGenerator[StreamEvent, None]: ...

    async def list_models(self) -> list[str]:
        """Model ids the endpoint offers; an empty list when it cannot say."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
