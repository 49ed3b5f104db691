"""The DentalOsteo exception family. Every message says what happened and what to do."""

from __future__ import annotations

from pathlib import Path


class DentalOsteoError(Exception):
    """Base class for all errors the product reports to the user."""


class RadiographError(DentalOsteoError):
    """A radiograph file could not be read.

    The message always names the file and the reason, on one line.
    """

    def __init__(self, path: str | Path | None, reason: str, hint: str = "") -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        self.hint = hint
        where = f"{self.path}: " if self.path else ""
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{where}{reason}{tail}")


class UnsupportedFormatError(RadiographError):
    """No reader understands the file."""


class ImageTooLargeError(RadiographError):
    """The image exceeds the pixel limit (decompression-bomb guard)."""


class ImageTooSmallError(RadiographError):
    """The image is smaller than a usable radiograph."""


class DatasetError(DentalOsteoError):
    """A dataset folder or labels.csv is malformed."""


class ModelError(DentalOsteoError):
    """A model pack is missing, corrupt, tampered with or incompatible."""


class AnatomyError(DentalOsteoError):
    """ROI / landmark / cortex analysis failed."""


class ConfigError(DentalOsteoError):
    """Settings or command-line values are invalid."""
