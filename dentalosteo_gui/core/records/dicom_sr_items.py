"""The measurement groups of the screening SR (TID 1500) that describe the mandible.

- **Mandibular cortex** (TID 1501): the automatic MCW per patient side, the pixel spacing
  and its source, the screening status, the Klemetti class of the rule.
- **Mental foramen right / left** (TID 1410 planar ROI, one per side with a point): the
  foramen centre as an SCOORD POINT on the image, its source (proposed / placed by the
  dentist) and the proposal's confidence, the PMI (``{ratio}``) and the PMI with the
  dentist's width.
- **Dentist-measured MCW** (TID 1501, only when the dentist measured): the dentist's MCW
  per side, each inferred from an SCOORD POLYLINE of the two points, with its own
  measurement method so it never reads as the automatic one.

Units are honest: without a calibration (spacing ``assumed``) every cortical width is
written in ``{pixels}`` (UCUM) and no pixel spacing is stated as a measurement; millimetres
only when the spacing was measured (file, dataset labels, user, calibration profile).

SCOORD coordinates follow DICOM (PS3.3 C.18.6.1.1: the top-left corner of the top-left
pixel is 0.0\\0.0), so a result point ``(x, y)`` (pixel centres at integers) is written
as ``(x + 0.5, y + 0.5)``. They refer to the source DICOM image or, for a PNG / JPEG
input, to the Secondary Capture, whose radiograph keeps the input's pixel coordinates.

highdicom is imported inside the functions (like the rest of the DICOM output).
"""

from __future__ import annotations

from typing import Any

from ... import __version__
from ..types import ScreeningResult

PRIVATE_SCHEME = "99DENTALOSTEO"
PRIVATE_SCHEME_NAME = "DentalOsteo private codes"

#: private codes: value -> meaning (docs/dicom.md lists them; a value never changes meaning;
#: a meaning is at most 64 characters, DICOM's limit for Code Meaning)
PRIVATE_CODES: dict[str, str] = {
    "MCW": "Mandibular cortical width",
    "MCW-METHOD": "Median cortex width along normals to the traced border",
    "MCW-DENTIST": "Dentist-measured: two points placed across the cortex",
    "RISK": "Osteoporosis screening risk score (model output)",
    "RISK-LEVEL": "Osteoporosis screening risk level",
    "RISK-IMAGE-MODEL": "Risk score of the image model alone, before fusion with MCW",
    "REFERRAL": "Referral suggestion at the operating point",
    "REFER": "Suggest a bone density assessment",
    "NO-REFERRAL": "No referral suggested",
    "KLEMETTI-MODEL": "Klemetti index hint of the model",
    "KLEMETTI-RULE": "Klemetti index of the rule on the measured cortex",
    "KLEMETTI-C1": "Klemetti C1: even and sharp endosteal margin",
    "KLEMETTI-C2": "Klemetti C2: semilunar defects or endosteal residues",
    "KLEMETTI-C3": "Klemetti C3: heavy endosteal residues, clearly porous",
    "KLEMETTI-P-C1": "Model probability of Klemetti C1",
    "KLEMETTI-P-C2": "Model probability of Klemetti C2",
    "KLEMETTI-P-C3": "Model probability of Klemetti C3",
    "SPACING-SOURCE": "Pixel spacing source",
    "SPACING-FILE": "Pixel spacing stated by the image file",
    "SPACING-DATASET": "Pixel spacing from the dataset labels",
    "SPACING-USER": "Pixel spacing entered by the user",
    "SPACING-CALIB": "Pixel spacing from a calibration",
    "SPACING-ASSUMED": "Pixel spacing assumed, no calibration (widths in pixels)",
    "SPACING-ANATOMY": "Pixel spacing estimated from the anatomy",
    "MAGNIFICATION": "Radiographic magnification factor divided out of the spacing",
    "STATUS": "Screening status",
    "ASSESSED": "Assessed",
    "NOT-ASSESSABLE": "Not assessable (no score)",
    "NOT-PANORAMIC": "Not a dental panoramic radiograph (no reading)",
    "CORTEX-GROUP": "Mandibular cortex measurements",
    "MODEL-GROUP": "Screening model output",
    "PMI": "Panoramic mandibular index (Benson 1991)",
    "PMI-METHOD": "Cortex width / height of foramen's lower margin above border",
    "PMI-DENTIST": "PMI with the dentist-measured cortical width",
    "MENTAL-FORAMEN": "Mental foramen",
    "FORAMEN-CONF": "Confidence of the proposed mental foramen point",
    "FORAMEN-SOURCE": "Mental foramen point source",
    "FORAMEN-AUTO": "Proposed automatically (to be checked by the dentist)",
    "FORAMEN-USER": "Placed by the dentist",
    "DENTIST-GROUP": "Dentist-measured mandibular cortical width",
    "MEASURED-BY": "Measured by",
    "DENTIST": "Dentist (dentist-measured)",
    "MCW-USED": "MCW used for the 3 mm threshold and the referral wording",
}

