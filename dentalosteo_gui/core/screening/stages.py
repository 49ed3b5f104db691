"""The screening pipeline as small named stages over one :class:`Case`.

proposal (ROI or landmarks) -> model input scale -> cortex measurement || quality check ||
(model, [the other mode's model]) -> heatmap placement -> risk fusion (the image model's risk with
the measured MCW, ``core/fusion.py``) -> [cross-check comparison] -> interpretation (risk level,
referral, Klemetti agreement, assessable, warnings).

Each stage is a plain function of the case (and what it needs), testable alone; the engine
(``engine.py``) only strings them together, holds the backends and times the stages.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from .. import anatomy
from ..anatomy.dentition import DentitionWork
from ..anatomy.foramen import pmi_check
from ..cards import classify_risk_level, operating_point, referral_decision, trained_on_phantoms
from ..errors import AnatomyError, DentalOsteoError
from ..fusion import RiskFusion, fuse
from ..imaging.heatmap import normalise_map, place_in_image
from ..records.report_text import DISAGREE_PREFIX
from ..types import (
    KLEMETTI_CLASSES,
    MEASURED_SPACING_SOURCES,
    CortexMeasurement,
    ForamenPoint,
    Landmarks,
    ModelInfo,
    Point,
    Radiograph,
    RoiBox,
    RoiProposal,
    ScreeningResult,
    Spacing,
    mcw_in_use,
    segment_length,
)
from .model_api import CortexStripModel, LandmarkModel, ModelPrediction, ProposalModel, RoiBoxModel

CancelFlag = threading.Event | Callable[[], bool] | None


class Cancelled(DentalOsteoError):
    """The user cancelled a running screening."""


def check_cancel(cancel: CancelFlag) -> None:
    if cancel is None:
        return
    flag = cancel.is_set() if isinstance(cancel, threading.Event) else bool(cancel())
    if flag:
        raise Cancelled("screening cancelled")


@dataclass
class Case:
    """One screening in progress: the input, then what each stage adds."""

    rad: Radiograph
    screening_mode: str  # roi | landmarks
    spacing: Spacing
    roi: RoiBox | None = None
    landmarks: Landmarks | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    proposal: RoiProposal | None = None
    whole_image: RoiProposal | None = None  # the whole-image proposal (differs for a user box)
    model_scale: Spacing | None = None  # what the model's input is scaled by
    reasons: list[str] = field(default_factory=list)
    # the dentition working copies of rad.pixels: made by the quality check, reused by the
    # landmarks (the same stretched image and band responses, computed once per screening)
    dentition: DentitionWork | None = None
    cortex: CortexMeasurement | None = None
    prediction: ModelPrediction | None = None
    model_info: ModelInfo | None = None
    card: dict[str, Any] | None = None
    device: str = "none"
    used_landmarks: Landmarks | None = None
    heatmap: np.ndarray | None = None
    other_reading: dict[str, Any] | None = None  # the other mode's reading (cross-check)
    other: Case | None = None  # the other mode's case (cross-check), compared after the fusion
    image_risk: float | None = None  # the image model's own calibrated risk (before the fusion)
    risk_basis: dict[str, Any] | None = None  # how the risk shown was made (fusion.fuse)
    risk_card: dict[str, Any] | None = None  # the card whose operating points go with the risk shown
    cortex_for_fusion: CortexMeasurement | None = None  # the cortex as the fusion reads it (model scale)
    user_foramen: dict[str, Point] | None = None  # the dentist's foramen points (override per side)
    dentist_mcw: dict[str, tuple[Point, Point]] | None = None  # the dentist's two points per side
    foramen: dict[str, ForamenPoint] = field(default_factory=dict)
    pmi: dict[str, float] = field(default_factory=dict)
    pmi_detail: dict[str, Any] = field(default_factory=dict)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


# ---------------------------------------------------------------------------- proposal, quality
def propose(case: Case, auto_proposal: Callable[[Radiograph], RoiProposal | None]) -> None:
    """The ROI and traced border: the whole-image proposal, or the border inside a user box."""
    t = time.perf_counter()
    rad = case.rad
    try:
        if case.roi is not None:
            box = case.roi.clipped(rad.width, rad.height)
            case.whole_image = auto_proposal(rad)
            case.proposal = anatomy.border_for_box(rad, box, case.whole_image)
        else:
            case.proposal = case.whole_image = anatomy.propose_roi(rad)
    except AnatomyError as exc:
        case.proposal = None
        case.warnings.append(str(exc))
    case.timings["roi"] = _ms(t)


class _StageThread:
    """One stage's numpy / OpenCV work in a thread beside the model call (both release the GIL
    for most of their work), in a copy of the caller's context, so it shares the screening's
    memo (``imaging.memo``). The thread writes only ``self.out``: what :meth:`compute` puts
    there, ``"raise"`` (an unexpected error, re-raised by :meth:`join` in the calling thread)
    and ``"ms"``. :meth:`join` waits and puts the result on the case once (:meth:`apply`);
    :meth:`wait` only waits: a cancelled or failed screening waits for its threads, so none
    runs on after it."""

    name = "stage"

    def __init__(self, case: Case, start: bool = True) -> None:
        self.case = case
        self.out: dict[str, Any] = {}
        self.started = start
        self.applied = False
        self.thread: threading.Thread | None = None
        if start:
            ctx = contextvars.copy_context()
            self.thread = threading.Thread(target=ctx.run, args=(self._run,), name=self.name, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            self.compute()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            self.out["raise"] = exc
        self.out["ms"] = _ms(t0)

    def compute(self) -> None:
        raise NotImplementedError

    def apply(self) -> None:
        raise NotImplementedError

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def join(self) -> None:
        self.wait()
        if self.applied:
            return
        if "raise" in self.out:
            raise self.out["raise"]
        self.applied = True
        self.apply()


class QualityJob(_StageThread):
    """The quality check (the frame, the edentulous and child checks, on the image's dentition
    working copies) beside the model; joined before anything reads ``case.reasons`` or
    ``case.dentition`` (the landmark model, the cross-check, the result), which then hold what
    the check gives in sequence."""

    name = "quality"

    def compute(self) -> None:
        rad = self.case.rad
        work = DentitionWork(rad.pixels)
        self.out["reasons"] = list(anatomy.assess_quality(rad, self.case.proposal, work))
        self.out["dentition"] = work

    def apply(self) -> None:
        case = self.case
        case.dentition = self.out["dentition"]
        case.reasons = self.out["reasons"]
        case.timings["quality"] = float(self.out["ms"])


def spacing_warning(mm_per_px: float) -> str:
    """What an uncalibrated screening says about its scale: the widths are in pixels (and as
    PMI); millimetres would rest on the assumed default."""
    return (f"pixel spacing unknown (no calibration): MCW given in pixels and as PMI; mm would rest "
            f"on an assumed {mm_per_px:g} mm/px; calibrate (dentalosteo calibrate, or Tools > Ruler)")


def note_spacing(case: Case) -> None:
    if case.spacing.assumed:
        case.warnings.append(spacing_warning(case.spacing.mm_per_px))


def choose_model_scale(case: Case) -> None:
    """The scale of the model's input: the spacing when it was measured (file, dataset,
    calibration); otherwise (assumed, or typed by the user) an estimate from the traced
    anatomy, so the risk does not hinge on a guessed number. MCW keeps the stated spacing."""
    if case.spacing.source in MEASURED_SPACING_SOURCES:
        case.model_scale = case.spacing
        return
    est = anatomy.anatomical_mm_per_px(case.whole_image or case.proposal)
    case.model_scale = (Spacing(est, "anatomy", "traced border span") if est is not None
                        else case.spacing)


# ---------------------------------------------------------------------------- cortex || model
class CortexJob(_StageThread):
    """The cortex measurement beside the model (none without a proposal); the result is the
    same as in sequence, its warning at the place it would have had."""

    name = "cortex"

    def __init__(self, case: Case) -> None:
        self.warn_at = len(case.warnings)
        self.proposal = case.proposal
        super().__init__(case, start=case.proposal is not None)

    def compute(self) -> None:
        assert self.proposal is not None
        try:
            self.out["value"] = anatomy.measure_cortex(self.case.rad, self.proposal, self.case.spacing)
        except AnatomyError as exc:
            self.out["warning"] = str(exc)

    def apply(self) -> None:
        case = self.case
        if self.started:
            case.cortex = self.out.get("value")
            if "warning" in self.out:
                case.warnings.insert(self.warn_at, self.out["warning"])
        case.timings["cortex"] = float(self.out.get("ms", 0.0))


def _model_mm(case: Case) -> float:
    return (case.model_scale or case.spacing).mm_per_px


def _identify(case: Case, backend: Any) -> None:
    """The model that read (or tried to read) the case."""
    case.model_info, case.card, case.device = backend.info, backend.card, backend.device


def _take(case: Case, pred: ModelPrediction, backend: Any) -> None:
    case.prediction = pred
    case.timings.update({f"model_{k}": v for k, v in pred.timings_ms.items()})
    _identify(case, backend)


def run_landmark_model(case: Case, backend: LandmarkModel | None, lock: threading.Lock) -> None:
    t = time.perf_counter()
    case.used_landmarks = case.landmarks or anatomy.propose_landmarks(case.rad, case.proposal, case.dentition)
    case.timings["landmarks"] = _ms(t)
    if backend is None:
        case.warnings.append("no landmark model installed: risk not computed in landmark mode")
        return
    with lock:
        pred = backend.predict_landmarks(case.rad.pixels, case.used_landmarks, _model_mm(case))
    _take(case, pred, backend)


def run_proposal_model(case: Case, backend: ProposalModel | None, gradcam: str | None,
                       lock: threading.Lock) -> None:
    """The model on the ROI box or on the cortex strip, as the backend's input kind says."""
    if backend is None:
        case.warnings.append("no model installed: showing rule-based measurements only")
        return
    proposal = case.proposal
    if proposal is None:
        return
    if backend.input_kind == "cortex_strip":
        strip_model = cast(CortexStripModel, backend)
        try:
            with lock:
                pred = strip_model.predict_strip(case.rad.pixels, proposal, _model_mm(case), gradcam=gradcam)
        except AnatomyError as exc:
            case.warnings.append(f"risk not computed: {exc}")
            _identify(case, backend)
            return
    else:
        with lock:
            pred = cast(RoiBoxModel, backend).predict_roi(case.rad.pixels, proposal.box, gradcam=gradcam)
    _take(case, pred, backend)


