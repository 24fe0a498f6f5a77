"""The differential output: whatever sequence of frames, the terminal ends up showing exactly
what a full repaint of the last frame shows, and it is sent less to get there.

A terminal emulator (pyte) plays the part of the terminal. Frames are random rows of styled
text, with wide characters, partial updates of random spans, and rows that move up or down.
"""

from __future__ import annotations

import random

import pyte
from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip

from tui_chat.compat.textual_hooks import ChopsUpdate, LayoutUpdate
from tui_chat.compositor import (
    DiffUpdate,
    TerminalRows,
    common_cells,
    find_shift,
    render_strip,
)

WIDTH, HEIGHT = 40, 12
CONSOLE = Console(force_terminal=True, color_system="truecolor", width=WIDTH)
STYLES = [
    Style(color="#ff8800", bgcolor="#101010"),
    Style(color="#ff8800", bgcolor="#101010", bold=True),
    Style(color="#00aaff", bgcolor="#101010", italic=True),
    Style(color="#eeeeee", bgcolor="#202020"),
    Style(color="#eeeeee", bgcolor="#202020", underline=True),
    Style(color="#eeeeee", bgcolor="#202020", reverse=True),
]
WORDS = ["the", "quick", "brown", "fox", "字符", "宽", "é", "·", "▌", "┃", "code()", "  "]


def random_row(rng: random.Random, width: int = WIDTH) -> Strip:
    segments: list[Segment] = []
    used = 0
    while used < width:
        word = rng.choice(WORDS)
        size = Segment(word).cell_length
        if used + size > width:
            word, size = " " * (width - used), width - used
        segments.append(Segment(word, rng.choice(STYLES)))
        used += size
    return Strip(segments, width)


def cells(screen: pyte.Screen) -> list[list[tuple]]:
    return [[(char.data, char.fg, char.bg, char.bold, char.italics, char.underscore,
              char.reverse) for char in (screen.buffer[y][x] for x in range(screen.columns))]
            for y in range(screen.lines)]


def reference(rows: list[Strip]) -> list[list[tuple]]:
    """What a terminal shows after Textual's own full repaint of `rows`."""
    screen = pyte.Screen(WIDTH, HEIGHT)
    update = LayoutUpdate([[row] for row in rows], Region(0, 0, WIDTH, HEIGHT))
    pyte.Stream(screen).feed(update.render_segments(CONSOLE))
    return cells(screen)


def full(rows: list[Strip], shown: TerminalRows) -> DiffUpdate:
    return DiffUpdate(LayoutUpdate([[row] for row in rows], Region(0, 0, WIDTH, HEIGHT)),
                      shown, (WIDTH, HEIGHT))


def partial(rows: list[Strip], spans: list[tuple[int, int, int]],
            shown: TerminalRows) -> DiffUpdate:
    """A partial update as Textual's compositor builds one: per row, pieces cut at a widget's
    edge (about a third of the way along; never inside a wide character)."""
    chops = []
    ends = []
    for row in rows:
        cut = 0
        for segment in row:
            if cut + segment.cell_length > WIDTH // 3:
                for char in segment.text:
                    if cut + Segment(char).cell_length > WIDTH // 3:
                        break
                    cut += Segment(char).cell_length
                break
            cut += segment.cell_length
        left, right = row.divide([cut, WIDTH])[:2]
        chops.append({0: left, cut: right})
        ends.append([cut, WIDTH])
    return DiffUpdate(ChopsUpdate(chops, spans, ends), shown, (WIDTH, HEIGHT))


