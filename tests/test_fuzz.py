"""Fuzz tests (hypothesis) of the loaders and the CSV / landmark JSON parsers.

Contract under test: whatever the bytes, only our own errors escape (``RadiographError`` for
radiographs, ``DatasetError`` for labels.csv, ``ConfigError`` for landmark JSON), each a
single line naming the file; no other exception, no hang (a per-example alarm), no
unbounded allocation (the pixel limit). The settings file: valid settings always, and
anonymisation never weaker than the file asks for.

``FUZZ_EXAMPLES`` sets the examples per target: small by default so ``make test`` stays
fast; ``make fuzz`` runs 20000 per target.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dentalosteo_gui.core.data.dataset import DATASET_COLUMNS, read_dataset
from dentalosteo_gui.core.data.pointsio import load_landmarks, parse_landmarks
from dentalosteo_gui.core.errors import ConfigError, DatasetError, DentalOsteoError, RadiographError
from dentalosteo_gui.core.imaging.imageio import load_radiograph
from dentalosteo_gui.core.system.settings import RULES as SETTING_RULES
from dentalosteo_gui.core.system.settings import load_settings
from dentalosteo_gui.core.types import LANDMARK_NAMES

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
EXAMPLE_TIMEOUT_S = 30  # one example taking longer than this is a hang

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared: wall time per example varies; hangs are caught below
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
    print_blob=True,
)

WORK = Path(tempfile.mkdtemp(prefix="dentalosteo-fuzz-"))


class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds: int = EXAMPLE_TIMEOUT_S) -> Iterator[None]:
    """Fail the example (instead of hanging the suite) when it runs too long."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"example ran over {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _one_line_naming(msg: str, name: str) -> None:
    assert "\n" not in msg, msg
    assert name in msg, msg


# ----------------------------------------------------------------------------- seeds


def _gradient(h: int = 72, w: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx * 2 + yy) % 256).astype(np.uint8)


def _img_bytes(arr: np.ndarray, fmt: str, **kw: Any) -> bytes:
    bio = io.BytesIO()
    Image.fromarray(arr).save(bio, format=fmt, **kw)
    return bio.getvalue()


def _dicom_bytes(arr: np.ndarray, deflate: bool = False, **tags: Any) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian if deflate else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "PX"
    ds.PatientName = "FUZZ^PATIENT"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = 0
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.PixelSpacing = [0.1, 0.1]
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.PixelData = arr.astype(np.uint16).tobytes()
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()


def _seeds() -> dict[str, bytes]:
    g = _gradient()
    g16 = g.astype(np.uint16) * 257
    return {
        "png8.png": _img_bytes(g, "PNG"),
        "png16.png": _img_bytes(g16, "PNG"),
        "rgb.jpg": _img_bytes(np.stack([g, g[::-1], g], -1), "JPEG", quality=80),
        "gray.tif": _img_bytes(g, "TIFF"),
        "float.tif": _img_bytes(g.astype(np.float32) / 255, "TIFF"),
        "gray.bmp": _img_bytes(g, "BMP"),
        "plain.dcm": _dicom_bytes(g16 // 16),
        "deflated.dcm": _dicom_bytes(g16 // 16, deflate=True),
    }


SEEDS = _seeds()


def test_seeds_load() -> None:
    """Every seed is a valid radiograph: the mutations start from something that loads."""
    for name, data in SEEDS.items():
        p = WORK / f"seed-{name}"
        p.write_bytes(data)
        rad = load_radiograph(p)
        assert rad.pixels.shape == (72, 96), name


# ----------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed with byte overwrites (biased to the header), inserts, deletes and a truncation."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    n = len(data)
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["set", "set", "set", "insert", "delete", "int32"]))
        pos = draw(st.one_of(st.integers(0, min(n, 512) - 1), st.integers(0, max(0, len(data) - 1))))
        if pos >= len(data):
            continue
        if kind == "set":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:  # a length/size field turned into an extreme value
            val = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 65535, 2**31 + 7]))
            data[pos : pos + 4] = struct.pack(draw(st.sampled_from(["<I", ">I"])), val)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return name, bytes(data)


