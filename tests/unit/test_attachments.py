"""Reading files to attach: types by magic bytes, image sizes from headers, fences, limits,
the one-line refusals, and `@path` words."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import images
from tui_chat.attachments import (
    AttachmentError,
    Limits,
    check_total,
    describe,
    fenced,
    human_size,
    image_size,
    image_type,
    mentioned_paths,
    message_text,
    read_attachment,
)
from tui_chat.models import Attachment, Message


@pytest.mark.parametrize(("data", "mime", "size"), [
    (images.png(3, 2), "image/png", (3, 2)),
    (images.gif(5, 4), "image/gif", (5, 4)),
    (images.jpeg(640, 480), "image/jpeg", (640, 480)),
    (images.webp_lossy(320, 200), "image/webp", (320, 200)),
    (images.webp_lossless(17, 9), "image/webp", (17, 9)),
    (images.webp_extended(1000, 700), "image/webp", (1000, 700)),
])
def test_images_are_told_by_magic_bytes_and_sized_from_their_header(
        tmp_path: Path, data: bytes, mime: str, size: tuple[int, int]) -> None:
    path = tmp_path / "picture.txt"  # the name says text; the bytes say otherwise
    path.write_bytes(data)
    attachment = read_attachment(path, name="picture.txt")
    assert (attachment.mime, attachment.width, attachment.height) == (mime, *size)
    assert attachment.is_image and attachment.data == data


def test_a_cut_short_header_gives_no_size_rather_than_an_error() -> None:
    data = images.png()[:14]
    assert image_type(data) == "image/png"
    assert image_size(data, "image/png") is None
    assert image_size(images.jpeg()[:20], "image/jpeg") is None


def test_a_text_file_with_an_image_extension_is_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just words\n", encoding="utf-8")
    attachment = read_attachment(path)
    assert attachment.mime == "text/plain" and attachment.text == "just words\n"


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b"\x7fELF\x02\x01\x00\x00" * 10), "a binary file, neither text"),
    (lambda p: p.write_bytes("café".encode("latin-1")), "not UTF-8 text"),
    (lambda p: p.write_bytes(b"x" * 101), "over the limit of 100 B per file"),
])
def test_every_refusal_is_one_line_naming_the_file(tmp_path: Path, make: object,
                                                   expected: str) -> None:
    path = tmp_path / "thing"
    make(path)  # type: ignore[operator]
    with pytest.raises(AttachmentError) as raised:
        read_attachment(path, name="thing", limits=Limits(per_file=100))
    message = str(raised.value)
    assert message.startswith("thing: ") and expected in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_file_is_refused_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("x")
    path.chmod(0)
    with pytest.raises(AttachmentError, match=r"secret.txt: cannot read it \(Permission denied\)"):
        read_attachment(path, name="secret.txt")


def test_the_total_per_message_is_limited() -> None:
    files = [Attachment("a", "text/plain", b"x" * 60), Attachment("b", "text/plain", b"y" * 60)]
    check_total(files[:1], Limits(per_message=100))
    with pytest.raises(AttachmentError, match="add up to 120 B, over the limit of 100 B"):
        check_total(files, Limits(per_message=100))


def test_the_fence_is_longer_than_any_backtick_run_in_the_file() -> None:
    text = "before\n````python\ncode\n````\nafter ``` inline\n"
    block = fenced(Attachment("docs/a.md", "text/plain", text.encode()))
    assert block.startswith("`````docs/a.md\n") and block.endswith("\n`````")
    assert block.count("`````") == 2
    plain = fenced(Attachment("x.py", "text/plain", b"print(1)\n"))
    assert plain == "```x.py\nprint(1)\n```"


def test_a_path_with_a_backtick_gets_a_tilde_fence() -> None:
    block = fenced(Attachment("we`ird.txt", "text/plain", b"~~~~ hi"))
    assert block == "~~~~~we`ird.txt\n~~~~ hi\n~~~~~"


def test_message_text_puts_text_files_before_what_was_typed_and_leaves_images_out() -> None:
    message = Message("user", "review this", (
        Attachment("a.py", "text/plain", b"x = 1\n"),
        Attachment("p.png", "image/png", images.png()),
    ))
    assert message_text(message) == "```a.py\nx = 1\n```\n\nreview this"
    assert message_text(Message("user", "plain")) == "plain"


def test_describe_and_sizes() -> None:
    image = Attachment("shot.png", "image/png", images.png(3, 2), 3, 2)
    assert describe(image) == f"shot.png · {len(image.data)} B · 3×2 · PNG"
    assert describe(Attachment("a.txt", "text/plain", b"x" * 14_200)) == "a.txt · 14.2 kB"
    assert human_size(3_100_000) == "3.1 MB" and human_size(999) == "999 B"


def test_sha256_is_of_the_bytes_and_the_same_file_is_equal() -> None:
    one = Attachment("a.txt", "text/plain", b"same")
    assert one.sha256 == "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5"
    assert Attachment("a.txt", "text/plain", b"same") == one


def test_at_paths_attach_only_what_exists(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("m")
    text = ("see @notes.md, and @src/main.py; mail me at a@b.com or @nobody, "
            "@missing.txt and again @notes.md.")
    assert mentioned_paths(text, tmp_path) == ["notes.md", "src/main.py"]
    assert mentioned_paths("@src", tmp_path) == ["src"]  # then refused as a directory
    assert mentioned_paths("email: someone@notes.md", tmp_path) == []
    assert mentioned_paths("@", tmp_path) == []


def test_attached_files_count_against_the_context_budget() -> None:
    from tui_chat.context_window import IMAGE_TOKENS, fit_context, message_tokens

    big = Attachment("big.txt", "text/plain", b"word " * 4000)
    old = Message("user", "old question", (big,))
    history = [old, Message("assistant", "ok"), Message("user", "new")]
    assert message_tokens(old) > 4000
    assert message_tokens(Message("user", "", (Attachment("p", "image/png", b""),))) \
        >= IMAGE_TOKENS
    kept, dropped = fit_context("", history, max_tokens=1000)
    assert kept == [history[2]] and dropped == 2


def test_the_cache_key_tells_attached_files_apart() -> None:
    from tui_chat.models import RequestParams
    from tui_chat.response_cache import request_key

    params = RequestParams("m")
    plain = request_key("http://x/v1", [Message("user", "q")], params)
    one = request_key("http://x/v1", [Message("user", "q", (Attachment("a", "text/plain", b"1"),))],
                      params)
    two = request_key("http://x/v1", [Message("user", "q", (Attachment("a", "text/plain", b"2"),))],
                      params)
    assert len({plain, one, two}) == 3
