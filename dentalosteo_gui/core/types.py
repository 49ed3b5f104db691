"""Plain data types shared by the CLI, the GUI, the report and the ML package.

Coordinates are original-image pixels, (x, y) with x to the right and y down; arrays are
row-major (rows = y). Left/right ALWAYS mean the PATIENT's sides: on a panoramic radiograph
the patient's right is the image-left half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

# Eight trabecular landmarks (dataset columns lm_<name>_x / lm_<name>_y).
LANDMARK_NAMES: tuple[str, ...] = (
    "right_condyle",
    "right_gonial_angle",
    "right_premolar",
    "right_maxillary_tuberosity",
    "left_condyle",
    "left_gonial_angle",
    "left_premolar",
    "left_maxillary_tuberosity",
)

KLEMETTI_CLASSES: tuple[str, ...] = ("C1", "C2", "C3")

KLEMETTI_DEFINITIONS: dict[str, str] = {
    "C1": "C1: the endosteal margin of the cortex is even and sharp on both sides.",
    "C2": "C2: the endosteal margin shows semilunar defects (lacunar resorption) or "
    "endosteal cortical residues on one or both sides.",
    "C3": "C3: the cortical layer forms heavy endosteal cortical residues and is clearly porous.",
}


SPACING_SOURCES: tuple[str, ...] = ("file", "dataset", "user", "calibrated", "assumed", "anatomy")
#: sources a model may take its input scale from; otherwise the scale comes from the anatomy
MEASURED_SPACING_SOURCES: tuple[str, ...] = ("file", "dataset", "calibrated")


@dataclass(frozen=True)
class Spacing:
    """Pixel spacing in mm per pixel with its provenance; resolved once per screening by
    :func:`dentalosteo_gui.core.screening.spacing.resolve_spacing`.

    ``source``: ``file`` (the radiograph states it; ``detail`` names the DICOM attribute),
    ``dataset`` (a dataset ``labels.csv`` beside the image), ``user`` (an explicit override:
    ``--pixel-spacing`` or the GUI's spacing box), ``calibrated`` (a calibration), or
    ``assumed`` (the configured default: MCW in mm is then approximate), or ``anatomy``
    (estimated from the traced border: used only to scale what the model sees).
    """

    mm_per_px: float
    source: str
    detail: str = ""
    profile: str = ""  # the calibration profile's name (source ``calibrated``)
    magnification: float | None = None  # the radiographic magnification divided out, if any

    def __post_init__(self) -> None:
        if self.source not in SPACING_SOURCES:
            raise ValueError(f"spacing source must be one of {SPACING_SOURCES}, not {self.source!r}")
        if not (self.mm_per_px > 0 and self.mm_per_px < float("inf")):
            raise ValueError(f"spacing must be a positive finite number of mm/px, not {self.mm_per_px!r}")

    @property
    def assumed(self) -> bool:
        return self.source == "assumed"

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON shape: ``{mm_per_px, source, assumed, profile, magnification}``
        (+ ``detail`` when set)."""
        d: dict[str, Any] = {"mm_per_px": float(self.mm_per_px), "source": self.source,
                             "assumed": self.assumed, "profile": self.profile or None,
                             "magnification": self.magnification}
        if self.detail:
            d["detail"] = self.detail
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Spacing:
        """From a ``screen --json`` result: its ``spacing`` object, or (older files) the flat
        ``pixel_spacing_mm`` and ``mcw_mm.assumed_spacing``."""
        sp = d.get("spacing")
        if isinstance(sp, dict) and sp.get("source") in SPACING_SOURCES:
            mag = sp.get("magnification")
            return cls(float(sp["mm_per_px"]), str(sp["source"]), str(sp.get("detail") or ""),
                       str(sp.get("profile") or ""), None if mag is None else float(mag))
        mm = float(d.get("pixel_spacing_mm") or 0.0) or 0.1
        assumed = bool((d.get("mcw_mm") or {}).get("assumed_spacing", mm <= 0))
        return cls(mm, "assumed" if assumed else "file", "source not recorded (older result file)")

    def describe(self) -> str:
        """One line for people: ``0.210 mm/pixel (file: PixelSpacing)``."""
        where = self.source + (f": {self.detail}" if self.detail else "")
        text = f"{self.mm_per_px:.3f} mm/pixel ({where})"
        return text + ", MCW in mm approximate" if self.assumed else text


def years_between(born: str, on: str) -> float | None:
    """Years (one decimal) from the DICOM date ``born`` to the DICOM date ``on`` (YYYYMMDD);
    None when either is not a date or ``on`` comes first."""
    try:
        b = datetime.strptime(str(born).strip(), "%Y%m%d").date()
        o = datetime.strptime(str(on).strip(), "%Y%m%d").date()
    except ValueError:
        return None
    return round((o - b).days / 365.25, 1) if o >= b else None


@dataclass
class PatientInfo:
    """Patient/study metadata from DICOM or entered by the user. Never logged.

    ``repr`` is masked so an accidental log line cannot leak identifying data.
    """

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    institution: str = ""
    manufacturer: str = ""
    model: str = ""

    def __repr__(self) -> str:  # never print PHI
        filled = [k for k, v in self.as_dict().items() if v]
        return f"PatientInfo(<{len(filled)} fields hidden>)"

    __str__ = __repr__

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "patient_id": self.patient_id,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "study_date": self.study_date,
            "institution": self.institution,
            "manufacturer": self.manufacturer,
            "model": self.model,
        }

    def age_years(self) -> float | None:
        """Age at the study (years, one decimal) from ``birth_date`` and ``study_date``
        (DICOM YYYYMMDD); None when either is missing or not a date."""
        return years_between(self.birth_date, self.study_date)

    def is_empty(self) -> bool:
        return not any(self.as_dict().values())


