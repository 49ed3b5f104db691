"""``dentalosteo send PATH... --to AE@HOST:PORT``: C-STORE DICOM files to a PACS node
(``--echo``: C-ECHO only, to test the connection). The network is used only here and in
``listen``; pynetdicom is imported inside :func:`run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import ConfigError
from ..core.system.settings import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("send", help="send DICOM files (e.g. the --dicom-out objects) to a PACS "
                       "node (C-STORE); --echo tests the connection")
    p.add_argument("paths", nargs="*", metavar="PATH", help="DICOM files or folders of them")
    p.add_argument("--to", required=True, metavar="AE@HOST:PORT",
                   help="the receiving node, e.g. ORTHANC@127.0.0.1:4242, or a configured node name")
    p.add_argument("--calling-ae", help="our AE title (default: the settings' local AE title, "
                   "else DENTALOSTEO)")
    p.add_argument("--echo", action="store_true", help="only test the connection (C-ECHO)")
    p.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    p.set_defaults(func=run)


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _is_dicom(f))
            if not found:
                raise ConfigError(f"{p}: no DICOM files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError(f"{p}: not found (check the path)")
    return files


def _is_dicom(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    from ..pacs.nodes import check_ae_title, local_ae_title, parse_node
    from ..pacs.scu import echo, send_files

    settings = load_settings()
    node = parse_node(args.to, settings)
    calling = check_ae_title(args.calling_ae, "--calling-ae") if args.calling_ae else local_ae_title(settings)
    if not args.timeout > 0:
        raise ConfigError(f"--timeout {args.timeout}: must be a positive number of seconds")
    if args.echo:
        status = echo(node, calling, timeout=args.timeout)
        if status != 0:
            sys.stderr.write(f"error: {node} answered the C-ECHO with status 0x{status:04X}\n")
            return 2
        sys.stdout.write(f"{node}: connection OK (C-ECHO as {calling})\n")
        return 0
    if not args.paths:
        raise ConfigError("give the DICOM files or folders to send (or --echo to test the connection)")
    files = _expand(args.paths)

    def report(o) -> None:  # type: ignore[no-untyped-def]
        if o.stored:
            extra = f" (warning 0x{o.status:04X}: {o.description})" if o.category == "Warning" else ""
            sys.stdout.write(f"stored {o.path}{extra}\n")
        else:
            code = "none" if o.status is None else f"0x{o.status:04X}"
            sys.stderr.write(f"error: {o.path}: not stored by {node}: status {code} {o.description} "
                             "(check the node's log; send the file again)\n")
        sys.stdout.flush()

    outcomes = send_files(files, node, calling_ae=calling, timeout=args.timeout, on_result=report)
    n_ok = sum(o.stored for o in outcomes)
    sys.stdout.write(f"sent {n_ok} of {len(outcomes)} file(s) to {node}\n")
    return 0 if n_ok == len(outcomes) else 2
