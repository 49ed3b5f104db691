"""``dentalosteo info FILE``: what the loader sees in a radiograph file."""

from __future__ import annotations

import argparse

from ..core.imaging.imageio import load_radiograph
from .common import echo, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show size, bit depth, photometric and pixel spacing of a file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--phi", action="store_true", help="also print patient/study data (PHI)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rad = load_radiograph(args.file)
    d = rad.info_dict(phi=args.phi)
    if args.json:
        print_json(d)
        return 0
    for key in ("path", "format", "width", "height", "bits_stored", "photometric", "modality",
                "pixel_spacing_mm", "pixel_spacing_source"):
        val = d[key]
        echo(f"{key:22s} {'null' if val is None else val}")
    for w in d["warnings"]:
        echo(f"{'warning':22s} {w}")
    if args.phi:
        for k, v in d["patient"].items():
            echo(f"{'patient.' + k:22s} {v}")
    return 0
