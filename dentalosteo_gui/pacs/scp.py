"""``dentalosteo listen``: a Storage SCP that screens the panoramics it receives.

Per received image, in this order:

1. the SOP class was accepted at association (DX for presentation/processing, CR, or
   Secondary Capture; everything else is refused there), the calling AE title too when an
   allow list is set;
2. the modality must be PX, DX or CR (else the C-STORE fails with status 0xC000 and a
   comment: our own result objects, modality OT/SR/DOC, are never taken back);
3. the instance is written DURABLY to ``<spool>/incoming/<SOP Instance UID>.dcm`` (temp file,
   fsync, rename, fsync of the folder) and only then acknowledged (0x0000): a listener killed
   mid-association loses nothing it acknowledged; on the next start everything left in
   ``incoming`` is screened first;
4. a worker thread screens it (one at a time, the engine is loaded once). A DX/CR that is not
   a dental panoramic (``status == 'not_panoramic'``) gets one line and no record; every other
   result is recorded in the history and printed as one line;
5. with a forward node the three result objects (SR, SC, PDF) are sent there; when that
   fails they stay in ``<spool>/outgoing/<uid>/`` and the line says so;
6. the spooled image is deleted (screening is at-least-once: a kill between the history
   record and this delete screens that image again on the next start).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import DentalOsteoError
from ..core.system.atomic import atomic_write_bytes
from ..services import reading_text
from .netlog import quiet_pynetdicom
from .nodes import Node

log = logging.getLogger(__name__)

ACCEPTED_MODALITIES = ("PX", "DX", "CR")
#: the image storage SOP classes offered (everything else is refused at association)
STORAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
}
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def spool_name(sop_instance_uid: str) -> str:
    """The spool file name: the SOP Instance UID (a UID, never patient data), or its hash."""
    uid = str(sop_instance_uid or "").strip().rstrip("\x00")
    if not (_UID.fullmatch(uid) and len(uid) <= 64):
        uid = "x" + hashlib.sha256(uid.encode("utf-8", "replace")).hexdigest()[:40]
    return uid + ".dcm"


@dataclass
class ListenerStats:
    received: int = 0
    refused: int = 0
    screened: int = 0
    not_panoramic: int = 0
    failed: int = 0
    forwarded: int = 0
    first_received: float | None = None
    last_screened: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Listener:
    """The Storage SCP plus its screening worker. ``start()``, then ``stop()``."""

    def __init__(self, *, port: int, ae_title: str, spool: Path, bind: str = "0.0.0.0",
                 allow: list[str] | None = None, forward: Node | None = None,
                 anonymize: bool = False, settings: Any = None,
                 engine_factory: Callable[[], Any], emit: Callable[[str], None],
                 timeout: float = 30.0) -> None:
        self.port, self.bind, self.ae_title = int(port), bind, ae_title
        self.allow = [a for a in (allow or []) if a]
        self.forward, self.anonymize, self.settings = forward, anonymize, settings
        self.engine_factory, self.emit, self.timeout = engine_factory, emit, timeout
        self.spool = Path(spool)
        self.incoming = self.spool / "incoming"
        self.outgoing = self.spool / "outgoing"
        self.failed_dir = self.spool / "failed"
        self.stats = ListenerStats()
        self.fatal: str | None = None  # set by the worker when it cannot go on
        self._queue: queue.Queue[Path] = queue.Queue()
        self._stop = threading.Event()
        self._server: Any = None
        self._worker: threading.Thread | None = None
        self.engine_ready = threading.Event()
        self.bound_port: int | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        quiet_pynetdicom()
        for d in (self.incoming, self.outgoing, self.failed_dir):
            d.mkdir(parents=True, exist_ok=True)
        pending = sorted(self.incoming.glob("*.dcm"), key=lambda p: p.stat().st_mtime)
        for p in pending:  # acknowledged before a stop or a crash: screened first
            self._queue.put(p)
        if pending:
            self.emit(f"recovering {len(pending)} image(s) received before the last stop")
        ae = AE(ae_title=self.ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.maximum_associations = 16
        for uid in STORAGE_SOP_CLASSES:
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        if self.allow:
            ae.require_calling_aet = self.allow
        self._worker = threading.Thread(target=self._work, name="dentalosteo-listen-worker",
                                        daemon=True)
        self._worker.start()
        try:
            self._server = ae.start_server(
                (self.bind, self.port), block=False,
                evt_handlers=[(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo)])
        except OSError as exc:
            self._stop.set()
            raise DentalOsteoError(f"cannot listen on {self.bind}:{self.port}: "
                                   f"{exc.strerror or exc} (is another program using that port? "
                                   "choose another --port)") from None
        self.bound_port = int(self._server.server_address[1])

    def stop(self, wait_s: float = 60.0) -> None:
        """Stop accepting, let the worker finish the image in hand, keep the rest spooled."""
        if self._server is not None:
            try:
                self._server.shutdown()
            except Exception:  # noqa: BLE001 - already closing
                log.debug("server shutdown raised", exc_info=True)
            self._server = None
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=wait_s)

    @property
    def waiting(self) -> int:
        return len(list(self.incoming.glob("*.dcm")))

    def wait(self, poll_s: float = 0.5) -> None:
        """Block until the worker stops (fatal error); Ctrl-C / SIGTERM interrupt it."""
        while self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=poll_s)

    # --- the SCP handlers (pynetdicom's threads) -------------------------------------

    def _on_echo(self, event: Any) -> int:
        return STATUS_SUCCESS

    def _refuse(self, code: int, comment: str) -> Any:
        from pydicom.dataset import Dataset

        with self.stats.lock:
            self.stats.refused += 1
        st = Dataset()
        st.Status = code
        st.ErrorComment = comment[:64]
        return st

    def _on_store(self, event: Any) -> Any:
        try:
            ds = event.dataset
            modality = str(ds.get("Modality", "") or "").strip().upper()
            uid = str(ds.get("SOPInstanceUID", "") or event.request.AffectedSOPInstanceUID)
        except Exception:  # noqa: BLE001 - undecodable data set
            return self._refuse(STATUS_CANNOT_UNDERSTAND, "cannot decode the data set")
        if modality not in ACCEPTED_MODALITIES:
            return self._refuse(STATUS_CANNOT_UNDERSTAND,
                                f"modality {modality or 'none'} not screened (PX, DX, CR only)")
        path = self.incoming / spool_name(uid)
        try:
            atomic_write_bytes(path, event.encoded_dataset(include_meta=True))
        except (OSError, DentalOsteoError) as exc:
            log.warning("spool write failed: %s", type(exc).__name__)
            return self._refuse(STATUS_OUT_OF_RESOURCES, "cannot store: spool folder not writable")
        with self.stats.lock:
            self.stats.received += 1
            if self.stats.first_received is None:
                self.stats.first_received = time.monotonic()
        self._queue.put(path)
        return STATUS_SUCCESS  # acknowledged only once the file is durable

    # --- the worker ------------------------------------------------------------------

    def _work(self) -> None:
        try:
            engine = self.engine_factory()
        except DentalOsteoError as exc:
            self.fatal = f"cannot load the screening engine: {exc}"
            return
        except Exception as exc:  # noqa: BLE001
            log.exception("engine failed to load")
            self.fatal = f"cannot load the screening engine: {type(exc).__name__}: {exc}"
            return
        self.engine_ready.set()
        backend = getattr(engine, "roi_backend", None)
        info = getattr(backend, "info", None)
        self.emit("screening engine ready ("
                  + (f"model {info.name} {info.version}" if info is not None else
                     "no model: measurements only") + ")")
        history = _open_history()
        if history is None:
            self.emit("warning: the history cannot be opened: screenings are printed but not recorded")
        try:
            while not self._stop.is_set():
                try:
                    path = self._queue.get(timeout=0.25)
                except queue.Empty:
                    continue
                if not path.exists():  # the same instance sent twice: already done
                    continue
                try:
                    self._process(engine, history, path)
                except Exception as exc:  # noqa: BLE001 - one bad image never stops the node
                    log.exception("screening of a received image failed")
                    with self.stats.lock:
                        self.stats.failed += 1
                    self.emit(f"{_now()} image failed: {type(exc).__name__}: {exc}")
                    _move(path, self.failed_dir)
        finally:
            if history is not None:
                history.close()

    def _process(self, engine: Any, history: Any, path: Path) -> None:
        from ..core.errors import RadiographError
        from ..core.imaging.imageio import load_radiograph
        from ..core.records.history import file_sha256

        with self.stats.lock:
            n = self.stats.screened + self.stats.not_panoramic + self.stats.failed + 1
        try:
            rad = load_radiograph(path)
        except RadiographError as exc:
            with self.stats.lock:
                self.stats.failed += 1
            self.emit(f"{_now()} #{n} cannot be read: {exc.reason} (kept in {self.failed_dir})")
            _move(path, self.failed_dir)
            return
        res = engine.screen(rad)
        what = rad.modality or "?"
        if res.status == "not_panoramic":
            with self.stats.lock:
                self.stats.not_panoramic += 1
            self.emit(f"{_now()} #{n} {what}: not a dental panoramic radiograph: not screened")
            path.unlink(missing_ok=True)
            return
        recorded = "not recorded"
        if history is not None:
            try:
                sid = history.record_screening(res, rad, file_sha256=file_sha256(path),
                                               anonymize=self.anonymize)
                recorded = f"history #{sid}"
            except Exception as exc:  # noqa: BLE001
                log.warning("history not recorded: %s", type(exc).__name__)
        tail = ""
        if self.forward is not None:
            tail = "; " + self._forward(engine, res, rad, path)
        with self.stats.lock:
            self.stats.screened += 1
            self.stats.last_screened = time.monotonic()
        self.emit(f"{_now()} #{n} {what}: {result_text(res)}; {recorded}{tail}")
        path.unlink(missing_ok=True)

    def _forward(self, engine: Any, res: Any, rad: Any, path: Path) -> str:
        from ..core.records.dicom_objects import write_result_objects
        from .scu import PacsError, send_files

        assert self.forward is not None
        out = self.outgoing / path.stem
        try:
            card = engine.roi_backend.card if getattr(engine, "roi_backend", None) else None
            # anonymised: named by the case ID, as --dicom-out does (the spool name is the
            # source's original SOP Instance UID)
            files = write_result_objects(res, rad, out, stem=None if self.anonymize else path.stem,
                                         settings=self.settings, anonymize=self.anonymize,
                                         model_card=card)
            outcomes = send_files(files, self.forward, calling_ae=self.ae_title,
                                  timeout=self.timeout)
        except (PacsError, DentalOsteoError) as exc:
            return f"forward to {self.forward} FAILED: {exc} (objects kept in {out})"
        bad = [o for o in outcomes if not o.stored]
        if bad:
            o = bad[0]
            code = "none" if o.status is None else f"0x{o.status:04X}"
            return (f"forward to {self.forward} FAILED for {len(bad)} object(s): status {code} "
                    f"{o.description} (objects kept in {out})")
        shutil.rmtree(out, ignore_errors=True)
        with self.stats.lock:
            self.stats.forwarded += len(outcomes)
        return f"forwarded {len(outcomes)} objects to {self.forward}"


def result_text(res: Any) -> str:
    """One line of numbers, no file name and no patient data."""
    flag = "" if res.assessable else ", NOT ASSESSABLE"
    return f"{reading_text(res)} ({res.spacing.source} spacing){flag}"


def _now() -> str:
    return _dt.datetime.now().strftime("%H:%M:%S")


def _move(path: Path, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.replace(folder / path.name)
    except OSError:
        log.warning("could not move a spooled image aside")


def _open_history() -> Any:
    try:
        from ..core.records.history import History

        return History()
    except Exception as exc:  # noqa: BLE001
        log.warning("history not available for the listener: %s", type(exc).__name__)
        return None
