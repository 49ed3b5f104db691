"""The window's actions, menus and toolbar (built here, wired to the window's slots).

Every command is one ``QAction`` (menu item, toolbar button and keyboard shortcut at once);
:data:`SHORTCUTS` is the Help > Keyboard shortcuts list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from PySide6 import QtCore, QtGui, QtWidgets

from . import theme
from .canvas import LEVEL_PRESETS, Canvas
from .controller import ScreeningController
from .session import Session

SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Open a radiograph"),
    ("Ctrl+Shift+O", "Screen a folder (batch)"),
    ("Ctrl+E", "Export the PDF report"),
    ("Ctrl+,", "Settings"),
    ("Ctrl+H", "Screening history of this patient"),
    ("Ctrl+R", "Screen again"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo a box or landmark edit"),
    ("Ctrl+1 / Ctrl+2", "ROI mode / landmark mode"),
    ("P", "Reset the box (or landmarks) to the proposal"),
    ("Ctrl+L", "Ruler: calibrate from a known length (Tools menu)"),
    ("Ctrl+M", "Measure the MCW yourself, on each side"),
    ("Enter / Esc", "Finish / cancel the ruler or the measure tool"),
    ("Space (tap)", "Heatmap on/off"),
    ("Space + drag", "Pan (also over the box or the points)"),
    ("B / N", "Traced borders / MCW normals on/off"),
    ("0, F, double-click", "Fit the image"),
    ("1", "Actual size (1:1, one image pixel per screen pixel)"),
    ("+ / - , wheel", "Zoom in / out"),
    ("Left or middle drag", "Pan"),
    ("Right drag", "Window/level (horizontal: contrast, vertical: brightness)"),
    ("I", "Invert grey levels"),
    ("R", "Reset window/level"),
    ("F11", "Full screen on/off"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
]

Key = str | QtGui.QKeySequence | QtGui.QKeySequence.StandardKey
Shortcut = Key | tuple[Key, ...] | None
Std = QtGui.QKeySequence.StandardKey


class ActionHost(Protocol):
    """What the actions are wired to: the main window."""

    session: Session
    controller: ScreeningController
    canvas: Canvas

    def addAction(self, action: QtGui.QAction) -> None: ...  # noqa: N802
    def menuBar(self) -> QtWidgets.QMenuBar: ...  # noqa: N802
    def addToolBar(self, title: str) -> QtWidgets.QToolBar: ...  # noqa: N802
    def close(self) -> bool: ...
    def open_dialog(self) -> None: ...
    def open_batch(self, items: list[str] | None = None) -> Any: ...
    def open_path(self, path: str) -> bool: ...
    def export_pdf_dialog(self) -> None: ...
    def open_settings(self) -> None: ...
    def show_history(self) -> None: ...
    def show_outcomes(self) -> None: ...
    def show_shortcuts(self) -> None: ...
    def show_model_card(self) -> None: ...
    def show_about(self) -> None: ...
    def show_log_folder(self) -> None: ...
    def apply_level_preset(self, name: str) -> None: ...
    def toggle_full_screen(self, on: bool) -> None: ...


@dataclass
class WindowActions:
    """The window's commands."""

    open: QtGui.QAction
    batch: QtGui.QAction
    export: QtGui.QAction
    settings: QtGui.QAction
    history: QtGui.QAction
    outcomes: QtGui.QAction
    quit: QtGui.QAction
    rescreen: QtGui.QAction
    roi_mode: QtGui.QAction
    lm_mode: QtGui.QAction
    reset_roi: QtGui.QAction
    fit: QtGui.QAction
    actual_size: QtGui.QAction
    zoom_in: QtGui.QAction
    zoom_out: QtGui.QAction
    full_screen: QtGui.QAction
    undo: QtGui.QAction
    redo: QtGui.QAction
    invert: QtGui.QAction
    reset_wl: QtGui.QAction
    heatmap: QtGui.QAction
    borders: QtGui.QAction
    normals: QtGui.QAction
    shortcuts: QtGui.QAction
    card: QtGui.QAction
    about: QtGui.QAction
    logs: QtGui.QAction

    def image_actions(self) -> tuple[QtGui.QAction, ...]:
        """The actions that need an open image."""
        return (self.rescreen, self.roi_mode, self.lm_mode, self.reset_roi, self.fit, self.invert,
                self.reset_wl, self.zoom_in, self.zoom_out, self.actual_size)


