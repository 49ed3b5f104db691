"""Screening history: round trip, pseudonyms, CSV, migrations, crash safety (SIGKILL)."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main
from dentalosteo_gui.core.records.deidentify import local_salt, pseudonym
from dentalosteo_gui.core.records.history import SCHEMA_VERSION, History, HistoryError, file_sha256
from dentalosteo_gui.core.types import (
    ModelInfo,
    PatientInfo,
    Radiograph,
    RoiBox,
    ScreeningResult,
    Spacing,
)

REPO = Path(__file__).resolve().parents[1]


def make_pair(pid: str = "P-0042", risk: float | None = 0.66, band: str | None = "intermediate",
              path: str = "/scans/Doe_John.png") -> tuple[ScreeningResult, Radiograph]:
    rad = Radiograph(pixels=np.zeros((50, 80), np.float32), path=path, format="PNG",
                     patient=PatientInfo(name="Doe^John", patient_id=pid, study_date="20260102"))
    res = ScreeningResult(
        path=path, risk=risk, risk_level=band,
        operating_point={"name": "balanced", "threshold": 0.5, "sensitivity": 0.8,
                         "specificity": 0.7},
        klemetti_class="C2", klemetti_probabilities={"C1": 0.2, "C2": 0.6, "C3": 0.2},
        klemetti_rule="C2", klemetti_agree=True, klemetti_evidence={"roughness": 0.3},
        mcw_left_mm=3.1, mcw_right_mm=2.9, spacing=Spacing(0.09, "file"),
        assessable=True, warnings=["w1"], roi=RoiBox(10, 20, 30, 15), roi_confidence=0.8,
        border_right=[(1.0, 2.0)], border_left=[(3.0, 4.0)], landmarks=None,
        attention={"near_border": 0.5}, model=ModelInfo("m", "1", "ab" * 32, "VGG16", "phantom"),
        device="CPU", timings_ms={"total": 5.0},
    )
    return res, rad


def test_round_trip_edits_exports_and_audit(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        assert h.schema_version == SCHEMA_VERSION
        mode = h._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"
        res, rad = make_pair()
        sid = h.record_screening(res, rad, file_sha256="f" * 64,
                                 edits=[{"kind": "roi_moved", "from": [1, 2], "to": [3, 4]}])
        h.record_edit(sid, "spacing_changed", {"from": 0.1, "to": 0.09})
        h.record_export(sid, "pdf", str(tmp_path / "r.pdf"))
        d = h.get(sid)
        assert d["patient_id"] == "P-0042" and not d["pseudonymised"]
        assert d["risk"] == pytest.approx(0.66) and d["band"] == "intermediate"
        assert d["roi"] == {"x": 10, "y": 20, "w": 30, "h": 15}
        assert d["model_sha256"] == "ab" * 32 and d["app_version"]
        assert d["operating_point"]["sensitivity"] == 0.8
        assert d["result"]["klemetti"]["class"] == "C2"
        assert [e["kind"] for e in d["edits"]] == ["roi_moved", "spacing_changed"]
        assert d["edits"][0]["detail"] == {"from": [1, 2], "to": [3, 4]}
        assert [x["kind"] for x in d["exports"]] == ["pdf"]
        # every write appended an audit row: screening + 2 edits + export
        events = [r["event"] for r in reversed(h.audit.rows())]
        assert events == ["screening", "edit", "edit", "export"]
        assert h.audit.verify()[0]
        # no patient name anywhere in the database
        assert b"Doe^John" not in db.read_bytes()
        with pytest.raises(HistoryError, match="no screening #999"):
            h.record_edit(999, "roi_moved", {})
        with pytest.raises(HistoryError, match="no screening #999"):
            h.get(999)


def test_list_filters_by_patient_and_pseudonym(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite3") as h:
        a = h.record_screening(*make_pair("A-1"), file_sha256="1" * 64)
        h.record_screening(*make_pair("B-2"), file_sha256="2" * 64)
        c = h.record_screening(*make_pair("A-1"), file_sha256="3" * 64, anonymize=True)
        assert [r["id"] for r in h.list()] == [3, 2, 1]
        # the anonymised row stores the pseudonym, not the ID, nor the file path/date
        row = h.get(c)
        assert row["patient_id"] == pseudonym("A-1", local_salt()) and row["pseudonymised"]
        assert row["file_path"] == "" and row["study_date"] == "" and row["result"]["path"] == ""
        # the open patient's list finds both the plain and the pseudonymised screenings
        assert sorted(r["id"] for r in h.list("A-1")) == [a, c]
        assert [r["id"] for r in h.list("B-2")] == [2]
        assert h.list("nobody") == []
        assert len(h.list(limit=1)) == 1


def test_csv_export_plain_and_anonymised(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite3") as h:
        sid = h.record_screening(*make_pair("=HYPERLINK(1)"), file_sha256="1" * 64)
        h.record_edit(sid, "roi_moved", {})
        h.record_screening(*make_pair("P-7", risk=None, band=None), file_sha256="2" * 64)
        plain = h.export_csv(tmp_path / "h.csv")
        anon = h.export_csv(tmp_path / "anon.csv", anonymize=True)
        assert [r["event"] for r in h.audit.rows(limit=2)] == ["export", "export"]
    rows = list(csv.DictReader(plain.open()))
    assert len(rows) == 2 and rows[1]["patient_id"].startswith("'=")  # formula neutralised
    assert rows[1]["n_edits"] == "1" and rows[0]["risk"] == "" and rows[1]["risk"] == "0.66"
    assert rows[1]["file_path"] == "/scans/Doe_John.png" and rows[1]["sensitivity"] == "0.8"
    text = anon.read_text()
    assert "P-7" not in text and "HYPERLINK" not in text and "Doe_John" not in text
    assert "20260102" not in text
    arows = list(csv.DictReader(anon.open()))
    assert all(r["patient_id"].startswith("CASE-") and r["pseudonymised"] == "1" for r in arows)


def test_schema_newer_than_app_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    History(db).close()
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(HistoryError, match="newer"):
        History(db)


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match=str(db)):
        History(db)


def test_file_sha256(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(os.urandom(3_000_000))
    assert file_sha256(p) == hashlib.sha256(p.read_bytes()).hexdigest()


WRITER = r"""
import sys
sys.path.insert(0, {repo!r})
from tests.test_history import make_pair
from dentalosteo_gui.core.records.history import History
h = History(__import__("pathlib").Path({db!r}))
i = 0
while True:
    i += 1
    sid = h.record_screening(*make_pair(f"P-{{i % 7}}"), file_sha256=f"{{i:064d}}")
    h.record_edit(sid, "roi_moved", {{"i": i}})
    print(sid, flush=True)
