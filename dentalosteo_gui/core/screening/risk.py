"""From a model's score to what the card says it means: operating point and risk level."""

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
    out = {"name": key, **{k: chosen.get(k) for k in ("threshold", "sensitivity", "specificity")}}
    # The threshold was chosen on a validation split; show the sensitivity/specificity measured
    # on the held-out test set when the card has them (never the numbers it was tuned on).
    held = chosen.get("held_out")
    if isinstance(held, dict) and held.get("sensitivity") is not None:
        out["sensitivity"] = held.get("sensitivity")
        out["specificity"] = held.get("specificity")
        out["measured_on"] = "held-out test set"
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