def make_action(host: ActionHost, text: str, slot: Callable[..., Any], shortcut: Shortcut = None,
                icon: str = "", checkable: bool = False, tip: str = "") -> QtGui.QAction:
    """One window action: icon, window-wide shortcut, tip; ``slot`` gets the checked state
    when ``checkable``, nothing otherwise."""
    act = QtGui.QAction(text, cast(QtCore.QObject, host))
    if icon:
        act.setIcon(theme.icon(icon))
    if shortcut:
        keys = shortcut if isinstance(shortcut, tuple) else (shortcut,)
        act.setShortcuts([QtGui.QKeySequence(k) for k in keys])
        act.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
    act.setCheckable(checkable)
    if tip:
        act.setToolTip(tip)
        act.setStatusTip(tip)
    if checkable:
        act.toggled.connect(slot)
    else:
        act.triggered.connect(lambda _=False: slot())
    host.addAction(act)
    return act


def _undo_action(host: ActionHost, act: QtGui.QAction, keys: tuple[Key, ...]) -> QtGui.QAction:
    """The undo stack's undo or redo action with window-wide shortcuts and an icon."""
    name = "undo" if keys[0] == Std.Undo else "redo"
    act.setIcon(theme.icon(name))
    act.setIconText(name.capitalize())
    act.setShortcuts([QtGui.QKeySequence(k) for k in keys])
    act.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
    host.addAction(act)
    return act


def build_actions(host: ActionHost) -> WindowActions:
    """Create every action (not yet in a menu or toolbar)."""
    a = functools.partial(make_action, host)
    ctl, s, canvas = host.controller, host.session, host.canvas
    acts = WindowActions(
        open=a("&Open…", host.open_dialog, Std.Open, "open", tip="Open a radiograph (Ctrl+O)"),
        batch=a("Screen a &folder…", host.open_batch, "Ctrl+Shift+O", "batch",
                tip="Screen every radiograph in a folder"),
        export=a("&Export PDF report…", host.export_pdf_dialog, "Ctrl+E", "pdf",
                 tip="Export the PDF screening report (Ctrl+E)"),
        settings=a("&Settings…", host.open_settings, "Ctrl+,", "settings"),
        history=a("Screening &history…", host.show_history, "Ctrl+H", "history"),
        outcomes=a("DXA &outcomes and priors…", host.show_outcomes, "Ctrl+Shift+H", "history"),
        quit=a("&Quit", host.close, Std.Quit),
        rescreen=a("Screen &again", ctl.request_screen, "Ctrl+R", "reset"),
        roi_mode=a("&ROI mode", lambda: ctl.set_mode("roi"), "Ctrl+1", "roi",
                   tip="Screen the box on the inferior mandibular cortex (Ctrl+1)"),
        lm_mode=a("&Landmark mode", lambda: ctl.set_mode("landmarks"), "Ctrl+2", "landmarks",
                  tip="Screen eight trabecular landmark patches (Ctrl+2)"),
        reset_roi=a("Reset to &proposal", ctl.reset_to_proposal, "P", "reset",
                    tip="Put the box (or landmarks) back where the app proposed it"),
        fit=a("&Fit image", canvas.fit, ("0", "F"), "fit", tip="Fit the image (0, F or double-click)"),
        actual_size=a("&Actual size (1:1)", canvas.actual_size, "1", tip="One image pixel per screen pixel (1)"),
        zoom_in=a("Zoom &in", lambda: canvas.zoom(1.25), ("+", "=", Std.ZoomIn), tip="Zoom in (+)"),
        zoom_out=a("Zoom &out", lambda: canvas.zoom(0.8), ("-", Std.ZoomOut), tip="Zoom out (-)"),
        full_screen=a("F&ull screen", host.toggle_full_screen, "F11", checkable=True, tip="Full screen (F11)"),
        undo=_undo_action(host, ctl.undo_stack.createUndoAction(cast(QtCore.QObject, host), "&Undo"),
                          (Std.Undo,)),
        redo=_undo_action(host, ctl.undo_stack.createRedoAction(cast(QtCore.QObject, host), "&Redo"),
                          ("Ctrl+Shift+Z", "Ctrl+Y")),
        invert=a("&Invert", s.set_invert, "I", "invert", checkable=True),
        reset_wl=a("&Reset window/level", lambda: host.apply_level_preset("Full range"), "R"),
        # Space: a tap toggles the heatmap, holding it while dragging pans (the window's
        # event filter), so it is not a QAction shortcut (that would fire on the key press).
        heatmap=a("&Heatmap\tSpace", s.set_heatmap_visible, None, "heatmap", checkable=True,
                  tip="Show where the model looked (tap Space)"),
        borders=a("Traced &borders", lambda on: s.set_overlays(borders=on), "B", checkable=True),
        normals=a("MCW &normals", lambda on: s.set_overlays(normals=on), "N", checkable=True),
        shortcuts=a("&Keyboard shortcuts", host.show_shortcuts, "F1", "help"),
        card=a("&Model card…", host.show_model_card, None, "info"),
        about=a("&About DentalOsteo", host.show_about),
        logs=a("Show &log folder", host.show_log_folder),
    )
    group = QtGui.QActionGroup(cast(QtCore.QObject, host))
    for act in (acts.roi_mode, acts.lm_mode):
        act.setCheckable(True)
        group.addAction(act)
    acts.roi_mode.setChecked(s.mode == "roi")
    acts.lm_mode.setChecked(s.mode == "landmarks")
    acts.heatmap.setIconText("Heatmap")
    acts.heatmap.setChecked(s.display.heatmap_visible)
    acts.borders.setChecked(s.display.show_borders)
    acts.normals.setChecked(s.display.show_normals)
    return acts


