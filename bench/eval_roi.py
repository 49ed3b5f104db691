"""Evaluate the ROI proposal and border trace on the real abdi_dev images (issue 4 targets).

Usage: python bench/eval_roi.py [--data ../shared/realdata/abdi_dev] [--overlays DIR] [--per-image]
       python bench/eval_roi.py --phantoms N   (whole-trace error on phantoms, both styles)

Prints JSON. Images flagged CHECK in image_index.csv are left out of the scores (listed).
Definitions (documented in docs/anatomy.md):
- coverage: fraction of the box's columns (every 5th, where rater 1 has a border) whose
  rater-1 border y lies inside [box.y, box.y + box.h]; an image passes at >= 0.90.
- width: box width / image width (target 0.45-0.70); centring: |box centre - mandible
  centre| / image width, mandible centre = midpoint of the rater-1 mask's column extent.
- border error: traced y vs rater-1 y in the premolar-molar columns, i.e. columns whose
  distance from the mandible centre is 10-30 % of the image width, both sides;
  per image the mean |dy| (px); then median and 90th percentile over images.
- whole-trace error (issue 15): per image, the mean |dy| over every column of the traced
  polyline (both sides, every 5th column) where the rater has a border, against rater 1,
  rater 2 and the raters' mean; the inter-rater figure is the same mean of |rater 1 -
  rater 2| over the same columns. Target: median and p90 over images of the trace error
  <= 2 x the inter-rater median and p90. ``whole_trace_px_independent``: the same over the
  images where the two raters' borders differ somewhere (on some abdi_dev images the two
  masks are byte-identical copies: an inter-rater figure of 0 px there measures nothing and
  pulls the noise floor down). Extent: how far the trace runs past the raters'
  border at either end (px; > 0 means it left the mandible). Also per development split:
  ``whole_trace_px_odd`` (odd positions of the sorted ids: the images the method was chosen
  on) and ``whole_trace_px_even`` (held out from those choices).
- box coverage (issue 15): the fraction of images whose box holds the rater-1 border in
  >= 90 % of its columns (target >= 95 %).
- time: propose_roi wall time per image with OpenCV on one thread.

Development figures: these 29 images (one device, Soredex CranexD) were used to develop the
method.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dentalosteo_gui.core.anatomy import (  # noqa: E402
    draw_overlay,
    measure_cortex,
    propose_landmarks,
    propose_roi,
)
from dentalosteo_gui.core.anatomy.roi import border_arrays  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import load_radiograph  # noqa: E402
from dentalosteo_gui.core.screening.spacing import resolve_spacing  # noqa: E402
from dentalosteo_gui.core.system.settings import DEFAULT_PIXEL_SPACING_MM  # noqa: E402

PM_LO, PM_HI = 0.10, 0.30


def load_truth(data: Path) -> tuple[dict[int, dict[str, str]], dict[int, np.ndarray]]:
    index = {int(r["id"]): r for r in csv.DictReader(open(data / "image_index.csv"))}
    cols: dict[int, list[tuple[int, int, int]]] = collections.defaultdict(list)
    for r in csv.DictReader(open(data / "inferior_border_by_column.csv")):
        cols[int(r["image_id"])].append(
            (int(r["x"]), int(r["y_lowest_mask_px_rater1"]), int(r["y_lowest_mask_px_rater2"]))
        )
    return index, {k: np.asarray(v) for k, v in cols.items()}


def whole_trace(prop, x: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> dict:
    """Trace vs raters over the whole traced polyline (see the module doc)."""
    bx, by = border_arrays(prop)
    if bx.size < 2:
        return {"n_cols": 0}
    on = (x >= bx.min()) & (x <= bx.max())
    both = on & (y1 >= 0) & (y2 >= 0)
    ty = np.interp(x[both], bx, by)
    has = (y1 >= 0) | (y2 >= 0)
    xs_r = x[has]
    return {
        "n_cols": int(both.sum()),
        "vs_rater1": float(np.mean(np.abs(ty - y1[both]))) if both.any() else float("nan"),
        "vs_rater2": float(np.mean(np.abs(ty - y2[both]))) if both.any() else float("nan"),
        "vs_mean": float(np.mean(np.abs(ty - 0.5 * (y1[both] + y2[both])))) if both.any() else float("nan"),
        "interrater": float(np.mean(np.abs(y1[both] - y2[both]))) if both.any() else float("nan"),
        # the two masks give the same border in every column: a copy, not a second reading
        "independent": bool(not np.array_equal(y1, y2)),
        "overrun_px": float(max(xs_r.min() - bx.min(), bx.max() - xs_r.max(), 0.0)) if xs_r.size else 0.0,
    }


def _dist(vals: list[float]) -> dict:
    a = np.asarray([v for v in vals if np.isfinite(v)])
    if a.size == 0:
        return {}
    return {"median": round(float(np.median(a)), 2), "p90": round(float(np.percentile(a, 90)), 2),
            "max": round(float(a.max()), 2)}


def whole_trace_summary(scored: list[dict]) -> dict:
    out = {k: _dist([r["whole"][k] for r in scored if k in r["whole"]])
           for k in ("vs_rater1", "vs_rater2", "vs_mean", "interrater", "overrun_px")}
    inter = out["interrater"]
    for k in ("vs_rater1", "vs_rater2", "vs_mean"):
        if out[k] and inter:
            out[k]["ratio_to_interrater_median"] = round(out[k]["median"] / max(inter["median"], 1e-6), 2)
            out[k]["ratio_to_interrater_p90"] = round(out[k]["p90"] / max(inter["p90"], 1e-6), 2)
    out["target"] = "median and p90 of the trace error <= 2 x inter-rater"
    return out


def _image_row(data: Path, iid: int, index_row: dict[str, str], t: np.ndarray, overlays: Path | None,
               with_cortex: bool) -> dict:
    """The figures of one image (see the module doc)."""
    rad = load_radiograph(data / "images" / f"{iid}.png")
    t0, c0 = time.perf_counter(), time.process_time()
    prop = propose_roi(rad)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    x, y1, y2 = t[:, 0], t[:, 1], t[:, 2]
    has = y1 >= 0
    b = prop.box
    inbox = has & (x >= b.x) & (x < b.x + b.w)
    cov = float(np.mean((y1[inbox] >= b.y) & (y1[inbox] <= b.y + b.h))) if inbox.any() else 0.0
    xm = x[has]
    centre = 0.5 * (xm.min() + xm.max())
    w = rad.width
    bx, by = border_arrays(prop)
    dist = np.abs(x - centre) / w
    pm = has & (dist >= PM_LO) & (dist <= PM_HI)
    ty = np.interp(x[pm], bx, by)
    err = float(np.mean(np.abs(ty - y1[pm]))) if pm.any() else float("nan")
    bias = float(np.mean(ty - y1[pm])) if pm.any() else float("nan")
    pm2 = pm & (y2 >= 0)
    ty2 = np.interp(x[pm2], bx, by)
    err2 = float(np.mean(np.abs(ty2 - y2[pm2]))) if pm2.any() else float("nan")
    err_near = (
        float(np.mean(np.minimum(np.abs(ty2 - y1[pm2]), np.abs(ty2 - y2[pm2])))) if pm2.any() else float("nan")
    )
    row = {
        "id": iid,
        "flag": index_row["qc_flag"],
        "coverage": round(cov, 3),
        "width_frac": round(b.w / w, 3),
        "centre_offset_frac": round(abs(b.x + b.w / 2 - centre) / w, 4),
        "border_mean_abs_px": round(err, 2),
        "border_bias_px": round(bias, 2),
        "border_mean_abs_px_rater2": round(err2, 2),
        "border_mean_abs_px_nearest_rater": round(err_near, 2),
        "interrater_mean_px": float(index_row["border_interrater_mean_px"]),
        "confidence": round(prop.confidence, 2),
        "reasons": prop.reasons,
        "whole": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in whole_trace(prop, x, y1, y2).items()},
        "time_s": round(dt, 3),
        "cpu_s": round(dc, 3),
    }
    if with_cortex or overlays:
        lm = propose_landmarks(rad, prop)
        cx = measure_cortex(rad, prop, resolve_spacing(rad, None, DEFAULT_PIXEL_SPACING_MM))
        row["mcw_mm"] = [cx.right.mcw_mm, cx.left.mcw_mm]
        row["klemetti_rule"] = cx.klemetti_rule
        if overlays:
            overlays.mkdir(parents=True, exist_ok=True)
            img = draw_overlay(rad, prop, lm, cx)
            # rater-1 border as small white dots (every 20 px) for checking by eye
            for xx, yy in zip(x[has][::4], y1[has][::4], strict=False):
                cv2.circle(img, (int(xx), int(yy)), 2, (255, 255, 255), -1)
            cv2.imwrite(str(overlays / f"{iid}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return row


def evaluate(data: Path, overlays: Path | None, per_image: bool, with_cortex: bool) -> dict:
    cv2.setNumThreads(1)
    index, truth = load_truth(data)
    rows = [_image_row(data, iid, index[iid], truth[iid], overlays, with_cortex) for iid in sorted(index)]
    for pos, r in enumerate(rows):
        r["pos"] = pos
    out = summarise(rows)
    if per_image:
        out["per_image"] = rows
    return out


def summarise(rows: list[dict]) -> dict:
    """Figures over the scored images (CHECK images left out) and timing over all."""
    scored = [r for r in rows if r["flag"] != "CHECK"]
    errs = np.array([r["border_mean_abs_px"] for r in scored])
    covs = np.array([r["coverage"] for r in scored])
    widths = np.array([r["width_frac"] for r in scored])
    times = np.array([r["time_s"] for r in rows])
    cpus = np.array([r["cpu_s"] for r in rows])
    e2 = np.array([r["border_mean_abs_px_rater2"] for r in scored])
    en = np.array([r["border_mean_abs_px_nearest_rater"] for r in scored])
    out = {
        "n_images": len(rows),
        "n_scored": len(scored),
        "left_out_check": [r["id"] for r in rows if r["flag"] == "CHECK"],
        "coverage": {
            "frac_images_cov_ge_0.90": round(float(np.mean(covs >= 0.90)), 3),
            "median_coverage": round(float(np.median(covs)), 3),
            "min_coverage": round(float(covs.min()), 3),
            "target": "frac_images_cov_ge_0.90 >= 0.90",
        },
        "box_covers_border_frac_images": {
            "value": round(float(np.mean(covs >= 0.90)), 3),
            "target": ">= 0.95 of images with the rater-1 border inside the box in >= 90 % of its columns",
        },
        "whole_trace_px": whole_trace_summary(scored),
        # development split (issue 15): the method was chosen looking at the odd positions of
        # the sorted ids only; the even ones were held out from those choices
        "whole_trace_px_odd": whole_trace_summary([r for r in scored if r["pos"] % 2 == 1]),
        "whole_trace_px_even": whole_trace_summary([r for r in scored if r["pos"] % 2 == 0]),
        # the noise floor measured only where two dentists really read the image: on some
        # images the two masks are byte-identical copies, whose "disagreement" of 0 px is no
        # measurement of it (trace and raters compared on the same images)
        "whole_trace_px_independent": {
            "n_images": sum(1 for r in scored if r["whole"].get("independent")),
            "identical_masks": [r["id"] for r in scored if r["whole"].get("independent") is False],
            **whole_trace_summary([r for r in scored if r["whole"].get("independent")]),
        },
        "box_width_frac": {"min": float(widths.min()), "max": float(widths.max()), "target": "0.45-0.70"},
        "centre_offset_frac": {
            "median": round(float(np.median([r["centre_offset_frac"] for r in scored])), 4),
            "max": round(float(np.max([r["centre_offset_frac"] for r in scored])), 4),
        },
        "border_premolar_molar_vs_rater1_px": {
            "median_of_mean_abs": round(float(np.median(errs)), 2),
            "p90_of_mean_abs": round(float(np.percentile(errs, 90)), 2),
            "max": round(float(errs.max()), 2),
            "median_bias": round(float(np.median([r["border_bias_px"] for r in scored])), 2),
            "target": "median <= 6, p90 <= 15",
        },
        "border_premolar_molar_vs_rater2_px": {
            "median_of_mean_abs": round(float(np.median(e2)), 2),
            "p90_of_mean_abs": round(float(np.percentile(e2, 90)), 2),
        },
        "border_premolar_molar_vs_nearest_rater_px": {
            "median_of_mean_abs": round(float(np.median(en)), 2),
            "p90_of_mean_abs": round(float(np.percentile(en, 90)), 2),
        },
        "time_s_per_image": {
            "median": round(float(np.median(times)), 3),
            "max": round(float(times.max()), 3),
            "cpu_median": round(float(np.median(cpus)), 3),
            "cpu_max": round(float(cpus.max()), 3),
            "target": "<= 1.0 on one core (OpenCV single-threaded; cpu_* is process CPU time)",
        },
        "confidence": {
            "median": round(float(np.median([r["confidence"] for r in scored])), 2),
            "min": round(float(np.min([r["confidence"] for r in scored])), 2),
        },
    }
    return out


def phantom_border(seeds: range, style: str) -> dict:
    """Whole traced polyline vs the phantom's true periosteal border (the same metric as on
    abdi_dev: per phantom the mean |dy| over the traced columns that the truth covers), and
    how far the trace runs past the true border's ends."""
    from dentalosteo_gui.core.data.phantoms import generate_phantom
    from dentalosteo_gui.core.imaging.imageio import from_array

    errs, over, times = [], [], []
    for seed in seeds:
        case = generate_phantom(seed, style=style)
        rad = from_array(case.image, spacing=case.truth.pixel_spacing_mm)
        t0 = time.perf_counter()
        prop = propose_roi(rad)
        times.append(time.perf_counter() - t0)
        tb = np.asarray(sorted(list(case.truth.border_right) + list(case.truth.border_left)), dtype=float)
        bx, by = border_arrays(prop)
        if bx.size < 2:
            continue
        on = (tb[:, 0] >= bx.min()) & (tb[:, 0] <= bx.max())
        errs.append(float(np.mean(np.abs(np.interp(tb[on, 0], bx, by) - tb[on, 1]))))
        over.append(float(max(tb[0, 0] - bx.min(), bx.max() - tb[-1, 0], 0.0)))
    return {"style": style, "n": len(errs), "whole_trace_mean_abs_px": _dist(errs),
            "overrun_px": _dist(over), "time_s_median": round(float(np.median(times)), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "realdata" / "abdi_dev")
    ap.add_argument("--overlays", type=Path, default=None)
    ap.add_argument("--per-image", action="store_true")
    ap.add_argument("--cortex", action="store_true", help="also run landmarks + cortex")
    ap.add_argument("--phantoms", type=int, default=0, metavar="N",
                    help="instead: the whole-trace error on N phantoms of each style (seeds 0..N-1)")
    a = ap.parse_args()
    if a.phantoms:
        cv2.setNumThreads(1)
        print(json.dumps([phantom_border(range(a.phantoms), st) for st in ("v1", "v2")], indent=2))
        return 0
    if not (a.data / "image_index.csv").exists():
        print(json.dumps({"error": f"{a.data} not found"}))
        return 2
    print(json.dumps(evaluate(a.data, a.overlays, a.per_image, a.cortex), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
