"""Issue 18: DICOM networking (``dentalosteo send`` / ``dentalosteo listen``).

- a real Orthanc (Debian package ``orthanc``) on free 127.0.0.1 ports, temporary storage:
  ``send`` stores the three result objects there (checked back through its REST API: every
  object arrived, byte-identical data sets that parse); C-ECHO; failures are one line, exit 2;
- ``listen`` driven by pynetdicom and by dcmtk's ``storescu`` with the panoramic phantom
  DICOM: killed (SIGKILL) in the middle of an association, nothing it acknowledged is lost
  (each acknowledged instance is in the spool, durable); started again it screens those
  first, records them in the history and forwards the result objects to Orthanc; other SOP
  classes and modalities are refused, unknown calling AE titles too (``--allow``); SIGTERM
  stops it cleanly (exit 143, "stopped" line);
- ``send`` and ``listen`` are the only network paths of the product.

Every network call goes to 127.0.0.1 with a timeout.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "phantom_c2.dcm"
PACKAGE = ROOT / "dentalosteo_gui"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if Path(p).exists()), None)


class OrthancServer:
    def __init__(self, base: Path, listen_port: int) -> None:
        self.dicom_port, self.http_port = free_port(), free_port()
        self.listen_port = listen_port
        self.base = base
        cfg = {
            "Name": "dentalosteo-test", "DicomAet": "ORTHANC", "DicomPort": self.dicom_port,
            "HttpPort": self.http_port, "StorageDirectory": str(base / "db"),
            "IndexDirectory": str(base / "db"), "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": True, "DicomAlwaysAllowEcho": True, "Plugins": [],
            "HttpTimeout": 10, "StorageCompression": False,
            "DicomModalities": {"dentalosteo": ["DENTALOSTEO", HOST, listen_port]},
        }
        (base / "orthanc.json").write_text(json.dumps(cfg))
        self.log = open(base / "orthanc.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([str(orthanc_binary()), str(base / "orthanc.json")],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=base)
        end = time.monotonic() + 30
        while True:
            try:
                self.get("/system")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("Orthanc did not start:\n"
                                       + (base / "orthanc.log").read_text(errors="replace")[-3000:]) from None
                time.sleep(0.1)

    @property
    def node(self) -> str:
        return f"ORTHANC@{HOST}:{self.dicom_port}"

    def get(self, path: str) -> object:
        with urllib.request.urlopen(f"http://{HOST}:{self.http_port}{path}", timeout=5) as r:
            data = r.read()
        return json.loads(data) if data[:1] in (b"{", b"[") else data

    def post(self, path: str, body: dict) -> object:
        req = urllib.request.Request(f"http://{HOST}:{self.http_port}{path}",
                                     data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def find_instance(self, sop_uid: str) -> str | None:
        req = urllib.request.Request(f"http://{HOST}:{self.http_port}/tools/lookup",
                                     data=sop_uid.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            found = [h for h in json.loads(r.read()) if h.get("Type") == "Instance"]
        return found[0]["ID"] if found else None

    def stop(self) -> None:
        self.proc.kill()  # a throw-away instance: no need for its 2 s clean shutdown
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    if orthanc_binary() is None:
        pytest.skip("Orthanc (Debian package orthanc) not installed: run .ci/sysdeps.sh")
    srv = OrthancServer(tmp_path_factory.mktemp("orthanc"), listen_port=free_port())
    try:
        yield srv
    finally:
        srv.stop()


def _env(base: Path) -> dict[str, str]:
    return {**os.environ, "DENTALOSTEO_DATA_DIR": str(base / "data"),
            "DENTALOSTEO_CONFIG_DIR": str(base / "config"), "PYTHONUNBUFFERED": "1"}


def _cli(args: list[str], base: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dentalosteo_gui.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=_env(base))


def _result_objects(out: Path) -> list[Path]:
    """The three --dicom-out objects of the phantom, from a measurement-only engine (no
    TensorFlow: fast); the objects are the same kind as with a model."""
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.records.dicom_objects import write_result_objects
    from dentalosteo_gui.core.screening.engine import Engine

    rad = load_radiograph(SAMPLE)
    res = Engine(None, None).screen(rad)
    return write_result_objects(res, rad, out)


# --- send -------------------------------------------------------------------------------

def test_send_round_trip_through_orthanc(orthanc: OrthancServer, tmp_path: Path) -> None:
    files = _result_objects(tmp_path / "objs")
    r = _cli(["send", "--echo", "--to", orthanc.node, "--timeout", "10"], tmp_path)
    assert r.returncode == 0 and "connection OK" in r.stdout, r.stderr
    t = time.perf_counter()
    r = _cli(["send", str(tmp_path / "objs"), "--to", orthanc.node, "--timeout", "10"], tmp_path)
    took = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("stored ") == 3 and "sent 3 of 3" in r.stdout
    for f in files:
        mine = pydicom.dcmread(f)
        iid = orthanc.find_instance(str(mine.SOPInstanceUID))
        assert iid, f"{f.name} did not arrive in Orthanc"
        back = orthanc.get(f"/instances/{iid}/file")
        assert isinstance(back, bytes)
        theirs = pydicom.dcmread(pydicom.filebase.DicomBytesIO(back))
        assert theirs.SOPClassUID == mine.SOPClassUID
        assert theirs.StudyInstanceUID == pydicom.dcmread(SAMPLE, stop_before_pixels=True).StudyInstanceUID
        for kw in ("PixelData", "EncapsulatedDocument", "ContentSequence"):
            if kw in mine:
                assert theirs[kw].value == mine[kw].value, kw
    print(f"send of 3 objects (incl. Python start): {took:.2f} s")


def test_send_failures_are_one_line_exit_2(orthanc: OrthancServer, tmp_path: Path) -> None:
    closed = free_port()
    r = _cli(["send", str(SAMPLE), "--to", f"ORTHANC@{HOST}:{closed}", "--timeout", "5"], tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot reach" in r.stderr
    notdicom = tmp_path / "notes.dcm"
    notdicom.write_text("not dicom")
    r = _cli(["send", str(notdicom), "--to", orthanc.node], tmp_path)
    assert r.returncode == 2 and str(notdicom) in r.stderr and "Traceback" not in r.stderr
    r = _cli(["send", str(SAMPLE), "--to", "no-port-here"], tmp_path)
    assert r.returncode == 2 and "AE@HOST:PORT" in r.stderr
    r = _cli(["send", str(SAMPLE), "--to", f"WRONGAE@{HOST}:{orthanc.dicom_port}", "--timeout", "5"], tmp_path)
    assert r.returncode == 2 and "rejected" in r.stderr and r.stderr.count("\n") == 1


# --- listen -----------------------------------------------------------------------------

class Listen:
    """``dentalosteo listen`` in a subprocess; its stdout lines collected by a thread."""

    def __init__(self, base: Path, port: int, *extra: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dentalosteo_gui.cli.main", "listen", "--port", str(port),
             "--bind", HOST, "--spool", str(base / "spool"), "--timeout", "10", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(base))
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("listening as", 1, 30)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, n: int, timeout: float) -> list[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [ln for ln in self.lines if text in ln]
            if len(hits) >= n:
                return hits
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(f"waited for {n} x {text!r}; got:\n" + "\n".join(self.lines) + err)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _copy_with_new_uid(ds: pydicom.Dataset, i: int) -> pydicom.Dataset:
    from pydicom.uid import generate_uid

    d = copy.deepcopy(ds)
    d.SOPInstanceUID = generate_uid(entropy_srcs=[f"dentalosteo-listen-test-{i}-{time.time()}"])
    d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
    return d


def _scu(calling: str = "TESTSCU", contexts: list[str] | None = None):  # type: ignore[no-untyped-def]
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = 10
    for c in contexts or ["1.2.840.10008.5.1.4.1.1.7"]:
        ae.add_requested_context(c, [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian])
    return ae


@pytest.mark.timeout(180)
def test_listen_kill_recover_screen_forward(orthanc: OrthancServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    src = pydicom.dcmread(SAMPLE)
    port = orthanc.listen_port  # the port Orthanc knows our listener by
    first = Listen(tmp_path, port, "--allow", "TESTSCU,STORESCU")
    acked: list[pydicom.Dataset] = []
    try:
        assoc = _scu().associate(HOST, port, ae_title="DENTALOSTEO")
        assert assoc.is_established
        for i in range(3):
            ds = _copy_with_new_uid(src, i)
            st = assoc.send_c_store(ds)
            assert st.Status == 0x0000
            acked.append(ds)
        # killed in the middle of the association: no release, no clean stop
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        st = assoc.send_c_store(_copy_with_new_uid(src, 99)) if assoc.is_established else None
        assert not st or "Status" not in st  # the 4th is not acknowledged
        assoc.abort()
    finally:
        first.close()
    incoming = tmp_path / "spool" / "incoming"
    for ds in acked:  # every acknowledged instance is there, complete
        p = incoming / f"{ds.SOPInstanceUID}.dcm"
        assert p.exists(), f"acknowledged instance lost: {p.name}"
        back = pydicom.dcmread(p)
        assert back.SOPInstanceUID == ds.SOPInstanceUID
        assert back.pixel_array.tobytes() == src.pixel_array.tobytes()
    assert not list(incoming.glob(".*.part"))

    # again, forwarding to Orthanc: the spooled three are screened first, then one more via
    # dcmtk's storescu (a real modality-like sender)
    second = Listen(tmp_path, port, "--allow", "TESTSCU,STORESCU", "--forward", orthanc.node)
    try:
        assert second.wait_for("recovering 3 image(s)", 1, 5)
        extra = tmp_path / "extra.dcm"
        ds = _copy_with_new_uid(src, 7)
        ds.save_as(extra, enforce_file_format=True)
        if shutil.which("storescu"):
            r = subprocess.run(["storescu", "-aet", "STORESCU", "-aec", "DENTALOSTEO", "-to", "10",
                                HOST, str(port), str(extra)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        else:  # dcmtk missing: the same through pynetdicom
            a = _scu("STORESCU").associate(HOST, port, ae_title="DENTALOSTEO")
            assert a.send_c_store(ds).Status == 0
            a.release()
        done = second.wait_for("forwarded 3 objects", 4, 120)
        assert all(" PX: risk " in ln and "history #" in ln for ln in done), done

        # refused: an unknown calling AE title (association), an SR (no presentation context),
        # an image whose modality is not PX/DX/CR (status 0xC000)
        a = _scu("INTRUDER").associate(HOST, port, ae_title="DENTALOSTEO")
        assert a.is_rejected
        a = _scu("TESTSCU", ["1.2.840.10008.5.1.4.1.1.88.33"]).associate(HOST, port, ae_title="DENTALOSTEO")
        # (pynetdicom's SCU aborts an association in which nothing was accepted)
        assert not a.is_rejected and not a.accepted_contexts and not a.is_established
        ot = _copy_with_new_uid(src, 8)
        ot.Modality = "OT"
        a = _scu().associate(HOST, port, ae_title="DENTALOSTEO")
        st = a.send_c_store(ot)
        a.release()
        assert st.Status == 0xC000 and "modality OT" in str(st.get("ErrorComment", ""))

        # SIGTERM: a clean stop
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=60) == 143
        time.sleep(0.2)
        assert any(ln.startswith("stopped: ") for ln in second.lines), second.lines
    finally:
        second.close()
    assert not list(incoming.glob("*.dcm"))  # all screened, nothing left

    # the history holds the four screenings
    from dentalosteo_gui.core.records.history import History

    monkeypatch.setenv("DENTALOSTEO_DATA_DIR", str(tmp_path / "data"))
    with contextlib.closing(History(read_only=True)) as h:
        rows = h.list()
    assert len(rows) == 4 and {r["patient_id"] for r in rows} == {"DEMO-0001"}
    # no patient data in what the listener printed or logged
    said = "\n".join(first.lines + second.lines)
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "data" / "logs").rglob("*") if p.is_file())
    for phi in ("DEMO^PATIENT", "DEMO-0001", "19560412", "DEMO"):
        assert phi not in said and phi not in logs, phi
    # Orthanc holds 3 objects per image, in the source study
    for ln in done:
        assert "FAILED" not in ln
    series = orthanc.get(f"/studies/{orthanc.post('/tools/find', {'Level': 'Study', 'Query': {'StudyInstanceUID': str(src.StudyInstanceUID)}})[0]}/series")
    mods = sorted(s["MainDicomTags"]["Modality"] for s in series)  # type: ignore[index,union-attr]
    assert mods.count("SR") >= 4 and mods.count("OT") >= 4 and mods.count("DOC") >= 4


# --- the only network paths -------------------------------------------------------------

NETWORK_MODULES = {"socket", "ssl", "socketserver", "http", "urllib.request", "urllib3",
                   "requests", "httpx", "aiohttp", "asyncio", "ftplib", "smtplib", "xmlrpc",
                   "pynetdicom", "websocket", "websockets", "zmq", "dask", "distributed"}
#: the packages that may use the network, and the only modules that may import them (inside a
#: function, never at module level): DICOM send / listen, and the opt-in Dask cluster of
#: ``batch --scheduler`` (connects only to the scheduler the user names)
NETWORK_PATHS = {
    "dentalosteo_gui.pacs": {"dentalosteo_gui/cli/send.py", "dentalosteo_gui/cli/listen.py"},
    "dentalosteo_gui.distributed": {"dentalosteo_gui/cli/batch.py"},
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute module name, at module level) for every import in the file."""
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.append((base, id(node) in top))
            out += [(f"{base}.{a.name}", id(node) in top) for a in node.names]
    return out


