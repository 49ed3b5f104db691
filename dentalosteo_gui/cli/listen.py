"""``dentalosteo listen --port P``: a DICOM Storage SCP that screens each panoramic it
receives, records it in the history and prints one line per image (see
:mod:`dentalosteo_gui.pacs.scp`). Ctrl-C / SIGTERM stop it cleanly: no new association, the
image in hand is finished, anything not yet screened stays in the spool for the next start."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from ..core.errors import ConfigError, DentalOsteoError
from ..core.system import paths
from ..core.system.settings import load_settings
from ..services import make_engine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("listen", help="receive panoramics over DICOM (Storage SCP), screen and "
                       "record each; --forward sends the result objects on")
    p.add_argument("--port", required=True, help="TCP port to listen on (e.g. 11112)")
    p.add_argument("--ae-title", help="our AE title (default: the settings' local AE title, "
                   "else DENTALOSTEO)")
    p.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all; "
                   "127.0.0.1: this computer only)")
    p.add_argument("--forward", metavar="AE@HOST:PORT",
                   help="send the SR, SC and PDF result objects of each image to this node")
    p.add_argument("--allow", metavar="AE,...", help="accept associations only from these "
                   "calling AE titles")
    p.add_argument("--spool", help="folder where received images wait to be screened "
                   "(default: the data folder's spool)")
    p.add_argument("--anonymize", action="store_true",
                   help="record and forward pseudonymised (de-identified result objects)")
    p.add_argument("--model", help="model pack folder")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default=None)
    p.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    p.set_defaults(func=run)


class _Printer:
    """One line at a time from several threads, flushed at once (a log reader sees it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from ..pacs.nodes import check_ae_title, check_port, local_ae_title, parse_node
    from ..pacs.scp import Listener

    settings = load_settings()
    port = check_port(args.port, "--port")
    ae_title = check_ae_title(args.ae_title, "--ae-title") if args.ae_title else local_ae_title(settings)
    forward = parse_node(args.forward, settings) if args.forward else None
    allow = [check_ae_title(a, "--allow") for a in args.allow.split(",") if a.strip()] if args.allow else []
    if args.allow and not allow:
        raise ConfigError("--allow: give at least one AE title, e.g. --allow PACS,MODALITY1")
    spool = Path(args.spool) if args.spool else paths.data_dir() / "spool"
    if spool.exists() and not spool.is_dir():
        raise ConfigError(f"{spool}: is a file; give --spool a folder")
    anonymize = bool(args.anonymize or settings.anonymize_exports)
    emit = _Printer()
    listener = Listener(
        port=port, bind=args.bind, ae_title=ae_title, spool=spool, allow=allow, forward=forward,
        anonymize=anonymize, settings=settings, emit=emit, timeout=args.timeout,
        engine_factory=lambda: make_engine(model_dir=args.model, device=args.device, settings=settings))
    listener.start()
    emit(f"listening as {ae_title} on {args.bind}:{listener.bound_port}"
         + (f", forwarding results to {forward}" if forward else "")
         + (f", accepting only {','.join(allow)}" if allow else "")
         + " (Ctrl-C to stop)")
    try:
        listener.wait()
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM (cli.main raises Terminated)
        listener.stop()
        s = listener.stats
        emit(f"stopped: {s.received} received, {s.screened} screened, {s.not_panoramic} not "
             f"panoramic, {s.failed} failed; {listener.waiting} waiting in the spool")
        raise
    listener.stop()
    raise DentalOsteoError(listener.fatal or "the screening worker stopped")
