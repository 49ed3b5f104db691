"""User settings: a JSON file in the platformdirs config folder, loaded on first use."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import paths

log = logging.getLogger(__name__)

DEFAULT_PIXEL_SPACING_MM = 0.1


@dataclass
class Settings:
    device: str = "auto"  # auto | cpu | gpu
    operating_point: str = "balanced"  # name of an operating point in the model card
    default_pixel_spacing_mm: float = DEFAULT_PIXEL_SPACING_MM
    clinic_name: str = ""
    clinic_address: str = ""
    clinic_logo: str = ""
    anonymize_exports: bool = False
    page_size: str = "A4"  # A4 | Letter
    model_dir: str = ""  # empty: bundled default
    gradcam_method: str = "gradcam"  # gradcam | gradcam++
    recent_files: list[str] = field(default_factory=list)
    dark_theme: bool = True
    first_run: bool = True

    def validate(self) -> None:
        if self.device not in ("auto", "cpu", "gpu"):
            raise ConfigError(f"settings: device must be auto, cpu or gpu, not {self.device!r}")
        if not (0.01 <= float(self.default_pixel_spacing_mm) <= 1.0):
            raise ConfigError(
                "settings: default pixel spacing must be between 0.01 and 1.0 mm, "
                f"not {self.default_pixel_spacing_mm}"
            )
        if self.page_size not in ("A4", "Letter"):
            raise ConfigError(f"settings: page size must be A4 or Letter, not {self.page_size!r}")


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing or unreadable file gives defaults (logged, never fatal)."""
    path = path or paths.settings_path()
    s = Settings()
    if not path.exists():
        return s
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("settings file %s unreadable (%s); using defaults", path, exc)
        return s
    known = {f.name for f in fields(Settings)}
    for key, value in data.items() if isinstance(data, dict) else []:
        if key in known:
            setattr(s, key, value)
    try:
        s.validate()
    except ConfigError as exc:
        log.warning("%s; using defaults", exc)
        return Settings()
    return s


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically (temp file then rename)."""
    settings.validate()
    path = path or paths.settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = asdict(settings)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