SPACING_CODE = {"file": "SPACING-FILE", "dataset": "SPACING-DATASET", "user": "SPACING-USER",
                "calibrated": "SPACING-CALIB", "assumed": "SPACING-ASSUMED",
                "anatomy": "SPACING-ANATOMY"}
STATUS_CODE = {"assessed": "ASSESSED", "not_assessable": "NOT-ASSESSABLE",
               "not_panoramic": "NOT-PANORAMIC"}
#: (sop class uid, sop instance uid) of the image the SCOORDs are drawn on
ImageRef = tuple[str, str]


def private_code(value: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value, PRIVATE_SCHEME, PRIVATE_CODES[value])


def unit_pixels() -> Any:
    from pydicom.sr.coding import Code

    return Code("{pixels}", "UCUM", "pixels")


def unit_ratio() -> Any:
    from pydicom.sr.coding import Code

    return Code("{ratio}", "UCUM", "ratio")


def algorithm(name: str, version: str, parameters: list[str] | None = None) -> Any:
    import highdicom as hd

    return hd.sr.AlgorithmIdentification(name=name[:64] or "unnamed", version=version[:64] or "-",
                                         parameters=parameters or None)


def _side_site(side: str) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    lat = codes.SCT.Left if side == "left" else codes.SCT.Right
    return hd.sr.FindingSite(codes.SCT.BoneStructureOfMandible, laterality=lat)


def width_value(result: ScreeningResult, mm: float | None, px: float | None) -> tuple[float, Any] | None:
    """A cortical width as written: mm with a measured spacing; pixels when the spacing is
    assumed (from ``px``, else the assumed mm back to pixels). None: no width."""
    from pydicom.sr.codedict import codes

    sp = result.spacing
    if not sp.assumed:
        return None if mm is None else (float(mm), codes.UCUM.Millimeter)
    if px is None and mm is not None:
        px = float(mm) / sp.mm_per_px
    return None if px is None else (float(px), unit_pixels())


def _spacing_parameter(result: ScreeningResult) -> str:
    sp = result.spacing
    if sp.assumed:
        return (f"spacing unknown ({sp.mm_per_px:.3f} mm/pixel assumed default, not applied): "
                "widths in pixels")
    mag = f", magnification {sp.magnification:g} divided out" if sp.magnification else ""
    return f"spacing {sp.describe()}{mag}"


