"""What the PDF screening report says: fixed wording, plain-language explanations, number
and name formatting, and the text of its tables and captions.

Pure functions of the result (no reportlab): :mod:`.report_layout` and :mod:`.report_images`
place this text on the page.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ... import __version__
from ..anatomy.quality import CHILD_DENTITION, is_child
from ..types import PatientInfo, Radiograph, ScreeningResult, Spacing

INTENDED_USE = (
    "Intended use: DentalOsteo helps a dentist decide whether to suggest a bone density "
    "assessment, from the mandibular cortex on a dental panoramic radiograph of an adult."
)
DISCLAIMER = (
    "This is a screening aid, not a diagnosis. DXA (dual-energy X-ray absorptiometry) is the "
    "reference standard for osteoporosis. A low score does not rule out osteoporosis; "
    "clinical judgement always prevails."
)
PHANTOM_NOTICE = (
    "The bundled model was trained on synthetic phantoms and is not clinically validated: "
    "use it for demonstration and testing only."
)
MCW_REFERRAL_MM = 3.0  # METHODS.md: MCW under about 3 mm is a widely used referral threshold

RISK_BANDS = ("low", "intermediate", "high")


# --- plain-language content ----------------------------------------------------------


def band_key(result: ScreeningResult) -> str:
    """The report's result category: a risk band, ``not_assessable`` or ``no_model``."""
    if not result.assessable:
        return "not_assessable"
    if result.risk is None or result.risk_level not in RISK_BANDS:
        return "no_model"
    return str(result.risk_level)


# what to do about a reason the image is not assessable (first match wins)
ADVICE: list[tuple[str, str]] = [
    ("confidence", "Move the box onto the lower border of the mandible, below the teeth; it is "
                   "screened again when you let go."),
    ("out of frame", "Use a radiograph that shows the whole lower border of the mandible."),
    ("years old", "Do not screen a child or adolescent for osteoporosis; if the birth date in the "
                  "file is wrong, correct it where the image was taken and export it again."),
    (CHILD_DENTITION, "Do not screen a child for osteoporosis; if the radiograph is an adult's, "
                             "read the cortex yourself or measure it with Measure (Ctrl+M)."),
    ("edentulous", "Read the cortex on the radiograph yourself (the automatic window assumes teeth); "
                   "you can measure its width with Measure (Ctrl+M)."),
    ("metal", "Read the cortex yourself where the metal leaves it free, or measure it with Measure "
              "(Ctrl+M)."),
    ("tilted", "Use a radiograph taken with the head level, or read the cortex on each side yourself."),
    ("among the teeth", "Move the box onto the lower border of the mandible, below the teeth; it is "
                        "screened again when you let go."),
    ("saturated", "Use a better exposed radiograph."),
    ("contrast", "Use a radiograph with more contrast, or one taken with the usual settings."),
]
DEFAULT_ADVICE = "Check the image and the box, then screen again (Ctrl+R)."


def advice_for(reasons: list[str]) -> str | None:
    """What to do about the reasons a result is not assessable (first match of ``ADVICE``),
    or None when no reason is known to it. The GUI and the PDF report say the same."""
    low = " ".join(reasons).lower()
    for key, text in ADVICE:
        if key in low:
            return text
    return None


def next_step_text(result: ScreeningResult) -> tuple[str, str]:
    """(what it means, suggested next step) in plain language for the result's band."""
    key = band_key(result)
    if key in RISK_BANDS and result.model is not None and result.model.source == "phantom":
        return phantom_model_next_step(result)
    if key in RISK_BANDS and result.referral is not None:
        return referral_next_step(result)
    if key == "high":
        return (
            "The cortex of the lower jaw shows a pattern that the model associates with low "
            "bone density (score in the high band).",
            "Consider referring the patient to their physician for a bone density test (DXA), "
            "mentioning this screening result.",
        )
    if key == "intermediate":
        return (
            "The result is borderline: some features of the jaw cortex are associated with low "
            "bone density, others are not.",
            "Consider the patient's clinical risk factors (for example with FRAX: age, sex, "
            "previous fracture, parental hip fracture, glucocorticoids, smoking, alcohol, "
            "rheumatoid arthritis, low body weight) and refer for DXA if any are present.",
        )
    if key == "low":
        return (
            "No signs associated with low bone density were found on this radiograph.",
            "Routine care. A low score does not rule out osteoporosis: refer anyway if the "
            "patient has fractures or strong risk factors.",
        )
    if key == "not_assessable":
        reasons = [w for w in result.warnings if w] or ["the image quality or ROI placement "
                                                         "did not allow a reliable reading"]
        return (
            "This radiograph could not be assessed reliably: " + "; ".join(reasons[:3]) + ".",
            advice_for(reasons) or "Retake the radiograph (patient positioning, exposure) or adjust "
            "the ROI over the inferior border of the mandible below the premolars, then screen again.",
        )
    return (
        "No risk model was available, so only the cortical measurements are reported.",
        "Interpret the cortical width and Klemetti class with clinical judgement; an MCW under "
        f"about {MCW_REFERRAL_MM:g} mm or a C3 cortex is commonly used as a reason to refer for DXA.",
    )


