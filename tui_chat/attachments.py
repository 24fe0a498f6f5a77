"""Files attached to a message: read and checked from disk, told apart by their first bytes,
and turned into what a model is sent (text files as fenced blocks, images as data URLs).

No Textual and no SDK here: the chat screen, `ask -a` and the provider all use it.
"""

from __future__ import annotations

import base64
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tui_chat.models import IMAGE_TYPES, TEXT_TYPE, Attachment, Message
from tui_chat.sanitize import sanitize_line

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
"""Largest file one attachment may be (config: `max_attachment_bytes`). OpenAI takes images
up to 20 MB; a text file this large would not fit any model's context anyway."""
DEFAULT_MAX_MESSAGE_BYTES = 20 * 1024 * 1024
"""Largest total of one message's attachments (config: `max_message_attachment_bytes`);
images travel base64-encoded, a third larger."""

_BINARY_PROBE = 8192
"""Bytes looked at for a NUL, the mark of a binary file."""


class AttachmentError(Exception):
    """A file cannot be attached. `str(error)` is one line for the person, naming the file."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much may be attached (see the defaults above)."""

    per_file: int = DEFAULT_MAX_FILE_BYTES
    per_message: int = DEFAULT_MAX_MESSAGE_BYTES


def human_size(size: int) -> str:
    """"812 B", "14.2 kB", "3.1 MB" (decimal units, as file managers show them)."""
    if size < 1000:
        return f"{size} B"
    if size < 999_950:
        return f"{size / 1e3:.1f} kB"
    if size < 999_950_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.1f} GB"


def image_type(data: bytes) -> str | None:
    """The image format told by the file's magic bytes, or None when it is none we send."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) read from the image's header, or None when the header is cut short or
    not understood. Reads only the few bytes that hold the size; no image library needed."""
    try:
        if mime == "image/png":
            if data[12:16] == b"IHDR":
                width, height = struct.unpack(">II", data[16:24])
                return width, height
            return None
        if mime == "image/gif":
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if mime == "image/webp":
            return _webp_size(data)
        if mime == "image/jpeg":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: 24-bit sizes, minus one
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":  # lossless: 14-bit sizes, minus one, packed after a 0x2f byte
        if data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":  # lossy: after a frame tag and the start code 9d 01 2a
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
"""Start-of-frame markers (not DHT 0xC4, JPG 0xC8, DAC 0xCC, which share the range)."""


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            index += 2
            continue
        (length,) = struct.unpack(">H", data[index + 2:index + 4])
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[index + 5:index + 9])
            return width, height
        index += 2 + length
    return None


def read_attachment(path: str | Path, *, limits: Limits = Limits(),
                    name: str | None = None, cwd: Path | None = None) -> Attachment:
    """Read a file to attach: an image (PNG, JPEG, WebP, GIF, told by its first bytes) or
    UTF-8 text.

    Args:
        path: Where the file is; `~` is expanded.
        name: What to call it (the fenced block's label, the chip); the path as given.
        cwd: What a relative path is relative to (the current directory by default).

    Raises:
        AttachmentError: missing, a directory, unreadable, too large, or binary but not an
            image we send; the message names the file.
    """
    shown = sanitize_line(name if name is not None else str(path))
    where = resolve(str(path), cwd)
    try:
        info = where.stat()
    except FileNotFoundError:
        raise AttachmentError(f"{shown}: no such file") from None
    except OSError as error:
        raise AttachmentError(f"{shown}: cannot read it ({error.strerror or error})") from None
    if where.is_dir():
        raise AttachmentError(f"{shown}: is a directory; attach the files in it one by one")
    if info.st_size > limits.per_file:
        raise AttachmentError(f"{shown}: {human_size(info.st_size)} is over the limit of "
                              f"{human_size(limits.per_file)} per file (max_attachment_bytes)")
    try:
        with where.open("rb") as file:
            data = file.read(limits.per_file + 1)  # a file that grew since stat: still capped
    except OSError as error:
        raise AttachmentError(f"{shown}: cannot read it ({error.strerror or error})") from None
    if len(data) > limits.per_file:
        raise AttachmentError(f"{shown}: over the limit of {human_size(limits.per_file)} per "
                              "file (max_attachment_bytes)")
    return attachment_from_bytes(shown, data)


