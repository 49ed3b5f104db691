"""Memory growth over many screenings in one process (a benchmark, not a test).

Screens ``--n`` images (default 200) in one process, reusing the shipped phantom samples
(PNG and DICOM) in a loop, with the real engine (the bundled model when ``models/default``
exists, else rule-based), and optionally records each screening in the history and writes
its PDF report, as the GUI does. Prints ONE JSON object: current RSS and peak RSS (MB)
after each checkpoint (default 1, 10, 50, 100, 150, 200), and the growth between 50 and
the last checkpoint.

Usage: ``python bench/memory_growth.py [--n 200] [--history] [--report] [--model PACK | --random-model]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mb() -> float:
    """Current resident set size (MB) from /proc (Linux); falls back to the peak."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB; ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_model_pack(out: Path) -> Path:
    """A model pack of the bundled architecture (``compact``, 64 x 320) with random weights:
    exercises TensorFlow inference + Grad-CAM memory when no trained pack is installed."""
    from dentalosteo_gui.ml import zoo
    from dentalosteo_gui.ml.packs import save_pack

    model = zoo.build_model("compact", (64, 320, 1), klemetti=True)
    card = {"name": "random-compact", "version": "0.0-bench", "arch": "compact", "mode": "roi",
            "gradcam_layer": zoo.GRADCAM_LAYERS.get("compact"),
            "input": {"height": 64, "width": 320, "channels": 1}, "calibration": {"temperature": 1.0},
            "operating_points": {"balanced": {"threshold": 0.5, "sensitivity": 0.5, "specificity": 0.5},
                                 "bands": {"low_max": 0.3, "high_min": 0.6}}}
    return save_pack(model, card, out)


def run(n: int, checkpoints: list[int], history: bool = False, report: bool = False,
        samples: list[Path] | None = None, model_dir: Path | None = None) -> dict:
    """Screen ``n`` images; returns the measurements (used by tests/test_memory.py too)."""
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.system import paths
    from dentalosteo_gui.core.system.settings import Settings
    from dentalosteo_gui.services import make_engine

    files = samples or sorted([*paths.samples_dir().glob("*.png"), *paths.samples_dir().glob("*.dcm")])
    settings = Settings()
    engine = make_engine(model_dir=model_dir, settings=settings)
    card = engine.roi_backend.card if engine.roi_backend else None
    store = None
    if history:
        from dentalosteo_gui.core.records.history import History, file_sha256

        store = History()
    out = Path(tempfile.mkdtemp(prefix="dentalosteo-mem-"))
    points: list[dict] = []
    t0 = time.perf_counter()
    rss_start = rss_mb()
    for i in range(1, n + 1):
        f = files[(i - 1) % len(files)]
        rad = load_radiograph(f)
        res = engine.screen(rad)
        if store is not None:
            store.record_screening(res, rad, file_sha256=file_sha256(f))
        if report:
            from dentalosteo_gui.core.records.report import write_report

            write_report(res, rad, out / "r.pdf", settings=settings, model_card=card)
        del rad, res
        if i in checkpoints:
            gc.collect()
            points.append({"n": i, "rss_mb": round(rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                           "elapsed_s": round(time.perf_counter() - t0, 1)})
            print(json.dumps(points[-1]), file=sys.stderr, flush=True)
    if store is not None:
        store.close()
    by_n = {p["n"]: p for p in points}
    first = by_n.get(50) or points[0]
    last = points[-1]
    return {
        "images": n,
        "distinct_files": len(files),
        "model": engine.roi_backend.info.name if engine.roi_backend is not None else None,
        "device": engine.device,
        "history": history,
        "report": report,
        "rss_start_mb": round(rss_start, 1),
        "checkpoints": points,
        "rss_growth_mb_from_50": round(last["rss_mb"] - first["rss_mb"], 1),
        "peak_growth_mb_from_50": round(last["peak_rss_mb"] - first["peak_rss_mb"], 1),
        "per_image_growth_kb_from_50": round((last["rss_mb"] - first["rss_mb"]) * 1024 / max(1, last["n"] - first["n"]), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--checkpoints", default="1,10,50,100,150,200")
    ap.add_argument("--history", action="store_true", help="record each screening in a (temporary) history")
    ap.add_argument("--report", action="store_true", help="write each screening's PDF report")
    ap.add_argument("--model", help="model pack folder (default: the bundled models/default, if any)")
    ap.add_argument("--random-model", action="store_true",
                    help="use a random-weight pack of the bundled architecture (covers TensorFlow)")
    args = ap.parse_args()
    model_dir = Path(args.model) if args.model else None
    if args.random_model:
        model_dir = random_model_pack(Path(tempfile.mkdtemp(prefix="dentalosteo-mem-model-")) / "pack")
    if args.history and "DENTALOSTEO_DATA_DIR" not in os.environ:
        os.environ["DENTALOSTEO_DATA_DIR"] = tempfile.mkdtemp(prefix="dentalosteo-mem-data-")
    cps = sorted({int(c) for c in args.checkpoints.split(",") if c.strip() and int(c) <= args.n} | {args.n})
    print(json.dumps(run(args.n, cps, history=args.history, report=args.report, model_dir=model_dir), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
