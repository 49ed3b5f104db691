"""Radiograph loading: one ``load_radiograph(path)`` behind one reader interface.

Readers are tried in order of how strongly they claim the file (magic bytes first, then
extension). When every reader fails, ONE :class:`RadiographError` names the file and each
reader's reason.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    RadiographError,
    UnsupportedFormatError,
)
from ..types import Radiograph
from .pixels import MAX_PIXELS, check_size, minmax_unit, rgb_to_gray, to_unit_float

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
DICOM_EXTENSIONS = {".dcm", ".dicom", ".dic", ""}
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS | {".dcm", ".dicom", ".dic"}


class Reader(Protocol):
    name: str

    def claims(self, path: Path, head: bytes) -> int:
        """0: not mine; 1: maybe (extension); 2: surely (magic bytes)."""

    def read(self, path: Path) -> Radiograph: ...


def _finish(rad: Radiograph) -> Radiograph:
    check_size(rad.path, rad.width, rad.height)
    px = rad.pixels
    if px.ndim != 2:
        raise RadiographError(rad.path, f"unexpected pixel array shape {px.shape}")
    if not np.isfinite(px).all():
        rad.warnings.append("image had non-finite pixel values; they were set to black")
        px = np.nan_to_num(px, nan=0.0, posinf=0.0, neginf=0.0)
    rad.pixels = np.ascontiguousarray(np.clip(px, 0.0, 1.0), dtype=np.float32)
    return rad


# ----------------------------------------------------------------------------- images


@dataclass
class PillowReader:
    """PNG, JPEG, TIFF and BMP via Pillow, EXIF orientation honoured."""

    name: str = "image"

    MAGIC = (
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"\xff\xd8\xff", "JPEG"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"BM", "BMP"),
    )

    def claims(self, path: Path, head: bytes) -> int:
        for magic, _ in self.MAGIC:
            if head.startswith(magic):
                return 2
        return 1 if path.suffix.lower() in IMAGE_EXTENSIONS else 0

    def read(self, path: Path) -> Radiograph:
        im = _open_image(path)
        with im:
            fmt = (im.format or path.suffix.lstrip(".")).upper()
            check_size(path, im.width, im.height)
            warns = _frame_warnings(im)
            gray, bits, photometric = _image_to_gray(path, _decode(path, im), warns)
        rad = Radiograph(
            pixels=gray,
            path=str(path),
            format=fmt,
            bits_stored=bits,
            photometric=photometric,
            modality="",
            warnings=warns,
        )
        return _finish(rad)


# Pillow modes read as 8-bit: palette images via RGBA, other colour spaces via RGB
_PILLOW_8BIT_MODES = ("1", "L", "P", "LA", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV")


def _open_image(path: Path) -> PILImage:
    """Open (not decode) an image, refusing decompression bombs."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: PILImage = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            path,
            f"image is over the {MAX_PIXELS // 1_000_000} MP limit (possible decompression bomb)",
            "export the radiograph at its native resolution",
        ) from None
    except Image.UnidentifiedImageError:
        raise UnsupportedFormatError(path, "not a supported image") from None
    except OSError as exc:
        raise RadiographError(path, f"cannot open image ({exc})") from None
    return im


def _frame_warnings(im: PILImage) -> list[str]:
    try:
        n_frames = int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001 - broken frame tables
        n_frames = 1
    return [f"file has {n_frames} frames; the first one is used"] if n_frames > 1 else []


def _decode(path: Path, im: PILImage) -> PILImage:
    """Decode the pixels and apply the EXIF orientation; unreadable data raises one clear error."""
    from PIL import ImageOps

    try:
        im.load()
        return ImageOps.exif_transpose(im) or im
    except OSError as exc:
        msg = str(exc)
        reason = "truncated file" if "truncat" in msg.lower() else f"cannot decode ({msg})"
        raise RadiographError(path, reason, "re-export or copy the file again") from None
    except (ValueError, SyntaxError) as exc:
        raise RadiographError(path, f"corrupt image ({exc})") from None


def _image_to_gray(path: Path, im: PILImage, warns: list[str]) -> tuple[np.ndarray, int, str]:
    """(gray float pixels, bits stored, photometric description) of a decoded image."""
    mode = im.mode
    if mode in _PILLOW_8BIT_MODES:
        return _gray_8bit(im, mode)
    if mode.startswith("I;16") or mode == "I":
        return _gray_integer(im, mode)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all():
            warns.append("image had NaN/inf pixels; they were set to black")
        return minmax_unit(arr), 32, "MONOCHROME2"
    raise UnsupportedFormatError(path, f"unsupported image mode {mode!r}")