def cortex_group(result: ScreeningResult, sources: list[Any] | None) -> Any:
    """The cortex as measured: MCW per side (mm, or pixels without a calibration), the pixel
    spacing with its source (the spacing values, at the anatomical scale, and the
    magnification divided out only when measured), Klemetti rule, status."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    mandible, sp = codes.SCT.BoneStructureOfMandible, result.spacing
    cortex_m: list[Any] = []
    for side in ("right", "left"):
        w = width_value(result, getattr(result, f"mcw_{side}_mm"), getattr(result, f"mcw_{side}_px"))
        if w is not None:
            cortex_m.append(hd.sr.Measurement(
                name=private_code("MCW"), value=w[0], unit=w[1], method=private_code("MCW-METHOD"),
                finding_sites=[_side_site(side)]))
    if not sp.assumed:
        for name in (codes.DCM.HorizontalPixelSpacing, codes.DCM.VerticalPixelSpacing):
            cortex_m.append(hd.sr.Measurement(name=name, value=float(sp.mm_per_px),
                                              unit=codes.UCUM.Millimeter))
        if sp.magnification:  # the spacing above is at the anatomy: this factor was divided out
            cortex_m.append(hd.sr.Measurement(name=private_code("MAGNIFICATION"),
                                              value=float(sp.magnification), unit=codes.UCUM.NoUnits))
    cortex_q = [
        hd.sr.QualitativeEvaluation(private_code("SPACING-SOURCE"),
                                    private_code(SPACING_CODE.get(sp.source, "SPACING-ASSUMED"))),
        hd.sr.QualitativeEvaluation(private_code("STATUS"), private_code(STATUS_CODE[result.status])),
    ]
    if result.klemetti_rule in ("C1", "C2", "C3"):
        cortex_q.append(hd.sr.QualitativeEvaluation(
            private_code("KLEMETTI-RULE"), private_code(f"KLEMETTI-{result.klemetti_rule}")))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Mandibular cortex"),
        finding_type=private_code("CORTEX-GROUP"),
        algorithm_id=algorithm("DentalOsteo cortex measurement and Klemetti rule", __version__,
                               [_spacing_parameter(result)]),
        finding_sites=[hd.sr.FindingSite(mandible)],
        measurements=cortex_m, qualitative_evaluations=cortex_q, source_images=sources)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def foramen_groups(result: ScreeningResult, image: ImageRef) -> list[Any]:
    """One planar-ROI group per side with a mental foramen point (right first)."""
    import highdicom as hd
    import numpy as np
    from pydicom.sr.codedict import codes

    groups = []
    for side in ("right", "left"):
        pt = result.foramen(side)
        if pt is None:
            continue
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POINT,
            graphic_data=np.array([[pt.x + 0.5, pt.y + 0.5]], dtype=np.float32),
            source_image=hd.sr.SourceImageForRegion(*image))
        measurements = _foramen_measurements(result, side)
        user = pt.source == "user"
        evals = [hd.sr.QualitativeEvaluation(private_code("FORAMEN-SOURCE"),
                                             private_code("FORAMEN-USER" if user else "FORAMEN-AUTO"))]
        algo = None if user else algorithm("DentalOsteo mental foramen proposal", __version__)
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=hd.UID(), identifier=f"Mental foramen {side}"),
            referenced_region=region, finding_type=private_code("MENTAL-FORAMEN"),
            algorithm_id=algo, finding_sites=[_side_site(side)],
            measurements=measurements or None, qualitative_evaluations=evals,
            geometric_purpose=codes.DCM.Center))
    return groups


def _foramen_measurements(result: ScreeningResult, side: str) -> list[Any]:
    """PMI (automatic width), PMI with the dentist's width, and the proposal's confidence."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    out = []
    pmi = _finite(result.pmi_left if side == "left" else result.pmi_right)
    if pmi is not None:
        out.append(hd.sr.Measurement(name=private_code("PMI"), value=pmi, unit=unit_ratio(),
                                     method=private_code("PMI-METHOD"),
                                     finding_sites=[_side_site(side)]))
    detail = (result.pmi_detail or {}).get(side) or {}
    pmi_d = _finite(detail.get("pmi_dentist")) if isinstance(detail, dict) else None
    if pmi_d is not None:
        out.append(hd.sr.Measurement(name=private_code("PMI"), value=pmi_d, unit=unit_ratio(),
                                     method=private_code("PMI-DENTIST"),
                                     finding_sites=[_side_site(side)]))
    pt = result.foramen(side)
    conf = _finite(pt.confidence) if pt is not None else None
    if conf is not None:
        out.append(hd.sr.Measurement(name=private_code("FORAMEN-CONF"), value=conf,
                                     unit=codes.UCUM.NoUnits))
    return out


def dentist_group(result: ScreeningResult, image: ImageRef,
                  sources: list[Any] | None) -> Any | None:
    """The dentist's MCW per measured side (None: the dentist measured nothing)."""
    import highdicom as hd
    import numpy as np
    from pydicom.sr.codedict import codes

    measurements = []
    for side in ("right", "left"):
        pts = (result.dentist_mcw or {}).get(side)
        mm = result.mcw_dentist_left_mm if side == "left" else result.mcw_dentist_right_mm
        w = width_value(result, mm, result.dentist_mcw_px(side))
        if not pts or w is None:
            continue
        line = np.array([[x + 0.5, y + 0.5] for x, y in pts], dtype=np.float32)
        measurements.append(hd.sr.Measurement(
            name=private_code("MCW"), value=w[0], unit=w[1], method=private_code("MCW-DENTIST"),
            finding_sites=[_side_site(side)],
            referenced_coordinates=[hd.sr.CoordinatesForMeasurement(
                hd.sr.GraphicTypeValues.POLYLINE, line, hd.sr.SourceImageForRegion(*image))]))
    if not measurements:
        return None
    evals = [hd.sr.QualitativeEvaluation(private_code("MEASURED-BY"), private_code("DENTIST")),
             hd.sr.QualitativeEvaluation(private_code("MCW-USED"), private_code("MCW-DENTIST"))]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Dentist-measured MCW"),
        finding_type=private_code("DENTIST-GROUP"), method=private_code("MCW-DENTIST"),
        finding_sites=[hd.sr.FindingSite(codes.SCT.BoneStructureOfMandible)],
        measurements=measurements, qualitative_evaluations=evals, source_images=sources)
