"""No data loss: SIGKILL mid-batch, atomic exports, full disk and read-only targets.

- ``dentalosteo batch`` killed with SIGKILL after a few rows: the history database passes
  ``PRAGMA integrity_check`` and the audit chain verifies; the batch CSV holds only complete
  rows; running the same command again resumes (skips the done files) and completes with
  exactly one row per file.
- A crash that leaves half a row at the end of the CSV: the resumed run drops it.
- Exports (PDF report, heatmap PNG, raw heatmap) on a full disk (simulated ENOSPC in the
  middle of the write; and, where this machine allows mounting, a real 256 KiB tmpfs) or a
  read-only target: one clear error naming the file, no partial or temporary file left, an
  existing older file untouched.
- The batch CSV on a full disk: a clear error (exit 2), the rows written so far intact.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dentalosteo_gui.core.errors import DentalOsteoError
from dentalosteo_gui.core.screening.batch import CSV_FIELDS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
_EXE = Path(sys.executable).with_name("dentalosteo")
CLI = [str(_EXE)] if _EXE.exists() else [sys.executable, "-c",
                                          "import sys; from dentalosteo_gui.cli.main import main; sys.exit(main())"]


def _env(tmp: Path) -> dict[str, str]:
    """User folders for a subprocess; the engine pinned to rule-based (no model pack): what is
    tested here (history, CSV, atomic files) does not depend on the model, and TensorFlow's
    start would cost ~5-10 s per process."""
    cfg = tmp / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"model_dir": str(tmp / "no-model-pack")}))
    return {**os.environ, "DENTALOSTEO_DATA_DIR": str(tmp / "data"), "DENTALOSTEO_CONFIG_DIR": str(cfg)}


def _phantom_folder(folder: Path, n: int) -> list[Path]:
    """``n`` distinct phantom files (the samples, each with a few bytes of its own)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    srcs = [SAMPLES / f"phantom_c{k}.png" for k in (1, 2, 3)]
    arrs = [np.asarray(Image.open(s).convert("L")) for s in srcs]
    out = []
    for i in range(n):
        a = arrs[i % 3].copy()
        a[0, : i + 1] = 255 - a[0, : i + 1]  # distinct content (distinct hashes)
        p = folder / f"case{i:02d}.png"
        Image.fromarray(a).save(p, compress_level=1)
        out.append(p)
    return out


