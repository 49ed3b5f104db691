"""The functions the app runs in workers (``WorkerPool.run``), never on the GUI thread.

Plain functions of their arguments: no Qt, no session. TensorFlow is imported only inside
:func:`default_engine_factory`, on its worker thread.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..core.imaging.imageio import load_radiograph
from ..core.system.settings import Settings
from ..core.types import Landmarks, Radiograph, RoiBox, ScreeningResult, Spacing

if TYPE_CHECKING:
    from ..core.screening.batch import BatchItem

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], Any]
SpacingFor = Callable[[Radiograph], Spacing]
ScreenFn = Callable[[Radiograph, "Spacing | float | None"], ScreeningResult]


def default_engine_factory(settings: Settings) -> Any:
    """Build (and warm) the real engine. Runs on a worker thread: imports TensorFlow lazily."""
    import dentalosteo_gui.core.anatomy  # noqa: F401 - pay its import (scipy, OpenCV) here, not on the first drop

    from ..services import make_engine

    engine = make_engine(settings=settings)
    t0 = time.perf_counter()
    engine.warm()
    log.info("engine warmed in %.0f ms on %s", (time.perf_counter() - t0) * 1000, engine.device)
    return engine


def rule_based_engine(settings: Settings) -> Any:
    """The engine without models (MCW, Klemetti rule, no risk score): the fallback when the
    model fails to load. Cheap to build (nothing is loaded)."""
    from ..core.screening.engine import Engine, EngineOptions

    return Engine(None, None, EngineOptions(
        operating_point=settings.operating_point, gradcam_method=settings.gradcam_method,
        default_pixel_spacing_mm=float(settings.default_pixel_spacing_mm)))


class Loaded(NamedTuple):
    radiograph: Radiograph
    file_sha256: str
    spacing: Spacing | None  # what a screening will use (None: no engine yet)


def load_job(path: str, spacing_for: SpacingFor | None = None) -> Loaded:
    """Decode the file, hash it (for the history) and ask the engine which spacing it will use
    (``Engine.spacing_for``: it may read a dataset ``labels.csv`` beside the file)."""
    rad = load_radiograph(path)
    sha = ""
    try:
        from ..core.records.history import file_sha256

        sha = file_sha256(Path(path))
    except ImportError:
        pass
    except OSError as exc:
        log.warning("cannot hash %s: %s", Path(path).name, exc)
    return Loaded(rad, sha, spacing_for(rad) if spacing_for is not None else None)


class Screened(NamedTuple):
    generation: int  # stale results (an older generation) are dropped
    result: ScreeningResult
    card: dict[str, Any] | None  # the card of the model that produced the result


def screen_job(engine: Any, rad: Radiograph, generation: int, roi: RoiBox | None,
               landmarks: Landmarks | None, mode: str, pixel_spacing_mm: float | None,
               cancel: threading.Event, extras: dict[str, Any] | None = None) -> Screened:
    """One screening, cross-checked with the other mode's model (ROI vs landmarks: the result
    says when the two readings disagree), with the card of the model that was used.
    ``extras``: the dentist's ``mental_foramen`` / ``dentist_mcw`` (passed when set and the
    engine takes them, see :func:`engine_accepts`)."""
    kw = {k: v for k, v in (extras or {}).items() if v is not None and engine_accepts(engine, k)}
    try:
        res = engine.screen(rad, roi=roi, landmarks=landmarks, mode=mode,
                            pixel_spacing_mm=pixel_spacing_mm, cancel=cancel, cross_check=True, **kw)
    except Exception as exc:
        exc.generation = generation  # type: ignore[attr-defined]
        raise
    return Screened(generation, res, card_of_model(engine, res))


def engine_accepts(engine: Any, keyword: str) -> bool:
    """Whether ``engine.screen`` takes ``keyword`` (an engine from before the dentist's
    measurement and the mental foramen overrides does not)."""
    try:
        params = inspect.signature(engine.screen).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return keyword in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def card_of_model(engine: Any, res: ScreeningResult) -> dict[str, Any] | None:
    """The card of the backend whose model produced ``res`` (ROI or landmark model). Runs in a
    worker: the engine may load its landmark model on first use."""
    if res.model is None:
        return None
    backend = getattr(engine, "roi_backend", None)
    if res.mode == "landmarks" or not _same_model(backend, res):
        backend = getattr(engine, "landmark_backend", None)
    if not _same_model(backend, res):
        backend = getattr(engine, "roi_backend", None)  # engines naming no landmark backend
    card = getattr(backend, "card", None)
    return card if isinstance(card, dict) else None


def _same_model(backend: Any, res: ScreeningResult) -> bool:
    info = getattr(backend, "info", None)
    return info is not None and res.model is not None and info.sha256 == res.model.sha256 \
        and info.name == res.model.name


def normals_job(rad: Radiograph, res: ScreeningResult) -> tuple[ScreeningResult, list]:
    """The MCW measurement normals of ``res`` (re-measured from its own border)."""
    from ..core.anatomy import measure_cortex
    from ..core.types import RoiProposal

    if res.roi is None or not (res.border_right or res.border_left):
        return res, []
    proposal = RoiProposal(res.roi, list(res.border_right), list(res.border_left), float(res.roi_confidence or 0.0))
    cm = measure_cortex(rad, proposal, res.spacing)
    return res, list(cm.right.normals) + list(cm.left.normals)


def export_job(result: ScreeningResult, rad: Radiograph, out: Path, settings: Settings,
               anonymize: bool, card: dict | None) -> Path:
    """Write the PDF report (core.records.report)."""
    from ..core.records.report import write_report

    return write_report(result, rad, out, settings=settings, anonymize=anonymize, model_card=card)


class BatchRow(NamedTuple):
    item: BatchItem  # (without its radiograph)
    history_id: int | None  # the screening's row in the history (None: not recorded)
    history_error: str  # why it was not recorded ("" when recorded, or no history)


def batch_job(screen: ScreenFn, files: list[Path], spacing: dict[str, Spacing], history: Any | None,
              anonymize: bool, cancel: threading.Event) -> Iterator[BatchRow]:
    """Generator job: one :class:`BatchRow` per file (core ``iter_batch``), each screening
    recorded in ``history`` (a thread-safe ``History``; None: not recorded); stops on ``cancel``."""
    from ..core.screening.batch import iter_batch

    for item in iter_batch(screen, files, spacing, workers=1, cancel=cancel, keep_radiographs=True):
        sid, err = None, ""
        if history is not None and item.result is not None and item.radiograph is not None:
            sid, err = _record(history, item, anonymize)
        yield BatchRow(dataclasses.replace(item, radiograph=None), sid, err)


def _record(history: Any, item: BatchItem, anonymize: bool) -> tuple[int | None, str]:
    from ..core.errors import DentalOsteoError
    from ..core.records.history import file_sha256

    try:
        sid = history.record_screening(item.result, item.radiograph, file_sha256=file_sha256(item.path),
                                       anonymize=anonymize)
    except (DentalOsteoError, OSError) as exc:
        log.warning("batch: %s not recorded in the history: %s", item.path.name, exc)
        return None, str(exc)
    return int(sid), ""


def natural_key(path: Path | str) -> list[Any]:
    """Sort key for file names as people count: ``2.png`` before ``10.png`` (case-insensitive)."""
    parts = re.split(r"(\d+)", str(path).lower())
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]
