"""Does the risk hinge on a guessed pixel spacing? (issue 21)

For every image in the given folders, screen it with the stated spacing at s/1.5, s and
s*1.5 (a user override, as the GUI's spacing box gives) and report |delta risk| against the
middle value. ``--policy stated`` reproduces the old behaviour (the model's input scaled by
the stated spacing) for comparison in the same run; ``anatomy`` is the product's policy.
On phantoms of known spacing (a folder with labels.csv) it also reports how far the
anatomical scale is from the true spacing and the risk difference between the two.

    python bench/spacing_robustness.py ../shared/realdata/abdi_dev/images --phantoms DIR

Prints one JSON object. Figures on abdi_dev and on phantoms are development figures: the
anatomical reference span was set on phantoms (seeds 300-329).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dentalosteo_gui.core.data.dataset import read_dataset  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import SUPPORTED_EXTENSIONS, load_radiograph  # noqa: E402
from dentalosteo_gui.core.screening import stages  # noqa: E402
from dentalosteo_gui.services import make_engine  # noqa: E402

FACTORS = (1 / 1.5, 1.5)


def _stated_policy(case: stages.Case) -> None:  # the behaviour before issue 21
    case.model_scale = case.spacing


def _summary(v: list[float]) -> dict[str, float | int | None]:
    a = np.asarray([x for x in v if x is not None and np.isfinite(x)], float)
    if not a.size:
        return {"n": 0, "median": None, "p90": None, "max": None}
    return {"n": int(a.size), "median": round(float(np.median(a)), 4),
            "p90": round(float(np.percentile(a, 90)), 4), "max": round(float(a.max()), 4)}


def spacing_sweep(engine, files: list[Path], base: float) -> dict:  # type: ignore[no-untyped-def]
    diffs: list[float] = []
    for f in files:
        rad = load_radiograph(f)
        mid = engine.screen(rad, pixel_spacing_mm=base).risk
        if mid is None:
            continue
        for k in FACTORS:
            r = engine.screen(rad, pixel_spacing_mm=base * k).risk
            if r is not None:
                diffs.append(abs(r - mid))
    return _summary(diffs)


def phantom_check(engine, folder: Path) -> dict:  # type: ignore[no-untyped-def]
    scale_err, risk_diff = [], []
    for row in read_dataset(folder):
        if not row.pixel_spacing_mm:
            continue
        rad = load_radiograph(row.file)
        true = engine.screen(rad)  # dataset spacing: the model uses it
        rad.pixel_spacing_mm, rad.path = None, ""  # forget it: assumed -> anatomy scale
        est = engine.screen(rad, pixel_spacing_mm=None)
        if est.model_scale is not None and est.model_scale.source == "anatomy":
            scale_err.append(abs(est.model_scale.mm_per_px / float(row.pixel_spacing_mm) - 1.0))
        if true.risk is not None and est.risk is not None:
            risk_diff.append(abs(true.risk - est.risk))
    return {"anatomy_scale_rel_error": _summary(scale_err), "risk_abs_diff_true_vs_anatomy": _summary(risk_diff)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path)
    ap.add_argument("--phantoms", type=Path, help="a phantom folder with labels.csv (known spacing)")
    ap.add_argument("--base", type=float, default=0.1, help="the stated spacing in the middle (mm/px)")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    files = sorted(p for d in args.folders for p in d.iterdir() if p.suffix.lower() in SUPPORTED_EXTENSIONS)
    if args.limit:
        files = files[: args.limit]
    engine = make_engine()
    out: dict = {"n_images": len(files), "factors": [round(k, 4) for k in FACTORS]}
    if files:
        out["risk_abs_diff_anatomy_policy"] = spacing_sweep(engine, files, args.base)
        keep = stages.choose_model_scale
        stages.choose_model_scale = _stated_policy  # type: ignore[assignment]
        try:
            out["risk_abs_diff_stated_policy"] = spacing_sweep(engine, files, args.base)
        finally:
            stages.choose_model_scale = keep  # type: ignore[assignment]
    if args.phantoms:
        out["phantoms"] = phantom_check(engine, args.phantoms)
    out["note"] = "development figures (abdi_dev, our phantoms); not clinical performance"
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