def _read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _complete(path: Path) -> None:
    """Every CSV line is a whole row: ends in a newline, all columns present."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == CSV_FIELDS
    for r in rows[1:]:
        assert len(r) == len(CSV_FIELDS), r


# ----------------------------------------------------------------------------- SIGKILL


@pytest.mark.timeout(600)
def test_sigkill_mid_batch_then_resume(tmp_path: Path) -> None:
    files = _phantom_folder(tmp_path / "in", 10)
    out = tmp_path / "batch.csv"
    env = _env(tmp_path)
    cmd = [*CLI, "batch", str(tmp_path / "in"), "--csv", str(out), "--quiet", "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    rows_at_kill = 0
    try:
        while time.monotonic() < deadline:
            if out.exists():
                rows_at_kill = max(0, out.read_bytes().count(b"\n") - 1)
                if rows_at_kill >= 3:
                    break
            assert proc.poll() is None, f"batch ended early: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert 3 <= rows_at_kill < len(files), rows_at_kill

    # the history database: intact, in WAL mode, every recorded screening readable
    db = tmp_path / "data" / "history.sqlite3"
    assert db.exists(), "batch recorded nothing in the history"
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        n_hist = con.execute("SELECT COUNT(*) FROM screenings").fetchone()[0]
    finally:
        con.close()
    from dentalosteo_gui.core.records.audit import AuditLog

    with AuditLog(db) as audit:
        ok, bad_row, msg = audit.verify()
    assert ok, msg

    # the CSV: whole rows only, each for a distinct input file
    _complete(out)
    done = _read_rows(out)
    assert len(done) >= 3 and len({r["file"] for r in done}) == len(done)
    assert n_hist >= len(done) - 1  # history is written before the CSV row (at most one behind)

    # rerun: resumes, screens only the rest, ends with one row per file
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resuming: {len(done)} file(s) already" in r.stderr, r.stderr
    _complete(out)
    rows = _read_rows(out)
    assert sorted(row["file"] for row in rows) == sorted(str(f) for f in files)
    assert all(row["error"] == "" for row in rows), [row["error"] for row in rows if row["error"]]
    assert rows[: len(done)] == done  # earlier rows untouched
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_after = con.execute("SELECT COUNT(*) FROM screenings").fetchone()[0]
    finally:
        con.close()
    assert n_after >= len(files)


def test_resume_drops_a_half_written_last_row(tmp_path: Path) -> None:
    """A crash in the middle of a row write leaves a partial line: resuming removes it."""
    from dentalosteo_gui.cli.main import main

    files = _phantom_folder(tmp_path / "in", 3)
    out = tmp_path / "b.csv"
    _env(Path(os.environ["DENTALOSTEO_CONFIG_DIR"]).parent)  # rule-based engine in this process too
    assert main(["batch", str(files[0]), "--csv", str(out), "--quiet"]) == 0
    whole = out.read_bytes()
    out.write_bytes(whole + f"{files[1]},0.5,hi".encode())  # torn write: no newline, few cells
    assert main(["batch", *map(str, files), "--csv", str(out), "--quiet"]) == 0
    _complete(out)
    rows = _read_rows(out)
    assert sorted(r["file"] for r in rows) == sorted(map(str, files))
    assert out.read_bytes().startswith(whole)


# ----------------------------------------------------------------------------- exports


@pytest.fixture(scope="module")
def screened() -> tuple[Any, Any, Any]:
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.screening.engine import Engine

    rad = load_radiograph(SAMPLES / "phantom_c2.png")
    eng = Engine(None, None)  # rule-based; the files written do not depend on the model
    res = eng.screen(rad)
    h, w = rad.pixels.shape  # give the exports a heat map as a model would
    heat = np.zeros((h, w), np.float32)
    heat[h // 2 :, w // 4 : 3 * w // 4] = np.linspace(0.0, 1.0, 3 * w // 4 - w // 4, dtype=np.float32)
    res.heatmap = heat
    return rad, res, eng


def _exporters(screened: tuple[Any, Any, Any]) -> dict[str, Any]:
    from dentalosteo_gui.cli.screen import write_heatmap_png, write_heatmap_raw
    from dentalosteo_gui.core.records.report import write_report

    rad, res, eng = screened
    card = eng.roi_backend.card if eng.roi_backend else None
    return {
        "report.pdf": lambda p: write_report(res, rad, p, model_card=card),
        "heat.png": lambda p: write_heatmap_png(p, rad.pixels, res.heatmap, res.roi),
        "heat.npy": lambda p: write_heatmap_raw(p, res.heatmap, rad.pixels.shape),
    }


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".part"))


class _DiskFullFile:
    """A file object that accepts ``budget`` bytes, writes part of the next chunk, then ENOSPC."""

    def __init__(self, fh: Any, budget: int) -> None:
        self._fh = fh
        self._left = budget

    def write(self, data: Any) -> int:
        b = bytes(data) if not isinstance(data, str) else data
        if len(b) > self._left:
            self._fh.write(b[: self._left])
            self._fh.flush()
            self._left = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= len(b)
        return self._fh.write(b)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _DiskFullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


@pytest.mark.parametrize("name", ["report.pdf", "heat.png", "heat.npy"])
def test_export_on_full_disk_leaves_no_partial_file(name: str, screened: tuple[Any, Any, Any],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dentalosteo_gui.core.system import atomic

    write = _exporters(screened)[name]
    target = tmp_path / name
    target.write_bytes(b"OLD EXPORT")  # an earlier export must survive a failed one
    real_fdopen = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, **k: _DiskFullFile(real_fdopen(fd, *a, **k), 512))
    with pytest.raises(DentalOsteoError) as ei:
        write(target)
    msg = str(ei.value)
    assert name in msg and "disk is full" in msg and "\n" not in msg, msg
    assert target.read_bytes() == b"OLD EXPORT"
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    write(tmp_path / f"new-{name}")  # and the same export works with space available
    assert (tmp_path / f"new-{name}").stat().st_size > 100


def test_export_to_missing_folder_and_read_only_target(screened: tuple[Any, Any, Any], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from dentalosteo_gui.core.system import atomic

    for name, write in _exporters(screened).items():
        missing = tmp_path / "no-such-folder" / name
        with pytest.raises(DentalOsteoError, match="does not exist") as ei:
            write(missing)
        assert "\n" not in str(ei.value)
        assert not missing.parent.exists()

    # read-only target (simulated: root ignores permissions)
    def erofs(*a: Any, **k: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", erofs)
    for name, write in _exporters(screened).items():
        target = tmp_path / name
        with pytest.raises(DentalOsteoError, match="read-only") as ei:
            write(target)
        assert name in str(ei.value) and not target.exists()
    monkeypatch.setattr(atomic.tempfile, "mkstemp", tempfile.mkstemp)
    assert _leftovers(tmp_path) == []


# -- real file systems (tmpfs), where this machine allows mounting ---------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def _fill(mnt: Path, leave: int) -> None:
    """Fill the file system until about ``leave`` bytes are free."""
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    with open(mnt / "filler.bin", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    st = os.statvfs(mnt)
    assert st.f_bavail * st.f_frsize <= leave + st.f_frsize


def test_real_full_disk_tmpfs(small_tmpfs: Path, screened: tuple[Any, Any, Any]) -> None:
    (small_tmpfs / "report.pdf").write_bytes(b"OLD REPORT")
    _fill(small_tmpfs, 8192)
    for name, write in _exporters(screened).items():
        target = small_tmpfs / name
        before = target.read_bytes() if target.exists() else None
        with pytest.raises(DentalOsteoError, match="disk is full") as ei:
            write(target)
        assert name in str(ei.value)
        assert (target.read_bytes() if target.exists() else None) == before
        assert _leftovers(small_tmpfs) == []


def test_real_read_only_tmpfs(small_tmpfs: Path, screened: tuple[Any, Any, Any]) -> None:
    (small_tmpfs / "report.pdf").write_bytes(b"OLD REPORT")
    r = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
    for name, write in _exporters(screened).items():
        with pytest.raises(DentalOsteoError, match="read-only") as ei:
            write(small_tmpfs / name)
        assert name in str(ei.value) and "\n" not in str(ei.value)
    assert (small_tmpfs / "report.pdf").read_bytes() == b"OLD REPORT"
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["report.pdf"]


def test_batch_csv_on_a_real_full_disk(small_tmpfs: Path, tmp_path: Path) -> None:
    """The CSV fills the disk mid-run: exit 2, one clear line, the rows so far intact."""
    files = _phantom_folder(tmp_path / "in", 20)
    out = small_tmpfs / "batch.csv"
    _fill(small_tmpfs, 4096)  # one page: the header and a few rows (~300-700 bytes each)
    r = subprocess.run([*CLI, "batch", *map(str, files), "--csv", str(out), "--quiet"], env=_env(tmp_path),
                       cwd=ROOT, capture_output=True, text=True, timeout=400)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "batch.csv" in last and "disk is full" in last, r.stderr[-2000:]
    data = out.read_bytes()
    lines = data.split(b"\n")
    complete = [ln for ln in lines[1:] if ln.strip()]
    assert complete, "no rows were written before the disk filled"
    # whatever reached the disk is whole rows, except possibly one torn last line, which a
    # resumed run drops (tested above)
    with open(out, newline="", encoding="utf-8") as fh:
        parsed = list(csv.reader(fh))
    assert parsed[0] == CSV_FIELDS
    whole = [row for row in parsed[1:] if len(row) == len(CSV_FIELDS)]
    assert len(whole) >= len(parsed[1:]) - 1


def test_batch_csv_folder_missing_is_a_clear_error(tmp_path: Path) -> None:
    files = _phantom_folder(tmp_path / "in", 1)
    out = tmp_path / "nope" / "b.csv"
    r = subprocess.run([*CLI, "batch", str(files[0]), "--csv", str(out)], env=_env(tmp_path), cwd=ROOT,
                       capture_output=True, text=True, timeout=200)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "b.csv" in lines[0], r.stderr
    assert not out.parent.exists()


def test_batch_bad_targets_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--csv naming a folder, --pdf-dir naming a file: exit 2, one line, nothing written."""
    from dentalosteo_gui.cli.main import main

    _env(Path(os.environ["DENTALOSTEO_CONFIG_DIR"]).parent)
    files = _phantom_folder(tmp_path / "in", 1)
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    for argv, needle in ((["--csv", str(tmp_path)], "is a folder"),
                         (["--csv", str(tmp_path / "b.csv"), "--pdf-dir", str(a_file)], "a file with that name exists")):
        capsys.readouterr()
        assert main(["batch", str(files[0]), "--quiet", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "b.csv").exists()
