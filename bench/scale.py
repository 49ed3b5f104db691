"""Does ``dentalosteo batch --scheduler local`` scale on this PC, and does it give the same
numbers as the plain batch? (issue 20)

1. screens the folder with the plain single-PC batch (the reference CSV);
2. screens it with a LocalCluster of 1 and of 2 workers, ``--repeat`` times each (the
   machine may be shared: every run is listed, the best one is used for the speedup);
   the throughput is measured around the CLI's batch run proper, from the first task sent
   to the last CSV row written (cluster start and model loading excluded), with the CPU
   time the workers and the client spent per image (independent of other load);
3. compares every CSV cell of every cluster run with the reference (timings excluded):
   ``identical_to_plain_batch`` is computed, not assumed;
4. measures the per-image cost breakdown in this process with one compute thread, as a
   worker runs: content hash, decode, anatomy (ROI, quality, cortex), model, and the
   client's write (history record + fsync'd CSV row).

    python bench/scale.py                       # 30 phantoms, seed 5
    python bench/scale.py --images DIR --repeat 3

Prints one JSON object. User folders (settings, history) are temporary: the bench does not
touch the real history.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dentalosteo_gui.distributed.tasks import content_keys, limit_threads  # noqa: E402

CLI = [sys.executable, "-m", "dentalosteo_gui.cli.main"]
IGNORED_COLUMNS = {"time_total_ms"}


def _cli(args: list[str], env: dict[str, str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"dentalosteo {' '.join(args[:1])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stderr, time.perf_counter() - t0


def rows_by_file(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["file"]: r for r in csv.DictReader(fh)}


def differences(a: Path, b: Path) -> list[str]:
    """Every cell that differs between two batch CSVs (rows matched by file)."""
    ra, rb = rows_by_file(a), rows_by_file(b)
    out = [f"{f}: only in {a.name}" for f in ra.keys() - rb.keys()]
    out += [f"{f}: only in {b.name}" for f in rb.keys() - ra.keys()]
    for f in sorted(ra.keys() & rb.keys()):
        out += [f"{f}: {k} {ra[f][k]!r} != {rb[f].get(k)!r}" for k in ra[f]
                if k not in IGNORED_COLUMNS and ra[f][k] != rb[f].get(k)]
    return out


def _worker_cpu_s(client: Any) -> float:
    """CPU seconds used so far by all worker processes."""
    def cpu() -> float:
        import psutil

        t = psutil.Process().cpu_times()
        return float(t.user + t.system)

    return sum(client.run(cpu).values())


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def cluster_run(images: Path, out: Path, workers: int) -> dict[str, Any]:
    """The CLI's cluster path in this process: ``open_cluster`` (start + model loading, not
    timed), then the batch run proper (timed: first task sent to last CSV row written)."""
    from dentalosteo_gui.cli import batch as cli_batch
    from dentalosteo_gui.cli.main import build_parser
    from dentalosteo_gui.distributed import open_cluster

    args = build_parser().parse_args(["batch", str(images), "--csv", str(out), "--restart", "--quiet",
                                      "--scheduler", "local", "--workers", str(workers)])
    job = cli_batch._plan(args)
    with open_cluster("local", workers, settings=job.settings, quiet=True) as cluster:
        w0, c0, t0 = _worker_cpu_s(cluster.client), _own_cpu_s(), time.perf_counter()
        if cli_batch._run(job, cluster) != 0:
            raise SystemExit("cluster batch failed")
        wall = time.perf_counter() - t0
        w1, c1 = _worker_cpu_s(cluster.client), _own_cpu_s()
    n = job.n_ok + job.n_err
    return {"images_per_s": round(n / wall, 2), "rows": n, "wall_s": round(wall, 1),
            "worker_cpu_ms_per_image": round((w1 - w0) / n * 1e3, 1),
            "client_cpu_ms_per_image": round((c1 - c0) / n * 1e3, 1),
            "load_avg_1min": round(os.getloadavg()[0], 2)}


def cost_breakdown(images: Path, tmp: Path) -> dict[str, float]:
    """Median milliseconds per image of each stage, one compute thread (as in a worker)."""
    limit_threads()  # before TensorFlow is imported in this process
    from dentalosteo_gui.cli import batch as cli_batch
    from dentalosteo_gui.cli.main import build_parser
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.records.history import History
    from dentalosteo_gui.core.screening.batch import BatchItem, dataset_spacing, open_csv_appender
    from dentalosteo_gui.services import make_engine

    out = tmp / "breakdown.csv"
    job = cli_batch._plan(build_parser().parse_args(["batch", str(images), "--csv", str(out), "--restart"]))
    engine = make_engine(settings=job.settings)
    spacing = dataset_spacing([images])
    fh, writer = open_csv_appender(out, resume=False)
    history = History()
    cost: dict[str, list[float]] = {k: [] for k in ("hash", "decode", "anatomy", "model", "engine_total", "write")}
    try:
        for i, path in enumerate(job.todo):
            t0 = time.perf_counter()
            content_keys(path)
            t1 = time.perf_counter()
            rad = load_radiograph(path)
            t2 = time.perf_counter()
            res = engine.screen(rad, pixel_spacing_mm=spacing.get(str(path.resolve())))
            t3 = time.perf_counter()
            cli_batch._handle(job, engine, BatchItem(i, len(job.todo), path, res, rad, "", 0.0, None),
                              history, fh, writer)
            t4 = time.perf_counter()
            tm = res.timings_ms
            cost["hash"].append((t1 - t0) * 1e3)
            cost["decode"].append((t2 - t1) * 1e3)
            cost["anatomy"].append(sum(tm.get(k, 0.0) for k in ("roi", "quality", "cortex", "landmarks")))
            cost["model"].append(sum(v for k, v in tm.items() if k.startswith("model_")))
            cost["engine_total"].append((t3 - t2) * 1e3)
            cost["write"].append((t4 - t3) * 1e3)
    finally:
        fh.close()
        history.close()
    med = {f"{k}_ms": round(statistics.median(v[1:] or v), 1) for k, v in cost.items()}  # first: tracing
    med["worker_ms_per_image"] = round(med["hash_ms"] + med["decode_ms"] + med["engine_total_ms"], 1)
    med["client_ms_per_image"] = med["write_ms"]
    return med


def _images(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> Path:
    if args.images:
        return Path(args.images)
    out = tmp / "phantoms"
    _cli(["phantoms", "--out", str(out), "--n", str(args.n), "--seed", str(args.seed)], env)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", help="folder to screen (default: generated phantoms)")
    ap.add_argument("--n", type=int, default=30, help="phantoms to generate (default 30)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2, help="cluster runs per worker count")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dentalosteo-scale-") as t:
        tmp = Path(t)
        env = {**os.environ, "DENTALOSTEO_CONFIG_DIR": str(tmp / "config"),
               "DENTALOSTEO_DATA_DIR": str(tmp / "data")}
        os.environ.update({k: env[k] for k in ("DENTALOSTEO_CONFIG_DIR", "DENTALOSTEO_DATA_DIR")})
        images = _images(args, tmp, env)
        plain = tmp / "plain.csv"
        _, plain_wall = _cli(["batch", str(images), "--csv", str(plain), "--restart", "--quiet"], env)
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        diffs: list[str] = []
        for r in range(args.repeat):
            for w in (1, 2):
                out = tmp / f"cluster-{w}-{r}.csv"
                runs[w].append(cluster_run(images, out, w))
                diffs += differences(plain, out)
        report = _report(len(rows_by_file(plain)), plain_wall, runs, diffs,
                         cost_breakdown(images, tmp))
    print(json.dumps(report, indent=2))
    return 0


def _report(n: int, plain_wall: float, runs: dict[int, list[dict[str, Any]]], diffs: list[str],
            cost: dict[str, float]) -> dict[str, Any]:
    best = {w: max(r["images_per_s"] for r in rs) for w, rs in runs.items()}
    worker = statistics.median(r["worker_cpu_ms_per_image"] for rs in runs.values() for r in rs)
    client = statistics.median(r["client_cpu_ms_per_image"] for r in runs[2])
    return {
        "images": n,
        "cpu_cores": os.cpu_count(),
        "throughput_1_worker": best[1],
        "throughput_2_workers": best[2],
        "speedup_2_vs_1_workers": round(best[2] / best[1], 2),
        "median_throughput": {f"{w}_worker(s)": statistics.median(r["images_per_s"] for r in rs)
                              for w, rs in runs.items()},
        "identical_to_plain_batch": not diffs,
        "differences": diffs[:20],
        # what 2 cores give when nothing else runs, from the CPU time per image: 1 worker
        # is bound by its core; 2 workers and the client (with the scheduler) share 2 cores
        "speedup_2_vs_1_from_cpu_time": round(2 * worker / (worker + client), 2),
        "plain_batch_wall_s_with_start": round(plain_wall, 1),
        "runs": {f"{w}_worker(s)": rs for w, rs in runs.items()},
        "cost_per_image_ms": cost,
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "note": "throughput = images/s from the first task sent to the last CSV row written "
                "(cluster start and model loading excluded); best of the runs listed",
    }


if __name__ == "__main__":
    raise SystemExit(main())
