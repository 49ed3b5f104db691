"""Shared pytest fixtures.

Qt runs offscreen in every test; user folders (settings, history, logs) are redirected to
temporary folders so no test touches the real user profile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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


# --- GUI tests (Qt is imported only when one of these is used) ---------------------------


@pytest.fixture
def png(tmp_path: Path) -> Path:
    """An 800 x 300 noise PNG to open in the GUI."""
    from tests.test_gui_support import make_png

    return make_png(tmp_path)


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every warning dialog the app shows (patched: a test never blocks on one)."""
    from tests.test_gui_support import capture_warnings

    return capture_warnings(monkeypatch)


@pytest.fixture
def no_error_dialogs(errors: list[tuple[str, str]]) -> Iterator[None]:
    """An error dialog fails the test (``pytest.mark.usefixtures("no_error_dialogs")``)."""
    yield
    assert errors == [], errors
