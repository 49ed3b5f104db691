"""The evented session model (psygnal): every field change is announced, compound changes
are announced after all their fields are set, and no GUI module writes its fields directly."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("psygnal")

from dentalosteo_gui.core.system.settings import Settings  # noqa: E402
from dentalosteo_gui.core.types import Radiograph, RoiBox, Spacing  # noqa: E402
from dentalosteo_gui.gui.session import EngineStatus, Session  # noqa: E402

GUI_DIR = Path(__file__).resolve().parents[1] / "dentalosteo_gui" / "gui"


def _rad() -> Radiograph:
    return Radiograph(pixels=np.zeros((20, 40), np.float32), path="/x/p.png")


def _record(session: Session) -> list[tuple[str, tuple[Any, ...]]]:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    for name in session.events.signals:
        session.events[name].connect(lambda *args, name=name: seen.append((name, args)))
    session.display.events.connect(lambda info: seen.append(("display." + info.signal.name, info.args)))
    return seen


def test_every_field_change_emits_new_and_old() -> None:
    s = Session()
    seen = _record(s)
    new_values = {
        "settings": Settings(), "result": None, "spacing": Spacing(0.2, "dataset", "labels.csv"),
        "proposal_roi": RoiBox(1, 2, 3, 4), "roi_override": RoiBox(1, 2, 3, 4),
        "landmarks_override": {"a": (1.0, 2.0)}, "spacing_override_mm": 0.2, "mode": "landmarks",
        "busy": True, "engine_status": EngineStatus("ready"), "history_id": 7, "edits": ({"kind": "x"},),
        "last_error": "boom", "normals": (((0.0, 0.0), (1.0, 1.0)),),
    }
    for name, value in new_values.items():
        if name == "result":
            continue
        old = getattr(s, name)
        setattr(s, name, value)
        assert seen[-1] == (name, (value, old)), name
    n = len(seen)
    s.mode = "landmarks"  # unchanged: no event
    assert len(seen) == n
    s.set_levels(0.2, 0.8)
    s.set_invert(True)
    assert seen[-2:] == [("display.levels", ((0.2, 0.8), (0.0, 1.0))), ("display.invert", (True, False))]
    evented = set(s.events.signals) | {"display"}
    assert evented == {f.name for f in dataclasses.fields(s)}


def test_new_image_is_announced_after_all_fields_are_set() -> None:
    s = Session()
    s.set_roi_override(RoiBox(1, 1, 5, 5))
    rad = _rad()
    states: list[tuple[Any, ...]] = []
    s.events.image.connect(lambda: states.append((s.radiograph, s.roi_override, s.spacing, s.edits)))
    s.set_radiograph(rad, rad.path, "ab", Spacing(0.2, "dataset", "labels.csv"))
    assert states == [(rad, None, Spacing(0.2, "dataset", "labels.csv"), ())]
    assert s.path == rad.path and s.file_sha256 == "ab"


def test_spacing_follows_the_result_and_edits_are_recorded() -> None:
    s = Session()
    s.set_radiograph(_rad())
    seen = _record(s)
    s.set_spacing_override(0.3, Spacing(0.3, "user"))
    assert [n for n, _ in seen] == ["spacing", "spacing_override_mm", "edits"]
    assert s.edits == ({"kind": "spacing_changed", "pixel_spacing_mm": 0.3},)
    s.set_history_id(3)
    assert s.history_id == 3 and s.edits == ()


def test_settings_are_copied_on_the_way_in() -> None:
    s = Session()
    mine = Settings(anonymize_exports=True)
    seen = _record(s)
    s.set_settings(mine)
    assert s.anonymized and seen[-1][0] == "settings"
    mine.anonymize_exports = False  # the caller's object, not the session's
    assert s.anonymized
    s.set_settings(s.settings)  # always announced (a copy)
    assert [n for n, _ in seen] == ["settings", "settings"]


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError):
        Session().set_mode("box")


def _session_field_writes(tree: ast.AST) -> list[int]:
    """Lines that assign a session (or its display) attribute: ``self.session.x = ...``,
    ``s.x = ...`` where ``s = ...session``, ``session.display.x = ...``."""
    fields = {f.name for f in dataclasses.fields(Session)} | {f.name for f in dataclasses.fields(Session().display)}
    bad: list[int] = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        aliases = {"session"}
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and ast.unparse(node.value).endswith("session"):
                aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(fn):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []
            for t in targets:
                if not (isinstance(t, ast.Attribute) and t.attr in fields):
                    continue
                base = ast.unparse(t.value).split(".")
                if base[-1] == "display":
                    base = base[:-1]
                if base and (base[-1] in aliases or base[-1] == "session"):
                    bad.append(t.lineno)
    return bad


def test_no_gui_module_writes_session_fields_directly() -> None:
    offenders = {}
    for path in sorted(GUI_DIR.glob("*.py")):
        if path.name == "session.py":
            continue
        lines = _session_field_writes(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[path.name] = lines
    assert offenders == {}
    probe = ast.parse("def f(self):\n    s = self.session\n    s.history_id = 1\n    self.session.display.invert = 1\n")
    assert _session_field_writes(probe) == [3, 4]


def test_active_card_is_the_card_of_the_model_that_produced_the_result() -> None:
    from types import SimpleNamespace

    s = Session()
    roi_card, lm_card = {"name": "roi"}, {"name": "lm"}
    s.set_engine_state("ready", model_card=roi_card)
    assert s.active_card is roi_card  # before a result: the ROI model's
    s.set_mode("landmarks")
    assert s.active_card is None  # not yet known which landmark model (if any) runs
    seen = _record(s)
    res = SimpleNamespace(model=object(), spacing=Spacing(0.1, "assumed"), mode="landmarks", roi=None)
    s.set_result(res, lm_card)  # type: ignore[arg-type]
    assert s.active_card is lm_card and ("result_card", (lm_card, None)) in seen
    s.set_result(SimpleNamespace(model=None, spacing=Spacing(0.1, "assumed"), mode="landmarks", roi=None),
                 lm_card)  # type: ignore[arg-type]
    assert s.active_card is None  # no model produced this result: no card to show
