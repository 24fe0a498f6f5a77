"""Context budget: token estimates for Latin and CJK text, and which messages are sent."""

from __future__ import annotations

import pytest

from tui_chat.context_window import (
    MESSAGE_OVERHEAD,
    estimate_tokens,
    fit_context,
    without_unanswered,
)
from tui_chat.models import Message


def turns(*contents: str) -> list[Message]:
    """Alternating user / assistant messages, user first."""
    return [Message("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(contents)]


class TestEstimate:
    def test_latin_text_is_about_four_characters_a_token(self) -> None:
        assert estimate_tokens("") == 0
        assert estimate_tokens("abcd" * 100) == 100
        assert estimate_tokens("abcde") == 2  # a started token counts

    def test_each_wide_character_is_a_token(self) -> None:
        assert estimate_tokens("今天天气很好") == 6
        assert estimate_tokens("こんにちは") == 5
        assert estimate_tokens("안녕하세요") == 5
        assert estimate_tokens("ＡＢＣ") == 3  # fullwidth forms

    def test_mixed_text_adds_both(self) -> None:
        assert estimate_tokens("Tokyo 東京 trip") == 2 + 3  # 2 wide, then 11 narrow chars


class TestFit:
    def test_everything_fits(self) -> None:
        history = turns("hi", "hello", "how are you?")

        kept, trimmed = fit_context("Be kind.", history)

        assert (kept, trimmed) == (history, 0)

    def test_message_count_limit_keeps_the_most_recent(self) -> None:
        history = turns(*(f"m{i}" for i in range(25)))

        kept, trimmed = fit_context("", history, max_messages=5)

        assert kept == history[-5:]
        assert trimmed == 20
        assert kept[0].role == "user"

    def test_token_budget_drops_whole_old_messages(self) -> None:
        history = turns("a" * 400, "b" * 400, "c" * 40)  # 100, 100 and 10 tokens
        cost = [100 + MESSAGE_OVERHEAD, 100 + MESSAGE_OVERHEAD, 10 + MESSAGE_OVERHEAD]

        kept, trimmed = fit_context("", history, max_tokens=cost[1] + cost[2])

        # "b" is an answer whose question was left out, so it goes too.
        assert (kept, trimmed) == (history[2:], 2)

    def test_system_prompt_takes_its_share_of_the_budget(self) -> None:
        history = turns("q" * 40, "a" * 40, "q" * 40)  # 14 tokens each with overhead
        system = "s" * 40  # 14 tokens with overhead

        assert fit_context("", history, max_tokens=42) == (history, 0)
        assert fit_context(system, history, max_tokens=42) == (history[2:], 2)

    def test_latest_question_is_sent_even_over_budget(self) -> None:
        history = turns("short", "reply", "x" * 10_000)

        kept, trimmed = fit_context("", history, max_tokens=50, max_messages=1)

        assert (kept, trimmed) == (history[2:], 2)

    def test_messages_after_the_latest_question_are_kept_with_it(self) -> None:
        history = [*turns("old", "old answer", "question"), Message("assistant", "partial")]

        kept, trimmed = fit_context("", history, max_messages=1)

        assert (kept, trimmed) == (history[2:], 2)

    def test_a_cjk_history_runs_out_sooner_than_latin(self) -> None:
        latin = turns("word " * 80, "ok", "next")  # 100 tokens
        chinese = turns("字" * 400, "ok", "next")  # 400 tokens

        assert fit_context("", latin, max_tokens=150) == (latin, 0)
        assert fit_context("", chinese, max_tokens=150)[1] == 2

    def test_a_message_is_never_split(self) -> None:
        history = turns("a" * 4000, "b", "c")

        kept, _ = fit_context("", history, max_tokens=500)

        assert all(m in history for m in kept)

    def test_history_opening_with_an_answer_is_kept_when_nothing_is_trimmed(self) -> None:
        history = [Message("assistant", "Welcome!"), Message("user", "hi")]

        assert fit_context("", history) == (history, 0)

    def test_max_messages_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="max_messages"):
            fit_context("", turns("hi"), max_messages=0)


class TestUnanswered:
    def test_user_turns_without_an_answer_are_left_out_except_the_last(self) -> None:
        u, a = (lambda t: Message("user", t)), (lambda t: Message("assistant", t))
        history = [u("q0"), a("a0"), u("failed 1"), u("failed 2"), u("q3"), a("partial"),
                   u("failed 4"), u("now")]
        assert without_unanswered(history) == [u("q0"), a("a0"), u("q3"), a("partial"),
                                               u("now")]
        assert without_unanswered([u("retried")]) == [u("retried")]
        assert without_unanswered([]) == []
