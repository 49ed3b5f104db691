"""The window opens, File > Open loads and shows an image (in a worker), a bad file shows a dialog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

pytestmark = pytest.mark.gui


class NoModelEngine:
    """Stands in for an engine with no model installed: screening is never reached here."""

    roi_backend = None
    device = "none"

    def screen(self, *a: Any, **k: Any) -> Any:  # pragma: no cover - not called
        raise AssertionError("not expected")


def test_open_image_shows_it(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dentalosteo_gui.core.system.settings import Settings
    from dentalosteo_gui.gui.mainwindow import MainWindow

    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(tmp_path / "data"))
    p = tmp_path / "x.png"
    Image.fromarray((np.random.default_rng(0).random((300, 600)) * 255).astype(np.uint8)).save(p)
    win = MainWindow(engine=NoModelEngine(), settings=Settings(), record_history=False)
    qtbot.addWidget(win)
    win.controller.request_screen = lambda: None  # only loading is tested here
    assert win.open_path(p)
    qtbot.waitUntil(lambda: win.session.radiograph is not None or bool(win.session.last_error), timeout=5000)
    assert not win.session.last_error
    img = win.canvas.image_item.image
    assert img is not None and img.shape == (300, 600)
    assert win.session.engine_state == "no_model"
    win.close()
