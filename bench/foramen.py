"""Mental-foramen proposal and PMI on phantoms (known truth), and where it lands on real images.

Usage:
  python bench/foramen.py [--seeds 0:40] [--styles v1,v2] [--real DIR] [--montage OUT.png]

Tuning: the constants in core/anatomy/foramen.py were chosen on phantom seeds 500-519 (both
styles) only. The figures printed here are on the held-out seeds given (default 0-39, never
used for tuning). Real radiographs (``--real``, e.g. ../shared/realdata/abdi_dev) carry no
foramen truth: the proposed points are listed and drawn into a montage to look at; nothing
was tuned on them.

Prints JSON:
- per style: ``sides``, ``detection_rate`` (a point proposed at or above the confidence
  floor), ``error_mm`` {median, p90, within_3mm, within_5mm} over the proposed points
  (distance to the true centre), and the same by confidence band;
- ``pmi``: relative error of the PMI against the phantom's own PMI (true MCW over the true
  height of the foramen's lower margin, ``FORAMEN_RADIUS_H`` x image height below the
  centre), with the true foramen given as a user point (the measurement alone) and with
  the proposed point;
- ``real``: per image the proposed points and confidences (no truth).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dentalosteo_gui.core.anatomy import measure_cortex, propose_foramen, propose_roi  # noqa: E402
from dentalosteo_gui.core.anatomy.foramen import CONF_FLOOR, measure_pmi, side_points  # noqa: E402
from dentalosteo_gui.core.data.phantoms import generate_phantom  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph  # noqa: E402
from dentalosteo_gui.core.types import ForamenPoint, Spacing  # noqa: E402

FORAMEN_RADIUS_H = 0.02  # phantoms.py draws the foramen as a disc of 0.02 x image height


def _stats(errs: list[float]) -> dict[str, Any]:
    if not errs:
        return {"n": 0}
    a = np.asarray(errs)
    return {"n": int(a.size), "median": round(float(np.median(a)), 2), "p90": round(float(np.percentile(a, 90)), 2),
            "within_3mm": round(float(np.mean(a <= 3)), 3), "within_5mm": round(float(np.mean(a <= 5)), 3)}


def _true_pmi(truth: Any, side: str, h: int) -> float:
    """The phantom's PMI: true MCW (px) over the vertical distance from the true border to
    the foramen's lower margin."""
    mx, my = getattr(truth, f"mental_foramen_{side}")
    border = np.asarray(getattr(truth, f"border_{side}"))
    order = np.argsort(border[:, 0])
    by = float(np.interp(mx, border[order, 0], border[order, 1]))
    mcw_px = getattr(truth, f"mcw_{side}_mm") / truth.pixel_spacing_mm
    return float(mcw_px / (by - (my + FORAMEN_RADIUS_H * h)))


def phantom_side(img: np.ndarray, prop: Any, cortex: Any, truth: Any, side: str,
                 found: dict[str, ForamenPoint], rows: dict[str, list[Any]]) -> None:
    h = img.shape[0]
    tx, ty = getattr(truth, f"mental_foramen_{side}")
    cside = getattr(cortex, side)
    mcw_px = None if cside.mcw_mm is None else cside.mcw_mm / cortex.spacing.mm_per_px
    want = _true_pmi(truth, side, h)
    got, _ = measure_pmi(img, prop, side, ForamenPoint(tx, ty, None, "user"), cside, mcw_px)
    if got is not None:
        rows["pmi_true_point"].append(abs(got / want - 1.0))
    p = found.get(side)
    if p is None:
        return
    e = float(np.hypot(p.x - tx, p.y - ty) * truth.pixel_spacing_mm)
    rows["err"].append(e)
    rows["conf"].append(float(p.confidence or 0.0))
    got, _ = measure_pmi(img, prop, side, p, cside, mcw_px)
    if got is not None:
        rows["pmi_auto"].append(abs(got / want - 1.0))