def _add(target: QtWidgets.QMenu | QtWidgets.QToolBar, items: tuple[QtGui.QAction | None, ...]) -> None:
    """Add actions in order; None is a separator."""
    for act in items:
        if act is None:
            target.addSeparator()
        else:
            target.addAction(act)


def build_menus(host: ActionHost, acts: WindowActions) -> QtWidgets.QMenu:
    """File, View, Screening and Help menus; returns the (empty) File > Open recent menu."""
    mb = host.menuBar()
    m = mb.addMenu("&File")
    m.addAction(acts.open)
    recent_menu = m.addMenu("Open &recent")
    _add(m, (acts.batch, None, acts.export, acts.history, acts.outcomes, None, acts.settings, None,
             acts.quit))
    _add(mb.addMenu("&Edit"), (acts.undo, acts.redo, None, acts.reset_roi))
    m = mb.addMenu("&View")
    _add(m, (acts.fit, acts.actual_size, acts.zoom_in, acts.zoom_out, None, acts.invert, acts.reset_wl))
    presets = m.addMenu("Window/level &presets")
    for name in LEVEL_PRESETS:
        presets.addAction(name, functools.partial(host.apply_level_preset, name))
    _add(m, (None, acts.heatmap, acts.borders, acts.normals, None, acts.full_screen))
    _add(mb.addMenu("&Screening"), (acts.roi_mode, acts.lm_mode, None, acts.reset_roi, acts.rescreen,
                                    None, acts.batch))
    _add(mb.addMenu("&Help"), (acts.shortcuts, acts.card, acts.logs, None, acts.about))
    return recent_menu


def build_toolbar(host: ActionHost, acts: WindowActions) -> QtWidgets.QComboBox:
    """The main toolbar; returns its window/level preset combo. When the window is too narrow
    for it (1024 px), Qt's extension button (») at its end shows the rest: nothing is lost."""
    tb = host.addToolBar("Main")
    tb.setObjectName("MainToolbar")
    tb.setMovable(False)
    tb.setIconSize(QtCore.QSize(20, 20))
    tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    _add(tb, (acts.open, acts.batch, None, acts.roi_mode, acts.lm_mode, acts.reset_roi, acts.undo, acts.redo,
              None, acts.fit, acts.invert))
    combo = QtWidgets.QComboBox()
    combo.addItems(list(LEVEL_PRESETS))
    combo.setToolTip("Window/level preset (right-drag on the image for fine control; R resets)")
    combo.activated.connect(lambda i: host.apply_level_preset(combo.itemText(i)))
    combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    tb.addWidget(combo)
    tb.addSeparator()
    tb.addAction(acts.heatmap)
    spacer = QtWidgets.QWidget()
    spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
    tb.addWidget(spacer)
    _add(tb, (acts.export, acts.settings))
    _visible_extension_button(tb)
    return combo


class _ExtensionStyle(QtWidgets.QProxyStyle):
    """Room for a visible overflow button (Fusion gives it 12 px, too narrow to see)."""

    def pixelMetric(self, metric: QtWidgets.QStyle.PixelMetric, option: Any = None,  # noqa: N802
                    widget: Any = None) -> int:
        if metric == QtWidgets.QStyle.PixelMetric.PM_ToolBarExtensionExtent:
            return 24
        return super().pixelMetric(metric, option, widget)


def _visible_extension_button(tb: QtWidgets.QToolBar) -> None:
    """Qt's overflow button (») shows what does not fit (1024 px: W/L, heatmap, export,
    settings) in a second row; make it wide enough and light enough to be seen."""
    style = _ExtensionStyle("Fusion")
    style.setParent(tb)
    tb.setStyle(style)
    ext = tb.findChild(QtWidgets.QToolButton, "qt_toolbar_ext_button")
    if ext is not None:
        ext.setStyle(style)
        ext.setIcon(theme.text_icon("»"))
        ext.setToolTip("More tools (the window is too narrow to show them all)")
