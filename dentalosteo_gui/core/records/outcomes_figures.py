"""The clinic's own figures (issue 19): referrals against DXA outcomes, from the history.

Unit: one radiograph (file sha256); of several screenings of one radiograph with the same
model version and operating point the latest counts. Per model (name, version, operating
point, threshold) and per device profile (the calibration profile the pixel spacing came
from, when any):

- ``n_screened``; ``n_referred``: risk >= the operating point's threshold stored with the
  screening (no score: not assessable or no model, is not referred);
- ``n_with_outcome``: linked to a DXA exam of the patient within ``max_days`` of the
  radiograph (:func:`outcomes.link_exam`); ``n_referred_with_outcome``;
- confirmed = DXA osteoporosis (``count_osteopenia``: osteopenia counts too);
- PPV = referred and confirmed / referred with an outcome; sensitivity and specificity among
  the radiographs with an outcome; Wilson 95 % intervals; empty where the denominator is 0.

The comparator ``mcw_lt_3mm`` refers when the measured MCW (mean of the measured sides) is
under 3 mm, on the latest screening of each radiograph whatever the model.

Partial verification: only patients sent to DXA have an outcome, and those are mostly the
referred ones, so sensitivity is biased upwards and specificity downwards; PPV is the figure
least affected (every referred patient should have a DXA).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..system.atomic import atomic_write_text
from .deidentify import local_salt
from .history import History, _csv_safe
from .outcomes import DEFAULT_MAX_DAYS, Link, canonical_key, link_exam, load_exams, radiograph_date
from .outcomes_context import ClinicalContext, load_contexts

MCW_RULE_MM = 3.0
MCW_RULE = "mcw_lt_3mm"
MIN_N = 10  # below this many in a denominator the PDF says "n too small", not a percentage
ALL_PROFILES = "all"

FIGURE_COLUMNS = [
    "rule", "model_name", "model_version", "operating_point", "threshold", "device_profile",
    "n_screened", "n_referred", "n_with_outcome", "n_referred_with_outcome",
    "n_referred_confirmed", "n_confirmed", "ppv", "ppv_ci95_lo", "ppv_ci95_hi",
    "sensitivity", "sensitivity_ci95_lo", "sensitivity_ci95_hi",
    "specificity", "specificity_ci95_lo", "specificity_ci95_hi",
    "small_n", "confirmed_means", "max_days",
]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """Wilson score interval of k successes in n (None when n is 0)."""
    if n <= 0:
        return None
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Case:
    """One screening as the figures see it."""

    screening_id: int
    file_sha256: str
    key: str  # canonical patient key ("" when the screening had no patient ID)
    risk: float | None
    threshold: float | None
    operating_point: str
    model_name: str
    model_version: str
    profile: str
    mcw_right_mm: float | None
    mcw_left_mm: float | None
    assumed_spacing: bool
    when: date  # the radiograph's date (study date, else the day it was screened)
    link: Link | None
    context: ClinicalContext | None

    @property
    def referred(self) -> bool:
        return self.risk is not None and self.threshold is not None and self.risk >= self.threshold

    @property
    def mcw_mm(self) -> float | None:
        vals = [v for v in (self.mcw_right_mm, self.mcw_left_mm) if v is not None]
        return sum(vals) / len(vals) if vals else None

    @property
    def mcw_referred(self) -> bool:
        m = self.mcw_mm
        return m is not None and m < MCW_RULE_MM


def _case(s: dict[str, Any], exams: Any, salt: str, max_days: int,
          contexts: dict[int, ClinicalContext]) -> Case:
    op = s.get("operating_point") or {}
    th = op.get("threshold") if isinstance(op, dict) else None
    spacing = ((s.get("result") or {}).get("spacing") or {}) if isinstance(s.get("result"), dict) else {}
    return Case(
        int(s["id"]), str(s["file_sha256"]),
        canonical_key(str(s.get("patient_id") or ""), bool(s.get("pseudonymised")), salt),
        None if s.get("risk") is None else float(s["risk"]),
        float(th) if isinstance(th, (int, float)) and not isinstance(th, bool) else None,
        str(op.get("name") or "") if isinstance(op, dict) else "",
        str(s.get("model_name") or ""), str(s.get("model_version") or ""),
        str(spacing.get("profile") or ""), s.get("mcw_right_mm"), s.get("mcw_left_mm"),
        bool(s.get("assumed_spacing")), radiograph_date(s),
        link_exam(s, exams, salt, max_days), contexts.get(int(s["id"])))


def load_cases(history: History, max_days: int = DEFAULT_MAX_DAYS) -> list[Case]:
    """Every screening with its DXA link and clinical context, oldest first."""
    salt = local_salt()
    exams = load_exams(history)
    contexts = load_contexts(history)
    rows = history.list(limit=10_000_000)
    return [_case(s, exams, salt, max_days, contexts) for s in reversed(rows)]


def latest_per_radiograph(cases: list[Case], key: Callable[[Case], Any] = lambda c: None
                          ) -> list[Case]:
    """The latest screening of each (group, radiograph)."""
    out: dict[tuple[Any, str], Case] = {}
    for c in cases:  # oldest first: later ones replace earlier ones
        out[(key(c), c.file_sha256)] = c
    return list(out.values())


def _rate(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    ci = wilson(k, n)
    return (None, None, None) if ci is None else (k / n, ci[0], ci[1])


def count_row(cases: list[Case], referred: Callable[[Case], bool], count_osteopenia: bool,
              min_n: int = MIN_N) -> dict[str, Any]:
    """The counts and rates of one group (see the module docstring)."""
    out = [c for c in cases if c.link is not None]
    conf = {c.screening_id for c in out if c.link is not None and c.link.exam.confirmed(count_osteopenia)}
    tp = sum(1 for c in out if referred(c) and c.screening_id in conf)
    fp = sum(1 for c in out if referred(c) and c.screening_id not in conf)
    fn = len(conf) - tp
    tn = len(out) - tp - fp - fn
    ppv, sens, spec = _rate(tp, tp + fp), _rate(tp, tp + fn), _rate(tn, tn + fp)
    small = [name for name, n in (("ppv", tp + fp), ("sensitivity", tp + fn),
                                  ("specificity", tn + fp)) if n < min_n]
    return {
        "n_screened": len(cases), "n_referred": sum(1 for c in cases if referred(c)),
        "n_with_outcome": len(out), "n_referred_with_outcome": tp + fp,
        "n_referred_confirmed": tp, "n_confirmed": len(conf),
        "ppv": ppv[0], "ppv_ci95_lo": ppv[1], "ppv_ci95_hi": ppv[2],
        "sensitivity": sens[0], "sensitivity_ci95_lo": sens[1], "sensitivity_ci95_hi": sens[2],
        "specificity": spec[0], "specificity_ci95_lo": spec[1], "specificity_ci95_hi": spec[2],
        "small_n": ";".join(f"{n} n<{min_n}" for n in small),
        "confirmed_means": "osteoporosis or osteopenia" if count_osteopenia else "osteoporosis",
    }


def _model_key(c: Case) -> tuple[str, str, str, float | None]:
    return (c.model_name, c.model_version, c.operating_point, c.threshold)


def _grouped(cases: list[Case], key: Callable[[Case], Any]) -> dict[Any, list[Case]]:
    groups: dict[Any, list[Case]] = {}
    for c in cases:
        groups.setdefault(key(c), []).append(c)
    return groups


def _profile_splits(cases: list[Case]) -> list[tuple[str, list[Case]]]:
    """All radiographs, then each device profile when there is more than one."""
    by = _grouped(cases, lambda c: c.profile or "unprofiled")
    return [(ALL_PROFILES, cases)] + (sorted(by.items()) if len(by) > 1 else [])


def compute_figures(cases: list[Case], *, count_osteopenia: bool = False,
                    max_days: int = DEFAULT_MAX_DAYS, min_n: int = MIN_N) -> list[dict[str, Any]]:
    """One row per model version and operating point (and device profile), then the MCW
    comparator; columns :data:`FIGURE_COLUMNS`."""
    rows: list[dict[str, Any]] = []
    model_cases = latest_per_radiograph(cases, _model_key)
    for (name, version, op, th), group in sorted(
            _grouped(model_cases, _model_key).items(), key=lambda kv: tuple(map(str, kv[0]))):
        for profile, part in _profile_splits(group):
            rows.append({"rule": "model" if name else "no_model", "model_name": name,
                         "model_version": version, "operating_point": op, "threshold": th,
                         "device_profile": profile, "max_days": max_days,
                         **count_row(part, lambda c: c.referred, count_osteopenia, min_n)})
    for profile, part in _profile_splits(latest_per_radiograph(cases)):
        rows.append({"rule": MCW_RULE, "model_name": "", "model_version": "",
                     "operating_point": f"MCW < {MCW_RULE_MM:g} mm", "threshold": MCW_RULE_MM,
                     "device_profile": profile, "max_days": max_days,
                     **count_row(part, lambda c: c.mcw_referred, count_osteopenia, min_n)})
    return rows


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if math.isfinite(v) else ""
    return _csv_safe(v)


def write_figures_csv(rows: list[dict[str, Any]], out: Path) -> Path:
    """The figures as CSV (atomically); empty cells where a rate is not estimable."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIGURE_COLUMNS)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in FIGURE_COLUMNS])
    return atomic_write_text(Path(out), buf.getvalue())


