"""The streaming renderer draws the same lines whether text arrives whole or in pieces."""

from __future__ import annotations

import random

import pytest
from rich.cells import cell_len
from rich.style import Style
from textual.strip import Strip

from tui_chat.render import RenderStyle, StreamingDocument

PROSE = """# A heading

First paragraph with *emphasis*, **strong** text, `inline code` and a
[link to docs](https://example.com/docs) that wraps over several lines when the width is
small enough to force it.

## Second heading

> A quote that also goes on for a while so that it has to wrap at narrow widths.

---

Last paragraph.
"""

LISTS = """Steps:

- first item with some words
- second item
  - nested one
  - nested two
- third item

1. one
2. two
3. three

1. loose item

   continued paragraph of the loose item

2. second loose item
"""

TABLE = """| Name | Value | Notes |
|:-----|------:|:-----:|
| alpha | 1 | first row |
| beta | 22 | a rather longer note that needs wrapping when narrow |
| `gamma` | 333 | **bold** note |

After the table.
"""

FENCE = '''Here is code:

```python
def greet(name: str) -> str:
    """Say hello.

    Twice, even."""
    for _ in range(2):
        print(f"hello {name}")
    return name
```

~~~
plain fence
~~~

Done.
'''

CJK = """中文段落：这是一个很长的句子，用来测试宽字符的换行是否正确，
不会超过宽度。还有更多的文字在这里。

- 列表项目一，包含一些中文文字和 emoji 😀😀😀 以及 English words
- 列表项目二

| 名前 | 説明 |
|---|---|
| 東京 | 日本の首都であり、とても大きな都市です |

```text
代码块里的中文也要正确折行，代码块里的中文也要正确折行，代码块里的中文也要正确折行
```
"""

MIXED = PROSE + "\n" + LISTS + "\n" + TABLE + "\n" + FENCE + "\n" + CJK

DOCUMENTS = {"prose": PROSE, "lists": LISTS, "table": TABLE, "fence": FENCE, "cjk": CJK,
             "mixed": MIXED}


def whole(text: str, width: int, **kwargs: object) -> list[Strip]:
    document = StreamingDocument(text, **kwargs)  # type: ignore[arg-type]
    document.finish()
    return document.render(width)


def chunks(text: str, seed: int, largest: int = 12) -> list[str]:
    rng = random.Random(seed)
    pieces = []
    index = 0
    while index < len(text):
        size = rng.randint(1, largest)
        pieces.append(text[index:index + size])
        index += size
    return pieces


def plain(lines: list[Strip]) -> list[str]:
    return [line.text for line in lines]


def all_segments(lines: list[Strip]):  # type: ignore[no-untyped-def]
    return [segment for line in lines for segment in line]


def style_of(lines: list[Strip], word: str) -> Style | None:
    for segment in all_segments(lines):
        if word in segment.text:
            return segment.style
    raise AssertionError(f"{word!r} not drawn")


# -- streaming equals whole ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@pytest.mark.parametrize("width", [24, 57, 100])
def test_streamed_in_random_chunks_draws_the_same_lines_as_whole(name: str, width: int) -> None:
    text = DOCUMENTS[name]
    expected = whole(text, width)
    for seed in range(3):
        document = StreamingDocument()
        rng = random.Random(seed)
        for piece in chunks(text, seed):
            document.append(piece)
            if rng.random() < 0.3:  # render now and then, as the widget does, with the cursor
                document.render(width, cursor="▌")
        document.finish()
        assert document.render(width) == expected, f"seed {seed}"
        assert document.text == text


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_intermediate_render_equals_a_fresh_document_of_that_prefix(name: str) -> None:
    # The caches must never show stale lines: at any moment the incremental result is what a
    # document holding only the text so far would draw.
    text = DOCUMENTS[name]
    width = 41
    document = StreamingDocument()
    received = ""
    for piece in chunks(text, seed=7, largest=9):
        document.append(piece)
        received += piece
        assert document.render(width) == StreamingDocument(received).render(width), received


def test_the_text_is_the_whole_source_after_many_appends() -> None:
    document = StreamingDocument()
    for piece in chunks(MIXED, seed=3, largest=3):
        document.append(piece)
    assert document.text == MIXED
    assert len(document) == len(MIXED)


