"""Issue 22: privacy and integrity fail closed.

Salt (2), settings (3, 14), terminal escapes (4), SIGTERM temporaries (6), ``audit verify``
against the screenings (8), history write failures (9), first-run race (10), read-only
commands on a full or read-only disk (11), deflate bombs (13), unusable folders (14).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.cli.main import main
from dentalosteo_gui.core.errors import ConfigError, RadiographError
from dentalosteo_gui.core.records.audit import canonical_json, row_hash
from dentalosteo_gui.core.records.deidentify import SALT_FILE, local_salt
from dentalosteo_gui.core.records.history import History, HistoryError
from dentalosteo_gui.core.system.settings import Settings, load_settings, save_settings
from tests.test_history import make_pair
from tests.test_io import _write_dicom

ROOT = Path(__file__).resolve().parents[1]
RAW_CONTROLS = [chr(c) for c in range(0x20) if c != 0x0A] + ["\x7f", "\x9b", "\u202e"]


def verify_history(db: Path) -> tuple[bool, str]:
    from dentalosteo_gui.core.records.history_verify import verify_history as verify

    return verify(db)


def _data() -> Path:
    return Path(os.environ["DENTALOSTEO_DATA_DIR"])


def _config() -> Path:
    p = Path(os.environ["DENTALOSTEO_CONFIG_DIR"])
    p.mkdir(parents=True, exist_ok=True)
    return p


def _one_line(text: str) -> str:
    assert text.count("\n") == 1 and text.endswith("\n"), text
    assert "Traceback" not in text
    return text


def _filled_history(db: Path, n: int = 3) -> list[int]:
    with History(db) as h:
        ids = [h.record_screening(*make_pair(f"P-{i}"), file_sha256=f"{i:064d}") for i in range(n)]
        h.record_edit(ids[0], "roi_moved", {"to": [1, 2]})
        h.record_export(ids[-1], "pdf", "/reports/x.pdf")
    return ids


def _sql(db: Path, *statements: str) -> None:
    """What someone with file access does (drops the guard triggers first)."""
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER IF EXISTS audit_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


# ------------------------------------------------------------------- (2) short salt


@pytest.mark.parametrize("content", [b"", b"\n", b"abc123", b"x" * 31, "é".encode() * 40])
def test_short_or_bad_salt_is_refused_not_replaced(content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data()
    data.mkdir(parents=True, exist_ok=True)
    salt = data / SALT_FILE
    salt.write_bytes(content)
    with pytest.raises(ConfigError, match="pseudonym salt") as err:
        local_salt()
    assert str(salt) in str(err.value) and "\n" not in str(err.value)
    with History(data / "h.sqlite3") as h, pytest.raises(ConfigError):
        h.record_screening(*make_pair(), file_sha256="0" * 64, anonymize=True)
    assert salt.read_bytes() == content  # never silently regenerated
    assert main(["history", "--anonymize"]) == 2
    assert str(salt) in _one_line(capsys.readouterr().err)


def test_threads_creating_the_first_salt_at_once_share_one(tmp_path: Path) -> None:
    """The GUI and screening workers may ask for the salt before it exists, at the same time:
    every thread gets the one salt written, none fails (a shared temporary file name made one
    thread link or move a file another had already removed: FileNotFoundError)."""
    import threading

    from dentalosteo_gui.core.records.deidentify import local_salt

    for rep in range(300):
        folder = tmp_path / f"d{rep}"
        got: list[str] = []
        errors: list[BaseException] = []

        def ask(folder: Path = folder, got: list[str] = got, errors: list[BaseException] = errors) -> None:
            try:
                got.append(local_salt(folder))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        assert len(got) == 6 and len(set(got)) == 1
        assert (folder / "pseudonym_salt").read_text().strip() == got[0]
        assert not list(folder.glob("*.tmp")) and not list(folder.glob("*.part"))


def test_good_salt_is_kept() -> None:
    s = local_salt()
    assert len(s) >= 32 and local_salt() == s


# ------------------------------------------------------------------- (3, 14) settings


def _settings_file(content: str | bytes) -> Path:
    p = _config() / "settings.json"
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


@pytest.mark.parametrize("content", [
    '{"anonymize_exports": true, "model_dir": "/models/x"',  # truncated: not JSON
    "[1, 2]", '"text"', b"\xff\xfe\x00garbage", "[" * 200_000 + "]" * 200_000,
    '{"a":' * 200_000 + "1" + "}" * 200_000, "1" * 5000,
])
def test_unreadable_settings_fail_closed(content: str | bytes, capsys: pytest.CaptureFixture[str],
                                         caplog: pytest.LogCaptureFixture) -> None:
    p = _settings_file(content)
    with caplog.at_level(logging.DEBUG, logger="dentalosteo_gui"):
        s = load_settings()
    assert s.anonymize_exports is True  # privacy never weakened
    assert len(s.load_warnings) == 1 and str(p) in s.load_warnings[0]
    err = capsys.readouterr().err
    assert str(p) in err and "anonymised exports ON" in err
    assert all(str(p.parent) not in r.getMessage() for r in caplog.records)  # no path in logs
    s.validate()


def test_unreadable_settings_folder_entry(capsys: pytest.CaptureFixture[str]) -> None:
    (_config() / "settings.json").mkdir()  # a folder where the file should be
    s = load_settings()
    assert s.anonymize_exports and s.load_warnings


def test_bad_values_fall_back_per_key_with_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    p = _settings_file(json.dumps({
        "default_pixel_spacing_mm": "abc", "model_dir": 123, "clinic_name": 12345,
        "device": "cpu", "page_size": "Letter", "anonymize_exports": "yes",
        "recent_files": ["/a.png", 7], "gradcam_method": "none", "operating_point": None,
        "dark_theme": 0, "anonymise_exports": True, "clinic_address": "x\x00y",
    }))
    s = load_settings()
    assert (s.device, s.page_size, s.gradcam_method) == ("cpu", "Letter", "none")  # good ones kept
    assert s.default_pixel_spacing_mm == 0.1 and s.model_dir == "" and s.clinic_name == ""
    assert s.recent_files == [] and s.operating_point == "balanced" and s.dark_theme is True
    assert s.clinic_address == ""
    assert s.anonymize_exports is True  # a bad value fails closed
    assert len(s.load_warnings) == 9
    assert all(w.startswith(f"{p}: ") for w in s.load_warnings)
    assert any("anonymise_exports" in w and "unknown" in w for w in s.load_warnings)
    err = capsys.readouterr().err
    assert err.count("warning: ") == 9 and "Traceback" not in err
    s.validate()
    # a second load in the same process does not repeat the lines on stderr
    load_settings()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", [None, "abc", float("nan"), 5, True, [0.1]])
def test_bad_spacing_does_not_crash_the_cli(value: object, capsys: pytest.CaptureFixture[str]) -> None:
    _settings_file(json.dumps({"default_pixel_spacing_mm": value}))
    assert main(["history"]) == 0
    io_ = capsys.readouterr()
    assert "no screenings recorded" in io_.out and "default_pixel_spacing_mm" in io_.err


def test_valid_settings_round_trip_without_warnings(tmp_path: Path) -> None:
    s = Settings(device="cpu", anonymize_exports=True, clinic_name="Harbour Dental",
                 default_pixel_spacing_mm=0.085, recent_files=["/a.png"])
    s.load_warnings.append("should not be saved")
    path = save_settings(s, tmp_path / "s.json")
    assert "load_warnings" not in json.loads(path.read_text())
    back = load_settings(path)
    assert back == s and back.load_warnings == []
    assert load_settings(tmp_path / "missing.json") == Settings()


def test_save_settings_refuses_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="default_pixel_spacing_mm"):
        save_settings(Settings(default_pixel_spacing_mm=5.0), tmp_path / "s.json")


# ------------------------------------------------------------------- (14) folders


def test_uncreatable_data_folder_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(blocker / "data"))
    assert main(["history"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert str(blocker / "data") in err and "DENTALOSTEO_DATA_DIR" in err


def test_uncreatable_config_folder_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(blocker / "cfg"))
    assert main(["history"]) == 2
    assert "DENTALOSTEO_CONFIG_DIR" in _one_line(capsys.readouterr().err)


def test_user_without_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import pwd

    for var in ("DENTALOSTEO_DATA_DIR", "DENTALOSTEO_CONFIG_DIR", "HOME", "XDG_DATA_HOME",
                "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)  # what os.path.expanduser("~") falls back on
    monkeypatch.chdir(tmp_path)
    assert main(["history"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "no home folder" in err and "DENTALOSTEO_" in err
    assert list(tmp_path.iterdir()) == []  # no "~" folder made in the working directory


def test_home_folder_that_cannot_be_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for var in ("DENTALOSTEO_DATA_DIR", "DENTALOSTEO_CONFIG_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(blocker / "home"))
    assert main(["history"]) == 2
    assert str(blocker / "home") in _one_line(capsys.readouterr().err)


# ------------------------------------------------------------------- (4) terminal escapes

EVIL = {"PatientName": "EVIL\x1b]0;owned\x07^X", "PatientID": "ID\x1b[2J\r\nFAKE-LINE",
        "InstitutionName": "Clinic\x9b31m\u202eevil"}


def _no_raw_controls(text: str) -> None:
    for c in RAW_CONTROLS:
        assert c not in text, (repr(c), text)


def test_safe_text_escapes_controls() -> None:
    from dentalosteo_gui.cli.common import safe_text

    assert safe_text("a\x1b[31mb\r\n\t\x9b\u202e\udc9bz") == "a\\x1b[31mb\\r\\n\\t\\x9b\\u202e\\x9bz"
    assert safe_text("Zoë /scans/Doe John.dcm") == "Zoë /scans/Doe John.dcm"


def test_info_phi_escapes_dicom_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "evil.dcm"
    _write_dicom(p, np.zeros((80, 80), np.uint16), **EVIL)
    assert main(["info", str(p), "--phi"]) == 0
    out = capsys.readouterr().out
    _no_raw_controls(out)
    assert "FAKE-LINE" in out and "\\x1b[2J\\r\\nFAKE-LINE" in out
    assert not any(line.startswith("FAKE-LINE") for line in out.splitlines())
    # JSON keeps the exact value (as \u escapes), never raw controls
    assert main(["info", str(p), "--phi", "--json"]) == 0
    out = capsys.readouterr().out
    _no_raw_controls(out)
    assert json.loads(out)["patient"]["patient_id"] == EVIL["PatientID"]


def test_history_and_audit_show_escape_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        sid = h.record_screening(*make_pair(EVIL["PatientID"]), file_sha256="1" * 64)
        h.record_edit(sid, "roi\x1b[2J", {"note": "\x1b]0;x\x07"})
    for argv in (["history", "--db", str(db)], ["history", "--db", str(db), "--json"],
                 ["audit", "--db", str(db), "show"], ["audit", "--db", str(db), "show", "--json"]):
        assert main(argv) == 0, argv
        _no_raw_controls(capsys.readouterr().out)


def test_error_line_escapes_the_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "x\x1b[2J\nsecond.png")]) == 2
    err = _one_line(capsys.readouterr().err)
    _no_raw_controls(err)


# ------------------------------------------------------------------- (6) SIGTERM

# Runs the CLI with os.fsync of the output's temporary blocking: the .part file is full size
# on disk when "READY" is printed, and SIGTERM then arrives mid-write, deterministically.
SLOW_WRITE = r"""
import os, sys, time
target = sys.argv[1]
real_fsync = os.fsync
def slow_fsync(fd):
    try:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        name = ""
    if name.startswith("." + target + ".") and name.endswith(".part"):
        print("READY", flush=True)
        time.sleep(120)
    return real_fsync(fd)
