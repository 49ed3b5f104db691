"""A training set from practice (issue 19): screened radiographs with a DXA outcome, written
as a dataset folder in the documented format (docs/dataset-format.md) that ``dentalosteo
train`` and ``evaluate`` read as is.

Always de-identified: images are PNG copies of the pixels (16-bit) named ``img_00001.png``,
or, with ``keep_dicom``, DICOM files de-identified by
:func:`deidentify.deidentify_dataset`; patients are ``S0001``... numbered for this export
only (column ``patient_id``, which keeps one patient's images in one split); no dates,
names or paths. Text burned into the pixels is NOT removed.

Per radiograph (the latest screening of it): ``label`` 1 when the linked DXA exam is
osteoporosis (T <= -2.5), ``t_score`` its lowest T-score, ``klemetti`` the anatomy rule's
class, ``mcw_*`` the measured MCW, ``pixel_spacing_mm`` (left empty when it was assumed),
the ROI (and landmarks) as screened; extra columns ``who_category``, ``dxa_days``,
``dxa_sites``. These measurements are the app's own, not independent truth.

A radiograph whose file is gone, changed (sha256) or unreadable, or whose path was not kept
(anonymised screening; give ``images_from`` to find it by its sha256), is skipped with a reason.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ..data.dataset import LABELS_FILE, write_labels_csv
from ..errors import RadiographError
from ..imaging.imageio import load_radiograph
from ..system.atomic import atomic_write_bytes, atomic_write_text
from ..types import LANDMARK_NAMES
from .deidentify import deidentify_dataset, local_salt
from .history import History, HistoryError, file_sha256
from .outcomes import DEFAULT_MAX_DAYS, OutcomeError
from .outcomes_figures import Case, linked_cases, load_cases

log = logging.getLogger(__name__)

IMAGES_DIR = "images"
MAX_INDEX_FILE_BYTES = 512 << 20


@dataclass
class ExportSummary:
    out_dir: Path
    written: int = 0
    subjects: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (screening id, reason)


class _Finder:
    """Where a screened radiograph is now: its recorded path, else a file with the same
    sha256 under ``images_from`` (indexed once, lazily)."""

    def __init__(self, images_from: Path | None) -> None:
        self.root = images_from
        self._index: dict[str, Path] | None = None

    def _build(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        if self.root is not None:
            for p in sorted(self.root.rglob("*")):
                try:
                    if p.is_file() and p.stat().st_size <= MAX_INDEX_FILE_BYTES:
                        index.setdefault(file_sha256(p), p)
                except (OSError, HistoryError):
                    continue
        return index

    def find(self, row: dict[str, Any]) -> tuple[Path | None, str]:
        want = str(row["file_sha256"])
        recorded = Path(row["file_path"]) if row.get("file_path") else None
        if recorded is not None and recorded.is_file():
            try:
                if file_sha256(recorded) == want:
                    return recorded, ""
            except HistoryError:
                pass
        if self._index is None:
            self._index = self._build()
        if want in self._index:
            return self._index[want], ""
        if recorded is None:
            return None, "file path not kept (anonymised screening): give --images-from DIR"
        if recorded.is_file():
            return None, "the file changed since it was screened (sha256 differs)"
        return None, "the original file is gone"


def _png(path: Path) -> bytes:
    import cv2

    rad = load_radiograph(path)
    px = np.clip(np.asarray(rad.pixels, dtype=np.float64), 0.0, 1.0)
    ok, buf = cv2.imencode(".png", np.round(px * 65535.0).astype(np.uint16))
    if not ok:
        raise RadiographError(None, "cannot encode the PNG copy")
    return bytes(buf.tobytes())


def _dicom(path: Path, subject: str) -> bytes | None:
    """A de-identified DICOM copy; None when ``path`` is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    deidentify_dataset(ds, salt=local_salt(), case_id=subject)
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises several types on odd input
        raise RadiographError(None, f"cannot write the de-identified DICOM ({type(exc).__name__})") from None
    return buf.getvalue()