@dataclass
class Radiograph:
    """A loaded radiograph: float32 pixels in [0, 1] (0 = black, bone is bright)."""

    pixels: np.ndarray
    path: str = ""
    format: str = ""  # PNG, JPEG, TIFF, BMP, DICOM, array
    bits_stored: int = 8
    photometric: str = "MONOCHROME2"
    modality: str = ""
    pixel_spacing_mm: float | None = None
    pixel_spacing_source: str = "none"
    magnification: float | None = None  # divided out of ImagerPixelSpacing by the reader, if any
    patient: PatientInfo = field(default_factory=PatientInfo)
    warnings: list[str] = field(default_factory=list)
    window: tuple[float, float] | None = None  # (centre, width) applied, DICOM only

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def file_spacing(self) -> Spacing | None:
        """What the file itself states (``pixel_spacing_mm`` with the attribute it came from)."""
        if self.pixel_spacing_mm is None or not self.pixel_spacing_mm > 0:
            return None
        detail = "" if self.pixel_spacing_source in ("", "none", "given") else self.pixel_spacing_source
        return Spacing(float(self.pixel_spacing_mm), "file", detail, magnification=self.magnification)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def info_dict(self, phi: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "bits_stored": self.bits_stored,
            "photometric": self.photometric,
            "modality": self.modality or None,
            "pixel_spacing_mm": self.pixel_spacing_mm,
            "pixel_spacing_source": self.pixel_spacing_source,
            "warnings": list(self.warnings),
        }
        if phi:
            d["patient"] = self.patient.as_dict()
        return d


@dataclass(frozen=True)
class RoiBox:
    """Axis-aligned box in original-image pixels."""

    x: int
    y: int
    w: int
    h: int

    def as_dict(self) -> dict[str, int]:
        return {"x": int(self.x), "y": int(self.y), "w": int(self.w), "h": int(self.h)}

    def clipped(self, width: int, height: int) -> RoiBox:
        x0 = max(0, min(int(self.x), width - 1))
        y0 = max(0, min(int(self.y), height - 1))
        x1 = max(x0 + 1, min(int(self.x + self.w), width))
        y1 = max(y0 + 1, min(int(self.y + self.h), height))
        return RoiBox(x0, y0, x1 - x0, y1 - y0)

    @staticmethod
    def parse(text: str) -> RoiBox:
        """Parse ``x,y,w,h`` (command line)."""
        from .errors import ConfigError

        parts = [p.strip() for p in text.split(",")]
        try:
            x, y, w, h = (int(round(float(p))) for p in parts)
        except ValueError:
            raise ConfigError(f"ROI must be four numbers x,y,w,h, not {text!r}") from None
        if w <= 0 or h <= 0:
            raise ConfigError(f"ROI width and height must be positive, not {text!r}")
        return RoiBox(x, y, w, h)


Polyline = list[tuple[float, float]]


@dataclass
class RoiProposal:
    """The proposed ROI plus the traced inferior mandibular border per patient side."""

    box: RoiBox
    border_right: Polyline  # patient's right = image-left half
    border_left: Polyline  # patient's left = image-right half
    confidence: float
    reasons: list[str] = field(default_factory=list)
    midline_x: float | None = None  # the mandible's midline (where the two sides meet)


Landmarks = dict[str, tuple[float, float]]

Point = tuple[float, float]


def segment_length(seg: Any) -> float:
    """Length in pixels of a two-point segment ((x1, y1), (x2, y2))."""
    return float(math.dist(seg[0], seg[1]))


#: where a mental-foramen point came from: proposed by the anatomy code, or placed by the dentist
FORAMEN_SOURCES: tuple[str, ...] = ("auto", "user")
SIDES: tuple[str, ...] = ("left", "right")  # the patient's sides


