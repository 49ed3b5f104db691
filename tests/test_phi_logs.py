"""No PHI in logs, and none in anonymised outputs.

A copy of the demo DICOM carries a known patient name, ID and birth date. It is screened
through the CLI with debug logging on (``-v``): ``info`` (with and without ``--phi``),
``screen --pdf`` with and without ``--anonymize``, ``report`` from the saved JSON and from
the history, ``batch --anonymize --pdf-dir`` and ``history --anonymize --csv``. Then:

- no file in the log folder (nor anything the commands wrote to stderr) holds the name,
  its parts, the ID or the birth date;
- the anonymised outputs (PDF text via pdftotext and raw PDF bytes incl. metadata, JSON,
  batch CSV, history CSV) hold none of them either;
- control: the NON-anonymised PDF does show the name (so the search can find it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"

NAME = "ZZTESTNAME^SECRET"
PID = "ZZID-424242"
BIRTH = "19010203"
NEEDLES = ["ZZTESTNAME", "SECRET", PID, BIRTH, "1901-02-03", "03.02.1901", "03/02/1901"]

_DRIVER = r"""
import contextlib, io, json, sys
from dentalosteo_gui.cli.main import main
out = []
for args in json.loads(sys.argv[1]):
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code
    out.append({"args": args, "rc": rc, "stderr": err.getvalue(), "stdout": std.getvalue()})
sys.stdout.write("@@RESULT@@" + json.dumps(out))
"""


def _phi_dicom(path: Path) -> Path:
    import pydicom

    ds = pydicom.dcmread(SAMPLES / "phantom_c2.dcm")
    ds.PatientName = NAME
    ds.PatientID = PID
    ds.PatientBirthDate = BIRTH
    ds.OtherPatientIDs = PID
    ds.save_as(path)
    return path


def _pdf_text(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    r = subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _leaks(text: str) -> list[str]:
    up = text.upper()
    return [n for n in NEEDLES if n.upper() in up]


@pytest.mark.timeout(600)
def test_no_phi_in_logs_or_anonymised_outputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    dcm = _phi_dicom(src / "study.dcm")
    out = tmp_path / "out"
    out.mkdir()
    data = tmp_path / "data"
    env = {**os.environ, "DENTALOSTEO_DATA_DIR": str(data), "DENTALOSTEO_CONFIG_DIR": str(tmp_path / "config")}
    anon_json = out / "anon.json"
    calls: list[list[str]] = [
        ["-v", "info", str(dcm)],
        ["-v", "info", str(dcm), "--phi", "--json"],
        ["-v", "screen", str(dcm), "--json", "--anonymize", "--pdf", str(out / "anon.pdf"),
         "--heatmap", str(out / "anon-heat.png")],
        ["-v", "screen", str(dcm), "--json", "--pdf", str(out / "plain.pdf")],
        ["-v", "batch", str(src), "--csv", str(out / "batch.csv"), "--anonymize", "--pdf-dir", str(out / "pdfs"),
         "--quiet"],
        ["-v", "history", "--anonymize", "--csv", str(out / "history.csv")],
        ["-v", "report", "--history", "2", "--anonymize", "-o", str(out / "from-history.pdf")],
    ]
    r = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(calls)], capture_output=True, text=True,
                       timeout=500, cwd=ROOT, env=env)
    assert "@@RESULT@@" in r.stdout, r.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(r.stdout.split("@@RESULT@@")[-1])
    for res in results:
        assert res["rc"] == 0, (res["args"], res["stderr"][-2000:])
    anon_json.write_text(results[2]["stdout"])
    # the saved anonymised JSON redrawn as a report
    r2 = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(
        [["-v", "report", str(anon_json), "--image", str(dcm), "--anonymize", "-o", str(out / "from-json.pdf")]])],
        capture_output=True, text=True, timeout=200, cwd=ROOT, env=env)
    more = json.loads(r2.stdout.split("@@RESULT@@")[-1])
    assert more[0]["rc"] == 0, more[0]["stderr"][-2000:]
    results += more

    # control: the search finds PHI where it is legitimately shown
    assert "ZZTESTNAME" in results[1]["stdout"]  # info --phi prints the patient block
    plain_pdf_text = _pdf_text(out / "plain.pdf")
    assert "ZZTESTNAME" in plain_pdf_text.upper(), plain_pdf_text[:500]

    # 1) logs: every file in the log folder, and everything the commands wrote to stderr
    log_dir = data / "logs"
    log_files = [p for p in log_dir.rglob("*") if p.is_file()]
    assert log_files and sum(p.stat().st_size for p in log_files) > 0, "nothing was logged"
    debug_lines = sum(p.read_text(errors="replace").count(" DEBUG ") for p in log_files)
    assert debug_lines > 0, "debug logging was not on"
    problems = []
    for p in log_files:
        leaks = _leaks(p.read_bytes().decode("utf-8", "replace"))
        if leaks:
            problems.append(f"log {p.name}: {leaks}")
    for res in results:
        leaks = _leaks(res["stderr"])
        if leaks:
            problems.append(f"stderr of {res['args'][:2]}: {leaks}")

    # 2) anonymised outputs
    anon_pdfs = [out / "anon.pdf", out / "from-history.pdf", out / "from-json.pdf", *sorted((out / "pdfs").glob("*.pdf"))]
    assert len(anon_pdfs) == 4, anon_pdfs
    for pdf in anon_pdfs:
        for where, text in (("text", _pdf_text(pdf)), ("bytes", pdf.read_bytes().decode("latin-1"))):
            leaks = _leaks(text)
            if leaks:
                problems.append(f"{pdf.name} ({where}): {leaks}")
    for name in ("batch.csv", "history.csv"):
        leaks = _leaks((out / name).read_text(errors="replace"))
        if leaks:
            problems.append(f"{name}: {leaks}")
    leaks = _leaks(results[2]["stdout"])
    if leaks:
        problems.append(f"screen --anonymize --json stdout: {leaks}")
    anon = json.loads(results[2]["stdout"])
    assert "study.dcm" not in json.dumps(anon), "anonymised JSON keeps the file name"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("text", [
    "/clinic/patients/Doe John/IM0001: cannot decode DICOM pixel data; re-export it",
    "cannot hash Doe_John_2026.dcm: [Errno 2] No such file",
    r"C:\Users\dr\Patients\Doe^John\pano.JPG: not an image",
    "open failed: Doe/scan 1.png",
])
def test_log_lines_never_carry_file_paths_or_names(text: str) -> None:
    """Clinics name files and folders after patients: the log formatter redacts paths and
    image file names, in messages and in tracebacks, and keeps our own source paths."""
    import io
    import logging

    from dentalosteo_gui.core.system.logsetup import REDACTED, RedactingFormatter, redact

    assert "Doe" not in redact(text) and REDACTED in redact(text)
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("dentalosteo_gui.test_redact")
    log.addHandler(handler)
    try:
        try:
            raise ValueError(text)
        except ValueError:
            log.exception("%s", text)
    finally:
        log.removeHandler(handler)
    out = buf.getvalue()
    assert "Doe" not in out, out
    assert "test_phi_logs.py" in out  # the traceback still says where it happened
    assert redact("engine warmed in 120 ms on CPU; 3/4 done") == "engine warmed in 120 ms on CPU; 3/4 done"
