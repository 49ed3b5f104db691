"""What runs inside a Dask worker: one compute thread, one cached engine, one file per task.

Nothing here imports Dask: a task is a plain function of picklable values, so it is tested
(and could run) without a cluster.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.imaging.dicom import check_deflate_bomb
from ..core.records.history import file_sha256
from ..core.screening.batch import iter_batch
from ..core.screening.engine import Engine
from ..core.system.settings import Settings
from ..core.types import Radiograph, ScreeningResult, Spacing
from ..services import make_engine

log = logging.getLogger(__name__)

# One compute thread per worker process: N workers on N cores do not fight over them.
# Read by TensorFlow (TF_NUM_*), OpenMP/MKL/OpenBLAS when their runtimes start, so they are
# set before the first TensorFlow import (LocalCluster also passes them to each new process).
THREAD_ENV = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}

# glibc mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_ready = threading.Lock()
_prepared = False


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to build the same engine as the client would."""

    model_dir: str | None
    device: str | None
    settings: Settings


@dataclass
class Outcome:
    """One screened file as it travels back to the client (no pixels unless asked for)."""

    path: str
    result: ScreeningResult | None
    radiograph: Radiograph | None
    error: str
    sha256: str
    sop_uid: str
    worker_ms: float


def limit_threads() -> None:
    """One compute thread in this process (TensorFlow intra- and inter-op, OpenCV, BLAS)."""
    os.environ.update(THREAD_ENV)
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception as exc:  # noqa: BLE001 - OpenCV threads are a speed matter only
        log.debug("cv2.setNumThreads failed: %s", type(exc).__name__)
    if "tensorflow" in sys.modules:  # imported before us: too late for the environment
        tf = sys.modules["tensorflow"]
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            log.warning("TensorFlow already started in this worker: its thread count is unchanged")


def undo_malloc_trim() -> None:
    """Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off
    glibc's adaptive mmap threshold: every image-sized array is then mapped, unmapped and its
    pages faulted in again (measured here: +110 ms of system time per image, +60 %). Fixed,
    generous thresholds instead (the worker holds one image at a time)."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc (musl): nothing to undo
        pass


def _prepare_worker() -> None:
    global _prepared
    if _prepared:
        return
    from ..core.system.logsetup import configure_logging

    configure_logging()  # the log file, as the CLI does; never raw tracebacks on stderr
    limit_threads()
    undo_malloc_trim()
    _prepared = True


def worker_engine(spec: EngineSpec) -> Engine:
    """This worker's engine: built (the model loaded) by its first task, then reused."""
    with _ready:
        _prepare_worker()
    return make_engine(model_dir=spec.model_dir, device=spec.device, settings=spec.settings)


def warm_up(spec: EngineSpec) -> dict[str, Any]:
    """Load the model and build its graph now (not in the first image's time); what this
    worker runs."""
    eng = worker_engine(spec)
    backend = eng.roi_backend
    if backend is not None:
        backend.warm()
    return {
        "pid": os.getpid(),
        "model_sha256": backend.info.sha256 if backend else "",
        "model": f"{backend.info.name} {backend.info.version}" if backend else "none",
        "device": backend.device if backend else "none",
        "card": backend.card if backend else None,
    }


def content_keys(path: Path) -> tuple[str, str]:
    """The file's sha256 and, for a DICOM file, its SOPInstanceUID ("" when unknown)."""
    try:
        sha = file_sha256(path)
    except Exception:  # noqa: BLE001 - unreadable: the reader says why in the error column
        return "", ""
    return sha, _sop_instance_uid(path)


def _sop_instance_uid(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        if head[128:132] != b"DICM" and path.suffix.lower() not in (".dcm", ".dicom"):
            return ""
        import pydicom

        check_deflate_bomb(path)  # a deflated data set is inflated whole by pydicom
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        return str(ds.get("SOPInstanceUID", "") or "").strip()
    except Exception:  # noqa: BLE001 - no UID: the content hash still deduplicates
        return ""


def screen_file(path: str, spacing: Spacing | None, spec: EngineSpec, pixels: bool) -> Outcome:
    """Screen one file exactly as the single-PC batch does (``iter_batch``, same errors).

    ``pixels``: send the image and heat map back (the client writes per-file outputs such as
    PDFs); otherwise only what the CSV and the history need travels.
    """
    t0 = time.perf_counter()
    p = Path(path)
    sha, uid = content_keys(p)
    engine = worker_engine(spec)
    sp = {str(p.resolve()): spacing} if spacing is not None else {}
    item = next(iter_batch(lambda rad, s: engine.screen(rad, pixel_spacing_mm=s), [p], sp,
                           keep_radiographs=True))
    result, rad = item.result, item.radiograph
    if not pixels:
        result = dataclasses.replace(result, heatmap=None) if result is not None else None
        rad = dataclasses.replace(rad, pixels=np.zeros((1, 1), np.float32)) if rad is not None else None
    return Outcome(path, result, rad, item.error, sha, uid, (time.perf_counter() - t0) * 1000.0)
