"""The words the dentist reads about a result, matched to the evidence (Qt-free, testable).

* A number only for an assessable image (``result.status == "assessed"``); otherwise why
  not, and what to do about it.
* The referral at the operating point only when the result has one (``result.referral``);
  a phantom-trained model's score is for information only.
* Sensitivity and specificity with what they were measured on; the operating point by its
  human name; "probability" only when the model card says the score is one
  (``cards.score_is_probability``).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any, NamedTuple

from ..core.anatomy.quality import CHILD_DENTITION
from ..core.cards import operating_point_label, score_is_probability, trained_on_phantoms
from ..core.records.report_text import (
    DEFAULT_ADVICE,
    DISAGREE_PREFIX,
    MCW_REFERRAL_MM,
    NOTE_PREFIXES,
    adult_cutoffs_apply,
    advice_for,
)
from ..core.types import ModelInfo, ScreeningResult, Spacing

_PLAIN: list[tuple[str, str]] = [
    # engine phrase (lower case) -> a short plain-language lead-in (first match wins)
    ("not a panoramic", "Not a dental panoramic radiograph?"),
    ("years old", "The screening is for adults."),
    (CHILD_DENTITION, "The screening is for adults."),
    ("confidence", "The box may be off the lower mandibular border: check it, move it if needed."),
    ("out of frame", "The lower mandibular border is cut off."),
    ("saturated", "Over- or under-exposed image."),
    ("contrast", "Too little contrast to judge the cortex."),
    ("pixel spacing", "No calibration: MCW in pixels and as PMI."),
    ("no model installed", "No risk score."),
    ("no landmark model", "No risk score."),
    (DISAGREE_PREFIX, "The ROI and landmark readings differ."),
    ("disagree", "Look at the cortex yourself."),
    ("the model says", "Look at the cortex yourself."),
    ("synthetic phantoms", "Score for information only."),
]

NOT_PANORAMIC_TEXT = "Not a dental panoramic: no osteoporosis reading."


def plain_language(warning: str) -> str:
    """HTML: a bold plain-language lead-in (when one is known), then the engine's words."""
    low = warning.lower()
    body = escape(warning[:1].upper() + warning[1:])
    for key, text in _PLAIN:
        if key in low:
            return f"<b>{escape(text)}</b> {body}"
    return body


