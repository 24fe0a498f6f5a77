"""What saving a streaming answer costs the UI thread, by the answer's length.

The app saves a streaming answer twice a second (`save_partial`) and once more when it ends
(`finish_answer`), on the UI thread, into a real SQLite file (WAL). Prints the median time of
each call for answers from 10 kB to 1 MB of prose.

    python benchmarks/store_bench.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui_chat.store import ConversationStore

SIZES = (10_000, 100_000, 300_000, 1_000_000)
ROUNDS = 7
WORDS = "the quick brown fox jumps over a lazy dog while seven otters watch from the river bank"


def prose(length: int) -> str:
    sentence = WORDS.capitalize() + ". "
    return (sentence * (length // len(sentence) + 1))[:length]


def median_ms(call, rounds: int = ROUNDS) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(store: ConversationStore, conversation: int, size: int) -> tuple[float, float]:
    """Median ms of a partial save and of the final save, for an answer of `size` characters."""
    text = prose(size)
    answer = store.start_answer(conversation, model="bench")
    # Each save is a little longer than the last, as while streaming.
    save = median_ms(lambda i: store.save_partial(answer, text[:size - ROUNDS + i]))
    store.finish_answer(answer, text, "done")
    ending = [store.start_answer(conversation, model="bench") for _ in range(3)]
    finish = median_ms(lambda i: store.finish_answer(ending[i], text, "done"), 3)
    return save, finish


def main() -> None:
    print(f"{'answer':>10}{'save_partial ms':>17}{'finish_answer ms':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        with ConversationStore(Path(tmp, "bench.db")) as store:
            conversation = store.create_conversation("bench")
            for size in SIZES:
                save, finish = measure(store, conversation, size)
                print(f"{size:>10,}{save:>17.1f}{finish:>18.1f}")


if __name__ == "__main__":
    main()
