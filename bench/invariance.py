"""Does the reading survive what a clinic's export does to a radiograph? (issue 15)

Usage: python bench/invariance.py DIR [DIR...] [--limit N] [--per-image] [--recursive]
       [--variants flip,resample,gamma,jpeg,pad,uint16]

For every image in the folders (PNG, JPEG, TIFF, BMP, DICOM) the full screening
(``make_engine().screen(rad, pixel_spacing_mm=...)``) is run on the image and on six
re-encodings of the same radiograph that must not change the reading:

- ``flip``: mirrored left-right (the patient's sides swap: right is compared with left);
- ``resample``: resized by 0.7 (INTER_AREA), the pixel spacing divided by 0.7;
- ``gamma``: re-windowed, intensities raised to the power 0.8;
- ``jpeg``: saved as JPEG quality 80 and read back through the product's reader;
- ``pad``: a black margin (6 % of the width) on all four sides;
- ``uint16``: stored as a 16-bit PNG (x 257) and read back.

Opt-in "other device" stresses (``--variants device`` for all four; not part of issue 15's
targets, since each one changes the image a little, but a reading built for one device should
not fall apart under them):

- ``halfres``: resized by 0.5 (a coarser detector), the pixel spacing doubled;
- ``unsharp``: the unsharp masking panoramic units apply (Gaussian sigma 2 mm, amount 0.8);
- ``noise``: Gaussian white noise of 2 % of the grey range, then a 0.6 px blur (a noisier,
  correlated sensor; about 1 % of the grey range is left after the blur);
- ``lowcontrast``: the grey range squeezed to 0.25-0.75 (a flat, foggy exposure).

The base spacing is the file's, else the configured default; it is passed explicitly to
every variant (scaled for ``resample``). Prints ONE JSON object:
``{"overall": {...}, "per_variant": {name: {...}}, "base": {...}, "targets": {...}}`` with,
per variant, ``mcw_abs_diff_median_mm`` / ``mcw_abs_diff_p90_mm`` (per side, over the sides
measured on both), ``mcw_missing_rate`` (measured on one only), ``klemetti_same`` (the
model's Klemetti class; two withheld classes count as the same), ``rule_same``,
``risk_abs_diff_median`` / ``_p90``, ``assessable_same``, ``rule_abstain_rate`` (of the
variant's readings) and ``box_shift_median_mm`` (the ROI box mapped back to the original
image). These are development figures on whatever folder is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph  # noqa: E402
from dentalosteo_gui.core.system.settings import DEFAULT_PIXEL_SPACING_MM  # noqa: E402
from dentalosteo_gui.core.types import Radiograph  # noqa: E402

RESAMPLE = 0.7
GAMMA = 0.8
JPEG_QUALITY = 80
PAD_FRAC = 0.06
VARIANTS = ("flip", "resample", "gamma", "jpeg", "pad", "uint16")
DEVICE_STRESSES = ("halfres", "unsharp", "noise", "lowcontrast")
HALFRES = 0.5
UNSHARP_SIGMA_MM, UNSHARP_AMOUNT = 2.0, 0.8
NOISE_SD, NOISE_BLUR_PX = 0.02, 0.6
SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"}
TARGETS = {
    "mcw_abs_diff_median_mm": "<= 0.15",
    "mcw_abs_diff_p90_mm": "<= 0.5",
    "klemetti_same": ">= 0.85",
    "risk_abs_diff_median": "<= 0.05",
}


@dataclass
class Variant:
    """A re-encoded radiograph and how to map its geometry back to the original."""

    rad: Radiograph
    spacing_mm: float
    flipped: bool = False
    scale: float = 1.0  # variant px per original px
    offset: tuple[float, float] = (0.0, 0.0)  # variant px of the original's (0, 0)


def _u8(px: np.ndarray) -> np.ndarray:
    return np.clip(np.round(px * 255.0), 0, 255).astype(np.uint8)


def _via_file(px: np.ndarray, suffix: str, params: list[int], tmp: Path) -> Radiograph:
    path = tmp / f"variant{suffix}"
    if not cv2.imwrite(str(path), px, params):
        raise OSError(f"cannot write {path}")
    return load_radiograph(path)


def _resampled(px: np.ndarray, factor: float, spacing_mm: float) -> Variant:
    """``px`` resized by ``factor`` (INTER_AREA), the pixel spacing scaled to match."""
    h, w = px.shape
    size = (int(round(w * factor)), int(round(h * factor)))
    sx = size[0] / w
    return Variant(from_array(cv2.resize(px, size, interpolation=cv2.INTER_AREA)), spacing_mm / sx, scale=sx)


def make_variants(rad: Radiograph, spacing_mm: float, tmp: Path,
                  names: Iterable[str] = VARIANTS) -> dict[str, Variant]:
    """The re-encodings of ``rad`` (pixels in [0, 1]) named in ``names``."""
    px = rad.pixels
    h, w = px.shape
    out: dict[str, Variant] = {}
    for name in names:
        if name == "flip":
            out[name] = Variant(from_array(np.ascontiguousarray(px[:, ::-1])), spacing_mm, flipped=True)
        elif name == "resample":
            out[name] = _resampled(px, RESAMPLE, spacing_mm)
        elif name == "gamma":
            out[name] = Variant(from_array(np.power(px, GAMMA).astype(np.float32)), spacing_mm)
        elif name == "jpeg":
            out[name] = Variant(_via_file(_u8(px), ".jpg", [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY], tmp),
                                spacing_mm)
        elif name == "pad":
            m = int(round(PAD_FRAC * w))
            padded = cv2.copyMakeBorder(px, m, m, m, m, cv2.BORDER_CONSTANT, value=0.0)
            out[name] = Variant(from_array(padded), spacing_mm, offset=(float(m), float(m)))
        elif name == "uint16":
            u16 = (_u8(px).astype(np.uint16) * 257).astype(np.uint16)
            out[name] = Variant(_via_file(u16, ".png", [], tmp), spacing_mm)
        elif name == "halfres":
            out[name] = _resampled(px, HALFRES, spacing_mm)
        elif name == "unsharp":
            blur = cv2.GaussianBlur(px, (0, 0), UNSHARP_SIGMA_MM / spacing_mm)
            sharp = np.clip(px + UNSHARP_AMOUNT * (px - blur), 0.0, 1.0).astype(np.float32)
            out[name] = Variant(from_array(sharp), spacing_mm)
        elif name == "noise":
            rng = np.random.default_rng(h * 7919 + w)  # the same noise for images of one size
            noisy = cv2.GaussianBlur(px + rng.normal(0.0, NOISE_SD, px.shape).astype(np.float32),
                                     (0, 0), NOISE_BLUR_PX)
            out[name] = Variant(from_array(np.clip(noisy, 0.0, 1.0).astype(np.float32)), spacing_mm)
        elif name == "lowcontrast":
            out[name] = Variant(from_array((0.25 + 0.5 * px).astype(np.float32)), spacing_mm)
        else:
            raise ValueError(f"unknown variant {name!r}; choose from "
                             f"{', '.join(VARIANTS + DEVICE_STRESSES)}")
    return out


def reading(result: Any, width: int, var: Variant | None = None) -> dict[str, Any]:
    """The parts of a ScreeningResult that must not change, in the original's frame."""
    right, left = result.mcw_right_mm, result.mcw_left_mm
    box = result.roi
    bx = None
    if box is not None:
        x0, y0, x1, y1 = float(box.x), float(box.y), float(box.x + box.w), float(box.y + box.h)
        if var is not None:
            ox, oy = var.offset
            x0, x1, y0, y1 = (x0 - ox) / var.scale, (x1 - ox) / var.scale, (y0 - oy) / var.scale, (y1 - oy) / var.scale
            if var.flipped:
                x0, x1 = width - x1, width - x0
        bx = [x0, y0, x1, y1]
    if var is not None and var.flipped:
        right, left = left, right
    rule_ev = (result.klemetti_evidence or {}).get("rule", {}) or {}
    return {
        "mcw": [right, left],
        "klemetti_class": result.klemetti_class,
        "klemetti_rule": result.klemetti_rule,
        "rule_abstain_reason": rule_ev.get("abstain_reason") or (rule_ev.get("why") if result.klemetti_rule is None else None),
        "risk": result.risk,
        "risk_image_model": getattr(result, "risk_image_model", None),  # before any fusion with the MCW
        "assessable": bool(result.assessable),
        "box": bx,
    }


