"""``dentalosteo batch DIR_OR_FILES... --csv OUT.csv``: screen many radiographs."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ConfigError
from ..core.imaging.imageio import load_radiograph
from ..core.records.dicom_objects import write_result_objects
from ..core.records.report import write_report
from ..core.screening.batch import (
    case_label,
    collect_files,
    csv_lock,
    dataset_spacing,
    drop_rows,
    flatten,
    format_eta,
    iter_batch,
    open_csv_appender,
    read_done,
)
from ..core.system.atomic import WriteError, explain_os_error
from ..core.system.settings import Settings, load_settings
from ..services import make_engine
from .common import open_history_or_fail, record_export_or_fail, record_screening_or_fail

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="screen folders/files into one CSV (resumable, Ctrl-C safe)")
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE")
    p.add_argument("--csv", required=True, help="output CSV (one row per file)")
    p.add_argument("--pdf-dir", help="also write one PDF report per file here")
    p.add_argument("--dicom-out", metavar="DIR", help="also write the DICOM result objects (SR, "
                   "Secondary Capture, Encapsulated PDF) of each file here")
    p.add_argument("--workers", type=int, default=None,
                   help="image-loading threads (default 2); with --scheduler local: worker "
                   "processes (default one per CPU core)")
    p.add_argument("--scheduler", metavar="local|tcp://HOST:PORT",
                   help="screen on Dask workers (pip install 'dentalosteo[distributed]'): 'local' "
                   "starts them on this PC, an address joins a running cluster")
    p.add_argument("--model", help="model pack folder")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default=None)
    p.add_argument("--restart", action="store_true", help="start over instead of resuming an existing CSV")
    p.add_argument("--anonymize", action="store_true", help="case IDs instead of file paths; no patient data")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@dataclass
class BatchRun:
    """What one ``dentalosteo batch`` invocation works with."""

    args: argparse.Namespace
    settings: Settings
    anonymize: bool
    out: Path
    pdf_dir: Path | None
    todo: list[Path]
    skipped: int
    incomplete: set[str] = field(default_factory=set)
    labels: dict[Path, str] = field(default_factory=dict)  # file -> its CSV label
    cancel: threading.Event = field(default_factory=threading.Event)
    n_ok: int = 0
    n_err: int = 0


def run(args: argparse.Namespace) -> int:
    job = _plan(args)
    if args.scheduler:  # Dask workers screen (dentalosteo_gui.distributed); this process writes
        from ..distributed import open_cluster

        with open_cluster(args.scheduler, args.workers, settings=job.settings, model_dir=args.model,
                          device=args.device, quiet=args.quiet) as cluster:
            return _run(job, cluster)
    return _run(job, make_engine(model_dir=args.model, device=args.device, settings=job.settings))


def _run(job: BatchRun, engine) -> int:  # type: ignore[no-untyped-def]
    old = signal.signal(signal.SIGINT, lambda signum, frame: job.cancel.set())
    try:
        with csv_lock(job.out):
            return _screen_all(job, engine)
    finally:
        signal.signal(signal.SIGINT, old)


def _plan(args: argparse.Namespace) -> BatchRun:
    """Check the inputs and outputs and work out what is still to do (resume)."""
    missing = [i for i in args.inputs if not Path(i).exists()]
    if missing:
        raise ConfigError(f"{missing[0]}: not found (check the path)")
    files = collect_files(args.inputs)
    if not files:
        raise ConfigError(f"no radiographs (PNG, JPEG, TIFF, BMP, DICOM) found in {', '.join(args.inputs)}")
    settings = load_settings()
    anonymize = bool(args.anonymize or settings.anonymize_exports)
    out = Path(args.csv)
    if out.parent and not out.parent.exists():
        raise ConfigError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"{out}: is a folder; give --csv a file name (e.g. {out / 'results.csv'})")
    pdf_dir = Path(args.pdf_dir) if args.pdf_dir else None
    if pdf_dir:
        _make_pdf_dir(pdf_dir)
    if args.dicom_out:
        _make_pdf_dir(Path(args.dicom_out), "--dicom-out")
    done = set() if args.restart else read_done(out)
    labels = {f: case_label(f, anonymize) for f in files}  # anonymised: a hash of each file, once
    # a row counts as done only when all its outputs exist: a row whose PDF is missing is
    # dropped and the file screened again (one row per file, never two)
    incomplete = {label for f, label in labels.items() if pdf_dir is not None and label in done
                  and not _pdf_path(pdf_dir, f, label, anonymize).exists()}
    finished = done - incomplete
    todo = [f for f in files if labels[f] not in finished]
    return BatchRun(args, settings, anonymize, out, pdf_dir, todo, len(files) - len(todo),
                    incomplete=incomplete, labels=labels)


def _make_pdf_dir(pdf_dir: Path, option: str = "--pdf-dir") -> None:
    try:
        pdf_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, a read-only drive: one clear line
        reason, hint = explain_os_error(exc)
        if isinstance(exc, FileExistsError):
            reason, hint = "a file with that name exists", f"give {option} a folder"
        raise WriteError(pdf_dir, reason, hint) from None


def _pdf_path(pdf_dir: Path, path: Path, label: str, anonymize: bool) -> Path:
    return pdf_dir / f"{label if anonymize else path.stem}-report.pdf"


def _screen_all(job: BatchRun, engine) -> int:  # type: ignore[no-untyped-def]
    args, out = job.args, job.out
    history = open_history_or_fail()  # every screening is recorded: a broken history stops first
    try:
        drop_rows(out, job.incomplete)
        fh, writer = open_csv_appender(out, resume=not args.restart)
    except OSError as exc:
        history.close()
        raise _csv_error(out, exc, started=False) from None
    show = not args.quiet and sys.stderr.isatty() or os.environ.get("DENTALOSTEO_PROGRESS") == "1"
    if job.skipped:
        sys.stderr.write(f"resuming: {job.skipped} file(s) already in {out}\n")
    spacing = dataset_spacing(args.inputs)
    try:
        items = engine.items(job, spacing) if args.scheduler else iter_batch(
            lambda rad, sp: engine.screen(rad, pixel_spacing_mm=sp), job.todo, spacing,
            workers=args.workers or 2, cancel=job.cancel,
            keep_radiographs=True)
        for item in items:
            _handle(job, engine, item, history, fh, writer)
            if show or not args.quiet:
                _progress(job, item, show)
    finally:
        try:
            fh.close()
        except OSError:  # the buffered tail cannot be written (disk full): already reported
            pass
        history.close()
    return _finish(job, show)


def _handle(job: BatchRun, engine, item, history, fh, writer) -> None:  # type: ignore[no-untyped-def]
    """One screened file: its PDF first, then its history record, then its CSV row (so a
    row means every output exists)."""
    label = job.labels.get(item.path) or case_label(item.path, job.anonymize)
    sid = None
    if item.result is not None:
        # (Dask workers do not ship the pixels back: read the file again here)
        if item.radiograph is None:
            item.radiograph = load_radiograph(item.path)
        sid = record_screening_or_fail(item.result, item.radiograph, anonymize=job.anonymize,
                                       history=history, path=item.path,
                                       file_digest=getattr(item, "sha256", "") or "")
    if not item.error and job.pdf_dir and item.result is not None and item.radiograph is not None:
        card = engine.roi_backend.card if engine.roi_backend else None
        pdf = _pdf_path(job.pdf_dir, item.path, label, job.anonymize)
        write_report(item.result, item.radiograph, pdf, settings=job.settings, anonymize=job.anonymize,
                     model_card=card, case_id=label if job.anonymize else None)
        record_export_or_fail(sid, "pdf", pdf, history=history)
    if not item.error and job.args.dicom_out and item.result is not None:
        rad = item.radiograph if item.radiograph is not None else load_radiograph(item.path)
        backend = getattr(engine, "roi_backend", None)
        write_result_objects(item.result, rad, job.args.dicom_out,
                             stem=label if job.anonymize else item.path.stem, settings=job.settings,
                             anonymize=job.anonymize, model_card=backend.card if backend else None)
    try:
        writer.writerow(flatten(item.result, label, item.error))
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as exc:  # full disk, drive removed: stop with one clear line
        raise _csv_error(job.out, exc) from None
    if item.error:
        job.n_err += 1
    else:
        job.n_ok += 1


def _progress(job: BatchRun, item, show: bool) -> None:  # type: ignore[no-untyped-def]
    bar = _bar(item.index + 1, item.total)
    msg = (f"\r{bar} {item.index + 1}/{item.total} ok {job.n_ok} failed {job.n_err} "
           f"ETA {format_eta(item.eta_s)}")
    sys.stderr.write(msg if show else msg.lstrip("\r") + "\n")
    sys.stderr.flush()


def _finish(job: BatchRun, show: bool) -> int:
    if show:
        sys.stderr.write("\n")
    if job.cancel.is_set():
        sys.stderr.write(f"interrupted: {job.n_ok + job.n_err} row(s) written to {job.out}; run again to resume\n")
        return 130
    sys.stderr.write(f"screened {job.n_ok}, failed {job.n_err}, skipped {job.skipped} (already done) -> {job.out}\n")
    return 0


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _csv_error(out: Path, exc: OSError, started: bool = True) -> Exception:
    reason, hint = explain_os_error(exc)
    if not started:
        return WriteError(out, reason, hint)
    tail = "the rows written so far are kept; run again to resume"
    return WriteError(out, reason, f"{hint}; {tail}" if hint else tail)
