"""``dentalosteo screen FILE``: screen one radiograph (JSON, heatmap, PDF)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.data.pointsio import check_inside, load_landmarks
from ..core.errors import ConfigError
from ..core.imaging.heatmap import blend, gray_to_rgb
from ..core.imaging.imageio import load_radiograph
from ..core.records.dicom_objects import write_result_objects
from ..core.records.report import write_report
from ..core.system.atomic import atomic_write_bytes
from ..core.system.settings import load_settings
from ..core.types import RoiBox
from ..services import make_engine, summary_line
from .common import echo, print_json, record_export_or_fail, record_screening_or_fail, spacing_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("screen", help="screen one radiograph: risk, Klemetti hint, MCW, Grad-CAM")
    p.add_argument("file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--roi", help="use this box x,y,w,h (original pixels) instead of the proposal")
    g.add_argument("--landmarks", help="landmark mode with the eight points in this JSON file")
    g.add_argument("--landmark-mode", action="store_true", help="landmark mode with auto-placed points")
    p.add_argument("--model", help="model pack folder (default: the bundled models/default)")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default=None)
    p.add_argument("--pixel-spacing", type=str, help="pixel spacing in mm (overrides the file's)")
    p.add_argument("--gradcam", choices=["gradcam", "gradcam++", "none"], default=None)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--heatmap", help="write the Grad-CAM overlay picture (PNG)")
    p.add_argument("--heatmap-raw", help="write the Grad-CAM map as float32 .npy, image-sized, 0 outside the ROI")
    p.add_argument("--pdf", help="write the PDF screening report")
    p.add_argument("--dicom-out", metavar="DIR", help="write the result as DICOM into this folder: "
                   "SR (measurements), Secondary Capture (overlay) and Encapsulated PDF (report)")
    p.add_argument("--anonymize", action="store_true", help="remove patient data from every output")
    for side in ("left", "right"):
        p.add_argument(f"--foramen-{side}", metavar="X,Y",
                       help=f"the mental foramen's centre on the patient's {side} (image px), "
                       "instead of the proposed point")
    for side in ("left", "right"):
        p.add_argument(f"--dentist-mcw-{side}", metavar="X1,Y1,X2,Y2",
                       help=f"your own MCW on the patient's {side}: two points across the cortex "
                       "(image px); it is the one the reading uses")
    p.set_defaults(func=run)


def numbers_arg(text: str, flag: str, n: int) -> tuple[float, ...]:
    """``n`` comma-separated finite numbers for ``flag``, or a one-line ConfigError saying
    what to type."""
    shape = "X,Y" if n == 2 else "X1,Y1,X2,Y2"
    parts = [t.strip() for t in str(text).split(",")]
    try:
        vals = tuple(float(t) for t in parts)
    except ValueError:
        vals = ()
    if len(vals) != n or not all(np.isfinite(v) for v in vals):
        raise ConfigError(f"{flag} takes {n} numbers {shape} in image pixels (e.g. "
                          f"{'1200,950' if n == 2 else '1200,1010,1204,1042'}), not {text!r}")
    return vals


def dentist_points(args: argparse.Namespace) -> tuple[dict[str, tuple[float, float]] | None,
                                                      dict[str, tuple[tuple[float, float], tuple[float, float]]] | None]:
    """The --foramen-* and --dentist-mcw-* flags as the engine takes them."""
    foramen: dict[str, tuple[float, float]] = {}
    mcw: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
    for side in ("left", "right"):
        f = getattr(args, f"foramen_{side}", None)
        if f:
            x, y = numbers_arg(f, f"--foramen-{side}", 2)
            foramen[side] = (x, y)
        m = getattr(args, f"dentist_mcw_{side}", None)
        if m:
            x1, y1, x2, y2 = numbers_arg(m, f"--dentist-mcw-{side}", 4)
            mcw[side] = ((x1, y1), (x2, y2))
    return foramen or None, mcw or None


def write_heatmap_png(path: str | Path, pixels: np.ndarray, heat: np.ndarray | None, roi: RoiBox | None) -> Path:
    import cv2


    rgb = blend(pixels, heat) if heat is not None else gray_to_rgb(pixels)
    if roi is not None:
        t = max(2, int(round(min(pixels.shape) / 400)))
        cv2.rectangle(rgb, (roi.x, roi.y), (roi.x + roi.w, roi.y + roi.h), (80, 200, 255), t)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ConfigError(f"{path}: could not encode the heatmap PNG")
    return atomic_write_bytes(path, buf.tobytes())


def write_heatmap_raw(path: str | Path, heat: np.ndarray | None, shape: tuple[int, int]) -> Path:
    import io

    arr = np.zeros(shape, np.float32) if heat is None else np.clip(heat, 0, 1).astype(np.float32)
    bio = io.BytesIO()
    np.save(bio, arr)
    return atomic_write_bytes(path, bio.getvalue())


def run(args: argparse.Namespace) -> int:

    settings = load_settings()
    if args.gradcam:
        settings.gradcam_method = args.gradcam
    spacing = spacing_arg(args.pixel_spacing) if args.pixel_spacing else None
    foramen, dentist_mcw = dentist_points(args)
    rad = load_radiograph(args.file)
    roi = RoiBox.parse(args.roi) if args.roi else None
    if roi is not None and (roi.x >= rad.width or roi.y >= rad.height or roi.x + roi.w <= 0 or roi.y + roi.h <= 0):
        raise ConfigError(f"--roi {args.roi} lies outside the {rad.width}x{rad.height} image")
    landmarks = None
    if args.landmarks:
        landmarks = load_landmarks(args.landmarks)
        check_inside(landmarks, rad.width, rad.height, args.landmarks)
    engine = make_engine(model_dir=args.model, device=args.device, settings=settings)
    mode = "landmarks" if (landmarks is not None or args.landmark_mode) else "roi"
    res = engine.screen(rad, roi=roi, landmarks=landmarks, mode=mode, pixel_spacing_mm=spacing,
                        cross_check=True, mental_foramen=foramen, dentist_mcw=dentist_mcw)
    anonymize = bool(args.anonymize or settings.anonymize_exports)
    sid = record_screening_or_fail(res, rad, anonymize=anonymize)
    if args.heatmap:
        write_heatmap_png(args.heatmap, rad.pixels, res.heatmap, res.roi)
    if args.heatmap_raw:
        write_heatmap_raw(args.heatmap_raw, res.heatmap, rad.pixels.shape)
    if args.pdf:
        card = (engine.landmark_backend if mode == "landmarks" else engine.roi_backend)
        write_report(res, rad, Path(args.pdf), settings=settings, anonymize=anonymize,
                     model_card=card.card if card else None)
        record_export_or_fail(sid, "pdf", args.pdf)
    if args.dicom_out:
        card = (engine.landmark_backend if mode == "landmarks" else engine.roi_backend)
        for out in write_result_objects(res, rad, args.dicom_out, settings=settings,
                                        anonymize=anonymize, model_card=card.card if card else None):
            record_export_or_fail(sid, "dicom", str(out))
    d = res.as_json_dict()
    if anonymize:
        d["path"] = Path(d["path"]).suffix or "<anonymised>"
    if args.json:
        print_json(d)
    else:
        echo(summary_line(res))
        for w in res.warnings:
            echo(f"  warning: {w}")
    return 0