# -- caching -----------------------------------------------------------------------------


def test_finished_blocks_keep_their_strip_objects_while_the_tail_grows() -> None:
    document = StreamingDocument("Para one is here.\n\nPara two.\n\n- a\n- b\n\nThe tail")
    first = document.render(40, cursor="▌")
    document.append(" grows")
    second = document.render(40, cursor="▌")
    tail_start = plain(second).index("The tail grows▌")
    assert tail_start > 0
    assert all(a is b for a, b in zip(first[:tail_start], second[:tail_start], strict=True))
    assert document.changed_from == tail_start
    assert second[tail_start] is not first[tail_start]


def test_render_without_changes_returns_the_same_strips() -> None:
    document = StreamingDocument("Some text\n\n```py\nx = 1\n")
    first = document.render(30, cursor="▌")
    second = document.render(30, cursor="▌")
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert document.changed_from == len(second)


def test_open_fence_lines_are_drawn_once() -> None:
    document = StreamingDocument("```python\n")
    lines = [f"value_{i} = compute({i})\n" for i in range(50)]
    previous = document.render(40, cursor="▌")
    for line in lines:
        for piece in (line[:5], line[5:]):
            document.append(piece)
            current = document.render(40, cursor="▌")
            # Everything but the line being typed is the very same strip as before.
            assert all(a is b for a, b in zip(previous[:-1], current, strict=False))
            assert document.changed_from >= len(previous) - 1
            previous = current


def test_a_long_open_list_redraws_only_its_last_item() -> None:
    document = StreamingDocument("".join(f"- item {i}\n" for i in range(40)))
    first = document.render(30, cursor="▌")
    document.append("- item 40 is being")
    second = document.render(30, cursor="▌")
    assert plain(second)[:40] == [f" • item {i}" for i in range(40)]
    assert all(a is b for a, b in zip(first[:39], second[:39], strict=True))
    assert plain(second)[-1] == " • item 40 is being▌"


def test_a_long_open_table_keeps_its_completed_rows() -> None:
    rows = "".join(f"| row {i} | {i * 7} |\n" for i in range(30))
    document = StreamingDocument("| name | value |\n|---|---|\n" + rows)
    first = document.render(40, cursor="▌")
    document.append("| row 30 | 2")
    second = document.render(40, cursor="▌")
    # Top border, header, separator and the 30 completed rows are reused as they were.
    assert all(a is b for a, b in zip(first[:33], second[:33], strict=True))
    assert "row 30" in second[33].text and "2▌" in second[33].text
    assert second[-1].text.startswith("╰")


# -- what is drawn -------------------------------------------------------------------------


def test_fence_lines_are_highlighted_while_streaming_and_when_finished() -> None:
    document = StreamingDocument("```python\ndef greet(name):\n    return name\n")
    streaming = document.render(40, cursor="▌")
    keyword, identifier = style_of(streaming, "def"), style_of(streaming, "greet")
    assert keyword is not None and identifier is not None
    assert keyword.color != identifier.color
    document.append("```\n")
    document.finish()
    finished = document.render(40)
    assert style_of(finished, "return").color == keyword.color
    assert style_of(finished, "def").color != style_of(finished, "greet").color


def test_code_paints_its_background_across_the_width_and_prose_is_unpadded() -> None:
    style = RenderStyle(code_background="#102030")
    document = StreamingDocument("Words here.\n\n```\nx\n```\n", style=style)
    document.finish()
    lines = document.render(30)
    assert lines[0].text == "Words here."
    code = [line for line in lines if any(s.style and s.style.bgcolor for s in line)]
    assert len(code) == 2  # the language label and the one code line
    for line in code:
        assert line.cell_length == 30
        assert all(s.style.bgcolor.triplet.hex == "#102030" for s in line if s.style)


def test_multiline_tokens_are_right_once_the_fence_closes() -> None:
    document = StreamingDocument('```python\n"""start\nmiddle words\nend"""\n```\n')
    document.finish()
    lines = document.render(40)
    string_style = style_of(lines, "start")
    assert style_of(lines, "middle").color == string_style.color


