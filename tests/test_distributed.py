"""Issue 20: ``dentalosteo batch --scheduler``: the same numbers as the plain batch, one
writer, resumable after a kill of a worker or of the client, deduplicated by content, and a
clear line when Dask is not installed."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core.records.history import History
from dentalosteo_gui.distributed.keys import ContentKeys
from dentalosteo_gui.distributed.tasks import THREAD_ENV, content_keys

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
NOT_TIMED = {"time_total_ms"}


def _rows(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _n_rows(p: Path) -> int:
    """Complete data rows (a torn last line does not count)."""
    try:
        return max(0, p.read_bytes().count(b"\n") - 1)
    except OSError:
        return 0


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six different radiographs: three PNG phantoms with a labels.csv (dataset spacing), a
    DICOM phantom (file spacing, SOPInstanceUID) and two mirrored PNGs (assumed spacing)."""
    d = tmp_path_factory.mktemp("six")
    for name in ("phantom_c1.png", "phantom_c2.png", "phantom_c3.png", "phantom_c2.dcm", "labels.csv"):
        shutil.copy(SAMPLES / name, d / name)
    for name in ("phantom_c1.png", "phantom_c3.png"):
        px = np.asarray(Image.open(SAMPLES / name))
        Image.fromarray(np.ascontiguousarray(px[:, ::-1])).save(d / f"mirror_{name}")
    return d


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, object]]:
    """A running LocalCluster of 2 single-threaded worker processes (on 127.0.0.1)."""
    distributed = pytest.importorskip("distributed")
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", silence_logs=40, env=dict(THREAD_ENV))
    client = distributed.Client(lc, set_as_default=False)
    try:
        yield lc.scheduler_address, client
    finally:
        client.close()
        lc.close()


