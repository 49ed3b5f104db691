"""``audit verify``: a history database checked against its audit chain, read-only.

What an unkeyed hash chain cannot prove is written in docs/reliability.md.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..system import paths
from .audit import (
    CHAIN_SQL,
    AuditError,
    DatabaseDamagedError,
    connect_read_only,
    db_error_message,
    verify_chain,
)
from .history import AUDITED_TABLES, LEGACY_SCREENING_FIELDS, TABLE_SINCE, row_digest


def verify_history(db_path: Path | None = None) -> tuple[bool, str]:
    """Check a history (or bare audit-log) database without writing to it.

    In order: ``PRAGMA integrity_check``; the audit table is there; the hash chain; then, for
    a history database, every screening, edit and export row against the audit row that
    recorded it (its ``row_sha256``; for rows recorded before row hashes existed, the fields
    the audit row kept) and every audit record against the tables (both ways: rows added,
    changed or deleted outside the app). Returns (ok, one-line message naming the first
    problem). Raises AuditError when the file cannot be opened at all (missing, no
    permission), never creating anything. What this cannot prove: docs/reliability.md.
    """
    db_path = Path(db_path) if db_path is not None else paths.history_db_path()
    try:
        conn, cleanup = connect_read_only(db_path)
    except DatabaseDamagedError as exc:
        return False, str(exc)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")  # one consistent snapshot while the app may be writing
        return _verify_open(db_path, conn)
    except sqlite3.DatabaseError as exc:  # damage found while reading
        return False, db_error_message(db_path, "cannot read the database", exc)
    finally:
        conn.close()
        cleanup()


def _verify_open(db_path: Path, conn: sqlite3.Connection) -> tuple[bool, str]:
    check = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)")]
    if check != ["ok"]:
        return False, (f"{db_path}: the database file is damaged (integrity check: "
                       f"{'; '.join(check)[:300]})")
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    is_history = bool(tables & set(AUDITED_TABLES)) or int(
        conn.execute("PRAGMA user_version").fetchone()[0]) > 0
    if "audit" not in tables:
        if is_history:
            return False, f"{db_path}: the audit table is missing (removed?)"
        raise AuditError(f"{db_path}: no audit log in this database (check the path)")
    audit_rows = conn.execute(CHAIN_SQL).fetchall()
    ok, _, message, _ = verify_chain(audit_rows)
    if not ok or not is_history:
        return ok, message
    problems, counts = _cross_check(conn, tables, audit_rows)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return False, problems[0] + more
    more = ""
    if counts.get("outcomes") or counts.get("clinical"):
        more = (f" (as do {counts.get('outcomes', 0)} DXA outcome(s) and "
                f"{counts.get('clinical', 0)} clinical-context row(s))")
    return True, (f"{message}; {counts['screenings']} screenings, {counts['edits']} edits and "
                  f"{counts['exports']} exports match it{more}; database integrity ok")


def _changed(table: str, row: sqlite3.Row, detail: dict[str, Any]) -> bool:
    """Does the stored row differ from what its audit record says?"""
    if "row_sha256" in detail:
        return bool(detail["row_sha256"] != row_digest(row))
    if table != "screenings":
        return False  # legacy edit/export records named no row: counted, not compared

    def norm(v: Any) -> Any:
        return int(v) if isinstance(v, bool) else v

    return any(norm(row[f]) != norm(detail.get(f)) for f in LEGACY_SCREENING_FIELDS)


def _cross_check(conn: sqlite3.Connection, tables: set[str],
                 audit_rows: list[Any]) -> tuple[list[str], dict[str, int]]:
    """Rows vs audit records, both ways; returns (problems, row counts per table)."""
    problems: list[str] = []
    counts: dict[str, int] = {}
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for table, (event, key) in AUDITED_TABLES.items():
        if table not in tables and version < TABLE_SINCE.get(table, 0):
            continue  # an older database: the table does not exist yet
        if table not in tables:
            problems.append(f"the {table} table is missing (removed?)")
            continue
        named: dict[int, tuple[int, dict[str, Any]]] = {}
        unnamed_records = 0
        for audit_id, _, ev, detail_json, _, _ in audit_rows:
            if ev != event:
                continue
            try:
                detail = json.loads(detail_json)
                rid = detail.get(key) if isinstance(detail, dict) else None
            except ValueError:
                rid, detail = None, {}
            if not isinstance(rid, int) or isinstance(rid, bool):
                unnamed_records += 1  # written before row ids were recorded
            elif rid in named:
                problems.append(f"audit rows {named[rid][0]} and {audit_id} both record "
                                f"{event} #{rid}")
            else:
                named[rid] = (int(audit_id), detail)
        rows = {int(r["id"]): r for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")}
        counts[table] = len(rows)
        for rid, (audit_id, detail) in named.items():
            if rid not in rows:
                problems.append(f"{event} #{rid} (recorded by audit row {audit_id}) is missing "
                                f"from the {table} table (deleted)")
            elif _changed(table, rows[rid], detail):
                problems.append(f"{event} #{rid} was changed after audit row {audit_id} "
                                "recorded it")
        extra = [rid for rid in rows if rid not in named]
        if len(extra) > unnamed_records:
            problems.append(f"{event} #{extra[-1]} has no audit record ({len(extra)} {table} "
                            f"row(s) without one; added outside DentalOsteo?)")
    return problems, counts