def attachment_from_bytes(name: str, data: bytes) -> Attachment:
    """An attachment of `data`, checked like a file (see `read_attachment`)."""
    mime = image_type(data)
    if mime is not None:
        size = image_size(data, mime)
        width, height = size if size is not None else (None, None)
        return Attachment(name, mime, data, width, height)
    if b"\x00" in data[:_BINARY_PROBE]:
        raise AttachmentError(f"{name}: a binary file, neither text nor an image "
                              "(PNG, JPEG, WebP, GIF)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise AttachmentError(f"{name}: not UTF-8 text, and not an image "
                              "(PNG, JPEG, WebP, GIF)") from None
    return Attachment(name, TEXT_TYPE, data)


def check_total(attachments: Sequence[Attachment], limits: Limits) -> None:
    """Raise AttachmentError when the attachments together are over the per-message limit."""
    total = sum(attachment.size for attachment in attachments)
    if total > limits.per_message:
        raise AttachmentError(f"the attachments add up to {human_size(total)}, over the "
                              f"limit of {human_size(limits.per_message)} per message "
                              "(max_message_attachment_bytes)")


def describe(attachment: Attachment) -> str:
    """One line for a chip or an export: name, size and, for an image, its dimensions."""
    parts = [attachment.name, human_size(attachment.size)]
    if attachment.is_image:
        if attachment.width is not None and attachment.height is not None:
            parts.append(f"{attachment.width}×{attachment.height}")
        parts.append(attachment.mime.removeprefix("image/").upper())
    return " · ".join(parts)


# -- what the model is sent ---------------------------------------------------------------

def fenced(attachment: Attachment) -> str:
    """A text file as a fenced block labelled with its path. The fence is longer than any run
    of its characters inside the file, so the file cannot close the block early."""
    text = attachment.text.rstrip("\n")
    mark = "~" if "`" in attachment.name else "`"
    longest = max((len(run) for run in re.findall(re.escape(mark) + "+", text)), default=0)
    fence = mark * max(3, longest + 1)
    return f"{fence}{attachment.name}\n{text}\n{fence}"


def message_text(message: Message) -> str:
    """The text a model is sent for `message`: its text files as fenced blocks, then what
    was typed."""
    blocks = [fenced(a) for a in message.attachments if not a.is_image]
    if not blocks:
        return message.content
    return "\n\n".join([*blocks, message.content] if message.content else blocks)


def data_url(attachment: Attachment) -> str:
    """The image as a `data:` URL, the form OpenAI's `image_url` content part takes."""
    encoded = base64.b64encode(attachment.data).decode("ascii")
    return f"data:{attachment.mime};base64,{encoded}"


def has_images(messages: Sequence[Message]) -> bool:
    return any(a.is_image for message in messages for a in message.attachments)


# -- "@path" in a typed message -----------------------------------------------------------

_MENTION = re.compile(r"(?:^|(?<=\s))@(\S+)")
_TRAILING = ".,;:!?)]}'\""


def mentioned_paths(text: str, cwd: Path | None = None) -> list[str]:
    """The `@path` words of `text` that name something that exists (a file, or a directory,
    which `read_attachment` then refuses with a clear line), each once, in order.

    `@` must start a word, so an e-mail address (`a@b.com`) is text; `@` followed by
    something that is no path (`@everyone`) stays text too. Punctuation that ends a sentence
    (`see @notes.md.`) is not part of the path unless the file's name has it.
    """
    base = cwd if cwd is not None else Path.cwd()
    found: list[str] = []
    for match in _MENTION.finditer(text):
        word = match.group(1)
        for candidate in (word, word.rstrip(_TRAILING)):
            if not candidate:
                continue
            where = Path(os.path.expanduser(candidate))
            if not where.is_absolute():
                where = base / where
            try:
                exists = where.exists()
            except OSError:
                exists = False
            if exists:
                if candidate not in found:
                    found.append(candidate)
                break
    return found


def resolve(path: str, cwd: Path | None = None) -> Path:
    """Where `path` (as typed: relative, absolute or `~/...`) is."""
    where = Path(os.path.expanduser(path))
    return where if where.is_absolute() else (cwd if cwd is not None else Path.cwd()) / where


__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "IMAGE_TYPES",
    "AttachmentError",
    "Limits",
    "attachment_from_bytes",
    "check_total",
    "data_url",
    "describe",
    "fenced",
    "has_images",
    "human_size",
    "image_size",
    "image_type",
    "mentioned_paths",
    "message_text",
    "read_attachment",
    "resolve",
]
