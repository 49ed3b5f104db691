"""The dataset format used by phantoms, ``train``, ``evaluate`` and ``batch``.

A dataset is a folder with a ``labels.csv`` (and usually an ``images/`` subfolder).
Required columns: ``file`` (path relative to the folder) and ``label`` (1 osteoporosis,
0 not). Optional columns, used when present: ``t_score``, ``klemetti`` (C1/C2/C3),
``mcw_left_mm``, ``mcw_right_mm``, ``pixel_spacing_mm``, ``roi_x``, ``roi_y``, ``roi_w``,
``roi_h`` (original-image pixels) and ``lm_<name>_x`` / ``lm_<name>_y`` for the eight
landmarks of :data:`~dentalosteo_gui.core.types.LANDMARK_NAMES`. Left/right are the
PATIENT's sides (the patient's right is image-left). Empty cells mean "unknown".
Unknown extra columns are kept in :attr:`DatasetRow.extra`.

Row numbers in error messages count the header as row 1, as a spreadsheet does.
"""

from __future__ import annotations

import csv
import functools
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..types import KLEMETTI_CLASSES, LANDMARK_NAMES, RoiBox

log = logging.getLogger(__name__)

LABELS_FILE = "labels.csv"
ROI_COLUMNS: list[str] = ["roi_x", "roi_y", "roi_w", "roi_h"]
LANDMARK_COLUMNS: list[str] = [f"lm_{n}_{a}" for n in LANDMARK_NAMES for a in ("x", "y")]
DATASET_COLUMNS: list[str] = [
    "file",
    "label",
    "t_score",
    "klemetti",
    "mcw_left_mm",
    "mcw_right_mm",
    "pixel_spacing_mm",
    *ROI_COLUMNS,
    *LANDMARK_COLUMNS,
]
REQUIRED_COLUMNS: list[str] = ["file", "label"]


@dataclass
class DatasetRow:
    """One labelled image of a dataset. ``file`` is absolute."""

    file: Path
    label: int
    t_score: float | None
    klemetti: str | None
    mcw_left_mm: float | None
    mcw_right_mm: float | None
    pixel_spacing_mm: float | None
    roi: RoiBox | None
    landmarks: dict[str, tuple[float, float]] | None
    row_number: int
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def mcw_mean_mm(self) -> float | None:
        vals = [v for v in (self.mcw_left_mm, self.mcw_right_mm) if v is not None]
        return sum(vals) / len(vals) if vals else None


def _labels_path(folder: Path) -> Path:
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() == ".csv":
        return folder
    return folder / LABELS_FILE


def _float(path: Path, row: int, col: str, text: str, *, lo: float | None = None,
           hi: float | None = None) -> float | None:
    text = (text or "").strip()
    if text == "":
        return None
    try:
        v = float(text)
    except ValueError:
        raise DatasetError(
            f"{path}: row {row}, column {col}: {text!r} is not a number (fix or empty the cell)"
        ) from None
    if not math.isfinite(v):
        raise DatasetError(f"{path}: row {row}, column {col}: {text!r} is not a finite number")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise DatasetError(
            f"{path}: row {row}, column {col}: {v:g} is outside {lo:g}..{hi:g} (check the value)"
        )
    return v