@FUZZ
@given(case=mutated(), ext=st.sampled_from(["", ".png", ".dcm", ".jpg", "keep"]))
def test_fuzz_load_radiograph_mutated(case: tuple[str, bytes], ext: str) -> None:
    name, data = case
    suffix = Path(name).suffix if ext == "keep" else ext
    p = WORK / f"mut{suffix}"
    p.write_bytes(data)
    with no_hang():
        try:
            rad = load_radiograph(p)
        except RadiographError as exc:
            _one_line_naming(str(exc), p.name)
            return
    assert rad.pixels.dtype == np.float32 and rad.pixels.ndim == 2
    assert np.isfinite(rad.pixels).all()
    assert 0.0 <= float(rad.pixels.min()) and float(rad.pixels.max()) <= 1.0
    assert rad.width * rad.height <= 100_000_000 and min(rad.width, rad.height) >= 64


# A structure-aware DICOM fuzz: valid files whose header values are hostile.
_DICOM_VALUES: dict[str, Any] = {
    "Rows": st.sampled_from([0, 1, 63, 64, 72, 65535]),
    "Columns": st.sampled_from([0, 1, 64, 96, 65535]),
    "BitsAllocated": st.sampled_from([1, 8, 12, 16, 32, 64]),
    "BitsStored": st.sampled_from([0, 1, 8, 12, 16, 17, 32]),
    "HighBit": st.sampled_from([0, 7, 11, 15, 31]),
    "PixelRepresentation": st.sampled_from([0, 1, 2]),
    "SamplesPerPixel": st.sampled_from([0, 1, 3, 4]),
    "PlanarConfiguration": st.sampled_from([0, 1]),
    "PhotometricInterpretation": st.sampled_from(
        ["MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422", "BOGUS"]),
    "NumberOfFrames": st.sampled_from(["0", "1", "2", "-1", "1000000", "abc", ""]),
    "RescaleSlope": st.sampled_from(["1", "0", "-1", "1e308", "nan", "inf", "abc", ""]),
    "RescaleIntercept": st.sampled_from(["0", "-1024", "1e308", "nan", "", "x"]),
    "WindowCenter": st.sampled_from(["2048", "0", "-1e308", "nan", "inf", "", "1\\2\\3", "abc"]),
    "WindowWidth": st.sampled_from(["4096", "0", "-5", "1", "1e-300", "nan", "", "abc"]),
    "VOILUTFunction": st.sampled_from(["LINEAR", "SIGMOID", "LINEAR_EXACT", "BOGUS", ""]),
    "PixelSpacing": st.sampled_from(["0.1\\0.1", "0\\0", "-1\\-1", "nan\\nan", "1e308", "abc", "", "0.1"]),
    "ImagerPixelSpacing": st.sampled_from(["0.1\\0.1", "0\\0", "nan", "abc"]),
    "EstimatedRadiographicMagnificationFactor": st.sampled_from(["1.1", "0", "-1", "nan", "abc"]),
    "TransferSyntax": st.sampled_from([
        "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5", "1.2.3.4.5"]),
}


