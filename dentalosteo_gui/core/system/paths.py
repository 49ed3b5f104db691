"""The one place that knows where resources, models and user folders live.

Works from a source tree, an installed wheel and a PyInstaller bundle (``sys._MEIPASS``).
User folders can be redirected with DENTALOSTEO_CONFIG_DIR / DENTALOSTEO_DATA_DIR
(used by tests and by clinics that keep data on a managed drive).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

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


def config_dir() -> Path:
    env = os.environ.get("DENTALOSTEO_CONFIG_DIR")
    p = Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    p.mkdir(parents=True, exist_ok=True)
    return p


def data_dir() -> Path:
    env = os.environ.get("DENTALOSTEO_DATA_DIR")
    p = Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    p.mkdir(parents=True, exist_ok=True)
    return p


def log_dir() -> Path:
    p = data_dir() / "logs"
    p.mkdir(parents=True, exist_ok=True)
    return p


def history_db_path() -> Path:
    return data_dir() / "history.sqlite3"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def keras_cache_dir() -> Path:
    """Where Keras looks for ImageNet weights (``~/.keras/models`` unless KERAS_HOME)."""
    home = os.environ.get("KERAS_HOME")
    base = Path(home) if home else Path.home() / ".keras"
    return base / "models"
