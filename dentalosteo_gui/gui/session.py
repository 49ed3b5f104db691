"""The app state: one Qt-free evented model (napari's ``EventedModel`` pattern, with psygnal).

Every field is evented: assigning it emits ``session.events.<field>`` with ``(new, old)``
when the value changes (callbacks may take fewer arguments). The display state is an evented
child: ``session.display.events.<field>``, or ``session.display.events.connect(cb)`` for any
display change. Widgets hold no state of their own: they read the session and listen.

The methods below are the way to change the session. Those that change several fields
(a new image clears the result and the dentist's edits, for example) set them all first and
then emit once per changed field, in field order, so a listener never sees a half-updated
session. Values are replaced, never mutated in place (``edits`` and ``normals`` are tuples,
``settings`` is copied on the way in). The session is touched only from the GUI thread
(workers hand their results back through Qt signals).

Signals listeners use: ``image`` (a radiograph was opened or closed), ``result`` (a
screening result arrived or was cleared), ``result_card`` (the card of the model that
produced it: :attr:`Session.active_card` is the card to name and show), ``spacing`` (the pixel spacing in use changed),
``busy``, ``engine_status`` (model load state), ``mode`` (roi | landmarks), ``roi_override``,
``normals``, ``tool`` (the canvas tool: ruler | measure | none), ``foramen_override``,
``dentist_mcw``, ``settings``; and the display child's ``levels``, ``invert``,
``heatmap_visible``, ``heatmap_opacity``, ``show_borders``, ``show_normals``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from psygnal import SignalGroupDescriptor

from ..core.system.settings import Settings
from ..core.types import Landmarks, Radiograph, RoiBox, ScreeningResult, Spacing

log = logging.getLogger(__name__)

MODES = ("roi", "landmarks")
TOOLS = ("", "ruler", "measure")  # the canvas tool in use ("": none; the box/points are edited)
SIDES = ("right", "left")  # the patient's sides (patient's right = image left)
Segment = tuple[tuple[float, float], tuple[float, float]]
Point = tuple[float, float]


@dataclass
class DisplayState:
    """How the radiograph is shown; no effect on the screening. Evented like the session."""

    levels: tuple[float, float] = (0.0, 1.0)  # (black, white) in [0, 1] pixel units
    invert: bool = False
    heatmap_visible: bool = True
    heatmap_opacity: float = 0.55
    show_borders: bool = True
    show_normals: bool = False

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()


@dataclass(frozen=True, eq=False)
class OpenImage:
    """The open radiograph with where it came from (compared by identity)."""

    radiograph: Radiograph
    path: str = ""
    file_sha256: str = ""


@dataclass(frozen=True)
class EngineStatus:
    """The screening engine's load state as the window shows it."""

    state: str = "idle"  # idle | loading | ready | no_model | error
    message: str = ""
    model_card: dict[str, Any] | None = None  # the ROI model's card (None: no model)
    device: str = ""