def test_a_table_is_drawn_with_borders_and_a_bold_header() -> None:
    lines = whole(TABLE, 60)
    text = plain(lines)
    assert text[0].startswith("╭") and text[0].endswith("╮")
    assert any(line.startswith("├") for line in text)
    assert any(line.startswith("╰") for line in text)
    assert any("│ alpha" in line for line in text)
    assert style_of(lines, "Name").bold
    beta = next(line for line in text if "beta" in line)
    assert beta.count("│") == 4
    right = next(line for line in text if "alpha" in line)
    assert "│     1 │" in right  # the Value column is right-aligned


def test_links_show_their_text_without_terminal_hyperlinks() -> None:
    lines = whole("See [the docs](https://example.com/x) now.\n\n| a |\n|---|\n| [t](u) |\n",
                  80)
    text = "\n".join(plain(lines))
    assert "the docs" in text and "https://example.com/x" in text
    assert "[the docs]" not in text
    assert "t (u)" in text
    for segment in all_segments(lines):
        assert "\x1b]8" not in segment.text
        assert not (segment.style and segment.style.link)


def test_no_control_characters_reach_the_output() -> None:
    hostile = ("Bell\x07 esc\x1b[2J tab\there\r\n\n```\ncode\x1b]0;t\x07\tend\n```\n"
               "\n| a\tb | c |\n|---|---|\n| \x1b[31m | x |\n")
    for markdown in (True, False):
        lines = whole(hostile, 40, markdown=markdown)
        for segment in all_segments(lines):
            assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in segment.text), (
                segment)


@pytest.mark.parametrize("width", [10, 13, 20, 31, 47])
def test_wide_characters_wrap_within_the_width(width: int) -> None:
    for lines in (whole(CJK, width), whole(CJK, width, markdown=False)):
        assert lines
        for line in lines:
            assert line.cell_length <= width, (width, line.text)
            assert cell_len(line.text) == line.cell_length
    joined = "".join(plain(whole(CJK, width)))
    assert "正确" in joined.replace(" ", "") or width < 12


def test_plain_mode_keeps_the_text_as_typed() -> None:
    text = "**not bold** and [x](y)\n# not a heading\n\n- not a list"
    lines = whole(text, 60, markdown=False)
    assert plain(lines) == ["**not bold** and [x](y)", "# not a heading", "", "- not a list"]
    assert all(not (s.style and s.style.bold) for s in all_segments(lines))


def test_plain_mode_wraps_and_streams() -> None:
    text = "word " * 30 + "\nsecond line"
    streamed = StreamingDocument(markdown=False)
    for piece in chunks(text, seed=1):
        streamed.append(piece)
        streamed.render(25, cursor="▌")
    streamed.finish()
    lines = streamed.render(25)
    assert lines == whole(text, 25, markdown=False)
    assert all(line.cell_length <= 25 for line in lines)
    assert plain(lines)[-1] == "second line"


def test_a_different_width_draws_again_correctly() -> None:
    document = StreamingDocument(MIXED)
    document.finish()
    for width in (80, 33, 120, 80):
        assert document.render(width) == whole(MIXED, width)
        assert all(line.cell_length <= width for line in document.render(width))


def test_a_different_width_while_streaming_stays_correct() -> None:
    document = StreamingDocument()
    received = ""
    for index, piece in enumerate(chunks(MIXED, seed=5, largest=40)):
        document.append(piece)
        received += piece
        width = 30 + 17 * (index % 3)
        assert document.render(width) == StreamingDocument(received).render(width)


def test_finish_closes_an_unterminated_fence() -> None:
    document = StreamingDocument("```python\nx = 1\ny = 2")
    open_lines = plain(document.render(30, cursor="▌"))
    assert open_lines[-1].startswith(" y = 2▌")
    document.finish()
    closed = document.render(30)
    assert [line.strip() for line in plain(closed)] == ["python", "x = 1", "y = 2"]
    document.append("\nafter")  # text after finish starts a new block
    assert plain(document.render(30))[-1] == "after"


