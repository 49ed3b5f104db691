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


def test_jobs_run_on_python_threads_that_keep_their_thread_state(qtbot: Any) -> None:
    """TensorFlow's pybind11 layer keeps the first Python thread state it sees per OS thread;
    QThreadPool threads got a new one per job and a later model call crashed the process.
    The pool's threads are Python threads: one state per thread, for its whole life."""
    pool = WorkerPool(max_threads=1)
    seen: list[tuple[int, bool]] = []

    def where() -> None:
        t = threading.current_thread()
        seen.append((threading.get_ident(), isinstance(t, threading._DummyThread)))  # type: ignore[attr-defined]

    for _ in range(2):
        w = Worker(where)
        with qtbot.waitSignal(w.finished, timeout=5000):
            pool.start(w)
    assert len(seen) == 2 and seen[0][0] == seen[1][0]  # the same thread, reused
    assert not any(dummy for _, dummy in seen)  # a thread Python created (not adopted from Qt)
    assert pool.shutdown(2000)
    assert not [t for t in threading.enumerate() if t.name.startswith("dentalosteo-worker")]