def clip_unit_in_place(m: np.ndarray) -> np.ndarray:
    """``m`` with the values of ``np.clip(m, 0.0, 1.0)``, in place: only the values outside
    [0, 1] are written (NaN and -0.0 stay, as with ``clip``), so a map that is zero outside
    the band is not written over the whole image (its untouched pages stay unallocated)."""
    np.minimum(m, 1.0, out=m, where=m > 1.0)
    np.maximum(m, 0.0, out=m, where=m < 0.0)
    return m


def place_heatmap(case: Case) -> None:
    """The model's map in image pixels ([0, 1]); None without a map."""
    pred, proposal = case.prediction, case.proposal
    if pred is None or proposal is None:
        return
    if pred.map_image is not None:
        m = np.asarray(pred.map_image, dtype=np.float32)  # handed over (model_api.ModelPrediction)
        case.heatmap = clip_unit_in_place(m) if m.flags.writeable else np.clip(m, 0.0, 1.0)
    elif pred.map_roi is not None:
        case.heatmap = place_in_image(normalise_map(pred.map_roi), proposal.box, case.rad.pixels.shape)


# ---------------------------------------------------------------------------- cross-check
#: ROI and landmark readings disagree when their risk levels differ or the scores differ by more
DISAGREEMENT_MARGIN = 0.2


