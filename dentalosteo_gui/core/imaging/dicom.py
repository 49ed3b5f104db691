"""DICOM reading: pure pixel functions in the order the standard fixes.

modality LUT (rescale slope/intercept or Modality LUT Sequence) -> VOI LUT or window
centre/width (first window when several) -> MONOCHROME1 inversion -> float32 [0, 1].
"""

from __future__ import annotations

import io
import logging
import math
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import RadiographError, UnsupportedFormatError
from ..types import PatientInfo, Radiograph
from .pixels import check_size, minmax_unit, rgb_to_gray

log = logging.getLogger(__name__)

SPACING_MIN_MM = 0.005
SPACING_MAX_MM = 2.0

DEFLATED_TS = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
INFLATE_CHUNK = 1 << 20
MAX_HEADER_BYTES = 8 << 20  # metadata before the pixel data, inflated
METADATA_MARGIN = 1 << 20  # elements after the pixel data (padding, signatures)
MAX_INFLATED_BYTES = 1 << 30  # whatever the header declares
_PIXEL_TAGS_FROM = 0x7FE00008  # FloatPixelData, DoubleFloatPixelData, PixelData


def _first(value: Any) -> Any:
    """First value of a possibly multi-valued DICOM element."""
    if value is None:
        return None
    try:
        if isinstance(value, (str, bytes)):
            return value
        seq = list(value)
        return seq[0] if seq else None
    except TypeError:
        return value


