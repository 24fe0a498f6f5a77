"""Server-sent events from raw bytes, as many as each network read completes.

The SDK's own decoder handles one line at a time in Python and hands events over one by one;
a fast local server delivers hundreds of events per read, and that per-event work was most of
the app's CPU when an answer arrived unthrottled. This reader splits whole reads with bytes
methods (C speed) and returns every event a read completes, so the caller can handle a read's
events together.

It follows the event stream format of the HTML standard: lines end in LF, CRLF or CR; a blank
line ends an event; `data:` lines of one event are joined with LF; a space after the colon is
dropped; lines starting with a colon are comments (keep-alives). `id` and `retry` are ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

Event = tuple[str, bytes]
"""(event type, data): the type is "message" unless the event named another."""


class EventReader:
    """Turns a byte stream, fed in pieces of any size, into complete events."""

    __slots__ = ("_data", "_event", "_pending")

    def __init__(self) -> None:
        self._pending = b""
        """The start of a line whose end has not arrived."""
        self._data: list[bytes] = []
        """Data lines of the event being read."""
        self._event = ""

    def feed(self, chunk: bytes) -> list[Event]:
        """The events that `chunk` completes, in order."""
        buffer = self._pending + chunk if self._pending else chunk
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):
                # Might be the first half of a CRLF: decide once the next byte is here.
                buffer, held = buffer[:-1], b"\r"
            else:
                held = b""
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            held = b""
        lines = buffer.split(b"\n")
        self._pending = lines.pop() + held
        events: list[Event] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append((self._event or "message", b"\n".join(data)))
                    data.clear()
                self._event = ""
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode("utf-8", "replace")
            # Comments (":...") and the other fields carry nothing an answer needs.
        return events

    def close(self) -> list[Event]:
        """The stream ended: an event that had its data but not its blank line still counts."""
        events = self.feed(b"\n\n") if self._pending or self._data else []
        self._pending = b""
        return events


class BatchDecoder:
    """Stands in for the SDK's SSE decoder: yields a list of events per network read.

    The SDK wraps its decoder's loop in its own error handling (timeouts and dropped
    connections become `APITimeoutError` and `APIConnectionError`), which this keeps.
    """

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[list[Event]]:
        reader = EventReader()
        async for chunk in iterator:
            if events := reader.feed(chunk):
                yield events
        if events := reader.close():
            yield events
