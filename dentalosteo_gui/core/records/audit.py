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

Reading (``audit show``/``verify``, ``history``) opens the file read-only and never creates
anything; when the folder does not let SQLite create its shared-memory file (full disk,
read-only drive) it reads a private copy instead. Errors name the real cause (disk full,
read-only, permission, locked, damaged); only a damaged file is ever called damaged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DentalOsteoError
from ..system import paths
from ..system.atomic import explain_os_error

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


class DatabaseDamagedError(AuditError):
    """The file is not a SQLite database, or SQLite found it corrupt."""


T = TypeVar("T")
BUSY_TIMEOUT_S = 10.0
# primary SQLite result codes (sqlite3.h)
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26
_LOW_SPACE = 1 << 20  # under this many free bytes the disk counts as full


def _code(exc: BaseException) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _folder_problem(db_path: Path) -> tuple[str, str] | None:
    """What about the folder (or file) stops SQLite, as far as the OS can tell."""
    folder = db_path.parent
    with contextlib.suppress(OSError):
        if shutil.disk_usage(folder).free < _LOW_SPACE:
            return "the disk is full", "free some space on that drive"
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "the drive is read-only", "use a writable drive or copy the file elsewhere"
    if db_path.exists() and not os.access(db_path, os.R_OK):
        return "permission denied", "check the file's permissions"
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return "the folder is not writable (permission denied)", "check the folder's permissions"
    return None


def explain_db_error(db_path: Path, exc: BaseException) -> tuple[str, str]:
    """(reason, hint) for a failed open, read or write of ``db_path``: the real cause.

    Only SQLite's own verdict (SQLITE_CORRUPT, SQLITE_NOTADB) calls a file damaged; a full
    disk, a read-only drive or a permission problem is named as such.
    """
    if isinstance(exc, OSError):
        return explain_os_error(exc)
    code = _code(exc)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return (f"the file is damaged or is not a SQLite database ({exc})",
                "keep it for recovery: restore it from a backup, or move it aside to start "
                "a new, empty history")
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return f"the database is locked by another program ({exc})", "close it and try again"
    if code == _SQLITE_FULL:
        return "the disk is full", "free some space on that drive"
    found = _folder_problem(db_path)
    if found is not None:
        return found
    if code in (_SQLITE_READONLY, _SQLITE_PERM):
        return f"the database is read-only ({exc})", "check the file and folder permissions"
    return str(exc), "check the data folder"


def db_error_message(db_path: Path, doing: str, exc: BaseException) -> str:
    """One line: the file, what failed, the real cause and what to do."""
    reason, hint = explain_db_error(db_path, exc)
    return f"{db_path}: {doing}: {reason} ({hint})"


def retry_busy(fn: Callable[[], T], attempts: int = 6) -> T:
    """Run ``fn``; retry with back-off while SQLite says busy/locked (beyond busy_timeout)."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if _code(exc) not in (_SQLITE_BUSY, _SQLITE_LOCKED) or i == attempts - 1:
                raise
            time.sleep(0.05 * 2**i)
    raise AssertionError("unreachable")  # pragma: no cover


def script_statements(script: str) -> list[str]:
    """The statements of an SQL script (triggers kept whole), to run inside a transaction."""
    out: list[str] = []
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                out.append(buf.strip())
            buf = ""
    return out


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                        (name,)).fetchone() is not None


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; never mask the error that caused it."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


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
    """Open a SQLite file for writing the way history and audit expect (WAL, FULL sync,
    autocommit); creates it when missing."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=check_same_thread)
        try:
            retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
    except (sqlite3.Error, OSError) as exc:
        raise _open_error(db_path, "cannot open the database", exc) from None
    return conn


def _open_error(db_path: Path, doing: str, exc: BaseException) -> AuditError:
    damaged = not isinstance(exc, OSError) and _code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    cls = DatabaseDamagedError if damaged else AuditError
    return cls(db_error_message(db_path, doing, exc))


def _nothing() -> None:
    return None


def _open_uri(uri: str, check_same_thread: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=check_same_thread)
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # really opens it
    except BaseException:
        conn.close()
        raise
    return conn


def _open_copy(db_path: Path, check_same_thread: bool) -> tuple[sqlite3.Connection, Callable[[], None]]:
    """A private copy (with its WAL) in the temp folder, opened query-only."""
    tmp = Path(tempfile.mkdtemp(prefix="dentalosteo-ro-"))
    try:
        copy = tmp / "copy.sqlite3"
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, tmp / "copy.sqlite3-wal")
        conn = _open_uri(copy.absolute().as_uri(), check_same_thread)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return conn, lambda: shutil.rmtree(tmp, ignore_errors=True)