@st.composite
def hostile_dicom(draw: st.DrawFn) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = draw(_DICOM_VALUES["TransferSyntax"])
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "PX"
    base = {"Rows": 72, "Columns": 96, "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11,
            "PixelRepresentation": 0, "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2"}
    for k, v in base.items():
        setattr(ds, k, v)
    keys = [k for k in _DICOM_VALUES if k != "TransferSyntax"]
    for k in draw(st.lists(st.sampled_from(keys), max_size=6, unique=True)):
        v = draw(_DICOM_VALUES[k])
        if isinstance(v, str):  # IS/DS text, stored raw so that invalid numbers reach the reader
            from pydicom.datadict import dictionary_VR, tag_for_keyword
            from pydicom.dataelem import RawDataElement
            from pydicom.tag import Tag

            tag = Tag(tag_for_keyword(k))
            raw = v.encode("ascii")
            raw += b" " * (len(raw) % 2)
            ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)
        else:
            setattr(ds, k, v)
    if draw(st.booleans()):
        from pydicom.dataset import Dataset as Item
        from pydicom.sequence import Sequence

        item = Item()
        first = draw(st.sampled_from([0, 10, 4096, 65535]))
        bits = draw(st.sampled_from([8, 12, 16, 0]))
        n = draw(st.sampled_from([0, 1, 2, 256]))
        item.add_new(0x00283002, "US", [n, first, bits])  # LUTDescriptor
        item.add_new(0x00283006, "US", list(range(n)) if n else [0])  # LUTData
        ds.VOILUTSequence = Sequence([item])
    size = draw(st.sampled_from([0, 1, 100, 72 * 96, 72 * 96 * 2, 72 * 96 * 2 * 3, 72 * 96 * 8 + 3]))
    ds.PixelData = (np.arange(size) % 251).astype(np.uint8).tobytes()
    if size % 2:
        ds.PixelData += b"\x00"
    ds.set_original_encoding(False, True)  # write the raw elements as they are
    # The body is always explicit VR little endian; the meta may claim another transfer
    # syntax (a lying header), which dcmwrite would refuse to produce, so write by hand.
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    write_dataset(fp, ds)
    return bytes(fp.getvalue())


@FUZZ
@given(data=hostile_dicom())
def test_fuzz_load_radiograph_hostile_dicom_header(data: bytes) -> None:
    p = WORK / "hostile.dcm"
    p.write_bytes(data)
    with no_hang():
        try:
            rad = load_radiograph(p)
        except RadiographError as exc:
            _one_line_naming(str(exc), p.name)
            return
    assert rad.pixels.dtype == np.float32 and rad.pixels.ndim == 2
    assert np.isfinite(rad.pixels).all()
    assert 0.0 <= float(rad.pixels.min()) and float(rad.pixels.max()) <= 1.0
    assert rad.pixel_spacing_mm is None or (0.005 <= rad.pixel_spacing_mm <= 2.0)


@FUZZ
@given(w=st.integers(1, 2**31 - 1), h=st.integers(1, 2**31 - 1),
       kind=st.sampled_from([(1, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (8, 3), (8, 4), (8, 6), (16, 6)]))
def test_fuzz_png_declared_size(w: int, h: int, kind: tuple[int, int]) -> None:
    """Any declared PNG size: refused by the pixel limit or decoded within it, never a bomb."""
    depth, ctype = kind  # valid (bit depth, colour type) pairs of the PNG standard
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 2048)) + chunk(b"IEND", b"")
    p = WORK / "declared.png"
    p.write_bytes(data)
    with no_hang():
        try:
            load_radiograph(p)
        except RadiographError as exc:
            _one_line_naming(str(exc), p.name)
            if w * h > 100_000_000:
                assert "MP" in str(exc)


# ----------------------------------------------------------------------------- labels.csv

_CELLS = st.one_of(
    st.sampled_from(["", "0", "1", "1.0", "0.0", "2", "-1", "nan", "inf", "-inf", "1e308", "1e-320",
                     "C1", "C2", "C3", "c2", "C4", "img.png", "missing.png", "../img.png", "/etc/passwd",
                     " 1 ", "0.1", "0", "abc", "\"", "\x00", "img.png\x00", "é", "=cmd()", "\n", "\r\n"]),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_COLUMNS = st.one_of(st.sampled_from(DATASET_COLUMNS + ["file", "label", "File", "extra", ""]),
                     st.text(max_size=8))


@st.composite
def labels_csv(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=300))  # anything at all
    cols = draw(st.lists(_COLUMNS, min_size=0, max_size=10))
    if draw(st.booleans()):
        cols = ["file", "label", *cols]
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    lines = [sep.join(cols)]
    for _ in range(draw(st.integers(0, 5))):
        n = len(cols) + draw(st.integers(-2, 2))
        cells = [draw(_CELLS) for _ in range(max(0, n))]
        if cols[:2] == ["file", "label"] and len(cells) >= 2 and draw(st.booleans()):
            cells[0] = draw(st.sampled_from(["img.png", "sub/img2.png", "img.png"]))
            cells[1] = draw(st.sampled_from(["0", "1"]))
        lines.append(sep.join(cells))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


