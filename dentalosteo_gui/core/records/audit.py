"""Append-only, tamper-evident audit trail (a hash chain in SQLite).

Each row stores ``prev_hash`` (the previous row's hash) and its own ``hash`` =
sha256 over (id, time, event, canonical JSON detail, prev_hash). Editing, deleting or
re-ordering any row breaks the chain at that row, and :meth:`AuditLog.verify` names it.
SQL triggers refuse UPDATE and DELETE, so ordinary code cannot rewrite history; someone
who drops the triggers and edits the file is caught by ``verify``. Limitation: removing
the LAST rows of the chain leaves a valid shorter chain; :meth:`AuditLog.head` gives the
row count and last hash so they can be noted elsewhere (e.g. on a printed report).

The log lives in the history database by default (one file, one transaction per screening)
but works on any SQLite file. Details never contain patient names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import DentalOsteoError
from ..system import paths

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts_utc TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class AuditError(DentalOsteoError):
    """The audit log cannot be opened or written."""


def canonical_json(detail: dict[str, Any]) -> str:
    """Deterministic JSON (sorted keys, no spaces) so the hash is reproducible."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str, allow_nan=False)


def row_hash(row_id: int, ts_utc: str, event: str, detail_json: str, prev_hash: str) -> str:
    """The hash one audit row must carry."""
    payload = "\x1f".join([str(int(row_id)), ts_utc, event, detail_json, prev_hash])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def utc_now() -> str:
    """Current UTC time, ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def connect(db_path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open a SQLite file the way history and audit expect (WAL, FULL sync, autocommit)."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db_path), timeout=10.0, isolation_level=None,
                               check_same_thread=check_same_thread)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
    except sqlite3.DatabaseError as exc:
        raise AuditError(f"{db_path}: not a readable SQLite database ({exc}); move the file "
                         "aside and a new one will be created") from None
    except (sqlite3.Error, OSError) as exc:
        raise AuditError(f"{db_path}: cannot open the database: {exc} "
                         "(check the data folder is writable)") from None
    return conn


class AuditLog:
    """Hash-chained, append-only event log.

    Pass ``conn`` to share a connection (and its transactions) with :class:`History`;
    otherwise the log opens ``db_path`` (default: the history database).
    """

    def __init__(self, db_path: Path | None = None, *, conn: sqlite3.Connection | None = None,
                 lock: Any = None) -> None:
        self._own = conn is None
        self._lock = lock if lock is not None else threading.RLock()
        self.db_path = Path(db_path) if db_path is not None else paths.history_db_path()
        self._conn = conn if conn is not None else connect(self.db_path, check_same_thread=False)
        try:
            self._conn.executescript(AUDIT_SCHEMA)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.db_path}: cannot create the audit table: {exc}") from None

    # -- writing -----------------------------------------------------------------------
    def append_in_transaction(self, event: str, detail: dict[str, Any]) -> int:
        """Append a row; the caller holds a write transaction (BEGIN IMMEDIATE)."""
        if not event or not isinstance(event, str):
            raise ValueError("audit event must be a non-empty string")
        detail_json = canonical_json(detail)
        last = self._conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        row_id = (int(last[0]) + 1) if last else 1
        prev = str(last[1]) if last else GENESIS_HASH
        ts = utc_now()
        h = row_hash(row_id, ts, event, detail_json, prev)
        self._conn.execute(
            "INSERT INTO audit (id, ts_utc, event, detail, prev_hash, hash) VALUES (?,?,?,?,?,?)",
            (row_id, ts, event, detail_json, prev, h),
        )
        return row_id

    def append(self, event: str, detail: dict[str, Any]) -> int:
        """Append one event in its own transaction; returns the new row id."""
        try:
            with self._lock:
                row_id = self._append_locked(event, detail)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.db_path}: cannot append to the audit log: {exc}") from None
        log.debug("audit %s #%d", event, row_id)
        return row_id

    def _append_locked(self, event: str, detail: dict[str, Any]) -> int:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            row_id = self.append_in_transaction(event, detail)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return row_id

    # -- reading -----------------------------------------------------------------------
    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Audit rows, newest first (``limit`` rows)."""
        sql = "SELECT id, ts_utc, event, detail, prev_hash, hash FROM audit ORDER BY id DESC"
        args: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            args = (int(limit),)
        out = []
        with self._lock:
            fetched = self._conn.execute(sql, args).fetchall()
        for r in fetched:
            try:
                detail = json.loads(r[3])
            except ValueError:
                detail = {"unparseable": r[3]}
            out.append({"id": r[0], "ts_utc": r[1], "event": r[2], "detail": detail,
                        "prev_hash": r[4], "hash": r[5]})
        return out

    def head(self) -> tuple[int, str]:
        """(number of rows, hash of the last row) - note these to detect truncation."""
        with self._lock:
            n = int(self._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
            last = self._conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        return n, (str(last[0]) if last else GENESIS_HASH)

    def verify(self) -> tuple[bool, int | None, str]:
        """Walk the chain; returns (ok, first broken row id, message)."""
        prev = GENESIS_HASH
        expected_id = 1
        n = 0
        with self._lock:
            cur = self._conn.execute(
                "SELECT id, ts_utc, event, detail, prev_hash, hash FROM audit ORDER BY id").fetchall()
        for row_id, ts, event, detail, prev_hash, h in cur:
            n += 1
            if row_id != expected_id:
                return (False, int(row_id),
                        f"audit row {row_id}: rows {expected_id}..{row_id - 1} are missing "
                        "(deleted)")
            if prev_hash != prev:
                return (False, int(row_id),
                        f"audit row {row_id}: does not follow row {row_id - 1} "
                        f"(row {row_id - 1} was edited, or a row was deleted or inserted)")
            try:
                recomputed = row_hash(int(row_id), str(ts), str(event), str(detail), str(prev_hash))
            except (TypeError, ValueError):
                recomputed = ""
            if recomputed != h:
                return (False, int(row_id), f"audit row {row_id}: content was edited "
                        "(its hash does not match)")
            prev = str(h)
            expected_id += 1
        return True, None, f"audit log intact: {n} rows, last hash {prev[:12]}"

    def close(self) -> None:
        """Close the connection if this log opened it."""
        if self._own:
            self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
