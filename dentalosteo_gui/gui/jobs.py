"""The functions the app runs in workers (``WorkerPool.run``), never on the GUI thread.

Plain functions of their arguments: no Qt, no session. TensorFlow is imported only inside
:func:`default_engine_factory`, on its worker thread.
"""

from __future__ import annotations

import logging
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


def screen_job(engine: Any, rad: Radiograph, generation: int, roi: RoiBox | None,
               landmarks: Landmarks | None, mode: str, pixel_spacing_mm: float | None,
               cancel: threading.Event) -> tuple[int, ScreeningResult]:
    """One screening; returns (generation, result) so stale results are dropped."""
    try:
        res = engine.screen(rad, roi=roi, landmarks=landmarks, mode=mode,
                            pixel_spacing_mm=pixel_spacing_mm, cancel=cancel)
    except Exception as exc:
        exc.generation = generation  # type: ignore[attr-defined]
        raise
    return generation, res


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


def batch_job(screen: ScreenFn, files: list[Path], spacing: dict[str, Spacing],
              cancel: threading.Event) -> Iterator[BatchItem]:
    """Generator job: one :class:`BatchItem` per file (core ``iter_batch``); stops on ``cancel``."""
    from ..core.screening.batch import iter_batch

    yield from iter_batch(screen, files, spacing, workers=1, cancel=cancel)
