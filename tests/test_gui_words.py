"""Issue 21 (GUI): no score without an assessable image, the referral only at an operating
point, the other mode's reading, words that match the evidence, the model actually used,
the model card as a readable page, and the landmark patches the model sees."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from dentalosteo_gui.core.screening.stages import spacing_warning  # noqa: E402
from dentalosteo_gui.core.types import ModelInfo  # noqa: E402

from .test_gui_support import (  # noqa: E402
    CARD,
    LANDMARK_CARD,
    FakeEngine,
    close_window,
    make_window,
    open_and_wait,
)

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("no_error_dialogs")]

REASON = "low ROI confidence (0.20): the traced edge is weak"
SPACING_NOTE = spacing_warning(0.1)  # the engine's own words (a note, not a reason)
OP = {"name": "high_sensitivity", "label": "High sensitivity (misses fewer, refers more)", "threshold": 0.4,
      "sensitivity": 0.9, "specificity": 0.6, "measured_on": "held-out test set"}


def _panel_text(win: Any) -> str:
    p = win.panel
    return " ".join(w.text() for w in (p.risk_value, p.risk_level_chip, p.op_label, p.referral_label,
                                       p.other_label, p.status_label, p.risk_card.score_noun))


def test_not_assessable_shows_no_number_but_why_and_what_to_do(qtbot: Any, png: Path) -> None:
    # even if a score slipped through, the GUI shows none for an image that is not assessable
    eng = FakeEngine(assessable=False, warnings=[REASON, SPACING_NOTE], referral="refer")
    win = make_window(qtbot, eng)
    res = open_and_wait(qtbot, win, png)
    p = win.panel
    assert res.status == "not_assessable"
    assert p.risk_value.text() == "–" and p.risk_level_chip.text() == "NOT ASSESSABLE"
    assert p.gauge.risk is None and p.gauge.threshold is None and "not assessable" in p.gauge.note
    status = p.status_label.text()
    assert "Why:" in status and "low ROI confidence" in status and "pixel spacing" not in status
    assert "What to do:" in status and "Move the box" in status
    assert p.op_label.text() == "" and p.referral_label.text() == "" and "DXA" not in _panel_text(win)
    assert "px" in p.mcw_right.text() and "Not assessable" in p.mcw_note.text()  # MCW greyed, with caveat
    assert "not assessable, no score" in win.statusBar().currentMessage()
    close_window(win)


def test_not_a_panoramic_no_reading_and_no_mcw(qtbot: Any, png: Path) -> None:
    eng = FakeEngine(assessable=False, panoramic=False,
                     warnings=["not a dental panoramic: width/height is 1.20, expected 1.8-3.2"])
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    p = win.panel
    assert p.risk_level_chip.text() == "NOT A PANORAMIC" and p.risk_value.text() == "–"
    assert "Not a dental panoramic: no osteoporosis reading" in p.status_label.text()
    assert p.mcw_right.text() == "–" and p.mcw_left.text() == "–" and "No MCW" in p.mcw_note.text()
    assert "No reading" in p.klemetti_label.text()
    close_window(win)


def test_referral_at_the_named_operating_point_with_where_it_was_measured(qtbot: Any, png: Path) -> None:
    eng = FakeEngine(referral="refer", operating_point=OP)
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    p = win.panel
    assert "Refer for DXA" in p.referral_label.text()
    op = p.op_label.text()
    assert "High sensitivity (misses fewer, refers more)" in op and "high_sensitivity" not in op
    assert "sensitivity 90%" in op and "measured on held-out test set" in op
    assert "not a probability" in p.risk_card.score_noun.text()  # the card does not say it is one
    assert "probability" not in (op + p.referral_label.text() + p.gauge.toolTip()).replace("not a probability", "")
    eng.overrides["referral"] = "no_referral"
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.request_screen()
    assert "No referral suggested at High sensitivity" in p.referral_label.text()
    # a phantom-trained model: no referral from its score, said so
    eng.overrides.update(referral=None, model=ModelInfo("fake-net", "0.0-test", "ab" * 32, source="phantom"))
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.request_screen()
    assert "for information only" in p.referral_label.text() and "DXA" not in p.referral_label.text()
    close_window(win)


def test_probability_only_when_the_card_says_so(qtbot: Any, png: Path) -> None:
    eng = FakeEngine()
    eng.roi_backend.card = {**CARD, "calibration": {"calibrated_on": "real patients"}}
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    assert win.panel.risk_card.score_noun.text() == "probability of osteoporosis"
    close_window(win)


def test_other_reading_and_disagreement_from_the_cross_check(qtbot: Any, png: Path) -> None:
    warn = ("two readings disagree: the ROI reading is 0.44 (intermediate), the landmark reading "
            "0.80 (high); judge the cortex yourself and say which you relied on")
    eng = FakeEngine(other_reading={"mode": "landmarks", "risk": 0.8, "band": "high", "model": "fake-landmarks"},
                     warnings=[warn])
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    assert eng.calls[-1]["cross_check"] is True  # the controller asks for the other reading
    other = win.panel.other_label.text()
    assert "Other reading: landmark model (fake-landmarks) 0.80 (high)" in other
    assert "Two readings disagree" in other
    close_window(win)


def test_the_model_named_is_the_one_used_landmark_mode(qtbot: Any, png: Path) -> None:
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    assert "fake-net" in win.model_label.text() and "fake-net" in win.acts.card.text()
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.set_mode("landmarks")
    for text in (win.model_label.text(), win.panel.model_label.text(), win.acts.card.text(),
                 win.panel.card_button.text()):
        assert "fake-landmarks" in text and "fake-net" not in text, text
    assert win.session.active_card is LANDMARK_CARD
    win.acts.card.trigger()  # non-modal: returns at once
    dlg = win.dialogs["model_card"]
    assert dlg.isVisible() and not dlg.isModal() and "fake-landmarks" in dlg.windowTitle()
    close_window(win)


def test_model_card_dialog_is_a_readable_page_with_json_behind_a_button(qtbot: Any) -> None:
    from dentalosteo_gui.core.system import paths
    from dentalosteo_gui.gui.model_card_dialog import ModelCardDialog

    path = paths.default_model_dir() / "card.json"
    if not path.is_file():
        pytest.skip("no model card installed")
    card = json.loads(path.read_text(encoding="utf-8"))
    dlg = ModelCardDialog(card)
    qtbot.addWidget(dlg)
    text = dlg.browser.toPlainText()
    for section in ("Intended use", "Training data", "Performance", "Operating points", "Limitations"):
        assert section in text
    assert "Measured on: held-out test set of" in text and "phantoms" in text
    assert "High sensitivity (misses fewer, refers more)" in text and "high_sensitivity" not in text
    assert "risk score (not a probability)" in text
    # the bundled card fuses the image model's score with the measured width: said, with its figures
    assert "How the score is made" in text and "Operating points of the combined score" in text
    assert "AUC of the image model alone" in text and "Image model alone vs. width" in text
    assert not dlg.json_view.isVisibleTo(dlg)
    dlg.json_button.click()
    assert dlg.json_view.isVisibleTo(dlg) and json.loads(dlg.json_view.toPlainText())["name"] == card["name"]


def test_landmark_patches_are_the_model_input(qtbot: Any, png: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dentalosteo_gui.gui import results_panel

    calls: list[dict[str, Any]] = []
    real = results_panel.crop_landmark_patches

    def spy(pixels: Any, lms: Any, spacing_mm: Any, out_size: int = 64, patch_mm: float = 10.0) -> Any:
        calls.append({"spacing": spacing_mm, "out_size": out_size, "patch_mm": patch_mm})
        return real(pixels, lms, spacing_mm, out_size=out_size, patch_mm=patch_mm)

    monkeypatch.setattr(results_panel, "crop_landmark_patches", spy)
    win = make_window(qtbot, FakeEngine())
    open_and_wait(qtbot, win, png)
    with qtbot.waitSignal(win.screening_done, timeout=5000):
        win.controller.set_mode("landmarks")
    assert calls and calls[-1]["out_size"] == 32 and calls[-1]["patch_mm"] == 12.0  # the landmark card's
    assert calls[-1]["spacing"] == pytest.approx(win.session.result.spacing.mm_per_px)
    assert "What the landmark model sees: 12 mm patches at 32 x 32 px" in win.panel.patch_note.text()
    assert all(not img.pixmap().isNull() for img, _ in win.panel.patch_labels.values())
    close_window(win)


def test_advice_fits_the_reason() -> None:
    """An edentulous, metal or tilted image is not fixed by 'more contrast': the advice says
    what the dentist can do (the reasons' own words from core/anatomy/quality.py)."""
    from dentalosteo_gui.gui.wording import advice

    edentulous = ("edentulous jaw: no row of teeth above the lower border on either side "
                  "(tooth-by-tooth contrast 0.021, a dentate side shows at least 0.035)")
    assert "Measure" in advice([edentulous]) and "contrast" not in advice([edentulous])
    metal = "metal (implant, plate or restoration) over the cortex on both sides (40% / 35% of the measurement windows saturated)"
    assert "metal" in advice([metal])
    assert "head level" in advice(["the head is tilted or the image rotated: the two sides differ by 14 degrees"])
    assert "more contrast" in advice(["the lower border of the mandible is too faint: its contrast is 0.8 times"])


def test_the_rule_abstains_with_its_reason_in_the_panel(qtbot: Any, png: Path) -> None:
    """No Klemetti rule class (a child's grade withheld, a margin not distinct): the panel says
    why under the rule's '–' (it showed the dash alone)."""
    why = "not graded: the Klemetti classes are defined for adults"
    eng = FakeEngine(klemetti_rule=None, klemetti_agree=None,
                     klemetti_evidence={"rule": {"why": why, "abstain_reason": why}})
    win = make_window(qtbot, eng)
    open_and_wait(qtbot, win, png)
    assert why in win.panel.klemetti_label.text()
    close_window(win)
