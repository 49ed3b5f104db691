"""Atomic file writes: a temp file in the target folder, fsync, then ``os.replace``.

A reader (or a crash) sees either the old file or the complete new one, never a partial
file. When the disk is full or the folder is read-only the temp file is removed and ONE
:class:`WriteError` names the target and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import DentalOsteoError

log = logging.getLogger(__name__)


class WriteError(DentalOsteoError):
    """A report, export or settings file could not be written."""

    def __init__(self, path: str | Path, reason: str, hint: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{self.path}: cannot write: {reason}{tail}")


def explain_os_error(exc: OSError) -> tuple[str, str]:
    """A short reason and a hint for the common ways a write fails."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "the disk is full", "free some space or choose another folder"
    if code == errno.EROFS:
        return "the folder is on a read-only drive", "choose another folder"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied", "choose a folder you can write to"
    if code == errno.ENOENT:
        return "the folder does not exist", "create it or choose another folder"
    if code == errno.ENAMETOOLONG:
        return "the file name is too long", "choose a shorter name"
    return exc.strerror or type(exc).__name__, ""


_explain = explain_os_error  # the name cli/batch.py imports


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "wb", encoding: str | None = None,
                  newline: str | None = None, file_mode: int | None = None) -> Iterator[IO[Any]]:
    """Context manager yielding a file object; the target appears only if the block succeeds.

    ``mode`` is ``"wb"`` or ``"w"``. ``file_mode`` (e.g. ``0o600``) sets permissions of the
    final file; by default the umask applies as for a normal ``open``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_writer mode must be 'wb' or 'w', not {mode!r}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise WriteError(target, "a folder with that name exists", "choose a file name")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        reason, hint = explain_os_error(exc)
        raise WriteError(target, reason, hint) from None
    tmp = Path(tmp_name)
    try:
        if file_mode is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        else:
            os.chmod(tmp, file_mode)
        kwargs: dict[str, Any] = {}
        if mode == "w":
            kwargs = {"encoding": encoding or "utf-8", "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as fh:
            fd = -1
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        tmp.unlink(missing_ok=True)
        reason, hint = explain_os_error(exc)
        log.warning("write of %s failed: %s", target.name, reason)
        raise WriteError(target, reason, hint) from None
    except BaseException:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: str | Path, data: bytes, file_mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, "wb", file_mode=file_mode) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8",
                      file_mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, "w", encoding=encoding, newline="", file_mode=file_mode) as fh:
        fh.write(text)
    return Path(path)
