"""``dentalosteo history``: list past screenings, optionally as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.records.history import History, HistoryError
from ..core.system.settings import load_settings
from .common import echo, print_json, safe_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="list past screenings (local history database)")
    p.add_argument("--patient", metavar="ID", help="only this patient ID (or pseudonym)")
    p.add_argument("--csv", metavar="OUT", help="write the list as CSV to OUT")
    p.add_argument("--limit", type=int, default=500, help="at most this many rows (default 500)")
    p.add_argument("--anonymize", action="store_true",
                   help="pseudonymise patient IDs and drop file paths/dates in the output "
                        "(default: the anonymize_exports setting)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--db", metavar="PATH", help="history database (default: the data folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.records.deidentify import local_salt, pseudonym
    from ..core.system import paths

    anonymize = bool(args.anonymize or load_settings().anonymize_exports)
    db = Path(args.db) if args.db else paths.history_db_path()
    if args.db and not db.exists():  # a typo must not create an empty history
        raise HistoryError(f"{db}: no such database (check the path; nothing was created)")
    if args.csv:
        with History(db) as h:
            out = h.export_csv(Path(args.csv), args.patient, anonymize=anonymize,
                               limit=max(1, args.limit))
        echo(f"wrote {out}", err=True)
        return 0
    rows: list[dict] = []
    if db.exists():  # read-only: never creates, migrates or writes (works on a full disk)
        with History(db, read_only=True) as h:
            rows = h.list(args.patient, limit=max(1, args.limit))
    salt = local_salt() if anonymize else ""
    for r in rows:
        if anonymize:
            if r["patient_id"] and not r["pseudonymised"]:
                r["patient_id"] = pseudonym(r["patient_id"], salt)
                r["pseudonymised"] = True
            r["file_path"] = ""
            r["study_date"] = ""
            r["result"]["path"] = ""
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        echo("no screenings recorded")
        return 0
    echo(f"{'#':>5}  {'when (UTC)':19}  {'patient':16}  {'band':12}  {'risk':>5}  "
         f"{'Klemetti':8}  {'MCW R/L mm':11}  model")
    for r in rows:
        risk = "" if r["risk"] is None else f"{r['risk']:.2f}"
        band = r["band"] or ("not assess." if not r["assessable"] else "-")
        mcw = "/".join("-" if v is None else f"{v:.1f}" for v in (r["mcw_right_mm"], r["mcw_left_mm"]))
        model = (r["model_sha256"] or "")[:12] or "none"
        echo(f"{r['id']:>5}  {r['created_utc'][:19].replace('T', ' '):19}  "
             f"{safe_text(r['patient_id'] or '-')[:16]:16}  {band:12}  {risk:>5}  "
             f"{(r['klemetti_class'] or r['klemetti_rule'] or '-'):8}  {mcw:11}  {model}")
    return 0