def play(seed: int, frames: int = 30) -> tuple[int, int]:
    """Random frames through the diff into one emulator; checks every frame against a full
    repaint. Returns (bytes sent by the diff, bytes Textual's full repaints would send)."""
    rng = random.Random(seed)
    shown = TerminalRows()
    terminal = pyte.Screen(WIDTH, HEIGHT)
    stream = pyte.Stream(terminal)
    rows = [random_row(rng) for _ in range(HEIGHT)]
    sent = stock = 0
    update = full(rows, shown)
    output = update.render_segments(CONSOLE)
    stream.feed(output)
    assert cells(terminal) == reference(rows)
    for _ in range(frames):
        kind = rng.random()
        spans: list[tuple[int, int, int]] = []
        if kind < 0.35:  # the log scrolled: a band of rows moves up or down
            top = rng.randrange(0, HEIGHT - 4)
            bottom = rng.randrange(top + 3, HEIGHT)
            shift = rng.choice([1, 2, 3, -1, -2])
            band = rows[top:bottom + 1]
            fresh = [random_row(rng) for _ in range(abs(shift))]
            band = band[shift:] + fresh if shift > 0 else fresh + band[:shift]
            rows[top:bottom + 1] = band
            spans = [(y, 0, WIDTH) for y in range(top, bottom + 1)]
        else:  # a few rows change in part: a word typed, a figure ticking
            for y in rng.sample(range(HEIGHT), rng.randint(1, 3)):
                x1 = rng.randrange(0, WIDTH - 1)
                x2 = rng.randrange(x1 + 1, WIDTH + 1)
                changed = random_row(rng)
                # Only the span changes; the rest of the row is as before.
                rows[y] = Strip.join([rows[y].crop(0, x1), changed.crop(x1, x2),
                                      rows[y].crop(x2)])
                spans.append((y, x1, x2))
            spans.sort()
        use_full = rng.random() < 0.2
        update = full(rows, shown) if use_full else partial(rows, spans, shown)
        output = update.render_segments(CONSOLE)
        stream.feed(output)
        assert cells(terminal) == reference(rows), f"seed {seed}: frame differs"
        sent += len(output.encode())
        stock += len(update.update.render_segments(CONSOLE).encode())
    return sent, stock


def test_random_frames_leave_the_terminal_showing_the_last_frame_exactly() -> None:
    sent = stock = 0
    for seed in range(30):
        a, b = play(seed)
        sent += a
        stock += b
    assert sent < stock / 2  # and it is far cheaper than Textual's own output


def test_a_forgotten_terminal_is_drawn_whole_and_then_diffed_again() -> None:
    rng = random.Random(7)
    shown = TerminalRows()
    terminal = pyte.Screen(WIDTH, HEIGHT)
    stream = pyte.Stream(terminal)
    rows = [random_row(rng) for _ in range(HEIGHT)]
    stream.feed(full(rows, shown).render_segments(CONSOLE))
    # Something else draws over the terminal (another screen, an editor)...
    stream.feed("\x1b[2J\x1b[3;3Hgarbage")
    shown.forget()
    # ...then a partial update arrives: it may only write its own spans.
    rows[0] = random_row(rng)
    stream.feed(partial(rows, [(0, 0, WIDTH)], shown).render_segments(CONSOLE))
    assert cells(terminal)[0] == reference(rows)[0]
    # The next full repaint puts everything back, whatever was there.
    output = full(rows, shown).render_segments(CONSOLE)
    stream.feed(output)
    assert cells(terminal) == reference(rows)
    assert len(output) > WIDTH * HEIGHT
    # And from then on only changes are sent.
    rows[5] = Strip.join([rows[5].crop(0, 10), Strip([Segment("xyz", STYLES[0])]),
                          rows[5].crop(13)])
    output = partial(rows, [(5, 0, WIDTH)], shown).render_segments(CONSOLE)
    stream.feed(output)
    assert cells(terminal) == reference(rows)
    assert output.startswith("\x1b[6;11H") and len(output) < 60


def test_a_word_added_to_a_line_sends_the_word_not_the_line() -> None:
    style = STYLES[3]
    before = Strip([Segment("Hello there", style), Segment(" " * 29, style)], WIDTH)
    after = Strip([Segment("Hello there world", style), Segment(" " * 23, style)], WIDTH)
    shown = TerminalRows()
    rows = [before] * HEIGHT
    full(rows, shown).render_segments(CONSOLE)
    rows = [after] + [before] * (HEIGHT - 1)
    output = partial(rows, [(0, 0, WIDTH)], shown).render_segments(CONSOLE)
    # Cursor to column 13 (the space is already there), one colour code, the word, a reset.
    assert output == "\x1b[1;13H" + render_strip(Strip([Segment("world", style)]),
                                                 ColorSystem.TRUECOLOR)
    assert output.count("\x1b[") == 3


