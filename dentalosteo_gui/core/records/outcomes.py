"""DXA outcomes of screened patients (issue 19): entry, validation, and the link to screenings.

An outcome is one DXA measurement: a date, a site and a T-score, plus the WHO category
(given, or derived from the T-score: <= -2.5 osteoporosis, < -1 osteopenia, else normal) and
optionally fractures. One DXA exam (a patient and a date) may hold several sites; the
exam's category is the worst of its rows, which for derived categories is the category of
its lowest T-score (the WHO rule: lowest of lumbar spine, femoral neck, total hip).

Outcomes are stored in the history (table ``outcomes``, schema v2) under the patient key the
history keeps: the DICOM PatientID, or its pseudonym where the patient's screenings were
anonymised (:meth:`History.patient_key`). Screenings and outcomes are linked through the
*canonical* key (the pseudonym of a plain ID, or the stored pseudonym), so a plain and an
anonymised screening of one patient meet the same outcome. Every write appends to the
audit chain in the same transaction (:meth:`History.insert_audited`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..errors import DentalOsteoError
from .audit import utc_now
from .deidentify import local_salt, pseudonym
from .history import History

CATEGORIES: tuple[str, ...] = ("normal", "osteopenia", "osteoporosis")
SITES: tuple[str, ...] = ("lumbar_spine", "femoral_neck", "total_hip", "radius_33", "unspecified")
FRACTURES: tuple[str, ...] = ("vertebral", "hip", "wrist", "humerus", "other")
T_SCORE_RANGE = (-6.0, 4.0)
EARLIEST_DATE = date(1900, 1, 1)
OSTEOPOROSIS_T = -2.5  # WHO: T <= -2.5
OSTEOPENIA_T = -1.0  # WHO: -2.5 < T < -1
DEFAULT_MAX_DAYS = 365  # a DXA this far from the radiograph (either side) still counts
ID_HINT = ("give the ID as `dentalosteo history` shows it: the DICOM PatientID, or the "
           "CASE-... key of an anonymised screening")


class OutcomeError(DentalOsteoError):
    """A DXA outcome (or clinical context) is invalid or cannot be linked."""


def who_category(t_score: float) -> str:
    """WHO category of a T-score: <= -2.5 osteoporosis, < -1 osteopenia, else normal."""
    if t_score <= OSTEOPOROSIS_T:
        return "osteoporosis"
    if t_score < OSTEOPENIA_T:
        return "osteopenia"
    return "normal"


def severity(category: str) -> int:
    """0 normal, 1 osteopenia, 2 osteoporosis."""
    return CATEGORIES.index(category)


# -- validation ----------------------------------------------------------------------------


def parse_t_score(value: Any) -> float:
    """A T-score in -6..+4 (a number or its text)."""
    try:
        t = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise OutcomeError(f"T-score {value!r} is not a number (e.g. -2.7)") from None
    lo, hi = T_SCORE_RANGE
    if not math.isfinite(t) or not lo <= t <= hi:
        raise OutcomeError(f"T-score {t:g} is outside {lo:g}..{hi:+g} (check the value)")
    return round(t, 2)


def parse_dxa_date(text: str, today: date | None = None) -> date:
    """A YYYY-MM-DD date, not before 1900 and not in the future."""
    try:
        d = datetime.strptime(str(text).strip(), "%Y-%m-%d").date()
    except ValueError:
        raise OutcomeError(f"DXA date {text!r} must be a date YYYY-MM-DD") from None
    if d < EARLIEST_DATE:
        raise OutcomeError(f"DXA date {d.isoformat()} is before 1900 (check the year)")
    if d > (today or date.today()):
        raise OutcomeError(f"DXA date {d.isoformat()} is in the future")
    return d


def parse_site(text: str | None) -> str:
    s = (text or "unspecified").strip().lower().replace(" ", "_").replace("-", "_")
    if s not in SITES:
        raise OutcomeError(f"site {text!r} must be one of {', '.join(SITES)}")
    return s


def parse_category(text: str | None) -> str | None:
    if text is None or not str(text).strip():
        return None
    c = str(text).strip().lower()
    if c not in CATEGORIES:
        raise OutcomeError(f"category {text!r} must be one of {', '.join(CATEGORIES)}")
    return c


def parse_fractures(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for f in items:
        v = f.strip().lower()
        if v not in FRACTURES:
            raise OutcomeError(f"fracture {f!r} must be one of {', '.join(FRACTURES)}")
        if v not in out:
            out.append(v)
    return out


# -- patient keys ---------------------------------------------------------------------------


def canonical_key(patient_id: str, pseudonymised: bool, salt: str) -> str:
    """The key that links screenings and outcomes: the pseudonym (stored or computed)."""
    pid = (patient_id or "").strip()
    if not pid:
        return ""
    return pid if pseudonymised else pseudonym(pid, salt)


def resolve_patient(history: History, patient: str) -> tuple[str, bool]:
    """The key to store an outcome under for ``patient`` (as the history shows it):
    the pseudonym when any of the patient's screenings was anonymised, else the ID.
    OutcomeError when no screening of that patient is in the history."""
    pid = (patient or "").strip()
    if not pid:
        raise OutcomeError(f"--patient is required ({ID_HINT})")
    pseudo = pseudonym(pid, local_salt())
    rows = history.query("SELECT DISTINCT patient_id, pseudonymised FROM screenings "
                         "WHERE patient_id IN (?, ?)", (pid, pseudo))
    if not rows:
        raise OutcomeError(f"no screening of patient {pid!r} in the history ({ID_HINT})")
    stored_pseudo = [str(r["patient_id"]) for r in rows if r["pseudonymised"]]
    if stored_pseudo:  # never store the plain ID of a patient screened anonymously
        return (pid if pid in stored_pseudo else pseudo), True
    return pid, False


# -- entry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DxaReading:
    """One site of a DXA exam."""

    site: str
    t_score: float


def add_outcome(history: History, patient: str, dxa_date: str, readings: list[DxaReading], *,
                category: str | None = None, fractures: Iterable[str] = (),
                today: date | None = None) -> list[int]:
    """Validate and store one DXA exam (one row per site) in one audited transaction.

    ``readings`` are (site, T-score) pairs (validated again here); ``category`` overrides the
    derived category of every row, and may not be milder than the lowest T-score says (a
    more severe one is kept: e.g. a diagnosis made on a site not entered). Returns the ids.
    """
    d = parse_dxa_date(dxa_date, today)
    if not readings:
        raise OutcomeError("give at least one --t-score")
    reads = [DxaReading(parse_site(r.site), parse_t_score(r.t_score)) for r in readings]
    sites = [r.site for r in reads]
    if len(set(sites)) != len(sites):
        raise OutcomeError(f"site {next(s for s in sites if sites.count(s) > 1)} given twice")
    given = parse_category(category)
    lowest = min(r.t_score for r in reads)
    if given is not None and severity(given) < severity(who_category(lowest)):
        raise OutcomeError(f"category {given} contradicts the T-score {lowest:g} "
                           f"({who_category(lowest)}); fix one of them")
    frac = json.dumps(parse_fractures(fractures))
    key, pseudo = resolve_patient(history, patient)
    salt = local_salt()
    canon = canonical_key(key, pseudo, salt)
    rows = [{"created_utc": utc_now(), "patient_id": key, "pseudonymised": int(pseudo),
             "dxa_date": d.isoformat(), "site": r.site, "t_score": r.t_score,
             "category": given or who_category(r.t_score), "category_given": int(given is not None),
             "fractures": frac} for r in reads]

    def no_duplicates() -> None:  # inside the write transaction: race-safe
        for o in _outcome_rows(history):
            if (canonical_key(o["patient_id"], bool(o["pseudonymised"]), salt) == canon
                    and o["dxa_date"] == d.isoformat() and o["site"] in sites):
                raise OutcomeError(f"a DXA {o['site']} T-score of this patient on {o['dxa_date']} "
                                   f"is already recorded (outcome #{o['id']})")

    return history.insert_audited("outcomes", rows, check=no_duplicates, detail=lambda r: {
        k: r[k] for k in ("patient_id", "pseudonymised", "dxa_date", "site", "t_score",
                          "category", "category_given")})


def _outcome_rows(history: History) -> list[dict[str, Any]]:
    if not history.has_table("outcomes"):
        return []
    return history.query("SELECT * FROM outcomes ORDER BY id")


# -- exams and links --------------------------------------------------------------------------


@dataclass
class DxaExam:
    """The DXA rows of one patient on one date."""

    key: str  # canonical patient key
    dxa_date: date
    sites: dict[str, float] = field(default_factory=dict)  # site -> T-score
    category: str = "normal"
    fractures: list[str] = field(default_factory=list)
    outcome_ids: list[int] = field(default_factory=list)

    @property
    def lowest_t(self) -> float:
        return min(self.sites.values())

    def confirmed(self, count_osteopenia: bool = False) -> bool:
        """Osteoporosis on DXA (or osteopenia too, when ``count_osteopenia``)."""
        return severity(self.category) >= (1 if count_osteopenia else 2)


def load_exams(history: History) -> dict[str, list[DxaExam]]:
    """DXA exams per canonical patient key, oldest first."""
    salt = local_salt()
    exams: dict[tuple[str, str], DxaExam] = {}
    for o in _outcome_rows(history):
        key = canonical_key(o["patient_id"], bool(o["pseudonymised"]), salt)
        ex = exams.setdefault((key, o["dxa_date"]),
                              DxaExam(key, date.fromisoformat(o["dxa_date"])))
        ex.sites[o["site"]] = float(o["t_score"])
        if not ex.outcome_ids or severity(o["category"]) > severity(ex.category):
            ex.category = o["category"]
        ex.fractures += [f for f in json.loads(o["fractures"] or "[]") if f not in ex.fractures]
        ex.outcome_ids.append(int(o["id"]))
    out: dict[str, list[DxaExam]] = {}
    for ex in sorted(exams.values(), key=lambda e: e.dxa_date):
        out.setdefault(ex.key, []).append(ex)
    return out


def radiograph_date(screening: dict[str, Any]) -> date:
    """When the radiograph was taken: its DICOM study date, else the day it was screened
    (anonymised screenings keep no study date)."""
    sd = str(screening.get("study_date") or "").strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(sd, fmt).date()
        except ValueError:
            continue
    return date.fromisoformat(str(screening["created_utc"])[:10])


@dataclass(frozen=True)
class Link:
    """A screening's DXA exam and the days from radiograph to DXA (negative: DXA before)."""

    exam: DxaExam
    days: int