@dataclass(frozen=True)
class ForamenPoint:
    """The mental foramen on one patient side: its CENTRE in original-image pixels, with
    the proposal's confidence (0-1; None for a point the dentist placed) and its source
    (``auto`` or ``user``). The lower margin PMI needs is found below it along the border
    normal (``anatomy.foramen.lower_margin``)."""

    x: float
    y: float
    confidence: float | None = None
    source: str = "auto"

    def __post_init__(self) -> None:
        if self.source not in FORAMEN_SOURCES:
            raise ValueError(f"foramen source must be one of {FORAMEN_SOURCES}, not {self.source!r}")

    def xy(self) -> list[float]:
        return [round(float(self.x), 1), round(float(self.y), 1)]


def mcw_in_use(dentist: float | None, automatic: float | None) -> tuple[float | None, str]:
    """The one rule for which MCW a reading uses on a side: the dentist's two-point width
    where measured (``"dentist"``), else the automatic one (``"automatic"``; may be None).
    Callers pass both at the same scale (mm at the stated spacing, or at the model's scale)."""
    return (dentist, "dentist") if dentist is not None else (automatic, "automatic")


@dataclass
class CortexSide:
    mcw_mm: float | None
    mcw_iqr_mm: float | None
    roughness: float | None
    porosity: float | None
    n_normals: int
    normals: list[tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=list)


class Measured:
    """Something measured at a :class:`Spacing` (the ``spacing`` field): the flat names the
    JSON and older callers use."""

    spacing: Spacing

    @property
    def pixel_spacing_mm(self) -> float:
        return self.spacing.mm_per_px

    @property
    def assumed_spacing(self) -> bool:
        return self.spacing.assumed


@dataclass
class CortexMeasurement(Measured):
    right: CortexSide
    left: CortexSide
    klemetti_rule: str | None
    evidence: dict[str, Any]
    spacing: Spacing


@dataclass
class ModelInfo:
    name: str
    version: str
    sha256: str
    arch: str = ""
    source: str = ""  # phantom | real


