"""The desktop app driving the REAL engine on the bundled phantom sample and a real image.

Without a model pack the engine runs rule-based only (no TensorFlow import: fast). With a
pack in models/default the slow test checks the risk score and the Grad-CAM overlay.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dentalosteo_gui.core.system import paths
from dentalosteo_gui.core.system.settings import Settings  # noqa: E402
from dentalosteo_gui.core.types import LANDMARK_NAMES  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DENTALOSTEO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def sample() -> Path:
    p = paths.sample_image()
    if not p.is_file():
        pytest.skip("bundled sample not installed")
    return p


@pytest.fixture
def shared() -> Path:
    p = Path(__file__).resolve().parents[2] / "shared"
    if not p.is_dir():
        pytest.skip("../shared not available")
    return p


def _pack_installed() -> bool:
    d = paths.default_model_dir()
    return (d / "card.json").exists() and (d / "model.keras").exists()


def _window(qtbot: Any, engine: Any, **kw: Any) -> Any:
    from dentalosteo_gui.gui.mainwindow import MainWindow

    win = MainWindow(engine=engine, settings=Settings(), **kw)
    qtbot.addWidget(win)
    win.show()
    return win


def _rule_engine() -> Any:
    """The real Engine with no model backend: anatomy + cortex rules only (no TensorFlow)."""
    from dentalosteo_gui.core.screening.engine import Engine

    return Engine(None, None)


def test_rule_based_engine_on_sample_roi_landmarks_normals(qtbot: Any, sample: Path) -> None:
    win = _window(qtbot, _rule_engine())
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        win.open_path(sample)
    res = win.session.result
    assert res is not None, win.session.last_error
    assert res.roi is not None and res.border_right and res.border_left
    assert res.mcw_right_mm is not None and "mm" in win.panel.mcw_right.text()
    assert win.panel.risk_level_chip.text() == "NO MODEL INSTALLED"
    assert win.canvas.roi_box() == res.roi
    # MCW normals are re-measured from the result's own border, in a worker
    win.session.set_overlays(normals=True)
    qtbot.waitUntil(lambda: bool(win.session.normals), timeout=15000)
    assert win.canvas.normals_item.isVisible()
    # ROI drag: one re-screen with the dentist's box
    box = res.roi
    roi = win.canvas.roi
    roi.setPos((box.x + 20, box.y), update=True, finish=False)
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        roi.sigRegionChangeFinished.emit(roi)
    assert win.session.result.roi.x == box.x + 20
    # landmark mode auto-places the eight points
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        win.controller.set_mode("landmarks")
    assert set(win.canvas.landmark_items) == set(LANDMARK_NAMES)
    win.close()
    assert win.pool.pool.activeThreadCount() == 0


@pytest.mark.realdata
def test_rule_based_engine_on_real_panoramic(qtbot: Any, shared: Path) -> None:
    img = shared / "realdata" / "abdi_dev" / "images" / "1.png"
    if not img.is_file():
        pytest.skip("real image missing")
    win = _window(qtbot, _rule_engine())
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        win.open_path(img)
    res = win.session.result
    assert res is not None and res.roi is not None and res.assumed_spacing
    assert "Assumed spacing" in win.panel.spacing_warning.text()
    win.close()


@pytest.mark.realdata
def test_chest_radiograph_gets_no_osteoporosis_reading(qtbot: Any, shared: Path) -> None:
    """A chest CR (not a dental panoramic): no score, no MCW, the reason, no dialog."""
    img = shared / "realdata" / "dicom" / "pydicom-data" / "RG1_UNCR.dcm"
    if not img.is_file():
        pytest.skip("RG1_UNCR.dcm missing")
    win = _window(qtbot, _rule_engine(), record_history=False)
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        win.open_path(img)
    res = win.session.result
    assert res is not None and res.status == "not_panoramic"
    p = win.panel
    assert p.risk_level_chip.text() == "NOT A PANORAMIC" and p.risk_value.text() == "–"
    assert "Not a dental panoramic: no osteoporosis reading" in p.status_label.text()
    assert (p.mcw_right.text(), p.mcw_left.text()) == ("–", "–") and p.referral_label.text() == ""
    win.close()


@pytest.mark.slow
@pytest.mark.ml
@pytest.mark.skipif(not _pack_installed(), reason="no model pack in models/default")
def test_real_model_engine_loads_in_background_and_screens(qtbot: Any, sample: Path) -> None:
    from dentalosteo_gui.gui.mainwindow import MainWindow

    win = MainWindow(settings=Settings(device="cpu"))  # default factory: services.make_engine
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.screening_done, timeout=120000):
        win.open_path(sample)
    res = win.session.result
    assert res is not None, win.session.last_error
    assert res.risk is not None and 0.0 <= res.risk <= 1.0 and res.model is not None
    assert win.session.engine_state == "ready" and win.session.model_card
    if res.heatmap is not None:
        assert win.canvas.heat_item.isVisible()
    assert res.device in win.device_label.text()
    if (paths.landmark_model_dir() / "card.json").is_file():
        # the cross-check ran the landmark model; landmark mode names it and shows its input
        assert res.other_reading is not None and res.other_reading["mode"] == "landmarks"
        with qtbot.waitSignal(win.screening_done, timeout=120000):
            win.controller.set_mode("landmarks")
        lm = win.session.result
        assert lm.model is not None and lm.model.name in win.model_label.text()
        assert win.session.active_card is not None and win.session.active_card["mode"] == "landmarks"
        assert "What the landmark model sees" in win.panel.patch_note.text()
    win.close()
    assert win.pool.pool.activeThreadCount() == 0


def test_dataset_spacing_shown_with_its_source_and_mcw_matches_cli(qtbot: Any, sample: Path) -> None:
    """phantom_c1.png has no spacing of its own; its labels.csv sidecar says 0.20984 mm/px."""
    img = sample.with_name("phantom_c1.png")
    if not img.is_file() or not (img.parent / "labels.csv").is_file():
        pytest.skip("phantom_c1.png with its labels.csv not installed")
    cli = subprocess.run([sys.executable, "-m", "dentalosteo_gui.cli.main", "screen", str(img), "--json",
                          "--gradcam", "none"], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert expected["spacing"]["source"] == "dataset"
    win = _window(qtbot, _rule_engine(), record_history=False)
    on_open: list[str] = []  # the header as the image appears, before any result
    win.session.events.image.connect(lambda: on_open.append(win.header.image_info.text()))
    with qtbot.waitSignal(win.screening_done, timeout=30000):
        win.open_path(img)
    res = win.session.result
    assert res is not None, win.session.last_error
    assert res.spacing.source == "dataset" and res.spacing.mm_per_px == pytest.approx(0.20984)
    for text in (on_open[0], win.header.image_info.text()):
        assert "0.210 mm/px (dataset)" in text and "unknown" not in text
    assert "dataset" in win.panel.spacing_source.text()
    assert win.panel.spacing_box.value() == pytest.approx(0.20984, abs=1e-4)
    assert "Assumed" not in win.panel.spacing_warning.text()
    mcw = expected["mcw_mm"]
    assert (res.mcw_right_mm, res.mcw_left_mm) == (pytest.approx(mcw["right"]), pytest.approx(mcw["left"]))
    assert win.panel.mcw_right.text() == f"{mcw['right']:.2f} mm"
    assert win.panel.mcw_left.text() == f"{mcw['left']:.2f} mm"
    win.close()
    assert win.pool.pool.activeThreadCount() == 0