def link_exam(screening: dict[str, Any], exams: dict[str, list[DxaExam]], salt: str,
              max_days: int = DEFAULT_MAX_DAYS) -> Link | None:
    """The patient's DXA exam nearest in time to the radiograph, within ``max_days``
    (ties: the later exam); None when there is none."""
    key = canonical_key(str(screening.get("patient_id") or ""),
                        bool(screening.get("pseudonymised")), salt)
    when = radiograph_date(screening)
    best: Link | None = None
    for ex in exams.get(key, []) if key else []:
        days = (ex.dxa_date - when).days
        if abs(days) <= max_days and (best is None or abs(days) <= abs(best.days)):
            best = Link(ex, days)
    return best


def patient_outcomes(history: History, patient: str,
                     max_days: int = DEFAULT_MAX_DAYS) -> list[dict[str, Any]]:
    """The patient's DXA exams, each with the screenings it links to and the days between
    radiograph and DXA (for ``dentalosteo outcome list`` and the GUI)."""
    key, pseudo = resolve_patient(history, patient)
    salt = local_salt()
    exams = load_exams(history)
    canon = canonical_key(key, pseudo, salt)
    screenings = sorted(history.list(patient, limit=100_000), key=lambda s: int(s["id"]))
    out = []
    for ex in exams.get(canon, []):
        links = [{"screening_id": s["id"], "days": lk.days} for s in screenings
                 if (lk := link_exam(s, exams, salt, max_days)) is not None and lk.exam is ex]
        out.append({"patient": key, "dxa_date": ex.dxa_date.isoformat(), "sites": ex.sites,
                    "lowest_t": ex.lowest_t, "category": ex.category,
                    "fractures": ex.fractures, "outcome_ids": ex.outcome_ids,
                    "screenings": links})
    return out