def cross_check(case: Case, proposal_model: ProposalModel | None, landmark_model: LandmarkModel | None,
                lock: threading.Lock) -> None:
    """The other mode's reading of the same image (ROI box/strip vs the eight landmarks), so
    two answers for one image are never shown without a word that they differ. Grad-CAM is
    off for it: only the score is compared, by :func:`compare_readings` once both are fused."""
    if case.prediction is None or case.proposal is None:
        return
    other = Case(rad=case.rad, spacing=case.spacing, proposal=case.proposal, whole_image=case.whole_image,
                 model_scale=case.model_scale, warnings=[], dentition=case.dentition,
                 dentist_mcw=case.dentist_mcw,
                 screening_mode="roi" if case.screening_mode == "landmarks" else "landmarks")
    if other.screening_mode == "landmarks":
        if landmark_model is None:
            return
        run_landmark_model(other, landmark_model, lock)
    else:
        run_proposal_model(other, proposal_model, None, lock)
    if other.prediction is not None:
        case.other = other


def compare_readings(case: Case) -> None:
    """The cross-check's verdict on the two (fused) readings: ``other_reading``, and a
    warning when their risk levels differ or the scores differ by more than the margin."""
    other = case.other
    if other is None or other.prediction is None or case.prediction is None:
        return
    other.cortex, other.cortex_for_fusion = case.cortex, cortex_at_model_scale(case)
    fuse_risk(other)
    risk = float(other.prediction.risk)
    level = classify_risk_level(other.risk_card or other.card, risk)
    case.other_reading = {"mode": other.screening_mode, "risk": risk, "band": level,
                          "model": other.model_info.name if other.model_info else None}
    own = float(case.prediction.risk)
    own_level = classify_risk_level(case.risk_card or case.card, own)
    if own_level != level or abs(own - risk) > DISAGREEMENT_MARGIN:
        names = {"roi": "ROI", "landmarks": "landmark"}
        case.warnings.append(
            f"{DISAGREE_PREFIX}: the {names[case.screening_mode]} reading is {own:.2f} ({own_level}), "
            f"the {names[other.screening_mode]} reading {risk:.2f} ({level}); judge the cortex "
            "yourself and say which you relied on"
        )


