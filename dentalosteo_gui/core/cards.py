"""What a model card says: operating points, risk levels, the referral decision at a
threshold, and the words for them (a score is a "probability" only when the card says so)."""

from __future__ import annotations

from typing import Any


def operating_point(card: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """The named operating point from a model card (falls back to 'balanced', then any)."""
    ops = dict((card or {}).get("operating_points") or {})
    ops.pop("bands", None)
    chosen = ops.get(name) or ops.get("balanced") or (next(iter(ops.values())) if ops else None)
    if not isinstance(chosen, dict):
        return {}
    key = name if name in ops else ("balanced" if "balanced" in ops else next(iter(ops)))
    out = {"name": key, "label": operating_point_label(key),
           **{k: chosen.get(k) for k in ("threshold", "sensitivity", "specificity")}}
    # The threshold was chosen on a validation split; show the sensitivity/specificity measured
    # on the held-out test set when the card has them (never the numbers it was tuned on).
    held = chosen.get("held_out")
    if isinstance(held, dict) and held.get("sensitivity") is not None:
        out["sensitivity"] = held.get("sensitivity")
        out["specificity"] = held.get("specificity")
        out["measured_on"] = "held-out test set"
    if trained_on_phantoms(card):
        out["measured_on"] = "held-out phantoms" if out.get("measured_on") else "phantoms"
    return out


def classify_risk_level(card: dict[str, Any] | None, risk: float) -> str:
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


#: human names for the operating points a card may define
OPERATING_POINT_LABELS: dict[str, str] = {
    "balanced": "Balanced",
    "high_sensitivity": "High sensitivity (misses fewer, refers more)",
    "high_specificity": "High specificity (refers fewer, misses more)",
}


def operating_point_label(name: str) -> str:
    """A person's name for an operating point (``high_specificity`` -> ``High specificity ...``)."""
    return OPERATING_POINT_LABELS.get(name) or name.replace("_", " ").strip().capitalize()


def trained_on_phantoms(card: dict[str, Any] | None) -> bool:
    td = (card or {}).get("training_data")
    return isinstance(td, dict) and str(td.get("source", "")) == "phantom"


def score_is_probability(card: dict[str, Any] | None) -> bool:
    """Whether the card says its score was calibrated on real patients (only then may it be
    called a probability)."""
    cal = (card or {}).get("calibration")
    return (not trained_on_phantoms(card) and isinstance(cal, dict)
            and str(cal.get("calibrated_on", "")) == "real patients")


def referral_decision(operating_point: dict[str, Any], risk: float | None) -> str | None:
    """``refer`` or ``no_referral`` at the operating point's threshold (None without one)."""
    th = operating_point.get("threshold")
    if risk is None or not isinstance(th, (int, float)):
        return None
    return "refer" if float(risk) >= float(th) else "no_referral"