def adult_cutoffs_apply(result: ScreeningResult) -> bool:
    """False for a child (by the file's dates or the dentition): the MCW cut-off and the
    Klemetti classes are defined for adults, so no measurement is called a referral sign."""
    return not is_child(result.warnings)


def measured_referral_signs(result: ScreeningResult) -> list[str]:
    """The published referral signs the measurements show (MCW under 3 mm, Klemetti C2/C3).
    The MCW is the dentist's where they measured it, else the automatic one; on an image
    without calibration the mm are said to be assumed. None for a child."""
    signs: list[str] = []
    if not adult_cutoffs_apply(result):
        return signs
    used = [(side, *result.mcw_used_mm(side)) for side in ("right", "left")]
    low = [(side, finite(v), src) for side, v, src in used if finite(v) is not None]
    if low:
        side, v, src = min(low, key=lambda t: float(t[1] or 0.0))
        if v is not None and v < MCW_REFERRAL_MM:
            approx = " (approximate: no calibration, spacing assumed)" if result.spacing.assumed else ""
            signs.append(f"a cortical width of {mcw_words(result, side)}, under {MCW_REFERRAL_MM:g} mm{approx}"
                         if src == "dentist" else
                         f"a cortical width of {v:.1f} mm, under {MCW_REFERRAL_MM:g} mm{approx}")
    if result.klemetti_rule in ("C2", "C3"):
        signs.append(f"a {result.klemetti_rule} cortex on the rule-based Klemetti reading")
    return signs


def mcw_words(result: ScreeningResult, side: str) -> str:
    """``dentist-measured 2.8 mm; automatic 2.6 mm`` (or the automatic value alone)."""
    dentist, src = result.mcw_used_mm(side)
    auto = result.mcw_left_mm if side == "left" else result.mcw_right_mm
    if src != "dentist" or dentist is None:
        return fmt_num(auto, 1, "mm")
    return f"dentist-measured {dentist:.1f} mm; automatic {fmt_num(auto, 1, 'mm')}"


def phantom_model_next_step(result: ScreeningResult) -> tuple[str, str]:
    """A phantom-trained model: its score neither refers nor reassures; the measurements speak."""
    meaning = ("The installed model was trained on synthetic phantoms and has not been validated "
               "on patients: its score is shown for information and is not a reason to refer or "
               "to reassure.")
    signs = measured_referral_signs(result)
    if signs:
        return meaning, ("The measurements show " + " and ".join(signs) + ", published signs "
                         "associated with low bone density: consider referring the patient for a "
                         "bone density test (DXA).")
    return meaning, ("Judge the cortex on the image yourself. Refer for DXA if the patient has "
                     "fractures or clinical risk factors (for example FRAX: age, sex, previous "
                     "fracture, parental hip fracture, glucocorticoids, smoking, alcohol).")


def referral_next_step(result: ScreeningResult) -> tuple[str, str]:
    """A validated model: the operating point decides refer / do not refer."""
    op = result.operating_point or {}
    label = str(op.get("label") or op.get("name") or "selected")
    if result.referral == "refer":
        return (f"The score is at or above the referral threshold of the {label} operating point.",
                "Consider referring the patient to their physician for a bone density test (DXA), "
                "mentioning this screening result.")
    return (f"The score is below the referral threshold of the {label} operating point.",
            "No referral is suggested by this screening. It does not rule out osteoporosis: "
            "refer anyway if the patient has fractures or strong risk factors.")


# --- warnings, most important first ----------------------------------------------------

#: how the engine's cross-check warning starts (``stages.cross_check`` writes it; the report,
#: the GUI and ``stages.withhold_unassessable`` recognise it by this)
DISAGREE_PREFIX = "two readings disagree"

