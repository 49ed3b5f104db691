"""The app state: one Qt-free object that announces changes (napari's Viewer model).

Widgets never hold state of their own: they read it from the :class:`Session` and listen
for events. Every mutation goes through a method here that emits an event; the session
is touched only from the GUI thread (workers hand their results back through signals).

Events (``session.events.<name>`` callbacks receive no arguments unless noted):
``image`` (a radiograph was opened or closed), ``result`` (a screening result arrived or
was cleared), ``busy`` (screening started/stopped), ``engine`` (model load state),
``mode`` (roi/landmarks), ``display`` (window/level, invert, heatmap visibility/opacity,
overlays), ``settings``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.system.settings import Settings
from ..core.types import Landmarks, Radiograph, RoiBox, ScreeningResult

log = logging.getLogger(__name__)

EVENT_NAMES = ("image", "result", "busy", "engine", "mode", "display", "settings")


class Signal:
    """A tiny observer list: ``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, fn: Callable[..., Any]) -> None:
        if fn not in self._callbacks:
            self._callbacks.append(fn)

    def disconnect(self, fn: Callable[..., Any]) -> None:
        if fn in self._callbacks:
            self._callbacks.remove(fn)

    def emit(self, *args: Any) -> None:
        for fn in list(self._callbacks):
            fn(*args)


class Events:
    """Holds one :class:`Signal` per event name."""

    def __init__(self, names: tuple[str, ...] = EVENT_NAMES) -> None:
        for n in names:
            setattr(self, n, Signal(n))

    def __getattr__(self, name: str) -> Signal:  # only for type checkers; real attrs set above
        raise AttributeError(name)


@dataclass
class DisplayState:
    """How the radiograph is shown; no effect on the screening."""

    levels: tuple[float, float] = (0.0, 1.0)  # (black, white) in [0, 1] pixel units
    invert: bool = False
    heatmap_visible: bool = True
    heatmap_opacity: float = 0.55
    show_borders: bool = True
    show_normals: bool = False


@dataclass
class Session:
    """Everything the window shows, in one place."""

    settings: Settings = field(default_factory=Settings)
    radiograph: Radiograph | None = None
    path: str = ""
    file_sha256: str = ""
    result: ScreeningResult | None = None
    proposal_roi: RoiBox | None = None  # the engine's own proposal for this image
    roi_override: RoiBox | None = None  # the dentist's box (None: use the proposal)
    landmarks_override: Landmarks | None = None
    spacing_override_mm: float | None = None
    mode: str = "roi"
    busy: bool = False
    engine_state: str = "idle"  # idle | loading | ready | no_model | error
    engine_message: str = ""
    model_card: dict[str, Any] | None = None  # the ROI model's card (None: no model)
    device: str = ""
    history_id: int | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    display: DisplayState = field(default_factory=DisplayState)
    last_error: str = ""
    # MCW measurement normals of the current result ((x0, y0), (x1, y1)), computed on demand
    normals: list[tuple[tuple[float, float], tuple[float, float]]] | None = None
    events: Events = field(default_factory=Events, repr=False, compare=False)

    # ------------------------------------------------------------------ image / result
    def set_radiograph(self, rad: Radiograph | None, path: str = "", file_sha256: str = "") -> None:
        """A new image: clears the result, the dentist's edits and the display levels."""
        self.radiograph = rad
        self.path = path
        self.file_sha256 = file_sha256
        self.result = None
        self.proposal_roi = None
        self.roi_override = None
        self.landmarks_override = None
        self.spacing_override_mm = None
        self.history_id = None
        self.edits = []
        self.display.levels = (0.0, 1.0)
        self.events.image.emit()
        self.events.result.emit()
        self.events.display.emit()

    def set_result(self, result: ScreeningResult | None) -> None:
        self.result = result
        self.normals = None
        if result is not None and self.roi_override is None and result.mode == "roi":
            self.proposal_roi = result.roi
        self.events.result.emit()

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.events.busy.emit()

    def set_engine_state(self, state: str, message: str = "", model_card: dict[str, Any] | None = None,
                         device: str = "") -> None:
        self.engine_state = state
        self.engine_message = message
        self.model_card = model_card
        self.device = device
        self.events.engine.emit()

    # ------------------------------------------------------------------ dentist's edits
    def set_mode(self, mode: str) -> None:
        if mode not in ("roi", "landmarks"):
            raise ValueError(f"mode must be roi or landmarks, not {mode!r}")
        if mode != self.mode:
            self.mode = mode
            self.events.mode.emit()

    def set_roi_override(self, box: RoiBox | None) -> None:
        self.roi_override = box
        self.edits.append({"kind": "roi_moved" if box else "roi_reset",
                           "roi": box.as_dict() if box else None})

    def set_landmarks_override(self, landmarks: Landmarks | None) -> None:
        self.landmarks_override = dict(landmarks) if landmarks else None
        self.edits.append({"kind": "landmarks_moved" if landmarks else "landmarks_reset"})

    def set_spacing_override(self, mm: float | None) -> None:
        self.spacing_override_mm = mm
        self.edits.append({"kind": "spacing_changed", "pixel_spacing_mm": mm})

    # ------------------------------------------------------------------ display
    def set_levels(self, lo: float, hi: float) -> None:
        lo, hi = float(lo), float(hi)
        if hi - lo < 1e-3:
            hi = lo + 1e-3
        self.display.levels = (lo, hi)
        self.events.display.emit()

    def set_invert(self, invert: bool) -> None:
        self.display.invert = bool(invert)
        self.events.display.emit()

    def set_heatmap_visible(self, visible: bool) -> None:
        self.display.heatmap_visible = bool(visible)
        self.events.display.emit()

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.display.heatmap_opacity = min(1.0, max(0.0, float(opacity)))
        self.events.display.emit()

    def set_overlays(self, borders: bool | None = None, normals: bool | None = None) -> None:
        if borders is not None:
            self.display.show_borders = bool(borders)
        if normals is not None:
            self.display.show_normals = bool(normals)
        self.events.display.emit()

    def set_normals(self, normals: list[tuple[tuple[float, float], tuple[float, float]]] | None) -> None:
        self.normals = normals
        self.events.display.emit()

    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.events.settings.emit()

    # ------------------------------------------------------------------ derived
    @property
    def anonymized(self) -> bool:
        return bool(self.settings.anonymize_exports)

    def effective_spacing(self) -> float | None:
        """Spacing passed to the engine: the dentist's value, else None (file / default)."""
        return self.spacing_override_mm