def _label_row(row: dict[str, Any], case: Case, rel: str, subject: str) -> dict[str, Any]:
    assert case.link is not None
    ex = case.link.exam
    out: dict[str, Any] = {
        "file": rel, "label": int(ex.category == "osteoporosis"), "t_score": ex.lowest_t,
        "klemetti": row.get("klemetti_rule"), "mcw_left_mm": row.get("mcw_left_mm"),
        "mcw_right_mm": row.get("mcw_right_mm"),
        "pixel_spacing_mm": None if row.get("assumed_spacing") else row.get("pixel_spacing_mm"),
        "patient_id": subject, "who_category": ex.category, "dxa_days": case.link.days,
        "dxa_sites": ";".join(f"{s}:{t:g}" for s, t in sorted(ex.sites.items())),
    }
    roi = row.get("roi")
    if isinstance(roi, dict):
        out.update({f"roi_{k}": roi[k] for k in ("x", "y", "w", "h")})
    lms = row.get("landmarks")
    if isinstance(lms, dict) and all(n in lms for n in LANDMARK_NAMES):
        for n in LANDMARK_NAMES:
            out[f"lm_{n}_x"], out[f"lm_{n}_y"] = lms[n][0], lms[n][1]
    return out


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutcomeError(f"{out_dir}: exists and is not an empty folder (choose a new one)")


def _write_one(row: dict[str, Any], src: Path, out_dir: Path, n: int, subject: str,
               keep_dicom: bool) -> str:
    data = _dicom(src, subject) if keep_dicom else None
    rel = f"{IMAGES_DIR}/img_{n:05d}.{'dcm' if data is not None else 'png'}"
    atomic_write_bytes(out_dir / rel, data if data is not None else _png(src))
    return rel


def export_dataset(history: History, out_dir: Path, *, max_days: int = DEFAULT_MAX_DAYS,
                   images_from: Path | None = None, keep_dicom: bool = False) -> ExportSummary:
    """Write the de-identified dataset folder; returns what was written and skipped."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    summary = ExportSummary(out_dir)
    try:
        (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutcomeError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    finder = _Finder(images_from)
    subjects: dict[str, str] = {}
    labels: list[dict[str, Any]] = []
    for case in linked_cases(load_cases(history, max_days)):
        row = history.get(case.screening_id)
        src, why = finder.find(row)
        if src is None:
            summary.skipped.append((case.screening_id, why))
            continue
        subject = subjects.setdefault(case.key or f"file:{case.file_sha256}",
                                      f"S{len(subjects) + 1:04d}")
        try:
            rel = _write_one(row, src, out_dir, len(labels) + 1, subject, keep_dicom)
        except RadiographError as exc:  # a write error (disk full) stops the export
            summary.skipped.append((case.screening_id, f"unreadable: {exc.reason}"))
            continue
        labels.append(_label_row(row, case, rel, subject))
    if not labels:
        raise OutcomeError(f"nothing to export: no screened radiograph with a DXA outcome "
                           f"within {max_days} days could be read ({len(summary.skipped)} skipped)")
    write_labels_csv(out_dir / LABELS_FILE, labels)
    atomic_write_text(out_dir / "export.json", json.dumps({
        "format": "dentalosteo-dataset", "app_version": __version__, "images": len(labels),
        "subjects": len(subjects), "max_days": max_days, "de_identified": True,
        "label": "1 = DXA osteoporosis (lowest T-score <= -2.5) of the linked exam",
        "measurements": "klemetti, mcw_*, roi: DentalOsteo's own, not independent truth",
        "skipped": [{"screening_id": s, "reason": r} for s, r in summary.skipped]}, indent=1))
    history.record_export(None, "dataset", str(out_dir / LABELS_FILE))
    summary.written, summary.subjects = len(labels), len(subjects)
    log.info("outcomes export: %d images, %d skipped", summary.written, len(summary.skipped))
    return summary
