"""The risk a screening shows: the image model's calibrated risk combined with the measured
mandibular cortical width (MCW), when the model pack's card carries a fitted ``risk_fusion``.

Why: the bundled image models are trained on phantoms, and on real radiographs their own
width reading does not order real cortices (``docs/models.md``, issue 16), while the MCW the
anatomy module measures (or the dentist's two-point MCW) is the published referral sign. The
fusion is a logistic model fitted on the pack's **validation** phantoms (never on the held-out
test phantoms, never on real images)::

    risk = sigmoid(intercept + w_image * logit(image risk) + w_mcw * MCW_mm)

with MCW the mean of the measured sides (the dentist's where measured) in mm at the model's
input scale (the measured spacing, or the traced anatomy's estimate when the spacing is only
assumed: the same scale the image model reads at, so the fused risk does not hinge on a
guessed pixel spacing either). Outside the MCW range the fit saw the logistic curve is
extended (a thicker cortex never raises the risk), and ``risk_basis`` says so
(``mcw_outside_fitted_range``): clipping there would make every thick real cortex count
the same and leave the order to the image model, whose width reading is what does not
transfer. Without an MCW (no side measured) the
image model's risk stands alone, with the card's own operating points; the result's
``risk_basis`` says which. The fusion has its own operating points (chosen on the same
validation phantoms): the risk level, referral and cross-check use the ones that belong to
the score shown.

Pure functions over the card (no Qt, no TensorFlow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FUSION_KEY = "risk_fusion"  # the card's section
FUSED = "image model + measured MCW"  # risk_basis["method"] values
IMAGE_ONLY = "image model alone"
NO_FUSION = "the model pack has no fitted fusion"  # risk_basis["why"] of a pack without one


def _logit(p: float, eps: float = 1e-7) -> float:
    q = min(max(float(p), eps), 1.0 - eps)
    return math.log(q) - math.log1p(-q)


@dataclass(frozen=True)
class RiskFusion:
    """A card's fitted fusion (``card["risk_fusion"]``)."""

    intercept: float
    w_image_logit: float
    w_mcw_mm: float
    mcw_range_mm: tuple[float, float]
    operating_points: dict[str, Any]

    @classmethod
    def from_card(cls, card: dict[str, Any] | None) -> RiskFusion | None:
        """The card's fusion, or None when it has none (or a malformed one: the image model's
        risk then stands alone, as for any pack without a fusion)."""
        sec = (card or {}).get(FUSION_KEY)
        if not isinstance(sec, dict):
            return None
        try:
            w = sec["weights"]
            lo, hi = (float(v) for v in sec["mcw_range_mm"])
            out = cls(float(w["intercept"]), float(w["image_logit"]), float(w["mcw_mm"]), (lo, hi),
                      dict(sec["operating_points"]))
        except (KeyError, TypeError, ValueError):
            return None
        if not all(math.isfinite(v) for v in (out.intercept, out.w_image_logit, out.w_mcw_mm, lo, hi)) or lo > hi:
            return None
        return out

    def inside(self, mcw_mm: float) -> bool:
        lo, hi = self.mcw_range_mm
        return lo <= float(mcw_mm) <= hi

    def risk(self, image_risk: float, mcw_mm: float) -> float:
        """The fused risk for the image model's calibrated risk and a mean MCW in mm."""
        z = self.intercept + self.w_image_logit * _logit(image_risk) + self.w_mcw_mm * float(mcw_mm)
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def card_view(self, card: dict[str, Any]) -> dict[str, Any]:
        """The card as the fused score needs it: its operating points (thresholds, bands) are
        the fusion's; everything else is the pack's."""
        view = {**card, "operating_points": self.operating_points}
        view.pop("bands", None)  # a top-level band pair would be the image model's
        return view


def mean_mcw_mm(used: dict[str, tuple[float | None, str]]) -> tuple[float | None, str | None]:
    """Mean of the sides' MCW in mm (``side -> (mm, source)``), and where it came from
    (``automatic``, ``dentist`` or ``dentist and automatic``); (None, None) when no side has one."""
    vals = [(float(mm), src) for mm, src in used.values() if mm is not None and math.isfinite(float(mm))]
    if not vals:
        return None, None
    sources = sorted({src for _, src in vals})
    return sum(v for v, _ in vals) / len(vals), " and ".join(sources)


def fuse(card: dict[str, Any] | None, image_risk: float, used: dict[str, tuple[float | None, str]]
         ) -> tuple[float, dict[str, Any] | None, dict[str, Any]]:
    """(risk shown, the card whose operating points go with it, risk_basis) for an image
    model's calibrated risk and the MCW used per side."""
    fusion = RiskFusion.from_card(card)
    if fusion is None:
        return float(image_risk), card, {"method": IMAGE_ONLY, "why": NO_FUSION}
    mcw, source = mean_mcw_mm(used)
    if mcw is None:
        return float(image_risk), card, {"method": IMAGE_ONLY, "why": "no cortical width was measured"}
    basis: dict[str, Any] = {
        "method": FUSED, "mcw_mm_at_model_scale": round(mcw, 3), "mcw_source": source,
        "image_model_risk": round(float(image_risk), 4),
        "weights": {"intercept": fusion.intercept, "image_logit": fusion.w_image_logit,
                    "mcw_mm": fusion.w_mcw_mm},
    }
    if not fusion.inside(mcw):
        basis["mcw_outside_fitted_range"] = [round(v, 3) for v in fusion.mcw_range_mm]
    return fusion.risk(image_risk, mcw), fusion.card_view(card or {}), basis


def card_for(card: dict[str, Any] | None, basis: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card whose operating points (thresholds, risk bands) go with a result's risk: the
    fusion's for a fused risk, the pack's own otherwise."""
    fusion = RiskFusion.from_card(card) if (basis or {}).get("method") == FUSED else None
    return fusion.card_view(card or {}) if fusion is not None else card


def basis_text(basis: dict[str, Any] | None, short: bool = False) -> str:
    """One line on how the risk shown was made ('' when there is no risk); ``short``: the
    report's form, two short lines."""
    if not basis or basis.get("why") == NO_FUSION:  # a pack without a fusion: as before, no line
        return ""
    if basis.get("method") != FUSED:
        why = basis.get("why")
        if short:
            return "Score = the image model alone\n(" + (str(why) if why else "no cortical width") + ")"
        return "Score: the image model alone" + (f" ({why})." if why else ".")
    mm = float(basis["mcw_mm_at_model_scale"])
    if short:  # two short lines (the report's banner)
        out = "beyond the range fitted; " if basis.get("mcw_outside_fitted_range") else ""
        return (f"Score = image model {float(basis['image_model_risk']):.2f} + measured MCW {mm:.1f} mm\n"
                f"({out}combination fitted on phantoms)")
    text = (f"Score: the image model ({float(basis['image_model_risk']):.2f}) combined with the measured "
            f"cortical width ({mm:.1f} mm at the model's scale, {basis.get('mcw_source', 'automatic')}); "
            "the combination was fitted on validation phantoms.")
    rng = basis.get("mcw_outside_fitted_range")
    if rng:
        text += f" That width lies outside the {rng[0]:.1f}-{rng[1]:.1f} mm the fit saw; the curve is extended."
    return text


__all__ = ["basis_text", "card_for", "FUSED", "FUSION_KEY", "IMAGE_ONLY", "NO_FUSION", "RiskFusion", "fuse", "mean_mcw_mm"]
