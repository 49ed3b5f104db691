"""``dentalosteo outcomes``: the clinic's own figures, a training set from practice, priors.

    dentalosteo outcomes report --csv OUT [--pdf OUT] [--max-days N] [--count-osteopenia]
                                [--min-n N]
    dentalosteo outcomes export DIR [--anonymize] [--images-from DIR] [--dicom] [--max-days N]
    dentalosteo outcomes priors --patient ID [--json]

See docs/outcomes.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.records.outcomes import DEFAULT_MAX_DAYS, OutcomeError
from ..core.records.outcomes_figures import MIN_N
from .common import echo, print_json, record_export_or_fail
from .outcome import int_arg, open_history, usage


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-days", metavar="N",
                   help=f"a DXA within N days of the radiograph counts (default {DEFAULT_MAX_DAYS})")
    p.add_argument("--db", metavar="PATH", help="history database (default: the data folder)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outcomes", help="figures against DXA outcomes, training export, priors",
                       description="Close the loop: this clinic's referral figures against DXA.")
    osub = p.add_subparsers(dest="outcomes_command", metavar="ACTION")
    r = osub.add_parser("report", help="PPV / sensitivity / specificity per model and operating point")
    r.add_argument("--csv", metavar="OUT", help="write the figures as CSV (required)")
    r.add_argument("--pdf", metavar="OUT", help="also write the PDF report")
    r.add_argument("--count-osteopenia", action="store_true",
                   help="count DXA osteopenia as confirmed too (default: osteoporosis only)")
    r.add_argument("--min-n", metavar="N", help=f"'n too small' below N in the PDF (default {MIN_N})")
    _common(r)
    r.set_defaults(func=run_report)
    e = osub.add_parser("export", help="write screened radiographs with DXA as a dataset folder")
    e.add_argument("dir", help="new (or empty) output folder")
    e.add_argument("--anonymize", action="store_true",
                   help="de-identify (always on: the export never holds patient data)")
    e.add_argument("--images-from", metavar="DIR",
                   help="find radiographs whose path was not kept (anonymised) by sha256 here")
    e.add_argument("--dicom", action="store_true",
                   help="keep DICOM files as DICOM (de-identified) instead of PNG copies")
    _common(e)
    e.set_defaults(func=run_export)
    pr = osub.add_parser("priors", help="a patient's MCW over time, changes beyond repeatability")
    pr.add_argument("--patient", metavar="ID")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--db", metavar="PATH")
    pr.set_defaults(func=run_priors)
    p.set_defaults(func=lambda args: usage(p))


def run_report(args: argparse.Namespace) -> int:
    from ..core.records.outcomes_figures import compute_figures, load_cases, write_figures_csv
    from ..core.records.outcomes_report import ReportInput, write_outcomes_pdf
    from ..core.system.settings import load_settings

    if not args.csv:
        raise OutcomeError("--csv OUT is required")
    max_days = int_arg("--max-days", args.max_days, 0, 36500, DEFAULT_MAX_DAYS)
    min_n = int_arg("--min-n", args.min_n, 1, 10_000, MIN_N)
    with open_history(args.db) as h:
        cases = load_cases(h, max_days)
        rows = compute_figures(cases, count_osteopenia=args.count_osteopenia, max_days=max_days,
                               min_n=min_n)
        out = write_figures_csv(rows, Path(args.csv))
        record_export_or_fail(None, "outcomes_csv", out, history=h)
        echo(f"wrote {out} ({len(rows)} rows)", err=True)
        if args.pdf:
            inp = ReportInput(rows, cases, args.count_osteopenia, max_days, min_n,
                              load_settings().clinic_name)
            pdf = write_outcomes_pdf(inp, Path(args.pdf))
            record_export_or_fail(None, "outcomes_pdf", pdf, history=h)
            echo(f"wrote {pdf}", err=True)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..core.records.outcomes_export import export_dataset

    max_days = int_arg("--max-days", args.max_days, 0, 36500, DEFAULT_MAX_DAYS)
    src = Path(args.images_from) if args.images_from else None
    if src is not None and not src.is_dir():
        raise OutcomeError(f"--images-from {src}: not a folder")
    with open_history(args.db) as h:
        s = export_dataset(h, Path(args.dir), max_days=max_days, images_from=src,
                           keep_dicom=args.dicom)
    echo(f"wrote {s.written} image(s) of {s.subjects} patient(s) to {s.out_dir} (de-identified; "
         "text burned into the pixels is not removed)")
    for sid, why in s.skipped:
        echo(f"  skipped screening #{sid}: {why}")
    return 0


def run_priors(args: argparse.Namespace) -> int:
    from ..core.records.outcomes_context import (
        MCW_REPEATABILITY_MM,
        MCW_REPEATABILITY_SOURCE,
        mcw_changes,
        mcw_over_time,
    )

    if not args.patient:
        raise OutcomeError("--patient ID is required")
    with open_history(args.db) as h:
        pts = mcw_over_time(h, args.patient)
    changes = mcw_changes(pts)
    if args.json:
        print_json({"repeatability_mm": MCW_REPEATABILITY_MM, "source": MCW_REPEATABILITY_SOURCE,
                    "points": [{**p.__dict__, "when": p.when.isoformat()} for p in pts],
                    "changes": [{**c.__dict__, "from_date": c.from_date.isoformat(),
                                 "to_date": c.to_date.isoformat()} for c in changes]})
        return 0
    if not pts:
        echo("no screenings of this patient")
        return 0
    for p in pts:
        mcw = " / ".join("-" if v is None else f"{v:.2f}" for v in (p.mcw_right_mm, p.mcw_left_mm))
        echo(f"{p.when.isoformat()}  #{p.screening_id:<5} MCW R/L {mcw} mm"
             + ("  (spacing assumed)" if p.assumed_spacing else ""))
    echo(f"changes beyond the repeatability ({MCW_REPEATABILITY_MM:g} mm):"
         + ("" if changes else " none"))
    for c in changes:
        echo(f"  {c.side}: {c.delta_mm:+.2f} mm from #{c.from_id} to #{c.to_id}"
             + ("" if c.comparable else " (not comparable: spacing assumed)"))
    return 0
