"""Shared pytest fixtures.

Qt runs offscreen in every test; user folders (settings, history, logs) are redirected to
temporary folders so no test touches the real user profile.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def shared_dir() -> Path:
    """The shared development data folder (../shared); skips the test when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} absent (development data is not shipped)")
    return SHARED_DIR


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point DENTALOSTEO_CONFIG_DIR / DENTALOSTEO_DATA_DIR at fresh temporary folders."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(base / "data"))