"""


def test_history_survives_sigkill_mid_write(tmp_path: Path) -> None:
    """A writer killed with SIGKILL loses nothing it committed and leaves a sound database."""
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    db = tmp_path / "h.sqlite3"
    code = WRITER.format(repo=str(REPO), db=str(db))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    committed: list[int] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(committed) < 25 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(int(line))
        assert len(committed) >= 25, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-write: the loop never pauses
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with History(db) as h:
        ids = {r["id"] for r in h.list(limit=100_000)}
        assert set(committed) <= ids  # every screening reported committed is there
        ok, bad, msg = h.audit.verify()
        assert ok, msg
        # each screening row has its audit row (one transaction): audit count == writes
        n_s = len(ids)
        n_e = h._conn.execute("SELECT COUNT(*) FROM edits").fetchone()[0]
        n_a = h._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        assert n_a == n_s + n_e
        # and the store still accepts writes
        sid = h.record_screening(*make_pair(), file_sha256="e" * 64)
        assert sid == max(ids) + 1


def test_cli_history_lists_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        h.record_screening(*make_pair("P-1"), file_sha256="1" * 64)
        h.record_screening(*make_pair("P-2", risk=0.9, band="high"), file_sha256="2" * 64)
    assert main(["history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "P-1" in out and "P-2" in out and "high" in out
    assert main(["history", "--db", str(db), "--patient", "P-2", "--anonymize"]) == 0
    out = capsys.readouterr().out
    assert "P-2" not in out and "CASE-" in out and "P-1" not in out
    csv_out = tmp_path / "out.csv"
    assert main(["history", "--db", str(db), "--csv", str(csv_out)]) == 0
    assert len(list(csv.DictReader(csv_out.open()))) == 2
    assert main(["audit", "--db", str(db), "verify"]) == 0


def test_shared_between_threads(tmp_path: Path) -> None:
    """The GUI thread and screening workers may share one History."""
    import threading

    with History(tmp_path / "h.sqlite3") as h:
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for i in range(10):
                    sid = h.record_screening(*make_pair(f"T{k}"), file_sha256=f"{k}{i:063d}")
                    h.record_edit(sid, "roi_moved", {"i": i})
                    h.list(f"T{k}")
                    h.audit.append("viewed", {"k": k, "i": i})
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert len(h.list(limit=1000)) == 40
        assert h.audit.verify()[0] and h.audit.head()[0] == 40 * 3
