"""Memory: repeated screening in one process does not keep what it allocated.

The 200-image RSS measurement is a benchmark (``bench/memory_growth.py``, figures in
docs/reliability.md). Here a short, precise version: after a warm-up over the four
samples, four more screenings (load + screen + history record, the GUI's path) must free
every radiograph, pixel array and result (weak references die) and must not grow the
memory traced by ``tracemalloc`` (numpy buffers included) by 2 MB. A leak of one
radiograph or one result per screening (>= 3.4 MB each at 1470 x 588 float32) fails it.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def test_repeated_screening_keeps_no_memory(tmp_path: Path) -> None:
    import weakref

    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.records.history import History, file_sha256
    from dentalosteo_gui.core.screening.engine import Engine

    files = sorted([*SAMPLES.glob("*.png"), *SAMPLES.glob("*.dcm")])
    engine = Engine(None, None)  # rule-based: the same anatomy/cortex code the model path runs
    store = History(tmp_path / "h.sqlite3")
    alive: list[weakref.ref] = []

    def one(i: int) -> None:
        f = files[i % len(files)]
        rad = load_radiograph(f)
        res = engine.screen(rad)
        store.record_screening(res, rad, file_sha256=file_sha256(f))
        alive.extend([weakref.ref(rad), weakref.ref(rad.pixels), weakref.ref(res)])

    n = len(files)
    try:
        for i in range(n):  # warm-up: caches, lazy imports, first-call allocations
            one(i)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            one(i)
        gc.collect()
        grown, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        store.close()
    kept = [r() for r in alive if r() is not None]
    assert not kept, f"{len(kept)} radiographs/pixel arrays/results still referenced: {[type(k).__name__ for k in kept]}"
    growth_mb = (grown - base) / 2**20
    sys.stderr.write(f"traced growth over {n} screenings: {growth_mb:.2f} MB (peak {peak / 2**20:.1f} MB)\n")
    assert growth_mb < 2.0, f"{growth_mb:.1f} MB kept after {n} screenings"
