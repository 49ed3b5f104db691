"""Bad-input corpus: every broken file a clinic PC may see gets the documented behaviour.

The corpus is generated here (no committed binaries): zero-byte, truncated PNG/JPEG/DICOM,
wrong extensions, decompression bombs (PNG and DICOM), 1x1 and 10x100000 px images, a
NaN/inf float TIFF, DICOM without pixel data, a DICOM SR, RGB and multi-frame DICOM, a
folder and a named pipe named like an image, random bytes, non-UTF-8 file names and an
unreadable file.

Each case goes through (a) ``load_radiograph``, (b) ``dentalosteo info`` / ``screen`` in a
subprocess, (c) ``dentalosteo batch`` over the whole folder and (d) the GUI's
``open_path``. Expected: a one-line error naming the file (exit 2, one stderr line, a
dialog, a CSV row with the error) or, where loading is legitimately possible, a result
carrying the loader's warning. Never a traceback, a hang or a crash.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dentalosteo_gui.core.errors import RadiographError
from dentalosteo_gui.core.imaging.imageio import load_radiograph

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
PYTHON = sys.executable
_EXE = Path(PYTHON).with_name("dentalosteo")
CLI = [str(_EXE)] if _EXE.exists() else [PYTHON, "-c", "import sys; from dentalosteo_gui.cli.main import main; sys.exit(main())"]
SUBPROCESS_TIMEOUT_S = 240


# ----------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Case:
    """One corpus file and what must happen to it."""

    key: str  # short id for test names
    name: str  # file name (may carry surrogate escapes: non-UTF-8 bytes on disk)
    expect: str  # "error" (clear one-line error) | "warning" (loads, warns) | "ok" (loads)
    reason: str  # regex the error (or the warning) must match, case-insensitive


NON_UTF8_BAD = os.fsdecode(b"pati\xe9nt_truncated.png")  # Latin-1 e-acute: invalid UTF-8
NON_UTF8_OK = os.fsdecode(b"pati\xe9nt_ok.png")

CASES: list[Case] = [
    Case("empty", "empty.png", "error", r"empty \(0 bytes\)"),
    Case("truncated_png", "truncated.png", "error", r"truncat|corrupt|decode"),
    Case("truncated_jpeg", "truncated.jpg", "error", r"truncat|corrupt|decode"),
    Case("truncated_dicom", "truncated.dcm", "error", r"truncat|corrupt|decode"),
    Case("dicom_header_only", "header_only.dcm", "error", r"truncat|corrupt|not a|pixel|rows"),
    Case("dicom_bad_uid", "bad_uid.dcm", "error", r"pixel data|truncat|corrupt|decode|not a"),
    Case("png_named_dcm", "png_named.dcm", "ok", ""),
    Case("dicom_named_png", "dicom_named.png", "ok", ""),
    Case("bomb_png", "bomb.png", "error", r"MP limit"),
    Case("bomb_dicom", "bomb.dcm", "error", r"MP limit"),
    Case("one_pixel", "one_pixel.png", "error", r"under 64 px"),
    Case("strip_10x100000", "strip.png", "error", r"under 64 px"),
    Case("nan_inf_tiff", "nan_inf.tif", "warning", r"non-finite|NaN"),
    Case("dicom_no_pixels", "no_pixels.dcm", "error", r"no pixel data"),
    Case("dicom_sr", "report_sr.dcm", "error", r"no pixel data"),
    Case("dicom_rgb", "rgb.dcm", "warning", r"colour DICOM"),
    Case("dicom_multiframe", "multiframe.dcm", "warning", r"first frame"),
    Case("folder", "folder.png", "error", r"folder"),
    Case("fifo", "pipe.png", "error", r"not a regular file"),
    Case("text_as_png", "text.png", "error", r"not a supported image"),
    Case("random_dcm", "random.dcm", "error", r"not a|corrupt|truncat|decode"),
    Case("non_utf8_bad", NON_UTF8_BAD, "error", r"truncat|corrupt|decode"),
    Case("non_utf8_ok", NON_UTF8_OK, "ok", ""),
    Case("control_png", "control.png", "ok", ""),
]
BY_KEY = {c.key: c for c in CASES}


def phantom_pixels() -> np.ndarray:
    """The shipped demo phantom (uint8, 588 x 1470): realistic enough to be screened."""
    return np.asarray(Image.open(SAMPLES / "phantom_c2.png").convert("L"))


def _png_bytes(arr: np.ndarray) -> bytes:
    bio = io.BytesIO()
    Image.fromarray(arr).save(bio, format="PNG", compress_level=1)
    return bio.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb_bytes(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` px with a few hundred bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def dicom_dataset(arr: np.ndarray, *, name: str = "CORPUS^PATIENT", pid: str = "CORPUS-1",
                  sop_class: str = "1.2.840.10008.5.1.4.1.1.1.1", **tags: Any) -> Any:
    """A minimal DX/PX DICOM dataset holding ``arr`` (uint16 12-bit or (H, W, 3) uint8 RGB)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "PX"
    ds.PatientName = name
    ds.PatientID = pid
    ds.PixelSpacing = [0.1, 0.1]
    if arr.ndim == 3 and arr.shape[-1] == 3:
        ds.Rows, ds.Columns = arr.shape[:2]
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = arr.astype(np.uint8).tobytes()
    else:
        frames = arr if arr.ndim == 3 else arr[None]
        ds.Rows, ds.Columns = frames.shape[1:]
        if frames.shape[0] > 1:
            ds.NumberOfFrames = frames.shape[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = frames.astype(np.uint16).tobytes()
    for k, v in tags.items():
        setattr(ds, k, v)
    return ds


def dicom_bytes(ds: Any) -> bytes:
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()


def build_corpus(folder: Path) -> dict[str, Path]:
    """Write every corpus case into ``folder``; returns key -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    ph = phantom_pixels()
    ph12 = (ph.astype(np.uint16) * 16)
    png = _png_bytes(ph)
    bio = io.BytesIO()
    Image.fromarray(ph).save(bio, format="JPEG", quality=90)
    jpeg = bio.getvalue()
    dcm = dicom_bytes(dicom_dataset(ph12))
    rng = np.random.default_rng(1234)

    out: dict[str, Path] = {}

    def put(key: str, data: bytes) -> None:
        p = folder / BY_KEY[key].name
        p.write_bytes(data)
        out[key] = p

    put("empty", b"")
    put("truncated_png", png[: len(png) // 2])
    put("truncated_jpeg", jpeg[: int(len(jpeg) * 0.4)])
    put("truncated_dicom", dcm[: int(len(dcm) * 0.6)])
    put("dicom_header_only", dcm[:400])
    # a NUL inside the transfer syntax UID: pydicom warns (UserWarning) and misreads the VR;
    # the warnings must not reach stderr (one line) nor the log text (they quote values)
    bad_uid = bytearray(dcm)
    at = bad_uid.find(b"1.2.840.10008.1.2.1")
    bad_uid[at + 3] = 0
    put("dicom_bad_uid", bytes(bad_uid))
    put("png_named_dcm", png)
    put("dicom_named_png", dcm)
    put("bomb_png", png_bomb_bytes())
    bomb = dicom_dataset(np.zeros((8, 8), np.uint16))
    bomb.Rows = bomb.Columns = 60000  # 3600 MP declared, 128 bytes of pixel data
    put("bomb_dicom", dicom_bytes(bomb))
    put("one_pixel", _png_bytes(np.full((1, 1), 128, np.uint8)))
    put("strip_10x100000", _png_bytes(np.tile(np.arange(10, dtype=np.uint8) * 20, (100_000, 1))))
    f = ph.astype(np.float32) / 255.0
    f[10:40, 10:200] = np.nan
    f[50:60, 10:200] = np.inf
    f[60:70, 10:200] = -np.inf
    bio = io.BytesIO()
    Image.fromarray(f, mode="F").save(bio, format="TIFF")
    put("nan_inf_tiff", bio.getvalue())
    nopix = dicom_dataset(np.zeros((80, 80), np.uint16))
    del nopix.PixelData
    put("dicom_no_pixels", dicom_bytes(nopix))
    put("dicom_sr", dicom_bytes(_sr_dataset()))
    put("dicom_rgb", dicom_bytes(dicom_dataset(np.stack([ph, ph, ph], axis=-1))))
    put("dicom_multiframe", dicom_bytes(dicom_dataset(np.stack([ph12, ph12 // 2, ph12 // 4]))))
    d = folder / BY_KEY["folder"].name
    d.mkdir(exist_ok=True)
    out["folder"] = d
    fifo = folder / BY_KEY["fifo"].name
    if not fifo.exists():
        os.mkfifo(fifo)  # a named pipe: open() would block until a writer appears
    out["fifo"] = fifo
    put("text_as_png", b"This is not an image, it is a note about the patient.\n" * 20)
    put("random_dcm", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    put("non_utf8_bad", png[: len(png) // 3])
    put("non_utf8_ok", png)
    put("control_png", png)
    assert set(out) == set(BY_KEY)
    return out


def _sr_dataset() -> Any:
    """A Basic Text SR document: a DICOM file with a report and no image."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sr = "1.2.840.10008.5.1.4.1.1.88.11"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sr
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sr
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.PatientName = "CORPUS^PATIENT"
    ds.ValueType = "CONTAINER"
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.TextValue = "Panoramic radiograph: no findings."
    ds.ContentSequence = Sequence([item])
    return ds


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def _names_file(text: str, p: Path) -> bool:
    """The message names the file (tolerant of how undecodable bytes were rendered)."""
    stem = p.name.split("\udce9")[-1] if "\udce9" in p.name else p.name
    return stem in text


# ----------------------------------------------------------------------------- (a) loader


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_loader(case: Case, corpus: dict[str, Path]) -> None:
    p = corpus[case.key]
    if case.expect == "error":
        with pytest.raises(RadiographError) as ei:
            load_radiograph(p)
        msg = str(ei.value)
        assert "\n" not in msg, msg
        assert _names_file(msg, p), msg
        assert re.search(case.reason, msg, re.I), msg
    else:
        rad = load_radiograph(p)
        assert rad.pixels.dtype == np.float32 and np.isfinite(rad.pixels).all()
        assert 0.0 <= float(rad.pixels.min()) and float(rad.pixels.max()) <= 1.0
        assert rad.width >= 64 and rad.height >= 64
        if case.expect == "warning":
            assert any(re.search(case.reason, w, re.I) for w in rad.warnings), rad.warnings


def test_loader_bomb_allocates_nothing_big(corpus: dict[str, Path]) -> None:
    """The 10^10-px PNG bomb is refused from its header: peak traced memory stays tiny."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(RadiographError):
            load_radiograph(corpus["bomb_png"])
        with pytest.raises(RadiographError):
            load_radiograph(corpus["bomb_dicom"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing a bomb"


def test_unreadable_file_in_process(corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied (simulated: tests run as root) -> one clear error naming the file."""
    import builtins

    from dentalosteo_gui.core.imaging import imageio

    target = corpus["control_png"]
    real_open = builtins.open

    def denying_open(file: Any, *a: Any, **k: Any) -> Any:
        if os.fspath(file) == os.fspath(target):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(imageio, "open", denying_open, raising=False)
    with pytest.raises(RadiographError, match="permission denied") as ei:
        load_radiograph(target)
    assert target.name in str(ei.value)


def _nobody_can_run() -> str:
    if os.geteuid() != 0:
        return "needs root to switch to user nobody"
    if shutil.which("setpriv") is None:
        return "setpriv not installed"
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", PYTHON, "-c",
                        "import dentalosteo_gui"], capture_output=True, timeout=60, cwd=ROOT)
    return "" if r.returncode == 0 else "user nobody cannot run the venv's Python"


