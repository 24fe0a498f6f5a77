"""Full collections are held back while answers stream and run once all are over."""

from __future__ import annotations

import gc

from tui_chat import gc_pauses


def test_full_collections_wait_for_every_answer_and_then_run_once() -> None:
    gc_pauses.collect_when_idle()  # an app test that quit within 0.4 s of an answer held it
    before = gc.get_threshold()
    gc_pauses.hold()
    gc_pauses.hold()  # a second answer (a retry) overlaps the first
    assert gc.get_threshold()[2] > 100_000 and gc.get_threshold()[:2] == before[:2]
    gc_pauses.release()
    gc_pauses.collect_when_idle()  # one answer still streams: nothing yet
    assert gc_pauses.holding()
    gc_pauses.release()
    runs = []
    gc.callbacks.append(lambda phase, info: runs.append(info["generation"])
                        if phase == "stop" else None)
    try:
        gc_pauses.collect_when_idle()
    finally:
        gc.callbacks.pop()
    assert 2 in runs  # the held-back full collection
    assert gc.get_threshold() == before and not gc_pauses.holding()
    gc_pauses.collect_when_idle()  # nothing held: nothing to do
    assert gc.get_threshold() == before