def run_phantoms(seeds: range, style: str) -> dict[str, Any]:
    rows: dict[str, list[Any]] = {"err": [], "conf": [], "pmi_true_point": [], "pmi_auto": []}
    n_sides = 0
    for seed in seeds:
        case = generate_phantom(seed, style=style)
        img = case.image.astype(np.float32) / (65535.0 if case.image.dtype == np.uint16 else 255.0)
        rad = from_array(img)
        prop = propose_roi(rad)
        cortex = measure_cortex(rad, prop, Spacing(case.truth.pixel_spacing_mm, "dataset"))
        found, _why = propose_foramen(img, prop)
        for side in ("right", "left"):
            n_sides += 1
            phantom_side(img, prop, cortex, case.truth, side, found, rows)
    conf = np.asarray(rows["conf"])
    err = np.asarray(rows["err"])
    bands = {f"{lo:.1f}-{hi:.1f}": _stats(list(err[(conf >= lo) & (conf < hi)]))
             for lo, hi in ((CONF_FLOOR, 0.7), (0.7, 0.9), (0.9, 1.01))}

    def rel(v: list[float]) -> dict[str, Any]:
        a = np.asarray(v)
        return {"n": int(a.size), "median_rel_error": round(float(np.median(a)), 3) if a.size else None,
                "p90_rel_error": round(float(np.percentile(a, 90)), 3) if a.size else None}

    return {"sides": n_sides, "detection_rate": round(len(err) / max(n_sides, 1), 3),
            "error_mm": _stats(list(err)), "error_mm_by_confidence": bands,
            "pmi_with_true_point": rel(rows["pmi_true_point"]), "pmi_with_proposed_point": rel(rows["pmi_auto"])}


def _tile(rad: Any, prop: Any, found: dict[str, ForamenPoint], name: str) -> np.ndarray:
    """The lower half of the image with the border (blue) and the points (red: confidence)."""
    img = np.clip(rad.pixels * 255.0, 0, 255).astype(np.uint8)
    h, w = img.shape
    rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    t = max(2, w // 600)
    for side in ("right", "left"):
        for x, y in side_points(prop, side)[::4]:
            cv2.circle(rgb, (int(x), int(y)), t, (255, 128, 0), -1)
        p = found.get(side)
        if p is not None:
            cv2.circle(rgb, (int(p.x), int(p.y)), int(0.02 * h), (0, 0, 255), t)
            cv2.putText(rgb, f"{p.confidence:.2f}", (int(p.x) - 40, int(p.y) - int(0.03 * h)),
                        cv2.FONT_HERSHEY_SIMPLEX, h / 700.0, (0, 0, 255), t)
    crop = rgb[int(0.45 * h):, :]
    cv2.putText(crop, name, (20, int(0.08 * h)), cv2.FONT_HERSHEY_SIMPLEX, h / 500.0, (0, 255, 255), t)
    return cv2.resize(crop, (640, int(640 * crop.shape[0] / crop.shape[1])))


def run_real(folder: Path, montage: Path | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tiles: list[np.ndarray] = []
    for path in sorted(folder.glob("*.png"), key=lambda p: (len(p.stem), p.stem)):
        rad = load_radiograph(path)
        prop = propose_roi(rad)
        found, why = propose_foramen(rad.pixels, prop)
        out.append({"image": path.name, **{side: ({"xy": found[side].xy(), "confidence": found[side].confidence}
                                                   if side in found else {"none": why.get(side)})
                                           for side in ("right", "left")}})
        tiles.append(_tile(rad, prop, found, path.stem))
    if montage is not None and tiles:
        hmax = max(t.shape[0] for t in tiles)
        tiles = [cv2.copyMakeBorder(t, 0, hmax - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
        while len(tiles) % 4:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[i:i + 4]) for i in range(0, len(tiles), 4)]
        cv2.imwrite(str(montage), np.vstack(rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0:40", help="held-out phantom seeds a:b (tuning used 500-519)")
    ap.add_argument("--styles", default="v1,v2")
    ap.add_argument("--real", type=Path, help="a folder of real radiographs (PNG): proposals only")
    ap.add_argument("--montage", type=Path, help="write the real images' proposals as one PNG")
    args = ap.parse_args()
    a, b = (int(v) for v in args.seeds.split(":"))
    t0 = time.time()
    res: dict[str, Any] = {"tuned_on_seeds": "500-519 (v1 and v2)", "held_out_seeds": f"{a}-{b - 1}",
                           "confidence_floor": CONF_FLOOR}
    for style in args.styles.split(","):
        res[style] = run_phantoms(range(a, b), style)
    if args.real:
        folder = args.real / "images" if (args.real / "images").is_dir() else args.real
        real = run_real(folder, args.montage)
        n = 2 * len(real)
        k = sum(1 for r in real for s in ("right", "left") if "xy" in r[s])
        res["real"] = {"folder": str(args.real), "images": len(real), "sides_with_a_point": k,
                       "sides": n, "points": real}
    res["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
