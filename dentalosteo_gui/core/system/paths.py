"""The one place that knows where resources, models and user folders live.

Works from a source tree, an installed wheel and a PyInstaller bundle (``sys._MEIPASS``).
User folders can be redirected with DENTALOSTEO_CONFIG_DIR / DENTALOSTEO_DATA_DIR
(used by tests and by clinics that keep data on a managed drive).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import platformdirs

from ..errors import ConfigError
from .atomic import explain_os_error

APP_NAME = "DentalOsteo"
APP_AUTHOR = "DentalOsteo"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def install_root() -> Path:
    """Folder that holds ``resources/`` and ``models/``."""
    env = os.environ.get("DENTALOSTEO_ROOT")
    if env:
        return Path(env)
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]
    return Path(__file__).resolve().parents[3]


def resources_dir() -> Path:
    return install_root() / "resources"


def samples_dir() -> Path:
    return resources_dir() / "samples"


def icons_dir() -> Path:
    return resources_dir() / "icons"


def models_dir() -> Path:
    return install_root() / "models"


def default_model_dir() -> Path:
    return models_dir() / "default"


def landmark_model_dir() -> Path:
    return models_dir() / "landmarks"


def sample_image() -> Path:
    """The demo radiograph the app opens on first run and screens headless."""
    return samples_dir() / "phantom_c2.png"


def _user_folder(env_var: str, platform_dir: Callable[[str, str], str], what: str) -> Path:
    """``env_var`` if set, else the platform's folder; created. One ConfigError when that is
    impossible (no home folder, a file in the way, read-only or full drive)."""
    env = os.environ.get(env_var)
    if env:
        p = Path(env)
    else:
        try:
            p = Path(platform_dir(APP_NAME, APP_AUTHOR))
        except (KeyError, OSError, RuntimeError):  # no home folder on some platforms
            p = Path("~")
        if not p.is_absolute():  # "~/.config/..." left unexpanded: the user has no home folder
            raise ConfigError(f"cannot place the {what} folder: this user has no home folder "
                              f"(set {env_var} to a folder you can write to)")
    return ensure_folder(p, f"the {what} folder", f"set {env_var} to a folder you can write to")


def ensure_folder(p: Path, what: str, hint: str) -> Path:
    """Create ``p`` (and parents) or raise one ConfigError naming it, the reason and ``hint``."""
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason, _ = explain_os_error(exc)
        if isinstance(exc, FileExistsError) or (p.exists() and not p.is_dir()):
            reason = "a file with that name is in the way"
        raise ConfigError(f"{p}: cannot create {what}: {reason} ({hint})") from None
    return p


def config_dir() -> Path:
    return _user_folder("DENTALOSTEO_CONFIG_DIR", platformdirs.user_config_dir, "settings")


def data_dir() -> Path:
    return _user_folder("DENTALOSTEO_DATA_DIR", platformdirs.user_data_dir, "data")


def log_dir() -> Path:
    return ensure_folder(data_dir() / "logs", "the log folder",
                         "set DENTALOSTEO_DATA_DIR to a folder you can write to")


def history_db_path() -> Path:
    return data_dir() / "history.sqlite3"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def keras_cache_dir() -> Path:
    """Where Keras looks for ImageNet weights (``~/.keras/models`` unless KERAS_HOME)."""
    home = os.environ.get("KERAS_HOME")
    if home:
        return Path(home) / "models"
    try:
        return Path.home() / ".keras" / "models"
    except (KeyError, RuntimeError):  # no home folder
        raise ConfigError("cannot find the Keras model cache: this user has no home folder "
                          "(set KERAS_HOME)") from None
