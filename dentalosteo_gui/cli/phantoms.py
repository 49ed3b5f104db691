"""``dentalosteo phantoms --out DIR --n N --seed S``: write a labelled phantom dataset.

Also ``--style v1|v2`` (default v2), ``--montage OUT.png`` (phantoms beside real images with
``--real DIR``) and ``--samples DIR`` (regenerate the shipped demo samples, always v1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core.data import phantoms
from ..core.data.phantoms import write_samples
from ..core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "phantoms",
        help="generate synthetic panoramic radiographs with ground truth (dataset format)",
        description="Write N synthetic panoramic radiographs to DIR/images/ and their ground "
        "truth (label, T-score, Klemetti class, MCW per side, pixel spacing, ROI, landmarks) "
        "to DIR/labels.csv. Deterministic for a given seed.",
    )
    p.add_argument("--out", type=Path, help="output dataset folder (created)")
    p.add_argument("--n", type=int, default=100, help="number of phantoms (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size-scale", type=float, default=1.0,
                   help="scale the image size (e.g. 0.5 for quick experiments; default 1)")
    p.add_argument("--style", choices=phantoms.STYLES, default=phantoms.DEFAULT_STYLE,
                   help="look of the phantoms: v2 (default) is built to resemble real panoramics "
                   "(see bench/realism.py); v1 is the original look with a crisp bright cortex")
    p.add_argument("--montage", type=Path, metavar="OUT.png",
                   help="also write a montage PNG of the first phantoms")
    p.add_argument("--real", type=Path, metavar="DIR",
                   help="folder of real radiographs to show beside the phantoms in the montage")
    p.add_argument("--montage-n", type=int, default=6, help="rows in the montage (default 6)")
    p.add_argument("--samples", type=Path, metavar="DIR",
                   help="regenerate the shipped demo samples (phantom_c1/c2/c3.png, "
                   "phantom_c2.dcm, labels.csv) into DIR instead of writing a dataset")
    p.set_defaults(func=run)


def _progress(done: int, total: int, t0: float) -> None:
    el = time.perf_counter() - t0
    rate = el / max(done, 1)
    eta = rate * (total - done)
    end = "\n" if done == total else ""
    sys.stderr.write(f"\rphantoms {done}/{total}  {rate:.2f} s/image  eta {eta:.0f} s   {end}")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    if args.samples is not None:
        for path in write_samples(args.samples):
            sys.stdout.write(f"{path}\n")
        return 0
    if args.out is None:
        raise ConfigError("phantoms needs --out DIR (or --samples DIR)")
    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, not {args.n}")
    if args.real is not None and args.montage is None:
        raise ConfigError("--real only makes sense with --montage OUT.png")
    if args.real is not None and not args.real.is_dir():
        raise ConfigError(f"--real {args.real}: not a folder (give a folder of real radiographs)")
    t0 = time.perf_counter()
    overrides = {} if args.size_scale == 1.0 else {"size_scale": args.size_scale}
    labels = phantoms.write_dataset(
        args.out, args.n, args.seed, progress=lambda d, t: _progress(d, t, t0), style=args.style,
        **overrides
    )
    sys.stdout.write(f"wrote {args.n} phantoms: {labels}\n")
    if args.montage is not None:
        out = phantoms.make_montage(args.out, args.montage, real_dir=args.real, n=args.montage_n)
        sys.stdout.write(f"montage: {out}\n")
    return 0
