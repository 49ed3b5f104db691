"""C-STORE and C-ECHO as a service class user (``dentalosteo send``, the listener's
``--forward``, the GUI's 'test connection')."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import DentalOsteoError, RadiographError
from .netlog import quiet_pynetdicom
from .nodes import DEFAULT_AE_TITLE, Node

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_CONTEXTS = 128  # presentation contexts in one association (PS3.8)


class PacsError(DentalOsteoError):
    """A DICOM node could not be reached or refused the association (one line)."""


@dataclass
class StoreOutcome:
    path: Path
    sop_instance_uid: str
    status: int | None  # None: never sent (association lost)
    category: str  # Success, Warning, Failure, Not sent
    description: str

    @property
    def stored(self) -> bool:
        return self.category in ("Success", "Warning")


def _ae(calling_ae: str, timeout: float) -> Any:
    from pynetdicom import AE

    quiet_pynetdicom()
    ae = AE(ae_title=calling_ae or DEFAULT_AE_TITLE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    return ae


def _associate(ae: Any, node: Node) -> Any:
    from pynetdicom import evt

    opened: list[bool] = []
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title,
                             evt_handlers=[(evt.EVT_CONN_OPEN, lambda event: opened.append(True))])
    except OSError as exc:  # e.g. a host name that does not resolve
        raise PacsError(f"cannot reach {node}: {exc.strerror or exc} (check the host and "
                        "port)") from None
    if assoc.is_established:
        return assoc
    if not opened:
        raise PacsError(f"cannot reach {node}: no connection (is it running, and are the host "
                        f"and port right?)")
    if assoc.is_rejected:
        raise PacsError(f"{node} rejected the association (check that it knows our AE title "
                        f"{ae.ae_title} and that its AE title is {node.ae_title})")
    if assoc.is_aborted:
        raise PacsError(f"{node} aborted the association (check the AE titles and the "
                        "node's configuration)")
    raise PacsError(f"cannot reach {node}: no DICOM association (is it running, and are "
                    "the host and port right?)")


def echo(node: Node, calling_ae: str = DEFAULT_AE_TITLE, timeout: float = 10.0) -> int:
    """C-ECHO ('test connection'): the status (0x0000 when the node answers)."""
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = _ae(calling_ae, timeout)
    ae.add_requested_context(Verification)
    assoc = _associate(ae, node)
    try:
        st = assoc.send_c_echo()
    finally:
        assoc.release()
    if not st or "Status" not in st:
        raise PacsError(f"{node} did not answer the C-ECHO (timed out or aborted)")
    return int(st.Status)


def _status_text(code: int) -> tuple[str, str]:
    from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

    cat = code_to_category(code)
    desc = STORAGE_SERVICE_CLASS_STATUS.get(code, ("", ""))[1] or "unknown status"
    return cat, desc


def read_for_sending(path: Path) -> Any:
    """The DICOM file as a dataset (pixel data included); RadiographError when not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except FileNotFoundError:
        raise RadiographError(path, "file not found") from None
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as exc:
        raise RadiographError(path, f"not a DICOM file ({type(exc).__name__})",
                              "send only .dcm files, e.g. those of --dicom-out") from None
    if "SOPClassUID" not in ds or "SOPInstanceUID" not in ds:
        raise RadiographError(path, "DICOM file without SOP Class / Instance UID",
                              "it is not a storable instance") from None
    return ds


def _contexts(datasets: Sequence[Any]) -> list[tuple[str, list[str]]]:
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    wanted: dict[str, list[str]] = {}
    for ds in datasets:
        ts = str(ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))
        lst = wanted.setdefault(str(ds.SOPClassUID), [])
        for t in (ts, ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if t not in lst:
                lst.append(t)
    return list(wanted.items())


def send_files(paths: Sequence[Path], node: Node, calling_ae: str = DEFAULT_AE_TITLE,
               timeout: float = DEFAULT_TIMEOUT_S,
               on_result: Callable[[StoreOutcome], None] | None = None) -> list[StoreOutcome]:
    """C-STORE every file to ``node`` in one association; one outcome per file.

    RadiographError when a file is not DICOM (checked before connecting, so nothing is sent
    from a bad list); PacsError when the node cannot be reached or refuses the association.
    """
    paths = [Path(p) for p in paths]
    datasets = [read_for_sending(p) for p in paths]
    contexts = _contexts(datasets)
    if len(contexts) > MAX_CONTEXTS:
        raise PacsError(f"{len(contexts)} different SOP classes: at most {MAX_CONTEXTS} per "
                        "association (send them in smaller groups)")
    ae = _ae(calling_ae, timeout)
    for sop_class, syntaxes in contexts:
        ae.add_requested_context(sop_class, syntaxes)
    assoc = _associate(ae, node)
    out: list[StoreOutcome] = []
    try:
        for p, ds in zip(paths, datasets, strict=True):
            uid = str(ds.SOPInstanceUID)
            if not assoc.is_established:
                res = StoreOutcome(p, uid, None, "Not sent", "the association was lost")
            else:
                try:
                    st = assoc.send_c_store(ds)
                except (ValueError, RuntimeError) as exc:  # no accepted context for it
                    res = StoreOutcome(p, uid, None, "Failure", f"not sent: {exc}")
                else:
                    if st and "Status" in st:
                        code = int(st.Status)
                        cat, desc = _status_text(code)
                        comment = str(st.get("ErrorComment", "") or "").strip()
                        res = StoreOutcome(p, uid, code, cat, f"{desc}{': ' + comment if comment else ''}")
                    else:
                        res = StoreOutcome(p, uid, None, "Failure",
                                           "no response (timed out or aborted)")
            out.append(res)
            if on_result is not None:
                on_result(res)
    finally:
        if assoc.is_established:
            assoc.release()
    log.info("C-STORE to %s: %d of %d stored", node.ae_title, sum(o.stored for o in out), len(out))
    return out