os.fsync = slow_fsync
from dentalosteo_gui.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _sigterm_mid_write(out: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, out.name, *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", (line, proc.stderr.read() if proc.stderr else "")
        parts = [p for p in out.parent.iterdir() if p.name.endswith(".part")]
        assert parts and parts[0].stat().st_size > 0  # the temporary is there, mid-write
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _rule_based_env(tmp: Path) -> dict[str, str]:
    cfg = tmp / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"model_dir": str(tmp / "no-model-pack")}))
    return {**os.environ, "DENTALOSTEO_DATA_DIR": str(tmp / "data"), "DENTALOSTEO_CONFIG_DIR": str(cfg)}


@pytest.mark.timeout(300)
def test_sigterm_during_deidentify_leaves_no_temporary(tmp_path: Path) -> None:
    src = tmp_path / "in.dcm"
    _write_dicom(src, np.zeros((600, 800), np.uint16))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "anon.dcm"
    r = _sigterm_mid_write(out, ["deidentify", str(src), str(out)], _rule_based_env(tmp_path))
    assert r.returncode == 143, r.stderr
    assert list(out_dir.iterdir()) == [], "temporary (or partial output) left behind"
    assert "Traceback" not in r.stderr


@pytest.mark.timeout(300)
def test_sigterm_during_screen_pdf_leaves_no_temporary(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "report.pdf"
    sample = ROOT / "resources" / "samples" / "phantom_c2.png"
    r = _sigterm_mid_write(out, ["screen", str(sample), "--pdf", str(out)], _rule_based_env(tmp_path))
    assert r.returncode == 143, r.stderr
    assert list(out_dir.iterdir()) == []
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------- (8) audit verify


def _verify(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["audit", "--db", str(db), "verify"])
    io_ = capsys.readouterr()
    return rc, io_.out + io_.err


def test_verify_intact_history_is_read_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    _filled_history(db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    rc, text = _verify(db, capsys)
    assert rc == 0, text
    assert "intact" in text and "3 screenings, 1 edits and 1 exports match" in text
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("tamper, expect", [
    ("UPDATE screenings SET risk=0.01, band='low' WHERE id=2", "screening #2 was changed"),
    ("UPDATE screenings SET patient_id='OTHER' WHERE id=1", "screening #1 was changed"),
    ("UPDATE screenings SET mcw_left_mm=NULL WHERE id=3", "screening #3 was changed"),
    ("DELETE FROM screenings WHERE id=3", "screening #3 (recorded by audit row"),
    ("INSERT INTO screenings (created_utc, file_sha256, assessable, app_version, result_json) "
     "VALUES ('2026', 'f', 1, 'x', '{}')", "screening #4 has no audit record"),
    ("UPDATE edits SET detail='{}' WHERE id=1", "edit #1 was changed"),
    ("DELETE FROM exports", "export #1"),
    ("DROP TABLE screenings", "screenings table is missing"),
    ("DROP TABLE audit", "audit table is missing"),
])
def test_verify_catches_history_tampering(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          tamper: str, expect: str) -> None:
    db = tmp_path / "h.sqlite3"
    _filled_history(db)
    _sql(db, "PRAGMA foreign_keys=OFF", tamper)
    rc, text = _verify(db, capsys)
    assert rc == 3 and expect in text and "BROKEN" in text, text
    _one_line(text)
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    if "DROP TABLE" in tamper:  # verify must not recreate what was removed
        assert tamper.split()[-1] not in tables


def test_verify_catches_legacy_rows_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows recorded before row hashes existed: the fields their audit row kept are compared."""
    db = tmp_path / "h.sqlite3"
    _filled_history(db, 2)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT id, ts_utc, event, detail FROM audit ORDER BY id").fetchall()
    con.close()
    statements, prev = [], "0" * 64
    for rid, ts, event, detail in rows:  # rewrite the chain as the old version wrote it
        d = json.loads(detail)
        d.pop("row_sha256", None)
        d.pop("edit_id", None)
        d.pop("export_id", None)
        dj = canonical_json(d)
        h = row_hash(rid, ts, event, dj, prev)
        statements.append(f"UPDATE audit SET detail='{dj}', prev_hash='{prev}', hash='{h}' WHERE id={rid}")
        prev = h
    _sql(db, *statements)
    assert verify_history(db)[0], verify_history(db)
    _sql(db, "UPDATE screenings SET risk=0.05 WHERE id=1")
    rc, text = _verify(db, capsys)
    assert rc == 3 and "screening #1 was changed" in text


def test_verify_refuses_a_missing_file_and_creates_nothing(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "histroy.sqlite3"
    rc, text = _verify(typo, capsys)
    assert rc == 2 and "no such database" in _one_line(text)
    assert list(tmp_path.iterdir()) == []
    assert main(["history", "--db", str(typo)]) == 2
    assert main(["audit", "--db", str(typo), "show"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_verify_refuses_a_database_without_audit_log(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    rc, text = _verify(other, capsys)
    assert rc == 2 and "no audit log" in text


def test_verify_catches_random_bytes_in_the_middle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        for i in range(60):
            h.record_screening(*make_pair(f"P-{i}"), file_sha256=f"{i:064d}")
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    rc, text = _verify(db, capsys)
    assert rc == 3 and "BROKEN" in text, text
    _one_line(text)


# ------------------------------------------------------------------- (9) write failures


def test_full_database_raises_history_error(tmp_path: Path) -> None:
    """SQLITE_FULL (the page limit stands in for the disk) is a HistoryError naming it."""
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        h.record_screening(*make_pair(), file_sha256="1" * 64)
        pages = h._conn.execute("PRAGMA page_count").fetchone()[0]
        h._conn.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(HistoryError, match="the disk is full") as err:
            for i in range(200):
                h.record_screening(*make_pair(f"Q{i}"), file_sha256=f"{i:064d}")
        assert str(db) in str(err.value) and "move" not in str(err.value)
    assert verify_history(db)[0]


def test_corrupt_history_is_not_recorded_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data()
    data.mkdir(parents=True, exist_ok=True)
    (data / "history.sqlite3").write_bytes(b"garbage, not SQLite " * 400)
    from dentalosteo_gui.cli.common import NotRecordedError, record_screening_or_fail

    res, rad = make_pair()
    img = tmp_path / "img.png"
    img.write_bytes(b"x")
    with pytest.raises(NotRecordedError, match="NOT recorded in the history"):
        record_screening_or_fail(res, rad, anonymize=False, path=img)
    # deidentify: the file is written, the export cannot be recorded: exit 3, one line
    src = tmp_path / "in.dcm"
    _write_dicom(src, np.zeros((80, 80), np.uint16))
    out = tmp_path / "out.dcm"
    assert main(["deidentify", str(src), str(out)]) == 3
    err = capsys.readouterr().err
    assert out.is_file() and "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "NOT recorded" in errors[0] and "damaged" in errors[0], err


# ------------------------------------------------------------------- (10) first-run race

RACER = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_history import make_pair
from dentalosteo_gui.core.records.history import History
db, go, k, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.0002)
with History(db) as h:
    for i in range(n):
        h.record_screening(*make_pair(f"P{{k}}-{{i}}"), file_sha256=f"{{k:02d}}{{i:062d}}")
print("done", flush=True)
"""


@pytest.mark.timeout(300)
def test_four_processes_create_a_new_history_at_once(tmp_path: Path) -> None:
    procs_n, per_proc, rounds = 4, 10, 3
    code = RACER.format(root=str(ROOT))
    for rnd in range(rounds):
        db, go = tmp_path / f"h{rnd}.sqlite3", tmp_path / f"go{rnd}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(go), str(k), str(per_proc)],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for k in range(procs_n)]
        for p in procs:  # barrier: all imported and waiting
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, results, strict=True):
            assert p.returncode == 0 and "done" in out, err[-2000:]
        with History(db, read_only=True) as h:
            assert len(h.list(limit=10_000)) == procs_n * per_proc
        assert verify_history(db)[0]


# ------------------------------------------------------------------- (11) full / read-only disk


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


def _fill_up(folder: Path) -> None:
    with open(folder / "filler.bin", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    assert shutil.disk_usage(folder).free < 4096 * 2


def _read_only_commands_work(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "P-0" in out and "P-2" in out
    rc, text = _verify(db, capsys)
    assert rc == 0 and "intact" in text, text
    assert main(["audit", "--db", str(db), "show"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("tmp_on_full_disk", [False, True])
def test_read_only_commands_on_a_full_disk(tmpfs: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, tmp_on_full_disk: bool) -> None:
    db = tmpfs / "history.sqlite3"
    _filled_history(db)
    _fill_up(tmpfs)
    if tmp_on_full_disk:  # no room for a private copy either: read the file as immutable
        import tempfile

        monkeypatch.setattr(tempfile, "tempdir", str(tmpfs))
    _read_only_commands_work(db, capsys)
    with pytest.raises(HistoryError) as err:  # a write names the real cause
        with History(db) as h:
            h.record_screening(*make_pair(), file_sha256="9" * 64)
    msg = str(err.value)
    assert "the disk is full" in msg and "move" not in msg and "damaged" not in msg, msg


def test_history_full_while_open_is_a_history_error(tmpfs: Path) -> None:
    db = tmpfs / "history.sqlite3"
    with History(db) as h:
        h.record_screening(*make_pair(), file_sha256="1" * 64)
        _fill_up(tmpfs)
        with pytest.raises(HistoryError, match="the disk is full"):
            for i in range(500):
                h.record_screening(*make_pair(f"Q{i}"), file_sha256=f"{i:064d}")


def test_read_only_commands_on_a_read_only_drive(tmpfs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmpfs / "history.sqlite3"
    _filled_history(db)
    r = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
    _read_only_commands_work(db, capsys)
    with pytest.raises(HistoryError, match="read-only") as err:
        History(db)
    assert "move" not in str(err.value)


# ------------------------------------------------------------------- (13) deflate bomb


def _deflated_dicom(path: Path, pixel_bytes: int, rows: int = 64, cols: int = 64) -> int:
    """A deflated DICOM declaring rows x cols 16-bit pixels whose PixelData holds
    ``pixel_bytes`` zero bytes (streamed: the bomb never exists inflated here)."""
    from pydicom.filereader import read_dataset, read_preamble

    from tests.test_fuzz import _dicom_bytes

    raw = _dicom_bytes(np.zeros((rows, cols), np.uint16), deflate=True)
    fp = io.BytesIO(raw)
    read_preamble(fp, True)
    read_dataset(fp, False, True, stop_when=lambda t, v, n: t >> 16 != 2)
    body = zlib.decompress(raw[fp.tell():], -zlib.MAX_WBITS)
    head = body[: body.rindex(b"\xe0\x7f\x10\x00")] + b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", pixel_bytes)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1 << 22)
    with open(path, "wb") as fh:
        fh.write(raw[: fp.tell()] + c.compress(head))
        left = pixel_bytes
        while left:
            fh.write(c.compress(zeros[: min(left, len(zeros))]))
            left -= min(left, len(zeros))
        fh.write(c.flush())
    return path.stat().st_size


def test_deflate_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    from dentalosteo_gui.core.imaging.imageio import load_radiograph

    p = tmp_path / "bomb.dcm"
    size = _deflated_dicom(p, 200_000_000)  # 64 x 64 x 16 bit declared (8 KB), 200 MB inflated
    assert size < 400_000
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(RadiographError, match="decompression bomb") as err:
            load_radiograph(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(p) in str(err.value) and "\n" not in str(err.value)
    assert peak < 32 * 2**20, peak / 2**20
    assert time.perf_counter() - t0 < 10


def test_deflated_dicom_within_its_declared_size_loads(tmp_path: Path) -> None:
    from dentalosteo_gui.core.imaging.imageio import load_radiograph

    p = tmp_path / "ok.dcm"
    _deflated_dicom(p, 200 * 160 * 2, rows=200, cols=160)
    assert load_radiograph(p).pixels.shape == (200, 160)


def test_deflated_header_bomb_is_refused(tmp_path: Path) -> None:
    """No pixel data within 8 MB of inflated header (a huge element before it)."""
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from tests.test_fuzz import _dicom_bytes

    ok = tmp_path / "big-header.dcm"  # 3 MB of text before the pixels: within the limit
    ok.write_bytes(_dicom_bytes(np.zeros((64, 64), np.uint16), deflate=True, TextValue="x" * 3_000_000))
    assert load_radiograph(ok).pixels.shape == (64, 64)
    p = tmp_path / "header-bomb.dcm"
    p.write_bytes(_dicom_bytes(np.zeros((64, 64), np.uint16), deflate=True, TextValue="x" * 12_000_000))
    assert p.stat().st_size < 100_000
    with pytest.raises(RadiographError, match="header") as err:
        load_radiograph(p)
    assert str(p) in str(err.value)