def test_without_dask_scheduler_is_one_clear_line(images: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    code = cli_main(["batch", str(images), "--csv", str(tmp_path / "o.csv"), "--scheduler", "local"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install 'dentalosteo[distributed]'" in err[0]


def test_dicom_instances_are_keyed_by_sop_instance_uid(tmp_path: Path) -> None:
    import pydicom

    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    shutil.copy(SAMPLES / "phantom_c2.dcm", a)
    ds = pydicom.dcmread(a)
    ds.InstitutionName = "another export of the same instance"
    ds.save_as(b)
    (sa, ua), (sb, ub) = content_keys(a), content_keys(b)
    assert sa != sb and ua == ub == str(ds.SOPInstanceUID)
    keys = ContentKeys(tmp_path / "x.csv", set(), restart=True)
    keys.add(sa, ua, "a.dcm")
    assert "same DICOM SOPInstanceUID" in keys.duplicate_of(sb, ub)
    keys.close()
    # on resume, only keys whose row reached the CSV count
    for done, known in ((set(), False), ({"a.dcm"}, True)):
        resumed = ContentKeys(tmp_path / "x.csv", done, restart=False)
        assert bool(resumed.duplicate_of(sb, ub)) is known
        resumed.close()


def test_cluster_gives_the_plain_batch_numbers(images: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    plain, dist = tmp_path / "plain.csv", tmp_path / "dist.csv"
    with monkeypatch.context() as m:  # the plain batch needs no Dask
        m.setitem(sys.modules, "dask", None)
        m.setitem(sys.modules, "distributed", None)
        assert cli_main(["batch", str(images), "--csv", str(plain), "--quiet"]) == 0
    assert cli_main(["batch", str(images), "--csv", str(dist), "--scheduler", "local",
                     "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "cluster: 2 worker(s)" in err and "images/s" in err and "ETA" in err
    a = {r["file"]: r for r in _rows(plain)}
    b = {r["file"]: r for r in _rows(dist)}
    assert len(a) == 6 and a.keys() == b.keys()
    diffs = [(f, k, a[f][k], b[f][k]) for f in a for k in a[f] if k not in NOT_TIMED and a[f][k] != b[f][k]]
    assert diffs == []
    assert {r["spacing_source"] for r in a.values()} == {"dataset", "file", "assumed"}
    with History() as h:  # both runs recorded every screening
        assert len(h.list()) == 12


def test_copies_are_screened_once_and_bad_files_do_not_stop_the_run(
        tmp_path: Path, cluster: tuple[str, object]) -> None:
    address, _ = cluster
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SAMPLES / "phantom_c1.png", d / "a.png")
    shutil.copy(SAMPLES / "phantom_c1.png", d / "b.png")  # the same image twice
    (d / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "d.csv"
    assert cli_main(["batch", str(d), "--csv", str(out), "--scheduler", address, "--quiet"]) == 0
    rows = {Path(r["file"]).name: r for r in _rows(out)}
    assert rows.keys() == {"a.png", "b.png", "broken.png"}
    assert "broken.png" in rows["broken.png"]["error"]
    screened = [n for n in ("a.png", "b.png") if rows[n]["risk"] != ""]
    dup = ({"a.png", "b.png"} - set(screened)).pop()
    assert len(screened) == 1 and rows[dup]["error"].startswith(f"duplicate of {d / screened[0]}")
    # a copy added later is known on resume (keys sidecar), and nothing is screened twice
    shutil.copy(SAMPLES / "phantom_c1.png", d / "c.png")
    assert cli_main(["batch", str(d), "--csv", str(out), "--scheduler", address, "--quiet"]) == 0
    rows = {Path(r["file"]).name: r for r in _rows(out)}
    assert len(rows) == 4 and rows["c.png"]["error"].startswith("duplicate of")
    with History() as h:
        assert len(h.list()) == 1


def test_a_killed_client_resumes_without_loss_or_repeat(images: Path, tmp_path: Path,
                                                        cluster: tuple[str, object],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    address, _ = cluster
    out = tmp_path / "c.csv"
    cmd = [sys.executable, "-m", "dentalosteo_gui.cli.main", "batch", str(images), "--csv", str(out),
           "--scheduler", address, "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while _n_rows(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    first = _n_rows(out)
    assert 1 <= first < 6, first
    assert cli_main(["batch", str(images), "--csv", str(out), "--scheduler", address, "--quiet"]) == 0
    assert f"resuming: {first} file(s)" in capsys.readouterr().err
    files = [r["file"] for r in _rows(out)]
    assert len(files) == 6 and len(set(files)) == 6


def test_a_worker_killed_mid_run_loses_nothing(images: Path, tmp_path: Path,
                                               cluster: tuple[str, object]) -> None:
    address, client = cluster
    out = tmp_path / "k.csv"
    pids = client.run(os.getpid)  # type: ignore[attr-defined]
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while _n_rows(out) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        busy = [a for a, keys in client.processing().items() if keys]  # type: ignore[attr-defined]
        killed.append(_n_rows(out))
        os.kill(pids[(busy or list(pids))[0]], signal.SIGKILL)  # its task runs again elsewhere

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    assert cli_main(["batch", str(images), "--csv", str(out), "--scheduler", address, "--quiet"]) == 0
    t.join(5)
    assert killed and killed[0] < 6
    rows = _rows(out)
    assert sorted(r["file"] for r in rows) == sorted({r["file"] for r in rows}) and len(rows) == 6
    assert all(r["error"] == "" and r["risk"] != "" for r in rows)


def test_lost_tasks_are_sent_again_and_a_file_that_kills_workers_gets_an_error_row() -> None:
    distributed = pytest.importorskip("distributed")
    from concurrent.futures import CancelledError

    from dentalosteo_gui.distributed import cluster as dc

    class Failed:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def result(self) -> None:
            raise self.exc

    sent: list[Path] = []
    feeder = object.__new__(dc._Feeder)  # only its bookkeeping, no cluster
    feeder.resubmits = dc.Counter()
    feeder._submit = sent.append  # type: ignore[method-assign]
    path = Path("x.png")
    for _ in range(dc.MAX_RESUBMITS):  # a restart cancelled it: sent again
        assert feeder._result(Failed(CancelledError()), path) is None
    assert sent == [path] * dc.MAX_RESUBMITS
    lost = feeder._result(Failed(CancelledError()), path)
    assert lost is not None and "dropped" in lost.error and lost.result is None
    killer = feeder._result(Failed(distributed.KilledWorker("k", None, 3)), path)  # type: ignore[arg-type]
    assert killer is not None and "worker died" in killer.error and "x.png" not in killer.error


def test_workers_undo_the_nannys_malloc_trim_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """MALLOC_TRIM_THRESHOLD_ (set by Dask's nanny) made every image allocation fault its
    pages in again (+60 % CPU per image): the worker sets fixed glibc thresholds instead."""
    from dentalosteo_gui.distributed import tasks

    calls: list[tuple[int, int]] = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(tasks.ctypes, "CDLL", lambda name: Libc())
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    tasks.undo_malloc_trim()
    assert calls == []  # glibc adapts by itself: left alone
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    tasks.undo_malloc_trim()
    if sys.platform.startswith("linux"):
        assert calls == [(-3, 32 << 20), (-1, 256 << 20)]
