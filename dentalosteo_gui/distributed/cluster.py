"""The client side of a cluster batch: start or join a Dask cluster, keep its workers fed with
file paths, and hand each screened file back as a :class:`BatchItem` to the batch writer
(``cli/batch.py``), which is the one writer of the CSV and the history.

Dask is imported inside functions only: without it, ``--scheduler`` stops with one line that
says how to install it, and nothing else changes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..core.errors import ConfigError
from ..core.screening.batch import BatchItem, case_label, format_eta, read_done
from ..core.system.settings import Settings
from ..core.types import Spacing
from .keys import ContentKeys
from .tasks import THREAD_ENV, EngineSpec, Outcome, screen_file, warm_up

log = logging.getLogger(__name__)

MISSING_DASK = ("--scheduler needs Dask, an optional extra: pip install 'dentalosteo[distributed]' "
                "(or: pip install \"dask[distributed]\")")
CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 120  # for the first worker to join
MAX_RESUBMITS = 3  # a file whose task the cluster cancels (restart) is sent again this often
PROGRESS_EVERY_S = 5.0


def require_dask() -> None:
    """One clear line (a ConfigError) when Dask's distributed scheduler is not installed."""
    if importlib.util.find_spec("dask") is None or importlib.util.find_spec("distributed") is None:
        raise ConfigError(MISSING_DASK)


@dataclass
class ClusterItem(BatchItem):
    """A :class:`BatchItem` that also carries the content hash the worker computed (so the
    writer need not read the file again to record it)."""

    sha256: str = ""


@contextlib.contextmanager
def open_cluster(address: str, workers: int | None, *, settings: Settings,
                 model_dir: str | None = None, device: str | None = None,
                 quiet: bool = False) -> Iterator[ClusterScreener]:
    """``local`` (a LocalCluster of ``workers`` single-threaded processes, default one per
    core, on 127.0.0.1) or the address of a running scheduler; closed on exit."""
    require_dask()
    client, cluster = _connect(address, workers)
    try:
        screener = ClusterScreener(client, EngineSpec(model_dir, device, settings))
        if not quiet:
            sys.stderr.write(screener.describe() + "\n")
        yield screener
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _connect(address: str, workers: int | None) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    if address == "local":
        import dask

        # no MALLOC_TRIM_THRESHOLD_ in the workers (see tasks.undo_malloc_trim); every port
        # on 127.0.0.1, chosen by the system (the HTTP server too, dashboard or not)
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                   silence_logs=logging.ERROR, env=dict(THREAD_ENV))
        return Client(cluster), cluster
    if "://" not in address:
        raise ConfigError(f"--scheduler: {address!r} is neither 'local' nor a scheduler address "
                          "such as tcp://HOST:8786")
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"--scheduler {address}: no Dask scheduler answers there "
                          f"({type(exc).__name__}); start one with 'dask scheduler' and its "
                          f"workers with 'dask worker {address} --nthreads 1'") from None


class ClusterScreener:
    """Stands where the batch writer has its engine: ``items`` replaces ``iter_batch`` and
    ``roi_backend.card`` is the workers' model card (for the PDF report)."""

    def __init__(self, client: Any, spec: EngineSpec) -> None:
        self.client = client
        self.spec = spec
        self.workers = self._warm_up()
        card = self.workers[0].get("card")
        self.roi_backend = SimpleNamespace(card=card) if card is not None else None

    def _warm_up(self) -> list[dict[str, Any]]:
        """Every worker loads the model now (once); they must all run the same one."""
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise ConfigError(f"no Dask worker joined the scheduler within {WORKERS_TIMEOUT_S} s; "
                              "start some with 'dask worker SCHEDULER_ADDRESS --nthreads 1'") from None
        addrs = list(self.client.scheduler_info(n_workers=-1)["workers"])
        infos: list[dict[str, Any]] = self.client.gather([
            self.client.submit(warm_up, self.spec, workers=[a], allow_other_workers=False, pure=False)
            for a in addrs])
        models = {i["model_sha256"] for i in infos}
        if len(models) > 1:
            raise ConfigError("the Dask workers run different models (sha256 "
                              f"{', '.join(sorted(m[:12] for m in models))}); install the same "
                              "model pack on every worker")
        return infos

    def describe(self) -> str:
        w = self.workers[0]
        line = f"cluster: {len(self.workers)} worker(s), model {w['model']} on {w['device']}"
        link = self.dashboard_link()
        return f"{line}; dashboard {link}" if link else line

    def dashboard_link(self) -> str:
        """The Dask dashboard's address when the scheduler serves it, i.e. has bokeh
        ("" otherwise)."""
        try:
            served = self.client.run_on_scheduler(  # a lambda travels by value
                lambda: importlib.util.find_spec("bokeh") is not None)
            if served and "dashboard" in self.client.scheduler_info(n_workers=0).get("services", {}):
                return str(self.client.dashboard_link)
        except Exception:  # noqa: BLE001 - the link is a convenience
            pass
        return ""

    def items(self, job: Any, spacing: dict[str, Spacing]) -> Iterator[BatchItem]:
        """Screen ``job.todo`` on the cluster; one item per file, in the order they finish.

        ``job`` is the batch's plan (``cli/batch.BatchRun``): ``todo``, ``out``, ``anonymize``,
        ``cancel`` and its ``args`` (``restart``, ``quiet``, ``pdf_dir``)."""
        keys = ContentKeys(job.out, read_done(job.out), bool(job.args.restart))
        pixels = bool(job.pdf_dir) or bool(getattr(job.args, "dicom_out", None))
        feed = _Feeder(self.client, self.spec, job.todo, spacing, pixels)
        progress = _Progress(len(job.todo), quiet=bool(job.args.quiet))
        try:
            for outcome in feed.outcomes(job.cancel):
                item = _item(outcome, keys, job, progress)
                progress.tick(item)
                yield item
        finally:
            feed.stop()
            keys.close()
            progress.finish()


