"""``dentalosteo calibrate``: save, list, export and import calibration profiles.

    dentalosteo calibrate FILE --known-mm L --points X1,Y1,X2,Y2 [--profile NAME]
    dentalosteo calibrate FILE --spacing MM [--magnification F] [--profile NAME]
    dentalosteo calibrate --list | --export F | --import F
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from ..core.errors import ConfigError
from ..core.imaging.imageio import load_radiograph
from ..core.system.profiles import Profile, ProfileStore, from_pixel_size, from_ruler
from ..core.types import Radiograph
from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate the pixel size for an imaging source (saved as a profile)")
    p.add_argument("file", nargs="?", help="an image from the source to calibrate")
    p.add_argument("--known-mm", type=float, help="the real length (mm) of the line given by --points")
    p.add_argument("--points", help="X1,Y1,X2,Y2: the line over the object of known length (image px)")
    p.add_argument("--spacing", type=float, help="the device's pixel size at the detector (mm)")
    p.add_argument("--magnification", type=float,
                   help="the radiographic magnification to divide out (e.g. 1.25): from --spacing; with "
                        "--known-mm only for an object at the detector (one at the jaw needs none)")
    p.add_argument("--profile", help="profile name (default: from the source)")
    p.add_argument("--any-folder", action="store_true", help="plain images: match this size from any folder")
    p.add_argument("--list", action="store_true", help="print the saved profiles")
    p.add_argument("--export", metavar="F", help="write all profiles to F (to set up other PCs)")
    p.add_argument("--import", dest="import_", metavar="F", help="add the profiles in F")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = ProfileStore()
    if args.list:
        return _list(store, args.json)
    if args.export:
        n = store.export(Path(args.export))
        sys.stdout.write(f"exported {n} profile(s) to {args.export}\n")
        return 0
    if args.import_:
        n = store.import_(Path(args.import_))
        sys.stdout.write(f"imported {n} profile(s) from {args.import_}\n")
        return 0
    if not args.file:
        raise ConfigError("give an image FILE to calibrate, or --list / --export F / --import F")
    rad = load_radiograph(args.file)
    name = args.profile or _default_name(rad)
    if args.known_mm is not None:
        if not args.points:
            raise ConfigError("--known-mm needs --points X1,Y1,X2,Y2 (the ends of the known length)")
        prof = _from_known_length(name, rad, args)
    elif args.spacing is not None:
        prof = from_pixel_size(name, rad, args.spacing, args.magnification, for_folder=not args.any_folder)
    else:
        raise ConfigError("give --known-mm with --points, or --spacing [--magnification]")
    store.add(prof)
    if args.json:
        print_json(prof.as_dict())
    else:
        sys.stdout.write(prof.describe() + "\n")
    return 0


def _from_known_length(name: str, rad: Radiograph, args: argparse.Namespace) -> Profile:
    """As the GUI's ruler: an object at the jaw is at the anatomical scale already; with
    --magnification the object is taken to lie at the detector and the factor divided out."""
    p1, p2 = _parse_points(args.points)
    folder = not args.any_folder
    prof = from_ruler(name, rad, args.known_mm, p1, p2, for_folder=folder)  # checks the line
    if args.magnification is None:
        return prof
    detector_mm = args.known_mm / math.dist(p1, p2)
    at_detector = from_pixel_size(name, rad, detector_mm, args.magnification, for_folder=folder)
    note = (f"--magnification {args.magnification:g} with --known-mm: the object is taken to lie at the "
            f"detector, so its {detector_mm:.4f} mm/px is divided by {args.magnification:g} "
            f"({at_detector.mm_per_px:.4f} mm/px at the jaw). A ruler, ball or implant AT THE JAW is at "
            "the anatomical scale already: leave --magnification out for it.\n")
    (sys.stderr if args.json else sys.stdout).write(note)
    return dataclasses.replace(at_detector, method=f"{prof.method}, at the detector")


def _list(store: ProfileStore, as_json: bool) -> int:
    profiles = store.load()
    if as_json:
        print_json([p.as_dict() for p in profiles])
    elif not profiles:
        sys.stdout.write("no calibration profiles yet (dentalosteo calibrate FILE ...)\n")
    for p in profiles if not as_json else []:
        sys.stdout.write(p.describe() + (f" [{p.method}]" if p.method else "") + "\n")
    return 0


def _parse_points(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--points must be four numbers X1,Y1,X2,Y2, not {text!r}") from None
    return (x1, y1), (x2, y2)


def _default_name(rad: Radiograph) -> str:
    dev = " ".join(p for p in (rad.patient.manufacturer, rad.patient.model) if p.strip())
    return (dev or "images") + f" {rad.width}x{rad.height}"
