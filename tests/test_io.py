"""Radiograph loading: generated fixtures of every supported kind, and the real shared files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dentalosteo_gui.core.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    RadiographError,
    UnsupportedFormatError,
)
from dentalosteo_gui.core.imaging.dicom import invert_monochrome1, pixel_spacing_from, window_linear
from dentalosteo_gui.core.imaging.imageio import load_radiograph

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _gradient(h: int = 120, w: int = 200, maxval: int = 255) -> np.ndarray:
    x = np.linspace(0, maxval, w)
    return np.tile(x, (h, 1)).round().astype(np.uint16 if maxval > 255 else np.uint8)


# ------------------------------------------------------------------ raster images


def test_png_8bit_gray(tmp_path: Path) -> None:
    p = tmp_path / "g.png"
    Image.fromarray(_gradient()).save(p)
    rad = load_radiograph(p)
    assert (rad.width, rad.height) == (200, 120)
    assert rad.format == "PNG" and rad.bits_stored == 8
    assert rad.pixels.dtype == np.float32
    assert rad.pixels[0, 0] == 0.0 and rad.pixels[0, -1] == pytest.approx(1.0)
    assert rad.pixel_spacing_mm is None and rad.pixel_spacing_source == "none"


def test_png_16bit_keeps_precision(tmp_path: Path) -> None:
    arr = _gradient(maxval=65535)
    p = tmp_path / "g16.png"
    Image.fromarray(arr).save(p)
    rad = load_radiograph(p)
    assert rad.bits_stored == 16
    assert len(np.unique(rad.pixels)) > 190  # not quantised to 8 bit
    assert rad.pixels.max() == pytest.approx(1.0)


def test_png_12bit_in_16bit_container(tmp_path: Path) -> None:
    arr = _gradient(maxval=4095)
    p = tmp_path / "g12.png"
    Image.fromarray(arr).save(p)
    rad = load_radiograph(p)
    assert rad.bits_stored == 12
    assert rad.pixels.max() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA"])
def test_colour_modes_become_gray(tmp_path: Path, mode: str) -> None:
    g = _gradient()
    im = Image.fromarray(g).convert(mode)
    p = tmp_path / f"c_{mode}.png"
    im.save(p)
    rad = load_radiograph(p)
    assert rad.pixels.ndim == 2
    np.testing.assert_allclose(rad.pixels, g / 255.0, atol=0.02)


def test_rgb_jpeg(tmp_path: Path) -> None:
    g = _gradient()
    p = tmp_path / "c.jpg"
    Image.fromarray(np.stack([g, g, g], axis=2)).save(p, quality=95)
    rad = load_radiograph(p)
    assert rad.format == "JPEG" and rad.pixels.ndim == 2
    np.testing.assert_allclose(rad.pixels, g / 255.0, atol=0.05)


@pytest.mark.parametrize("ext,fmt", [(".tif", "TIFF"), (".bmp", "BMP")])
def test_tiff_and_bmp(tmp_path: Path, ext: str, fmt: str) -> None:
    p = tmp_path / f"g{ext}"
    Image.fromarray(_gradient()).save(p)
    rad = load_radiograph(p)
    assert rad.format == fmt and rad.width == 200


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    arr = np.zeros((100, 300), dtype=np.uint8)
    arr[:, :50] = 255  # bright stripe on the left
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif, quality=95)
    rad = load_radiograph(p)
    assert (rad.width, rad.height) == (100, 300)  # displayed upright
    assert rad.pixels[:40, :].mean() > 0.8  # the stripe is now at the top


def test_float_tiff_with_nan(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).random((100, 100)).astype(np.float32)
    arr[5, 5] = np.nan
    arr[6, 6] = np.inf
    p = tmp_path / "f.tif"
    Image.fromarray(arr, mode="F").save(p)
    rad = load_radiograph(p)
    assert np.isfinite(rad.pixels).all()
    assert any("NaN" in w for w in rad.warnings)


# ------------------------------------------------------------------ bad input


def test_truncated_png(tmp_path: Path) -> None:
    p = tmp_path / "t.png"
    Image.fromarray(_gradient(400, 400)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(RadiographError) as ei:
        load_radiograph(p)
    assert "t.png" in str(ei.value) and "truncated" in str(ei.value)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "e.png"
    p.write_bytes(b"")
    with pytest.raises(RadiographError, match="empty"):
        load_radiograph(p)


def test_text_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.png"
    p.write_text("hello, not an image")
    with pytest.raises(UnsupportedFormatError) as ei:
        load_radiograph(p)
    assert "notes.png" in str(ei.value) and "\n" not in str(ei.value)


def test_directory_and_missing(tmp_path: Path) -> None:
    d = tmp_path / "x.png"
    d.mkdir()
    with pytest.raises(RadiographError, match="folder"):
        load_radiograph(d)
    with pytest.raises(RadiographError, match="not found"):
        load_radiograph(tmp_path / "nope.png")


def test_too_small(tmp_path: Path) -> None:
    p = tmp_path / "s.png"
    Image.fromarray(np.zeros((10, 100), np.uint8)).save(p)
    with pytest.raises(ImageTooSmallError, match="64 px"):
        load_radiograph(p)


def test_decompression_bomb_refused_before_allocation(tmp_path: Path) -> None:
    """A PNG header declaring 20000 x 20000 px is refused from the header alone."""
    import struct
    import zlib

    w = h = 20000
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = zlib.compress(b"\x00" * (w + 1) * 4)  # a few rows only
    p = tmp_path / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    with pytest.raises(ImageTooLargeError, match="MP"):
        load_radiograph(p)


# ------------------------------------------------------------------ DICOM (generated)


def _write_dicom(path: Path, arr: np.ndarray, **tags: object) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "PX"
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = "P-123"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    for k, v in tags.items():
        setattr(ds, k, v)
    if "PixelData" not in tags:
        ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_monochrome1_window_and_rescale(tmp_path: Path) -> None:
    arr = np.tile(np.linspace(0, 4000, 128), (100, 1)).astype(np.uint16)
    p = tmp_path / "m1.dcm"
    _write_dicom(
        p, arr, PhotometricInterpretation="MONOCHROME1", RescaleSlope=2, RescaleIntercept=-100,
        WindowCenter=[3900, 1000], WindowWidth=[7800, 200], PixelSpacing=[0.1, 0.1],
    )
    rad = load_radiograph(p)
    assert rad.format == "DICOM" and rad.photometric == "MONOCHROME1"
    assert rad.window == (3900.0, 7800.0)  # first window of several
    # value 0 -> rescaled -100 -> windowed ~0 -> inverted ~1 (MONOCHROME1: low = bright)
    assert rad.pixels[0, 0] > 0.95 and rad.pixels[0, -1] < 0.05
    assert rad.pixel_spacing_mm == pytest.approx(0.1) and rad.pixel_spacing_source == "PixelSpacing"
    assert rad.patient.name == "TEST^PATIENT"
    assert "TEST" not in repr(rad.patient)  # PHI never in repr/log lines


def test_dicom_imager_spacing_corrected_by_magnification(tmp_path: Path) -> None:
    p = tmp_path / "ips.dcm"
    arr = np.zeros((80, 80), np.uint16)
    _write_dicom(p, arr, ImagerPixelSpacing=[0.13, 0.13], EstimatedRadiographicMagnificationFactor=1.3)
    rad = load_radiograph(p)
    assert rad.pixel_spacing_mm == pytest.approx(0.1)
    assert "Magnification" in rad.pixel_spacing_source


def test_dicom_zero_spacing_is_none(tmp_path: Path) -> None:
    p = tmp_path / "z.dcm"
    _write_dicom(p, np.zeros((80, 80), np.uint16), PixelSpacing=[0, 0])
    assert load_radiograph(p).pixel_spacing_mm is None


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    p = tmp_path / "nopix.dcm"
    _write_dicom(p, np.zeros((80, 80), np.uint16))
    import pydicom

    ds = pydicom.dcmread(p)
    del ds.PixelData
    ds.save_as(p)
    with pytest.raises(RadiographError, match="no pixel data"):
        load_radiograph(p)


def test_dicom_without_preamble_is_read_with_force(tmp_path: Path) -> None:
    p = tmp_path / "raw.dcm"
    _write_dicom(p, np.full((80, 90), 1000, np.uint16))
    import pydicom
    from pydicom.filewriter import dcmwrite

    ds = pydicom.dcmread(p)
    del ds.file_meta
    q = tmp_path / "noext"
    ds.preamble = None
    dcmwrite(q, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    data = q.read_bytes()
    assert data[128:132] != b"DICM"
    rad = load_radiograph(q)
    assert (rad.width, rad.height) == (90, 80)


def test_truncated_dicom(tmp_path: Path) -> None:
    p = tmp_path / "t.dcm"
    _write_dicom(p, np.zeros((200, 200), np.uint16))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 30000])
    with pytest.raises(RadiographError) as ei:
        load_radiograph(p)
    assert "t.dcm" in str(ei.value)


def test_multiframe_dicom_first_frame(tmp_path: Path) -> None:
    p = tmp_path / "mf.dcm"
    frames = np.stack([np.full((70, 70), v, np.uint16) for v in (100, 4000)])
    _write_dicom(p, frames[0], NumberOfFrames=2, PixelData=frames.tobytes())
    rad = load_radiograph(p)
    assert any("first frame" in w for w in rad.warnings)
    assert rad.height == 70


def test_window_linear_matches_standard() -> None:
    x = np.array([0.0, 49.5, 100.0, 150.5, 200.0])
    y = window_linear(x, centre=100.0, width=101.0)
    assert y[0] == 0.0 and y[-1] == 1.0
    assert y[2] == pytest.approx(0.5 + 0.5 / 100, abs=1e-6)
    assert np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(invert_monochrome1(np.array([0.0, 0.25, 1.0])), [1.0, 0.75, 0.0])


def test_spacing_absurd_values_rejected() -> None:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.PixelSpacing = [50, 50]
    assert pixel_spacing_from(ds) == (None, "none")


# ------------------------------------------------------------------ real shared files


def _dicom_index() -> list[dict[str, str]]:
    idx = SHARED / "realdata" / "dicom" / "DICOM_INDEX.csv"
    if not idx.exists():
        pytest.skip("../shared/realdata/dicom absent")
    with open(idx, newline="") as fh:
        return list(csv.DictReader(fh))


BROKEN = {"pylibjpeg-data/JPEGExtended/RG2_JPLY.dcm", "pylibjpeg-data/JPEG2000Lossless/966.dcm"}


def _index_ids() -> list[str]:
    idx = SHARED / "realdata" / "dicom" / "DICOM_INDEX.csv"
    if not idx.exists():
        return ["absent"]
    with open(idx, newline="") as fh:
        return [r["path"] for r in csv.DictReader(fh)]


@pytest.mark.realdata
@pytest.mark.parametrize("relpath", _index_ids())
def test_shared_dicom(relpath: str) -> None:
    rows = {r["path"]: r for r in _dicom_index()}
    row = rows[relpath]
    path = SHARED / "realdata" / "dicom" / relpath
    rows_n, cols_n = int(row["rows"]), int(row["cols"])
    if relpath in BROKEN:
        with pytest.raises(RadiographError) as ei:
            load_radiograph(path)
        msg = str(ei.value)
        assert path.name in msg and "\n" not in msg and "decode" in msg
        return
    if min(rows_n, cols_n) < 64:
        with pytest.raises(ImageTooSmallError, match="64 px"):
            load_radiograph(path)
        return
    rad = load_radiograph(path)
    assert (rad.height, rad.width) == (rows_n, cols_n)
    assert rad.photometric == row["photometric"]
    assert rad.pixels.dtype == np.float32 and 0.0 <= rad.pixels.min() and rad.pixels.max() <= 1.0
    assert rad.pixels.std() > 0.05, "image should not be flat after windowing"
    spacing = row["pixel_spacing"].strip("[]\"")
    vals = [float(v) for v in spacing.split(",")] if spacing else []
    if vals and vals[0] > 0:
        assert rad.pixel_spacing_mm == pytest.approx(vals[0], rel=1e-3)
    else:
        assert rad.pixel_spacing_mm is None
    if row["photometric"] == "MONOCHROME1":
        # chest/extremity CR: after inversion the (air) background is dark, so median < mean of top decile
        assert np.median(rad.pixels) < np.percentile(rad.pixels, 90)


@pytest.mark.realdata
def test_shared_abdi_pngs_load() -> None:
    d = SHARED / "realdata" / "abdi_dev" / "images"
    if not d.exists():
        pytest.skip("../shared/realdata/abdi_dev absent")
    files = sorted(d.glob("*.png"))
    assert len(files) >= 20
    for f in files:
        rad = load_radiograph(f)
        assert rad.width > 2000 and rad.height >= 1000
        assert 0.1 < float(rad.pixels.mean()) < 0.9
