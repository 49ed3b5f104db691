"""The screening engine: radiograph in, :class:`ScreeningResult` out.

One engine serves the GUI, the CLI, batch and the report. It is core code: no Qt, no
TensorFlow. The model is reached through the :class:`ModelBackend` protocol (implemented by
``dentalosteo_gui.ml.backend.KerasBackend``; wired up in ``dentalosteo_gui.services``), so the
engine runs - rule-based measurements only - even when no model is installed.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .errors import AnatomyError, DentalOsteoError
from .heatmap import normalise_map, place_in_image
from .types import (
    KLEMETTI_CLASSES,
    Landmarks,
    ModelInfo,
    Radiograph,
    RoiBox,
    RoiProposal,
    ScreeningResult,
)

log = logging.getLogger(__name__)


class Cancelled(DentalOsteoError):
    """The user cancelled a running screening."""


class ModelBackend(Protocol):
    info: ModelInfo
    card: dict[str, Any]
    mode: str
    device: str

    def warm(self) -> float: ...

    def predict_roi(self, pixels: np.ndarray, box: RoiBox, gradcam: str | None = "gradcam") -> dict[str, Any]: ...

    def predict_landmarks(self, pixels: np.ndarray, landmarks: Landmarks,
                          pixel_spacing_mm: float | None) -> dict[str, Any]: ...

    # and, for ``mode == "band"`` backends (the straightened cortex along the traced border):
    # predict_band(pixels, proposal, pixel_spacing_mm, gradcam) -> dict with ``map_image``


@dataclass
class EngineOptions:
    operating_point: str = "balanced"
    gradcam_method: str = "gradcam"  # gradcam | gradcam++ | none
    default_pixel_spacing_mm: float = 0.1
    min_roi_confidence: float = 0.35


def operating_point(card: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """The named operating point from a model card (falls back to 'balanced', then any)."""
    ops = dict((card or {}).get("operating_points") or {})
    ops.pop("bands", None)
    chosen = ops.get(name) or ops.get("balanced") or (next(iter(ops.values())) if ops else None)
    if not isinstance(chosen, dict):
        return {}
    key = name if name in ops else ("balanced" if "balanced" in ops else next(iter(ops)))
    out = {"name": key, **{k: chosen.get(k) for k in ("threshold", "sensitivity", "specificity")}}
    # The threshold was chosen on a validation split; show the sensitivity/specificity measured
    # on the held-out test set when the card has them (never the numbers it was tuned on).
    held = chosen.get("held_out")
    if isinstance(held, dict) and held.get("sensitivity") is not None:
        out["sensitivity"] = held.get("sensitivity")
        out["specificity"] = held.get("specificity")
        out["measured_on"] = "held-out test set"
    return out


def risk_band(card: dict[str, Any] | None, risk: float) -> str:
    """low / intermediate / high from the card's band thresholds."""
    c = card or {}
    bands = c.get("bands") or (c.get("operating_points") or {}).get("bands") or {}
    low_max = float(bands.get("low_max", 0.3))
    high_min = float(bands.get("high_min", 0.6))
    if risk < low_max:
        return "low"
    if risk >= high_min:
        return "high"
    return "intermediate"


def _check(cancel: threading.Event | Callable[[], bool] | None) -> None:
    if cancel is None:
        return
    flag = cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())
    if flag:
        raise Cancelled("screening cancelled")


def _evidence_with_normals(cortex: Any) -> dict[str, Any]:
    """Cortex evidence plus the measurement normals (segments) the GUI and report draw.

    ``normals`` is kept out of the JSON output (see ScreeningResult.as_json_dict).
    """
    if cortex is None:
        return {}
    ev = dict(cortex.evidence)
    ev["normals"] = [
        [[float(a[0]), float(a[1])], [float(b[0]), float(b[1])]]
        for side in (cortex.right, cortex.left) for a, b in (side.normals or [])
    ]
    return ev


