"""``dentalosteo deidentify IN OUT [--allowlist]``: DICOM PS3.15 basic-profile de-identification
(the whole Table E.1-1, edition in ``core.records.deid_table``), or allow-list mode."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import ConfigError
from ..core.records.deidentify import deidentify_dicom
from ..core.types import RoiBox
from .common import echo, record_export_or_fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deidentify", help="write a de-identified copy of a DICOM file "
                       "(PS3.15 basic profile)")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--blackout", metavar="x,y,w,h", action="append", default=[],
                   help="black out this pixel rectangle (burned-in text); repeatable")
    p.add_argument("--shift-days", type=int, default=None, metavar="N",
                   help="shift dates by N days instead of removing them")
    p.add_argument("--allowlist", action="store_true",
                   help="keep only what screening needs (pixels, spacing, device, grey-level "
                        "attributes, new UIDs, the case pseudonym); drop everything else")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    boxes = [RoiBox.parse(b) for b in args.blackout]
    src, dst = Path(args.input), Path(args.output)
    if dst.is_dir():
        dst = dst / src.name
    if not src.is_file():
        raise ConfigError(f"{src}: file not found")
    warnings = deidentify_dicom(src, dst, blackout=boxes or None, date_shift_days=args.shift_days,
                                mode="allowlist" if args.allowlist else "basic")
    for w in warnings:
        echo(f"warning: {w}", err=True)
    echo(dst)
    record_export_or_fail(None, "dicom_deidentified", dst)  # exit 3 when it cannot be recorded
    return 0
