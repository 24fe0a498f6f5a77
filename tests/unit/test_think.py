"""The `<think>` splitter: the same pieces whatever the chunking, tags cut at any character."""

from __future__ import annotations

import itertools

import pytest

from tui_chat.providers.think import ThinkSplitter


def split(chunks: list[str]) -> tuple[str, str]:
    """(reasoning, answer) as a reader of the pieces ends up with them: chunking must not
    change them. A retraction moves the answer so far to the reasoning."""
    splitter = ThinkSplitter()
    pieces = [piece for chunk in chunks for piece in splitter.feed(chunk)] + splitter.close()
    reasoning = answer = ""
    for kind, text in pieces:
        if kind == "retract":
            assert not reasoning, "a retraction comes only before any reasoning"
            reasoning, answer = answer, ""
        elif kind == "reasoning":
            assert not answer, "reasoning comes only before the answer"
            reasoning += text
        else:
            answer += text
    return reasoning, answer


CASES = {
    "tags": ("<think>\nLet me see.\n</think>\n\nThe answer.", ("\nLet me see.\n", "The answer.")),
    "no opening tag": ("Hmm, two and two.</think>\n\nFour.", ("Hmm, two and two.", "Four.")),
    "no reasoning": ("Just <b>an</b> answer, <think> not at the start.",
                     ("", "Just <b>an</b> answer, <think> not at the start.")),
    "starts like a tag": ("<thin ice>", ("", "<thin ice>")),
    "unclosed": ("<think>still thinking </thi", ("still thinking </thi", "")),
    "empty answer": ("<think>only thought</think>\n", ("only thought", "")),
    "leading blank": ("\n<think>a</think>b", ("a", "b")),
}


@pytest.mark.parametrize("name", CASES)
def test_every_single_split_point_gives_the_same_pieces(name: str) -> None:
    text, expected = CASES[name]
    assert split([text]) == expected
    for cut in range(1, len(text)):
        assert split([text[:cut], text[cut:]]) == expected, cut


@pytest.mark.parametrize("name", ["tags", "no opening tag"])
def test_every_pair_of_split_points_gives_the_same_pieces(name: str) -> None:
    text, expected = CASES[name]
    for first, second in itertools.combinations(range(1, len(text)), 2):
        chunks = [text[:first], text[first:second], text[second:]]
        assert split(chunks) == expected, (first, second)


def test_character_by_character() -> None:
    for text, expected in CASES.values():
        assert split(list(text)) == expected


def test_answer_is_not_held_back_once_it_is_not_a_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<") == []  # might be "<think>"
    assert splitter.feed("p>Hi") == [("answer", "<p>Hi")]
    assert splitter.feed(" there") == [("answer", " there")]


def test_reasoning_streams_as_it_comes_holding_only_a_possible_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<think>one") == [("reasoning", "one")]
    assert splitter.feed(" two </") == [("reasoning", " two ")]
    assert splitter.feed("think>Done") == [("answer", "Done")]
