"""pynetdicom's log goes into ours (warnings and errors only).

pynetdicom logs on the ``pynetdicom`` logger, which our configuration does not cover: its
messages would reach stderr through Python's last-resort handler, tracebacks included. They
are re-emitted on ``dentalosteo_gui.pacs.net`` instead (our log file, with its redaction of
paths and file names); nothing it logs at INFO or DEBUG (PDU dumps) is kept.
"""

from __future__ import annotations

import logging

_TARGET = "dentalosteo_gui.pacs.net"


class _Forward(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(_TARGET)
        if target.isEnabledFor(record.levelno):
            # message only: pynetdicom's tracebacks name our handler frames, not data
            target.log(record.levelno, "%s", record.getMessage())


def quiet_pynetdicom() -> None:
    log = logging.getLogger("pynetdicom")
    if any(isinstance(h, _Forward) for h in log.handlers):
        return
    log.setLevel(logging.WARNING)
    log.propagate = False
    log.addHandler(_Forward())
