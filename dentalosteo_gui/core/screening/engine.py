"""The screening engine: radiograph in, :class:`ScreeningResult` out.

One engine serves the GUI, the CLI, batch and the report. It is core code: no Qt, no
TensorFlow. Models are reached through the typed protocols of ``model_api`` (implemented by
``dentalosteo_gui.ml.backend.KerasBackend``; wired up in ``dentalosteo_gui.services``), so the
engine runs - rule-based measurements only - even when no model is installed. The work itself
is the named stages of ``stages.py``; spacing is resolved once, by ``spacing.resolve_spacing``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import anatomy
from ..cards import classify_risk_level, operating_point
from ..errors import AnatomyError, ConfigError, DentalOsteoError
from ..imaging.memo import image_memo
from ..system.profiles import ProfileStore
from ..system.settings import DEFAULT_PIXEL_SPACING_MM
from ..types import Landmarks, Radiograph, RoiBox, RoiProposal, ScreeningResult, Spacing
from . import stages
from .model_api import LandmarkModel, ProposalModel
from .spacing import resolve_spacing
from .stages import CancelFlag, Cancelled

log = logging.getLogger(__name__)

__all__ = ["Engine", "EngineOptions", "Cancelled", "operating_point", "classify_risk_level"]


@dataclass
class EngineOptions:
    operating_point: str = "balanced"
    gradcam_method: str = "gradcam"  # gradcam | gradcam++ | none
    default_pixel_spacing_mm: float = DEFAULT_PIXEL_SPACING_MM
    min_roi_confidence: float = 0.35
    use_calibration_profiles: bool = True


class Engine:
    """Loads nothing itself; holds the backends (loaded once, warmed on first use)."""

    def __init__(self, roi_backend: ProposalModel | None = None,
                 landmark_backend: LandmarkModel | Callable[[], LandmarkModel | None] | None = None,
                 options: EngineOptions | None = None) -> None:
        self.roi_backend = roi_backend
        self._landmark_backend = landmark_backend
        self.options = options or EngineOptions()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._auto_cache: tuple[Any, RoiProposal | None] | None = None

    @property
    def landmark_backend(self) -> LandmarkModel | None:
        with self._load_lock:  # two threads must not load the model twice
            lb = self._landmark_backend
            if callable(lb) and not hasattr(lb, "predict_landmarks"):
                try:
                    self._landmark_backend = lb()
                except DentalOsteoError as exc:
                    log.warning("landmark model unavailable: %s", exc)
                    self._landmark_backend = None
            return self._landmark_backend  # type: ignore[return-value]

    def _auto_proposal(self, rad: Radiograph) -> RoiProposal | None:
        """The whole-image proposal (border and midline), for a user-given box: nudging the box
        keeps that border, and a re-trace in a moved box splits the sides at the same midline.
        Cached for the last image."""
        cached = self._auto_cache
        if cached is not None and cached[0]() is rad.pixels:
            return cached[1]
        try:
            auto: RoiProposal | None = anatomy.propose_roi(rad)
        except AnatomyError:
            auto = None
        try:
            self._auto_cache = (weakref.ref(rad.pixels), auto)
        except TypeError:  # an array type without weak references: no cache
            self._auto_cache = None
        return auto

    @property
    def device(self) -> str:
        return self.roi_backend.device if self.roi_backend else "none"

    def warm(self) -> float:
        return self.roi_backend.warm() if self.roi_backend else 0.0

    def spacing_for(self, rad: Radiograph, override: float | Spacing | None = None) -> Spacing:
        """The spacing a screening of ``rad`` would use (the GUI shows it before screening)."""
        return resolve_spacing(rad, override, self.options.default_pixel_spacing_mm,
                               calibrated=self.calibration_for(rad)[0])

    def calibration_for(self, rad: Radiograph) -> tuple[Spacing | None, str | None]:
        """The clinic's calibration profile for ``rad``'s source (and a warning when the
        profiles file cannot be read: the screening then goes on without it)."""
        if not self.options.use_calibration_profiles:
            return None, None
        try:
            prof = ProfileStore().match(rad)
        except ConfigError as exc:
            return None, f"calibration profiles not used: {exc}"
        return (prof.spacing() if prof else None), None

    # ------------------------------------------------------------------ main entry
    def screen(self, rad: Radiograph, roi: RoiBox | None = None, landmarks: Landmarks | None = None,
               mode: str = "roi", pixel_spacing_mm: float | Spacing | None = None,
               cancel: CancelFlag = None, cross_check: bool = False,
               mental_foramen: dict[str, tuple[float, float]] | None = None,
               dentist_mcw: dict[str, tuple[tuple[float, float], tuple[float, float]]] | None = None,
               ) -> ScreeningResult:
        """Screen one radiograph.

        ``roi`` (original pixels) overrides the proposal; ``landmarks`` switches to landmark
        mode (or pass ``mode="landmarks"`` to auto-place them). ``pixel_spacing_mm``: an
        explicit spacing (a number is a user override; a :class:`Spacing` keeps its source);
        the precedence is :func:`resolve_spacing`'s. ``cross_check``: also run the other
        mode's model (ROI vs landmarks) and say when the two readings disagree.
        ``mental_foramen``: the dentist's foramen centre per patient side (``"left"`` /
        ``"right"`` -> (x, y), original pixels), overriding the proposal there;
        ``dentist_mcw``: the dentist's two points across the cortex per side (their MCW is
        then the one the reading and the referral text use, beside the automatic one).
        """
        with image_memo():  # what several stages derive from the same pixels: computed once
            return self._screen(rad, roi, landmarks, mode, pixel_spacing_mm, cancel, cross_check,
                                mental_foramen, dentist_mcw)

    def _screen(self, rad: Radiograph, roi: RoiBox | None, landmarks: Landmarks | None, mode: str,
                pixel_spacing_mm: float | Spacing | None, cancel: CancelFlag, cross_check: bool,
                mental_foramen: dict[str, tuple[float, float]] | None,
                dentist_mcw: dict[str, tuple[tuple[float, float], tuple[float, float]]] | None,
                ) -> ScreeningResult:
        opts = self.options
        t_start = time.perf_counter()
        calibrated, calibration_warning = self.calibration_for(rad)
        case = stages.Case(rad=rad, screening_mode="landmarks" if landmarks is not None else mode,
                           spacing=resolve_spacing(rad, pixel_spacing_mm, opts.default_pixel_spacing_mm,
                                                   calibrated=calibrated),
                           roi=roi, landmarks=landmarks, warnings=list(rad.warnings),
                           user_foramen=check_points(rad, mental_foramen, "mental foramen"),
                           dentist_mcw=check_pairs(rad, dentist_mcw))
        if calibration_warning:
            case.warnings.append(calibration_warning)
        stages.check_cancel(cancel)
        stages.propose(case, self._auto_proposal)
        stages.check_cancel(cancel)
        stages.note_spacing(case)
        stages.choose_model_scale(case)
        # the cortex measurement and the quality check each in a thread, beside the model
        cortex_job = stages.CortexJob(case)
        quality_job = stages.QualityJob(case)
        try:
            gradcam = None if opts.gradcam_method == "none" else opts.gradcam_method
            if case.screening_mode == "landmarks":
                if case.landmarks is None:
                    quality_job.join()  # the landmarks are placed on the quality check's dentition copies
                stages.check_cancel(cancel)
                stages.run_landmark_model(case, self.landmark_backend, self._lock)
            else:
                stages.check_cancel(cancel)
                stages.run_proposal_model(case, self.roi_backend, gradcam, self._lock)
            if cross_check:
                quality_job.join()
                stages.check_cancel(cancel)
                stages.cross_check(case, self.roi_backend, self.landmark_backend, self._lock)
            stages.place_heatmap(case)
            stages.locate_foramen(case)  # here, while the cortex thread is still busy
            quality_job.join()
            cortex_job.join()
        except BaseException:
            # cancelled or failed: wait for both threads (at most their stage times), so no
            # work of this screening runs on beside the next one
            quality_job.wait()
            cortex_job.wait()
            raise
        stages.fuse_risk(case)  # the image model's risk with the measured MCW (the card's fusion)
        stages.compare_readings(case)
        stages.measure_pmi(case)
        result = stages.build_result(case, opts.operating_point, opts.min_roi_confidence)
        result.timings_ms["total"] = (time.perf_counter() - t_start) * 1000.0
        return result


def _inside(rad: Radiograph, p: Any, what: str) -> tuple[float, float]:
    try:
        x, y = float(p[0]), float(p[1])
    except (TypeError, ValueError, IndexError):
        raise ConfigError(f"{what}: a point is two numbers x, y, not {p!r}") from None
    if not (0 <= x < rad.width and 0 <= y < rad.height):
        raise ConfigError(f"{what}: point ({x:g}, {y:g}) lies outside the {rad.width}x{rad.height} image")
    return x, y


def _sides(d: dict[str, Any], what: str) -> None:
    bad = [k for k in d if k not in ("left", "right")]
    if bad:
        raise ConfigError(f"{what}: sides are 'left' and 'right' (the patient's), not {bad[0]!r}")


def check_points(rad: Radiograph, pts: dict[str, tuple[float, float]] | None,
                 what: str) -> dict[str, tuple[float, float]] | None:
    """The dentist's points per side, checked to lie inside the image."""
    if not pts:
        return None
    _sides(pts, what)
    return {s: _inside(rad, p, f"{what} ({s})") for s, p in pts.items() if p is not None} or None


def check_pairs(rad: Radiograph, pairs: dict[str, tuple[tuple[float, float], tuple[float, float]]] | None
                ) -> dict[str, tuple[tuple[float, float], tuple[float, float]]] | None:
    """The dentist's two MCW points per side: inside the image and apart."""
    if not pairs:
        return None
    _sides(pairs, "dentist MCW")
    out: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    for side, pair in pairs.items():
        if pair is None:
            continue
        if len(pair) != 2:
            raise ConfigError(f"dentist MCW ({side}): two points across the cortex, not {pair!r}")
        a = _inside(rad, pair[0], f"dentist MCW ({side})")
        b = _inside(rad, pair[1], f"dentist MCW ({side})")
        if a == b:
            raise ConfigError(f"dentist MCW ({side}): the two points coincide; click both margins of the cortex")
        out[side] = (a, b)
    return out or None
