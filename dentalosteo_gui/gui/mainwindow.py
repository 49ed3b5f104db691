"""Main window: a pyqtgraph canvas with File > Open (grows into the full app)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..core.errors import DentalOsteoError
from ..core.imageio import load_radiograph
from ..core.logsetup import configure_logging
from ..core.types import Radiograph

log = logging.getLogger(__name__)

FILE_FILTER = "Radiographs (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.dcm *.dicom);;All files (*)"


class Canvas(pg.GraphicsLayoutWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(imageAxisOrder="row-major")
        self.view = self.addViewBox(lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)

    def show_image(self, pixels: np.ndarray) -> None:
        self.image_item.setImage(pixels, levels=(0.0, 1.0), autoLevels=False)
        self.view.autoRange(padding=0.01)


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"DentalOsteo {__version__}")
        self.resize(1400, 800)
        self.canvas = Canvas(self)
        self.setCentralWidget(self.canvas)
        self.radiograph: Radiograph | None = None
        menu = self.menuBar().addMenu("&File")
        act = QtGui.QAction("&Open…", self)
        act.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        act.triggered.connect(self.open_dialog)
        menu.addAction(act)
        quit_act = QtGui.QAction("&Quit", self)
        quit_act.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        quit_act.triggered.connect(self.close)
        menu.addAction(quit_act)
        self.statusBar().showMessage("Open a panoramic radiograph (File > Open)")

    def open_dialog(self) -> None:
        fn, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open radiograph", "", FILE_FILTER)
        if fn:
            self.open_path(fn)

    def open_path(self, path: str | Path) -> bool:
        try:
            rad = load_radiograph(path)
        except DentalOsteoError as exc:
            log.info("open failed: %s", type(exc).__name__)
            QtWidgets.QMessageBox.warning(self, "Cannot open file", str(exc))
            return False
        self.radiograph = rad
        self.canvas.show_image(rad.pixels)
        self.statusBar().showMessage(f"{Path(path).name}: {rad.width} x {rad.height} {rad.format}")
        return True


def run_gui(files: list[str], screenshot: str = "") -> int:
    configure_logging()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    win = MainWindow()
    win.show()
    if files:
        win.open_path(files[0])
    if screenshot:
        def grab() -> None:
            win.grab().save(screenshot)
            app.quit()

        QtCore.QTimer.singleShot(500, grab)
    return int(app.exec())
