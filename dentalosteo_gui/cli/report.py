"""``dentalosteo report``: (re)draw the PDF report of a past screening without re-running it.

From ``screen --json`` output (RESULT.json) or from the history (``--history ID``), with the
radiograph file. The Grad-CAM map is not stored, so the ROI is shown without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import ConfigError
from ..core.imaging.imageio import load_radiograph
from ..core.records.history import History, file_sha256
from ..core.records.report import result_from_dict, write_report
from ..core.system.settings import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the PDF report of a saved result (JSON or history)")
    p.add_argument("result", nargs="?", metavar="RESULT.json", help="output of 'screen --json'")
    p.add_argument("--history", type=int, metavar="ID", help="a screening from the history")
    p.add_argument("--image", metavar="FILE", help="the radiograph (default: the path in the result)")
    p.add_argument("-o", "--out", required=True, metavar="OUT.pdf")
    p.add_argument("--anonymize", action="store_true", help="pseudonymous case ID, no patient data")
    p.add_argument("--page-size", choices=("A4", "Letter"), help="default: the page_size setting")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    if (args.result is None) == (args.history is None):
        raise ConfigError("give either RESULT.json or --history ID")
    settings = load_settings()
    if args.page_size:
        settings.page_size = args.page_size
    anonymize = bool(args.anonymize or settings.anonymize_exports)
    expected_sha = None
    if args.history is not None:
        with History() as h:
            row = h.get(args.history)
        data = row["result"]
        expected_sha = row["file_sha256"]
        image = args.image or row["file_path"] or data.get("path")
    else:
        src = Path(args.result)
        try:
            data = json.loads(src.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{src}: file not found") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{src}: not a JSON result file ({exc})") from None
        image = args.image or data.get("path")
    if not image or not Path(image).is_file():
        raise ConfigError(f"radiograph {image or '(none recorded)'!s} not found: pass --image FILE")
    if expected_sha and file_sha256(Path(image)) != expected_sha:
        raise ConfigError(f"{image}: this is not the radiograph of screening #{args.history} "
                          "(file hash differs); pass the original file with --image")
    result = result_from_dict(data)
    rad = load_radiograph(image)
    if not result.path:
        result.path = str(image)
    out = write_report(result, rad, Path(args.out), settings=settings, anonymize=anonymize)
    if args.history is not None:
        with History() as h:
            h.record_export(args.history, "pdf_anonymised" if anonymize else "pdf", str(out))
    sys.stdout.write(f"{out}\n")
    return 0