def test_unreadable_file_as_nobody_cli() -> None:
    """A real chmod 000 file read by an unprivileged user: CLI exit 2, one line, no traceback."""
    why = _nobody_can_run()
    if why:
        pytest.skip(why)
    base = Path(tempfile.mkdtemp(prefix="dentalosteo-nobody-"))
    try:
        os.chmod(base, 0o777)
        p = base / "locked.png"
        p.write_bytes(_png_bytes(phantom_pixels()))
        os.chmod(p, 0o000)
        env = {**_env(base), "HOME": str(base)}
        os.chmod(base / "config", 0o777)
        os.chmod(base / "config" / "settings.json", 0o644)
        for cmd in (["info", str(p)], ["screen", str(p)]):
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *CLI, *cmd], capture_output=True, text=True,
                               timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=env)
            assert r.returncode == 2, (cmd, r.returncode, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "locked.png" in lines[0] and "permission denied" in lines[0], r.stderr
            assert "Traceback" not in r.stderr + r.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ----------------------------------------------------------------------------- (b) CLI

# One driver process runs `main([...])` for every case (a fresh interpreter per case would
# cost ~2 s each on this machine); a crash of the decoder would still kill the driver and fail
# the test. A few cases also run as fully separate `dentalosteo` processes below.
_DRIVER = r"""
import contextlib, io, json, os, sys
from dentalosteo_gui.cli.main import main
out = []
for args in json.loads(sys.argv[1]):
    args = [os.fsdecode(a.encode("utf-8", "surrogateescape")) for a in args]
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code
    out.append({"rc": rc, "stderr": err.getvalue(), "stdout": std.getvalue()})
sys.stdout.write(json.dumps(out))
"""


def _run_driver(argvs: list[list[str]], env: dict[str, str]) -> list[dict[str, Any]]:
    payload = json.dumps([[a.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
                           for a in argv] for argv in argvs], ensure_ascii=True)
    r = subprocess.run([PYTHON, "-c", _DRIVER, payload], capture_output=True, text=True,
                       timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=env)
    assert r.returncode == 0, f"driver crashed (rc {r.returncode}): {r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    return json.loads(r.stdout)


def _env(tmp: Path) -> dict[str, str]:
    """User folders for a subprocess, with the engine pinned to rule-based (no model pack).

    The loader's behaviour does not depend on the model, and starting TensorFlow in every
    subprocess would cost ~5-10 s each; the model path is covered by test_no_network and
    test_phi_logs.
    """
    cfg = tmp / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text(json.dumps({"model_dir": str(tmp / "no-model-pack")}))
    return {**os.environ, "DENTALOSTEO_DATA_DIR": str(tmp / "data"),
            "DENTALOSTEO_CONFIG_DIR": str(cfg), "PYTHONIOENCODING": "utf-8"}


def test_env_pins_the_rule_based_engine(tmp_path: Path) -> None:
    from dentalosteo_gui.core.system.settings import load_settings

    _env(tmp_path)
    assert load_settings(tmp_path / "config" / "settings.json").model_dir == str(tmp_path / "no-model-pack")


def test_cli_info_and_screen_on_every_case(corpus: dict[str, Path], tmp_path: Path) -> None:
    argvs: list[list[str]] = []
    for case in CASES:
        argvs.append(["info", str(corpus[case.key])])
        argvs.append(["screen", str(corpus[case.key]), "--json"])
    results = _run_driver(argvs, _env(tmp_path))
    failures = []
    for i, case in enumerate(CASES):
        for j, cmd in enumerate(("info", "screen")):
            r = results[2 * i + j]
            p = corpus[case.key]
            text = r["stderr"] + r["stdout"]
            if "Traceback" in text or "internal error" in text:
                failures.append(f"{case.key}/{cmd}: {text[-500:]}")
                continue
            if case.expect == "error":
                lines = r["stderr"].strip().splitlines()
                if r["rc"] != 2 or len(lines) != 1 or not _names_file(lines[0], p):
                    failures.append(f"{case.key}/{cmd}: rc {r['rc']} stderr {r['stderr']!r}")
            else:
                if r["rc"] != 0:
                    failures.append(f"{case.key}/{cmd}: rc {r['rc']} stderr {r['stderr']!r}")
                elif cmd == "screen":
                    d = json.loads(r["stdout"])
                    if case.expect == "warning" and not any(
                            re.search(case.reason, w, re.I) for w in d["warnings"]):
                        failures.append(f"{case.key}/screen: loader warning missing from {d['warnings']}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("key", ["empty", "truncated_dicom", "dicom_sr", "non_utf8_bad"])
def test_cli_real_process_one_line(key: str, corpus: dict[str, Path], tmp_path: Path) -> None:
    """The installed `dentalosteo` entry point itself, one process per call."""
    cmd = CLI
    env = _env(tmp_path)
    env.pop("PYTHONIOENCODING")
    r = subprocess.run([*cmd, "screen", os.fsencode(corpus[key])], capture_output=True,  # type: ignore[list-item]
                       timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=env)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err + r.stdout.decode("utf-8", "replace")


def test_cli_non_utf8_name_screens_with_outputs(corpus: dict[str, Path], tmp_path: Path) -> None:
    """A valid image whose name is not UTF-8: summary line, JSON, heatmap and PDF all work."""
    cmd = CLI
    env = _env(tmp_path)
    # strict UTF-8 stdout, as in a clinic's en_US.UTF-8 locale (C.UTF-8 would be lenient)
    env["PYTHONIOENCODING"] = "utf-8"
    p = os.fsencode(corpus["non_utf8_ok"])
    pdf = tmp_path / "r.pdf"
    heat = tmp_path / "h.png"
    for pre, extra in (([], []), (["-v"], ["--json"]), ([], ["--pdf", str(pdf), "--heatmap", str(heat)])):
        r = subprocess.run([*cmd, *pre, "screen", p, *extra], capture_output=True,  # type: ignore[list-item]
                           timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=env)
        text = (r.stderr + r.stdout).decode("utf-8", "replace")
        assert r.returncode == 0, text
        assert "Traceback" not in text and "Logging error" not in text, text
    assert pdf.stat().st_size > 1000 and heat.stat().st_size > 1000


# ----------------------------------------------------------------------------- (c) batch


def test_batch_over_the_whole_corpus(corpus: dict[str, Path], tmp_path: Path) -> None:
    folder = corpus["control_png"].parent
    out = tmp_path / "batch.csv"
    r = subprocess.run([*CLI, "batch", str(folder), "--csv", str(out),
                        "--quiet", "--workers", "2"], capture_output=True, text=True,
                       timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=_env(tmp_path), errors="replace")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-3000:]
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.DictReader(fh))
    by_name = {Path(row["file"]).name: row for row in rows}
    # a folder or a pipe is not a file: batch never lists it; every real file has one row
    files = [c for c in CASES if c.key not in ("folder", "fifo")]
    assert len(rows) == len(files), sorted(by_name)
    for c in files:
        shown = Path(os.fsdecode(os.fsencode(corpus[c.key]))).name
        row = by_name.get(shown) or next((v for k, v in by_name.items() if _names_file(k, corpus[c.key])), None)
        assert row is not None, (c.key, sorted(by_name))
        if c.expect == "error":
            assert row["error"] and "\n" not in row["error"] and row["risk"] == "", (c.key, row)
            assert "unexpected error" not in row["error"], (c.key, row["error"])
        else:
            assert row["error"] == "", (c.key, row["error"])
            assert row["assessable"] in ("True", "False")
            if c.expect == "warning":
                assert re.search(c.reason, row["warnings"], re.I), (c.key, row)