def test_rows_that_moved_are_scrolled_by_the_terminal_not_drawn_again() -> None:
    rng = random.Random(3)
    shown = TerminalRows()
    rows = [random_row(rng) for _ in range(HEIGHT)]
    full(rows, shown).render_segments(CONSOLE)
    # Rows 1..9 move up by 3 (the log scrolled); rows 0, 10 and 11 (the bars) stay.
    moved = rows[:1] + rows[4:10] + [random_row(rng) for _ in range(3)] + rows[10:]
    output = partial(moved, [(y, 0, WIDTH) for y in range(1, 10)], shown).render_segments(
        CONSOLE)
    assert output.startswith("\x1b[2;10r\x1b[10;1H\n\n\n\x1b[r")
    terminal = pyte.Screen(WIDTH, HEIGHT)
    stream = pyte.Stream(terminal)
    stream.feed(LayoutUpdate([[row] for row in rows], Region(0, 0, WIDTH, HEIGHT))
                .render_segments(CONSOLE))
    stream.feed(output)
    assert cells(terminal) == reference(moved)
    # Only the three new rows were drawn.
    assert output.count("\x1b[", len("\x1b[2;10r\x1b[10;1H\n\n\n\x1b[r")) < 3 * 40


def test_common_cells_stops_at_character_boundaries() -> None:
    style = STYLES[0]
    old = Strip([Segment("ab字符cd", style)])
    new = Strip([Segment("ab字x cd", style)])
    assert common_cells(old, new) == 4  # "ab字" is 4 cells
    assert common_cells(old, new, reverse=True) == 2  # "cd"
    assert common_cells(old, Strip([Segment("ab字符cd", STYLES[1])])) == 0  # style differs


def test_find_shift_ignores_blank_rows_and_small_matches() -> None:
    rng = random.Random(1)
    rows = [random_row(rng) for _ in range(HEIGHT)]
    blank = Strip([Segment(" " * WIDTH, STYLES[0])], WIDTH)
    assert find_shift(rows, {y: rows[y] for y in range(HEIGHT)}) is None  # nothing moved
    assert find_shift(rows, {2: rows[3], 3: rows[4]}) is None  # two rows are not enough
    assert find_shift(rows, {2: rows[3], 3: rows[4], 4: rows[5]}) == (2, 5, 1)
    assert find_shift(rows, {5: rows[3], 6: rows[4], 7: rows[5]}) == (3, 7, -2)
    blanks = [blank] * HEIGHT
    assert find_shift(blanks, {y: blank for y in range(HEIGHT)}) is None


def test_a_streamed_line_is_diffed_without_cutting_the_row_into_strips(monkeypatch) -> None:
    # A streamed frame changes a row or two; making a Strip of every piece of each (its crops,
    # the row joined again, the changed cells cut out) was three quarters of the diff's time.
    style = STYLES[3]
    border = Strip([Segment("▌", STYLES[0])], 1)
    before = Strip.join([border, Strip([Segment("Hello there", style),
                                        Segment(" " * 28, style)], WIDTH - 1)])
    after = Strip.join([border, Strip([Segment("Hello there world", style),
                                       Segment(" " * 22, style)], WIDTH - 1)])
    shown = TerminalRows()
    full([before] * HEIGHT, shown).render_segments(CONSOLE)
    update = partial([after] + [before] * (HEIGHT - 1), [(0, WIDTH // 3, WIDTH - 1)], shown)
    made: list[Strip] = []
    strip_init = Strip.__init__

    def counted(self: Strip, *args: object, **kwargs: object) -> None:
        made.append(self)
        strip_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Strip, "__init__", counted)
    output = update.render_segments(CONSOLE)
    monkeypatch.undo()
    assert output == "\x1b[1;14H" + render_strip(Strip([Segment("world", style)]),
                                                 ColorSystem.TRUECOLOR)
    assert shown.rows[0] is not None and shown.rows[0].simplify() == after.simplify()
    # The span cut from the widget's piece, and the row kept for the next frame.
    assert len(made) <= 2, f"{len(made)} strips made"
