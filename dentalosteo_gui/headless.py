"""The headless main job: screen the bundled sample (or given files), write a PDF report."""

from __future__ import annotations

import sys
from pathlib import Path

from .core import paths
from .core.errors import DentalOsteoError
from .core.logsetup import configure_logging


def run_headless(files: list[str], out: str = "") -> int:
    configure_logging()
    targets = [Path(f) for f in files] or [paths.sample_image()]
    out_path = Path(out) if out else Path.cwd() / "dentalosteo-report.pdf"
    try:
        from .services import screen_files_to_pdf
    except ImportError:  # engine not available yet in this build
        screen_files_to_pdf = None
    try:
        if screen_files_to_pdf is None:
            from .core.imageio import load_radiograph

            for t in targets:
                rad = load_radiograph(t)
                print(f"{t}: {rad.width}x{rad.height} {rad.format} (screening engine not installed)")
            return 0
        written = screen_files_to_pdf(targets, out_path)
    except DentalOsteoError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    for w in written:
        print(f"wrote {w}")
    return 0
