"""Dark theme (palette + style sheet), risk level colours and icon lookup.

Icons come from ``resources/icons`` (SVG or PNG, high-DPI) when present; otherwise a Qt
standard icon stands in so the app never shows a blank button.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.system import paths

log = logging.getLogger(__name__)

# Colours (hex) used across the app; the PDF report uses the same risk level colours.
BG = "#16191d"
PANEL = "#1e2227"
PANEL_2 = "#252a30"
BORDER = "#323840"
TEXT = "#e3e6ea"
MUTED = "#9aa3ad"
ACCENT = "#2bb3c0"
WARN = "#f0a830"
RISK_LEVEL_COLOURS: dict[str, str] = {
    "low": "#3f9b4b",
    "intermediate": "#e0a526",
    "high": "#d2473d",
    "none": "#5c636b",
}
RISK_LEVEL_LABELS: dict[str, str] = {
    "low": "LOW",
    "intermediate": "INTERMEDIATE",
    "high": "HIGH",
}

STYLE_SHEET = f"""
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BG}; }}
QMenuBar {{ background: {PANEL}; border-bottom: 1px solid {BORDER}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {ACCENT}; color: #0b0d0f; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
QToolBar {{ background: {PANEL}; border-bottom: 1px solid {BORDER}; spacing: 4px; padding: 3px; }}
QToolButton {{ padding: 4px 8px; border-radius: 4px; }}
QToolButton:hover {{ background: {PANEL_2}; }}
QToolButton:checked {{ background: #1d4a50; border: 1px solid {ACCENT}; }}
QToolButton#qt_toolbar_ext_button {{ padding: 0px; }}
QStatusBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 6px; }}
QScrollArea, QScrollArea > QWidget > QWidget {{ background: {PANEL}; border: none; }}
QFrame#Card {{ background: {PANEL_2}; border: 1px solid {BORDER}; border-radius: 8px; }}
QLabel#CardTitle {{ color: {MUTED}; font-size: 8pt; font-weight: bold; letter-spacing: 1px; }}
QLabel#BigValue {{ font-size: 22pt; font-weight: bold; }}
QLabel#MidValue {{ font-size: 16pt; font-weight: bold; }}
QLabel#Muted {{ color: {MUTED}; }}
QLabel#Warning {{ color: {WARN}; }}
QFrame#HeaderStrip {{ background: {PANEL_2}; border-bottom: 1px solid {BORDER}; }}
QPushButton {{ background: {PANEL_2}; border: 1px solid {BORDER}; border-radius: 5px; padding: 5px 12px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: #1d4a50; }}
QPushButton:disabled {{ color: #5c636b; }}
QPushButton#Primary {{ background: {ACCENT}; color: #0b0d0f; border: none; font-weight: bold; }}
QPushButton#Primary:disabled {{ background: {PANEL_2}; color: #5c636b; border: 1px solid {BORDER}; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox, QTextBrowser, QPlainTextEdit {{
    background: {BG}; border: 1px solid {BORDER}; border-radius: 4px; padding: 3px 5px; }}
QTableWidget {{ background: {BG}; gridline-color: {BORDER}; alternate-background-color: {PANEL}; }}
QHeaderView::section {{ background: {PANEL_2}; border: none; border-right: 1px solid {BORDER}; padding: 4px; }}
QProgressBar {{ background: {BG}; border: 1px solid {BORDER}; border-radius: 4px; text-align: center; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 14px; margin: -6px 0; border-radius: 7px; }}
QToolTip {{ background: {PANEL_2}; color: {TEXT}; border: 1px solid {ACCENT}; padding: 4px; }}
QTabBar::tab {{ background: {PANEL}; padding: 5px 12px; border: 1px solid {BORDER}; }}
QTabBar::tab:selected {{ background: {PANEL_2}; border-bottom: 2px solid {ACCENT}; }}
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid {MUTED}; border-radius: 3px;
    background: {BG}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: {BORDER}; }}
"""


def apply_theme(app: QtWidgets.QApplication, dark: bool = True) -> None:
    """Fusion style with a dark palette and the app style sheet (light: plain Fusion)."""
    app.setStyle("Fusion")
    if not dark:
        app.setPalette(app.style().standardPalette())
        app.setStyleSheet("")
        return
    pal = QtGui.QPalette()
    c = QtGui.QColor
    roles = QtGui.QPalette.ColorRole
    pal.setColor(roles.Window, c(BG))
    pal.setColor(roles.WindowText, c(TEXT))
    pal.setColor(roles.Base, c(BG))
    pal.setColor(roles.AlternateBase, c(PANEL))
    pal.setColor(roles.ToolTipBase, c(PANEL_2))
    pal.setColor(roles.ToolTipText, c(TEXT))
    pal.setColor(roles.Text, c(TEXT))
    pal.setColor(roles.Button, c(PANEL_2))
    pal.setColor(roles.ButtonText, c(TEXT))
    pal.setColor(roles.Highlight, c(ACCENT))
    pal.setColor(roles.HighlightedText, c("#0b0d0f"))
    pal.setColor(roles.Link, c(ACCENT))
    pal.setColor(QtGui.QPalette.ColorGroup.Disabled, roles.Text, c("#5c636b"))
    pal.setColor(QtGui.QPalette.ColorGroup.Disabled, roles.ButtonText, c("#5c636b"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)


_STANDARD: dict[str, QtWidgets.QStyle.StandardPixmap] = {
    "open": QtWidgets.QStyle.StandardPixmap.SP_DialogOpenButton,
    "folder": QtWidgets.QStyle.StandardPixmap.SP_DirOpenIcon,
    "export": QtWidgets.QStyle.StandardPixmap.SP_DialogSaveButton,
    "pdf": QtWidgets.QStyle.StandardPixmap.SP_DialogSaveButton,
    "settings": QtWidgets.QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "reset": QtWidgets.QStyle.StandardPixmap.SP_BrowserReload,
    "heatmap": QtWidgets.QStyle.StandardPixmap.SP_DialogYesButton,
    "batch": QtWidgets.QStyle.StandardPixmap.SP_FileDialogListView,
    "help": QtWidgets.QStyle.StandardPixmap.SP_DialogHelpButton,
    "info": QtWidgets.QStyle.StandardPixmap.SP_MessageBoxInformation,
    "warning": QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning,
    "history": QtWidgets.QStyle.StandardPixmap.SP_FileDialogContentsView,
    "app": QtWidgets.QStyle.StandardPixmap.SP_ComputerIcon,
    "undo": QtWidgets.QStyle.StandardPixmap.SP_ArrowBack,
    "redo": QtWidgets.QStyle.StandardPixmap.SP_ArrowForward,
    "fullscreen": QtWidgets.QStyle.StandardPixmap.SP_TitleBarMaxButton,
}


def icon(name: str) -> QtGui.QIcon:
    """The app icon ``name`` from resources/icons (svg, then png), else a Qt standard icon."""
    for ext in ("svg", "png"):
        p = paths.icons_dir() / f"{name}.{ext}"
        if p.is_file():
            ic = QtGui.QIcon(str(p))
            if not ic.isNull():
                return ic
    app = QtWidgets.QApplication.instance()
    std = _STANDARD.get(name)
    if not isinstance(app, QtWidgets.QApplication) or std is None:
        return QtGui.QIcon()
    return app.style().standardIcon(std)


def text_icon(text: str, size: int = 20, colour: str = TEXT) -> QtGui.QIcon:
    """An icon of ``text`` in ``colour`` (for the toolbar's overflow button)."""
    pm = QtGui.QPixmap(size, size)
    pm.fill(QtGui.QColor(0, 0, 0, 0))
    p = QtGui.QPainter(pm)
    p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    f = p.font()
    f.setPixelSize(int(size * 0.9))
    f.setBold(True)
    p.setFont(f)
    p.setPen(QtGui.QColor(colour))
    p.drawText(pm.rect(), int(QtCore.Qt.AlignmentFlag.AlignCenter), text)
    p.end()
    return QtGui.QIcon(pm)


def risk_level_colour(level: str | None) -> str:
    """The colour of a risk level (low | intermediate | high), grey for none/unknown."""
    return RISK_LEVEL_COLOURS.get(level or "none", RISK_LEVEL_COLOURS["none"])
