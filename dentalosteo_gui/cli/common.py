"""Helpers shared by subcommands: terminal-safe output, JSON output, pixel-spacing override,
and recording in the history (fail loudly: a screening that is not recorded is an error)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from ..core.errors import ConfigError, DentalOsteoError
from ..core.system.logsetup import escape_controls

if TYPE_CHECKING:
    from ..core.records.history import History
    from ..core.types import Radiograph, ScreeningResult

EXIT_NOT_RECORDED = 3


class NotRecordedError(DentalOsteoError):
    """The work was done but could not be recorded in the history (exit code 3)."""


# -- terminal-safe output --------------------------------------------------------------


def safe_text(text: Any) -> str:
    """``text`` fit for a terminal line: control characters (ESC, CR/LF, C1, bidi overrides,
    undecodable bytes) become visible backslash escapes. DICOM values and file names are
    attacker-controlled; raw they could rewrite the screen or the window title."""
    return escape_controls(str(text))


def echo(text: Any = "", *, err: bool = False) -> None:
    """Write one line, made terminal-safe, to stdout (or stderr)."""
    stream: TextIO = sys.stderr if err else sys.stdout
    stream.write(safe_text(text) + "\n")


# -- JSON --------------------------------------------------------------------------------


def _default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any) -> str:
    # ensure_ascii: every control character inside a value is written as \uXXXX, so values
    # stay exact for programs and inert on a terminal
    return json.dumps(_clean(obj), indent=2, default=_default, ensure_ascii=True)


def print_json(obj: Any) -> None:
    for line in dumps(obj).split("\n"):
        echo(line)  # a no-op on JSON text; the one output path all commands share


# -- arguments ---------------------------------------------------------------------------


def spacing_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"--pixel-spacing must be a number in mm, not {text!r}") from None
    if not (0.005 <= v <= 2.0):
        raise ConfigError(f"--pixel-spacing {v} mm is outside 0.005-2.0 mm")
    return v


# -- recording in the history --------------------------------------------------------------


def _not_recorded(what: str, exc: DentalOsteoError) -> NotRecordedError:
    return NotRecordedError(f"{what} NOT recorded in the history: {exc}")


def open_history_or_fail() -> History:
    """The default history, or NotRecordedError (exit 3) saying why it cannot be used."""
    from ..core.records.history import History

    try:
        return History()
    except DentalOsteoError as exc:
        raise _not_recorded("nothing can be", exc) from None


def record_screening_or_fail(result: ScreeningResult, radiograph: Radiograph, *,
                             anonymize: bool, history: History | None = None,
                             path: Path | None = None, file_digest: str = "") -> int:
    """Record one screening (in ``history``, else the default one opened for the call);
    returns its id. NotRecordedError (exit 3) naming the cause when that fails."""
    from ..core.records.history import History, file_sha256

    try:
        digest = file_digest or file_sha256(Path(path if path is not None else radiograph.path or ""))
        h = history if history is not None else History()
        try:
            return h.record_screening(result, radiograph, file_sha256=digest, anonymize=anonymize)
        finally:
            if history is None:
                h.close()
    except DentalOsteoError as exc:
        raise _not_recorded("the screening was done but", exc) from None


def record_export_or_fail(screening_id: int | None, kind: str, out: str | Path, *,
                          history: History | None = None) -> None:
    """Record an export of a screening (or of a list when ``screening_id`` is None);
    NotRecordedError (exit 3) naming the cause when that fails."""
    from ..core.records.history import History

    try:
        h = history if history is not None else History()
        try:
            h.record_export(screening_id, kind, str(out))
        finally:
            if history is None:
                h.close()
    except DentalOsteoError as exc:
        raise _not_recorded(f"{Path(out).name} was written but its export was", exc) from None
