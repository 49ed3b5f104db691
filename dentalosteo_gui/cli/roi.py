"""``dentalosteo roi FILE``: ROI box, inferior border, eight landmarks, MCW and Klemetti hint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..core.anatomy import (
    assess_quality,
    draw_overlay,
    has_no_border,
    is_not_panoramic,
    measure_cortex,
    propose_landmarks,
    propose_roi,
    reportable_cortex,
)
from ..core.errors import ConfigError
from ..core.imaging.imageio import load_radiograph
from ..core.screening.spacing import resolve_spacing
from ..core.screening.stages import spacing_warning
from ..core.system.settings import load_settings
from .common import print_json, spacing_arg


def _spacing(text: str) -> float:
    """argparse type: the shared spacing check, reported as a usage error (exit 2)."""
    try:
        return spacing_arg(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "roi",
        help="propose the ROI, trace the inferior border, place landmarks, measure MCW",
        description="Find the inferior mandibular cortex on a panoramic radiograph: the published "
        "700x140 ROI box, the traced inferior border per side, the eight trabecular landmarks, "
        "the mandibular cortical width (MCW) per side and a rule-based Klemetti hint. "
        "Left/right are the patient's sides (right = image-left half).",
    )
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--pixel-spacing", type=_spacing, default=None, metavar="MM",
                   help="pixel spacing in mm (overrides the file; default: file, else settings)")
    p.add_argument("--overlay", type=Path, default=None, metavar="OUT.png",
                   help="write an overlay PNG with the box, border, landmarks, the measured cortex "
                   "margins and normals, and a magnified inset of each measurement window")
    p.set_defaults(func=run)


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(float(v), nd)


def analyse(path: str, pixel_spacing: float | None = None) -> tuple[dict[str, Any], Any]:
    """Run the anatomy pipeline on one file; returns (JSON dict, overlay RGB array).

    An image that is not a dental panoramic gets its box and trace but no landmarks, no MCW
    and no Klemetti hint (as in ``screen``)."""
    rad = load_radiograph(path)
    settings = load_settings()
    prop = propose_roi(rad)
    spacing = resolve_spacing(rad, pixel_spacing, float(settings.default_pixel_spacing_mm))
    quality = assess_quality(rad, prop)
    panoramic = not is_not_panoramic(quality)
    lms = propose_landmarks(rad, prop) if panoramic else {}
    # what `screen` would show: no width without a usable border, no Klemetti class for a child
    cortex = reportable_cortex(measure_cortex(rad, prop, spacing), quality) if panoramic else None
    warnings: list[str] = list(rad.warnings)
    for reason in prop.reasons + quality:
        if reason not in warnings:
            warnings.append(reason)
    if cortex is not None and cortex.assumed_spacing:
        warnings.append(spacing_warning(cortex.pixel_spacing_mm))
    sides = (cortex.left, cortex.right) if cortex is not None else (None, None)
    d: dict[str, Any] = {
        "path": str(path),
        "width": rad.width,
        "height": rad.height,
        "roi": prop.box.as_dict(),
        "border": {
            "left": [[round(x, 1), round(y, 1)] for x, y in prop.border_left],
            "right": [[round(x, 1), round(y, 1)] for x, y in prop.border_right],
        },
        "landmarks": {k: [round(v[0], 1), round(v[1], 1)] for k, v in lms.items()},
        "mcw_mm": {
            "left": _r(sides[0].mcw_mm if sides[0] else None),
            "right": _r(sides[1].mcw_mm if sides[1] else None),
            "assumed_spacing": spacing.assumed,
        },
        "mcw_px": {side: _r(s.mcw_mm / spacing.mm_per_px if s and s.mcw_mm is not None else None)
                   for side, s in (("left", sides[0]), ("right", sides[1]))},
        "mcw_iqr_mm": {"left": _r(sides[0].mcw_iqr_mm if sides[0] else None),
                       "right": _r(sides[1].mcw_iqr_mm if sides[1] else None)},
        "pixel_spacing_mm": spacing.mm_per_px,
        "spacing": spacing.as_dict(),
        "klemetti_rule": cortex.klemetti_rule if cortex is not None else None,
        "klemetti_evidence": cortex.evidence if cortex is not None
        else {"rule": {"abstain_reason": "not a dental panoramic radiograph" if not panoramic
                       else "no usable lower border: " + next((r for r in quality if has_no_border([r])), "")}},
        "confidence": round(float(prop.confidence), 3),
        "warnings": warnings,
    }
    return d, draw_overlay(rad, prop, lms, cortex)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    except (OSError, cv2.error) as exc:
        raise ConfigError(f"--overlay {path}: cannot write the PNG ({exc}); choose a writable folder") from None
    if not ok:
        raise ConfigError(f"--overlay {path}: cannot write the PNG; use a .png name in a writable folder")


def run(args: argparse.Namespace) -> int:
    d, overlay = analyse(args.file, args.pixel_spacing)
    if args.overlay is not None:
        _write_png(args.overlay, overlay)
        d["overlay"] = str(args.overlay)
    if args.json:
        print_json(d)
        return 0
    out = sys.stdout
    r = d["roi"]
    out.write(f"{'roi':22s} x={r['x']} y={r['y']} w={r['w']} h={r['h']}\n")
    out.write(f"{'confidence':22s} {d['confidence']:.2f}\n")
    m = d["mcw_mm"]
    unit = "px" if m["assumed_spacing"] else "mm"  # no calibration: widths in pixels
    values = d["mcw_px"] if m["assumed_spacing"] else m
    for side in ("right", "left"):
        v = values[side]
        out.write(f"{'mcw_' + side + '_' + unit:22s} {'n/a' if v is None else f'{v:.2f}'}\n")
    rule = d["klemetti_evidence"].get("rule", {})
    why = rule.get("abstain_reason") if d["klemetti_rule"] is None else rule.get("why")
    out.write(f"{'klemetti_rule':22s} {d['klemetti_rule'] or 'n/a'}{f' ({why})' if why else ''}\n")
    for side in ("right", "left"):
        ps = rule.get("per_side", {}).get(side, {})
        if ps:
            vals = ", ".join(f"{k} {ps[k]:.3f}" for k in ("roughness", "porosity", "residues") if ps.get(k) is not None)
            out.write(f"{'klemetti_' + side:22s} {vals or 'not measured'}{'' if ps.get('graded') else ' (not graded)'}\n")
    for name, (x, y) in d["landmarks"].items():
        out.write(f"{name:22s} {x:.0f}, {y:.0f}\n")
    out.write(f"{'border points':22s} right {len(d['border']['right'])}, left {len(d['border']['left'])}\n")
    for w in d["warnings"]:
        out.write(f"{'warning':22s} {w}\n")
    if args.overlay is not None:
        out.write(f"{'overlay':22s} {args.overlay}\n")
    return 0
