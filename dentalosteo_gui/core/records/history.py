"""Screening history: a local SQLite database (WAL) in the platformdirs data folder.

Each screening row holds when, the file hash, the patient ID (or a pseudonym when
anonymised), ROI/landmarks, the result fields, model sha256 and app version; user edits
(ROI moved, spacing changed) and exports hang off it. Every write also appends a row to the
hash-chained audit log in the same transaction; that audit row carries the sha256 of the
stored row (``row_sha256``), so :func:`verify_history` can check rows and chain against each
other both ways. Patient names and birth dates are NOT stored. The schema is versioned with
``PRAGMA user_version`` and created/migrated on open inside one write transaction (several
processes may open a new file at once). Every failure to read or write is a HistoryError
naming the file and the real cause.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import __version__
from ..errors import DentalOsteoError
from ..system import paths
from ..system.atomic import atomic_write_text
from ..types import Radiograph, ScreeningResult
from .audit import (
    AuditError,
    AuditLog,
    connect,
    connect_read_only,
    create_audit_schema,
    db_error_message,
    has_table,
    retry_busy,
    rollback_quietly,
    script_statements,
    utc_now,
)
from .deidentify import local_salt, pseudonym

log = logging.getLogger(__name__)


class HistoryError(DentalOsteoError):
    """The history database cannot be read or written."""


_V1 = """
CREATE TABLE IF NOT EXISTS screenings (
    id INTEGER PRIMARY KEY,
    created_utc TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_path TEXT NOT NULL DEFAULT '',
    patient_id TEXT NOT NULL DEFAULT '',
    pseudonymised INTEGER NOT NULL DEFAULT 0,
    study_date TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT 'roi',
    roi TEXT,
    landmarks TEXT,
    risk REAL,
    band TEXT,
    operating_point TEXT,
    klemetti_class TEXT,
    klemetti_probabilities TEXT,
    klemetti_rule TEXT,
    klemetti_agree INTEGER,
    mcw_right_mm REAL,
    mcw_left_mm REAL,
    pixel_spacing_mm REAL,
    assumed_spacing INTEGER,
    assessable INTEGER NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    model_name TEXT,
    model_version TEXT,
    model_sha256 TEXT,
    app_version TEXT NOT NULL,
    device TEXT,
    result_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS screenings_patient ON screenings(patient_id, created_utc);
CREATE INDEX IF NOT EXISTS screenings_file ON screenings(file_sha256);
CREATE TABLE IF NOT EXISTS edits (
    id INTEGER PRIMARY KEY,
    screening_id INTEGER NOT NULL REFERENCES screenings(id),
    created_utc TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS edits_screening ON edits(screening_id);
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY,
    screening_id INTEGER REFERENCES screenings(id),
    created_utc TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exports_screening ON exports(screening_id);
"""

# v2 (issue 19): DXA outcomes per patient key (ID, or pseudonym where the screening was
# anonymised) and optional clinical context (age, sex, weight) per screening; core.records.outcomes
_V2 = """
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY,
    created_utc TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    pseudonymised INTEGER NOT NULL DEFAULT 0,
    dxa_date TEXT NOT NULL,
    site TEXT NOT NULL,
    t_score REAL NOT NULL,
    category TEXT NOT NULL,
    category_given INTEGER NOT NULL DEFAULT 0,
    fractures TEXT NOT NULL DEFAULT '[]',
    UNIQUE (patient_id, dxa_date, site)
);
CREATE INDEX IF NOT EXISTS outcomes_patient ON outcomes(patient_id, dxa_date);
CREATE TABLE IF NOT EXISTS clinical (
    id INTEGER PRIMARY KEY,
    screening_id INTEGER NOT NULL REFERENCES screenings(id),
    created_utc TEXT NOT NULL,
    age_years REAL,
    sex TEXT,
    weight_kg REAL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clinical_screening ON clinical(screening_id);
"""

# MIGRATIONS[i] brings a database from user_version i to i + 1. Append, never edit. A new
# column must default to NULL: row hashes leave NULL columns out, so old rows keep theirs.
MIGRATIONS: list[str] = [_V1, _V2]
SCHEMA_VERSION = len(MIGRATIONS)

# table -> (its audit event, the detail key naming the row)
AUDITED_TABLES: dict[str, tuple[str, str]] = {
    "screenings": ("screening", "screening_id"),
    "edits": ("edit", "edit_id"),
    "exports": ("export", "export_id"),
    "outcomes": ("outcome", "outcome_id"),
    "clinical": ("clinical", "clinical_id"),
}
# tables added after v1 -> the schema version that created them (absent before it)
TABLE_SINCE: dict[str, int] = {"outcomes": 2, "clinical": 2}
# what audit rows written before row hashes existed recorded of a screening
LEGACY_SCREENING_FIELDS = ("file_sha256", "patient_id", "pseudonymised", "risk", "band",
                            "klemetti_class", "assessable", "model_sha256", "app_version")

CSV_COLUMNS = [
    "id", "created_utc", "patient_id", "pseudonymised", "study_date", "file_sha256",
    "file_path", "mode", "risk", "band", "operating_point", "threshold", "sensitivity",
    "specificity", "klemetti_class", "klemetti_rule", "klemetti_agree", "mcw_right_mm",
    "mcw_left_mm", "pixel_spacing_mm", "assumed_spacing", "assessable", "warnings",
    "model_name", "model_version", "model_sha256", "app_version", "n_edits", "n_exports",
    # issue 17, from the stored result JSON (empty for older screenings)
    "pmi_left", "pmi_right", "mcw_mm_dentist_left", "mcw_mm_dentist_right", "spacing_source",
    "spacing_profile", "mcw_px_left", "mcw_px_right", "mcw_px_dentist_left", "mcw_px_dentist_right",
]


def _scale_free_cells(result: Any) -> dict[str, Any]:
    """Issue 17's cells of a stored result (its JSON: no column of their own): PMI, the
    dentist's MCW, the spacing's source and profile, MCW in pixels (automatic, dentist's)."""
    r = result if isinstance(result, dict) else {}
    pmi, mcw, px, sp = (r.get(k) or {} for k in ("pmi", "mcw_mm", "mcw_px", "spacing"))
    return {"pmi_left": pmi.get("left"), "pmi_right": pmi.get("right"), "spacing_source": sp.get("source"),
            "mcw_mm_dentist_left": mcw.get("dentist_left"), "mcw_mm_dentist_right": mcw.get("dentist_right"),
            "spacing_profile": sp.get("profile"),
            **{f"mcw_px_{k}": px.get(k) for k in ("left", "right", "dentist_left", "dentist_right")}}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the file to hash it: {exc.strerror}") from None
    return h.hexdigest()


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _storable(text: str) -> str:
    """A str SQLite can store: surrogate escapes become backslash escapes of the bytes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _j(v: Any) -> str | None:
    return None if v is None else json.dumps(v, sort_keys=True, default=str)


def row_digest(row: sqlite3.Row) -> str:
    """sha256 of a stored row (all non-NULL columns, canonical JSON)."""
    doc = {k: row[k] for k in row.keys() if row[k] is not None}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=repr, allow_nan=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _csv_safe(v: Any) -> Any:
    """Stop spreadsheet formula injection through text fields (OWASP CSV injection)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


class History:
    """The screening history store.

    Thread-safe: one connection guarded by a lock, so the GUI thread and screening workers
    may share an instance. Several processes may open the same file (SQLite locking + WAL).
    """

    def __init__(self, db_path: Path | None = None, *, read_only: bool = False) -> None:
        """Open (and create or migrate) the history; ``read_only`` opens an existing one
        without writing or creating anything (for listing and verifying)."""
        self.db_path = Path(db_path) if db_path is not None else paths.history_db_path()
        self.read_only = read_only
        self._lock = threading.RLock()
        self._cleanup: Callable[[], None] = lambda: None
        try:
            if read_only:
                self._conn, self._cleanup = connect_read_only(self.db_path, check_same_thread=False)
            else:
                self._conn = connect(self.db_path, check_same_thread=False)
        except AuditError as exc:
            raise HistoryError(str(exc)) from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._check_schema() if read_only else self._migrate()
        except sqlite3.Error as exc:
            self.close()
            raise HistoryError(db_error_message(self.db_path, "cannot prepare the history",
                                                exc)) from None
        except BaseException:
            self.close()
            raise
        self.audit = AuditLog(self.db_path, conn=self._conn, lock=self._lock)

    # -- schema ------------------------------------------------------------------------
    def _newer_error(self, version: int) -> HistoryError:
        return HistoryError(
            f"{self.db_path}: history schema version {version} is newer than this app "
            f"understands ({SCHEMA_VERSION}); update DentalOsteo")

    def _check_schema(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise self._newer_error(version)
        # an older version reads as it is (later versions only add tables; readers of those
        # check has_table), so listing never needs a write
        if version < 1 or not has_table(self._conn, "screenings"):
            raise HistoryError(f"{self.db_path}: not a DentalOsteo history database, or one "
                               "from an older version (screen once to update it)")

    def _migrate(self) -> None:
        """Create or migrate the schema in ONE write transaction (re-checked inside it), so
        processes opening a new file at the same time neither clash nor lose rows."""
        if self.schema_version == SCHEMA_VERSION and has_table(self._conn, "audit"):
            return
        version = retry_busy(self._migrate_tx)
        if version < SCHEMA_VERSION:
            log.info("history database at schema version %d (was %d)", SCHEMA_VERSION, version)

    def _migrate_tx(self) -> int:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            version = self.schema_version
            if version > SCHEMA_VERSION:
                raise self._newer_error(version)
            for script in MIGRATIONS[version:]:
                for stmt in script_statements(script):
                    self._conn.execute(stmt)
            create_audit_schema(self._conn)
            if version != SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            rollback_quietly(self._conn)
            raise
        return version

    @property
    def schema_version(self) -> int:
        """Current ``PRAGMA user_version``."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # -- writing -----------------------------------------------------------------------
    def _write(self, fn: Any) -> Any:
        with self._lock:
            return self._write_locked(fn)

    def _write_locked(self, fn: Any) -> Any:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn()
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                raise
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(db_error_message(self.db_path, "cannot write the history",
                                                exc)) from None
        return out

    def _stored_digest(self, table: str, row_id: int) -> str:
        """Hash of a row as SQLite stores it (read back inside the writing transaction)."""
        row = self._conn.execute(f"SELECT * FROM {table} WHERE id=?", (row_id,)).fetchone()
        return row_digest(row)

    def patient_key(self, radiograph: Radiograph, anonymize: bool) -> tuple[str, bool]:
        """The patient identifier stored: the ID, or its pseudonym when anonymising."""
        pid = radiograph.patient.patient_id.strip()
        if anonymize and pid:
            return pseudonym(pid, local_salt()), True
        return pid, False

    def record_screening(self, result: ScreeningResult, radiograph: Radiograph, *,
                         file_sha256: str, anonymize: bool = False,
                         edits: list[dict] | None = None) -> int:
        """Store one screening (and the edits made before it); returns its id."""
        pid, pseudo = self.patient_key(radiograph, anonymize)
        rj = result.as_json_dict()
        # enough to reopen the screening and redraw its report (the heat map is not kept)
        rj["border_right"] = [[round(float(x), 2), round(float(y), 2)] for x, y in result.border_right]
        rj["border_left"] = [[round(float(x), 2), round(float(y), 2)] for x, y in result.border_left]
        if result.model is not None:
            rj["model"] = {**(rj.get("model") or {}), "arch": result.model.arch,
                           "source": result.model.source}
        if anonymize:
            rj["path"] = ""
        op = result.operating_point or {}
        model = result.model
        row = {
            "created_utc": utc_now(),
            "file_sha256": file_sha256,
            "file_path": "" if anonymize else (result.path or radiograph.path or ""),
            "patient_id": pid,
            "pseudonymised": int(pseudo),
            "study_date": "" if anonymize else radiograph.patient.study_date,
            "mode": result.mode,
            "roi": _j(result.roi.as_dict() if result.roi else None),
            "landmarks": _j(rj.get("landmarks")),
            "risk": _num(result.risk),
            "band": result.risk_level,
            "operating_point": _j(op),
            "klemetti_class": result.klemetti_class,
            "klemetti_probabilities": _j(result.klemetti_probabilities),
            "klemetti_rule": result.klemetti_rule,
            "klemetti_agree": None if result.klemetti_agree is None else int(result.klemetti_agree),
            "mcw_right_mm": _num(result.mcw_right_mm),
            "mcw_left_mm": _num(result.mcw_left_mm),
            "pixel_spacing_mm": _num(result.pixel_spacing_mm),
            "assumed_spacing": int(bool(result.assumed_spacing)),
            "assessable": int(bool(result.assessable)),
            "warnings": json.dumps(list(result.warnings)),
            "model_name": model.name if model else None,
            "model_version": model.version if model else None,
            "model_sha256": model.sha256 if model else None,
            "app_version": __version__,
            "device": result.device,
            "result_json": json.dumps(rj, default=str),
        }
        # File names that are not valid UTF-8 arrive as surrogate escapes, which SQLite cannot
        # store: keep them readable and exact as backslash escapes of the original bytes.
        row = {k: (_storable(v) if isinstance(v, str) else v) for k, v in row.items()}

        def tx() -> int:
            cols = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            cur = self._conn.execute(f"INSERT INTO screenings ({cols}) VALUES ({marks})",
                                     tuple(row.values()))
            sid = int(cur.lastrowid or 0)
            self.audit.append_in_transaction("screening", {
                "screening_id": sid, "file_sha256": file_sha256, "patient_id": pid,
                "pseudonymised": pseudo, "risk": row["risk"], "band": result.risk_level,
                "klemetti_class": result.klemetti_class, "assessable": bool(result.assessable),
                "model_sha256": row["model_sha256"], "app_version": __version__,
                "row_sha256": self._stored_digest("screenings", sid),
            })
            for e in edits or []:
                self._edit_in_tx(sid, str(e.get("kind", "edit")),
                                 {k: v for k, v in e.items() if k != "kind"})
            return sid

        sid = self._write(tx)
        log.info("history: recorded screening #%d", sid)
        return int(sid)

    def _check_id(self, screening_id: int) -> None:
        r = self._conn.execute("SELECT 1 FROM screenings WHERE id=?", (int(screening_id),)).fetchone()
        if r is None:
            raise HistoryError(f"{self.db_path}: no screening #{screening_id} in the history")

    def _edit_in_tx(self, screening_id: int, kind: str, detail: dict) -> None:
        self._check_id(screening_id)
        cur = self._conn.execute(
            "INSERT INTO edits (screening_id, created_utc, kind, detail) VALUES (?,?,?,?)",
            (int(screening_id), utc_now(), kind, json.dumps(detail, sort_keys=True, default=str)))
        eid = int(cur.lastrowid or 0)
        self.audit.append_in_transaction("edit", {
            "screening_id": int(screening_id), "kind": kind, "detail": detail, "edit_id": eid,
            "row_sha256": self._stored_digest("edits", eid)})

    def record_edit(self, screening_id: int, kind: str, detail: dict) -> None:
        """Record a user edit (e.g. ``roi_moved``, ``spacing_changed``) of a screening."""
        self._write(lambda: self._edit_in_tx(screening_id, kind, detail))

    def record_export(self, screening_id: int | None, kind: str, path: str) -> None:
        """Record an export (``pdf``, ``csv``, ``dicom``...) of a screening (or of the list)."""

        def tx() -> None:
            if screening_id is not None:
                self._check_id(screening_id)
            cur = self._conn.execute(
                "INSERT INTO exports (screening_id, created_utc, kind, path) VALUES (?,?,?,?)",
                (None if screening_id is None else int(screening_id), utc_now(), kind,
                 _storable(str(path))))
            xid = int(cur.lastrowid or 0)
            self.audit.append_in_transaction("export", {
                "screening_id": screening_id, "kind": kind, "file": Path(str(path)).name,
                "export_id": xid, "row_sha256": self._stored_digest("exports", xid)})

        self._write(tx)

    def insert_audited(self, table: str, rows: list[dict[str, Any]], *,
                       detail: Callable[[dict[str, Any]], dict[str, Any]],
                       check: Callable[[], None] | None = None) -> list[int]:
        """Insert ``rows`` into an audited table added after v1 (``outcomes``, ``clinical``)
        in ONE transaction, each with its audit row (``detail(row)`` + the row id and
        ``row_sha256``). ``check`` runs first inside the transaction (e.g. a duplicate
        check) and may raise to write nothing. Returns the new ids."""
        if table not in TABLE_SINCE:
            raise ValueError(f"not an audited table: {table!r}")
        event, key = AUDITED_TABLES[table]

        def tx() -> list[int]:
            if check is not None:
                check()
            ids = []
            for row in rows:
                clean = {k: (_storable(v) if isinstance(v, str) else v) for k, v in row.items()}
                cur = self._conn.execute(
                    f"INSERT INTO {table} ({', '.join(clean)}) VALUES "
                    f"({', '.join('?' for _ in clean)})", tuple(clean.values()))
                rid = int(cur.lastrowid or 0)
                self.audit.append_in_transaction(event, {
                    **detail(clean), key: rid, "row_sha256": self._stored_digest(table, rid)})
                ids.append(rid)
            return ids

        out: list[int] = self._write(tx)
        log.info("history: recorded %d %s row(s)", len(out), table)
        return out

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        """Rows of one SELECT as dicts (for readers of the tables added after v1)."""
        if not sql.lstrip().upper().startswith("SELECT"):
            raise ValueError("query() runs SELECT statements only")
        with self._lock:
            try:
                return [dict(r) for r in self._conn.execute(sql, tuple(args))]
            except sqlite3.Error as exc:
                raise HistoryError(db_error_message(self.db_path, "cannot read the history",
                                                    exc)) from None

    def has_table(self, name: str) -> bool:
        """Whether the open database has table ``name`` (a read-only older one may not)."""
        with self._lock:
            return has_table(self._conn, name)

    # -- reading -----------------------------------------------------------------------
    def _row_dict(self, r: sqlite3.Row) -> dict[str, Any]:
        d = dict(r)
        for k in ("roi", "landmarks", "operating_point", "klemetti_probabilities", "warnings",
                  "result_json"):
            if d.get(k) is not None:
                try:
                    d[k] = json.loads(d[k])
                except ValueError:
                    pass
        for k in ("pseudonymised", "assumed_spacing", "assessable", "klemetti_agree"):
            if d.get(k) is not None:
                d[k] = bool(d[k])
        d["result"] = d.pop("result_json")
        return d

    def list(self, patient_id: str | None = None, limit: int = 500) -> list[dict]:
        """Screenings, newest first; only ``patient_id``'s (ID or pseudonym) when given."""
        sql = ("SELECT s.*, (SELECT COUNT(*) FROM edits e WHERE e.screening_id=s.id) AS n_edits, "
               "(SELECT COUNT(*) FROM exports x WHERE x.screening_id=s.id) AS n_exports "
               "FROM screenings s")
        args: list[Any] = []
        if patient_id:
            pid = patient_id.strip()
            keys = {pid, pseudonym(pid, local_salt())}
            sql += f" WHERE s.patient_id IN ({','.join('?' for _ in keys)})"
            args.extend(sorted(keys))
        sql += " ORDER BY s.id DESC LIMIT ?"
        args.append(int(limit))
        with self._lock:
            return [self._row_dict(r) for r in self._conn.execute(sql, args)]

    def get(self, screening_id: int) -> dict:
        """One screening with its ``edits`` and ``exports`` lists (to reopen it)."""
        with self._lock:
            return self._get_locked(screening_id)

    def _get_locked(self, screening_id: int) -> dict:
        r = self._conn.execute("SELECT * FROM screenings WHERE id=?", (int(screening_id),)).fetchone()
        if r is None:
            raise HistoryError(f"{self.db_path}: no screening #{screening_id} in the history")
        d = self._row_dict(r)
        d["edits"] = [
            {"id": e["id"], "created_utc": e["created_utc"], "kind": e["kind"],
             "detail": json.loads(e["detail"])}
            for e in self._conn.execute(
                "SELECT * FROM edits WHERE screening_id=? ORDER BY id", (int(screening_id),))]
        d["exports"] = [dict(x) for x in self._conn.execute(
            "SELECT id, created_utc, kind, path FROM exports WHERE screening_id=? ORDER BY id",
            (int(screening_id),))]
        return d

    def export_csv(self, out: Path, patient_id: str | None = None, *,
                   anonymize: bool = False, limit: int = 1_000_000) -> Path:
        """Write the (filtered) history as CSV atomically; records the export in the audit.

        With ``anonymize`` patient IDs become pseudonyms and file paths and study dates are
        left out.
        """
        rows = self.list(patient_id, limit=limit)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        salt = local_salt() if anonymize else ""
        for d in rows:
            op = d.get("operating_point") or {}
            pid, pseudo = d["patient_id"], d["pseudonymised"]
            if anonymize and pid and not pseudo:
                pid, pseudo = pseudonym(pid, salt), True
            rec = {
                **{k: d.get(k) for k in CSV_COLUMNS},
                "patient_id": pid,
                "pseudonymised": int(bool(pseudo)),
                "study_date": "" if anonymize else d.get("study_date", ""),
                "file_path": "" if anonymize else d.get("file_path", ""),
                "operating_point": op.get("name", ""), "threshold": op.get("threshold"),
                "sensitivity": op.get("sensitivity"), "specificity": op.get("specificity"),
                "warnings": " | ".join(d.get("warnings") or []),
                **_scale_free_cells(d.get("result")),
            }
            for k in ("pseudonymised", "assumed_spacing", "assessable", "klemetti_agree"):
                if isinstance(rec.get(k), bool):
                    rec[k] = int(rec[k])
            w.writerow(["" if rec[c] is None else _csv_safe(rec[c]) for c in CSV_COLUMNS])
        path = atomic_write_text(Path(out), buf.getvalue())
        self.record_export(None, "csv_anonymised" if anonymize else "csv", str(path))
        log.info("history: exported %d rows to CSV", len(rows))
        return path

    def close(self) -> None:
        """Close the database (checkpoints the WAL; drops a private read copy)."""
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._cleanup()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


