"""Landmark error on phantoms: the eight trabecular landmarks against the generator's truth.

Usage: python bench/landmarks.py [--n 40] [--seed0 0] [--styles v1,v2]

Prints one JSON object: per style, per landmark (``LANDMARK_NAMES``) the median and 90th
percentile of the Euclidean error in mm (the phantom's pixel spacing), pooled figures, and
how many phantoms gave no landmarks. Phantoms are our own synthetic images: these figures
show that the placement does what it is designed to do, not that it is right on patients.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dentalosteo_gui.core.anatomy import propose_landmarks, propose_roi  # noqa: E402
from dentalosteo_gui.core.data.phantoms import generate_phantom  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import from_array  # noqa: E402
from dentalosteo_gui.core.types import LANDMARK_NAMES  # noqa: E402


def _dist(vals: list[float]) -> dict[str, float]:
    a = np.asarray(vals, dtype=float)
    return {"median_mm": round(float(np.median(a)), 2), "p90_mm": round(float(np.percentile(a, 90)), 2)}


def landmark_errors(seeds: range, style: str) -> dict:
    """Per-landmark error (mm) of ``propose_landmarks`` on phantoms of one style."""
    errs: dict[str, list[float]] = {n: [] for n in LANDMARK_NAMES}
    times = []
    for seed in seeds:
        case = generate_phantom(seed, style=style)
        sp = float(case.truth.pixel_spacing_mm)
        rad = from_array(case.image, spacing=sp)
        t0 = time.perf_counter()
        lm = propose_landmarks(rad, propose_roi(rad))
        times.append(time.perf_counter() - t0)
        for name in LANDMARK_NAMES:
            tx, ty = case.truth.landmarks[name]
            x, y = lm[name]
            errs[name].append(float(np.hypot(x - tx, y - ty)) * sp)
    pooled = [e for v in errs.values() for e in v]
    return {
        "style": style,
        "n_phantoms": len(seeds),
        "per_landmark": {n: _dist(v) for n, v in errs.items()},
        "pooled": _dist(pooled),
        "time_s_median": round(float(np.median(times)), 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="phantoms per style")
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--styles", default="v1,v2")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    seeds = range(a.seed0, a.seed0 + a.n)
    out = {st: landmark_errors(seeds, st) for st in a.styles.split(",")}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