@dataclass
class Session:
    """Everything the window shows, in one place."""

    settings: Settings = field(default_factory=Settings)
    image: OpenImage | None = None
    result: ScreeningResult | None = None
    # the card of the model that produced the result (ROI or landmark model; None: no model)
    result_card: dict[str, Any] | None = None
    # the spacing in use: the result's, or before a result Engine.spacing_for's answer
    spacing: Spacing | None = None
    proposal_roi: RoiBox | None = None  # the engine's own proposal for this image
    roi_override: RoiBox | None = None  # the dentist's box (None: use the proposal)
    landmarks_override: Landmarks | None = None
    spacing_override_mm: float | None = None
    mode: str = "roi"
    busy: bool = False
    engine_status: EngineStatus = field(default_factory=EngineStatus)
    history_id: int | None = None
    edits: tuple[dict[str, Any], ...] = ()
    last_error: str = ""
    # MCW measurement normals of the current result ((x0, y0), (x1, y1)); () while computing
    normals: tuple[Segment, ...] | None = None
    tool: str = ""  # the canvas tool in use: "" | ruler | measure (see TOOLS)
    # the dentist's mental foramen per patient side ("left"/"right", image pixels; None: the engine's)
    foramen_override: dict[str, Point] | None = None
    # the dentist's own MCW: two points across the cortex per side (None: not measured)
    dentist_mcw: dict[str, Segment] | None = None
    display: DisplayState = field(default_factory=DisplayState)

    # settings, image and result are compared by identity (a result holds arrays; the
    # settings are copied on the way in, so setting them always announces them)
    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor(
        equality_operators={"settings": operator.is_, "image": operator.is_, "result": operator.is_,
                            "result_card": operator.is_},
        signal_aliases={"display": None},  # display changes come from session.display.events
    )

    @contextmanager
    def _changes(self) -> Iterator[None]:
        """Set several fields, then emit each changed field's signal once, in field order."""
        signals = [self.events[f.name] for f in dataclasses.fields(self) if f.name in self.events.signals]
        for sig in signals:
            sig.pause()
        try:
            yield
        finally:
            for sig in signals:
                sig.resume(reducer=lambda first, last: (last[0], first[1]))

    # ------------------------------------------------------------------ image / result
    def set_radiograph(self, rad: Radiograph | None, path: str = "", file_sha256: str = "",
                       spacing: Spacing | None = None) -> None:
        """A new image: clears the result, the dentist's edits and the display levels.
        ``spacing``: the spacing a screening will use (``Engine.spacing_for``), when known."""
        with self._changes():
            self.image = None if rad is None else OpenImage(rad, path, file_sha256)
            self.result = None
            self.result_card = None
            self.spacing = spacing
            self.proposal_roi = None
            self.roi_override = None
            self.landmarks_override = None
            self.spacing_override_mm = None
            self.history_id = None
            self.edits = ()
            self.normals = None
            self.tool = ""
            self.foramen_override = None
            self.dentist_mcw = None
        self.display.levels = (0.0, 1.0)

    def set_result(self, result: ScreeningResult | None, card: dict[str, Any] | None = None) -> None:
        """A screening result and the card of the model that produced it (``card``)."""
        with self._changes():
            self.result = result
            self.result_card = card if result is not None and result.model is not None else None
            self.normals = None
            if result is not None:
                self.spacing = result.spacing
                if self.roi_override is None and result.mode == "roi":
                    self.proposal_roi = result.roi

    def set_busy(self, busy: bool) -> None:
        self.busy = bool(busy)

    def set_engine_state(self, state: str, message: str = "", model_card: dict[str, Any] | None = None,
                         device: str = "") -> None:
        self.engine_status = EngineStatus(state, message, model_card, device)

    def set_error(self, text: str) -> None:
        self.last_error = text

    def set_history_id(self, history_id: int | None) -> None:
        """The current result was recorded in the history: its edits are now on record."""
        with self._changes():
            self.history_id = history_id
            self.edits = ()

    # ------------------------------------------------------------------ dentist's edits
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be roi or landmarks, not {mode!r}")
        self.mode = mode

    def _add_edit(self, edit: dict[str, Any]) -> None:
        self.edits = (*self.edits, edit)

    def set_roi_override(self, box: RoiBox | None) -> None:
        with self._changes():
            self.roi_override = box
            self._add_edit({"kind": "roi_moved" if box else "roi_reset", "roi": box.as_dict() if box else None})

    def set_landmarks_override(self, landmarks: Landmarks | None) -> None:
        with self._changes():
            self.landmarks_override = dict(landmarks) if landmarks else None
            self._add_edit({"kind": "landmarks_moved" if landmarks else "landmarks_reset"})

    def set_spacing_override(self, mm: float | None, spacing: Spacing | None = None) -> None:
        """The dentist's spacing; ``spacing``: what the engine will make of it, when known."""
        with self._changes():
            self.spacing_override_mm = mm
            if spacing is not None:
                self.spacing = spacing
            self._add_edit({"kind": "spacing_changed", "pixel_spacing_mm": mm})

    def set_foramen_override(self, points: dict[str, Point] | None) -> None:
        """The dentist's mental foramen per side (None: back to the engine's own)."""
        pts = {k: (float(v[0]), float(v[1])) for k, v in points.items()} if points else None
        with self._changes():
            self.foramen_override = pts
            self._add_edit({"kind": "foramen_moved" if pts else "foramen_reset",
                            "mental_foramen": {k: list(v) for k, v in pts.items()} if pts else None})

    def set_dentist_mcw(self, lines: dict[str, Segment] | None) -> None:
        """The dentist's own MCW lines per side (None: cleared)."""
        segs = ({k: ((float(a[0]), float(a[1])), (float(b[0]), float(b[1]))) for k, (a, b) in lines.items()}
                if lines else None)
        with self._changes():
            self.dentist_mcw = segs
            self._add_edit({"kind": "dentist_mcw" if segs else "dentist_mcw_cleared",
                            "dentist_mcw": {k: [list(a), list(b)] for k, (a, b) in segs.items()} if segs else None})

    def set_calibration(self, spacing: Spacing | None, profile: str) -> None:
        """A calibration profile was saved for this image's source: the dentist's typed spacing
        gives way to it; ``spacing``: what the engine will now use (when known)."""
        with self._changes():
            self.spacing_override_mm = None
            if spacing is not None:
                self.spacing = spacing
            self.tool = ""
            self._add_edit({"kind": "calibrated", "profile": profile,
                            "pixel_spacing_mm": spacing.mm_per_px if spacing else None})

    def set_tool(self, tool: str) -> None:
        """The canvas tool in use ("" ends it)."""
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, not {tool!r}")
        self.tool = tool if self.image is not None else ""

    # ------------------------------------------------------------------ display
    def set_levels(self, lo: float, hi: float) -> None:
        lo, hi = float(lo), float(hi)
        if hi - lo < 1e-3:
            hi = lo + 1e-3
        self.display.levels = (lo, hi)

    def set_invert(self, invert: bool) -> None:
        self.display.invert = bool(invert)

    def set_heatmap_visible(self, visible: bool) -> None:
        self.display.heatmap_visible = bool(visible)

    def set_heatmap_opacity(self, opacity: float) -> None:
        self.display.heatmap_opacity = min(1.0, max(0.0, float(opacity)))

    def set_overlays(self, borders: bool | None = None, normals: bool | None = None) -> None:
        if borders is not None:
            self.display.show_borders = bool(borders)
        if normals is not None:
            self.display.show_normals = bool(normals)

    def set_normals(self, normals: list[Segment] | tuple[Segment, ...] | None) -> None:
        self.normals = None if normals is None else tuple(normals)

    def set_settings(self, settings: Settings) -> None:
        """Adopt ``settings`` (a copy: changing the caller's object later changes nothing here)."""
        self.settings = copy.deepcopy(settings)

    # ------------------------------------------------------------------ derived (read-only)
    @property
    def radiograph(self) -> Radiograph | None:
        return self.image.radiograph if self.image else None

    @property
    def path(self) -> str:
        return self.image.path if self.image else ""

    @property
    def file_sha256(self) -> str:
        return self.image.file_sha256 if self.image else ""

    @property
    def engine_state(self) -> str:
        return self.engine_status.state

    @property
    def engine_message(self) -> str:
        return self.engine_status.message

    @property
    def model_card(self) -> dict[str, Any] | None:
        """The ROI model's card (None: no model installed)."""
        return self.engine_status.model_card

    @property
    def active_card(self) -> dict[str, Any] | None:
        """The card of the model actually used: the result's (the landmark model's in landmark
        mode); before a result, the ROI model's in ROI mode (None in landmark mode: not yet
        known which landmark model, if any, will run)."""
        if self.result is not None:
            return self.result_card
        return self.model_card if self.mode == "roi" else None

    @property
    def device(self) -> str:
        return self.engine_status.device

    @property
    def anonymized(self) -> bool:
        return bool(self.settings.anonymize_exports)
