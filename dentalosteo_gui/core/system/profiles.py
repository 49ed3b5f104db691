"""Calibration profiles: a clinic's known pixel size per imaging source, kept across upgrades.

A profile is saved once (GUI ruler or ``dentalosteo calibrate``) and chosen automatically the
next time an image from the same source is opened. The source key:

- DICOM: Manufacturer + ManufacturerModelName + image size (rows x columns);
- plain images (PNG/JPEG/TIFF exports): the image size and, when given, the folder the images
  come from (a profile without a folder matches any folder).

``mm_per_px`` is at the anatomical scale: a calibration on a ruler in the patient plane is
already anatomical; a typed detector pixel size is divided by the profile's
``magnification`` (panoramic units magnify by about 1.2-1.3 vertically). The file lives in
the user's settings folder (``calibration_profiles.json``), written atomically, and can be
exported / imported as one JSON file so a clinic sets it up once for all its PCs.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import Radiograph, Spacing
from . import paths
from .atomic import atomic_write_text

PROFILES_FILE = "calibration_profiles.json"
FORMAT = "dentalosteo-calibration-profiles/1"
SPACING_RANGE_MM = (0.005, 1.0)
MAGNIFICATION_RANGE = (1.0, 2.0)


@dataclass(frozen=True)
class SourceKey:
    """What identifies where an image comes from."""

    manufacturer: str = ""
    model: str = ""
    width: int = 0
    height: int = 0
    folder: str = ""

    @classmethod
    def of(cls, rad: Radiograph) -> SourceKey:
        if rad.format == "DICOM":
            return cls(rad.patient.manufacturer.strip(), rad.patient.model.strip(), rad.width, rad.height)
        folder = str(Path(rad.path).resolve().parent) if rad.path and not rad.path.startswith("<") else ""
        return cls("", "", rad.width, rad.height, folder)

    def describe(self) -> str:
        dev = " ".join(p for p in (self.manufacturer, self.model) if p)
        where = dev or (f"folder {Path(self.folder).name}" if self.folder else "any folder")
        return f"{where}, {self.width} x {self.height} px"


@dataclass(frozen=True)
class Profile:
    name: str
    mm_per_px: float  # anatomical scale (after magnification)
    key: SourceKey
    magnification: float | None = None  # applied to a detector pixel size (None: not applied)
    method: str = ""  # "ruler 25.0 mm over 240.3 px" | "detector pixel size 0.1 mm"
    created: str = field(default_factory=lambda: date.today().isoformat())

    def spacing(self) -> Spacing:
        return Spacing(self.mm_per_px, "calibrated", f"profile {self.name}, set {self.created}",
                       profile=self.name, magnification=self.magnification)

    def describe(self) -> str:
        mag = f", magnification {self.magnification:g} applied" if self.magnification else ""
        return (f"calibrated: profile {self.name}, {self.mm_per_px:.4g} mm/px, set {self.created} "
                f"({self.key.describe()}{mag})")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": asdict(self.key)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        try:
            key = SourceKey(**{k: d["key"][k] for k in ("manufacturer", "model", "width", "height", "folder")})
            mag = d.get("magnification")
            prof = cls(str(d["name"]), float(d["mm_per_px"]), key,
                       None if mag is None else float(mag), str(d.get("method", "")),
                       str(d.get("created", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"calibration profile is malformed ({type(exc).__name__}: {exc})") from None
        check_spacing(prof.mm_per_px)
        if prof.magnification is not None:
            check_magnification(prof.magnification)
        return prof


def check_spacing(mm: float) -> float:
    if not (math.isfinite(mm) and SPACING_RANGE_MM[0] <= mm <= SPACING_RANGE_MM[1]):
        raise ConfigError(f"pixel spacing must be {SPACING_RANGE_MM[0]}-{SPACING_RANGE_MM[1]} mm/px, not {mm:g}")
    return mm


def check_magnification(f: float) -> float:
    if not (math.isfinite(f) and MAGNIFICATION_RANGE[0] <= f <= MAGNIFICATION_RANGE[1]):
        raise ConfigError(f"magnification must be {MAGNIFICATION_RANGE[0]}-{MAGNIFICATION_RANGE[1]} "
                          f"(panoramic units: about 1.2-1.3), not {f:g}")
    return f


def from_ruler(name: str, rad: Radiograph, known_mm: float, p1: tuple[float, float],
               p2: tuple[float, float], for_folder: bool = True) -> Profile:
    """A profile from a line of known length drawn over something in the patient plane."""
    px = math.dist(p1, p2)
    if not (math.isfinite(known_mm) and known_mm > 0):
        raise ConfigError(f"the known length must be a positive number of mm, not {known_mm:g}")
    if px < 10:
        raise ConfigError(f"the line is {px:.1f} px long: draw it over the whole known length (at least 10 px)")
    key = _key_for(rad, for_folder)
    return Profile(name, check_spacing(known_mm / px), key, None, f"ruler {known_mm:g} mm over {px:.1f} px")


def from_pixel_size(name: str, rad: Radiograph, detector_mm: float, magnification: float | None,
                    for_folder: bool = True) -> Profile:
    """A profile from the device's pixel size (at the detector) and its magnification."""
    check_spacing(detector_mm)
    mag = check_magnification(magnification) if magnification is not None else None
    mm = detector_mm / mag if mag else detector_mm
    return Profile(name, check_spacing(mm), _key_for(rad, for_folder), mag, f"detector pixel size {detector_mm:g} mm")