# ----------------------------------------------------------------------------- (d) GUI


def test_gui_open_path_on_every_case(corpus: dict[str, Path], qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PySide6")
    from PySide6 import QtWidgets

    from dentalosteo_gui.core.screening.engine import Engine
    from dentalosteo_gui.core.system.settings import Settings
    from dentalosteo_gui.gui.mainwindow import MainWindow

    dialogs: list[tuple[str, str, str]] = []

    def fake(kind: str) -> Any:
        def show(parent: Any, title: str, text: str, *a: Any, **k: Any) -> int:
            dialogs.append((kind, title, text))
            return 0
        return staticmethod(show)

    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QtWidgets.QMessageBox, kind, fake(kind))
    engine = Engine(None, None)  # rule-based: loading behaviour does not depend on the model
    win = MainWindow(engine=engine, settings=Settings(), record_history=False)
    qtbot.addWidget(win)
    win.show()
    failures = []
    try:
        for case in CASES:
            if case.key == "folder":
                continue  # a folder opens the batch dialog (tested below)
            dialogs.clear()
            win.session.last_error = ""
            with qtbot.waitSignal(win.screening_done, timeout=60000):
                assert win.open_path(corpus[case.key]) is True
            if case.expect == "error":
                if len(dialogs) != 1 or not _names_file(dialogs[0][2], corpus[case.key]):
                    failures.append(f"{case.key}: dialogs {dialogs}")
                elif "Unexpected error" in dialogs[0][2]:
                    failures.append(f"{case.key}: not a clear error: {dialogs[0][2]}")
            else:
                res = win.session.result
                if dialogs or res is None:
                    failures.append(f"{case.key}: dialogs {dialogs}, result {res}")
                elif case.expect == "warning" and not any(
                        re.search(case.reason, w, re.I) for w in res.warnings):
                    failures.append(f"{case.key}: warning missing from {res.warnings}")
        assert not failures, "\n".join(failures)
        # a folder named like an image: goes to batch, no crash
        dlg = win.open_path(corpus["folder"])
        assert dlg is True
        bd = getattr(win, "batch_dialog", None)
        if bd is not None:
            bd.close()
    finally:
        win.close()


