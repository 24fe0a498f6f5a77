"""`tui-chat ask`: one question, the answer streamed to stdout as plain text. No TUI.

    tui-chat ask "what is a monad?"
    git diff | tui-chat ask "review this"
    tui-chat ask --json "one line summary" < notes.txt
    tui-chat ask -a src/app.py -a screenshot.png "why does the button overflow?"

Exit status: 0 answered, 1 the request failed (or the answer could not be saved), 2 bad input or
settings, 130 Ctrl+C, 141 the reader of stdout went away (`| head`). A retry wait is announced
on stderr always (one line each), not only on a terminal: a script's log should show why a call
was slow. "(cached)" goes to stderr only on a terminal; --json says `"cached": true`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
from collections.abc import Callable
from contextlib import aclosing
from typing import Any, BinaryIO, TextIO

from tui_chat.attachments import AttachmentError, check_total, read_attachment
from tui_chat.command_line import (
    open_store,
    relay_provider,
    settings_for_relay,
    settings_from_args,
    silence,
    subcommand_options,
)
from tui_chat.config import ConfigError
from tui_chat.models import (
    Attachment,
    Message,
    ProviderError,
    RequestParams,
    StoredStatus,
    StreamBroken,
)


def add_ask_parser(
    subparsers: Any,
    add_options: Callable[[argparse.ArgumentParser], None] = subcommand_options,
) -> None:
    ask = subparsers.add_parser(
        "ask", help="ask one question and print the answer (no TUI; reads stdin when piped)",
        description="Ask one question and stream the answer to stdout as plain text. When "
                    "stdin is piped, its text is added after the question.",
    )
    ask.add_argument("prompt", nargs="*", help="the question")
    ask.add_argument("-a", "--attach", action="append", default=[], metavar="FILE",
                     help="attach a file (repeatable): text goes in as a fenced block named "
                          "by its path, a PNG/JPEG/WebP/GIF image as an image part")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ask.add_argument("--no-save", action="store_true", help="do not store the exchange")
    ask.add_argument("--cache", action="store_true", default=None,
                     help="answer an identical earlier request from the local cache "
                          "(or set cache = true in the config)")
    add_options(ask)
    ask.set_defaults(ask_command=True)


def valid_text(text: str) -> str:
    """Undecodable bytes (kept by Python as lone surrogates) become U+FFFD: they cannot be
    sent as JSON or stored in SQLite."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def read_stdin(stdin: TextIO | None) -> str:
    """Piped text, or "" for a terminal or a closed stdin; any bytes are accepted (a diff of a
    Latin-1 file must not crash the command)."""
    if stdin is None or stdin.closed or stdin.isatty():
        return ""
    raw: BinaryIO | None = getattr(stdin, "buffer", None)
    if raw is None:
        return valid_text(stdin.read())
    return raw.read().decode("utf-8", "replace")


def read_prompt(args: argparse.Namespace, stdin: TextIO | None) -> str:
    question = valid_text(" ".join(args.prompt).strip())
    piped = read_stdin(stdin)
    if question and piped.strip():
        return f"{question}\n\n{piped}"
    return question or piped.strip()


def fail(message: str, code: int, err: TextIO) -> int:
    print(f"tui-chat: {message}", file=err)
    return code


