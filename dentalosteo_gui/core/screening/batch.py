"""Batch screening as a cancellable generator (used by ``dentalosteo batch`` and the GUI).

A bad file is recorded with its error and skipped; it never aborts the run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.dataset import read_dataset
from ..errors import ConfigError, DentalOsteoError
from ..imaging.imageio import SUPPORTED_EXTENSIONS, load_radiograph
from ..records.deidentify import local_salt, pseudonym
from ..system.atomic import atomic_write_bytes
from ..types import Radiograph, ScreeningResult, Spacing
from .spacing import dataset_record

log = logging.getLogger(__name__)

CSV_FIELDS = [
    "file", "risk", "band", "assessable", "klemetti_class", "klemetti_rule", "klemetti_agree",
    "klemetti_p_C1", "klemetti_p_C2", "klemetti_p_C3", "mcw_left_mm", "mcw_right_mm",
    "assumed_spacing", "pixel_spacing_mm", "spacing_mm_per_px", "spacing_source", "spacing_assumed", "roi_x", "roi_y", "roi_w", "roi_h", "roi_confidence",
    "operating_point", "op_threshold", "op_sensitivity", "op_specificity", "mode",
    "model_name", "model_version", "model_sha256", "device", "time_total_ms", "warnings", "error",
    # issue 17 (appended: older CSVs keep their header when resumed)
    "spacing_profile", "spacing_magnification", "pmi_left", "pmi_right",
    "mental_foramen_left_x", "mental_foramen_left_y", "mental_foramen_right_x", "mental_foramen_right_y",
    "mcw_mm_dentist_left", "mcw_mm_dentist_right",
    # issue 17 review (appended after the above, same rule)
    "mcw_px_left", "mcw_px_right", "mental_foramen_left_confidence", "mental_foramen_right_confidence",
    "mental_foramen_left_source", "mental_foramen_right_source",
    # issue 16: the image model's own risk and how `risk` was made (appended, same rule)
    "risk_image_model", "risk_method",
]


# File names that are not valid UTF-8 (Linux bytes names, decoded by Python with surrogate
# escapes) are written as their original bytes, and read back the same way, so such a file
# neither aborts the batch nor defeats resuming.
CSV_ERRORS = "surrogateescape"


def collect_files(items: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively) into supported radiograph files, sorted, de-duplicated."""
    out: list[Path] = []
    seen: set[str] = set()
    for item in items:
        p = Path(item)
        if p.is_dir():
            cands = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in SUPPORTED_EXTENSIONS and not f.name.startswith(".")
            )
        else:
            cands = [p]
        for f in cands:
            key = str(f.resolve()) if f.exists() else str(f)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def dataset_spacing(items: Iterable[str | Path]) -> dict[str, Spacing]:
    """Per-file pixel spacing (source ``dataset``) from a dataset ``labels.csv`` in any given
    folder; ``resolve_spacing`` ranks it below what a file itself states."""
    spacing: dict[str, Spacing] = {}
    for item in items:
        p = Path(item)
        if not (p.is_dir() and (p / "labels.csv").exists()):
            continue
        try:
            for row in read_dataset(p):
                record = dataset_record(row.pixel_spacing_mm)
                if record is not None:
                    spacing[str(Path(row.file).resolve())] = record
        except DentalOsteoError as exc:
            log.warning("labels.csv ignored: %s", exc)
    return spacing


def case_label(path: Path, anonymize: bool) -> str:
    """The file path, or, when anonymising, a keyed pseudonymous case ID.

    The ID is an HMAC of the file's content hash with the clinic's local salt (the same scheme
    as the report and DICOM de-identification), so it cannot be reversed by guessing paths
    (which often contain patient names).
    """
    if not anonymize:
        return str(path)
    try:
        key = "file:" + _sha256_file(path)
    except OSError:
        key = "path:" + str(path)
    return pseudonym(key, local_salt())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(v: Any) -> Any:
    """Stop spreadsheet formula injection through text cells (OWASP CSV injection): a cell
    that starts like a formula gets a leading apostrophe."""
    if isinstance(v, str) and v[:1] in FORMULA_START:
        return "'" + v
    return v


def csv_unsafe(v: str) -> str:
    """The original text of a cell written by :func:`csv_safe`."""
    return v[1:] if v[:1] == "'" and v[1:2] in FORMULA_START and v[1:2] != "" else v


