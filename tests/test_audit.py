"""Tamper-evident audit trail: the hash chain catches edits, deletions and insertions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dentalosteo_gui.cli.main import main
from dentalosteo_gui.core.records.audit import AuditLog, canonical_json, row_hash


def _filled(db: Path, n: int = 6) -> None:
    with AuditLog(db) as log:
        for i in range(n):
            log.append("screening", {"screening_id": i + 1, "risk": 0.1 * i, "band": "low"})


def _tamper(db: Path, sql: str, args: tuple = ()) -> None:
    """What an attacker with file access does: drop the guard triggers, then edit."""
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER IF EXISTS audit_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    con.execute(sql, args)
    con.commit()
    con.close()


def test_chain_verifies_and_rows_link(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _filled(db)
    with AuditLog(db) as log:
        ok, bad, msg = log.verify()
        assert ok and bad is None and "6 rows" in msg
        rows = list(reversed(log.rows()))
        assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
        for prev, cur in zip(rows, rows[1:], strict=False):
            assert cur["prev_hash"] == prev["hash"]
        n, head = log.head()
        assert n == 6 and head == rows[-1]["hash"]


def test_triggers_refuse_update_and_delete(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _filled(db, 2)
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET detail='{}' WHERE id=1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit WHERE id=2")
    con.close()


def test_edited_row_is_named(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _filled(db)
    _tamper(db, "UPDATE audit SET detail=? WHERE id=4",
            (canonical_json({"screening_id": 4, "risk": 0.01, "band": "low"}),))
    with AuditLog(db) as log:
        ok, bad, msg = log.verify()
    assert not ok and bad == 4 and "row 4" in msg and "edited" in msg


def test_edited_row_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _filled(db)
    con = sqlite3.connect(db)
    ts, prev = con.execute("SELECT ts_utc, prev_hash FROM audit WHERE id=3").fetchone()
    con.close()
    detail = canonical_json({"screening_id": 3, "risk": 0.99, "band": "high"})
    _tamper(db, "UPDATE audit SET detail=?, hash=? WHERE id=3",
            (detail, row_hash(3, ts, "screening", detail, prev)))
    with AuditLog(db) as log:
        ok, bad, msg = log.verify()
    assert not ok and bad == 4 and "row 3" in msg


def test_deleted_row_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite3"
    _filled(db)
    _tamper(db, "DELETE FROM audit WHERE id=2")
    with AuditLog(db) as log:
        ok, bad, msg = log.verify()
    assert not ok and bad == 3 and "missing" in msg


def test_cli_audit_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.sqlite3"
    _filled(db)
    assert main(["audit", "--db", str(db), "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    _tamper(db, "UPDATE audit SET event='export' WHERE id=5")
    assert main(["audit", "--db", str(db), "verify"]) == 3
    err = capsys.readouterr().err
    assert "row 5" in err and err.count("\n") == 1
    assert main(["audit", "--db", str(db), "show", "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