@dataclass
class ScreeningResult(Measured):
    """What the engine returns and the GUI, CLI, report and history consume."""

    path: str
    risk: float | None
    risk_level: str | None  # low | intermediate | high (JSON/CSV key "band")
    operating_point: dict[str, Any]
    klemetti_class: str | None
    klemetti_probabilities: dict[str, float] | None
    klemetti_rule: str | None
    klemetti_agree: bool | None
    klemetti_evidence: dict[str, Any]
    mcw_left_mm: float | None
    mcw_right_mm: float | None
    spacing: Spacing
    assessable: bool
    warnings: list[str]
    roi: RoiBox | None
    roi_confidence: float | None
    border_right: Polyline
    border_left: Polyline
    landmarks: Landmarks | None
    attention: dict[str, float] | None
    model: ModelInfo | None
    device: str
    timings_ms: dict[str, float]
    heatmap: np.ndarray | None = None  # float32 [0,1], image-sized, zero outside ROI
    mode: str = "roi"  # roi | landmarks
    panoramic: bool = True  # False: not a dental panoramic, so no osteoporosis reading at all
    model_scale: Spacing | None = None  # the scale the model's input was built at (None: no model ran)
    referral: str | None = None  # refer | no_referral at the operating point (None: no score, or a
    # model trained on phantoms, whose score never decides a referral)
    other_reading: dict[str, Any] | None = None  # the other mode's reading {mode, risk, band, model}
    # the image model's own calibrated risk, and how ``risk`` was made from it (the card's
    # fusion with the measured MCW, or the image model alone: core.fusion)
    risk_image_model: float | None = None
    risk_basis: dict[str, Any] | None = None
    # issue 17: scale-free index and the dentist's own measurement (all optional)
    mental_foramen: dict[str, ForamenPoint] | None = None  # "left"/"right" -> centre (absent: not found)
    pmi_left: float | None = None  # panoramic mandibular index (Benson 1991), scale-free
    pmi_right: float | None = None
    pmi_detail: dict[str, Any] = field(default_factory=dict)  # per side: widths/heights in px, why none
    mcw_left_px: float | None = None  # the automatic MCW in pixels (no spacing involved)
    mcw_right_px: float | None = None
    mcw_dentist_left_mm: float | None = None  # the dentist's two-point MCW x spacing
    mcw_dentist_right_mm: float | None = None
    dentist_mcw: dict[str, tuple[Point, Point]] | None = None  # side -> the dentist's two points

    def foramen(self, side: str) -> ForamenPoint | None:
        return (self.mental_foramen or {}).get(side)

    def dentist_mcw_px(self, side: str) -> float | None:
        """The dentist's two-point width in pixels on ``side`` (None: not measured)."""
        pts = (self.dentist_mcw or {}).get(side)
        return segment_length(pts) if pts else None

    def mcw_px(self, side: str) -> float | None:
        """The automatic MCW in pixels on ``side`` (from the mm and the spacing on results
        saved before the pixel width was kept); None when not measured or not finite."""
        px = self.mcw_left_px if side == "left" else self.mcw_right_px
        mm = self.mcw_left_mm if side == "left" else self.mcw_right_mm
        if px is None and mm is not None and math.isfinite(mm):
            px = mm / self.spacing.mm_per_px
        return float(px) if px is not None and math.isfinite(px) else None

    def mcw_used_mm(self, side: str) -> tuple[float | None, str]:
        """The MCW the rule and the referral text use on ``side``: the dentist's when measured
        (``dentist``), else the automatic one (``automatic``)."""
        if side == "left":
            return mcw_in_use(self.mcw_dentist_left_mm, self.mcw_left_mm)
        return mcw_in_use(self.mcw_dentist_right_mm, self.mcw_right_mm)

    @property
    def status(self) -> str:
        """``assessed``, ``not_assessable`` (a panoramic that cannot be read: no score), or
        ``not_panoramic`` (no osteoporosis reading of any kind)."""
        if not self.panoramic:
            return "not_panoramic"
        return "assessed" if self.assessable else "not_assessable"

    def as_json_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "risk": self.risk,
            "risk_image_model": self.risk_image_model,
            "risk_basis": self.risk_basis,
            "band": self.risk_level,
            "operating_point": self.operating_point,
            "referral": self.referral,
            "other_reading": self.other_reading,
            "klemetti": {
                "class": self.klemetti_class,
                "probabilities": self.klemetti_probabilities,
                "rule_class": self.klemetti_rule,
                "agree": self.klemetti_agree,
                "evidence": {k: v for k, v in self.klemetti_evidence.items() if k != "normals"},
            },
            "mcw_mm": self._mcw_mm_json(),
            "pixel_spacing_mm": self.pixel_spacing_mm,
            "spacing": self.spacing.as_dict(),
            "model_input_scale": self.model_scale.as_dict() if self.model_scale else None,
            "assessable": self.assessable,
            "status": self.status,
            "warnings": list(self.warnings),
            "roi": self.roi.as_dict() if self.roi else None,
            "roi_confidence": self.roi_confidence,
            "landmarks": (
                {k: [float(v[0]), float(v[1])] for k, v in self.landmarks.items()}
                if self.landmarks
                else None
            ),
            "attention": self.attention,
            "model": (
                {"name": self.model.name, "version": self.model.version, "sha256": self.model.sha256}
                if self.model
                else None
            ),
            "device": self.device,
            "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()},
            "mode": self.mode,
            **self._issue17_json(),
        }

    def _mcw_mm_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"left": self.mcw_left_mm, "right": self.mcw_right_mm,
                             "assumed_spacing": self.assumed_spacing}
        # only the sides the dentist measured
        for side, v in (("left", self.mcw_dentist_left_mm), ("right", self.mcw_dentist_right_mm)):
            if v is not None:
                d[f"dentist_{side}"] = round(float(v), 3)
        return d

    def _issue17_json(self) -> dict[str, Any]:
        """PMI, the mental foramen (centre [x, y] per side, null when not found), MCW in
        pixels and the dentist's points: keys added by issue 17."""
        def r(v: float | None, nd: int) -> float | None:
            return None if v is None else round(float(v), nd)

        fm = {s: self.foramen(s) for s in ("left", "right")}
        out: dict[str, Any] = {
            "pmi": {"left": r(self.pmi_left, 3), "right": r(self.pmi_right, 3)},
            "pmi_detail": self.pmi_detail or None,
            "mental_foramen": {s: (p.xy() if p else None) for s, p in fm.items()},
            "mental_foramen_confidence": {s: (r(p.confidence, 3) if p else None) for s, p in fm.items()},
            "mental_foramen_source": {s: (p.source if p else None) for s, p in fm.items()},
            "mcw_px": self._mcw_px_json(),
        }
        if self.dentist_mcw:
            out["dentist_mcw"] = {s: [[round(float(a), 1), round(float(b), 1)] for a, b in pts]
                                  for s, pts in self.dentist_mcw.items()}
        return out

    def _mcw_px_json(self) -> dict[str, Any]:
        """MCW in pixels (needs no spacing): the automatic one per side, and the dentist's
        (``dentist_left`` / ``dentist_right``) on the sides they measured."""
        d: dict[str, Any] = {s: (None if v is None else round(float(v), 2))
                             for s, v in (("left", self.mcw_left_px), ("right", self.mcw_right_px))}
        for side in ("left", "right"):
            px = self.dentist_mcw_px(side)
            if px is not None:
                d[f"dentist_{side}"] = round(px, 2)
        return d
