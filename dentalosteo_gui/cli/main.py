"""Entry point of the ``dentalosteo`` command.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback),
3 done but NOT recorded in the history (``audit verify``: the trail is broken),
1 unexpected internal error (one line on stderr, details in the log file), 130 Ctrl-C,
143 SIGTERM. On Ctrl-C and SIGTERM alike the atomic writers remove their temporary files.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from .. import __version__
from ..core.errors import DentalOsteoError
from ..core.system.logsetup import configure_logging
from .common import EXIT_NOT_RECORDED, NotRecordedError, echo

# a fixed name, not __name__: run as `python -m dentalosteo_gui.cli.main` it would be "__main__",
# outside the configured logger tree, and logging.lastResort would print tracebacks to stderr
log = logging.getLogger("dentalosteo_gui.cli.main")

# Order in which subcommands appear in --help; modules found but not listed come after.
ORDER = ["info", "roi", "screen", "batch", "phantoms", "train", "evaluate", "history",
         "audit", "deidentify", "report"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dentalosteo",
        description="DentalOsteo: osteoporosis screening aid for dental panoramic radiographs. "
        "A referral aid, not a diagnosis (DXA is the reference standard).",
    )
    parser.add_argument("--version", action="version", version=f"dentalosteo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from . import __path__ as pkg_path

    found = {m.name for m in pkgutil.iter_modules(pkg_path) if m.name not in ("main", "common")}
    for name in [n for n in ORDER if n in found] + sorted(found - set(ORDER)):
        mod = importlib.import_module(f"{__package__}.{name}")
        register = getattr(mod, "register", None)
        if register is not None:
            register(sub)
    return parser


def _lenient_std_streams() -> None:
    """File names that are not valid UTF-8 reach us as surrogate escapes; printing one to a
    strict UTF-8 stdout (e.g. an en_US.UTF-8 locale, or a pipe) must not crash the command."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                pass


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``finally``/``except BaseException`` cleanup runs
    (atomic writers delete their ``.part`` temporaries, SQLite transactions roll back)."""


EXIT_TERMINATED = 128 + 15


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: Sequence[str] | None = None) -> int:
    _lenient_std_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(verbose=bool(getattr(args, "verbose", False)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _sigterm_raises():
            return int(args.func(args) or 0)
    except NotRecordedError as exc:
        log.warning("command done but not recorded in the history")
        echo(f"error: {exc}", err=True)
        return EXIT_NOT_RECORDED
    except DentalOsteoError as exc:
        log.info("command failed: %s", type(exc).__name__)
        echo(f"error: {exc}", err=True)
        return 2
    except Terminated:
        sys.stderr.write("terminated\n")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
        log.exception("internal error in %s", getattr(args, "command", "?"))
        echo(f"internal error: {type(exc).__name__}: {exc} (details in the log file; please "
             "report it)", err=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
