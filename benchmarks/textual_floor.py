"""A second floor for terminal_bench: the least a Textual app on the openai SDK can spend.

The SDK's stream goes into one Line-API widget that wraps plain text (no Markdown, no
borders, no status bar, no storage) and repaints only the lines that changed, at most 25 times
a second, the pace tui-chat draws at. Started by `terminal_bench.py --only floor-textual` in
the same pty against the same fake server; Enter starts the answer, as in the app.
"""

from __future__ import annotations

import sys
import time
from typing import ClassVar

import openai
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

FRAME = 1 / 25


class Lines(ScrollView):
    """Plain text, wrapped at the widget's width, with the view kept at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = ["Ask anything (floor, Textual)"]
        self.changed_from = 0
        self.drawn_at = 0.0
        self.pending = False

    def append(self, text: str) -> None:
        width = max(1, self.size.width)
        self.changed_from = min(self.changed_from, len(self.lines) - 1)
        for i, part in enumerate(text.split("\n")):
            if i:
                self.lines.append("")
            line = self.lines[-1] + part
            while len(line) > width:
                cut = line.rfind(" ", 0, width + 1)
                cut = cut if cut > 0 else width
                self.lines[-1] = line[:cut]
                self.lines.append(line[cut:].lstrip(" "))
                line = self.lines[-1]
            self.lines[-1] = line
        if not self.pending:
            self.pending = True
            wait = self.drawn_at + FRAME - time.monotonic()
            if wait > 0:
                self.set_timer(wait, self.draw)
            else:
                self.call_later(self.draw)

    def draw(self) -> None:
        self.pending = False
        self.drawn_at = time.monotonic()
        height = len(self.lines)
        if height != self.virtual_size.height:
            self.virtual_size = Size(self.size.width, height)
            self.scroll_end(animate=False, immediate=True)
        top = int(self.scroll_y)
        for y in range(max(self.changed_from, top), height):
            self.refresh(Region(0, y - top, self.size.width, 1))
        self.changed_from = height - 1

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        if index >= len(self.lines):
            return Strip.blank(self.size.width)
        return Strip([Segment(self.lines[index])]).adjust_cell_length(self.size.width)


class Floor(App[None]):
    BINDINGS: ClassVar = [("enter", "ask", "ask"), ("ctrl+q", "quit", "quit")]

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key="no-key-needed",
                                         max_retries=0)
        self.client.chat.completions  # noqa: B018 - the SDK imports these on first use

    def compose(self) -> ComposeResult:
        yield Lines()

    def action_ask(self) -> None:
        self.run_worker(self.ask())

    async def ask(self) -> None:
        view = self.query_one(Lines)
        stream = await self.client.chat.completions.create(
            model="bench", messages=[{"role": "user", "content": "go"}], stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                view.append(chunk.choices[0].delta.content)


if __name__ == "__main__":
    Floor(sys.argv[1]).run()