def compare(base: dict[str, Any], var: dict[str, Any], spacing_mm: float) -> dict[str, Any]:
    """Differences between the base reading and a variant's."""
    mcw_d: list[float] = []
    missing = 0
    for a, b in zip(base["mcw"], var["mcw"], strict=True):
        if a is not None and b is not None:
            mcw_d.append(abs(float(a) - float(b)))
        elif (a is None) != (b is None):
            missing += 1
    risk_d = None
    if base["risk"] is not None and var["risk"] is not None:
        risk_d = abs(float(base["risk"]) - float(var["risk"]))
    img_d = None
    if base.get("risk_image_model") is not None and var.get("risk_image_model") is not None:
        img_d = abs(float(base["risk_image_model"]) - float(var["risk_image_model"]))
    shift = None
    if base["box"] is not None and var["box"] is not None:
        shift = float(np.max(np.abs(np.subtract(base["box"], var["box"])))) * spacing_mm
    return {
        "mcw_abs_diff_mm": mcw_d,
        "mcw_missing": missing,
        "klemetti_same": base["klemetti_class"] == var["klemetti_class"],
        "rule_same": base["klemetti_rule"] == var["klemetti_rule"],
        "risk_abs_diff": risk_d,
        "risk_image_model_abs_diff": img_d,
        "risk_missing": (base["risk"] is None) != (var["risk"] is None),
        "assessable_same": base["assessable"] == var["assessable"],
        "rule_abstain": var["klemetti_rule"] is None,
        "box_shift_mm": shift,
    }


