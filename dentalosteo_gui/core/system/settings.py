"""User settings: a JSON file in the platformdirs config folder, loaded on first use.

Loading never fails and never weakens privacy. Each key is checked against its rule (type and
range); a bad value falls back to the default with a warning. A file that cannot be read at
all (unreadable, not JSON, nested too deeply, too large) gives the defaults with
``anonymize_exports`` ON, because the user may have switched it on in that file. Every
problem is listed in :attr:`Settings.load_warnings` (for the GUI; never saved) and printed
once on stderr naming the file; the log gets no path.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DentalOsteoError
from . import paths
from .atomic import atomic_write_text
from .logsetup import escape_controls

log = logging.getLogger(__name__)

DEFAULT_PIXEL_SPACING_MM = 0.1
MAX_SETTINGS_BYTES = 1 << 20  # a settings file is a few hundred bytes
MAX_TEXT = 4096
MAX_RECENT_FILES = 50


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
    gradcam_method: str = "gradcam"  # gradcam | gradcam++ | none
    recent_files: list[str] = field(default_factory=list)
    dark_theme: bool = True
    first_run: bool = True
    # What went wrong reading the file (one line each); shown by the GUI, never saved.
    load_warnings: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def validate(self) -> None:
        """Raise ConfigError naming the first value that breaks its rule."""
        for name, rule in RULES.items():
            value = getattr(self, name)
            if not rule.accepts(value):
                raise ConfigError(f"settings: {name} must be {rule.expected}, not {_show(value)}")


@dataclass(frozen=True)
class _Rule:
    accepts: Callable[[Any], bool]
    expected: str


def _text(max_len: int = MAX_TEXT, non_empty: bool = False) -> _Rule:
    def ok(v: Any) -> bool:
        return (isinstance(v, str) and len(v) <= max_len and "\x00" not in v
                and (bool(v.strip()) or not non_empty))

    return _Rule(ok, f"{'non-empty ' if non_empty else ''}text (at most {max_len} characters)")


def _choice(*options: str) -> _Rule:
    return _Rule(lambda v: isinstance(v, str) and v in options, " or ".join(options))


def _number(lo: float, hi: float) -> _Rule:
    def ok(v: Any) -> bool:
        return (isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and lo <= v <= hi)

    return _Rule(ok, f"a number from {lo:g} to {hi:g}")


_BOOL = _Rule(lambda v: isinstance(v, bool), "true or false")
_PATHS = _Rule(lambda v: isinstance(v, list) and len(v) <= MAX_RECENT_FILES
               and all(_text().accepts(f) for f in v),
               f"a list of at most {MAX_RECENT_FILES} file names")

RULES: dict[str, _Rule] = {
    "device": _choice("auto", "cpu", "gpu"),
    "operating_point": _text(64, non_empty=True),
    "default_pixel_spacing_mm": _number(0.01, 1.0),
    "clinic_name": _text(),
    "clinic_address": _text(),
    "clinic_logo": _text(),
    "anonymize_exports": _BOOL,
    "page_size": _choice("A4", "Letter"),
    "model_dir": _text(),
    "gradcam_method": _choice("gradcam", "gradcam++", "none"),
    "recent_files": _PATHS,
    "dark_theme": _BOOL,
    "first_run": _BOOL,
}
_SAVED = [f.name for f in fields(Settings) if f.init]
assert sorted(RULES) == sorted(_SAVED), "every saved setting needs a rule"

# Fallback when a value is bad. Privacy fails closed: a bad anonymize_exports means ON.
_FAIL_CLOSED: dict[str, Any] = {"anonymize_exports": True}

_announced: set[str] = set()


def _show(value: Any) -> str:
    """A short, one-line, escape-free rendering of a user value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_document(path: Path) -> Any:
    """The parsed JSON; FileNotFoundError when absent; ConfigError (the reason) when unusable."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SETTINGS_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(exc.strerror or type(exc).__name__) from None
    if len(raw) > MAX_SETTINGS_BYTES:
        raise ConfigError(f"larger than {MAX_SETTINGS_BYTES // 1024} KiB")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text") from None
    except RecursionError:
        raise ConfigError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {str(exc).splitlines()[0][:80]}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"not a JSON object (a {type(doc).__name__})")
    return doc


def _apply(s: Settings, doc: dict[Any, Any], path: Path) -> None:
    """Copy each valid value into ``s``; a warning and the (fail-closed) default otherwise."""
    for key, value in doc.items():
        rule = RULES.get(key) if isinstance(key, str) else None
        if rule is None:
            s.load_warnings.append(f"{path}: unknown setting {_show(key)} ignored")
        elif rule.accepts(value):
            setattr(s, key, list(value) if isinstance(value, list) else value)
        else:
            fallback = _FAIL_CLOSED.get(key, getattr(Settings(), key))
            setattr(s, key, fallback)
            s.load_warnings.append(f"{path}: {key} must be {rule.expected}, not {_show(value)}; "
                                   f"using {_show(fallback)}")


def load_settings(path: Path | None = None) -> Settings:
    """Read settings. Never raises for the file's content (see the module docstring);
    ConfigError only when the settings folder itself cannot be created."""
    path = path or paths.settings_path()
    s = Settings()
    try:
        doc = _read_document(path)
    except FileNotFoundError:
        return s
    except ConfigError as exc:
        s.anonymize_exports = True
        s.load_warnings.append(f"{path}: cannot be read ({exc}); using the default settings "
                               "with anonymised exports ON (fix or delete the file)")
    else:
        _apply(s, doc, path)
    if s.load_warnings:
        log.warning("settings file: %d problem(s); defaults used for them", len(s.load_warnings))
        for w in s.load_warnings:
            if w not in _announced:
                _announced.add(w)
                sys.stderr.write(f"warning: {escape_controls(w)}\n")
    return s


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically (temp file then rename); ConfigError when that fails."""
    settings.validate()
    path = path or paths.settings_path()
    paths.ensure_folder(path.parent, "the settings folder", "choose a folder you can write to")
    payload: dict[str, Any] = {k: v for k, v in asdict(settings).items() if k in _SAVED}
    try:
        return atomic_write_text(path, json.dumps(payload, indent=2))
    except DentalOsteoError as exc:  # WriteError: callers (GUI) handle ConfigError
        raise ConfigError(str(exc)) from None
