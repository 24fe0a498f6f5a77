"""The llama.cpp server, run as `python -m tui_chat.local.engine_process` in a child process.

The parent (the app, `ask`, `serve`) starts it with `Engine`; it must never outlive that parent.
Two guards: the kernel sends it SIGKILL when the parent dies (Linux's PR_SET_PDEATHSIG, set with
prctl through ctypes), and a thread checks once every POLL_SECONDS that the parent is still its
parent (for systems without prctl, and for the moment between fork and prctl). Either way the
process ends at once, with `os._exit`: the C++ server holds threads that a normal exit would wait
for.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

POLL_SECONDS = 0.25
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Arrange for this process to end as soon as `parent_pid` is gone."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watch thread below is the guard
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tui_chat.local.engine_process")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--ping", type=int, default=2,
                        help="seconds between SSE keep-alive comments")
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    # SIGTERM from the parent: leave now (the default handler would too, but say so in the log).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.use_jinja = True
    params.sse_ping_interval = args.ping
    params.endpoint_metrics = True  # /metrics: what tests and benchmarks compare against
    print(f"engine: loading {args.model} on 127.0.0.1:{args.port}", flush=True)
    server = xllamacpp.Server(params)  # serves in its own threads until dropped
    print(f"engine: listening at {server.listening_address}", flush=True)
    threading.Event().wait()  # until a signal or the parent watch ends the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