def read_dataset(folder: Path) -> list[DatasetRow]:
    """Read and validate ``folder/labels.csv`` (or a CSV path).

    File paths are resolved relative to the folder holding the CSV. Raises
    :class:`DatasetError` naming the file, the row number and the column of the first
    malformed value, a missing required column, or an image file that does not exist.
    """
    csv_path = _labels_path(Path(folder))
    base = csv_path.parent
    if not csv_path.is_file():
        raise DatasetError(
            f"{csv_path}: no labels.csv found (a dataset folder needs labels.csv with columns file,label)"
        )
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise DatasetError(
                    f"{csv_path}: row 1 (header): missing required column(s) {', '.join(missing)}"
                    " (the header must include file,label)"
                )
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise DatasetError(f"{csv_path}: row 1 (header): duplicate column(s) {', '.join(map(repr, dupes))}")
            reader.fieldnames = header
            rows = [_parse_row(csv_path, base, i + 2, rec) for i, rec in enumerate(reader)]
    except UnicodeDecodeError:
        raise DatasetError(f"{csv_path}: not UTF-8 text (save the CSV as UTF-8)") from None
    except csv.Error as exc:
        raise DatasetError(f"{csv_path}: malformed CSV ({exc})") from None
    if not rows:
        raise DatasetError(f"{csv_path}: no data rows (add one row per image)")
    seen: dict[Path, int] = {}
    for r in rows:
        if r.file in seen:
            raise DatasetError(
                f"{csv_path}: row {r.row_number}, column file: {r.file.name} already listed in row {seen[r.file]}"
            )
        seen[r.file] = r.row_number
    log.debug("read %d rows from %s", len(rows), csv_path)
    return rows


def _parse_row(path: Path, base: Path, n: int, rec: dict[str | None, Any]) -> DatasetRow:
    if None in rec:  # more cells than header columns
        raise DatasetError(f"{path}: row {n}: more cells than header columns (check the commas)")

    def cell(col: str) -> str:
        v = rec.get(col)
        return "" if v is None else str(v).strip()

    rel = cell("file")
    if not rel:
        raise DatasetError(f"{path}: row {n}, column file: empty file name")
    if "\x00" in rel:  # the OS refuses such a path (ValueError from resolve)
        raise DatasetError(f"{path}: row {n}, column file: {rel!r} contains a NUL character")
    p = Path(rel)
    try:
        file = (p if p.is_absolute() else base / p).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # symlink loops, over-long names
        raise DatasetError(f"{path}: row {n}, column file: {rel!r} is not a usable path ({exc})") from None
    if not file.is_file():
        raise DatasetError(f"{path}: row {n}, column file: {rel!r} does not exist (check the path)")
    lab = cell("label")
    if lab not in ("0", "1", "0.0", "1.0"):
        raise DatasetError(f"{path}: row {n}, column label: {lab!r} must be 0 or 1")
    label = int(float(lab))
    t_score = _float(path, n, "t_score", cell("t_score"), lo=-10.0, hi=10.0)
    kl = cell("klemetti").upper() or None
    if kl is not None and kl not in KLEMETTI_CLASSES:
        raise DatasetError(f"{path}: row {n}, column klemetti: {cell('klemetti')!r} must be C1, C2 or C3")
    mcw_l = _float(path, n, "mcw_left_mm", cell("mcw_left_mm"), lo=0.0, hi=20.0)
    mcw_r = _float(path, n, "mcw_right_mm", cell("mcw_right_mm"), lo=0.0, hi=20.0)
    spacing = _float(path, n, "pixel_spacing_mm", cell("pixel_spacing_mm"), lo=0.005, hi=2.0)
    if spacing == 0:
        spacing = None
    roi_vals = [_float(path, n, c, cell(c)) for c in ROI_COLUMNS]
    roi: RoiBox | None = None
    if any(v is not None for v in roi_vals):
        for c, v in zip(ROI_COLUMNS, roi_vals, strict=True):
            if v is None:
                raise DatasetError(f"{path}: row {n}, column {c}: empty while other roi_ columns are set")
        x, y, w, h = (int(round(v)) for v in roi_vals)  # type: ignore[arg-type]
        if w <= 0 or h <= 0:
            col = "roi_w" if w <= 0 else "roi_h"
            raise DatasetError(f"{path}: row {n}, column {col}: ROI width/height must be positive")
        roi = RoiBox(x, y, w, h)
    lm_vals = {c: _float(path, n, c, cell(c)) for c in LANDMARK_COLUMNS}
    landmarks: dict[str, tuple[float, float]] | None = None
    if any(v is not None for v in lm_vals.values()):
        for c, v in lm_vals.items():
            if v is None:
                raise DatasetError(
                    f"{path}: row {n}, column {c}: empty while other landmark columns are set (give all eight points or none)"
                )
        landmarks = {
            name: (float(lm_vals[f"lm_{name}_x"]), float(lm_vals[f"lm_{name}_y"]))  # type: ignore[arg-type]
            for name in LANDMARK_NAMES
        }
    known = set(DATASET_COLUMNS)
    extra = {str(k): ("" if v is None else str(v)) for k, v in rec.items() if k is not None and k not in known}
    return DatasetRow(
        file=file,
        label=label,
        t_score=t_score,
        klemetti=kl,
        mcw_left_mm=mcw_l,
        mcw_right_mm=mcw_r,
        pixel_spacing_mm=spacing,
        roi=roi,
        landmarks=landmarks,
        row_number=n,
        extra=extra,
    )


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        return repr(round(v, 6))
    return str(v)