def _q(vals: list[float], q: float) -> float | None:
    return round(float(np.percentile(vals, q)), 4) if vals else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled figures over comparison rows (see the module docstring)."""
    mcw = [d for r in rows for d in r["mcw_abs_diff_mm"]]
    risk = [r["risk_abs_diff"] for r in rows if r["risk_abs_diff"] is not None]
    img = [r["risk_image_model_abs_diff"] for r in rows if r.get("risk_image_model_abs_diff") is not None]
    shift = [r["box_shift_mm"] for r in rows if r["box_shift_mm"] is not None]
    n = max(1, len(rows))
    return {
        "n": len(rows),
        "mcw_abs_diff_median_mm": _q(mcw, 50),
        "mcw_abs_diff_p90_mm": _q(mcw, 90),
        "mcw_missing_rate": round(sum(r["mcw_missing"] for r in rows) / (2 * n), 4),
        "klemetti_same": round(sum(r["klemetti_same"] for r in rows) / n, 4),
        "rule_same": round(sum(r["rule_same"] for r in rows) / n, 4),
        "risk_abs_diff_median": _q(risk, 50),
        "risk_abs_diff_p90": _q(risk, 90),
        "risk_missing_rate": round(sum(r["risk_missing"] for r in rows) / n, 4),
        # the image model's own risk: a fused risk near 0 on thick real cortices hardly moves
        "risk_image_model_abs_diff_median": _q(img, 50),
        "risk_image_model_abs_diff_p90": _q(img, 90),
        "assessable_same": round(sum(r["assessable_same"] for r in rows) / n, 4),
        "rule_abstain_rate": round(sum(r["rule_abstain"] for r in rows) / n, 4),
        "box_shift_median_mm": _q(shift, 50),
        "box_shift_p90_mm": _q(shift, 90),
    }


def list_images(dirs: Iterable[Path], recursive: bool = False) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        it = d.rglob("*") if recursive else d.glob("*")
        files += sorted(p for p in it if p.is_file() and p.suffix.lower() in SUFFIXES)
    return files


def run_invariance(files: list[Path], screen: Callable[[Radiograph, float], Any],
                   names: Iterable[str] = VARIANTS, per_image: bool = False) -> dict[str, Any]:
    """Screen every file and its variants; the one JSON-able summary."""
    names = list(names)
    rows: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    base_rows: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as td:
        for f in files:
            try:
                rad = load_radiograph(f)
            except Exception as exc:  # noqa: BLE001 - a bench reports and goes on
                failed.append(f"{f.name}: {exc}")
                continue
            sp = float(rad.pixel_spacing_mm or DEFAULT_PIXEL_SPACING_MM)
            base = reading(screen(rad, sp), rad.width)
            base_rows.append({"rule_abstain": base["klemetti_rule"] is None})
            per: dict[str, Any] = {"file": f.name, "base": base}
            for name, var in make_variants(rad, sp, Path(td), names).items():
                got = reading(screen(var.rad, var.spacing_mm), rad.width, var)
                cmp = compare(base, got, sp)
                rows[name].append(cmp)
                per[name] = {"reading": got, **cmp}
            images.append(per)
    out: dict[str, Any] = {
        "n_images": len(images),
        "failed": failed,
        "overall": summarise([r for n in names for r in rows[n]]),
        "per_variant": {n: summarise(rows[n]) for n in names},
        "base": {"rule_abstain_rate": round(float(np.mean([r["rule_abstain"] for r in base_rows])), 4)
                 if base_rows else None},
        "targets": TARGETS,
        "note": "development figures on the folders given",
    }
    if per_image:
        out["per_image"] = images
    return out


def engine_screen() -> Callable[[Radiograph, float], Any]:
    """``make_engine().screen`` with an explicit spacing."""
    from dentalosteo_gui.services import make_engine

    engine = make_engine()
    return lambda rad, sp: engine.screen(rad, pixel_spacing_mm=sp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="at most N images per run (0: all)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated; 'device' adds the four opt-in device stresses")
    ap.add_argument("--per-image", action="store_true")
    ap.add_argument("--recursive", action="store_true")
    a = ap.parse_args(argv)
    files = list_images(a.dirs, a.recursive)
    if a.limit:
        files = files[: a.limit]
    if not files:
        print(json.dumps({"error": "no images found", "dirs": [str(d) for d in a.dirs]}))
        return 2
    names = [v.strip() for v in a.variants.split(",") if v.strip()]
    if "device" in names:
        names = [n for n in names if n != "device"] + list(DEVICE_STRESSES)
    out = run_invariance(files, engine_screen(), names, a.per_image)
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