def window_linear(x: np.ndarray, centre: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 windowing to [0, 1] (pure function)."""
    f = np.asarray(x, dtype=np.float64)
    fn = (function or "LINEAR").upper()
    if fn == "SIGMOID":
        w = max(float(width), 1e-6)
        return (1.0 / (1.0 + np.exp(-4.0 * (f - centre) / w))).astype(np.float32)
    if fn == "LINEAR_EXACT":
        w = max(float(width), 1e-6)
        out = (f - (centre - w / 2.0)) / w
    else:
        w = max(float(width), 1.0)
        if w <= 1.0:
            return (f > centre - 0.5).astype(np.float32)
        out = (f - (centre - 0.5)) / (w - 1.0) + 0.5
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def invert_monochrome1(x: np.ndarray) -> np.ndarray:
    """MONOCHROME1 shows low values bright: invert a [0, 1] image (pure function)."""
    return (1.0 - np.asarray(x, dtype=np.float32)).astype(np.float32)


def robust_window(x: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """Percentile window used when the file has no usable VOI (pure function)."""
    f = np.asarray(x, dtype=np.float64)
    lo, hi = np.percentile(f, [lo_pct, hi_pct])
    if hi <= lo:
        return minmax_unit(f)
    return np.clip((f - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def magnification_from(ds: Any, source: str) -> float | None:
    """The EstimatedRadiographicMagnificationFactor divided out of ImagerPixelSpacing (None
    when none was: PixelSpacing is already in the patient plane, PS3.3 C.8.11.4/C.7.6.3)."""
    if not source.endswith("EstimatedRadiographicMagnificationFactor"):
        return None
    try:
        return float(ds.get("EstimatedRadiographicMagnificationFactor"))
    except (TypeError, ValueError):
        return None


def pixel_spacing_from(ds: Any) -> tuple[float | None, str]:
    """PixelSpacing (the patient plane: used as is, never corrected again), else
    ImagerPixelSpacing (the detector plane) divided by EstimatedRadiographicMagnificationFactor
    when the file gives one; ImagerPixelSpacing alone is at the detector (source says so)."""

    def valid(v: Any) -> float | None:
        try:
            vals = [float(t) for t in (v if isinstance(v, (list, tuple)) or hasattr(v, "__iter__") and not isinstance(v, str) else [v])]
        except (TypeError, ValueError):
            return None
        vals = [t for t in vals if math.isfinite(t)]
        if not vals:
            return None
        # Row and column spacing; use their mean (panoramic detectors are square).
        s = float(np.mean(vals[:2]))
        if not (SPACING_MIN_MM <= s <= SPACING_MAX_MM):
            return None
        return s

    ps = valid(ds.get("PixelSpacing")) if "PixelSpacing" in ds else None
    if ps is not None:
        return ps, "PixelSpacing"
    if "ImagerPixelSpacing" in ds:
        ips = valid(ds.get("ImagerPixelSpacing"))
        if ips is not None:
            mag = ds.get("EstimatedRadiographicMagnificationFactor")
            try:
                magf = float(mag) if mag is not None else None
            except (TypeError, ValueError):
                magf = None
            if magf and 0.5 < magf < 5.0:
                return ips / magf, "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
            return ips, "ImagerPixelSpacing"
    return None, "none"


def patient_from(ds: Any) -> PatientInfo:
    def s(tag: str) -> str:
        v = ds.get(tag)
        return "" if v is None else str(v)

    return PatientInfo(
        name=s("PatientName"),
        patient_id=s("PatientID"),
        birth_date=s("PatientBirthDate"),
        sex=s("PatientSex"),
        study_date=s("StudyDate"),
        institution=s("InstitutionName"),
        manufacturer=s("Manufacturer"),
        model=s("ManufacturerModelName"),
    )


def _read_meta_end(fh: BinaryIO) -> tuple[str, int]:
    """(transfer syntax UID, offset where the data set starts) from the file meta group."""
    from pydicom.filereader import read_dataset, read_preamble

    read_preamble(fh, True)  # positioned after "DICM", or at 0 without a preamble
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = read_dataset(fh, is_implicit_VR=False, is_little_endian=True,
                            stop_when=lambda tag, vr, length: tag >> 16 != 2)
    return str(meta.get("TransferSyntaxUID", "") or "").strip("\x00 "), fh.tell()


def _inflate(fh: BinaryIO) -> Iterator[bytes]:
    """The raw-deflate stream from ``fh`` inflated in chunks of at most INFLATE_CHUNK bytes."""
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    pending = b""
    while not d.eof:
        if not pending:
            pending = fh.read(INFLATE_CHUNK)
            if not pending:
                return
        out = d.decompress(pending, INFLATE_CHUNK)
        pending = d.unconsumed_tail
        if out:
            yield out


def _declared_limit(path: Path, head: bytes) -> int | None:
    """Inflated bytes the header allows (header + declared pixels + margin); None until
    ``head`` reaches the pixel data."""
    from pydicom.filereader import read_dataset

    where: list[int] = []
    fp = io.BytesIO(head)

    def at_pixels(tag: Any, vr: Any, length: int) -> bool:
        if tag >= _PIXEL_TAGS_FROM:
            where.append(fp.tell())
            return True
        return False

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dataset(fp, is_implicit_VR=False, is_little_endian=True, stop_when=at_pixels)
    if not where:
        return None

    def num(keyword: str, default: int, lo: int, hi: int) -> int:
        try:
            v = int(str(_first(ds.get(keyword)) or default).strip())
        except (TypeError, ValueError):
            v = default
        return min(max(v, lo), hi)

    rows, cols = num("Rows", 0, 0, 65535), num("Columns", 0, 0, 65535)
    if rows and cols:
        check_size(path, cols, rows)
    pixels = (rows * cols * num("SamplesPerPixel", 1, 1, 4) * num("NumberOfFrames", 1, 1, 1 << 20)
              * num("BitsAllocated", 16, 1, 64) + 7) // 8
    return min(where[0] + pixels + METADATA_MARGIN, MAX_INFLATED_BYTES)


def check_deflate_bomb(path: Path) -> None:
    """Refuse a deflated DICOM whose data set inflates beyond what its header declares.

    pydicom inflates the whole data set in memory before anything can be checked (2.3 MB
    can become 1.5 GB). Here the stream is inflated chunk by chunk and only counted: the
    header (up to the pixel data) gives Rows x Columns x SamplesPerPixel x BitsAllocated x
    frames; beyond that plus the header and METADATA_MARGIN the file is refused. Other
    transfer syntaxes return at once.
    """
    try:
        with open(path, "rb") as fh:
            try:
                ts, _ = _read_meta_end(fh)
            except Exception:  # noqa: BLE001 - no readable file meta: pydicom says why next
                return
            if ts == DEFLATED_TS:
                _count_inflated(path, fh)
    except OSError:
        return  # unreadable: the reader reports it


def _count_inflated(path: Path, fh: BinaryIO) -> None:
    head = bytearray()
    limit: int | None = None
    total = 0
    try:
        for chunk in _inflate(fh):
            total += len(chunk)
            if limit is None:
                head += chunk
                limit = _declared_limit(path, bytes(head))
                if limit is None and len(head) > MAX_HEADER_BYTES:
                    raise RadiographError(path, "deflated DICOM whose header (before the pixel "
                                          f"data) inflates beyond {MAX_HEADER_BYTES >> 20} MB: "
                                          "refused as a possible decompression bomb")
                if limit is not None:
                    head = bytearray()
            if limit is not None and total > limit:
                raise RadiographError(path, "deflated DICOM inflates beyond the size its header "
                                      f"declares ({limit / 1e6:.1f} MB): refused as a possible "
                                      "decompression bomb", "re-export the image uncompressed")
    except RadiographError:
        raise
    except zlib.error:
        raise RadiographError(path, "truncated or corrupt DICOM (broken deflate stream)") from None
    except Exception as exc:  # noqa: BLE001 - fail closed: an unreadable deflated header
        raise RadiographError(path, f"corrupt deflated DICOM header ({type(exc).__name__})") from None


def _dcmread(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    check_deflate_bomb(path)
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass
    except (EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise RadiographError(path, f"truncated or corrupt DICOM ({type(exc).__name__})") from None
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception:  # noqa: BLE001
        raise UnsupportedFormatError(path, "not a DICOM file") from None
    if len(ds) == 0 or ("PixelData" not in ds and "Rows" not in ds and "SOPClassUID" not in ds):
        raise UnsupportedFormatError(path, "not a DICOM file")
    _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds: Any) -> None:
    """Raw DICOM without file meta: infer the transfer syntax from how it was read."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def dicom_to_unit(ds: Any, arr: np.ndarray, path: Path, warns: list[str]) -> tuple[np.ndarray, tuple[float, float] | None]:
    """modality LUT -> VOI -> MONOCHROME1 inversion -> [0, 1]."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        warns.append(f"colour DICOM ({photometric}) converted to grayscale")
        return minmax_unit(rgb_to_gray(arr)), None
    values = apply_modality_lut(arr, ds).astype(np.float64)
    window: tuple[float, float] | None = None
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        out = apply_voi_lut(arr if "ModalityLUTSequence" in ds else values, ds, index=0, prefer_lut=True)
        desc = ds.VOILUTSequence[0].get("LUTDescriptor")
        bits = int(desc[2]) if desc is not None and len(desc) >= 3 else 16
        unit = np.clip(np.asarray(out, dtype=np.float64) / float(2**bits - 1), 0, 1).astype(np.float32)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        try:
            c = float(_first(ds.WindowCenter))
            w = float(_first(ds.WindowWidth))
        except (TypeError, ValueError):
            c, w = float("nan"), float("nan")
        if math.isfinite(c) and math.isfinite(w) and w > 0:
            fn = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
            unit = window_linear(values, c, w, fn)
            window = (c, w)
            sat = float(np.mean((unit <= 0.0) | (unit >= 1.0)))
            if sat > 0.98:
                warns.append(
                    f"the file's window (centre {c:g}, width {w:g}) leaves {sat:.0%} of pixels "
                    "saturated; a percentile window was used instead"
                )
                unit = robust_window(values)
                window = None
        else:
            warns.append("window centre/width unreadable; a percentile window was used")
            unit = robust_window(values)
    else:
        unit = robust_window(values)
    if photometric == "MONOCHROME1":
        unit = invert_monochrome1(unit)
    return unit, window


def read_dicom(path: Path) -> Radiograph:
    ds = _dcmread(path)
    warns: list[str] = []
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        sop = str(ds.get("SOPClassUID", "")) if "SOPClassUID" in ds else ""
        kind = f" ({ds.SOPClassUID.name})" if sop and hasattr(ds.SOPClassUID, "name") else ""
        if "Rows" in ds or "Columns" in ds or "Image Storage" in kind:  # an image without pixels: cut short
            raise RadiographError(path, f"DICOM has no pixel data{kind}: the image header is there but "
                                  "the pixels are missing (truncated file?)", "copy or export the file again")
        raise RadiographError(path, f"DICOM has no pixel data{kind}", "export the image itself, not a report")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        raise RadiographError(path, "DICOM lacks Rows/Columns") from None
    check_size(path, cols, rows)
    n_frames = 1
    try:
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        n_frames = 1
    if n_frames > 1:
        warns.append(f"multi-frame DICOM ({n_frames} frames): the first frame is used")
    try:
        from pydicom.pixels import pixel_array

        arr = pixel_array(ds, index=0) if n_frames > 1 else ds.pixel_array
    except MemoryError:
        raise RadiographError(path, "not enough memory to decode the image") from None
    except NotImplementedError as exc:
        ts = ds.file_meta.get("TransferSyntaxUID", "?") if hasattr(ds, "file_meta") else "?"
        raise RadiographError(
            path,
            f"compressed DICOM that no installed decoder handles (transfer syntax {getattr(ts, 'name', ts)})",
            "install pylibjpeg with its libjpeg and openjpeg plugins",
        ) from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on broken streams
        lines = [ln.strip(" :") for ln in str(exc).splitlines() if ln.strip(" :")]
        msg = "; ".join(lines[:2])[:200] if lines else type(exc).__name__
        low = msg.lower()
        if "required" in low or "missing" in low or "no pixel data decoders" in low or "not installed" in low:
            hint = "a decoder plugin is missing: install pylibjpeg, pylibjpeg-libjpeg and pylibjpeg-openjpeg"
        else:
            hint = "the file is corrupt; re-export it"
        raise RadiographError(path, f"cannot decode DICOM pixel data ({msg})", hint) from None
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4):
        arr = arr[0]
    unit, window = dicom_to_unit(ds, arr, path, warns)
    spacing, source = pixel_spacing_from(ds)
    bits = int(ds.get("BitsStored", 8) or 8)
    return Radiograph(
        pixels=unit,
        path=str(path),
        format="DICOM",
        bits_stored=bits,
        photometric=str(ds.get("PhotometricInterpretation", "")),
        modality=str(ds.get("Modality", "")),
        pixel_spacing_mm=spacing,
        pixel_spacing_source=source,
        magnification=magnification_from(ds, source),
        patient=patient_from(ds),
        warnings=warns,
        window=window,
    )
