"""The web server behind `tui-chat web`: our own small aiohttp application.

It serves textual-serve's browser client (its `textual.js`, xterm.css and fonts, read from the
installed package) with our own page, and runs one app process per browser tab, speaking
Textual's web-driver protocol with it. We do not use textual-serve's `Server`: it has no place
to refuse a request before an app process starts, and it does not end its app processes when it
is stopped. Every request passes `AccessGuard` first:

- `Host` must name this server on loopback (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`),
  which defeats DNS rebinding;
- `Origin`, when sent, must be this server; the WebSocket upgrade must carry it;
- the run's secret token: given once in the URL printed at start, then kept in an HttpOnly,
  SameSite=Strict cookie named after the port.

A refused request gets a 403 and starts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import textual_serve
from aiohttp import WSCloseCode, WSMsgType, web

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
SERVER_STOPPED = 4000
"""WebSocket close code that tells the page the server is stopping (not that the app quit)."""
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_CELLS = 1000


def clean_input(text: str) -> str:
    """Text from the browser, made encodable: a lone UTF-16 surrogate (valid in a JSON string
    escape, invalid in UTF-8) becomes U+FFFD instead of ending the session."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def textual_client_dir() -> Path:
    """textual-serve's static files (textual.js, xterm.css, fonts), as installed."""
    return Path(textual_serve.__file__).with_name("static")


class AccessGuard:
    """Decides whether a request comes from the owner's page on this machine."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.cookie_name = f"tui-chat-{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    def token_matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    def refusal(self, request: web.Request) -> str | None:
        """Why `request` is refused, or None to let it through."""
        if request.headers.get("Host", "") not in self.hosts:
            return "unknown Host"
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.origins:
            return "another origin"
        if request.path == "/favicon.ico":
            return None
        if request.path == "/ws" and origin is None:
            return "WebSocket without an Origin"
        if self.token_matches(request.cookies.get(self.cookie_name)):
            return None
        if request.path == "/" and self.token_matches(request.query.get("token")):
            return None
        return "no token"

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        reason = self.refusal(request)
        if reason is not None:
            log.warning("refused %s %s: %s", request.method, request.path, reason)
            return web.Response(
                status=403, content_type="text/plain",
                text="403: refused. Open the address that `tui-chat web` printed when it "
                     "started (it carries this run's key), in a browser on the same machine.\n")
        response = await handler(request)
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


class AppProcess:
    """One browser tab's app: a child process that speaks Textual's web-driver protocol.

    Input goes to its stdin as packets (`D` + length + bytes for keys, `M` + length + JSON for
    resize/focus/blur/quit); its stdout starts with a `__GANGLION__` line, then packets (`D` for
    terminal output, `M` for meta such as `exit`).
    """

    def __init__(self, argv: Sequence[str], *, on_output: Callable[[bytes], Awaitable[Any]],
                 on_open_url: Callable[[str, bool], Awaitable[Any]],
                 on_exit: Callable[[], Awaitable[Any]]) -> None:
        self.argv = list(argv)
        self._on_output = on_output
        self._on_open_url = on_open_url
        self._on_exit = on_exit
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_tail = b""

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def environment(self, width: int, height: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver",
            "TEXTUAL_FPS": "60",
            "TEXTUAL_COLOR_SYSTEM": "truecolor",
            "TERM_PROGRAM": "textual",
            "TERM_PROGRAM_VERSION": version("textual"),
            "COLUMNS": str(width),
            "ROWS": str(height),
            "TUI_CHAT_WEB_SERVER_PID": str(os.getpid()),
        })
        return env

    async def start(self, width: int, height: int) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.environment(width, height))
        self._reader = asyncio.create_task(self._read())

    async def _send(self, kind: bytes, payload: bytes) -> None:
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            return
        try:
            process.stdin.write(kind + len(payload).to_bytes(4, "big") + payload)
            await process.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # the app is ending; its reader reports that

    async def send_input(self, text: str) -> None:
        await self._send(b"D", clean_input(text).encode("utf-8"))

    async def send_meta(self, meta: dict[str, Any]) -> None:
        await self._send(b"M", json.dumps(meta).encode("utf-8"))

    async def resize(self, width: int, height: int) -> None:
        await self.send_meta({"type": "resize", "width": width, "height": height})

    async def _read(self) -> None:
        process = self.process
        assert process is not None and process.stdout is not None and process.stderr is not None
        stderr_task = asyncio.create_task(self._read_stderr(process.stderr))
        stdout = process.stdout
        try:
            for _ in range(10):  # anything printed before the driver starts
                line = await stdout.readline()
                if not line or line == b"__GANGLION__\n":
                    break
            while True:
                kind = await stdout.readexactly(1)
                size = int.from_bytes(await stdout.readexactly(4), "big")
                payload = await stdout.readexactly(size)
                if kind == b"D":
                    await self._on_output(payload)
                elif kind == b"M":
                    await self._on_meta(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stderr_task, 2)
            with contextlib.suppress(Exception):
                await self._on_exit()

    async def _on_meta(self, payload: bytes) -> None:
        try:
            meta = json.loads(payload)
        except ValueError:
            return
        if meta.get("type") == "exit":
            await self._on_exit()
        elif meta.get("type") == "open_url" and isinstance(meta.get("url"), str):
            await self._on_open_url(meta["url"], bool(meta.get("new_tab", True)))

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        while data := await stderr.read(4096):
            self._stderr_tail = (self._stderr_tail + data)[-8192:]
        if self._stderr_tail.strip():
            log.warning("app process %s wrote: %s", self.pid,
                        self._stderr_tail.decode("utf-8", "replace"))

    async def stop(self, grace: float = 3.0) -> None:
        """Ask the app to quit; terminate it, then kill it, if it does not within `grace`."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            await self.send_meta({"type": "quit"})
            for action in (None, process.terminate, process.kill):
                if action is not None:
                    with contextlib.suppress(ProcessLookupError):
                        action()
                try:
                    await asyncio.wait_for(process.wait(), grace)
                    break
                except TimeoutError:
                    continue
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, grace)