def test_history_records_a_non_utf8_file_name(corpus: dict[str, Path], tmp_path: Path) -> None:
    from dentalosteo_gui.core.records.history import History, file_sha256
    from dentalosteo_gui.core.screening.engine import Engine

    p = corpus["non_utf8_ok"]
    rad = load_radiograph(p)
    res = Engine(None, None).screen(rad)
    with History(tmp_path / "h.sqlite3") as h:
        sid = h.record_screening(res, rad, file_sha256=file_sha256(p))
        assert h.get(sid)["file_sha256"] == file_sha256(p)


@pytest.mark.parametrize("box", [(1469, 587, 5, 5), (1460, 580, 10, 8)])
def test_user_roi_in_the_corner(box: tuple[int, int, int, int]) -> None:
    from dentalosteo_gui.core.errors import DentalOsteoError
    from dentalosteo_gui.core.screening.engine import Engine
    from dentalosteo_gui.core.types import RoiBox

    rad = load_radiograph(SAMPLES / "phantom_c2.png")
    try:
        res = Engine(None, None).screen(rad, roi=RoiBox(*box))
    except DentalOsteoError:
        return
    assert res.roi is not None


def test_headless_job_on_bad_and_non_utf8_files(corpus: dict[str, Path], tmp_path: Path) -> None:
    """`dentalosteo-gui --headless` (what `make run` does without a display): same contract."""
    exe = Path(PYTHON).with_name("dentalosteo-gui")
    cmd = [str(exe)] if exe.exists() else [PYTHON, "-m", "dentalosteo_gui.app"]
    env = _env(tmp_path)  # strict UTF-8 stdout (PYTHONIOENCODING=utf-8)
    r = subprocess.run([*cmd, "--headless", os.fsencode(corpus["non_utf8_ok"]), "--out",  # type: ignore[list-item]
                        str(tmp_path / "h.pdf")], capture_output=True, timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=env)
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0 and "Traceback" not in text, text[-2000:]
    assert (tmp_path / "h.pdf").stat().st_size > 1000
    r = subprocess.run([*cmd, "--headless", str(corpus["dicom_bad_uid"]), "--out", str(tmp_path / "x.pdf")],
                       capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, cwd=ROOT, env=env)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "bad_uid.dcm" in r.stderr, r.stderr
    assert not (tmp_path / "x.pdf").exists()