class Engine:
    """Loads nothing itself; holds the backends (loaded once, warmed on first use)."""

    def __init__(self, roi_backend: ModelBackend | None = None,
                 landmark_backend: ModelBackend | Callable[[], ModelBackend | None] | None = None,
                 options: EngineOptions | None = None) -> None:
        self.roi_backend = roi_backend
        self._landmark_backend = landmark_backend
        self.options = options or EngineOptions()
        self._lock = threading.Lock()
        self._auto_cache: tuple[Any, RoiProposal | None] | None = None

    @property
    def landmark_backend(self) -> ModelBackend | None:
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
        from . import anatomy

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

    # ------------------------------------------------------------------ main entry
    def screen(self, rad: Radiograph, roi: RoiBox | None = None, landmarks: Landmarks | None = None,
               mode: str = "roi", pixel_spacing_mm: float | None = None,
               cancel: threading.Event | Callable[[], bool] | None = None) -> ScreeningResult:
        """Screen one radiograph.

        ``roi`` (original pixels) overrides the proposal; ``landmarks`` switches to landmark
        mode (or pass ``mode="landmarks"`` to auto-place them). Spacing precedence:
        ``pixel_spacing_mm`` argument, then the file's, then the configured default (flagged
        as assumed).
        """
        from . import anatomy

        if landmarks is not None:
            mode = "landmarks"
        opts = self.options
        timings: dict[str, float] = {}
        warnings: list[str] = list(rad.warnings)
        t_start = time.perf_counter()

        _check(cancel)
        t = time.perf_counter()
        proposal: RoiProposal | None
        try:
            if roi is not None:
                box = roi.clipped(rad.width, rad.height)
                proposal = anatomy.border_for_box(rad, box, self._auto_proposal(rad))
            else:
                proposal = anatomy.propose_roi(rad)
        except AnatomyError as exc:
            proposal = None
            warnings.append(str(exc))
        timings["roi"] = (time.perf_counter() - t) * 1000.0

        _check(cancel)
        t = time.perf_counter()
        reasons = list(anatomy.assess_quality(rad, proposal))
        timings["quality"] = (time.perf_counter() - t) * 1000.0

        spacing = pixel_spacing_mm or rad.pixel_spacing_mm
        if not spacing and rad.path:
            from .dataset import sidecar_spacing  # a dataset labels.csv beside a PNG

            spacing = sidecar_spacing(rad.path)
        assumed = spacing is None
        spacing_used = float(spacing) if spacing else float(opts.default_pixel_spacing_mm)
        if assumed:
            warnings.append(
                f"pixel spacing unknown: {spacing_used:g} mm/px assumed, so MCW in mm is approximate"
            )

        _check(cancel)
        # The cortex measurement (numpy / OpenCV) runs beside the model call (TensorFlow), which
        # both release the GIL for most of their work; the result is the same as in sequence.
        cortex_out: dict[str, Any] = {}
        cortex_warn_at = len(warnings)

        def _measure(prop: RoiProposal) -> None:
            t0 = time.perf_counter()
            try:
                c = anatomy.measure_cortex(rad, prop, pixel_spacing_mm=spacing_used)
                c.assumed_spacing = assumed
                cortex_out["value"] = c
            except AnatomyError as exc:
                cortex_out["warning"] = str(exc)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                cortex_out["raise"] = exc
            cortex_out["ms"] = (time.perf_counter() - t0) * 1000.0

        cortex_thread = None
        if proposal is not None:
            cortex_thread = threading.Thread(target=_measure, args=(proposal,), name="cortex", daemon=True)
            cortex_thread.start()

        risk = None
        klemetti_probs: dict[str, float] | None = None
        attention: dict[str, float] | None = None
        heat: np.ndarray | None = None
        model_info: ModelInfo | None = None
        card: dict[str, Any] | None = None
        device = "none"
        used_landmarks: Landmarks | None = None

        _check(cancel)
        if mode == "landmarks":
            t = time.perf_counter()
            used_landmarks = landmarks or anatomy.propose_landmarks(rad, proposal)
            timings["landmarks"] = (time.perf_counter() - t) * 1000.0
            backend = self.landmark_backend
            if backend is None:
                warnings.append("no landmark model installed: risk not computed in landmark mode")
            else:
                with self._lock:
                    pred = backend.predict_landmarks(rad.pixels, used_landmarks, spacing_used)
                risk, klemetti_probs = pred.get("risk"), pred.get("klemetti")
                attention = pred.get("attention")
                timings.update({f"model_{k}": v for k, v in (pred.get("timings_ms") or {}).items()})
                model_info, card, device = backend.info, backend.card, backend.device
        else:
            backend = self.roi_backend
            if backend is None:
                warnings.append("no model installed: showing rule-based measurements only")
            elif proposal is not None:
                method = None if opts.gradcam_method == "none" else opts.gradcam_method
                pred = {}
                if getattr(backend, "mode", "roi") == "band":
                    # the model reads the straightened cortex along the traced border
                    try:
                        with self._lock:
                            predict_band = getattr(backend, "predict_band")  # noqa: B009 - optional method
                            pred = predict_band(rad.pixels, proposal, spacing_used, gradcam=method)
                    except AnatomyError as exc:
                        warnings.append(f"risk not computed: {exc}")
                else:
                    with self._lock:
                        pred = backend.predict_roi(rad.pixels, proposal.box, gradcam=method)
                risk, klemetti_probs = pred.get("risk"), pred.get("klemetti")
                if pred.get("map_image") is not None:
                    heat = np.clip(np.asarray(pred["map_image"], dtype=np.float32), 0.0, 1.0)
                elif pred.get("map") is not None:
                    heat = place_in_image(normalise_map(pred["map"]), proposal.box, rad.pixels.shape)
                timings.update({f"model_{k}": v for k, v in (pred.get("timings_ms") or {}).items()})
                model_info, card, device = backend.info, backend.card, backend.device

        cortex = None
        if cortex_thread is not None:
            cortex_thread.join()
            if "raise" in cortex_out:
                raise cortex_out["raise"]
            cortex = cortex_out.get("value")
            if "warning" in cortex_out:
                warnings.insert(cortex_warn_at, cortex_out["warning"])
        timings["cortex"] = float(cortex_out.get("ms", 0.0))

        if model_info is not None and model_info.source == "phantom":
            beh = (card or {}).get("behaviour_on_unlabelled_real_radiographs") or {}
            rho = beh.get("spearman_risk_vs_rule_mean_mcw") if isinstance(beh, dict) else None
            # say what was seen on real images: a risk that ignored the cortex is worse than one
            # that merely has not been checked against DXA
            seen = (" (on real radiographs its score did not follow the cortical width)"
                    if isinstance(rho, (int, float)) and rho >= 0 else
                    " (no DXA-labelled radiograph has checked it)")
            warnings.append(
                "the installed model was trained on synthetic phantoms only and is not validated on "
                f"real radiographs{seen}: do not act on the risk score; use the MCW and your own "
                "reading of the cortex, or install a validated model"
            )
        model_class = None
        if klemetti_probs:
            model_class = max(KLEMETTI_CLASSES, key=lambda c: klemetti_probs.get(c, -1.0))
        rule_class = cortex.klemetti_rule if cortex else None
        agree = (model_class == rule_class) if (model_class and rule_class) else None
        if agree is False:
            warnings.append(
                f"Klemetti hint: the model says {model_class}, the cortex measurement says {rule_class}; "
                "look at the cortex yourself"
            )

        assessable = not reasons
        if proposal is not None and proposal.confidence < opts.min_roi_confidence and not reasons:
            reasons.append(
                f"low confidence in the proposed region ({proposal.confidence:.2f}): check and adjust the box"
            )
            assessable = False
        op = operating_point(card, opts.operating_point) if card else {}
        band = risk_band(card, float(risk)) if (risk is not None and assessable) else None
        timings["total"] = (time.perf_counter() - t_start) * 1000.0

        return ScreeningResult(
            path=rad.path,
            risk=float(risk) if risk is not None else None,
            band=band,
            operating_point=op,
            klemetti_class=model_class,
            klemetti_probabilities=klemetti_probs,
            klemetti_rule=rule_class,
            klemetti_agree=agree,
            klemetti_evidence=_evidence_with_normals(cortex),
            mcw_left_mm=cortex.left.mcw_mm if cortex else None,
            mcw_right_mm=cortex.right.mcw_mm if cortex else None,
            assumed_spacing=assumed,
            pixel_spacing_mm=spacing_used,
            assessable=assessable,
            warnings=reasons + [w for w in warnings if w not in reasons],
            roi=proposal.box if proposal else roi,
            roi_confidence=proposal.confidence if proposal else None,
            border_right=list(proposal.border_right) if proposal else [],
            border_left=list(proposal.border_left) if proposal else [],
            landmarks=used_landmarks,
            attention=attention,
            model=model_info,
            device=device,
            timings_ms=timings,
            heatmap=heat,
            mode=mode,
        )
