"""The window opens, File > Open loads and shows an image, a bad file shows a dialog."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


def test_open_image_shows_it(qtbot, tmp_path: Path) -> None:
    from dentalosteo_gui.gui.mainwindow import MainWindow

    p = tmp_path / "x.png"
    Image.fromarray((np.random.default_rng(0).random((300, 600)) * 255).astype(np.uint8)).save(p)
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.open_path(p)
    img = win.canvas.image_item.image
    assert img is not None and img.shape == (300, 600)
