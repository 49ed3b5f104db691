"""The one worker adapter: generator progress, cancel, errors, plain functions, pool shutdown."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dentalosteo_gui.gui.workers import Worker, WorkerPool  # noqa: E402

pytestmark = pytest.mark.gui


def counting(n: int, cancel: threading.Event) -> Iterator[int]:
    for i in range(n):
        if cancel.is_set():
            return "stopped"
        time.sleep(0.01)
        yield i
    return "all done"


def test_generator_progress_and_return_value(qtbot: Any) -> None:
    pool = WorkerPool()
    seen: list[int] = []
    w = Worker(counting, 5)
    w.progress.connect(seen.append)
    with qtbot.waitSignal(w.returned, timeout=5000) as blocker:
        pool.start(w)
    qtbot.waitUntil(lambda: len(seen) == 5, timeout=2000)
    assert blocker.args == ["all done"] and seen == [0, 1, 2, 3, 4]
    assert pool.shutdown(2000) and pool.active == []


def test_cancel_stops_a_generator_between_steps(qtbot: Any) -> None:
    pool = WorkerPool()
    seen: list[int] = []
    w = Worker(counting, 10_000)
    w.progress.connect(seen.append)
    returned: list[Any] = []
    w.returned.connect(returned.append)
    pool.start(w)
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=5000)
    with qtbot.waitSignal(w.signals.cancelled, timeout=5000):
        w.cancel()
    assert returned == [] and len(seen) < 10_000
    assert pool.shutdown(2000)


def test_exception_goes_to_errored_with_traceback(qtbot: Any) -> None:
    def boom() -> None:
        raise ValueError("bad value in job")

    pool = WorkerPool()
    w = Worker(boom)
    with qtbot.waitSignal(w.errored, timeout=5000) as blocker:
        pool.start(w)
    exc = blocker.args[0]
    assert isinstance(exc, ValueError) and "bad value" in exc.traceback_text  # type: ignore[attr-defined]
    assert pool.shutdown(2000)


def test_shutdown_cancels_running_and_drops_queued(qtbot: Any) -> None:
    pool = WorkerPool(max_threads=1)
    started = [pool.run(counting, 100_000, name=f"job{i}") for i in range(3)]
    qtbot.waitUntil(lambda: started[0].started.is_set(), timeout=5000)
    t0 = time.perf_counter()
    assert pool.shutdown(5000)
    assert time.perf_counter() - t0 < 2.0
    assert pool.pool.activeThreadCount() == 0 and pool.active == []
    assert not started[2].started.is_set()  # queued, never run