def _dataset_dir() -> Path:
    d = WORK / "ds"
    (d / "sub").mkdir(parents=True, exist_ok=True)
    img = _img_bytes(_gradient(), "PNG")
    for rel in ("img.png", "sub/img2.png"):
        if not (d / rel).exists():
            (d / rel).write_bytes(img)
    return d


@FUZZ
@given(text=labels_csv(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "raw"]),
       raw=st.binary(max_size=200))
def test_fuzz_read_dataset(text: str, encoding: str, raw: bytes) -> None:
    d = _dataset_dir()
    if encoding == "raw":
        data = raw
    else:
        try:
            data = text.encode(encoding, "surrogatepass")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogatepass")
    (d / "labels.csv").write_bytes(data)
    with no_hang():
        try:
            rows = read_dataset(d)
        except DatasetError as exc:
            _one_line_naming(str(exc), "labels.csv")
            return
    assert rows
    for r in rows:
        assert r.file.is_file() and r.label in (0, 1)
        for v in (r.t_score, r.mcw_left_mm, r.mcw_right_mm, r.pixel_spacing_mm):
            assert v is None or math.isfinite(v)


# ----------------------------------------------------------------------------- landmark JSON

_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                       st.text(max_size=10))
_JSON = st.recursive(_JSON_LEAF, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(list(LANDMARK_NAMES) + ["landmarks", "x", "y"])),
                    kids, max_size=6)), max_leaves=20)
_POINT = st.one_of(
    st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)).map(list),
    st.lists(st.one_of(st.integers(min_value=-(10**400), max_value=10**400), st.text(max_size=6), st.none()), max_size=3),
    st.fixed_dictionaries({"x": _JSON_LEAF, "y": _JSON_LEAF}),
    _JSON,
)


@st.composite
def landmark_docs(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(_JSON)
    names = draw(st.lists(st.sampled_from(LANDMARK_NAMES), unique=True,
                          min_size=len(LANDMARK_NAMES) - 1, max_size=len(LANDMARK_NAMES)))
    doc: dict[str, Any] = {n: draw(_POINT) for n in names}
    for k in draw(st.lists(st.text(max_size=6), max_size=2)):
        doc[k] = draw(_JSON)
    return {"landmarks": doc} if draw(st.booleans()) else doc


@FUZZ
@given(doc=landmark_docs())
def test_fuzz_parse_landmarks(doc: Any) -> None:
    with no_hang():
        try:
            out = parse_landmarks(doc, "points.json")
        except ConfigError as exc:
            _one_line_naming(str(exc), "points.json")
            return
    assert set(out) == set(LANDMARK_NAMES)
    for x, y in out.values():
        assert math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0


@FUZZ
@given(doc=landmark_docs(), mode=st.sampled_from(["json", "json", "bytes", "deep", "bigint"]),
       raw=st.binary(max_size=300))
def test_fuzz_load_landmarks_file(doc: Any, mode: str, raw: bytes) -> None:
    p = WORK / "points.json"
    if mode == "json":
        data = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    elif mode == "bytes":
        data = raw
    elif mode == "deep":  # nesting deep enough to exhaust the parser's recursion
        data = b"[" * 100_000 + b"]" * 100_000
    else:  # integers too large for a float
        pt = "[" + "9" * 400 + ", 1]"
        data = ("{" + ", ".join(f'"{n}": {pt}' for n in LANDMARK_NAMES) + "}").encode()
    p.write_bytes(data)
    with no_hang():
        try:
            load_landmarks(p)
        except ConfigError as exc:
            _one_line_naming(str(exc), p.name)


# ----------------------------------------------------------------------------- settings file

_GOOD_SETTINGS: dict[str, list[Any]] = {
    "device": ["auto", "cpu", "gpu", "GPU"], "operating_point": ["balanced", "", " "],
    "default_pixel_spacing_mm": [0.01, 0.1, 1, 1.0, 0.0099, 1.0001, "0.1"],
    "anonymize_exports": [True, False, 0, 1, "false", None],
    "page_size": ["A4", "Letter", "a4"], "gradcam_method": ["gradcam", "gradcam++", "none"],
    "model_dir": ["", "/models/x", "x\x00y"], "recent_files": [[], ["/a.png"], ["/a.png", None]],
    "clinic_name": ["Harbour Dental", "x" * 5000, "\x1b[2J"], "dark_theme": [True, False],
}


@st.composite
def settings_docs(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 5)) == 0:
        return draw(_JSON)
    keys = draw(st.lists(st.one_of(st.sampled_from(sorted(SETTING_RULES)), st.text(max_size=8)),
                         max_size=16))
    return {k: draw(st.one_of(_JSON, st.sampled_from(_GOOD_SETTINGS.get(k, [None])))) for k in keys}


