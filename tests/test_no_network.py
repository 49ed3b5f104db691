"""No network: screening, batch, report writing and GUI start never open a socket.

One subprocess installs a Python-level guard first (``socket.socket`` for IP families,
``connect``/``connect_ex``/``sendto``, ``create_connection``, ``getaddrinfo``,
``gethostbyname``: each call is recorded and fails loudly), then runs the whole product:
engine (with the bundled model when ``models/default`` exists, so TensorFlow's start is
covered; otherwise TensorFlow and Keras are started on a tiny model anyway), one screening
in ROI mode and one in landmark mode (the landmark pack when ``models/landmarks`` exists),
the PDF report, a heatmap PNG, ``dentalosteo batch`` and the main window (offscreen Qt)
opening and screening a file. When ``strace`` is available the subprocess runs under it and
any ``connect``/``sendto``/``sendmsg`` to an AF_INET/AF_INET6 address made by C/C++ code
(TensorFlow, Qt) fails the test too.

One socket is allowed: importing TensorFlow imports ``requests``/``urllib3``, which creates an
AF_INET6 socket and binds it to ``::1`` to learn whether IPv6 exists (no packet leaves the
machine; strace confirms no connect). Anything else fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"

GUARD = r'''
import socket, traceback
ATTEMPTS = []
PROBES = []  # allowed: creating a socket that only probes local capabilities, never connects
class NetworkDisabled(OSError):
    pass
def _record(what, *args):
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    ATTEMPTS.append({"call": what, "args": repr(args)[:200], "stack": stack[-1500:]})
    raise NetworkDisabled(f"network access attempted in a no-network test: {what}{args!r}")
_IP = (socket.AF_INET, socket.AF_INET6)
_RealSocket = socket.socket
class GuardSocket(_RealSocket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        fam = socket.AF_INET if family == -1 else family
        if fileno is None and fam in _IP:
            stack = "".join(traceback.format_stack(limit=6))
            # urllib3 (imported by TensorFlow via requests) binds an AF_INET6 socket to ::1
            # at import to learn whether IPv6 exists: no traffic; connect/sendto stay refused.
            if "urllib3/util/connection.py" in stack and "_has_ipv6" in stack:
                PROBES.append("urllib3 IPv6 capability probe (bind ::1)")
            else:
                _record("socket.socket", family, type)
        super().__init__(family, type, proto, fileno)
    def connect(self, address):
        _record("socket.connect", address)
    def connect_ex(self, address):
        _record("socket.connect_ex", address)
    def sendto(self, *a):
        _record("socket.sendto", *a)
socket.socket = GuardSocket
socket.create_connection = lambda *a, **k: _record("socket.create_connection", *a)
socket.getaddrinfo = lambda *a, **k: _record("socket.getaddrinfo", *a)
socket.gethostbyname = lambda *a, **k: _record("socket.gethostbyname", *a)
socket.gethostbyname_ex = lambda *a, **k: _record("socket.gethostbyname_ex", *a)
'''

DRIVER = GUARD + r'''
import json, os, sys, time
from pathlib import Path
steps = {}
samples, out = Path(sys.argv[1]), Path(sys.argv[2])
def step(name, fn):
    t = time.perf_counter()
    try:
        fn()
        steps[name] = {"ok": True}
    except BaseException as exc:  # reported, then the test fails on it
        steps[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    steps[name]["s"] = round(time.perf_counter() - t, 2)

state = {}
def engine():
    from dentalosteo_gui.core.system.settings import Settings
    from dentalosteo_gui.services import make_engine
    state["engine"] = make_engine(settings=Settings())
    state["model"] = state["engine"].roi_backend is not None
def tf_start():
    if state.get("model"):
        return  # the model pack started TensorFlow already
    import numpy as np
    import tensorflow as tf
    import keras
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    m.predict(np.zeros((1, 8, 8, 1), np.float32), verbose=0)
    import tf_keras_vis  # noqa: F401  (the Grad-CAM reference)
def screen():
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    rad = load_radiograph(samples / "phantom_c2.dcm")
    state["rad"] = rad
    state["res"] = state["engine"].screen(rad)
def screen_landmarks():
    rad = state["rad"]
    res = state["engine"].screen(rad, mode="landmarks")
    assert res.mode == "landmarks", res.mode
    state["landmark_model"] = res.model.name if res.model else None
def report():
    from dentalosteo_gui.core.records.report import write_report
    from dentalosteo_gui.cli.screen import write_heatmap_png
    eng = state["engine"]
    write_report(state["res"], state["rad"], out / "report.pdf", anonymize=True,
                 model_card=eng.roi_backend.card if eng.roi_backend else None)
    write_heatmap_png(out / "heat.png", state["rad"].pixels, state["res"].heatmap, state["res"].roi)
def batch():
    from dentalosteo_gui.cli.main import main
    rc = main(["batch", str(samples), "--csv", str(out / "batch.csv"), "--quiet", "--pdf-dir", str(out / "pdfs")])
    assert rc == 0, rc
def cli_screen():
    from dentalosteo_gui.cli.main import main
    rc = main(["screen", str(samples / "phantom_c1.png"), "--json", "--pdf", str(out / "cli.pdf")])
    assert rc == 0, rc
def gui():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtWidgets
    from dentalosteo_gui.core.system.settings import Settings
    from dentalosteo_gui.gui.mainwindow import MainWindow
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["no-network-test"])
    win = MainWindow(engine=state["engine"], settings=Settings(), quiet=True)
    win.show()
    app.processEvents()
    win.open_path(samples / "phantom_c3.png")
    end = time.monotonic() + 120
    while win.session.result is None and not win.session.last_error and time.monotonic() < end:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    ok = win.session.result is not None
    err = win.session.last_error
    win.close()
    app.processEvents()
    assert ok, err or "no result within 120 s"

for name, fn in [("engine", engine), ("tensorflow_start", tf_start), ("screen", screen),
                 ("screen_landmarks", screen_landmarks), ("report", report),
                 ("batch", batch), ("cli_screen", cli_screen), ("gui", gui)]:
    step(name, fn)
sys.stdout.write("\n@@RESULT@@" + json.dumps({"attempts": ATTEMPTS, "probes": PROBES, "steps": steps, "model": state.get("model"),
                                                 "landmark_model": state.get("landmark_model")}) + "\n")
'''


def test_guard_catches_a_connection() -> None:
    """The guard is not a no-op: a deliberate connection is recorded and refused."""
    code = GUARD + r'''
try:
    socket.create_connection(("127.0.0.1", 9), timeout=0.1)
except OSError as exc:
    print("refused", type(exc).__name__)
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
except OSError:
    pass
a, b = socket.socketpair()  # local AF_UNIX pairs stay allowed
a.close(); b.close()
print(len(ATTEMPTS))
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["refused", "NetworkDisabled", "2"], r.stdout


def _strace_cmd(trace: Path) -> list[str]:
    """strace options, once a probe proves they see a real AF_INET connect; [] otherwise."""
    exe = shutil.which("strace")
    if not exe:
        return []
    opts = [exe, "--seccomp-bpf", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-e", "signal=none"]
    probe_out = trace.with_name("strace-probe.txt")
    code = "import socket; s = socket.socket(); s.settimeout(0.2); s.connect_ex(('127.0.0.1', 9)); s.close()"
    try:
        subprocess.run([*opts, "-o", str(probe_out), sys.executable, "-c", code], capture_output=True, timeout=60)
        seen = probe_out.read_text(errors="replace") if probe_out.exists() else ""
    except (OSError, subprocess.SubprocessError):
        return []
    return [*opts, "-o", str(trace)] if "AF_INET" in seen else []


@pytest.mark.timeout(600)
def test_product_opens_no_socket(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    trace = tmp_path / "strace.txt"
    env = {**os.environ, "DENTALOSTEO_DATA_DIR": str(tmp_path / "data"),
           "DENTALOSTEO_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONUNBUFFERED": "1"}
    tracer = _strace_cmd(trace)
    cmd = [*tracer, sys.executable, "-c", DRIVER, str(SAMPLES), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=580, cwd=ROOT, env=env)
    assert "@@RESULT@@" in r.stdout, f"rc {r.returncode}\n{r.stderr[-4000:]}"
    res = json.loads(r.stdout.split("@@RESULT@@")[-1])
    failed = {k: v for k, v in res["steps"].items() if not v["ok"]}
    assert not res["attempts"], json.dumps(res["attempts"], indent=1)
    assert not failed, failed
    assert (out / "report.pdf").stat().st_size > 1000 and (out / "batch.csv").exists()
    if tracer:
        lines = trace.read_text(errors="replace").splitlines()
        ip = [ln for ln in lines if re.search(r"sa_family=AF_INET6?\b", ln)]
        assert not ip, "C-level network calls:\n" + "\n".join(ip[:20])
        fams = sorted({m.group(1) for ln in lines for m in [re.search(r"sa_family=(AF_\w+)", ln)] if m})
        print(f"strace: {len(lines)} connect/sendto/sendmsg calls traced "
              f"({', '.join(fams) or 'no socket address'}), none to an IP address")
    else:
        print("strace not available: only the Python-level guard ran")
    print(json.dumps(res["steps"]), "model:", res["model"], "landmark model:", res["landmark_model"],
          "allowed probes:", res["probes"])


def test_socket_module_untouched_here() -> None:
    """This test process keeps the real socket module (the guard lives in the subprocess)."""
    assert socket.socket.__name__ == "socket"
