"""``dentalosteo batch DIR_OR_FILES... --csv OUT.csv``: screen many radiographs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from ..core.errors import ConfigError
from ..core.records.history import History, file_sha256
from ..core.records.report import write_report
from ..core.screening.batch import (
    case_label,
    collect_files,
    dataset_spacing,
    flatten,
    format_eta,
    iter_batch,
    open_csv_appender,
    read_done,
)
from ..core.system.atomic import WriteError, _explain
from ..core.system.settings import load_settings
from ..services import make_engine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="screen folders/files into one CSV (resumable, Ctrl-C safe)")
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE")
    p.add_argument("--csv", required=True, help="output CSV (one row per file)")
    p.add_argument("--pdf-dir", help="also write one PDF report per file here")
    p.add_argument("--workers", type=int, default=2, help="image-loading threads (default 2)")
    p.add_argument("--model", help="model pack folder")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default=None)
    p.add_argument("--restart", action="store_true", help="start over instead of resuming an existing CSV")
    p.add_argument("--anonymize", action="store_true", help="case IDs instead of file paths; no patient data")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

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
    done = set() if args.restart else read_done(out)
    todo = [f for f in files if case_label(f, anonymize) not in done]
    skipped = len(files) - len(todo)
    spacing = dataset_spacing(args.inputs)
    engine = make_engine(model_dir=args.model, device=args.device, settings=settings)
    pdf_dir = Path(args.pdf_dir) if args.pdf_dir else None
    if pdf_dir:
        try:
            pdf_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file of that name, a read-only drive: one clear line
            reason, hint = _explain(exc)
            if isinstance(exc, FileExistsError):
                reason, hint = "a file with that name exists", "give --pdf-dir a folder"
            raise WriteError(pdf_dir, reason, hint) from None
    cancel = threading.Event()

    def on_sigint(signum, frame):  # type: ignore[no-untyped-def]
        cancel.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        fh, writer = open_csv_appender(out, resume=not args.restart)
    except OSError as exc:
        signal.signal(signal.SIGINT, old)
        raise _csv_error(out, exc, started=False) from None
    history = _open_history()
    n_ok = n_err = 0
    show = not args.quiet and sys.stderr.isatty() or os.environ.get("DENTALOSTEO_PROGRESS") == "1"
    if skipped:
        sys.stderr.write(f"resuming: {skipped} file(s) already in {out}\n")
    try:
        for item in iter_batch(lambda rad, sp: engine.screen(rad, pixel_spacing_mm=sp), todo, spacing,
                               workers=args.workers, cancel=cancel,
                               keep_radiographs=bool(pdf_dir) or history is not None):
            label = case_label(item.path, anonymize)
            if history is not None and item.result is not None:
                _record(history, item, anonymize)
            try:
                writer.writerow(flatten(item.result, label, item.error))
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:  # full disk, drive removed: stop with one clear line
                raise _csv_error(out, exc) from None
            if item.error:
                n_err += 1
            else:
                n_ok += 1
                if pdf_dir and item.result is not None and item.radiograph is not None:
                    card = engine.roi_backend.card if engine.roi_backend else None
                    stem = label if anonymize else item.path.stem
                    write_report(item.result, item.radiograph, pdf_dir / f"{stem}-report.pdf",
                                 settings=settings, anonymize=anonymize, model_card=card,
                                 case_id=label if anonymize else None)
            if show or not args.quiet:
                bar = _bar(item.index + 1, item.total)
                msg = (f"\r{bar} {item.index + 1}/{item.total} ok {n_ok} failed {n_err} "
                       f"ETA {format_eta(item.eta_s)}")
                sys.stderr.write(msg if show else msg.lstrip("\r") + "\n")
                sys.stderr.flush()
    finally:
        try:
            fh.close()
        except OSError:  # the buffered tail cannot be written (disk full): already reported
            pass
        if history is not None:
            history.close()
        signal.signal(signal.SIGINT, old)
    if show:
        sys.stderr.write("\n")
    if cancel.is_set():
        sys.stderr.write(f"interrupted: {n_ok + n_err} row(s) written to {out}; run again to resume\n")
        return 130
    sys.stderr.write(f"screened {n_ok}, failed {n_err}, skipped {skipped} (already done) -> {out}\n")
    return 0


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _csv_error(out: Path, exc: OSError, started: bool = True) -> Exception:
    reason, hint = _explain(exc)
    if not started:
        return WriteError(out, reason, hint)
    tail = "the rows written so far are kept; run again to resume"
    return WriteError(out, reason, f"{hint}; {tail}" if hint else tail)


def _open_history():  # type: ignore[no-untyped-def]
    """The screening history (every screening is recorded); None when it cannot be opened."""
    import logging

    try:
        return History()
    except Exception as exc:  # noqa: BLE001 - the batch still runs; the CSV is the main output
        logging.getLogger(__name__).warning("history not available for this batch: %s", type(exc).__name__)
        return None


def _record(history, item, anonymize: bool) -> None:  # type: ignore[no-untyped-def]
    """Record one screening in the history (best effort, like ``screen``)."""
    import logging

    try:
        if item.radiograph is None:
            return
        history.record_screening(item.result, item.radiograph, file_sha256=file_sha256(item.path),
                                 anonymize=anonymize)
    except Exception as exc:  # noqa: BLE001
        logging.getLogger(__name__).warning("history not recorded: %s", type(exc).__name__)