def _item(outcome: Outcome, keys: ContentKeys, job: Any, progress: _Progress) -> ClusterItem:
    """The worker's outcome as the writer's item; a copy of an image already screened gets
    the ``duplicate of`` reason instead of numbers (its key is written before its row)."""
    path = Path(outcome.path)
    result, rad, error = outcome.result, outcome.radiograph, outcome.error
    if result is not None:
        dup = keys.duplicate_of(outcome.sha256, outcome.sop_uid)
        if dup:
            result, rad, error = None, None, dup
            progress.duplicates += 1
        else:
            keys.add(outcome.sha256, outcome.sop_uid,
                     job.labels.get(path) or case_label(path, job.anonymize))  # the label _plan made
    elapsed = time.perf_counter() - progress.t0
    done = progress.done + 1
    eta = elapsed / done * (progress.total - done)
    return ClusterItem(progress.done, progress.total, path, result, rad, error, elapsed, eta,
                       sha256=outcome.sha256)


class _Feeder:
    """Keeps a few tasks per worker thread in flight (not a million futures at once)."""

    def __init__(self, client: Any, spec: EngineSpec, files: list[Path],
                 spacing: dict[str, Spacing], pixels: bool) -> None:
        from distributed import as_completed

        self.client, self.spec, self.spacing, self.pixels = client, spec, spacing, pixels
        self.todo = list(reversed(files))
        self.running: dict[str, tuple[Path, Any]] = {}
        self.resubmits: Counter[Path] = Counter()
        self.ac = as_completed()
        self.window = 0
        self.completed = 0

    def _submit(self, path: Path) -> None:
        fut = self.client.submit(screen_file, str(path), self.spacing.get(str(path.resolve())),
                                 self.spec, self.pixels, pure=False)
        self.running[fut.key] = (path, fut)
        self.ac.add(fut)

    def _fill(self) -> None:
        if self.completed % 32 == 0:  # workers come and go: size the window now and then
            self.window = max(4, 2 * sum(self.client.nthreads().values()))
        while self.todo and len(self.running) < self.window:
            self._submit(self.todo.pop())

    def outcomes(self, cancel: Any) -> Iterator[Outcome]:
        self._fill()
        for fut in self.ac:
            if cancel.is_set():
                return
            path, _ = self.running.pop(fut.key)
            outcome = self._result(fut, path)
            fut.release()
            self.completed += 1
            self._fill()
            if outcome is not None:
                yield outcome

    def _result(self, fut: Any, path: Path) -> Outcome | None:
        """The task's outcome; a file the cluster lost (cancelled by a restart) is sent
        again; a file that kept killing its worker gets the reason in its error column."""
        from concurrent.futures import CancelledError

        from distributed import KilledWorker

        try:
            return fut.result()  # type: ignore[no-any-return]
        except KilledWorker:
            error = ("a Dask worker died each time it screened this file (a crash in the "
                     "image decoder, or out of memory?)")  # no path: --anonymize rows carry none
        except CancelledError:
            self.resubmits[path] += 1
            if self.resubmits[path] <= MAX_RESUBMITS:
                self._submit(path)
                return None
            error = f"the cluster dropped this file {MAX_RESUBMITS + 1} times"
        return Outcome(str(path), None, None, error, "", "", 0.0)

    def stop(self) -> None:
        futures = [f for _, f in self.running.values()]
        self.running.clear()
        if futures:
            with contextlib.suppress(Exception):
                self.client.cancel(futures)


class _Progress:
    """A status line on stderr every few seconds: images/s, ETA, failures so far."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet = total, quiet
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.done = self.failed = self.duplicates = 0

    def tick(self, item: BatchItem) -> None:
        self.done += 1
        self.failed += bool(item.error)
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self._write()

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if self.done else None
        dups = f" ({self.duplicates} duplicate(s))" if self.duplicates else ""
        return (f"cluster: {self.done}/{self.total} images, {rate:.2f} images/s, "
                f"ETA {format_eta(eta)}, failures so far {self.failed}{dups}")

    def _write(self) -> None:
        if not self.quiet:
            sys.stderr.write("\r" + self.line() + "\n")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.done:
            self._write()
