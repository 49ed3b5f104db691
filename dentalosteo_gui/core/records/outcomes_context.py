"""Context beside a reading (issue 19): the OST index from age and weight, the clinical
context stored per screening, and the patient's earlier MCW measurements (priors).

None of this changes the model's risk: OST and priors are shown beside the reading.

- OST (Osteoporosis Self-assessment Tool; Koh et al. 2001, Osteoporos Int 12:699): 0.2 x
  (weight kg - age years), truncated to an integer; bands < -4 high, -4..-1 moderate,
  > -1 low. Derived in postmenopausal Asian women: elsewhere (men, other populations) the
  bands are indicative only.
- Priors: a change of MCW between two screenings is flagged only when it exceeds the
  measurement's repeatability coefficient :data:`MCW_REPEATABILITY_MM` (docs/outcomes.md,
  measured by ``bench/mcw_repeatability.py``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..types import years_between
from .audit import utc_now
from .history import History
from .outcomes import OutcomeError, radiograph_date

log = logging.getLogger(__name__)

OST_NOTE = ("OST = 0.2 x (weight kg - age years), truncated; bands < -4 high, -4 to -1 "
            "moderate, > -1 low (Koh 2001; derived in postmenopausal Asian women: indicative "
            "elsewhere). Context only: not part of the model's risk.")
AGE_RANGE = (18.0, 120.0)
WEIGHT_RANGE_KG = (20.0, 300.0)
SEXES = ("F", "M", "O")

# Repeatability coefficient of the measured MCW (2.77 x within-subject SD, pooled over sides):
# 0.91 mm on phantoms of style v2 (seeds 0-99) re-read with the ROI box nudged +-5 % and fresh
# pixel noise (bench/mcw_repeatability.py; 0.27 mm on the easier v1 style); rounded up.
# docs/outcomes.md "Priors". A real re-take also moves the patient: its RC is larger still.
MCW_REPEATABILITY_MM = 1.0
MCW_REPEATABILITY_SOURCE = ("repeatability coefficient of MCW on phantoms re-screened with "
                            "+-5 % box nudges and fresh noise (bench/mcw_repeatability.py)")


# -- OST ------------------------------------------------------------------------------------


def ost_index(weight_kg: float, age_years: float) -> int:
    """OST = 0.2 x (weight - age), truncated toward zero (exact: no float rounding)."""
    if not (math.isfinite(weight_kg) and math.isfinite(age_years)):
        raise ValueError("weight and age must be finite numbers")
    return int(Fraction(str(weight_kg)) / 5 - Fraction(str(age_years)) / 5)


def ost_band(ost: int) -> str:
    """``high`` (< -4), ``moderate`` (-4..-1) or ``low`` (> -1)."""
    if ost < -4:
        return "high"
    if ost <= -1:
        return "moderate"
    return "low"


@dataclass(frozen=True)
class ClinicalContext:
    """Optional clinical context of a screening (never the model's input)."""

    age_years: float | None = None
    sex: str | None = None
    weight_kg: float | None = None
    source: str = "typed"  # typed | dicom

    @property
    def ost(self) -> int | None:
        if self.age_years is None or self.weight_kg is None:
            return None
        return ost_index(self.weight_kg, self.age_years)

    def describe(self) -> str:
        ost = self.ost
        if ost is None:
            return "OST: needs age and weight"
        return f"OST {ost} ({ost_band(ost)})"


def _in_range(name: str, v: float | None, rng: tuple[float, float], unit: str) -> float | None:
    if v is None:
        return None
    if not math.isfinite(v) or not rng[0] <= v <= rng[1]:
        raise OutcomeError(f"{name} {v:g} {unit} is outside {rng[0]:g}..{rng[1]:g} {unit}")
    return round(float(v), 1)


def validate_context(age_years: float | None, sex: str | None, weight_kg: float | None,
                     source: str = "typed") -> ClinicalContext:
    """Checked context: age 18-120 years, weight 20-300 kg, sex F/M/O."""
    sx = (sex or "").strip().upper()[:1] or None
    if sx is not None and sx not in SEXES:
        raise OutcomeError(f"sex {sex!r} must be F, M or O")
    ctx = ClinicalContext(_in_range("age", age_years, AGE_RANGE, "years"), sx,
                          _in_range("weight", weight_kg, WEIGHT_RANGE_KG, "kg"), source)
    if ctx.age_years is None and ctx.weight_kg is None and ctx.sex is None:
        raise OutcomeError("give at least one of --age, --sex, --weight (none found in the file)")
    return ctx


def _dicom_age(ds: Any) -> float | None:
    """PatientAge (nnnY/M/W/D), else the birth date to the study date (never stored)."""
    text = str(ds.get("PatientAge", "") or "").strip().upper()
    per_year = {"Y": 1.0, "M": 12.0, "W": 52.1775, "D": 365.25}
    if len(text) == 4 and text[:3].isdigit() and text[3] in per_year:
        return round(int(text[:3]) / per_year[text[3]], 1)
    on = str(ds.get("StudyDate", "") or ds.get("AcquisitionDate", "") or "").strip()
    return years_between(str(ds.get("PatientBirthDate", "")), on or date.today().strftime("%Y%m%d"))


def context_from_dicom(path: Path) -> tuple[float | None, str | None, float | None]:
    """(age years, sex, weight kg) from a DICOM header; Nones for what it lacks or when the
    file is not DICOM. The birth date is used only to compute the age."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError):
        return None, None, None
    try:
        weight = float(ds.get("PatientWeight", None) or 0.0) or None
    except (TypeError, ValueError):
        weight = None
    sex = str(ds.get("PatientSex", "") or "").strip().upper() or None
    return _dicom_age(ds), sex if sex in SEXES else None, weight


def record_context(history: History, screening_id: int, ctx: ClinicalContext) -> int:
    """Store the context of a screening (audited); the latest row wins when read back."""
    history.get(screening_id)  # HistoryError naming the id when there is no such screening
    row = {"screening_id": int(screening_id), "created_utc": utc_now(), "age_years": ctx.age_years,
           "sex": ctx.sex, "weight_kg": ctx.weight_kg, "source": ctx.source}
    ids = history.insert_audited("clinical", [row], detail=lambda r: {
        "screening_id": r["screening_id"], "source": r["source"]})
    return ids[0]


def load_contexts(history: History) -> dict[int, ClinicalContext]:
    """The latest clinical context per screening id."""
    if not history.has_table("clinical"):
        return {}
    out: dict[int, ClinicalContext] = {}
    for r in history.query("SELECT * FROM clinical ORDER BY id"):
        out[int(r["screening_id"])] = ClinicalContext(r["age_years"], r["sex"], r["weight_kg"],
                                                      str(r["source"]))
    return out


# -- priors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class McwPoint:
    """One radiograph of the patient: its date and MCW per patient side."""

    screening_id: int
    when: date
    mcw_right_mm: float | None
    mcw_left_mm: float | None
    assumed_spacing: bool


@dataclass(frozen=True)
class McwChange:
    """A change of one side's MCW between two radiographs beyond the repeatability."""

    side: str  # right | left (patient's)
    from_id: int
    to_id: int
    from_date: date
    to_date: date
    delta_mm: float
    comparable: bool  # False when either reading used an assumed pixel spacing


def mcw_over_time(history: History, patient: str) -> list[McwPoint]:
    """The patient's MCW per side over time, oldest first (ID or pseudonym; the latest
    screening of each radiograph)."""
    latest: dict[str, dict[str, Any]] = {}
    for s in history.list(patient, limit=100_000):  # newest first
        if s["patient_id"] and s["file_sha256"] not in latest:
            latest[s["file_sha256"]] = s
    pts = [McwPoint(int(s["id"]), radiograph_date(s), s["mcw_right_mm"], s["mcw_left_mm"],
                    bool(s["assumed_spacing"])) for s in latest.values()]
    return sorted(pts, key=lambda p: (p.when, p.screening_id))


def mcw_changes(points: list[McwPoint],
                repeatability_mm: float = MCW_REPEATABILITY_MM) -> list[McwChange]:
    """Per side, each radiograph against the previous measured one: a change is reported
    only when ``|delta| > repeatability_mm``. ``comparable`` is False when a pixel spacing
    was assumed (mm then approximate)."""
    out: list[McwChange] = []
    for side in ("right", "left"):
        prev: McwPoint | None = None
        for p in points:
            v = getattr(p, f"mcw_{side}_mm")
            if v is None:
                continue
            if prev is not None:
                d = float(v) - float(getattr(prev, f"mcw_{side}_mm"))
                if abs(d) > repeatability_mm:
                    out.append(McwChange(side, prev.screening_id, p.screening_id, prev.when,
                                         p.when, round(d, 3),
                                         not (p.assumed_spacing or prev.assumed_spacing)))
            prev = p
    return sorted(out, key=lambda c: (c.to_date, c.side))
