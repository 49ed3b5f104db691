"""Issue 22, items 5 and 12: batch CSV cells cannot inject formulas; a resumed batch never
loses a PDF nor writes a row twice; two batches cannot share one CSV."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core.records.history import History
from dentalosteo_gui.core.screening.batch import csv_lock, csv_safe, csv_unsafe

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "phantom_c1.png"


def _rows(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+SUM(A1)", "-1+2", "@cmd", "\tx", "plain"])
def test_csv_safe_round_trip(text: str) -> None:
    safe = csv_safe(text)
    assert safe[:1] not in ("=", "+", "-", "@", "\t")
    assert csv_unsafe(safe) == text


def test_formula_file_names_are_escaped_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "in"
    d.mkdir()
    names = ["=HYPERLINK(1).png", "+SUM(A1).png", "-1+2.png", "@cmd.png"]
    for n in names:
        shutil.copy(SAMPLE, d / n)
    (d / "broken=1.png").write_bytes(b"not an image")
    out = tmp_path / "b.csv"
    assert cli_main(["batch", str(d), "--csv", str(out), "--quiet"]) == 0
    rows = _rows(out)
    assert len(rows) == 5
    for r in rows:
        for col in ("file", "error", "warnings"):
            assert r[col][:1] not in ("=", "+", "-", "@"), (col, r[col])
    assert sum(1 for r in rows if r["error"]) == 1
    # resuming reads the escaped names back: nothing screened twice
    assert cli_main(["batch", str(d), "--csv", str(out), "--quiet"]) == 0
    assert "screened 0, failed 0, skipped 5" in capsys.readouterr().err
    assert len(_rows(out)) == 5


def test_resume_remakes_a_missing_pdf_without_a_second_row(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for n in ("a.png", "b.png"):
        shutil.copy(SAMPLE, d / n)
    out, pdfs = tmp_path / "b.csv", tmp_path / "pdf"
    assert cli_main(["batch", str(d), "--csv", str(out), "--pdf-dir", str(pdfs), "--quiet"]) == 0
    (pdfs / "a-report.pdf").unlink()  # lost (full disk, a kill before the fix, a user)
    assert cli_main(["batch", str(d), "--csv", str(out), "--pdf-dir", str(pdfs), "--quiet"]) == 0
    assert (pdfs / "a-report.pdf").exists()
    files = sorted(Path(r["file"]).name for r in _rows(out))
    assert files == ["a.png", "b.png"]  # one row each
    # --pdf-dir exports are in the history
    import sqlite3

    h = History()
    db = h.db_path
    h.close()
    with sqlite3.connect(db) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM exports").fetchall()]
    assert kinds.count("pdf") == 3


def test_two_batches_cannot_share_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.csv"
    with csv_lock(out):
        code = cli_main(["batch", str(SAMPLE), "--csv", str(out), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another batch is writing" in err[0]
    assert cli_main(["batch", str(SAMPLE), "--csv", str(out), "--quiet"]) == 0