# ---------------------------------------------------------------------------- risk fusion
#: the fusion re-measures the cortex at the model's scale when the stated spacing is this far
#: off it (a typed or assumed spacing: the reader's windows are in mm, so its width in pixels
#: moves with a grossly wrong spacing, and the fused risk must not). The anatomy's estimate on
#: the 26 scored abdi_dev PNGs lies 0.095-0.122 mm/px against the assumed 0.1: within this
#: margin nothing is measured twice (about 50 ms)
REMEASURE_AT_MODEL_SCALE = 0.25


def cortex_at_model_scale(case: Case) -> CortexMeasurement | None:
    """The cortex as the fusion reads it: the screening's own measurement, or (when the stated
    spacing is more than :data:`REMEASURE_AT_MODEL_SCALE` off the model's scale) one taken
    again at the model's scale. Kept on the case (``cortex_for_fusion``); the MCW shown is
    always the screening's own."""
    if case.cortex_for_fusion is not None:
        return case.cortex_for_fusion
    cortex, scale = case.cortex, case.model_scale
    if (cortex is not None and scale is not None and case.proposal is not None
            and abs(scale.mm_per_px / case.spacing.mm_per_px - 1.0) > REMEASURE_AT_MODEL_SCALE):
        t = time.perf_counter()
        try:
            cortex = anatomy.measure_cortex(case.rad, case.proposal, scale)
        except AnatomyError:
            cortex = case.cortex
        case.timings["cortex_at_model_scale"] = _ms(t)
    case.cortex_for_fusion = cortex
    return cortex