def _may_leave_anonymisation_off(data: bytes) -> bool:
    """Only a readable JSON object that says false (or nothing) may turn it off."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("anonymize_exports", False) is False


@FUZZ
@given(doc=settings_docs(), mode=st.sampled_from(["json", "json", "json", "cut", "bytes", "deep",
                                                   "bigint", "utf16", "bom"]),
       raw=st.binary(max_size=300), cut=st.integers(0, 400))
def test_fuzz_settings_file(doc: Any, mode: str, raw: bytes, cut: int) -> None:
    """Whatever the settings file holds: settings that pass their own validation, only our
    errors (one line), and anonymisation never weaker than the file asks for."""
    p = WORK / "settings.json"
    text = json.dumps(doc, allow_nan=True)
    data = {
        "json": lambda: text.encode("utf-8", "surrogatepass"),
        "cut": lambda: text.encode("utf-8", "surrogatepass")[:cut],
        "bytes": lambda: raw,
        "deep": lambda: b'{"anonymize_exports": false, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        "bigint": lambda: b'{"default_pixel_spacing_mm": ' + b"9" * 5000 + b"}",
        "utf16": lambda: text.encode("utf-16", "surrogatepass"),
        "bom": lambda: b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
    }[mode]()
    p.write_bytes(data)
    with no_hang():
        try:
            s = load_settings(p)
        except DentalOsteoError as exc:
            _one_line_naming(str(exc), p.name)
            return
    s.validate()  # every value obeys its rule
    assert all("\n" not in w and str(p) in w for w in s.load_warnings), s.load_warnings
    if not s.anonymize_exports:
        assert _may_leave_anonymisation_off(data), (mode, data[:200])
    if isinstance(doc, dict) and doc.get("anonymize_exports") is True and mode in ("json", "bom"):
        assert s.anonymize_exports


# ----------------------------------------------------------------------------- CLI contract

_CLI_DRIVER = r"""
import contextlib, io, json, sys
from dentalosteo_gui.cli.main import main
out = []
for args in json.loads(open(sys.argv[1]).read()):
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code
    out.append({"args": args, "rc": rc, "stderr": err.getvalue()})
sys.stdout.write("@@RESULT@@" + json.dumps(out))
"""


def test_fuzz_cli_info_and_screen_contract(tmp_path: Path) -> None:
    """Mutated files through `dentalosteo info` and `screen` in one driver process: exit 0,
    or exit 2 with exactly one stderr line; never a traceback, an internal error (exit 1) or
    stray warnings on stderr. Deterministic mutations (seeded), FUZZ_EXAMPLES // 2 files."""
    import subprocess
    import sys

    rng = np.random.default_rng(20261122)
    names = sorted(SEEDS)
    argvs: list[list[str]] = []
    n_files = max(40, EXAMPLES // 2)
    for i in range(n_files):
        name = names[i % len(names)]
        data = bytearray(SEEDS[name])
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(0, min(len(data), 600) if rng.random() < 0.7 else len(data)))
            data[pos] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            data = data[: int(rng.integers(0, len(data)))]
        p = tmp_path / f"m{i:05d}{Path(name).suffix}"
        p.write_bytes(bytes(data))
        argvs.append(["info", str(p)])
        argvs.append(["screen", str(p), "--json"])
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "settings.json").write_text(json.dumps({"model_dir": str(tmp_path / "no-model")}))  # rule-based
    env = {**os.environ, "DENTALOSTEO_DATA_DIR": str(tmp_path / "data"), "DENTALOSTEO_CONFIG_DIR": str(cfg)}
    calls = tmp_path / "calls.json"
    calls.write_text(json.dumps(argvs))
    r = subprocess.run([sys.executable, "-c", _CLI_DRIVER, str(calls)], capture_output=True, text=True,
                       timeout=max(300, n_files * 4), env=env)
    assert "@@RESULT@@" in r.stdout, f"driver died (rc {r.returncode}): {r.stderr[-3000:]}"
    results = json.loads(r.stdout.split("@@RESULT@@")[-1])
    bad = []
    for res in results:
        lines = res["stderr"].strip().splitlines()
        if res["rc"] == 0 and not lines:
            continue
        if res["rc"] == 2 and len(lines) == 1 and Path(res["args"][1]).name in lines[0]:
            continue
        bad.append(f"{res['args'][0]} {Path(res['args'][1]).name}: rc {res['rc']}, stderr {res['stderr'][-400:]!r}")
    assert not bad, f"{len(bad)} of {len(results)} calls broke the contract:\n" + "\n".join(bad[:10])


