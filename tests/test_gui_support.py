"""Shared helpers of the GUI tests: a FAKE engine with the real ``Engine.screen`` signature
that returns a real ``ScreeningResult`` (its risk depends on the box, so re-screens are
visible; its status, referral and cross-check reading can be set), and window helpers.
No tests here."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtWidgets  # noqa: E402

from dentalosteo_gui.core.screening.engine import Cancelled  # noqa: E402
from dentalosteo_gui.core.system.settings import Settings  # noqa: E402
from dentalosteo_gui.core.types import (  # noqa: E402
    LANDMARK_NAMES,
    ModelInfo,
    Radiograph,
    RoiBox,
    ScreeningResult,
    Spacing,
)

CARD = {
    "name": "fake-net", "version": "0.0-test", "sha256": "ab" * 32,
    "intended_use": "Tests only.", "training_data": "None.", "limitations": ["Fake."],
    "operating_points": {"balanced": {"threshold": 0.5, "sensitivity": 0.8, "specificity": 0.7},
                         "bands": {"low_max": 0.3, "high_min": 0.6}},
}


LANDMARK_CARD = {
    "name": "fake-landmarks", "version": "0.1-test", "sha256": "cd" * 32, "mode": "landmarks",
    "input": {"height": 32, "width": 32, "channels": 1, "patches": 8, "patch_mm": 12.0},
    "intended_use": "Tests only.", "training_data": {"description": "none", "source": "phantom"},
    "operating_points": {"balanced": {"threshold": 0.4, "sensitivity": 0.9, "specificity": 0.6}},
}
ROI_INFO = ModelInfo("fake-net", "0.0-test", "ab" * 32)
LANDMARK_INFO = ModelInfo("fake-landmarks", "0.1-test", "cd" * 32, source="phantom")


class FakeEngine:
    """Same ``screen`` signature as the real Engine; deterministic, optionally slow.
    ``overrides``: result fields to replace (status, referral, other_reading, ...)."""

    def __init__(self, delay: float = 0.0, fail: Exception | None = None, **overrides: Any) -> None:
        self.delay = delay
        self.fail = fail
        self.overrides = overrides
        self.calls: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self.roi_backend = SimpleNamespace(card=CARD, info=ROI_INFO)
        self.landmark_backend = SimpleNamespace(card=LANDMARK_CARD, info=LANDMARK_INFO)
        self.device = "cpu"

    def warm(self) -> float:
        return 0.0

    def screen(self, rad: Radiograph, roi: RoiBox | None = None, landmarks: dict | None = None,
               mode: str = "roi", pixel_spacing_mm: float | None = None,
               cancel: threading.Event | None = None, cross_check: bool = False) -> ScreeningResult:
        self.calls.append({"roi": roi, "landmarks": landmarks, "mode": mode, "spacing": pixel_spacing_mm,
                           "cross_check": cross_check})
        self.threads.add(threading.current_thread().name)
        end = time.monotonic() + self.delay
        while time.monotonic() < end:
            if cancel is not None and cancel.is_set():
                raise Cancelled("screening cancelled")
            time.sleep(0.005)
        if self.fail is not None:
            raise self.fail
        if landmarks is not None:
            mode = "landmarks"
        h, w = rad.pixels.shape
        box = (roi or RoiBox(w // 4, (h * 2) // 3, w // 2, h // 4)).clipped(w, h)
        heat = np.zeros((h, w), dtype=np.float32)
        yy, xx = np.mgrid[0 : box.h, 0 : box.w]
        heat[box.y : box.y + box.h, box.x : box.x + box.w] = np.exp(
            -(((xx - box.w / 2) / (box.w / 4)) ** 2 + ((yy - box.h / 2) / (box.h / 4)) ** 2))
        lms = None
        attention = None
        if mode == "landmarks":
            lms = landmarks or {n: (float(w * (0.1 + 0.1 * i)), float(h * 0.6)) for i, n in enumerate(LANDMARK_NAMES)}
            attention = {n: 1.0 / len(LANDMARK_NAMES) for n in LANDMARK_NAMES}
        risk = float(np.clip(box.x / w + 0.2 + 0.1 * float(rad.pixels[0, 0]), 0, 1))
        spacing = pixel_spacing_mm or rad.pixel_spacing_mm or 0.1
        border = [(float(x), float(box.y + box.h * 0.7)) for x in range(box.x, box.x + box.w, 10)]
        half = len(border) // 2
        res = ScreeningResult(
            path=rad.path, risk=risk, risk_level="low" if risk < 0.3 else "high" if risk >= 0.6 else "intermediate",
            operating_point={"name": "balanced", "threshold": 0.5, "sensitivity": 0.8, "specificity": 0.7},
            klemetti_class="C2", klemetti_probabilities={"C1": 0.2, "C2": 0.7, "C3": 0.1},
            klemetti_rule="C2", klemetti_agree=True, klemetti_evidence={},
            mcw_left_mm=30 * spacing, mcw_right_mm=28 * spacing, spacing=Spacing(spacing, "assumed" if pixel_spacing_mm is None and not rad.pixel_spacing_mm else "user"),
            assessable=True, warnings=[], roi=box, roi_confidence=0.9,
            border_right=border[:half], border_left=border[half:], landmarks=lms, attention=attention,
            model=LANDMARK_INFO if mode == "landmarks" else ROI_INFO, device="cpu",
            timings_ms={"total": self.delay * 1000}, heatmap=heat, mode=mode)
        return dataclasses.replace(res, **self.overrides) if self.overrides else res


def make_png(tmp_path: Path) -> Path:
    """A 800 x 300 noise image (the ``png`` fixture of the GUI tests)."""
    p = tmp_path / "pano.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((300, 800)) * 255).astype(np.uint8)).save(p)
    return p


def capture_warnings(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every QMessageBox.warning the app shows (patched: tests never block on a dialog)."""
    seen: list[tuple[str, str]] = []

    def fake_warning(parent: Any, title: str, text: str, *a: Any, **k: Any) -> int:
        seen.append((title, text))
        return 0

    monkeypatch.setattr(QtWidgets.QMessageBox, "warning", staticmethod(fake_warning))
    return seen


def make_window(qtbot: Any, engine: FakeEngine | None = None, **kw: Any) -> Any:
    from dentalosteo_gui.gui.mainwindow import MainWindow

    kw.setdefault("record_history", False)
    win = MainWindow(engine=engine if engine is not None else FakeEngine(), settings=Settings(), **kw)
    qtbot.addWidget(win)
    win.show()
    return win


def open_and_wait(qtbot: Any, win: Any, path: Path) -> ScreeningResult:
    with qtbot.waitSignal(win.screening_done, timeout=10000):
        win.open_path(path)
    assert win.session.result is not None, win.session.last_error
    return win.session.result


def close_window(win: Any) -> None:
    win.close()
    assert win.pool.pool.activeThreadCount() == 0