def _key_for(rad: Radiograph, for_folder: bool) -> SourceKey:
    key = SourceKey.of(rad)
    return key if for_folder else SourceKey(key.manufacturer, key.model, key.width, key.height, "")


class ProfileStore:
    """The profiles file in the settings folder (or ``path``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or (paths.config_dir() / PROFILES_FILE)

    def load(self) -> list[Profile]:
        """The saved profiles (parsed once per version of the file: the engine asks on every
        screening)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError:
            return _parse(self.path)  # names the problem
        return list(_parse_cached(str(self.path), st.st_mtime_ns, st.st_size))

    def save(self, profiles: list[Profile]) -> None:
        doc = {"format": FORMAT, "profiles": [p.as_dict() for p in profiles]}
        atomic_write_text(self.path, json.dumps(doc, indent=1) + "\n")

    def add(self, profile: Profile) -> None:
        """Add or replace (same name, or same source key)."""
        keep = [p for p in self.load() if p.name != profile.name and p.key != profile.key]
        self.save(keep + [profile])

    def match(self, rad: Radiograph) -> Profile | None:
        """The profile for ``rad``'s source: exact key first, then size without a folder."""
        key = SourceKey.of(rad)
        profiles = self.load()
        for p in profiles:
            if p.key == key:
                return p
        loose = SourceKey(key.manufacturer, key.model, key.width, key.height, "")
        return next((p for p in profiles if p.key == loose), None)

    def export(self, dest: Path) -> int:
        profiles = self.load()
        atomic_write_text(dest, json.dumps({"format": FORMAT, "profiles": [p.as_dict() for p in profiles]},
                                           indent=1) + "\n")
        return len(profiles)

    def import_(self, src: Path) -> int:
        incoming = _parse(src)
        for p in incoming:
            self.add(p)
        return len(incoming)


@functools.lru_cache(maxsize=8)
def _parse_cached(path: str, mtime_ns: int, size: int) -> tuple[Profile, ...]:
    return tuple(_parse(Path(path)))


def _parse(path: Path) -> list[Profile]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: calibration profiles cannot be read ({type(exc).__name__}); "
                          "fix or remove the file") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("profiles"), list):
        raise ConfigError(f"{path}: not a DentalOsteo calibration profiles file")
    try:
        return [Profile.from_dict(d) for d in doc["profiles"]]
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
