"""Pixel spacing, resolved once per screening, with where it came from.

Precedence (README, "Pixel spacing precedence"): an explicit value (``--pixel-spacing``, the
GUI's spacing box) > the clinic's calibration profile for the image's source > what the file
states (DICOM, at the anatomical scale) > a dataset ``labels.csv`` beside the image > the
configured default, flagged ``assumed``. Every caller (engine, ``roi``,
``batch``, the GUI, the report) goes through :func:`resolve_spacing`, so they agree.
"""

from __future__ import annotations

from ..data.dataset import sidecar_spacing
from ..types import Radiograph, Spacing


def resolve_spacing(rad: Radiograph, override: float | Spacing | None, default_mm: float,
                    calibrated: Spacing | None = None) -> Spacing:
    """The spacing to measure with, and its provenance.

    ``override``: a user value (mm/px, source ``user``) or a ready :class:`Spacing` (for
    example ``calibrated``); a ``dataset`` one is a labels.csv value the caller already read
    (batch reads a folder's labels.csv once), otherwise the sidecar is looked up beside the
    file. ``calibrated``: the matching calibration profile's spacing (``system.profiles``).
    ``default_mm``: the configured default, used only when nothing else is known. An
    override with source ``dataset`` (a labels.csv value the caller already has) ranks below
    the file's own spacing, like the sidecar.
    """
    known_dataset: Spacing | None = None
    if isinstance(override, Spacing):
        if override.source != "dataset":
            return override
        known_dataset = override  # a dataset record ranks below what the file itself states
    elif override is not None and override > 0:
        return Spacing(float(override), "user")
    if calibrated is not None:
        return calibrated
    own = rad.file_spacing
    if own is not None:
        return own
    side = known_dataset or dataset_record(_sidecar(rad.path))
    if side is not None:
        return side
    return Spacing(float(default_mm), "assumed", "configured default")


def dataset_record(mm_per_px: float | None) -> Spacing | None:
    """A spacing value read from a dataset ``labels.csv`` (None when the row has none)."""
    return Spacing(float(mm_per_px), "dataset", "labels.csv") if mm_per_px and mm_per_px > 0 else None


def _sidecar(path: str) -> float | None:
    """A dataset labels.csv beside the file (not for in-memory arrays)."""
    if not path or path.startswith("<"):
        return None
    return sidecar_spacing(path)
