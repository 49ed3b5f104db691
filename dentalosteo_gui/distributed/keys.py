"""Deduplication of a cluster batch by content: one screening per image, however many copies.

An image is the same when its bytes are (sha256) or, for DICOM, when its SOPInstanceUID is
(the same instance exported twice, e.g. with another transfer syntax). The first copy to be
screened gets the numbers; every other copy gets a row whose error column says
``duplicate of <first>``, so it counts as done when the batch is resumed.

The keys of the screened images are kept in a hidden sidecar beside the CSV
(``.<name>.keys``, one JSON object a line, written before the image's CSV row), so a resumed
batch still knows them. A key whose row never reached the CSV (the client was killed in
between) is ignored on resume: that image is screened again, once.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..core.system.atomic import WriteError, explain_os_error

log = logging.getLogger(__name__)


def keys_path(csv_path: Path) -> Path:
    return csv_path.with_name(f".{csv_path.name}.keys")


class ContentKeys:
    """The content keys (sha256, SOPInstanceUID) of the images screened into one CSV."""

    def __init__(self, csv_path: Path, done: set[str], restart: bool) -> None:
        self.path = keys_path(csv_path)
        self.by_sha: dict[str, str] = {}
        self.by_uid: dict[str, str] = {}
        if not restart:
            self._load(done)
        try:
            self._fh = open(self.path, "w" if restart else "a", encoding="utf-8")  # noqa: SIM115
            if self._fh.tell() and not self._ends_with_newline():
                self._fh.write("\n")  # after a torn last line: the next key on a line of its own
        except OSError as exc:
            reason, hint = explain_os_error(exc)
            raise WriteError(self.path, reason, hint) from None

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def _load(self, done: set[str]) -> None:
        try:
            with open(self.path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("batch keys not readable (%s): duplicates are found within this run only",
                        type(exc).__name__)
            return
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:  # a torn last line
                continue
            if isinstance(rec, dict) and rec.get("label") in done:
                self._remember(rec.get("sha256", ""), rec.get("uid", ""), rec["label"])

    def _remember(self, sha: str, uid: str, label: str) -> None:
        if sha:
            self.by_sha.setdefault(sha, label)
        if uid:
            self.by_uid.setdefault(uid, label)

    def duplicate_of(self, sha: str, uid: str) -> str:
        """Why this image is not screened again ("" when it is new)."""
        if sha and sha in self.by_sha:
            return f"duplicate of {self.by_sha[sha]} (same file content); screened once"
        if uid and uid in self.by_uid:
            return f"duplicate of {self.by_uid[uid]} (same DICOM SOPInstanceUID); screened once"
        return ""

    def add(self, sha: str, uid: str, label: str) -> None:
        """Remember a screened image (durably: before its CSV row is written)."""
        self._remember(sha, uid, label)
        if not (sha or uid):
            return
        rec: dict[str, Any] = {"sha256": sha, "uid": uid, "label": label}
        try:
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            reason, hint = explain_os_error(exc)
            raise WriteError(self.path, reason, hint) from None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
