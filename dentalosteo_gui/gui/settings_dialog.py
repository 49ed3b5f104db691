"""Settings dialog; the values are persisted with core.settings (platformdirs JSON)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6 import QtWidgets

from ..core.cards import operating_point_label
from ..core.errors import ConfigError
from ..core.system.settings import Settings, save_settings

log = logging.getLogger(__name__)

OPERATING_POINTS = ("balanced", "high_sensitivity", "high_specificity")


class SettingsDialog(QtWidgets.QDialog):
    """Edits a copy of the settings; ``result_settings()`` after ``accept``."""

    def __init__(self, settings: Settings, operating_points: list[str] | None = None,
                 parent: QtWidgets.QWidget | None = None, settings_path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(480)
        self._original = settings
        self._path = settings_path
        self.saved: Settings | None = None
        form = QtWidgets.QFormLayout()
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.DontWrapRows)
        self._build_screening_rows(form, settings, operating_points)
        self._build_report_rows(form, settings)
        self._build_app_rows(form, settings)
        self.error_label = QtWidgets.QLabel("")
        self.error_label.setObjectName("Warning")
        self.error_label.setWordWrap(True)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error_label)
        lay.addWidget(buttons)

    def _build_screening_rows(self, form: QtWidgets.QFormLayout, settings: Settings,
                              operating_points: list[str] | None) -> None:
        """Device, operating point, default pixel spacing, heatmap method."""
        self.device = _combo((("auto", "Automatic (GPU when available)"), ("cpu", "CPU"), ("gpu", "GPU")),
                             settings.device)
        form.addRow("Device", self.device)
        ops = list(operating_points or OPERATING_POINTS)
        if settings.operating_point not in ops:
            ops.append(settings.operating_point)
        self.operating_point = _combo(((op, operating_point_label(op)) for op in ops), settings.operating_point)
        form.addRow("Operating point", self.operating_point)
        self.spacing = QtWidgets.QDoubleSpinBox()
        self.spacing.setRange(0.01, 1.0)
        self.spacing.setDecimals(4)
        self.spacing.setSingleStep(0.005)
        self.spacing.setSuffix(" mm/px")
        self.spacing.setValue(float(settings.default_pixel_spacing_mm))
        self.spacing.setToolTip("Used when a file does not record its pixel spacing (MCW is then flagged "
                                "as approximate).")
        form.addRow("Default pixel spacing", self.spacing)
        self.gradcam = _combo((("gradcam", "Grad-CAM"), ("gradcam++", "Grad-CAM++"), ("none", "Off (faster)")),
                              settings.gradcam_method)
        form.addRow("Heatmap method", self.gradcam)

    def _build_report_rows(self, form: QtWidgets.QFormLayout, settings: Settings) -> None:
        """Clinic name, address and logo; report page size; privacy."""
        self.clinic_name = QtWidgets.QLineEdit(settings.clinic_name)
        form.addRow("Clinic name", self.clinic_name)
        self.clinic_address = QtWidgets.QLineEdit(settings.clinic_address)
        form.addRow("Clinic address", self.clinic_address)
        self.clinic_logo = QtWidgets.QLineEdit(settings.clinic_logo)
        form.addRow("Clinic logo", _browse_row(self.clinic_logo, self._browse_logo))
        self.page_size = QtWidgets.QComboBox()
        self.page_size.addItems(["A4", "Letter"])
        self.page_size.setCurrentText(settings.page_size)
        form.addRow("Report page size", self.page_size)
        self.anonymize = QtWidgets.QCheckBox("Anonymise exports and hide patient data on screen")
        self.anonymize.setChecked(bool(settings.anonymize_exports))
        form.addRow("Privacy", self.anonymize)

    def _build_app_rows(self, form: QtWidgets.QFormLayout, settings: Settings) -> None:
        """Model pack folder and appearance."""
        self.model_dir = QtWidgets.QLineEdit(settings.model_dir)
        self.model_dir.setPlaceholderText("bundled model")
        form.addRow("Model pack", _browse_row(self.model_dir, self._browse_model))
        self.dark = QtWidgets.QCheckBox("Dark theme")
        self.dark.setChecked(bool(settings.dark_theme))
        form.addRow("Appearance", self.dark)

    def _browse_logo(self) -> None:
        fn, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Clinic logo", "", "Images (*.png *.jpg *.jpeg)")
        if fn:
            self.clinic_logo.setText(fn)

    def _browse_model(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Model pack folder")
        if d:
            self.model_dir.setText(d)

    def result_settings(self) -> Settings:
        """The settings as edited (not yet saved)."""
        return dataclasses.replace(
            self._original,
            device=str(self.device.currentData()),
            operating_point=str(self.operating_point.currentData()),
            default_pixel_spacing_mm=float(self.spacing.value()),
            gradcam_method=str(self.gradcam.currentData()),
            clinic_name=self.clinic_name.text().strip(),
            clinic_address=self.clinic_address.text().strip(),
            clinic_logo=self.clinic_logo.text().strip(),
            page_size=self.page_size.currentText(),
            anonymize_exports=self.anonymize.isChecked(),
            model_dir=self.model_dir.text().strip(),
            dark_theme=self.dark.isChecked(),
            recent_files=list(self._original.recent_files),
        )

    def accept(self) -> None:
        s = self.result_settings()
        try:
            save_settings(s, self._path)
        except (ConfigError, OSError) as exc:
            self.error_label.setText(str(exc))
            return
        self.saved = s
        log.info("settings saved")
        super().accept()


def _combo(items: Iterable[tuple[str, str]], current: str) -> QtWidgets.QComboBox:
    """A combo box of (value, text) items with ``current`` selected (the first when absent)."""
    combo = QtWidgets.QComboBox()
    for value, text in items:
        combo.addItem(text, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


def _browse_row(edit: QtWidgets.QLineEdit, browse: Callable[[], None]) -> QtWidgets.QHBoxLayout:
    """A line edit with a "Browse…" button next to it."""
    row = QtWidgets.QHBoxLayout()
    button = QtWidgets.QPushButton("Browse…")
    button.clicked.connect(browse)
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row