def mcw_used(case: Case) -> dict[str, tuple[float | None, str]]:
    """The MCW each side's reading uses, in mm **at the model's input scale** (the measured
    spacing, or the traced anatomy's estimate when the spacing is only assumed or typed: the
    fused risk, like the image model's, must not hinge on a guessed number): the dentist's
    where measured, else the automatic one (``side -> (mm or None, source)``)."""
    scale = _model_mm(case)
    cortex = cortex_at_model_scale(case)
    out: dict[str, tuple[float | None, str]] = {}
    for side in SIDES:
        dentist, auto = dentist_width_px(case, side), _mcw_px(cortex, side)
        out[side] = mcw_in_use(None if dentist is None else dentist * scale, None if auto is None else auto * scale)
    return out


def fuse_risk(case: Case) -> None:
    """The risk shown: the image model's calibrated risk fused with the measured MCW when the
    pack carries a fitted fusion (``fusion.fuse``); the image model's own risk is kept as
    ``image_risk``, and ``risk_card`` holds the operating points that go with the risk shown."""
    pred = case.prediction
    if pred is None:
        return
    case.image_risk = float(pred.risk)
    # a pack without a fusion needs no width (and no re-measure at the model's scale)
    used = mcw_used(case) if RiskFusion.from_card(case.card) is not None else {}
    risk, card, basis = fuse(case.card, case.image_risk, used)
    case.prediction = replace(pred, risk=risk)
    case.risk_card, case.risk_basis = card, basis


# ---------------------------------------------------------------------------- foramen, PMI, dentist MCW
SIDES = ("right", "left")


def locate_foramen(case: Case) -> None:
    """The mental foramen per side: the dentist's point where given (source ``user``), else
    the proposal (``auto``, with its confidence); a side without one says why in
    ``pmi_detail``."""
    t = time.perf_counter()
    user = case.user_foramen or {}
    found: dict[str, ForamenPoint] = {}
    why: dict[str, str] = {}
    if case.proposal is not None and any(s not in user for s in SIDES):
        try:
            found, why = anatomy.propose_foramen(case.rad.pixels, case.proposal)
        except AnatomyError as exc:
            why = {s: str(exc) for s in SIDES}
    elif case.proposal is None:
        why = {s: "no traced border" for s in SIDES}
    for side, (x, y) in user.items():
        found[side] = ForamenPoint(float(x), float(y), None, "user")
        why.pop(side, None)
    case.foramen = found
    for side, reason in why.items():
        case.pmi_detail[side] = {"reason": reason}
    case.timings["foramen"] = _ms(t)


def dentist_width_px(case: Case, side: str) -> float | None:
    pts = (case.dentist_mcw or {}).get(side)
    return segment_length(pts) if pts else None


def measure_pmi(case: Case) -> None:
    """PMI per side at the foramen (automatic cortex width / height of the foramen's lower
    margin above the border, in pixels); with the dentist's width too (``pmi_dentist``)."""
    t = time.perf_counter()
    if case.proposal is None:
        for side, placed in case.foramen.items():
            case.pmi_detail[side] = {"foramen_source": placed.source, "reason": "no traced border"}
        return
    for side in SIDES:
        pt = case.foramen.get(side)
        if pt is None:
            continue
        cside = None if case.cortex is None else getattr(case.cortex, side)
        try:
            val, detail = anatomy.measure_pmi(case.rad.pixels, case.proposal, side, pt, cside,
                                              _mcw_px(case.cortex, side))
        except AnatomyError as exc:
            val, detail = None, {"reason": str(exc)}
        dentist = dentist_width_px(case, side)
        height = detail.get("height_px")
        if dentist is not None and isinstance(height, float) and height > dentist:
            detail["pmi_dentist"] = round(dentist / height, 3)
            if "check" not in detail:
                detail.update(pmi_check(dentist / height, "with the dentist's width"))
        case.pmi_detail[side] = {"foramen_source": pt.source, **detail}
        if val is not None:
            case.pmi[side] = float(val)
    case.timings["pmi"] = _ms(t)