# ------------------------------------------------------------------- de-identification (#22)
_TEXT_VR = ("LO", "SH", "LT", "ST", "UT", "PN", "CS", "AE", "UC")


@st.composite
def phi_datasets(draw: st.DrawFn) -> tuple[Any, str]:
    """A DICOM dataset whose identifying attributes (drawn from the PS3.15 table, any nesting
    depth up to 2) carry arbitrary text (control characters, backslashes, non-ASCII, long)
    around a findable marker. Returns (dataset, marker)."""
    from pydicom import datadict
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence

    from dentalosteo_gui.core.records import deid_table

    text_tags = sorted(
        (g << 16) | e for (g, e), action in deid_table.TAGS.items()
        if g not in (0x0000, 0x0002) and ((g << 16) | e) in datadict.DicomDictionary
        and datadict.dictionary_VR((g << 16) | e) in _TEXT_VR and action != "K")
    marker = "ZQ" + draw(st.text(alphabet="ABCDEFGHJK", min_size=6, max_size=6))
    noise = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)

    def fill(ds: Any, n: int) -> None:
        for tag in draw(st.lists(st.sampled_from(text_tags), min_size=1, max_size=n, unique=True)):
            vr = datadict.dictionary_VR(tag)
            value = (draw(noise) + marker + draw(noise)).replace("\\", "/")
            ds.add_new(tag, vr, value if vr != "PN" else value.replace("=", "-"))

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.preamble = (marker.encode() * 20)[:128]
    fill(ds, 30)
    for _ in range(draw(st.integers(0, 2))):  # identifying text inside (nested) sequence items
        item = Dataset()
        fill(item, 5)
        if draw(st.booleans()):
            inner = Dataset()
            fill(inner, 3)
            item.AnatomicRegionSequence = Sequence([inner])
        ds.ReferencedImageSequence = Sequence([*ds.get("ReferencedImageSequence", []), item])
    return ds, marker


@FUZZ
@given(case=phi_datasets(), allowlist=st.booleans(), shift=st.sampled_from([None, 0, -365, 7000]))
def test_fuzz_deidentify_leaves_no_identifying_text(case: tuple[Any, str], allowlist: bool,
                                                    shift: int | None) -> None:
    """Whatever text the identifying attributes hold, at any nesting depth: the written
    de-identified file holds the marker nowhere (not in the preamble either), and it reads
    back as DICOM."""
    import io

    import pydicom

    from dentalosteo_gui.core.records.deidentify import deidentify_dataset

    ds, marker = case
    with no_hang():
        warnings = deidentify_dataset(ds, salt="s" * 40, case_id="CASE-0000000001",
                                      date_shift_days=shift,
                                      **({"mode": "allowlist"} if allowlist else {}))
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=False)
    raw = buf.getvalue()
    assert marker.encode("utf-8") not in raw, "identifying text survived de-identification"
    assert marker.encode("utf-16-le") not in raw
    assert all(isinstance(w, str) and "\n" not in w for w in warnings)
    back = pydicom.dcmread(io.BytesIO(raw), force=True)
    assert str(back.PatientIdentityRemoved) == "YES"
