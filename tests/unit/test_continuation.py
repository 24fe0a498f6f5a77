"""Which start of a continuation repeats the partial answer, and when the trimmer lets go."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_chat.config import ConfigError, load_settings
from tui_chat.continuation import (
    OverlapTrimmer,
    continuation_messages,
    continue_mode,
    overlap,
)
from tui_chat.models import Message


@pytest.mark.parametrize(("partial", "continuation", "repeated"), [
    ("The crew of Apollo 11 was", " Armstrong, Aldrin and Collins.", 0),
    ("The crew of Apollo 11 was", "Apollo 11 was Armstrong, Aldrin", len("Apollo 11 was")),
    ("The crew of Apollo 11 was", "The crew of Apollo 11 was three men.", 25),
    ("I went to the ", "the shop.", 0),  # short: as likely the text going on
    ("    return x\n    ", "    return y", 0),  # indentation is no repeat
    ("", "anything", 0),
])
def test_overlap(partial: str, continuation: str, repeated: int) -> None:
    assert overlap(partial, continuation) == repeated


def test_the_trimmer_holds_only_while_the_text_could_be_a_repeat() -> None:
    trimmer = OverlapTrimmer("The crew of Apollo 11 was")
    assert trimmer.feed("Apollo") == ""  # could be a repeat
    assert trimmer.feed(" 11 was") == ""
    assert trimmer.feed(" three") == " three"  # it was: dropped, the rest passes
    assert trimmer.feed(" men.") == " men."
    fresh = OverlapTrimmer("The crew of Apollo 11 was")
    assert fresh.feed(" Armstrong") == " Armstrong"
    ended = OverlapTrimmer("The crew of Apollo 11 was")
    assert ended.feed("Apollo 11 was") == ""
    assert ended.finish() == ""  # nothing new came: all of it was a repeat


def test_the_request_ends_with_the_partial_answer_or_an_instruction() -> None:
    history = [Message("user", "q"), Message("assistant", "half")]
    assert continuation_messages(history, "prefill") == history
    assert continuation_messages(history, "instruct")[-1].role == "user"
    with pytest.raises(ValueError, match="partial answer"):
        continuation_messages(history[:1], "prefill")


def test_the_setting_defaults_to_auto_and_refuses_other_values(tmp_path: Path) -> None:
    assert load_settings(None, {}).continue_mode == "auto"
    assert continue_mode("auto", embedded_engine=True) == "prefill"
    assert continue_mode("auto", embedded_engine=False) == "instruct"
    assert continue_mode("prefill", embedded_engine=False) == "prefill"
    path = tmp_path / "config.toml"
    path.write_text('continue_mode = "instruct"\n', encoding="utf-8")
    assert load_settings(path, {}).continue_mode == "instruct"
    path.write_text('model = "m"\ncontinue_mode = "resume"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "line 2" in str(caught.value) and "auto, prefill, instruct" in str(caught.value)