def dentist_mcw_mm(case: Case) -> dict[str, float]:
    """The dentist's MCW per measured side: the two points' distance x the screening's
    spacing (the same :class:`Spacing` as the automatic MCW, at the anatomical scale)."""
    out: dict[str, float] = {}
    for side in SIDES:
        px = dentist_width_px(case, side)
        if px is not None:
            out[side] = px * case.spacing.mm_per_px
    return out


def _mcw_px(cortex: CortexMeasurement | None, side: str) -> float | None:
    mm = None if cortex is None else getattr(cortex, side).mcw_mm
    return None if mm is None else float(mm) / cortex.spacing.mm_per_px  # type: ignore[union-attr]


def _mcw_used_evidence(ev: dict[str, Any], auto: CortexMeasurement | None, dentist: dict[str, float]) -> None:
    """The rule's evidence says which MCW each side's reading uses: the dentist's when measured."""
    if not dentist:
        return
    used: dict[str, Any] = {}
    for side in SIDES:
        a = None if auto is None else getattr(auto, side).mcw_mm
        v, source = mcw_in_use(dentist.get(side), a)
        used[side] = {"mm": None if v is None else round(float(v), 3), "source": source,
                      "automatic_mm": None if a is None else round(float(a), 3)}
    ev["mcw_used"] = used


# ---------------------------------------------------------------------------- interpretation
def phantom_model_warning(case: Case) -> None:
    info = case.model_info
    if info is None or info.source != "phantom":
        return
    beh = (case.card or {}).get("behaviour_on_unlabelled_real_radiographs") or {}
    rho = beh.get("spearman_risk_vs_rule_mean_mcw") if isinstance(beh, dict) else None
    # say what was seen on real images: a risk that ignored the cortex is worse than one
    # that merely has not been checked against DXA
    seen = (" (on real radiographs its score did not follow the cortical width)"
            if isinstance(rho, (int, float)) and rho >= 0 else
            " (no DXA-labelled radiograph has checked it)")
    case.warnings.append(
        "the installed model was trained on synthetic phantoms only and is not validated on "
        f"real radiographs{seen}: do not act on the risk score; use the MCW and your own "
        "reading of the cortex, or install a validated model"
    )


def klemetti_agreement(case: Case) -> tuple[str | None, str | None, bool | None]:
    """(model class, rule class, agree) and a warning when they differ."""
    probs = case.prediction.klemetti if case.prediction else None
    model_class = max(KLEMETTI_CLASSES, key=lambda c: probs.get(c, -1.0)) if probs else None
    rule_class = case.cortex.klemetti_rule if case.cortex else None
    agree = (model_class == rule_class) if (model_class and rule_class) else None
    if agree is False:
        case.warnings.append(
            f"Klemetti hint: the model says {model_class}, the cortex measurement says {rule_class}; "
            "look at the cortex yourself"
        )
    return model_class, rule_class, agree


def assessability(case: Case, min_roi_confidence: float) -> bool:
    proposal = case.proposal
    if proposal is not None and proposal.confidence < min_roi_confidence and not case.reasons:
        case.reasons.append(
            f"{anatomy.LOW_ROI_CONFIDENCE} ({proposal.confidence:.2f}): check and adjust the box"
        )
    return not case.reasons


def evidence_with_normals(cortex: CortexMeasurement | None) -> dict[str, Any]:
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


def withhold_unassessable(case: Case) -> bool:
    """No score without an assessable image: drop the model's reading (risk, Klemetti class,
    attention, heatmap); where no usable lower border was found (not a panoramic, out of
    frame, too faint, low confidence ...: ``anatomy.has_no_border``) also the cortex
    measurement, which would be read off noise; for a child the Klemetti rule's class (an
    adult's grade; the width stays). Returns whether the image is a panoramic."""
    panoramic = not anatomy.is_not_panoramic(case.reasons)
    case.prediction = None
    case.image_risk = case.risk_basis = case.risk_card = None
    case.heatmap = None
    # the cross-check's warning quotes both withheld scores: it goes with them
    case.other_reading = None
    case.warnings = [w for w in case.warnings if not w.startswith(DISAGREE_PREFIX)]
    case.cortex = anatomy.reportable_cortex(case.cortex, case.reasons)
    return panoramic


