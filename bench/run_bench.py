"""Performance benchmark (not a test): prints ONE JSON object.

Everything is measured in the same run on the same images and reported as ratios against
a reference measured here, because the machines are noisy:

- warm drop-to-result latency (load + ROI + inference + Grad-CAM): our engine vs the published
  VGG16-TR2 pipeline at 140 x 700 (random weights; same load + ROI, tf-keras-vis Grad-CAM);
- Grad-CAM cost over the forward pass, our fast path and tf-keras-vis on our model;
- batch throughput (in-process ``dentalosteo batch``) vs one ``dentalosteo screen`` CLI call per file;
- peak RSS and cold CLI start.

Usage: ``make bench`` or ``python bench/run_bench.py [--n-images N] [--single-calls K]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _median_ms(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000.0)
    return float(statistics.median(ts))


def _images(tmp: Path, n: int) -> list[Path]:
    from dentalosteo_gui.core.data.phantoms import generate_phantom, write_png
    from dentalosteo_gui.core.system import paths

    files = sorted(p for p in paths.samples_dir().glob("*.png"))
    i = 0
    while len(files) < n:
        case = generate_phantom(9000 + i)
        f = tmp / f"bench_{i:03d}.png"
        write_png(f, case.image)
        files.append(f)
        i += 1
    return files[:n]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-images", type=int, default=8)
    ap.add_argument("--single-calls", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from dentalosteo_gui.core.anatomy import propose_roi
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.core.model_input.preprocess import prepare_roi_input
    from dentalosteo_gui.services import make_engine

    out: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="dentalosteo-bench-"))
    files = _images(tmp, args.n_images)
    out["n_images"] = len(files)

    # ---- cold CLI start (fresh interpreter, TF import + model load + one screening)
    exe = str(Path(sys.executable).parent / "dentalosteo")
    t = time.perf_counter()
    subprocess.run([exe, "--version"], capture_output=True, check=True)
    out["cold_cli_version_ms"] = round((time.perf_counter() - t) * 1000.0, 1)
    single = []
    for f in files[: args.single_calls]:
        t = time.perf_counter()
        r = subprocess.run([exe, "screen", str(f), "--json"], capture_output=True, text=True)
        single.append(time.perf_counter() - t)
        if r.returncode != 0:
            out["single_call_error"] = r.stderr.strip()[-300:]
    out["cold_cli_screen_ms"] = round(statistics.median(single) * 1000.0, 1)
    single_ips = len(single) / sum(single)

    # ---- our engine, warm
    t = time.perf_counter()
    engine = make_engine(device="cpu")
    out["model_load_ms"] = round((time.perf_counter() - t) * 1000.0, 1)
    out["warmup_ms"] = round(engine.warm(), 1)
    backend = engine.roi_backend
    if backend is None:
        print(json.dumps({"error": "no model pack in models/default; run `make model`"}))
        return 2
    out["device"] = backend.device

    def ours(f: Path) -> None:
        engine.screen(load_radiograph(f))

    ours(files[0])
    lat_ours = [_median_ms(lambda f=f: ours(f), args.repeats) for f in files]
    out["warm_latency_ms"] = round(float(np.median(lat_ours)), 1)

    # stage split on one image
    rad = load_radiograph(files[0])
    res = engine.screen(rad)
    out["stage_ms_example"] = {k: round(v, 1) for k, v in res.timings_ms.items()}

    # ---- Grad-CAM vs forward on our model
    import tensorflow as tf

    from dentalosteo_gui.ml.gradcam import FastGradCam, tf_keras_vis_map

    model = backend.pack.keras_model()
    if backend.input_kind == "cortex_strip":  # the model's input: the cortex strip along the traced border
        from dentalosteo_gui.core.types import RoiProposal

        prop = RoiProposal(box=res.roi, border_right=res.border_right, border_left=res.border_left,
                           confidence=1.0, reasons=[])
        x, _ = backend.pack.prepare_band(rad.pixels, prop, res.pixel_spacing_mm)
    else:
        x = backend.pack.prepare_roi(rad.pixels, res.roi)
    fwd = tf.function(lambda v: model(v, training=False))
    fwd(x)
    cam = FastGradCam(model, backend.card["gradcam_layer"])
    cam(x)
    t_fwd = _median_ms(lambda: fwd(x), 15)
    t_cam = _median_ms(lambda: cam(x), 15)
    tf_keras_vis_map(model, x, backend.card["gradcam_layer"])
    t_vis = _median_ms(lambda: tf_keras_vis_map(model, x, backend.card["gradcam_layer"]), 5)
    out["forward_ms"] = round(t_fwd, 2)
    out["gradcam_fast_ms"] = round(t_cam, 2)
    out["gradcam_tf_keras_vis_ms"] = round(t_vis, 2)
    out["gradcam_over_forward"] = round(t_cam / t_fwd, 3)
    out["tf_keras_vis_over_fast_gradcam"] = round(t_vis / t_cam, 2)

    # ---- reference: VGG16-TR2 at 140 x 700 x 3, same load + ROI, tf-keras-vis Grad-CAM
    from dentalosteo_gui.ml.zoo import build_model, count_macs

    vgg = build_model("vgg16-tr2", (140, 700, 3), weights="none")
    vgg_layer = "block5_conv3"
    names = {ly.name for ly in vgg.layers}
    if vgg_layer not in names:  # nested backbone: find the last conv layer by name
        convs = [ly.name for ly in vgg.layers if "conv" in ly.name]
        vgg_layer = convs[-1] if convs else vgg.layers[-5].name

    def vgg_pipeline(f: Path) -> None:
        r = load_radiograph(f)
        prop = propose_roi(r)
        xin = prepare_roi_input(r.pixels, prop.box, 140, 700, 3)
        vgg(xin, training=False)
        try:
            tf_keras_vis_map(vgg, xin, vgg_layer)
        except Exception:  # noqa: BLE001 - nested backbone: fall back to our Grad-CAM path
            FastGradCam(vgg, vgg_layer)(xin)

    vgg_pipeline(files[0])
    # the same images and repeats as ours (a median over the same files: the ratio compares
    # like with like; one run on half the files left it at the mercy of the machine's noise)
    lat_vgg = [_median_ms(lambda f=f: vgg_pipeline(f), args.repeats) for f in files]
    out["vgg16_tr2_warm_latency_ms"] = round(float(np.median(lat_vgg)), 1)
    out["latency_ratio_vs_vgg16_tr2"] = round(float(np.median(lat_vgg)) / out["warm_latency_ms"], 2)  # type: ignore[operator]
    macs_ours = count_macs(model)
    macs_vgg = count_macs(vgg)
    out["macs_ours"] = macs_ours
    out["macs_vgg16_tr2"] = macs_vgg
    out["flops_ratio_vgg16_tr2_over_ours"] = round(macs_vgg / max(macs_ours, 1), 1)


    # ---- batch throughput (in-process, the code path of `dentalosteo batch`)
    from dentalosteo_gui.core.screening.batch import iter_batch

    t = time.perf_counter()
    n_ok = 0
    for item in iter_batch(lambda r, sp: engine.screen(r, pixel_spacing_mm=sp), files, workers=2):
        n_ok += 0 if item.error else 1
    dt = time.perf_counter() - t
    out["throughput_images_per_s"] = round(n_ok / dt, 3)
    out["single_call_images_per_s"] = round(single_ips, 3)
    out["batch_speedup_vs_single_calls"] = round((n_ok / dt) / single_ips, 2)
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    out["targets"] = {
        "latency_ratio_vs_vgg16_tr2": ">= 10",
        "batch_speedup_vs_single_calls": ">= 5",
        "gradcam_over_forward": "<= 1.5",
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
