"""Entry point of ``dentalosteo-gui``.

With a display: the desktop app. Without one (a server, CI, ``--headless``): the headless
main job, which screens the bundled sample (or the given files) and writes a PDF report.
Qt is imported only on the GUI path.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dentalosteo-gui", description="DentalOsteo desktop app")
    p.add_argument("files", nargs="*", help="radiographs or folders to open")
    p.add_argument("--headless", action="store_true", help="run the headless main job")
    p.add_argument("--out", default="", help="headless: PDF path or folder (default ./dentalosteo-report.pdf)")
    p.add_argument("--screenshot", default="", help="open FILE, wait for the result, save a window screenshot, quit")
    p.add_argument("--size", default="", metavar="WxH", help="window size, e.g. 1024x700")
    p.add_argument("--mode", choices=("roi", "landmarks"), default="roi", help="screening mode to start in")
    p.add_argument("--roi", default="", metavar="X,Y,W,H",
                   help="with --screenshot: after the first result move the box here (as a drag would)")
    p.add_argument("--version", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        from . import __version__

        print(f"dentalosteo-gui {__version__}")
        return 0
    if args.headless or not has_display():
        from .headless import run_headless

        return run_headless(args.files, args.out)
    from .gui.mainwindow import run_gui

    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            print(f"--size must be WxH (e.g. 1024x700), not {args.size!r}", file=sys.stderr)
            return 2
        size = (w, h)
    return run_gui(args.files, screenshot=args.screenshot, size=size, mode=args.mode, roi=args.roi)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
