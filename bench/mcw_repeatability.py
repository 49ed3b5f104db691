"""Test-retest repeatability of the measured MCW (issue 19: when is a change between two
screenings of one patient more than the measurement's own noise?).

Usage: python bench/mcw_repeatability.py [--seeds 0:60] [--style v2] [--nudge 0.05]
       [--noise 0.01]

Every phantom is read once as the app does (``propose_roi`` + ``measure_cortex`` at the
phantom's pixel spacing), then re-read four times as a re-screening would: the ROI box
moved by +-``nudge`` of its width and height (the four diagonal moves), the border re-traced
inside the moved box (``border_from_box``, the harder case: the app keeps the whole-image
border when it covers the box) and fresh Gaussian pixel noise of SD ``noise`` added (a new
exposure's quantum noise). Per patient side: the within-subject SD over the five readings
(pooled over phantoms: root mean of per-phantom variances) and the repeatability
coefficient RC = 2.77 x Sw (Bland & Altman 1999: two readings of the same cortex differ by
less than RC in 95 % of pairs). Prints one JSON object.

Limits: phantoms are our own synthetic images; a real re-take also changes the patient's
position in the focal trough (magnification, tilt), which this does not simulate, so the
real RC is at least this large.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dentalosteo_gui.core.anatomy import border_from_box, measure_cortex, propose_roi  # noqa: E402
from dentalosteo_gui.core.data.phantoms import generate_phantom  # noqa: E402
from dentalosteo_gui.core.errors import DentalOsteoError  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import from_array  # noqa: E402
from dentalosteo_gui.core.types import RoiBox, Spacing  # noqa: E402

NUDGES = ((1, 1), (1, -1), (-1, 1), (-1, -1))
RC_FACTOR = 2.77  # 1.96 * sqrt(2)


def _readings(seed: int, style: str, nudge: float, noise: float) -> list[tuple[float | None, float | None]]:
    case = generate_phantom(seed, style=style)
    px = case.image.astype(np.float32) / float(np.iinfo(case.image.dtype).max)
    sp = Spacing(case.truth.pixel_spacing_mm, "dataset")
    rad = from_array(px, spacing=sp.mm_per_px)
    base = propose_roi(rad)
    c = measure_cortex(rad, base, sp)
    out = [(c.right.mcw_mm, c.left.mcw_mm)]
    rng = np.random.default_rng(seed + 7)
    for sx, sy in NUDGES:
        b = base.box
        box = RoiBox(int(round(b.x + sx * nudge * b.w)), int(round(b.y + sy * nudge * b.h)), b.w, b.h)
        noisy = np.clip(px + rng.normal(0.0, noise, px.shape).astype(np.float32), 0.0, 1.0)
        rad2 = from_array(noisy, spacing=sp.mm_per_px)
        try:
            c2 = measure_cortex(rad2, border_from_box(rad2, box, base.midline_x), sp)
            out.append((c2.right.mcw_mm, c2.left.mcw_mm))
        except DentalOsteoError:
            out.append((None, None))
    return out


def summarise(per_phantom: list[list[tuple[float | None, float | None]]]) -> dict[str, object]:
    res: dict[str, object] = {}
    pooled: list[float] = []
    for i, side in enumerate(("right", "left")):
        variances, missing = [], 0
        for readings in per_phantom:
            vals = [r[i] for r in readings if r[i] is not None]
            missing += len(readings) - len(vals)
            if len(vals) >= 2:
                variances.append(float(np.var(vals, ddof=1)))
        sw = float(np.sqrt(np.mean(variances))) if variances else float("nan")
        pooled += variances
        res[side] = {"n_phantoms": len(variances), "sw_mm": round(sw, 4),
                     "rc_mm": round(RC_FACTOR * sw, 4), "missing_readings": missing}
    sw_all = float(np.sqrt(np.mean(pooled))) if pooled else float("nan")
    res["pooled"] = {"sw_mm": round(sw_all, 4), "rc_mm": round(RC_FACTOR * sw_all, 4)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0:60")
    ap.add_argument("--style", default="v2")
    ap.add_argument("--nudge", type=float, default=0.05)
    ap.add_argument("--noise", type=float, default=0.01)
    a = ap.parse_args()
    lo, hi = (int(v) for v in a.seeds.split(":"))
    per = [_readings(s, a.style, a.nudge, a.noise) for s in range(lo, hi)]
    out = {"seeds": a.seeds, "style": a.style, "nudge": a.nudge, "noise": a.noise,
           **summarise(per)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
