"""The headless main job: screen the bundled sample (or given files), write a PDF report."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .core.errors import DentalOsteoError
from .core.system import paths
from .core.system.logsetup import configure_logging

log = logging.getLogger(__name__)


def run_headless(files: list[str], out: str = "") -> int:
    """Screen ``files`` (default: the sample) into PDF reports; 0 ok, 2 bad input, 1 internal error."""
    configure_logging()
    for stream in (sys.stdout, sys.stderr):  # non-UTF-8 file names must not crash printing
        if getattr(stream, "errors", None) == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                pass
    targets = [Path(f) for f in files] or [paths.sample_image()]
    out_path = Path(out) if out else Path.cwd() / "dentalosteo-report.pdf"
    try:
        from .services import screen_files_to_pdf
    except ImportError:  # engine not available yet in this build
        screen_files_to_pdf = None
    try:
        if screen_files_to_pdf is None:
            from .core.imaging.imageio import load_radiograph

            for t in targets:
                rad = load_radiograph(t)
                print(f"{t}: {rad.width}x{rad.height} {rad.format} (screening engine not installed)")
            return 0
        errors: list[str] = []
        written = screen_files_to_pdf(targets, out_path, errors=errors)
        for e in errors:
            sys.stderr.write(f"error: {e}\n")
        if errors and not written:
            return 2
    except DentalOsteoError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - as the CLI: never a traceback, details in the log
        log.exception("internal error in the headless job")
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc} (details in the log file; please report it)\n")
        return 1
    for w in written:
        print(f"wrote {w}")
    return 2 if errors else 0