#: engine notes that are not a reason the image failed its checks (the reasons carry no
#: common prefix: on an image that is not assessable, every other warning is one)
NOTE_PREFIXES = ("pixel spacing unknown", "no model installed", "no landmark model", "calibration profiles",
                 "risk not computed", "klemetti hint", DISAGREE_PREFIX, "the installed model")


def warning_rank(result: ScreeningResult, warning: str) -> int:
    """0: the phantom-model warning and the reasons an image is not assessable; 1: the
    spacing (no calibration); 2: two readings disagree; 3: the rest."""
    low = warning.lower()
    if "synthetic phantoms" in low or (not result.assessable and not low.startswith(NOTE_PREFIXES)):
        return 0
    if low.startswith("pixel spacing unknown") or "calibration" in low:
        return 1
    return 2 if low.startswith(DISAGREE_PREFIX) else 3


def warnings_by_importance(result: ScreeningResult) -> list[str]:
    """The result's warnings, most important first (in their own order within a rank)."""
    warns = [w for w in result.warnings if w]
    return sorted(warns, key=lambda w: warning_rank(result, w))


# --- numbers and names ----------------------------------------------------------------


def finite(v: Any) -> float | None:
    """``v`` as a finite float, or None."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_pct(v: Any) -> str:
    """A 0..1 fraction as a whole percentage (``n/a`` when missing)."""
    f = finite(v)
    return "n/a" if f is None else f"{100.0 * f:.0f} %"


def fmt_num(v: Any, digits: int = 2, unit: str = "") -> str:
    """A number with ``digits`` decimals and an optional unit (``n/a`` when missing)."""
    f = finite(v)
    return "n/a" if f is None else f"{f:.{digits}f}{(' ' + unit) if unit else ''}"


def format_person_name(dicom_name: str) -> str:
    """``Family^Given^Middle^Prefix^Suffix`` -> ``Family, Given Middle``."""
    parts = [p.strip() for p in str(dicom_name).split("=")[0].split("^")]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    family, given = parts[0], " ".join(p for p in parts[1:3] if p)
    prefix = parts[3] if len(parts) > 3 else ""
    suffix = parts[4] if len(parts) > 4 else ""
    name = f"{family}, {given}".strip(", ") if given else family
    return " ".join(p for p in (prefix, name, suffix) if p)


def format_dicom_date(value: str) -> str:
    """``YYYYMMDD`` -> ``YYYY-MM-DD``; anything else unchanged."""
    v = str(value).strip()
    if len(v) == 8 and v.isdigit():
        return f"{v[:4]}-{v[4:6]}-{v[6:]}"
    return v


def scrub_text(text: str, radiograph: Radiograph, patient: PatientInfo) -> str:
    """Remove file paths/names and patient fields from a message (anonymised exports)."""
    out = str(text)
    tokens: list[str] = []
    for p in (radiograph.path,):
        if p:
            tokens += [str(p), Path(p).name, Path(p).stem]
    for v in (patient.name, patient.patient_id, patient.birth_date):
        if v and v.strip():
            tokens.append(v.strip())
            tokens += [t for t in v.replace("^", " ").split() if len(t) >= 3]
    for t in sorted(set(tokens), key=len, reverse=True):
        if len(t) >= 3:
            out = out.replace(t, "[removed]")
    return out


def model_is_phantom(result: ScreeningResult, card: dict | None) -> bool:
    """Whether the model (or its card) says it was trained on synthetic phantoms."""
    sources: list[Any] = []
    if result.model is not None:
        sources.append(result.model.source)
    if card:
        sources.append(card.get("training_source"))
        sources.append(card.get("source"))
        for key in ("training_data", "training", "data"):
            sub = card.get(key)
            if isinstance(sub, dict):
                sources.append(sub.get("source"))
    return any(isinstance(s, str) and "phantom" in s.lower() for s in sources)


# --- the text of the page's blocks ----------------------------------------------------


def patient_cells(patient: PatientInfo, anonymize: bool,
                  case_id: str | None) -> list[tuple[str, str, float]]:
    """(label, value, fraction of the width) of each cell of the patient block."""
    if anonymize:
        return [("Case ID (pseudonymous)", case_id or "n/a", 0.28),
                ("Identity", "Anonymised export: name, patient ID, birth date, sex and "
                 "dates removed", 0.72)]
    return [
        ("Patient name", format_person_name(patient.name) or "not recorded", 0.30),
        ("Patient ID", patient.patient_id or "not recorded", 0.20),
        ("Birth date", format_dicom_date(patient.birth_date) or "n/a", 0.17),
        ("Sex", {"F": "Female", "M": "Male", "O": "Other"}.get(patient.sex.strip().upper(),
                                                              patient.sex or "n/a"), 0.13),
        ("Study date", format_dicom_date(patient.study_date) or "n/a", 0.20),
    ]


def operating_point_rows(op: dict[str, Any]) -> list[tuple[str, str]]:
    """Threshold, sensitivity and specificity of the operating point (without its name), and
    what they were measured on."""
    rows = [("Threshold", fmt_num(op.get("threshold"))),
            ("Sensitivity", fmt_pct(op.get("sensitivity"))),
            ("Specificity", fmt_pct(op.get("specificity")))]
    if op.get("measured_on"):
        rows.append(("Measured on", str(op["measured_on"])))
    return rows


def no_risk_reason(result: ScreeningResult) -> str:
    return ("the image could not be assessed" if not result.assessable
            else "no risk model was loaded: cortical measurements only")


def klemetti_rows(result: ScreeningResult) -> list[tuple[str, str]]:
    """Model class (with its probabilities), rule-based class and whether they agree."""
    probs = result.klemetti_probabilities or {}
    if result.klemetti_class:
        ptxt = ", ".join(f"{k} {fmt_pct(v)}" for k, v in sorted(probs.items()))
        rows = [("Model", f"{result.klemetti_class}" + (f"  ({ptxt})" if ptxt else ""))]
    else:
        rows = [("Model", "n/a (no model)")]
    rows.append(("Rule-based", result.klemetti_rule or "n/a"))
    agree = ("yes" if result.klemetti_agree else "no - review the cortex visually") \
        if result.klemetti_agree is not None else "n/a"
    rows.append(("Agreement", agree))
    return rows


def pmi_text(result: ScreeningResult, side: str) -> str:
    """``PMI 0.31`` (with the dentist's width's PMI when they measured), or ``PMI n/a``."""
    v = finite(result.pmi_left if side == "left" else result.pmi_right)
    detail = (result.pmi_detail or {}).get(side) or {}
    txt = "PMI n/a" if v is None else f"PMI {v:.2f}"
    if finite(detail.get("pmi_dentist")) is not None:
        txt += f" (dentist {float(detail['pmi_dentist']):.2f})"
    if detail.get("check"):  # above 0.5 (normal about 0.3): kept, but the point is suspect
        txt += " - high: check the foramen point"
    return txt


def _side_value(result: ScreeningResult, side: str) -> str:
    """One side's MCW: mm when calibrated (the value the reading uses flagged under the
    threshold), pixels when not, and the PMI beside it. The dentist's and the automatic
    value go on their own lines (``\n``)."""
    auto_mm = result.mcw_left_mm if side == "left" else result.mcw_right_mm
    used, src = result.mcw_used_mm(side)
    if result.spacing.assumed:
        auto = fmt_num(result.mcw_px(side), 0, "px")
        dpx = result.dentist_mcw_px(side)
        txt = f"dentist-measured {dpx:.0f} px;\nautomatic {auto}\n" if dpx is not None else f"{auto}; "
        return txt + pmi_text(result, side)
    flag = ""
    if finite(used) is not None and float(used or 0.0) < MCW_REFERRAL_MM and adult_cutoffs_apply(result):
        flag = f" (below {MCW_REFERRAL_MM:g} mm)"
    if src == "dentist" and used is not None:
        return (f"dentist-measured {used:.1f} mm{flag};\nautomatic {fmt_num(auto_mm, 1, 'mm')}\n"
                + pmi_text(result, side))
    return f"{fmt_num(auto_mm, 1, 'mm')}{flag}; {pmi_text(result, side)}"


def mcw_rows(result: ScreeningResult, radiograph: Radiograph) -> list[tuple[str, str]]:
    """MCW per patient side (mm when calibrated, else pixels) with its PMI, the mm an
    assumed spacing would give (said so), and the pixel spacing."""
    mrows = [(label, _side_value(result, side)) for label, side in (("Patient right", "right"),
                                                                      ("Patient left", "left"))]
    if result.spacing.assumed:
        mm = [fmt_num(v, 1, "mm") + (" (dentist)" if src == "dentist" else "")
              for v, src in (result.mcw_used_mm(s) for s in ("right", "left"))]
        mrows.append(("Assumed mm", f"right {mm[0]}, left {mm[1]} (approximate)"))
    mrows.append(("Pixel spacing", spacing_text(result.spacing)))
    return mrows


def spacing_text(spacing: Spacing) -> str:
    """``0.210 mm/pixel (file: PixelSpacing)``: the value used and where it came from."""
    if spacing.assumed:
        return f"none: {spacing.mm_per_px:.3f} mm/pixel ASSUMED default"
    # a calibration's detail names its profile and the date it was set ("profile X, set 2026-12-01")
    said = (spacing.detail if spacing.profile and spacing.profile in spacing.detail else
            spacing.profile or spacing.detail)
    where = spacing.source + (f": {said}" if said else "")
    mag = f", magnification {spacing.magnification:g} divided out" if spacing.magnification else ""
    return f"{spacing.mm_per_px:.3f} mm/pixel ({where}{mag})"


PMI_NOTE = ("PMI (Benson 1991): cortical width / height of the mental foramen's lower margin above "
            "the border; needs no calibration, about 0.3 in healthy adults.")


def mcw_note(result: ScreeningResult) -> str:
    """Where the MCW is measured and what the threshold means; without a calibration, that
    the widths are in pixels and why the PMI still means something."""
    if result.assumed_spacing:
        note = ("No calibration exists for this image: MCW in pixels; assumed mm are approximate, "
                f"so the {MCW_REFERRAL_MM:g} mm threshold does not apply reliably.")
    else:
        note = (f"Measured below the mental foramen, perpendicular to the inferior border; under "
                f"about {MCW_REFERRAL_MM:g} mm is a common referral threshold.")
    note += " " + PMI_NOTE + foramen_note(result)
    if result.model_scale is not None and result.model_scale.source == "anatomy":
        note += " The risk model's input was scaled from the traced anatomy, not from this spacing."
    return note


def foramen_note(result: ScreeningResult) -> str:
    """Who placed the mental foramen on each side (it decides the PMI)."""
    parts = []
    for side in ("right", "left"):
        p = result.foramen(side)
        if p is None:
            parts.append(f"{side} not found")
        elif p.source == "user":
            parts.append(f"{side} placed by the dentist")
        else:
            parts.append(f"{side} proposed ({fmt_pct(p.confidence)} confidence)")
    return " Mental foramen: " + ", ".join(parts) + "."


def radiograph_caption(result: ScreeningResult, anonymize: bool) -> str:
    """Legend of the overlays drawn on the radiograph thumbnail."""
    cap = ("Yellow: region of interest" if result.roi is not None else
           "Yellow: landmarks" if result.landmarks else "No ROI")
    if result.border_right or result.border_left:
        cap += "; cyan: traced inferior border of the mandible"
    if result.mental_foramen:
        cap += "; magenta ring: mental foramen (dashed: proposed, solid: placed by the dentist)"
    if result.dentist_mcw:
        cap += "; magenta line: the dentist's MCW"
    cap += ". R/L = patient's right/left."
    if anonymize:
        cap += " Text burned into the image itself is not removed."
    return cap


def attention_caption(result: ScreeningResult, has_heat: bool) -> str:
    """Legend of the ROI panel: what the Grad-CAM colour means, or why there is none."""
    if not has_heat:
        return ("No attention map (no model was run)." if result.model is None
                else "Attention map not available for this report.")
    att = result.attention or {}
    key = next((k for k in ("near_border", "cortex", "border") if k in att), None)
    if key is None:
        return "Colour: where the model looked (Grad-CAM); not a map of disease."
    return (f"Colour: where the model looked (Grad-CAM), {fmt_pct(att[key])} "
            "of it on the cortex; not a map of disease.")


def provenance_text(result: ScreeningResult) -> str:
    """One footer line: model (name, version, hash, architecture), app version, device."""
    if result.model is not None:
        mi = result.model
        model_txt = (f"Model: {mi.name} {mi.version}".strip() + f" - sha256 {mi.sha256[:12]}"
                     + (f" - {mi.arch}" if mi.arch else ""))
    else:
        model_txt = "Model: none (no risk model loaded)"
    return f"{model_txt}  |  DentalOsteo {__version__}  |  device {result.device or 'n/a'}"
