"""``dentalosteo audit verify|show``: check the tamper-evident audit trail."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.records.audit import AuditLog
from .common import print_json

EXIT_BROKEN = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify or show the tamper-evident audit trail")
    p.add_argument("--db", metavar="PATH", help="database holding the audit log "
                   "(default: the history database in the data folder)")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION")
    v = asub.add_parser("verify", help="check the hash chain; exit 3 naming the first broken row")
    v.set_defaults(func=run_verify)
    s = asub.add_parser("show", help="print the latest audit rows")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_show)


def _open(args: argparse.Namespace) -> AuditLog:
    return AuditLog(Path(args.db) if args.db else None)


def run_verify(args: argparse.Namespace) -> int:
    with _open(args) as log:
        ok, row, message = log.verify()
    if ok:
        sys.stdout.write(message + "\n")
        return 0
    sys.stderr.write(f"audit trail BROKEN at row {row}: {message}\n")
    return EXIT_BROKEN


def run_show(args: argparse.Namespace) -> int:
    with _open(args) as log:
        rows = log.rows(limit=max(1, args.limit))
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        sys.stdout.write(f"{r['id']:>6}  {r['ts_utc'][:19].replace('T', ' ')}  {r['event']:10}  "
                         f"{r['hash'][:12]}  {r['detail']}\n")
    return 0
