"""The results panel's mandibular cortical width card: MCW per patient side (in mm when the
spacing is stated or calibrated, in image pixels when it is assumed), the dentist's own
measurement beside the automatic one, the panoramic mandibular index (PMI, scale-free), and
the pixel spacing in use with its source (editable: Apply re-screens).

Reads the session; its one output is ``spacing_changed``. The words are
:func:`.wording.mcw_reading`'s.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..core.types import ScreeningResult
from . import theme
from .risk_card import card_frame, label
from .session import Session
from .wording import CALIBRATE_HINT, MCW_REFERRAL_MM, mcw_reading

SPACING_UNKNOWN = 0.01  # the spacing box's minimum, shown as "–": the spacing is not known yet
MCW_NOTES = {
    "": f"MCW under about {MCW_REFERRAL_MM:g} mm is a common referral threshold.",
    "not_assessable": "Not assessable: measured on an image that failed the checks. Confirm the cortex on "
                      "the radiograph before relying on these numbers.",
    "not_panoramic": "No MCW: not a dental panoramic radiograph.",
}
UNCALIBRATED_NOTE = (f"Uncalibrated: MCW in image pixels, not mm (the file does not say how large a pixel "
                     f"is); {CALIBRATE_HINT} for mm. PMI needs no calibration.")
PMI_TIP = ("Panoramic mandibular index (Benson et al. 1991): cortical width divided by the distance from the "
           "inferior border to the lower margin of the mental foramen. Needs no millimetres; about 0.3 is "
           "usual. '–': no mental foramen found on that side (move the MF point onto it).")


class McwCard(QtWidgets.QFrame):
    """MCW, PMI and the pixel spacing, per patient side."""

    spacing_changed = QtCore.Signal(object)  # float mm/px typed by the dentist

    def __init__(self, session: Session, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        _, cl = card_frame("Mandibular cortical width", self)
        grid = QtWidgets.QGridLayout()
        grid.setVerticalSpacing(2)
        self.values: dict[str, QtWidgets.QLabel] = {}
        self.pmi: dict[str, QtWidgets.QLabel] = {}
        self.details: dict[str, QtWidgets.QLabel] = {}
        for col, side in enumerate(("right", "left")):
            grid.addWidget(label(f"Patient's {side}", "Muted"), 0, col)
            self.values[side] = label("–", "MidValue")
            self.pmi[side] = label("PMI –")
            self.pmi[side].setToolTip(PMI_TIP)
            self.details[side] = label("", "Muted", wrap=True)
            for row, w in enumerate((self.values[side], self.pmi[side], self.details[side]), 1):
                grid.addWidget(w, row, col)
        cl.addLayout(grid)
        self.mcw_note = label(MCW_NOTES[""], "Muted", wrap=True)
        cl.addWidget(self.mcw_note)
        cl.addLayout(self._spacing_row())
        self.spacing_source = label("", "Muted", wrap=True)
        cl.addWidget(self.spacing_source)
        self.spacing_warning = label("", "Warning", wrap=True)
        cl.addWidget(self.spacing_warning)
        session.events.spacing.connect(self.refresh_spacing)

    def _spacing_row(self) -> QtWidgets.QHBoxLayout:
        srow = QtWidgets.QHBoxLayout()
        srow.addWidget(label("Pixel spacing", "Muted"))
        self.spacing_box = QtWidgets.QDoubleSpinBox()
        self.spacing_box.setDecimals(4)
        self.spacing_box.setRange(SPACING_UNKNOWN, 1.0)
        self.spacing_box.setSpecialValueText("–")  # shown at the minimum: not known yet
        self.spacing_box.setSingleStep(0.005)
        self.spacing_box.setSuffix(" mm/px")
        self.spacing_box.setKeyboardTracking(False)
        self.spacing_box.setToolTip("Pixel spacing at the mandible. Change it and press Apply to re-measure "
                                    "(the risk score does not depend on it). To keep it for this device, "
                                    "calibrate instead (Tools ▸ Ruler or device pixel size).")
        srow.addWidget(self.spacing_box, 1)
        self.spacing_apply = QtWidgets.QPushButton("Apply")
        self.spacing_apply.clicked.connect(self._apply_spacing)
        srow.addWidget(self.spacing_apply)
        return srow

    def _apply_spacing(self) -> None:
        value = float(self.spacing_box.value())
        if value > SPACING_UNKNOWN:  # "–": nothing entered
            self.spacing_changed.emit(value)

    # ------------------------------------------------------------------ session -> widgets
    def refresh(self, res: ScreeningResult | None) -> None:
        """MCW per side; greyed with its caveat when not assessable; none on a non-panoramic."""
        status = res.status if res is not None else ""
        dim = status == "not_assessable"
        for side in ("right", "left"):
            r = mcw_reading(res, side)
            self.values[side].setText(r.value)
            self.values[side].setStyleSheet(f"color: {theme.MUTED};" if dim else
                                            f"color: {theme.WARN};" if r.low else "")
            self.pmi[side].setText(r.pmi)
            self.pmi[side].setToolTip(PMI_TIP + (f"\n\nNo PMI on this side: {r.pmi_why}" if r.pmi_why else ""))
            self.pmi[side].setVisible(res is not None and status != "not_panoramic")
            self.details[side].setText(r.detail)
            self.details[side].setVisible(bool(r.detail))
        uncal = res is not None and status != "not_panoramic" and res.spacing.assumed
        note = MCW_NOTES.get(status, MCW_NOTES[""])
        if uncal:  # the mm threshold does not apply to pixels; the not-assessable caveat does
            note = f"{UNCALIBRATED_NOTE} {note}" if status == "not_assessable" else UNCALIBRATED_NOTE
        self.mcw_note.setText(note)
        caveat = status in ("not_assessable", "not_panoramic") or uncal
        self.mcw_note.setStyleSheet(f"color: {theme.WARN if caveat else theme.MUTED};")
        self.refresh_spacing()

    def refresh_spacing(self) -> None:
        """The spacing in use (the result's, or the engine's answer before a result) and its
        source; never worked out here."""
        s = self.session
        sp = s.spacing
        self.spacing_box.blockSignals(True)
        self.spacing_box.setValue(SPACING_UNKNOWN if sp is None else sp.mm_per_px)
        self.spacing_box.blockSignals(False)
        has_image = s.radiograph is not None
        self.spacing_box.setEnabled(has_image)
        self.spacing_apply.setEnabled(has_image)
        where = "" if sp is None else sp.source + (f" ({sp.detail})" if sp.detail else "")
        self.spacing_source.setText(f"Source: {where}" if where else "")
        self.spacing_source.setToolTip("" if sp is None else sp.describe())
        if sp is not None and sp.assumed:
            self.spacing_warning.setText(
                f"⚠ Assumed spacing ({sp.mm_per_px:g} mm/px): the file does not say how large a pixel "
                "is, so MCW is shown in pixels. Calibrate (Tools menu) or enter the spacing.")
        elif sp is not None and sp.source == "user":
            self.spacing_warning.setText("Spacing entered by you.")
        else:
            self.spacing_warning.setText("")