def build_result(case: Case, operating_point_name: str, min_roi_confidence: float) -> ScreeningResult:
    """Interpretation: the one result the GUI, CLI, report and history consume."""
    assessable = assessability(case, min_roi_confidence)
    panoramic = True
    if assessable:
        phantom_model_warning(case)
    else:
        panoramic = withhold_unassessable(case)
    model_class, rule_class, agree = klemetti_agreement(case)
    pred, card, proposal, cortex = case.prediction, case.card, case.proposal, case.cortex
    risk = float(pred.risk) if pred is not None else None
    risk_card = case.risk_card or card  # the fusion's operating points go with a fused risk
    level = classify_risk_level(risk_card, risk) if risk is not None else None
    op = operating_point(risk_card, operating_point_name) if risk_card else {}
    dentist = dentist_mcw_mm(case)
    evidence = evidence_with_normals(cortex)
    _mcw_used_evidence(evidence, cortex, dentist)
    res = ScreeningResult(
        path=case.rad.path,
        risk=risk,
        risk_image_model=case.image_risk if pred is not None else None,
        risk_basis=case.risk_basis if pred is not None else None,
        risk_level=level,
        operating_point=op,
        # a phantom-trained model's score never decides a referral (its card says so)
        referral=None if trained_on_phantoms(card) else referral_decision(op, risk),
        klemetti_class=model_class,
        klemetti_probabilities=pred.klemetti if pred else None,
        klemetti_rule=rule_class,
        klemetti_agree=agree,
        klemetti_evidence=evidence,
        mcw_left_mm=cortex.left.mcw_mm if cortex else None,
        mcw_right_mm=cortex.right.mcw_mm if cortex else None,
        spacing=case.spacing,
        assessable=assessable,
        warnings=case.reasons + [w for w in case.warnings if w not in case.reasons],
        roi=proposal.box if proposal else case.roi,
        roi_confidence=proposal.confidence if proposal else None,
        border_right=list(proposal.border_right) if proposal else [],
        border_left=list(proposal.border_left) if proposal else [],
        landmarks=case.used_landmarks,
        attention=pred.attention if pred else None,
        model=case.model_info,
        device=case.device,
        timings_ms=case.timings,
        heatmap=case.heatmap,
        mode=case.screening_mode,
        panoramic=panoramic,
        model_scale=case.model_scale if pred is not None else None,
        other_reading=case.other_reading if pred is not None else None,
    )
    add_scale_free(res, case, dentist, panoramic)
    return res


def add_scale_free(res: ScreeningResult, case: Case, dentist: dict[str, float], panoramic: bool) -> None:
    """Issue 17's fields: MCW in pixels, the foramen, PMI, the dentist's MCW (none of the
    anatomy on an image that is not a panoramic; the dentist's own points are kept)."""
    cortex = case.cortex
    res.mcw_left_px, res.mcw_right_px = _mcw_px(cortex, "left"), _mcw_px(cortex, "right")
    pairs = case.dentist_mcw or {}
    res.dentist_mcw = {s: pairs[s] for s in ("left", "right") if s in pairs} or None
    res.mcw_dentist_left_mm, res.mcw_dentist_right_mm = dentist.get("left"), dentist.get("right")
    if not panoramic:
        return
    res.mental_foramen = {s: case.foramen[s] for s in ("left", "right") if s in case.foramen}
    if cortex is None:  # withheld (no usable border): the PMI is that width over a height
        return
    res.pmi_left, res.pmi_right = case.pmi.get("left"), case.pmi.get("right")
    res.pmi_detail = {s: case.pmi_detail[s] for s in ("left", "right") if s in case.pmi_detail}
