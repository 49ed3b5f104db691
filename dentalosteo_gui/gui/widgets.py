"""Small widgets: the welcome panel (sample + drop target + recent files), the header strip
(DICOM patient data, hidden in anonymised mode; image facts and the pixel spacing in use
with its source) and the wheel guard for spin boxes and sliders in scrolling panels."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..core.types import Radiograph, Spacing
from . import theme
from .session import Session


class DropFrame(QtWidgets.QFrame):
    """A dashed drop target; the drop itself is handled by the main window."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(460, 170)
        self.setObjectName("DropFrame")
        self.setStyleSheet(
            f"QFrame#DropFrame {{ border: 2px dashed {theme.BORDER}; border-radius: 14px; "
            f"background: {theme.PANEL}; }}")
        lay = QtWidgets.QVBoxLayout(self)
        lab = QtWidgets.QLabel("Drop a panoramic radiograph here\n(PNG, JPEG, TIFF, BMP or DICOM — "
                               "or a whole folder to screen in batch)")
        lab.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        lab.setObjectName("Muted")
        f = lab.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        lab.setFont(f)
        lay.addWidget(lab)


class WelcomePanel(QtWidgets.QWidget):
    """First screen: open, try the bundled sample, drop target, recent files."""

    open_requested = QtCore.Signal()
    sample_requested = QtCore.Signal()
    recent_requested = QtCore.Signal(str)

    def __init__(self, session: Session, sample: Path | None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.sample = sample
        outer = QtWidgets.QVBoxLayout(self)
        outer.addStretch(1)
        col = QtWidgets.QVBoxLayout()
        col.setSpacing(14)
        title = QtWidgets.QLabel("DentalOsteo")
        title.setStyleSheet("font-size: 28pt; font-weight: bold;")
        title.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        col.addWidget(title)
        sub = QtWidgets.QLabel("Osteoporosis screening aid from the mandibular cortex on dental "
                               "panoramic radiographs.\nA referral aid, never a diagnosis.")
        sub.setObjectName("Muted")
        sub.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        col.addWidget(sub)
        self.drop = DropFrame()
        col.addWidget(self.drop, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        row = QtWidgets.QHBoxLayout()
        row.addStretch(1)
        self.open_button = QtWidgets.QPushButton(theme.icon("open"), "  Open radiograph…  (Ctrl+O)")
        self.open_button.setObjectName("Primary")
        self.open_button.clicked.connect(self.open_requested.emit)
        row.addWidget(self.open_button)
        self.sample_button = QtWidgets.QPushButton("Try the sample radiograph")
        self.sample_button.clicked.connect(self.sample_requested.emit)
        has_sample = bool(sample and sample.is_file())
        self.sample_button.setEnabled(has_sample)
        if not has_sample:
            self.sample_button.setToolTip("The bundled sample is not installed.")
        row.addWidget(self.sample_button)
        row.addStretch(1)
        col.addLayout(row)
        self.recent_title = QtWidgets.QLabel("RECENT")
        self.recent_title.setObjectName("CardTitle")
        self.recent_title.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        col.addWidget(self.recent_title)
        self.recent_list = QtWidgets.QListWidget()
        self.recent_list.setMaximumHeight(150)
        self.recent_list.setMaximumWidth(560)
        self.recent_list.itemActivated.connect(lambda it: self.recent_requested.emit(it.toolTip()))
        self.recent_list.itemDoubleClicked.connect(lambda it: self.recent_requested.emit(it.toolTip()))
        col.addWidget(self.recent_list, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        outer.addLayout(col)
        outer.addStretch(2)
        session.events.settings.connect(self.refresh_recent)
        self.refresh_recent()

    def refresh_recent(self) -> None:
        self.recent_list.clear()
        files = [f for f in self.session.settings.recent_files if f]
        for i, f in enumerate(files[:8], 1):
            name = f"recent case {i}" if self.session.anonymized else Path(f).name
            it = QtWidgets.QListWidgetItem(name)
            it.setToolTip(f)
            self.recent_list.addItem(it)
        self.recent_title.setVisible(bool(files))
        self.recent_list.setVisible(bool(files))


class HeaderStrip(QtWidgets.QFrame):
    """One line above the canvas: patient/study (DICOM) or 'anonymised', and image facts."""

    def __init__(self, session: Session, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("HeaderStrip")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 6)
        self.patient = QtWidgets.QLabel("")
        self.patient.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.image_info = QtWidgets.QLabel("")
        self.image_info.setObjectName("Muted")
        self.patient.setMinimumWidth(40)
        self.patient.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.image_info.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.patient, 1)
        lay.addWidget(self.image_info)
        for sig in (session.events.image, session.events.settings, session.events.spacing):
            sig.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        rad = self.session.radiograph
        if rad is None:
            self.patient.setText("")
            self.image_info.setText("")
            return
        self.patient.setText(patient_html(rad, self.session.anonymized))
        facts = [f"{rad.format} {rad.width} x {rad.height}", f"{rad.bits_stored}-bit"]
        sp = self.session.spacing  # the spacing the screening uses (engine), never guessed here
        if sp is not None:
            facts.append(spacing_text(sp))
        self.image_info.setToolTip("" if sp is None else f"Pixel spacing: {sp.describe()}")
        name = "" if self.session.anonymized else Path(rad.path).name + " · "
        self.image_info.setText(name + " · ".join(facts))


def spacing_text(sp: Spacing) -> str:
    """Short form of a spacing with its source: ``0.210 mm/px (dataset)``."""
    return f"{sp.mm_per_px:.3f} mm/px ({sp.source})"


def patient_html(rad: Radiograph, anonymized: bool) -> str:
    """The header strip text: DICOM patient/study fields, or a note when hidden/absent."""
    if anonymized:
        return f"<span style='color:{theme.MUTED}'>Anonymised mode: patient data hidden</span>"
    p = rad.patient
    if p.is_empty():
        return f"<span style='color:{theme.MUTED}'>No patient data in this file</span>"
    name = p.name.replace("^", " ").strip()
    parts = [f"<b>{escape(name) if name else 'Unnamed'}</b>"]
    for label, value in (("ID", p.patient_id), ("born", _date(p.birth_date)), ("sex", p.sex),
                         ("study", _date(p.study_date)), ("", p.institution)):
        if value:
            parts.append(f"<span style='color:{theme.MUTED}'>{label}</span> {escape(value)}".strip())
    return "  ·  ".join(parts)


def _date(v: str) -> str:
    v = (v or "").strip()
    if len(v) == 8 and v.isdigit():
        return f"{v[:4]}-{v[4:6]}-{v[6:]}"
    return v


class WheelGuard(QtCore.QObject):
    """Event filter: a spin box or slider changes on the mouse wheel only while it has the
    focus; otherwise the wheel scrolls the panel (the event goes to the parent)."""

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:  # noqa: N802
        if ev.type() == QtCore.QEvent.Type.Wheel and isinstance(obj, QtWidgets.QWidget) and not obj.hasFocus():
            ev.ignore()
            return True
        return False


def guard_wheel(guard: WheelGuard, *widgets: QtWidgets.QWidget) -> None:
    """Focus on click or Tab only (not on the wheel), and ignore the wheel until focused."""
    for w in widgets:
        w.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        w.installEventFilter(guard)


class NoticeBanner(QtWidgets.QFrame):
    """A non-blocking warning strip above the work area (e.g. problems reading the settings
    file); the dentist dismisses it when read."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NoticeBanner")
        self.setStyleSheet(f"QFrame#NoticeBanner {{ background: #3a2e12; border-bottom: 1px solid {theme.WARN}; }}")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 8, 6)
        self.label = QtWidgets.QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.dismiss = QtWidgets.QPushButton("Dismiss")
        self.dismiss.clicked.connect(self.hide)
        lay.addWidget(self.dismiss, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_lines(self, title: str, lines: list[str]) -> None:
        items = "".join(f"<li>{escape(line, quote=False)}</li>" for line in lines)
        self.label.setText(f"<b style='color:{theme.WARN}'>{escape(title, quote=False)}</b>"
                           f"<ul style='margin:0 0 0 -20px'>{items}</ul>")
        self.show()
