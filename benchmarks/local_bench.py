"""The embedded local model, measured from outside through a pty (100x30): `tui-chat --local`.

For each run a fresh app is launched (own XDG dirs; the model is taken from where
`tui-chat local pull` keeps it) and the harness notes:

- ready: launch → the prompt's placeholder on screen (the engine starts in the background);
  "base" is the same for the app pointed at a server instead, in the same sitting;
- first token, cold: the question is typed the moment the prompt shows, and the time is from
  Enter to the first character of the answer on screen (so it includes the rest of the
  engine's start, the model load and reading the prompt);
- first token, warm: a second question in the same app, the engine up and the system prompt
  cached;
- tok/s: the figure the app shows under the answer, against the server's own counters
  (llama.cpp's /metrics: tokens predicted over seconds spent predicting, for that answer);
- RSS: the app's and the engine's resident memory after the answers.

    python benchmarks/local_bench.py            # 3 runs
    python benchmarks/local_bench.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pty_harness import TerminalApp, tui_chat_argv
from tests.real.conftest import engine_pids_of
from tui_chat.local.model_file import MODEL_DIR_ENV, ensure_model, models_dir

COLD_QUESTION = "What is the capital of France?"
WARM_QUESTION = "Write a short story about a robot who learns to paint."
ANSWER_TOKENS = 160
TIMEOUT = 300.0
AUTO_TITLE = "never"


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r"^llamacpp:(\w+) ([\d.e+-]+)$", text, re.M)}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait(condition, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held (polled every 5 ms)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError
        time.sleep(0.005)
    return time.monotonic() - started


def first_text_shown(app: TerminalApp) -> bool:
    """The answer's first text is on screen: the status bar leaves "waiting" for "streaming"
    in the same frame (or the answer is already done)."""
    row = status_row(app)
    return " · streaming" in row or " · done · " in row


def done_footers(app: TerminalApp) -> list[str]:
    """The figures under each finished answer ("✓ · 160 tokens · … tok/s · …")."""
    return [row for row in app.display().splitlines() if "✓" in row and "tok/s" in row]


def status_row(app: TerminalApp) -> str:
    return app.display().splitlines()[-2]


def baseline_ready(tmp: str) -> float:
    """Launch → prompt on screen for the app pointed at a server (none listening): the same
    sitting's yardstick for `ready`."""
    env = {f"XDG_{n}_HOME": f"{tmp}/{n.lower()}" for n in ("CONFIG", "DATA", "STATE", "CACHE")}
    argv = tui_chat_argv("--base-url", "http://127.0.0.1:9/v1", "--db", f"{tmp}/base.db")
    started = time.monotonic()
    with TerminalApp(argv, env=env, size=(100, 30)) as app:
        wait(lambda: "Ask anything" in app.display(), 30)
        ready = time.monotonic() - started
        app.press("ctrl+q")
        app.close(10)
    return ready


def one_run(tmp: str, model_dir: Path) -> dict[str, float]:
    env = {f"XDG_{n}_HOME": f"{tmp}/{n.lower()}" for n in ("CONFIG", "DATA", "STATE", "CACHE")}
    env.update({"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", MODEL_DIR_ENV: str(model_dir)})
    # No title request after the first answer: its tokens would count in the server's figures
    # compared below, and the warm question would wait behind it (measured on its own: --titles).
    config = Path(env["XDG_CONFIG_HOME"]) / "tui-chat" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'auto_title = "{AUTO_TITLE}"\n')
    argv = tui_chat_argv("--local", "--temperature", "0", "--max-tokens", str(ANSWER_TOKENS),
                         "--db", f"{tmp}/b.db")
    started = time.monotonic()
    with TerminalApp(argv, env=env, size=(100, 30)) as app:
        ready = wait(lambda: "Ask anything" in app.display(), 30)
        app.type(COLD_QUESTION)
        app.press("enter")
        sent = time.monotonic()
        wait(lambda: first_text_shown(app), TIMEOUT)
        cold = time.monotonic() - sent
        wait(lambda: " · done · " in app.display(), TIMEOUT)
        engine = engine_pids_of(app.process.pid)[0]
        with open(f"/proc/{engine}/cmdline", "rb") as cmdline:
            words = cmdline.read().split(b"\0")
        port = int(words[words.index(b"--port") + 1])
        before = metrics(port)
        app.type(WARM_QUESTION)
        app.press("enter")
        sent = time.monotonic()
        wait(lambda: " · done · " not in status_row(app), 10)
        wait(lambda: first_text_shown(app), TIMEOUT)
        warm = time.monotonic() - sent
        wait(lambda: " · done · " in status_row(app), TIMEOUT)
        after = metrics(port)
        app_rate = float(re.search(r"([\d.]+) tok/s", done_footers(app)[-1])[1])  # type: ignore[index]
        tokens = after["tokens_predicted_total"] - before["tokens_predicted_total"]
        seconds = after["tokens_predicted_seconds_total"] - before["tokens_predicted_seconds_total"]
        result = {"ready": ready, "cold": cold, "warm": warm, "app_rate": app_rate,
                  "server_rate": tokens / seconds, "tokens": tokens,
                  "app_rss": rss_mb(app.process.pid), "engine_rss": rss_mb(engine),
                  "launch_to_answer": time.monotonic() - started}
        app.press("ctrl+q")
        app.close(10)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--titles", action="store_true",
                        help="let the app ask the model for a title after the first answer "
                             "(auto_title = \"local\", the default): the warm question then "
                             "waits behind it")
    args = parser.parse_args()
    if args.titles:
        global AUTO_TITLE
        AUTO_TITLE = "local"
    model_dir = models_dir()
    os.environ[MODEL_DIR_ENV] = str(model_dir)
    ensure_model()
    print(f"{'run':>4}{'base s':>8}{'ready s':>9}{'cold s':>8}{'warm s':>8}{'app tok/s':>11}"
          f"{'srv tok/s':>11}{'diff':>7}{'tokens':>8}{'app MB':>8}{'engine MB':>11}")
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = one_run(tmp, model_dir)
            r["base"] = baseline_ready(tmp)
        results.append(r)
        diff = (r["app_rate"] - r["server_rate"]) / r["server_rate"] * 100
        print(f"{run + 1:>4}{r['base']:>8.2f}{r['ready']:>9.2f}{r['cold']:>8.2f}{r['warm']:>8.2f}"
              f"{r['app_rate']:>11.1f}{r['server_rate']:>11.1f}{diff:>+6.1f}%{r['tokens']:>8.0f}"
              f"{r['app_rss']:>8.0f}{r['engine_rss']:>11.0f}", flush=True)
    names = ("base", "ready", "cold", "warm", "app_rate", "server_rate", "app_rss", "engine_rss")
    print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in results):.2f}"
                                 for k in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
