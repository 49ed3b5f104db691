"""Throughput of ``dentalosteo listen``: send N copies of the panoramic phantom (each with a
new SOP Instance UID) in one association and time how fast they are acknowledged (received:
written durably to the spool) and screened.

    python bench/listen_throughput.py [--n 20]
        starts its own listener (127.0.0.1, free port, temporary data / spool folders) and
        counts its per-image lines;
    python bench/listen_throughput.py --to DENTALOSTEO@127.0.0.1:11112 --spool SPOOL [--n 20]
        a listener already running (with --spool SPOOL): screened = its spool emptied.

Prints one JSON object: {"n", "images_per_minute_received", "images_per_minute_screened",
"receive_s", "screen_s", "engine_start_s", "listener": "own" | "external"}. Both rates
count from the first C-STORE: received up to the last acknowledgement, screened up to the
last screening. With its own listener the images are sent once its engine is loaded (the
"screening engine ready" line; ``engine_start_s`` says how long that took).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "phantom_c2.dcm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _copies(n: int):  # type: ignore[no-untyped-def]
    import pydicom
    from pydicom.uid import generate_uid

    src = pydicom.dcmread(SAMPLE)
    for i in range(n):
        d = copy.deepcopy(src)
        d.SOPInstanceUID = generate_uid(entropy_srcs=[f"bench-{i}-{time.time_ns()}"])
        d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
        yield d


def _send(n: int, ae_title: str, host: str, port: int) -> tuple[float, float]:
    """(time just before the first C-STORE, time of the last acknowledgement), monotonic."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
    from pynetdicom import AE

    datasets = list(_copies(n))
    ae = AE(ae_title="BENCH")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = 60
    ae.add_requested_context(str(datasets[0].SOPClassUID),
                             [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian])
    assoc = ae.associate(host, port, ae_title=ae_title)
    if not assoc.is_established:
        raise SystemExit(f"cannot associate with {ae_title}@{host}:{port}")
    first = last = time.monotonic()
    try:
        for i, ds in enumerate(datasets):
            st = assoc.send_c_store(ds)
            if not st or int(st.Status) != 0:
                raise SystemExit(f"image {i}: not stored ({st})")
            last = time.monotonic()
    finally:
        assoc.release()
    return first, last


def _own_listener(n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="dentalosteo-bench-listen-"))
    port = _free_port()
    env = {**os.environ, "DENTALOSTEO_DATA_DIR": str(tmp / "data"),
           "DENTALOSTEO_CONFIG_DIR": str(tmp / "config"), "PYTHONUNBUFFERED": "1"}
    t_start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "dentalosteo_gui.cli.main", "listen", "--port",
                             str(port), "--bind", "127.0.0.1", "--spool", str(tmp / "spool")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=env)
    screened: list[float] = []
    ready = threading.Event()
    t_ready = [0.0]

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("screening engine ready"):
                t_ready[0] = time.monotonic()
                ready.set()
            elif " risk " in line:
                screened.append(time.monotonic())

    threading.Thread(target=read, daemon=True).start()
    try:  # measured once the engine is loaded (a running listener's steady state)
        if not ready.wait(180):
            raise SystemExit("the listener did not start")
        first, last = _send(n, "DENTALOSTEO", "127.0.0.1", port)
        end = time.monotonic() + 60 + 10 * n
        while len(screened) < n and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.05)
        if len(screened) < n:
            raise SystemExit(f"only {len(screened)} of {n} screened")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return _result(n, first, last, screened[-1], "own", engine_start_s=round(t_ready[0] - t_start, 2))


def _external(n: int, node: str, spool: Path) -> dict:
    ae, rest = node.split("@", 1)
    host, port = rest.rsplit(":", 1)
    first, last = _send(n, ae, host, int(port))
    end = time.monotonic() + 60 + 10 * n
    while list((spool / "incoming").glob("*.dcm")) and time.monotonic() < end:
        time.sleep(0.05)
    return _result(n, first, last, time.monotonic(), "external")


def _result(n: int, first: float, last: float, done: float, who: str, **extra: object) -> dict:
    receive_s = max(last - first, 1e-6)
    screen_s = max(done - first, 1e-6)
    return {"n": n,
            "images_per_minute_received": round(60.0 * n / receive_s, 1),
            "images_per_minute_screened": round(60.0 * n / screen_s, 1),
            "receive_s": round(receive_s, 3), "screen_s": round(screen_s, 2), "listener": who,
            **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--to", help="AE@HOST:PORT of a running listener (default: start one)")
    ap.add_argument("--spool", help="that listener's --spool folder (needed with --to)")
    a = ap.parse_args()
    if a.to and not a.spool:
        ap.error("--to needs --spool (to see when the images are screened)")
    res = _external(a.n, a.to, Path(a.spool)) if a.to else _own_listener(a.n)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
