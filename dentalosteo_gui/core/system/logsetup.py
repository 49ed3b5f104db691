"""Logging configuration for entry points only (library modules just getLogger)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import warnings
from typing import Any

from ..errors import DentalOsteoError
from . import paths

_configured = False

# Clinics often name files and folders after the patient ("Doe John/2026-01-03.dcm"), so
# paths and image file names never reach the log: any token with a path separator (except
# our own .py source paths, which tracebacks need) and any bare image / DICOM file name.
_PATH = re.compile(r"""(?:\b[A-Za-z]:)?[^\s"'<>|;:,()\[\]{}]*[\\/][^\s"'<>|;:,()\[\]{}]*""")
_IMAGE_NAME = re.compile(r"[^\s\"'<>|;,()\[\]{}/\\]+\.(?:png|jpe?g|tiff?|bmp|dcm|dicom|ima)\b", re.IGNORECASE)
REDACTED = "<file>"


def redact(text: str) -> str:
    """``text`` with file paths and image file names replaced by ``<file>`` (see above)."""
    def _path(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok.endswith((".py", ".pyc")) or tok.startswith("//"):  # our sources; a URL's //host
            return tok
        return REDACTED if any(c.isalpha() for c in tok) else tok  # "3/4" is not a path

    return _IMAGE_NAME.sub(REDACTED, _PATH.sub(_path, text))


# What must not reach a terminal raw: C0 controls (ESC, CR, LF, TAB, BEL...), DEL, C1 controls
# (CSI 0x9b...), bidirectional overrides and line/paragraph separators (text that rewrites or
# hides what is shown), and lone surrogates (undecodable bytes, e.g. 0x9b, of a file name).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                       "\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(m: re.Match[str]) -> str:
    c = m.group(0)
    code = ord(c)
    if c in _NAMED:
        return _NAMED[c]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape of one undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with control characters as visible backslash escapes (``\\x1b``, ``\\n``)."""
    return _CONTROLS.sub(_escape_one, text)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts paths and file names (message and traceback alike)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(verbose: bool = False) -> None:
    """Log to a rotating file in the data folder; to stderr only when verbose.

    Messages never contain patient-identifying data: PatientInfo's repr is masked, callers
    log no patient fields, and the formatter redacts file paths and image file names.
    """
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("dentalosteo_gui")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        fh = logging.handlers.RotatingFileHandler(
            paths.log_dir() / "dentalosteo.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8",
            # file names that are not valid UTF-8 (surrogate escapes) must not break logging
            errors="backslashreplace",
        )
        fh.setFormatter(fmt)
        root.addHandler(fh)
    except (OSError, DentalOsteoError):  # no usable data folder: the command itself says so
        pass
    if verbose or os.environ.get("DENTALOSTEO_LOG_STDERR"):
        sh = logging.StreamHandler()
        sh.setFormatter(fmt)
        root.addHandler(sh)
    # Quieten TensorFlow's C++ logging and stop it from any telemetry-like chatter.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.showwarning = _log_warning


def _log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """Python warnings from third-party readers (pydicom validation, Pillow EXIF) go to the
    log, not to stderr, where they broke the one-line error contract of the CLI. Only their
    origin is logged: their text can quote DICOM values, i.e. patient data."""
    logging.getLogger("dentalosteo_gui.warnings").debug(
        "%s from %s:%d", category.__name__, os.path.basename(filename), lineno)
