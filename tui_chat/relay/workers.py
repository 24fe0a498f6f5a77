"""`tui-chat serve --workers N`: N relay processes on one port, balanced by the kernel.

Each worker is a whole relay (its own provider, its own aiohttp `run_app`) listening with
`SO_REUSEPORT`: Linux spreads new connections over the listening sockets that share the port,
so there is no balancer of ours in the path, and a stream stays in the process that accepted it.

The parent only supervises. It binds the port first (without listening: a bound socket gets no
connections) so a port already taken is one clear line before any worker starts, and so
`--port 0` picks one port for all of them; it starts the workers with the `spawn` method (no
forked copies of the parent's threads or locks), waits until each listens, prints the banner,
then waits. Ctrl+C or SIGTERM: every worker gets SIGTERM and shuts down as a single relay does;
one that has not ended after `STOP_GRACE` seconds more is killed. A worker that dies on its own
ends the whole relay with one line, so a supervisor (systemd, a container) restarts it whole.
A parent that is killed takes its workers with it (`orphan_guard.exit_with_parent`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from tui_chat.config import Settings

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
"""Seconds a worker may take to import, build its provider and listen."""
SHUTDOWN_TIMEOUT = 10.0
"""Seconds a stopping worker gives open streams to finish before it cancels them."""
STOP_GRACE = 5.0
"""Seconds past `SHUTDOWN_TIMEOUT` before a worker that has not ended is killed."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What each worker needs to build its own relay: plain, picklable values."""

    settings: Settings
    relay_url: str | None
    relay_token: str | None
    token: str | None
    cors_origins: tuple[str, ...]
    heartbeat: float
    host: str
    port: int
    upstream_connections: int
    """Most connections each worker opens to the upstream at once."""


def can_share_port() -> bool:
    """Whether this platform lets several processes listen on one port (SO_REUSEPORT)."""
    return hasattr(socket, "SO_REUSEPORT") and sys.platform != "win32"


def reserve(host: str, port: int) -> socket.socket:
    """Bind (not listen on) `host:port` with SO_REUSEPORT: fails now if the port is taken, and
    holds it (port 0: picks it) until the workers listen on it. Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run_workers(plan: WorkerPlan, count: int, banner: Callable[[int], str]) -> int:
    """Run `count` relay workers until Ctrl+C or SIGTERM; the exit status."""
    from tui_chat.command_line import fail

    try:
        holder = reserve(plan.host, plan.port)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        return fail(f"cannot listen on {plan.host}:{plan.port}: {reason}")
    port = holder.getsockname()[1]
    plan = WorkerPlan(**{**_fields(plan), "port": port})
    stopping: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = []
    try:
        readers: dict[Connection, BaseProcess] = {}
        for number in range(count):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=worker_main, args=(plan, writer, os.getpid()),
                                      name=f"tui-chat-relay-{number + 1}", daemon=False)
            process.start()
            writer.close()
            workers.append(process)
            readers[reader] = process
        problem = _wait_until_listening(readers, stopping)
        holder.close()
        if problem is not None:
            return fail(problem)
        if stopping:
            return 0
        print(banner(port), flush=True)
        while not stopping:
            ended = multiprocessing.connection.wait([w.sentinel for w in workers], timeout=0.5)
            if ended:
                gone = next(w for w in workers if not w.is_alive())
                return fail(f"relay worker {gone.pid} stopped unexpectedly (status "
                            f"{gone.exitcode}); the relay is shutting down")
        return 0
    finally:
        holder.close()
        _stop_all(workers)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _fields(plan: WorkerPlan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in WorkerPlan.__slots__}


def _wait_until_listening(readers: dict[Connection, BaseProcess],
                          stopping: list[int]) -> str | None:
    """None once every worker listens; else the first one's failure, as one line."""
    deadline = time.monotonic() + START_TIMEOUT
    waiting = dict(readers)
    while waiting and not stopping:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"the relay workers did not start within {START_TIMEOUT:g} s"
        ready = multiprocessing.connection.wait(list(waiting), timeout=min(left, 0.5))
        for ready_one in ready:
            reader = cast("Connection", ready_one)
            process = waiting.pop(reader)
            try:
                kind, text = reader.recv()
            except EOFError:  # it died before saying anything
                process.join(5)
                return f"a relay worker exited with status {process.exitcode} while starting"
            finally:
                reader.close()
            if kind != "ready":
                return str(text)
    return None


def _stop_all(workers: list[BaseProcess]) -> None:
    """SIGTERM to every live worker (they shut down as one relay does); kill the late ones."""
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT + STOP_GRACE
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            log.warning("relay worker %s did not stop in time; killed", worker.pid)
            worker.kill()
            worker.join(5)


def worker_main(plan: WorkerPlan, ready: Connection, parent_pid: int) -> None:
    """One worker: a whole relay on the shared port, until SIGTERM/SIGINT or its parent ends."""
    # Ctrl+C reaches the whole process group; until run_app handles it, the parent's SIGTERM is
    # the only way to stop (no KeyboardInterrupt traceback from a worker still importing).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tui_chat.orphan_guard import exit_with_parent

    exit_with_parent(parent_pid)
    try:
        from aiohttp import web

        from tui_chat.command_line import setup_logging
        from tui_chat.providers import make_provider, make_relay_provider
        from tui_chat.relay.server import BACKLOG, make_relay_app, ready_for_many_streams

        setup_logging()
        settings = plan.settings
        upstream = (make_relay_provider(plan.relay_url, settings, token=plan.relay_token,
                                        max_connections=plan.upstream_connections)
                    if plan.relay_url
                    else make_provider(settings, max_connections=plan.upstream_connections))
        app = make_relay_app(settings, upstream, token=plan.token,
                             cors_origins=plan.cors_origins, heartbeat=plan.heartbeat)
        ready_for_many_streams()
    except Exception as error:  # reported by the parent as one line
        ready.send(("error", f"a relay worker could not start: {error}"))
        ready.close()
        raise SystemExit(1) from None

    def listening(_: object) -> None:
        ready.send(("ready", os.getpid()))
        ready.close()

    try:
        web.run_app(app, host=plan.host, port=plan.port, reuse_port=True, access_log=None,
                    backlog=BACKLOG, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT,
                    print=listening)
    except OSError as error:
        if not ready.closed:
            reason = os.strerror(error.errno) if error.errno else str(error)
            ready.send(("error", f"cannot listen on {plan.host}:{plan.port}: {reason}"))
            ready.close()
        raise SystemExit(1) from None
