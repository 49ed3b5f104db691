"""``dentalosteo audit verify|show``: check the tamper-evident audit trail."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.records.audit import AuditLog
from ..core.records.history_verify import verify_history
from .common import echo, print_json

EXIT_BROKEN = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify or show the tamper-evident audit trail")
    p.add_argument("--db", metavar="PATH", help="database holding the audit log "
                   "(default: the history database in the data folder)")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION")
    v = asub.add_parser("verify", help="check the database, the hash chain and the screenings "
                        "against it (read-only); exit 3 naming the first problem")
    v.set_defaults(func=run_verify)
    s = asub.add_parser("show", help="print the latest audit rows")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_show)


def _db(args: argparse.Namespace) -> Path:
    from ..core.system import paths

    return Path(args.db) if args.db else paths.history_db_path()


def run_verify(args: argparse.Namespace) -> int:
    """Read-only: the file's integrity, the chain, and the history rows against the chain."""
    ok, message = verify_history(_db(args))
    if ok:
        echo(message)
        return 0
    echo(f"audit trail BROKEN: {message}", err=True)
    return EXIT_BROKEN


def run_show(args: argparse.Namespace) -> int:
    with AuditLog(_db(args), read_only=True) as log:
        rows = log.rows(limit=max(1, args.limit))
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        echo(f"{r['id']:>6}  {r['ts_utc'][:19].replace('T', ' ')}  {r['event']:10}  "
             f"{r['hash'][:12]}  {r['detail']}")
    return 0
