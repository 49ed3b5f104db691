"""The calibration dialogs: the ruler's known length, and the device's pixel size.

Both build a calibration profile with ``core.system.profiles`` (``from_ruler`` /
``from_pixel_size``: the core checks the ranges) for the open image's source; the window's
controller saves it (``ScreeningController.save_profile``) and screens again. Bad input (not
a number, out of range, a line too short) gets one clear message and the dialog stays open;
Cancel or Esc changes nothing.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from PySide6 import QtWidgets

from ..core.errors import ConfigError
from ..core.system.profiles import (
    MAGNIFICATION_RANGE,
    Profile,
    SourceKey,
    from_pixel_size,
    from_ruler,
)
from ..core.types import Radiograph, segment_length
from .session import Segment

KNOWN_MM_RANGE = (0.5, 500.0)
MAGNIFICATION_NOTE = (f"Panoramic units magnify by about 1.2–1.3 vertically (the device's manual gives the "
                      f"factor; {MAGNIFICATION_RANGE[0]:g}–{MAGNIFICATION_RANGE[1]:g} accepted). "
                      "Leave it empty to apply none.")


def parse_number(text: str, what: str, lo: float, hi: float, unit: str = "", optional: bool = False) -> float | None:
    """``text`` as a number in [lo, hi] (a decimal comma is accepted); ValueError with a
    message for people otherwise; None for an empty optional field."""
    t = text.strip().replace(",", ".")
    if not t:
        if optional:
            return None
        raise ValueError(f"{what}: please type a number{' of ' + unit if unit else ''}.")
    try:
        v = float(t)
    except ValueError:
        raise ValueError(f"{what}: '{text.strip()}' is not a number. Type it with digits, e.g. "
                         f"{(lo + hi) / 2 if hi < 10 else 25:g}.") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{what} must be between {lo:g} and {hi:g}{' ' + unit if unit else ''}, not {v:g}.")
    return v


def default_profile_name(rad: Radiograph) -> str:
    """From the image's source: the DICOM manufacturer and model, else the folder; with the size."""
    dev = " ".join(p for p in (rad.patient.manufacturer.strip(), rad.patient.model.strip()) if p) \
        if rad.format == "DICOM" else ""
    folder = Path(rad.path).parent.name if rad.path and not rad.path.startswith("<") else ""
    return f"{dev or folder or 'images'} {rad.width}x{rad.height}"


class _CalibrationDialog(QtWidgets.QDialog):
    """The fields both dialogs share: profile name, magnification, folder scope; OK builds the
    profile (``self.profile``) or says what is wrong and stays open."""

    def __init__(self, title: str, rad: Radiograph, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.rad = rad
        self.profile: Profile | None = None
        self.form = QtWidgets.QFormLayout()
        self.name_edit = QtWidgets.QLineEdit(default_profile_name(rad))
        self.mag_edit = QtWidgets.QLineEdit()
        self.mag_edit.setPlaceholderText("none (e.g. 1.25)")
        self.folder_check = QtWidgets.QCheckBox("Only for images from this folder")
        self.folder_check.setChecked(True)
        self.folder_check.setVisible(rad.format != "DICOM")  # DICOM: the device identifies the source
        self.scope = QtWidgets.QLabel("")
        self.scope.setWordWrap(True)
        self.scope.setObjectName("Muted")
        self.folder_check.toggled.connect(self._show_scope)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(self.form)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                                  | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Save profile and re-screen")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def _muted_row(self, text: str) -> None:
        label = QtWidgets.QLabel(text)
        label.setWordWrap(True)
        label.setObjectName("Muted")
        self.form.addRow("", label)

    def _finish_layout(self, hint: str, focus: QtWidgets.QWidget) -> None:
        """The dialog's own hint under its field, then the fields every calibration has;
        ``focus`` gets the keyboard."""
        self._muted_row(hint)
        self.form.addRow("Magnification", self.mag_edit)
        self._muted_row(MAGNIFICATION_NOTE)
        self.form.addRow("Profile name", self.name_edit)
        self.form.addRow("", self.folder_check)
        self.form.addRow("", self.scope)
        self.layout().addWidget(self.buttons)
        self._show_scope()
        focus.setFocus()

    def _show_scope(self) -> None:
        key = SourceKey.of(self.rad)
        if not self.folder_check.isChecked():
            key = SourceKey(key.manufacturer, key.model, key.width, key.height, "")
        self.scope.setText(f"Used automatically for images from: {key.describe()}. Saved in your settings "
                           'folder; "dentalosteo calibrate --export" copies it to other PCs.')

    def _name(self) -> str:
        name = self.name_edit.text().strip()
        if not name or len(name) > 80:
            raise ValueError("Profile name: type a short name (1 to 80 characters), e.g. the device's model.")
        return name

    def _magnification(self) -> float | None:
        return parse_number(self.mag_edit.text(), "Magnification", *MAGNIFICATION_RANGE, optional=True)

    def build(self) -> Profile:  # pragma: no cover - each dialog builds its own
        raise NotImplementedError

    def accept(self) -> None:
        try:
            self.profile = self.build()
        except (ValueError, ConfigError) as exc:
            self.profile = None
            QtWidgets.QMessageBox.warning(self, self.windowTitle(), str(exc))
            return
        super().accept()


class RulerDialog(_CalibrationDialog):
    """The known length of the ruler line (mm), the profile name, an optional magnification
    (only for an object that was not at the jaw, e.g. a ruler on the detector)."""

    def __init__(self, rad: Radiograph, seg: Segment, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Calibrate from a known length", rad, parent)
        self.seg = seg
        px = segment_length(seg)
        self.form.addRow("Line drawn", QtWidgets.QLabel(f"{px:.1f} px"))
        self.known_edit = QtWidgets.QLineEdit()
        self.known_edit.setPlaceholderText("e.g. 25")
        self.form.addRow("Known length (mm)", self.known_edit)
        self._finish_layout("A ruler, a calibration ball or an implant of known length at the jaw is at "
                            "the anatomical scale already: leave the magnification empty.", self.known_edit)

    def build(self) -> Profile:
        known = parse_number(self.known_edit.text(), "Known length", *KNOWN_MM_RANGE, unit="mm")
        assert known is not None
        name, mag = self._name(), self._magnification()
        folder = self.folder_check.isChecked()
        prof = from_ruler(name, self.rad, known, self.seg[0], self.seg[1], for_folder=folder)  # checks the line
        if mag is None:
            return prof
        # an object away from the jaw (at the detector): its size per pixel is the detector's
        at_detector = from_pixel_size(name, self.rad, known / segment_length(self.seg), mag, for_folder=folder)
        return dataclasses.replace(at_detector, method=f"{prof.method}, at the detector")


class PixelSizeDialog(_CalibrationDialog):
    """The device's pixel size at the detector (mm) and its magnification."""

    def __init__(self, rad: Radiograph, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Calibrate from the device's pixel size", rad, parent)
        self.size_edit = QtWidgets.QLineEdit()
        self.size_edit.setPlaceholderText("e.g. 0.1")
        self.form.addRow("Detector pixel size (mm)", self.size_edit)
        self._finish_layout("From the device's data sheet (the size of one pixel at the detector); "
                            "it is divided by the magnification below.", self.size_edit)

    def build(self) -> Profile:
        size = parse_number(self.size_edit.text(), "Detector pixel size", 0.005, 1.0, unit="mm")
        assert size is not None
        return from_pixel_size(self._name(), self.rad, size, self._magnification(),
                               for_folder=self.folder_check.isChecked())