def _gray_8bit(im: PILImage, mode: str) -> tuple[np.ndarray, int, str]:
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
        mode = "RGB"
    arr = np.asarray(im)
    if mode == "1":
        gray = arr.astype(np.float32)
    elif arr.ndim == 3:
        if mode == "LA":
            gray = arr[..., 0].astype(np.float32) / 255.0
        else:
            gray = (rgb_to_gray(arr) / 255.0).astype(np.float32)
    else:
        gray = arr.astype(np.float32) / 255.0
    photometric = "MONOCHROME2" if mode in ("1", "L", "LA") else f"{mode}->gray"
    return gray, 8, photometric


def _gray_integer(im: PILImage, mode: str) -> tuple[np.ndarray, int, str]:
    """16-bit ("I;16*") or 32-bit integer ("I") images; the bit depth is taken from the data."""
    arr = np.asarray(im)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
        return minmax_unit(arr), 32, "MONOCHROME2"
    mx = int(arr.max()) if arr.size else 0
    bits = 16 if mx > 4095 else (12 if mx > 1023 else (10 if mx > 255 else 8))
    if mode.startswith("I;16"):
        bits = 16 if mx > 4095 else bits
    return to_unit_float(arr.astype(np.int64), bits), bits, "MONOCHROME2"


# ----------------------------------------------------------------------------- DICOM


@dataclass
class DicomReader:
    name: str = "dicom"

    def claims(self, path: Path, head: bytes) -> int:
        if len(head) >= 132 and head[128:132] == b"DICM":
            return 2
        if path.suffix.lower() in (".dcm", ".dicom", ".dic"):
            return 1
        # Raw DICOM without preamble often starts with group 0x0008 or 0x0002 tags.
        if head[:2] in (b"\x08\x00", b"\x02\x00"):
            return 1
        return 0

    def read(self, path: Path) -> Radiograph:
        from .dicom import read_dicom

        return _finish(read_dicom(path))


READERS: list[Reader] = [PillowReader(), DicomReader()]


def load_radiograph(path: str | os.PathLike[str]) -> Radiograph:
    """Load any supported radiograph file into a :class:`Radiograph`.

    Raises :class:`RadiographError` (one line naming the file and the reason).
    """
    p = Path(path)
    if not p.exists():
        raise RadiographError(p, "file not found", "check the path")
    if p.is_dir():
        raise RadiographError(p, "is a folder, not an image file", "open a file inside it")
    if not p.is_file():  # a pipe would block open() forever; devices have no image size
        raise RadiographError(p, "not a regular file (a pipe, socket or device)", "open the image file itself")
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(132)
    except PermissionError:
        raise RadiographError(p, "permission denied", "ask IT for read access") from None
    except OSError as exc:
        raise RadiographError(p, f"cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise RadiographError(p, "file is empty (0 bytes)", "copy the file again")

    ranked = sorted(((r.claims(p, head), i, r) for i, r in enumerate(READERS)), reverse=True)
    # Claimed readers first (magic bytes, then extension); the others after, so a file with a
    # wrong extension still opens.
    candidates = [r for _, _, r in ranked]
    failures: list[tuple[Reader, RadiographError | None, str]] = []
    for reader in candidates:
        try:
            rad = reader.read(p)
            log.debug("loaded %s with %s reader (%dx%d)", p.name, reader.name, rad.width, rad.height)
            return rad
        except (ImageTooLargeError, ImageTooSmallError):
            raise
        except RadiographError as exc:
            # A sure claim (magic bytes) owns the error: report it alone.
            if reader.claims(p, head) == 2:
                raise
            failures.append((reader, exc, exc.reason))
        except MemoryError:
            raise RadiographError(p, "not enough memory to decode the image") from None
        except Exception as exc:  # noqa: BLE001 - third-party decoders raise anything
            failures.append((reader, None, f"{type(exc).__name__}: {exc}"))
    specific = [f for f in failures if f[1] is not None and not isinstance(f[1], UnsupportedFormatError)]
    if specific:
        raise specific[0][1]  # type: ignore[misc]
    raise UnsupportedFormatError(
        p,
        "not a supported image (" + "; ".join(f"{r.name}: {why}" for r, _, why in failures) + ")",
        "use PNG, JPEG, TIFF, BMP or DICOM",
    )


def is_supported_path(path: Path) -> bool:
    return path.is_file() and (
        path.suffix.lower() in SUPPORTED_EXTENSIONS or path.suffix == ""
    )


def from_array(pixels: np.ndarray, path: str = "<array>", spacing: float | None = None) -> Radiograph:
    """Wrap an in-memory array (tests, phantoms) as a Radiograph."""
    px = np.asarray(pixels)
    if px.ndim == 3:
        px = rgb_to_gray(px) / (255.0 if px.dtype == np.uint8 else 1.0)
    return _finish(
        Radiograph(
            pixels=to_unit_float(px) if np.issubdtype(px.dtype, np.integer) else px.astype(np.float32),
            path=path,
            format="array",
            pixel_spacing_mm=spacing,
            pixel_spacing_source="given" if spacing else "none",
        )
    )
