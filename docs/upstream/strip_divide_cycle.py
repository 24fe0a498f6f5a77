"""Textual 8.2.8: a Strip divided at its own length keeps itself in its own cache, a reference
cycle. The compositor divides every line it draws at the cuts of its row, most often at the
line's own length, so every drawn line is freed only by a full garbage collection.
Run: python docs/upstream/strip_divide_cycle.py -> prints how many objects of 1,000 such lines
only the collector could free (expected 0)."""

import gc

from rich.segment import Segment
from textual.strip import Strip

gc.collect()
gc.disable()
for _ in range(1000):
    Strip([Segment("a line of text")], 14).divide([14])
left = gc.collect()
gc.enable()
print("fixed upstream" if left == 0 else f"1,000 divided lines left {left} objects in cycles")