def write_labels_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a labels.csv atomically (temp file + rename).

    Columns: :data:`DATASET_COLUMNS` in order (those that some row sets), then any other
    keys in first-seen order. ``None`` becomes an empty cell. ``file`` and ``label`` are
    required in every row.
    """
    path = Path(path)
    for i, r in enumerate(rows):
        for c in REQUIRED_COLUMNS:
            if r.get(c) is None or r.get(c) == "":
                raise DatasetError(f"{path}: row {i + 2}, column {c}: required value missing")
    present = {k for r in rows for k in r}
    cols = [c for c in DATASET_COLUMNS if c in present or c in REQUIRED_COLUMNS]
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".labels-", suffix=".csv.tmp", dir=str(path.parent))
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a dataset file is meant to be shared
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            for r in rows:
                w.writerow([_cell(r.get(c)) for c in cols])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def dataset_row_to_dict(row: DatasetRow, base: Path | None = None) -> dict[str, Any]:
    """Inverse of parsing: a dict for :func:`write_labels_csv` (file relative to ``base``)."""
    f: str = str(row.file)
    if base is not None:
        try:
            f = Path(os.path.relpath(row.file, Path(base).resolve())).as_posix()
        except ValueError:
            f = str(row.file)
    d: dict[str, Any] = {
        "file": f,
        "label": row.label,
        "t_score": row.t_score,
        "klemetti": row.klemetti,
        "mcw_left_mm": row.mcw_left_mm,
        "mcw_right_mm": row.mcw_right_mm,
        "pixel_spacing_mm": row.pixel_spacing_mm,
    }
    if row.roi is not None:
        d.update({"roi_x": row.roi.x, "roi_y": row.roi.y, "roi_w": row.roi.w, "roi_h": row.roi.h})
    if row.landmarks is not None:
        for name in LANDMARK_NAMES:
            x, y = row.landmarks[name]
            d[f"lm_{name}_x"] = x
            d[f"lm_{name}_y"] = y
    d.update(row.extra)
    return d


def sidecar_spacing(image_path: str | Path) -> float | None:
    """Pixel spacing for an image from a dataset ``labels.csv`` in its folder (or its parent).

    PNG/JPEG files carry no calibrated spacing; a dataset folder (our phantoms, the shipped
    samples, a clinic's export with a labels.csv) records it per file. Returns None when no
    such record exists or the CSV is malformed (the caller then uses the default, flagged).
    """
    p = Path(image_path)
    try:
        target = p.resolve()
    except OSError:
        return None
    for folder in (p.parent, p.parent.parent):
        csv_path = folder / "labels.csv"
        if not csv_path.is_file():
            continue
        try:
            rows = _cached_rows(str(csv_path.resolve()), csv_path.stat().st_mtime_ns)
        except (DatasetError, OSError):
            return None
        for row in rows:
            if row.file.resolve() == target and row.pixel_spacing_mm:
                return float(row.pixel_spacing_mm)
    return None


@functools.lru_cache(maxsize=16)
def _cached_rows(csv_path: str, mtime_ns: int) -> tuple[DatasetRow, ...]:
    return tuple(read_dataset(Path(csv_path)))