def ask_command(args: argparse.Namespace, *, stdin: TextIO | None = None,
                out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `ask`; 0 on success, 1 when the request fails, 2 for bad input or settings,
    130 on Ctrl+C, 141 when stdout's reader has gone."""
    stdin = sys.stdin if stdin is None else stdin
    if out is None:
        out = sys.stdout
        # A non-UTF-8 locale must not turn one emoji in the answer into a traceback.
        reconfigure = getattr(out, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    err = sys.stderr if err is None else err
    try:
        settings = settings_for_relay(args, settings_from_args(args))
    except ConfigError as error:
        return fail(str(error), 2, err)
    prompt = read_prompt(args, stdin)
    try:
        limits = settings.attachment_limits
        files = tuple(read_attachment(path, limits=limits)
                      for path in getattr(args, "attach", None) or ())
        check_total(files, limits)
    except AttachmentError as error:
        return fail(str(error), 2, err)
    if not prompt and not files:
        return fail("nothing to ask: give a question or pipe text in", 2, err)
    if len(prompt) > settings.max_input_chars:
        return fail(f"the question is {len(prompt):,} characters; the limit is "
                    f"{settings.max_input_chars:,} (max_input_chars)", 2, err)
    from tui_chat.local import EngineError, prepare

    engine = None
    try:
        if not getattr(args, "relay", None):
            settings, engine = prepare(settings)  # the local model, when it is wanted
        if engine is not None:
            from tui_chat.local.cli import wait_for_engine

            wait_for_engine(engine, err)
        return asyncio.run(_ask(settings, prompt, args, out, err, files))
    except EngineError as error:
        return fail(str(error), 1, err)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Like any Unix filter whose reader left: no message, the status SIGPIPE would give.
        silence(out)
        return 141
    finally:
        if engine is not None:
            engine.stop()


async def _ask(settings: Any, prompt: str, args: argparse.Namespace, out: TextIO,
               err: TextIO, files: tuple[Attachment, ...] = ()) -> int:
    from tui_chat.providers import make_provider
    from tui_chat.sanitize import sanitize, sanitize_line
    from tui_chat.session import Exchange, RetryPending, RetryPolicy
    from tui_chat.store import StoreError

    store = None
    conversation = answer_id = None
    if not args.no_save:
        try:
            store = open_store(getattr(args, "db", None))
            conversation = store.create_conversation(
                model=settings.model, system=settings.system,
                temperature=settings.temperature, max_tokens=settings.max_tokens)
            store.set_title_if_empty(conversation, prompt or files[0].name)
            store.add_message(conversation, "user", prompt, model=settings.model,
                              attachments=files)
            answer_id = store.start_answer(conversation, model=settings.model)
        except StoreError as error:
            return fail(str(error), 2, err)

    def retrying(pending: RetryPending | None) -> None:
        if pending is not None:
            wait = max(0.0, pending.resume_at - loop.time())
            print(f"tui-chat: retrying in {wait:.0f} s: "
                  f"{sanitize_line(str(pending.error))}", file=err, flush=True)

    loop = asyncio.get_running_loop()
    terminal = out.isatty()
    messages = [Message("system", settings.system)] if settings.system else []
    messages.append(Message("user", prompt, files))
    params = RequestParams(settings.model, temperature=settings.temperature,
                           max_tokens=settings.max_tokens, stream=settings.stream)
    cache = key = None
    provider: Any
    if args.cache or settings.cache:
        from tui_chat import locations
        from tui_chat.providers.scripted import ScriptedProvider
        from tui_chat.response_cache import ResponseCache, request_key

        try:
            database = getattr(args, "db", None) or locations.database_file()
            cache = ResponseCache(database.with_name("cache.db"))
            key = request_key(getattr(args, "relay", None) or settings.base_url, messages,
                              params)
            hit = cache.get(key)
        except (OSError, sqlite3.Error) as error:
            return fail(f"cannot open the response cache: {error}", 2, err)
    if cache is not None and hit is not None:
        from tui_chat.models import Delta, Finished

        provider = ScriptedProvider([Delta(hit[0]), Finished(hit[1] or "stop")])
        if err.isatty() and not args.json:
            print("(cached)", file=err)
    else:
        hit = None
        provider = relay_provider(args, settings) or make_provider(settings)
    exchange = Exchange(
        provider, messages, params,
        retry=RetryPolicy(retries=settings.retries, max_delay=settings.retry_max_wait),
        clock=loop.time, on_retry=retrying,
    )
    # Anything unforeseen stores the answer as failed, never as done.
    status: StoredStatus = "failed"
    error_text, code = None, 1
    last_save = loop.time()
    try:
        async with aclosing(exchange.display_text()) as pieces:
            async for text in pieces:
                if not args.json:
                    # Verbatim into a pipe or file; made safe only on a terminal, the one
                    # place control characters could act.
                    out.write(sanitize(text) if terminal else text)
                    out.flush()
                if store is not None and answer_id is not None \
                        and loop.time() - last_save >= 0.5:
                    # Like the app: a killed process loses at most about half a second.
                    last_save = loop.time()
                    try:
                        store.save_partial(answer_id, exchange.text)
                    except StoreError:
                        pass  # the answer still prints; the final save reports trouble
        status, code = "done", 0
    except BrokenPipeError:
        # The reader stopped reading, as if the user had stopped the answer.
        status, code = "cancelled", 141
        silence(out)
    except ProviderError as error:
        broken = isinstance(error, StreamBroken) and exchange.parts
        status = "interrupted" if broken else "failed"
        error_text = sanitize_line(str(error))
        code = 1
    except asyncio.CancelledError:
        status, code = "cancelled", 130
    finally:
        await provider.aclose()
        if cache is not None:
            try:
                if hit is None and status == "done" and key is not None:
                    cache.put(key, exchange.text, exchange.finish_reason)
            except sqlite3.Error as error:
                # The answer is printed and stored; a cache that cannot take it only costs
                # a request next time.
                print(f"tui-chat: cannot write the response cache: {error}", file=err)
            finally:
                cache.close()
        if store is not None and answer_id is not None:
            try:
                store.finish_answer(answer_id, exchange.text, status,
                                    metrics=exchange.metrics, error=error_text)
            except StoreError as error:
                if error_text is None:
                    error_text = f"the answer was not saved: {error}"
                    code = code or 1
            finally:
                store.close()
    if code == 141:
        return code
    if args.json:
        metrics = exchange.metrics
        usage = None
        if metrics.completion_tokens is not None:
            prompt_tokens = metrics.prompt_tokens or 0
            usage = {"prompt_tokens": prompt_tokens,
                     "completion_tokens": metrics.completion_tokens,
                     "total_tokens": prompt_tokens + metrics.completion_tokens}
        print(json.dumps({
            "model": getattr(provider, "reported_model", None) or settings.model,
            "content": exchange.text,
            "finish_reason": exchange.finish_reason, "status": status, "error": error_text,
            "usage": usage, "ttft": metrics.ttft, "total_time": metrics.total_time,
            "cached": hit is not None,
            "conversation_id": conversation,
        }, ensure_ascii=False), file=out)
    elif exchange.parts:
        out.write("\n")
        out.flush()
    if error_text:
        print(f"tui-chat: {error_text}", file=err)
    return code