class WebServer:
    """The aiohttp application: page, client files, favicon, and one app per WebSocket."""

    def __init__(self, app_argv: Sequence[str], *, port: int, token: str | None = None,
                 title: str = "tui-chat") -> None:
        self.app_argv = list(app_argv)
        self.guard = AccessGuard(port, token or secrets.token_urlsafe(32))
        self.title = title
        self.sockets: dict[web.WebSocketResponse, AppProcess] = {}

    @property
    def token(self) -> str:
        return self.guard.token

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.guard.port}/?token={self.token}"

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self.guard.middleware])
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/favicon.ico", self.favicon)
        app.router.add_static("/tui-chat/", STATIC_DIR)
        app.router.add_static("/static/", textual_client_dir())
        app.on_shutdown.append(self.close_sockets)
        return app

    def content_security_policy(self, host: str) -> str:
        return ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                f"font-src 'self'; img-src 'self' data:; connect-src 'self' ws://{host}; "
                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

    async def index(self, request: web.Request) -> web.StreamResponse:
        if "token" in request.query:
            # First load: keep the token in a cookie and drop it from the address bar.
            rest = {k: v for k, v in request.query.items() if k != "token"}
            target = request.url.with_query(rest).relative()
            response: web.StreamResponse = web.HTTPSeeOther(location=str(target))
            response.set_cookie(self.guard.cookie_name, self.token, httponly=True,
                                samesite="Strict", path="/")
            return response
        try:
            font_size = min(max(int(request.query.get("fontsize", "16")), 6), 64)
        except ValueError:
            font_size = 16
        page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        page = (page.replace("{{title}}", self.title)
                .replace("{{websocket_url}}", f"ws://{request.host}/ws")
                .replace("{{font_size}}", str(font_size)))
        response = web.Response(text=page, content_type="text/html")
        response.headers["Content-Security-Policy"] = self.content_security_policy(request.host)
        response.headers["X-Frame-Options"] = "DENY"
        return response

    async def favicon(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "favicon.ico",
                                headers={"Content-Type": "image/x-icon"})

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=15, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        width = _cells(request.query.get("width"), 80)
        height = _cells(request.query.get("height"), 24)

        async def on_exit() -> None:
            await ws.close(code=WSCloseCode.OK, message=b"the app ended")

        async def on_open_url(url: str, new_tab: bool) -> None:
            await ws.send_json(["open_url", {"url": url, "new_tab": new_tab}])

        app = AppProcess(self.app_argv, on_output=ws.send_bytes, on_open_url=on_open_url,
                         on_exit=on_exit)
        self.sockets[ws] = app
        try:
            await app.start(width, height)
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self.dispatch(ws, app, message.data)
        finally:
            await app.stop()
            self.sockets.pop(ws, None)
        return ws

    async def dispatch(self, ws: web.WebSocketResponse, app: AppProcess, data: str) -> None:
        """One message from the page. Anything malformed is dropped; it never ends the tab."""
        try:
            envelope = json.loads(data)
        except ValueError:
            return
        if not isinstance(envelope, list) or not envelope:
            return
        kind, *args = envelope
        if kind == "stdin" and args and isinstance(args[0], str):
            await app.send_input(args[0])
        elif kind == "resize" and args and isinstance(args[0], dict):
            size = args[0]
            await app.resize(_cells(size.get("width"), 80), _cells(size.get("height"), 24))
        elif kind in ("focus", "blur"):
            await app.send_meta({"type": kind})
        elif kind == "ping" and args:
            await ws.send_json(["pong", args[0]])

    async def close_sockets(self, _app: web.Application) -> None:
        """On shutdown: tell every page the server stopped, and end every app process."""
        sockets = list(self.sockets.items())
        await asyncio.gather(
            *(ws.close(code=SERVER_STOPPED, message=b"server stopped") for ws, _ in sockets),
            return_exceptions=True)
        await asyncio.gather(*(app.stop() for _, app in sockets), return_exceptions=True)


def _cells(value: object, default: int) -> int:
    """A terminal dimension from the page, or `default` when it is not a number."""
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        return default
    try:
        cells = int(value)
    except (ValueError, OverflowError):
        return default
    return min(max(cells, 1), _MAX_CELLS)


def serve(app_argv: Sequence[str], host: str, port: int, title: str = "tui-chat") -> int:
    """Listen on host:port (0 picks a free port), print the address with its token, and serve
    until SIGINT/SIGTERM."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        print(f"tui-chat: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 2
    sock.listen(128)
    bound_port: int = sock.getsockname()[1]
    server = WebServer(app_argv, port=bound_port, title=title)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"tui-chat web: open {server.url(shown_host)}", flush=True)
    print("Only this address (it carries this run's key) opens the app. Ctrl+C stops the "
          "server and every app it started.", flush=True)
    logging.basicConfig(level=logging.WARNING, format="tui-chat web: %(message)s")
    web.run_app(server.application(), sock=sock, print=None, shutdown_timeout=10,
                handle_signals=True)
    return 0