def connect_read_only(db_path: Path, *, check_same_thread: bool = True
                      ) -> tuple[sqlite3.Connection, Callable[[], None]]:
    """Open an existing database without writing to it or creating anything.

    Returns the connection and a cleanup to call after closing it. Tried in turn: the file
    read-only (``mode=ro``); when SQLite cannot create its shared-memory file beside it
    (full disk, read-only drive), a private copy in the temp folder; when even that is
    impossible and there is no write-ahead log to lose, the file as immutable. Raises
    AuditError (DatabaseDamagedError for a damaged file) naming the real cause.
    """
    db_path = Path(db_path)
    try:
        is_file, is_dir = db_path.is_file(), db_path.is_dir()
    except OSError as exc:  # e.g. no permission on a folder above it
        raise _open_error(db_path, "cannot read the database", exc) from None
    if not is_file:
        what = "is a folder, not a database" if is_dir else "no such database"
        raise AuditError(f"{db_path}: {what} (check the path; nothing was created)")
    uri = db_path.absolute().as_uri()
    try:
        return _open_uri(f"{uri}?mode=ro", check_same_thread), _nothing
    except sqlite3.Error as exc:
        first: BaseException = exc
        if _code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            raise _open_error(db_path, "cannot read the database", exc) from None
    log.info("database not readable in place (%s); reading a private copy",
             getattr(first, "sqlite_errorname", type(first).__name__))
    with contextlib.suppress(OSError, sqlite3.Error):
        return _open_copy(db_path, check_same_thread)
    wal = db_path.with_name(db_path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        with contextlib.suppress(sqlite3.Error):
            return _open_uri(f"{uri}?immutable=1", check_same_thread), _nothing
    raise _open_error(db_path, "cannot read the database", first)


def create_audit_schema(conn: sqlite3.Connection) -> None:
    """Create the audit table and its guard triggers (if absent) in the open transaction."""
    for stmt in script_statements(AUDIT_SCHEMA):
        conn.execute(stmt)


CHAIN_SQL = "SELECT id, ts_utc, event, detail, prev_hash, hash FROM audit ORDER BY id"


def verify_chain(rows: Sequence[Sequence[Any]]) -> tuple[bool, int | None, str, str]:
    """Check audit rows (as selected by CHAIN_SQL, in id order).

    Returns (ok, first broken row id, message, last hash).
    """
    prev = GENESIS_HASH
    expected_id = 1
    for row_id, ts, event, detail, prev_hash, h in rows:
        if row_id != expected_id:
            return (False, int(row_id),
                    f"audit row {row_id}: rows {expected_id}..{row_id - 1} are missing "
                    "(deleted)", prev)
        if prev_hash != prev:
            return (False, int(row_id),
                    f"audit row {row_id}: does not follow row {row_id - 1} "
                    f"(row {row_id - 1} was edited, or a row was deleted or inserted)", prev)
        try:
            recomputed = row_hash(int(row_id), str(ts), str(event), str(detail), str(prev_hash))
        except (TypeError, ValueError):
            recomputed = ""
        if recomputed != h:
            return (False, int(row_id), f"audit row {row_id}: content was edited "
                    "(its hash does not match)", prev)
        prev = str(h)
        expected_id += 1
    return True, None, f"audit log intact: {len(rows)} rows, last hash {prev[:12]}", prev


class AuditLog:
    """Hash-chained, append-only event log.

    Pass ``conn`` to share a connection (and its transactions) with :class:`History`, which
    then owns the schema; otherwise the log opens ``db_path`` (default: the history
    database). ``read_only`` opens an existing file without writing or creating anything
    (see :func:`connect_read_only`) and refuses a database without an audit table.
    """

    def __init__(self, db_path: Path | None = None, *, conn: sqlite3.Connection | None = None,
                 lock: Any = None, read_only: bool = False) -> None:
        self._own = conn is None
        self._cleanup: Callable[[], None] = _nothing
        self._lock = lock if lock is not None else threading.RLock()
        self.db_path = Path(db_path) if db_path is not None else paths.history_db_path()
        if conn is not None:
            self._conn = conn
        elif read_only:
            self._conn, self._cleanup = connect_read_only(self.db_path, check_same_thread=False)
        else:
            self._conn = connect(self.db_path, check_same_thread=False)
        if not self._own:
            return
        try:
            if read_only:
                if not has_table(self._conn, "audit"):
                    raise AuditError(f"{self.db_path}: no audit log in this database (the wrong "
                                     "file, or its audit table was removed)")
            elif not has_table(self._conn, "audit"):
                retry_busy(lambda: self._in_write_transaction(
                    lambda: create_audit_schema(self._conn)))
        except sqlite3.Error as exc:
            self.close()
            raise AuditError(db_error_message(self.db_path, "cannot create the audit table",
                                              exc)) from None
        except BaseException:
            self.close()
            raise

    def _in_write_transaction(self, fn: Callable[[], T]) -> T:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            out = fn()
            self._conn.execute("COMMIT")
        except BaseException:
            rollback_quietly(self._conn)
            raise
        return out

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
                row_id = self._in_write_transaction(
                    lambda: self.append_in_transaction(event, detail))
        except sqlite3.Error as exc:
            raise AuditError(db_error_message(self.db_path, "cannot append to the audit log",
                                              exc)) from None
        log.debug("audit %s #%d", event, row_id)
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
        """Walk the chain; returns (ok, first broken row id, message).

        The chain only; :func:`..history_verify.verify_history` also checks the database file and
        the screenings, edits and exports against it.
        """
        with self._lock:
            rows = self._conn.execute(CHAIN_SQL).fetchall()
        ok, bad, message, _ = verify_chain(rows)
        return ok, bad, message

    def close(self) -> None:
        """Close the connection if this log opened it (and drop a private read copy)."""
        if self._own:
            self._conn.close()
            self._cleanup()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