def drop_rows(csv_path: Path, labels: set[str]) -> None:
    """Rewrite ``csv_path`` without the rows of ``labels`` (their outputs are incomplete and
    they will be screened again), atomically."""
    if not labels or not csv_path.exists():
        return
    with open(csv_path, newline="", encoding="utf-8", errors=CSV_ERRORS) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        rows = list(reader)
    if not header or "file" not in header:
        return
    col = header.index("file")
    keep = [r for r in rows if len(r) <= col or csv_unsafe(r[col]) not in labels]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(keep)
    atomic_write_bytes(csv_path, buf.getvalue().encode("utf-8", errors=CSV_ERRORS))


@contextlib.contextmanager
def csv_lock(csv_path: Path) -> Iterator[None]:
    """One batch at a time per CSV (two would interleave and duplicate rows): an exclusive
    lock on a hidden sidecar file; a second batch on the same CSV stops with one line."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks; one batch per CSV is documented
        yield
        return
    lock_path = csv_path.with_name(f".{csv_path.name}.lock")
    fh = open(lock_path, "a+")  # noqa: SIM115 - closed below
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"{csv_path}: another batch is writing to this CSV; wait for it to "
                              "finish or give --csv another file") from None
        yield
    finally:
        fh.close()


def flatten(res: ScreeningResult | None, file_label: str, error: str = "") -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CSV_FIELDS, "")
    row["file"] = csv_safe(file_label)
    row["error"] = csv_safe(error)
    if res is None:
        return row
    kp = res.klemetti_probabilities or {}
    op = res.operating_point or {}

    def r(v: float | None, nd: int = 4) -> Any:
        return "" if v is None else round(float(v), nd)

    row.update({
        "risk": r(res.risk), "band": res.risk_level or "", "assessable": res.assessable,
        "klemetti_class": res.klemetti_class or "", "klemetti_rule": res.klemetti_rule or "",
        "klemetti_agree": "" if res.klemetti_agree is None else res.klemetti_agree,
        "klemetti_p_C1": r(kp.get("C1")), "klemetti_p_C2": r(kp.get("C2")), "klemetti_p_C3": r(kp.get("C3")),
        "mcw_left_mm": r(res.mcw_left_mm, 3), "mcw_right_mm": r(res.mcw_right_mm, 3),
        "assumed_spacing": res.assumed_spacing, "pixel_spacing_mm": r(res.pixel_spacing_mm, 5),
        "spacing_mm_per_px": r(res.spacing.mm_per_px, 5), "spacing_source": res.spacing.source,
        "spacing_assumed": res.spacing.assumed,
        "roi_x": res.roi.x if res.roi else "", "roi_y": res.roi.y if res.roi else "",
        "roi_w": res.roi.w if res.roi else "", "roi_h": res.roi.h if res.roi else "",
        "roi_confidence": r(res.roi_confidence, 3),
        "operating_point": op.get("name", ""), "op_threshold": r(op.get("threshold")),
        "op_sensitivity": r(op.get("sensitivity")), "op_specificity": r(op.get("specificity")),
        "mode": res.mode,
        "model_name": res.model.name if res.model else "", "model_version": res.model.version if res.model else "",
        "model_sha256": res.model.sha256 if res.model else "", "device": res.device,
        "time_total_ms": r(res.timings_ms.get("total"), 1),
        "warnings": csv_safe(" | ".join(res.warnings)),
        "spacing_profile": csv_safe(res.spacing.profile), "spacing_magnification": r(res.spacing.magnification),
        "pmi_left": r(res.pmi_left, 3), "pmi_right": r(res.pmi_right, 3),
        "mcw_mm_dentist_left": r(res.mcw_dentist_left_mm, 3), "mcw_mm_dentist_right": r(res.mcw_dentist_right_mm, 3),
        "risk_image_model": r(res.risk_image_model), "risk_method": (res.risk_basis or {}).get("method", ""),
    })
    row.update(_scale_free_cells(res))
    return row


def _scale_free_cells(res: ScreeningResult) -> dict[str, Any]:
    """MCW in pixels and the mental foramen per side (centre, confidence, source)."""
    out: dict[str, Any] = {}
    for side in ("left", "right"):
        px = res.mcw_left_px if side == "left" else res.mcw_right_px
        out[f"mcw_px_{side}"] = "" if px is None else round(float(px), 2)
        p = res.foramen(side)
        out[f"mental_foramen_{side}_x"] = "" if p is None else round(float(p.x), 1)
        out[f"mental_foramen_{side}_y"] = "" if p is None else round(float(p.y), 1)
        out[f"mental_foramen_{side}_confidence"] = "" if p is None or p.confidence is None else round(
            float(p.confidence), 3)
        out[f"mental_foramen_{side}_source"] = "" if p is None else p.source
    return out


@dataclass
class BatchItem:
    index: int
    total: int
    path: Path
    result: ScreeningResult | None
    radiograph: Radiograph | None
    error: str
    elapsed_s: float
    eta_s: float | None


def read_done(csv_path: Path) -> set[str]:
    """Files already in an existing batch CSV (to resume an interrupted run)."""
    if not csv_path.exists():
        return set()
    try:
        with open(csv_path, newline="", encoding="utf-8", errors=CSV_ERRORS) as fh:
            text = fh.read()
        if not text.endswith("\n"):  # a torn last row (crash mid-write) is not done
            text = text[: text.rfind("\n") + 1]
        return {csv_unsafe(row["file"]) for row in csv.DictReader(io.StringIO(text, newline=""))
                if row.get("file")}
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return set()


def iter_batch(screen: Callable[[Radiograph, Spacing | None], ScreeningResult], files: list[Path],
               spacing: dict[str, Spacing] | None = None, workers: int = 1,
               cancel: threading.Event | None = None, keep_radiographs: bool = False) -> Iterator[BatchItem]:
    """Screen ``files`` in order, yielding one :class:`BatchItem` per file.

    Loading (I/O + decode) runs ahead on ``workers`` threads; ``screen`` is called in order.
    Checks ``cancel`` between files.
    """
    spacing = spacing or {}
    total = len(files)
    t0 = time.perf_counter()
    workers = max(1, int(workers))

    def load(p: Path) -> Radiograph | str:
        try:
            return load_radiograph(p)
        except DentalOsteoError as exc:
            return str(exc)
        except MemoryError:
            return f"{p}: not enough memory to decode the image"
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts the batch
            log.exception("unexpected error loading %s", p.name)
            return f"{p}: unexpected error ({type(exc).__name__}: {exc})"

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dentalosteo-load") as pool:
        pending: dict[int, Future[Radiograph | str]] = {}
        ahead = workers + 1
        for i in range(min(ahead, total)):
            pending[i] = pool.submit(load, files[i])
        for i, path in enumerate(files):
            if cancel is not None and cancel.is_set():
                for f in pending.values():
                    f.cancel()
                return
            nxt = i + ahead
            if nxt < total:
                pending[nxt] = pool.submit(load, files[nxt])
            loaded = pending.pop(i).result()
            res: ScreeningResult | None = None
            err = ""
            rad: Radiograph | None = None
            if isinstance(loaded, str):
                err = loaded
            else:
                rad = loaded
                try:
                    key = str(path.resolve())
                    res = screen(rad, spacing.get(key))
                except DentalOsteoError as exc:
                    err = f"{path}: {exc}"
                except Exception as exc:  # noqa: BLE001
                    log.exception("unexpected error screening %s", path.name)
                    err = f"{path}: unexpected error ({type(exc).__name__}: {exc})"
            elapsed = time.perf_counter() - t0
            done = i + 1
            eta = elapsed / done * (total - done) if done else None
            yield BatchItem(i, total, path, res, rad if keep_radiographs else None, err, elapsed, eta)
            if not keep_radiographs:
                rad = None


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def open_csv_appender(path: Path, resume: bool) -> tuple[Any, Any]:
    """Open the batch CSV for appending rows durably (resume keeps existing rows).

    When resuming, a torn last line (a crash or a full disk in the middle of a row write)
    is cut off first, so the next row does not run into it.
    """
    exists = path.exists() and path.stat().st_size > 0
    if resume and exists:
        exists = _drop_torn_last_line(path)
    mode = "a" if (resume and exists) else "w"
    fh = open(path, mode, newline="", encoding="utf-8", errors=CSV_ERRORS)  # noqa: SIM115 - closed by caller
    # resuming a CSV written by an older version: keep its columns, so rows stay aligned
    fields = _existing_header(path) if mode == "a" else None
    writer = csv.DictWriter(fh, fieldnames=fields or CSV_FIELDS, extrasaction="ignore")
    if mode == "w":
        writer.writeheader()
        fh.flush()
        os.fsync(fh.fileno())
    return fh, writer


def _existing_header(path: Path) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8", errors=CSV_ERRORS) as fh:
            header = next(csv.reader(fh), None)
    except (OSError, csv.Error):
        return None
    return header if header and "file" in header else None


def _drop_torn_last_line(path: Path) -> bool:
    """Truncate ``path`` after its last newline; returns whether a complete header remains."""
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return True
        pos = size
        block = 1 << 16
        keep = 0
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        log.warning("batch CSV: dropped a torn last line (%d bytes) left by an interrupted run", size - keep)
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return keep > 0
