"""Record what the real llama.cpp server sends, for the quirk tests: run it, don't edit its
output. `python -m tests.real.record_chunks` starts the engine through the app's own code with
the default model and writes tests/real/llamacpp_recording.json: for each request, the status,
content type, and the body as the reads that arrived, each with its time since the request."""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tui_chat.local import Engine

OUT = Path(__file__).with_name("llamacpp_recording.json")
SYSTEM = "You are a helpful assistant."
LONG_PROMPT = " ".join(f"Line {i}: the quick brown fox jumps over the lazy dog."
                       for i in range(220))

REQUESTS: dict[str, dict[str, Any]] = {
    "answer": {
        "messages": [{"role": "system", "content": SYSTEM},
                     {"role": "user", "content": "What is the capital of France?"}],
        "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0, "seed": 1, "max_tokens": 40,
    },
    "long_prompt": {  # keep-alive comments come before the first chunk while it is read
        "messages": [{"role": "system", "content": SYSTEM},
                     {"role": "user", "content": LONG_PROMPT + "\nHow many lines?"}],
        "stream": True, "stream_options": {"include_usage": True},
        "temperature": 0, "seed": 1, "max_tokens": 8,
    },
    "overflow": {
        "messages": [{"role": "user", "content": "word " * 5000}],
        "stream": True, "max_tokens": 8,
    },
    "no_messages": {"messages": [], "stream": True, "max_tokens": 4, "temperature": 0},
}


def record(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    url = urlparse(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    payload = json.dumps({"model": "local", **body})
    started = time.monotonic()
    connection.request("POST", f"{url.path}/chat/completions", payload,
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    reads: list[list[Any]] = []
    while block := response.read1(65536):
        reads.append([round(time.monotonic() - started, 3), block.decode("utf-8")])
    connection.close()
    return {"request": body, "status": response.status,
            "content_type": response.getheader("Content-Type"), "reads": reads}


def main() -> int:
    engine = Engine().start()
    try:
        base_url = engine.wait_ready(300)
        recording = {"server": "llama.cpp via xllamacpp", "model": engine.alias,
                     "context": engine.context,
                     "exchanges": {name: record(base_url, body) for name, body in REQUESTS.items()}}
    finally:
        engine.stop()
    OUT.write_text(json.dumps(recording, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