def mcw_by_outcome(cases: list[Case], count_osteopenia: bool = False
                   ) -> tuple[list[float], list[float]]:
    """Measured mean MCW (mm) of the radiographs with a DXA outcome: (confirmed, not)."""
    yes: list[float] = []
    no: list[float] = []
    for c in latest_per_radiograph(cases):
        m = c.mcw_mm
        if c.link is None or m is None:
            continue
        (yes if c.link.exam.confirmed(count_osteopenia) else no).append(float(m))
    return yes, no


def ost_table(cases: list[Case], count_osteopenia: bool = False) -> dict[str, dict[str, int]]:
    """Radiographs with a DXA outcome by OST band (or ``unknown``): confirmed / not."""
    from .outcomes_context import ost_band

    table: dict[str, dict[str, int]] = {b: {"confirmed": 0, "not": 0}
                                        for b in ("high", "moderate", "low", "unknown")}
    for c in latest_per_radiograph(cases):
        if c.link is None:
            continue
        ost = c.context.ost if c.context is not None else None
        band = "unknown" if ost is None else ost_band(ost)
        table[band]["confirmed" if c.link.exam.confirmed(count_osteopenia) else "not"] += 1
    return table


def linked_cases(cases: list[Case]) -> list[Case]:
    """The latest screening of each radiograph that has a DXA outcome, oldest first."""
    return [c for c in latest_per_radiograph(cases) if c.link is not None]


def date_span(cases: list[Case]) -> tuple[str, str]:
    """First and last radiograph dates (ISO), or ("", "")."""
    if not cases:
        return "", ""
    days = sorted(c.when for c in cases)
    return days[0].isoformat(), days[-1].isoformat()