def test_the_cursor_follows_the_text_in_each_kind_of_block() -> None:
    cases = {
        "Some words": "Some words▌",
        "- item": " • item▌",
        "```\ncode": " code▌",
        "| a | b |\n|---|---|\n| 1 | 2": "│ 1 │ 2▌│",  # a full cell: in its padding
        "Para.\n\n": "▌",
    }
    for source, last in cases.items():
        document = StreamingDocument(source)
        lines = plain(document.render(30, cursor="▌"))
        shown = [line for line in lines if "▌" in line]
        assert len(shown) == 1, (source, lines)
        assert shown[0].rstrip() == last or shown[0].startswith(last), (source, shown)
        assert "▌" not in "".join(plain(document.render(30)))


def test_the_cursor_at_the_end_of_the_widest_cell_does_not_widen_the_table() -> None:
    # It did, and every row was drawn again on every frame until the row ended.
    source = "| name | value |\n|---|---:|\n| a | 10 |\n| b | 200000"
    with_cursor = plain(StreamingDocument(source).render(40, cursor="▌"))
    without = plain(StreamingDocument(source).render(40))
    assert with_cursor[:4] == without[:4]  # the border, header, rule and first row
    assert with_cursor[4] == "│ b    │ 200000▌│"


def test_a_new_style_redraws_in_the_new_colours() -> None:
    document = StreamingDocument("# Title\n\n```\nx\n```\n")
    document.finish()
    before = document.render(30)
    document.set_style(RenderStyle(heading=Style(color="#ff0000", bold=True),
                                   code_background="#00ff00"))
    after = document.render(30)
    assert plain(after) == plain(before)
    assert style_of(after, "Title").color.triplet.hex == "#ff0000"
    assert style_of(after, "x").bgcolor.triplet.hex == "#00ff00"
    assert document.changed_from == 0


def test_list_continuations_and_fences_inside_items_are_indented() -> None:
    source = ("1. Install:\n\n   ```bash\n   pip install thing\n   ```\n\n"
              "   Then run it.\n\n2. Done\n")
    lines = plain(whole(source, 40))
    install = next(line for line in lines if "pip install" in line)
    then = next(line for line in lines if "Then run" in line)
    assert lines[0] == " 1. Install:"
    assert then.startswith("    Then")  # under the item's text, not at the margin
    assert install.startswith("     pip install")  # 4 unpainted cells, 1 of code margin
    assert lines[-1] == " 2. Done"


def test_headings_split_blocks_and_setext_headings_work() -> None:
    lines = whole("Intro line\n## Next\nbody\n\nTitle\n=====\n", 40)
    assert plain(lines) == ["Intro line", "", "Next", "", "body", "", "Title"]
    assert style_of(lines, "Next").bold
    assert style_of(lines, "Title").underline


def test_a_narrow_width_does_not_break() -> None:
    for width in (1, 2, 3, 5, 8):
        document = StreamingDocument(MIXED)
        lines = document.render(width, cursor="▌")
        assert lines
        document.finish()
        assert document.render(width)


PARAGRAPHS = [
    "plain words only",
    "Some *emphasis*, **strong**, ***both***, ~~struck~~ and `code` in a line that is long "
    "enough to wrap at least once or twice when the width is small enough for it.",
    "A [link](https://example.com/a) and [**bold link**](http://x.y) then more text.",
    "soft\nbreak and hard  \nbreak and backslash\\\nbreak",
    "  leading spaces\n   on every line ",
    "wide 你好世界 text 🙂 with emoji and ünïcödé mixed in for the wrapping to split",
    "unclosed **strong and `code",
    "a_b_c snake_case and 2*3*4 maths",
    "escaped \\*star\\* and &amp; entity",
    "<b>html</b> inline",  # not plain: drawn by Rich
    "> a quote",  # not a paragraph
    "Heading\n===",  # not a paragraph
    "![image](x.png) text",
]


@pytest.mark.parametrize("source", PARAGRAPHS)
@pytest.mark.parametrize("width", [12, 40, 100])
def test_the_paragraph_fast_path_draws_what_rich_markdown_draws(source: str, width: int) -> None:
    from tui_chat.render.prose import render_markdown, render_paragraph

    style = RenderStyle()
    fast = render_paragraph(source, style, width)
    if fast is not None:
        assert fast == render_markdown(source, style, width)
    # Only plain paragraphs take the fast path.
    plain = not any(mark in source for mark in ("<b>", "> ", "===", "!["))
    assert (fast is not None) == plain


