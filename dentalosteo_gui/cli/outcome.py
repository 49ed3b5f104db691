"""``dentalosteo outcome``: record a screened patient's DXA result, list it, add clinical context.

    dentalosteo outcome add --patient ID --dxa-date YYYY-MM-DD --t-score T [--site S]
                            [--category normal|osteopenia|osteoporosis] [--fracture F]
    dentalosteo outcome list [--patient ID] [--max-days N] [--json]
    dentalosteo outcome context --screening N [--age Y] [--sex F|M|O] [--weight KG]

``ID`` as the history shows it: the DICOM PatientID, or the CASE-... key of an anonymised
screening. Several sites of one exam: repeat ``--site S --t-score T`` in pairs. Bad input:
exit 2 with one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.records.history import History, HistoryError
from ..core.records.outcomes import (
    CATEGORIES,
    DEFAULT_MAX_DAYS,
    FRACTURES,
    SITES,
    DxaReading,
    OutcomeError,
    add_outcome,
    patient_outcomes,
)
from .common import echo, print_json


def int_arg(name: str, text: str | None, lo: int, hi: int, default: int) -> int:
    """An integer option checked by hand (argparse would print two lines)."""
    if text is None:
        return default
    try:
        v = int(str(text).strip())
    except ValueError:
        raise OutcomeError(f"{name} must be a whole number, not {text!r}") from None
    if not lo <= v <= hi:
        raise OutcomeError(f"{name} {v} is outside {lo}..{hi}")
    return v


def float_arg(name: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(str(text).strip().replace(",", "."))
    except ValueError:
        raise OutcomeError(f"{name} must be a number, not {text!r}") from None


def open_history(db: str | None) -> History:
    """The history (``--db`` or the data folder's); a missing ``--db`` is not created."""
    if db and not Path(db).exists():
        raise HistoryError(f"{db}: no such database (check the path; nothing was created)")
    return History(Path(db) if db else None)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outcome", help="record DXA outcomes of screened patients",
                       description="Record a screened patient's DXA result (closing the loop).")
    osub = p.add_subparsers(dest="outcome_command", metavar="ACTION")
    a = osub.add_parser("add", help="record a DXA exam (one or more sites)")
    a.add_argument("--patient", metavar="ID", help="patient ID or CASE-... key, as the history shows it")
    a.add_argument("--dxa-date", metavar="YYYY-MM-DD", help="date of the DXA scan")
    a.add_argument("--t-score", metavar="T", action="append", default=[], help="T-score (-6..+4)")
    a.add_argument("--site", metavar="S", action="append", default=[],
                   help=f"site of the T-score before it: {', '.join(SITES)}")
    a.add_argument("--category", metavar="C",
                   help=f"WHO category ({', '.join(CATEGORIES)}; default: from the lowest T-score)")
    a.add_argument("--fracture", metavar="F", action="append", default=[],
                   help=f"fragility fracture: {', '.join(FRACTURES)} (repeatable)")
    a.add_argument("--db", metavar="PATH", help="history database (default: the data folder)")
    a.set_defaults(func=run_add)
    ls = osub.add_parser("list", help="a patient's DXA exams and the screenings they link to")
    ls.add_argument("--patient", metavar="ID", required=False)
    ls.add_argument("--max-days", metavar="N", help=f"link window in days (default {DEFAULT_MAX_DAYS})")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--db", metavar="PATH")
    ls.set_defaults(func=run_list)
    c = osub.add_parser("context", help="age, sex, weight of a screening (OST context)")
    c.add_argument("--screening", metavar="N", help="screening id (dentalosteo history)")
    c.add_argument("--age", metavar="YEARS")
    c.add_argument("--sex", metavar="F|M|O")
    c.add_argument("--weight", metavar="KG")
    c.add_argument("--db", metavar="PATH")
    c.set_defaults(func=run_context)
    p.set_defaults(func=lambda args: usage(p))


def usage(p: argparse.ArgumentParser) -> int:
    """A command group run without its action: its help, exit 2."""
    p.print_help()
    return 2


def _readings(sites: list[str], t_scores: list[str]) -> list[DxaReading]:
    if not t_scores:
        raise OutcomeError("--t-score is required (e.g. --t-score -2.7)")
    if not sites and len(t_scores) == 1:
        sites = ["unspecified"]
    if len(sites) != len(t_scores):
        raise OutcomeError("give one --site per --t-score (in pairs: --site S --t-score T)")
    return [DxaReading(s, t) for s, t in zip(sites, t_scores, strict=True)]  # type: ignore[arg-type]


def run_add(args: argparse.Namespace) -> int:
    if not args.dxa_date:
        raise OutcomeError("--dxa-date YYYY-MM-DD is required")
    readings = _readings(args.site, args.t_score)
    with open_history(args.db) as h:
        ids = add_outcome(h, args.patient or "", args.dxa_date, readings,
                          category=args.category, fractures=args.fracture)
        exams = [e for e in patient_outcomes(h, args.patient) if set(ids) & set(e["outcome_ids"])]
    ex = exams[0]
    sites = ", ".join(f"{s} {t:+g}" for s, t in ex["sites"].items())
    echo(f"recorded DXA outcome #{', #'.join(map(str, ids))} for {ex['patient']}: "
         f"{ex['category']} ({sites})")
    for lk in ex["screenings"]:
        when = "after" if lk["days"] >= 0 else "before"
        echo(f"  screening #{lk['screening_id']}: DXA {abs(lk['days'])} days {when} the radiograph")
    if not ex["screenings"]:
        echo(f"  no screening of this patient within {DEFAULT_MAX_DAYS} days of the DXA")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..core.records.outcomes import load_exams

    max_days = int_arg("--max-days", args.max_days, 0, 36500, DEFAULT_MAX_DAYS)
    with open_history(args.db) as h:
        if args.patient:
            exams = patient_outcomes(h, args.patient, max_days)
        else:
            exams = [{"patient": e.key, "dxa_date": e.dxa_date.isoformat(), "sites": e.sites,
                      "lowest_t": e.lowest_t, "category": e.category, "fractures": e.fractures,
                      "outcome_ids": e.outcome_ids}
                     for group in load_exams(h).values() for e in group]
    if args.json:
        print_json(exams)
        return 0
    if not exams:
        echo("no DXA outcomes recorded")
    for e in exams:
        links = ", ".join(f"#{lk['screening_id']} ({lk['days']:+d} d)" for lk in e.get("screenings", []))
        echo(f"{e['dxa_date']}  {e['patient'][:16]:16}  {e['category']:12}  lowest T "
             f"{e['lowest_t']:+.1f}  {','.join(e['sites'])}" + (f"  screenings {links}" if links else ""))
    return 0


def run_context(args: argparse.Namespace) -> int:
    from ..core.records.outcomes_context import context_from_dicom, record_context, validate_context

    sid = int_arg("--screening", args.screening, 1, 2**62, 0)
    if sid == 0:
        raise OutcomeError("--screening N is required (the id `dentalosteo history` shows)")
    age, weight = float_arg("--age", args.age), float_arg("--weight", args.weight)
    with open_history(args.db) as h:
        row = h.get(sid)
        source = "typed"
        if age is None and weight is None and args.sex is None and row.get("file_path"):
            age, sex, weight = context_from_dicom(Path(row["file_path"]))
            source, args.sex = "dicom", sex
        ctx = validate_context(age, args.sex, weight, source)
        record_context(h, sid, ctx)
    echo(f"screening #{sid}: context recorded ({source}); {ctx.describe()} - context only, "
         "not part of the model's risk")
    return 0