def test_send_and_listen_are_the_only_network_paths() -> None:
    """No module opens the network except the DICOM package (``send``, ``listen``) and the
    opt-in Dask cluster, and those are imported only inside their commands."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        home = next((p for p in NETWORK_PATHS if rel.startswith(p.replace(".", "/") + "/")), None)
        for mod, top in _imports(path):
            if any(mod == m or mod.startswith(m + ".") for m in NETWORK_MODULES) and home is None:
                offenders.append(f"{rel}: imports {mod}")
            for pkg, users in NETWORK_PATHS.items():
                if (mod == pkg or mod.startswith(pkg + ".")) and home != pkg and (rel not in users or top):
                    offenders.append(f"{rel}: imports {mod}" + (" at module level" if top else ""))
    assert not offenders, "\n".join(offenders)


def test_no_socket_without_send_or_listen(tmp_path: Path) -> None:
    """Under the no-network guard: every CLI module imported and the parser built (send and
    listen included), and the three DICOM objects written: no socket, no pynetdicom."""
    from tests.test_no_network import GUARD

    code = GUARD + r'''
import sys
from pathlib import Path
from dentalosteo_gui.cli.main import build_parser
build_parser().parse_args(["send", "x.dcm", "--to", "A@127.0.0.1:104"])
build_parser().parse_args(["listen", "--port", "11112"])
from dentalosteo_gui.core.imaging.imageio import load_radiograph
from dentalosteo_gui.core.records.dicom_objects import write_result_objects
from dentalosteo_gui.core.screening.engine import Engine
rad = load_radiograph(Path(sys.argv[1]))
files = write_result_objects(Engine(None, None).screen(rad), rad, Path(sys.argv[2]), anonymize=True)
assert len(files) == 3
print("ATTEMPTS", len(ATTEMPTS), [a["call"] for a in ATTEMPTS])
print("PYNETDICOM", "pynetdicom" in sys.modules)
'''
    r = subprocess.run([sys.executable, "-c", code, str(SAMPLE), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(tmp_path))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ATTEMPTS 0 []" in r.stdout and "PYNETDICOM False" in r.stdout, r.stdout