def _random_plain_paragraph(rng: random.Random) -> str:
    """Words of the characters the plain path accepts, with runs of spaces, long words,
    indented and trailing-space lines and sometimes the streaming cursor at the end."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éÿ"
    marks = "\"#$%'()+,-./:;=>?@^{}–—‘’“”…"
    lines = []
    for _ in range(rng.randint(1, 4)):
        words = []
        for _ in range(rng.randint(1, 12)):
            size = rng.choice([1, 2, 3, 5, 8, 13, 30])
            word = "".join(rng.choice(letters if rng.random() < 0.85 else marks)
                           for _ in range(size))
            words.append(rng.choice(letters[:26]) + word)
        line = "".join(word + " " * rng.choice([1, 1, 1, 2, 3]) for word in words).rstrip()
        lines.append(" " * rng.randint(0, 3) + line + " " * rng.choice([0, 0, 1]))
    return "\n".join(lines) + rng.choice(["", "", "▌", " ▌"])


@pytest.mark.parametrize("text_style", [Style(), Style(color="red", bold=True)])
def test_plain_paragraphs_skip_markdown_and_still_draw_what_rich_markdown_draws(
        text_style: Style) -> None:
    from tui_chat.render.prose import render_markdown, render_paragraph
    from tui_chat.render.wrap import plain_paragraph

    style = RenderStyle(text=text_style)
    rng = random.Random(6)
    for _ in range(300):
        source = _random_plain_paragraph(rng)
        assert plain_paragraph(source) is not None, source
        for width in (1, 2, 7, rng.randint(3, 90)):
            fast = render_paragraph(source, style, width)
            rich = render_markdown(source, style, width)
            # Rich splits a line's text where markdown-it's tokens meet; cells and styles
            # are the same.
            assert [line.simplify() for line in fast or []] == \
                [line.simplify() for line in rich], (source, width)


def _random_styled_paragraph(rng: random.Random) -> str:
    """A plain paragraph with emphasis, code, links, strikethrough and hard breaks mixed in."""
    words = _random_plain_paragraph(rng).rstrip("▌").split(" ")
    marks = ["**{}**", "*{}*", "`{}`", "[{}](https://example.com/x)", "~~{}~~", "***{}***",
             "{}  \n", "` {} `", "**{} `code` x**"]
    for _ in range(rng.randint(1, 4)):
        index = rng.randrange(len(words))
        if words[index].strip():
            words[index] = rng.choice(marks).format(words[index].strip())
    return " ".join(words).strip() + rng.choice(["", "▌"])


@pytest.mark.parametrize("style", [
    RenderStyle(),
    RenderStyle(text=Style(color="red"), inline_code=Style(bgcolor="blue"),
                link=Style(underline=True, color="green")),
])
def test_styled_paragraphs_wrap_without_rich_and_draw_what_rich_markdown_draws(
        style: RenderStyle) -> None:
    from tui_chat.render.prose import paragraph_text, render_markdown, render_paragraph

    rng = random.Random(8)
    checked = 0
    for _ in range(300):
        source = _random_styled_paragraph(rng)
        if paragraph_text(source, style) is None:
            continue  # markdown-it read it as more than a paragraph: not this path
        checked += 1
        for width in (1, 2, 7, rng.randint(3, 90)):
            fast = render_paragraph(source, style, width)
            rich = render_markdown(source, style, width)
            assert [line.simplify() for line in fast or []] == \
                [line.simplify() for line in rich], (source, width)
    assert checked > 250


@pytest.mark.parametrize("style", [
    RenderStyle(),
    RenderStyle(list_bullet=Style(color="yellow", bold=True), inline_code=Style(bgcolor="blue")),
])
def test_list_items_are_drawn_without_rich_as_rich_markdown_draws_them(
        style: RenderStyle) -> None:
    from tui_chat.render.prose import render_list_item, render_markdown

    rng = random.Random(9)
    drawn = 0
    for _ in range(300):
        marker = rng.choice(["-", "*", "+", "1.", "7)", "12.", "003.", "123456789."])
        text = (_random_styled_paragraph(rng) if rng.random() < 0.5
                else _random_plain_paragraph(rng)).lstrip()
        # Continuation lines indented to the text, as the document hands them over.
        pad = " " * (len(marker) + 1)
        source = f"{marker}{' ' * rng.randint(1, 4)}" + f"\n{pad}".join(
            line.strip() or "x" for line in text.split("\n"))
        for width in (rng.randint(6, 20), rng.randint(20, 90)):
            fast = render_list_item(source, style, width)
            if fast is None:
                continue  # markdown-it read more than one paragraph into it, or wide text
            drawn += 1
            assert fast == render_markdown(source, style, width), (source, width)
    assert drawn > 500


@pytest.mark.parametrize("source", [
    "- one\n  - nested", "-      indented code", "- # heading", "- > quote", "-", "- ",
    "1.\n   text on the next line", "- ```", "- wide 你好",
])
def test_list_items_with_more_than_a_paragraph_are_left_to_rich(source: str) -> None:
    from tui_chat.render.prose import render_list_item

    assert render_list_item(source, RenderStyle(), 40) is None


def test_a_paragraph_with_wide_characters_is_wrapped_by_rich() -> None:
    from tui_chat.render.prose import paragraph_text
    from tui_chat.render.wrap import wrap_styled

    style = RenderStyle()
    assert wrap_styled(paragraph_text("**wide** 你好 text", style), 10) is None
    assert wrap_styled(paragraph_text("**narrow** text", style), 10) is not None


@pytest.mark.parametrize("source", [
    "- item", "* item", "+ item", "1. item", "12) item", "# heading", "> quote", "    code",
    "text\n---", "text\n===", "text\n- item", "a *b*", "a _b_", "a `b`", "a ~~b~~",
    "a [b](c)", "a <b>", "&amp;", "a \\* b", "a | b", "hard  \nbreak", "one\n\ntwo",
    "tab\there", "wide 你好", "emoji 🙂", "3.14 is pi", "", "  ",
])
def test_anything_markdown_could_read_more_into_takes_the_markdown_path(source: str) -> None:
    from tui_chat.render.wrap import plain_paragraph

    assert plain_paragraph(source) is None


def test_every_character_the_plain_path_accepts_takes_one_cell() -> None:
    from tui_chat.render.wrap import plain_paragraph

    accepted = [chr(code) for code in range(0x20, 0x3000)
                if plain_paragraph("a" + chr(code)) is not None]
    assert len(accepted) > 150  # letters, digits, most punctuation, Latin-1 letters, quotes
    assert all(cell_len(char) == 1 for char in accepted)


def test_a_budget_draws_a_flood_over_several_calls_and_ends_the_same() -> None:
    text = "".join(f"Paragraph {i} with **bold** and `code` words.\n\n" for i in range(60))
    text += "The open tail"
    whole = StreamingDocument(text).render(50, cursor="▌")
    document = StreamingDocument(text)
    calls = 0
    heights = []
    while True:
        lines = document.render(50, cursor="▌", budget=0.0)  # one block a call at least
        calls += 1
        heights.append(len(lines))
        if not document.behind:
            break
        assert "▌" not in "".join(strip.text for strip in lines)  # no tail while behind
    assert lines == whole
    assert calls > 10 and heights == sorted(heights)  # it grew step by step


def test_a_code_block_closed_while_streaming_is_lexed_whole_once_there_is_time() -> None:
    # Per line, the middle of a triple-quoted string looks like code; lexed whole, a string.
    text = 'Before\n\n```python\ns = """\nif x in y: pass\n"""\n```\n\nAfter the block'
    width = 50
    expected = whole(text, width)
    document = StreamingDocument()
    for piece in chunks(text, seed=3):
        document.append(piece)
        document.render(width, cursor="▌", budget=1.0, relex=False)  # as while streaming
    assert document.unlexed
    streamed = document.render(width, relex=False)
    assert streamed != expected  # the string's middle line is coloured as code
    assert [strip.text for strip in streamed] == [strip.text for strip in expected]
    document.finish()
    assert document.render(width) == expected
    assert not document.unlexed