def not_assessable_reasons(res: ScreeningResult, file_warnings: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The reasons an image failed the checks: its warnings less the notes that are not
    reasons and less ``file_warnings`` (the radiograph's own, from reading the file)."""
    reasons = [w for w in res.warnings
               if w not in file_warnings and not w.lower().startswith(NOTE_PREFIXES)]
    return reasons or ["it did not pass the image checks"]


def advice(reasons: list[str]) -> str:
    """What to do about the reasons a result is not assessable (the report's words too)."""
    return advice_for(reasons) or DEFAULT_ADVICE


def score_noun(card: dict[str, Any] | None) -> str:
    """'probability' only when the card says the score was calibrated on real patients."""
    return "probability of osteoporosis" if score_is_probability(card) else "risk score (not a probability)"


def is_phantom_model(res: ScreeningResult, card: dict[str, Any] | None) -> bool:
    return trained_on_phantoms(card) or (res.model is not None and res.model.source == "phantom")


def op_name(op: dict[str, Any]) -> str:
    """The operating point's human name (``op['label']``, else from its key)."""
    return str(op.get("label") or operating_point_label(str(op.get("name") or "")))


def operating_point_html(op: dict[str, Any]) -> str:
    """'Operating point <b>Balanced</b> · threshold 0.53 · sensitivity 86% · specificity 69%
    (measured on held-out phantoms)'; '' without an operating point."""
    if not op:
        return ""
    parts = [f"Operating point <b>{escape(op_name(op))}</b>"]
    if op.get("threshold") is not None:
        parts.append(f"threshold {float(op['threshold']):.2f}")
    if op.get("sensitivity") is not None:
        parts.append(f"sensitivity {float(op['sensitivity']) * 100:.0f}%")
    if op.get("specificity") is not None:
        parts.append(f"specificity {float(op['specificity']) * 100:.0f}%")
    text = " · ".join(parts)
    where = op.get("measured_on")
    if where and (op.get("sensitivity") is not None or op.get("specificity") is not None):
        text += f" <span>(measured on {escape(str(where))})</span>"
    return text


def referral_html(res: ScreeningResult, card: dict[str, Any] | None) -> str:
    """The answer at the operating point, only when the result has one; a phantom-trained
    model's score is for information only; '' when there is no score."""
    if res.status != "assessed" or res.risk is None:
        return ""
    label = escape(op_name(res.operating_point or {}))
    if res.referral == "refer":
        return f"<b>Refer for DXA</b> (score at or above the {label} threshold)"
    if res.referral == "no_referral":
        return f"<b>No referral suggested at {label}</b>"
    if is_phantom_model(res, card):
        return ("<b>Score for information only:</b> the model was trained on synthetic phantoms, "
                "so its score decides no referral either way. Judge the cortex (MCW, Klemetti) yourself.")
    return ""


def other_reading_html(res: ScreeningResult) -> str:
    """The other mode's reading (cross-check) and, when they differ, the disagreement."""
    other = res.other_reading
    if not other or other.get("risk") is None:
        return ""
    mode = "landmark" if other.get("mode") == "landmarks" else "ROI"
    model = f" ({escape(str(other['model']))})" if other.get("model") else ""
    text = (f"Other reading: {mode} model{model} {float(other['risk']):.2f}"
            f" ({escape(str(other.get('band') or '–'))})")
    disagree = [w for w in res.warnings if w.lower().startswith(DISAGREE_PREFIX)]
    if disagree:
        text += f"<br><b>⚠ {escape(disagree[0][:1].upper() + disagree[0][1:])}</b>"
    return text


def status_html(res: ScreeningResult, file_warnings: list[str] | tuple[str, ...] = ()) -> str:
    """Why there is no number, and what to do ('' for an assessed image)."""
    if res.status == "not_panoramic":
        return (f"<b>{NOT_PANORAMIC_TEXT}</b> No risk score, no MCW. "
                "Open a dental panoramic radiograph.")
    if res.status == "not_assessable":
        reasons = not_assessable_reasons(res, file_warnings)
        why = "; ".join(escape(r) for r in reasons)
        return (f"<b>Not assessable: no score.</b> Why: {why}.<br>"
                f"<b>What to do:</b> {escape(advice(reasons))}")
    return ""


def model_name(info: ModelInfo | None = None, card: dict[str, Any] | None = None) -> str:
    """'name version' of a model (from the result's ModelInfo, else its card); '' if none."""
    if info is not None:
        return f"{info.name} {info.version}".strip()
    if card:
        return f"{card.get('name', 'model')} {card.get('version', '')}".strip()
    return ""


# ---------------------------------------------------------------------- spacing and MCW
CALIBRATE_HINT = "calibrate (Tools ▸ Ruler)"


def spacing_status(sp: Spacing | None) -> str:
    """The spacing in force with its provenance, for the status bar: 'calibrated: profile
    NAME, 0.104 mm/px, set 2026-12-01', '0.210 mm/px from file (PixelSpacing)', 'assumed
    0.1 mm/px — calibrate (Tools ▸ Ruler)'; '' when not known yet."""
    if sp is None:
        return ""
    mm = f"{sp.mm_per_px:.3f} mm/px"
    mag = f", magnification {sp.magnification:g}" if sp.magnification else ""
    if sp.source == "calibrated":
        found = re.search(r"set (\S+)", sp.detail or "")
        name = sp.profile or (sp.detail or "calibration").split(",")[0].removeprefix("profile ")
        return f"calibrated: profile {name}, {mm}" + (f", set {found.group(1)}" if found else "") + mag
    if sp.source == "assumed":
        return f"assumed {sp.mm_per_px:g} mm/px — {CALIBRATE_HINT}"
    where = {"file": "from file", "dataset": "from labels.csv", "user": "entered by you",
             "anatomy": "estimated from the anatomy"}.get(sp.source, sp.source)
    detail = f" ({sp.detail})" if sp.detail and sp.source in ("file",) else ""
    return f"{mm} {where}{detail}{mag}"


class McwReading(NamedTuple):
    """One side's MCW as the panel shows it."""

    value: str  # '2.84 mm', '28.4 px' or '–' (the dentist's when measured)
    detail: str  # 'dentist-measured 2.8 mm; automatic 2.6 mm' or ''
    pmi: str  # 'PMI 0.31', 'PMI 0.31 · yours 0.29', 'PMI –'
    low: bool  # under the referral threshold (only in mm)
    pmi_why: str = ""  # why there is no PMI on that side ('' when there is one)


def _fmt(v: float | None, in_px: bool, digits: int) -> str:
    if v is None:
        return "–"
    return f"{v:.1f} px" if in_px else f"{v:.{digits}f} mm"


def mcw_reading(res: ScreeningResult | None, side: str) -> McwReading:
    """``side`` ("left"/"right", the patient's): in mm when the spacing is stated or
    calibrated, in image pixels when it is assumed (never assumed millimetres); the dentist's
    own measurement first when there is one, with the automatic one beside it; PMI."""
    if res is None or res.status == "not_panoramic":
        return McwReading("–", "", "PMI –", False)
    sp = res.spacing
    in_px = sp.assumed
    auto_mm = getattr(res, f"mcw_{side}_mm", None)
    dentist_mm = getattr(res, f"mcw_dentist_{side}_mm", None)
    if in_px:
        auto, dentist = res.mcw_px(side), res.dentist_mcw_px(side)
    else:
        auto, dentist = auto_mm, dentist_mm
    shown = dentist if dentist is not None else auto
    detail = ""
    if dentist is not None:
        detail = f"dentist-measured {_fmt(dentist, in_px, 1)}; automatic {_fmt(auto, in_px, 1)}"
    pmi = getattr(res, f"pmi_{side}", None)
    info = (getattr(res, "pmi_detail", None) or {}).get(side) or {}
    pmi_text = "PMI –" if pmi is None else f"PMI {pmi:.2f}"
    if pmi is not None and info.get("pmi_dentist") is not None:
        pmi_text += f" · yours {float(info['pmi_dentist']):.2f}"
    return McwReading(_fmt(shown, in_px, 2), detail, pmi_text,
                      not in_px and shown is not None and shown < MCW_REFERRAL_MM and adult_cutoffs_apply(res),
                      str(info.get("reason") or "") if pmi is None else "")
