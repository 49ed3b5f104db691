"""Is a child's radiograph recognised from the pixels (mixed dentition), and no adult?

Usage: python bench/child_check.py [--abdi DIR] [--child ID ...] [--dicom DIR] [--phantoms N]
       [--seed S] [--variants flip,resample,gamma,jpeg,pad]

Runs ``maturity.mixed_dentition`` (on the traced border of ``propose_roi``) on:

- the abdi_dev panoramics (``--abdi``, default ../shared/realdata/abdi_dev/images): ``--child``
  names the children (default 113, the one image in mixed dentition), all others are adults;
- ``--phantoms N`` phantoms of each style (v1, v2) with seed ``--seed`` (adults, no germs);
- every DICOM under ``--dicom`` (mostly not panoramics; those the loader refuses are listed
  as ``load_error``, they must not crash the check);
- optionally the re-encodings of ``bench/invariance.py`` (``--variants``) of the abdi images.

Prints ONE JSON object: per image score (min of the sides' enclosure at mirror positions),
per-side best, flagged; and a summary (child flagged, adults flagged, max adult score, the
adults' best single side, phantoms flagged, DICOMs flagged, variants flipping a reading).
Development figures: the thresholds were chosen with the one child in view (no held-out child).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dentalosteo_gui.core.anatomy.maturity import FLAG_AT, mixed_dentition  # noqa: E402
from dentalosteo_gui.core.anatomy.roi import border_arrays, propose_roi  # noqa: E402
from dentalosteo_gui.core.data.phantoms import generate_phantom, phantom_seed  # noqa: E402
from dentalosteo_gui.core.errors import DentalOsteoError  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph  # noqa: E402
from dentalosteo_gui.core.types import Radiograph  # noqa: E402

ABDI = ROOT.parent / "shared" / "realdata" / "abdi_dev" / "images"
DICOM = ROOT.parent / "shared" / "realdata" / "dicom"
CHILDREN = ("113",)


def check(rad: Radiograph) -> dict[str, Any]:
    """Score, per-side best and flag of one radiograph (score None: no border to work on)."""
    p = propose_roi(rad)
    bx, by = border_arrays(p)
    mid = float(p.midline_x) if p.midline_x is not None else p.box.x + p.box.w / 2
    m = mixed_dentition(rad.pixels, bx, by, mid)
    if m is None:
        return {"score": None, "right": None, "left": None, "flagged": False}
    out: dict[str, Any] = {"score": round(m.score, 3), "right": round(m.right, 3), "left": round(m.left, 3),
                           "flagged": m.flagged}
    if m.germs:
        out["germs"] = [{"side": g.side, "x": round(g.x), "y": round(g.y), "offset": round(g.offset, 3),
                         "depth": round(g.depth, 2), "width": round(g.width, 3), "height": round(g.height, 3),
                         "enclosure": round(g.enclosure, 3)} for g in m.germs]
    return out


def _invariance() -> Any:
    """bench/invariance.py (the re-encodings), imported from this folder."""
    sys.path.insert(0, str(ROOT / "bench"))
    import invariance

    return invariance


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--abdi", type=Path, default=ABDI)
    ap.add_argument("--child", nargs="*", default=list(CHILDREN))
    ap.add_argument("--dicom", type=Path, default=DICOM)
    ap.add_argument("--phantoms", type=int, default=30)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--variants", default="", help="comma-separated re-encodings of bench/invariance.py")
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    iv = _invariance() if variants else None

    abdi: dict[str, Any] = {}
    files = sorted(args.abdi.glob("*.png"), key=lambda q: (len(q.stem), q.stem)) if args.abdi.is_dir() else []
    with tempfile.TemporaryDirectory() as td:
        for f in files:
            rad = load_radiograph(f)
            row = check(rad)
            row["child"] = f.stem in args.child
            if iv is not None:
                row["variants"] = {name: check(v.rad) for name, v in
                                   iv.make_variants(rad, 0.1, Path(td), variants).items()}
            abdi[f.stem] = row
    phantoms: dict[str, Any] = {}
    for style in ("v1", "v2"):
        for i in range(args.phantoms):
            case = generate_phantom(phantom_seed(args.seed, i), style=style)
            phantoms[f"{style}_{i:03d}"] = check(from_array(case.image))
    dicoms: dict[str, Any] = {}
    for f in sorted(args.dicom.rglob("*.dcm")) if args.dicom.is_dir() else []:
        key = str(f.relative_to(args.dicom))
        try:
            rad = load_radiograph(f)
        except DentalOsteoError as exc:
            dicoms[key] = {"load_error": type(exc).__name__}
            continue
        dicoms[key] = check(rad)

    adults = {k: v for k, v in abdi.items() if not v["child"]}
    children = {k: v for k, v in abdi.items() if v["child"]}
    adult_scores = sorted(((v["score"] or 0.0, k) for k, v in adults.items()), reverse=True)
    flips = [f"{k}:{n}" for k, v in abdi.items() for n, r in v.get("variants", {}).items()
             if r["flagged"] != v["flagged"]]
    summary = {
        "flag_at": FLAG_AT,
        "children": {k: v["score"] for k, v in children.items()},
        "children_flagged": sum(v["flagged"] for v in children.values()),
        "adults": len(adults),
        "adults_flagged": sum(v["flagged"] for v in adults.values()),
        "max_adult_score": adult_scores[0][0] if adult_scores else None,
        "top_adults": adult_scores[:5],
        "max_adult_single_side": max((max(v["right"] or 0.0, v["left"] or 0.0) for v in adults.values()),
                                     default=None),
        "phantoms": len(phantoms),
        "phantoms_flagged": sum(v["flagged"] for v in phantoms.values()),
        "max_phantom_score": max((v["score"] or 0.0 for v in phantoms.values()), default=None),
        "dicoms_loaded": sum("load_error" not in v for v in dicoms.values()),
        "dicoms_load_error": sum("load_error" in v for v in dicoms.values()),
        "dicoms_flagged": sum(bool(v.get("flagged")) for v in dicoms.values()),
        "variant_flips": flips,
    }
    print(json.dumps({"abdi": abdi, "phantoms": phantoms, "dicoms": dicoms, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
