"""Train a model pack from a dataset folder with a published protocol (``dentalosteo train``).

Steps: read ``labels.csv`` -> cache every image once -> protocol splits (patients never
shared between parts) -> train each fold (checkpointed; an interrupted run resumes, finished
folds are kept) -> calibrate on the fold's validation part -> test on its held-out part ->
choose the pack model -> write the pack (model.keras + card.json) with per-fold and pooled
results in ``evaluation.json`` and ROC / PR / reliability plots.

Which model becomes the pack:
- ``lee2020``: the fold with the best validation AUC (thresholds and temperature from its
  validation part); the card reports its hold-out test metrics and the mean over folds.
- ``split-50-25-25``: the single model.
- ``loocv``: one model per case gives the pooled out-of-fold estimate; the pack is then
  trained on all cases with the same fixed epochs, calibrated and thresholded on the pooled
  out-of-fold predictions (which no model saw in training).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..core.data import metrics as M
from ..core.data.dataset import read_dataset
from ..core.data.protocols import PROTOCOLS, make_splits
from ..core.errors import ConfigError, DatasetError
from ..core.model_input import preprocess as pp
from . import zoo
from .calibration import fit_temperature
from .data import dataset_from_rows
from .evaluation import metric_report, save_plots, summarise_folds
from .packs import calibrate, save_pack
from .training import TrainConfig, fit, predict_arrays

log = logging.getLogger(__name__)

INTENDED_USE = (
    "Research and demonstration: flags dental panoramic radiographs whose mandibular cortex "
    "looks like that of osteoporotic patients, as a referral aid for DXA. Not a diagnosis."
)
PHANTOM_LIMITATIONS = [
    "Trained on synthetic phantoms, not on patients: not clinically validated. For "
    "demonstration and research until retrained on DXA-labelled radiographs.",
    "Scores on real radiographs are not calibrated probabilities of osteoporosis.",
    "Expects an ROI on the inferior mandibular cortex below the teeth; other regions give "
    "meaningless scores.",
]


def card_outputs(has_klemetti: bool, has_attention: bool, has_mcw: bool = False) -> dict[str, Any]:
    """The ``outputs`` section of a card."""
    out: dict[str, Any] = {"risk": "softmax over [no osteoporosis, osteoporosis]; index 1 is the "
                                   "osteoporosis probability (temperature-scaled by the pack)"}
    if has_klemetti:
        out["klemetti"] = "softmax over [C1, C2, C3] (Klemetti mandibular cortical index hint)"
    if has_mcw:
        out["mcw_mm"] = ("auxiliary regression of the mean mandibular cortical width in mm (trained "
                         "with the risk; a cross-check of the anatomy module's measurement)")
    if has_attention:
        out["attention"] = ("softmax weights s1..s4 of the landmark groups [condyle, gonial_angle, "
                            "premolar, maxillary_tuberosity]")
    return out


def input_section(mode: str, shape: tuple[int, ...], patch_mm: float) -> dict[str, Any]:
    """The ``input`` section of a card."""
    if mode == "landmarks":
        return {"height": int(shape[1]), "width": int(shape[2]), "channels": int(shape[3]),
                "patches": 8, "patch_mm": float(patch_mm), "roi_spec": None}
    if mode == "band":
        from ..core.anatomy.band import BandSpec

        spec = BandSpec(rows=int(shape[0]), cols_per_side=int(shape[1]) // 2)
        return {"height": int(shape[0]), "width": int(shape[1]), "channels": int(shape[2]),
                "band": spec.as_dict(),
                "roi_spec": {"box": "ROI box in original-image pixels (the app's proposal, or roi_x, "
                                    "roi_y, roi_w, roi_h of the dataset); the band is cut from the "
                                    "border traced inside it"}}
    return {"height": int(shape[0]), "width": int(shape[1]), "channels": int(shape[2]),
            "roi_spec": {"box": "ROI box in original-image pixels (roi_x, roi_y, roi_w, roi_h of the "
                                "dataset, or the app's ROI proposal on the inferior mandibular cortex)",
                         "reference_frame_wh": [pp.REFERENCE_WIDTH, pp.REFERENCE_HEIGHT],
                         "reference_box_wh": [pp.REFERENCE_ROI_WIDTH, pp.REFERENCE_ROI_HEIGHT]}}


def calibrate_and_threshold(y_val: np.ndarray, raw_val: np.ndarray) -> tuple[float, dict[str, Any]]:
    """Temperature and operating points (with risk bands) from validation predictions."""
    t = fit_temperature(y_val, raw_val)
    cal = calibrate(raw_val, t)
    ops: dict[str, Any] = M.pick_operating_points(y_val, cal, 0.9, 0.9)
    ops["bands"] = {"low_max": ops["high_sensitivity"]["threshold"],
                    "high_min": ops["high_specificity"]["threshold"]}
    return t, ops


def held_out_operating_points(ops: dict[str, Any], y: np.ndarray, risk: np.ndarray) -> dict[str, Any]:
    """The validation-chosen thresholds applied to held-out data (sens / spec there)."""
    out = {}
    for name in ("high_sensitivity", "balanced", "high_specificity"):
        r = M.binary_report(y, risk, ops[name]["threshold"])
        out[name] = {"threshold": ops[name]["threshold"],
                     "sensitivity": M.finite_or_none(r["sensitivity"]),
                     "specificity": M.finite_or_none(r["specificity"])}
    return out


def compute_section(model, arch: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """Params and MACs of the model, and its ratio to VGG16-TR2 at 140 x 700."""
    macs = zoo.count_macs(model)
    ref = zoo.reference_macs_vgg16_tr2()
    return {"params": int(model.count_params()), "macs": int(macs), "flops": int(2 * macs),
            "vgg16_tr2_140x700_macs": int(ref), "ratio_to_vgg16_tr2": float(macs / ref)}


def _row_groups(rows: list[Any]) -> list[str] | None:
    ids = [(r.extra or {}).get("patient_id", "") for r in rows]
    return ids if any(ids) else None


def train_from_folder(
    data: Path | str,
    arch: str,
    protocol: str,
    out: Path | str,
    epochs: int = 30,
    weights: str = "none",
    seed: int = 0,
    batch_size: int = 32,
    input_shape: tuple[int, ...] | None = None,
    branch: str = "light",
    patch_mm: float = 10.0,
    lr: float | None = None,
    work_dir: Path | str | None = None,
    mcw_head: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run a protocol on a dataset folder and write a pack to ``out`` (see module doc)."""
    if arch not in zoo.ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(zoo.ARCHS)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    zoo.resolve_weights(arch, weights)  # fail before any work if imagenet weights are missing
    rows = read_dataset(Path(data))
    mode = zoo.mode_of(arch)
    if mode == "roi" and any(r.roi is None for r in rows):
        bad = next(r for r in rows if r.roi is None)
        raise DatasetError(f"{Path(data) / 'labels.csv'}: row {bad.row_number}: {arch} trains on the ROI; "
                           "fill roi_x, roi_y, roi_w, roi_h for every row")
    if mode == "landmarks" and any(r.landmarks is None for r in rows):
        bad = next(r for r in rows if r.landmarks is None)
        raise DatasetError(f"{Path(data) / 'labels.csv'}: row {bad.row_number}: siamese-attention needs "
                           "the eight lm_<name>_x / lm_<name>_y columns")
    labels = np.array([r.label for r in rows])
    if labels.min() == labels.max():
        raise DatasetError(f"{Path(data) / 'labels.csv'}: all labels are {labels[0]}; training needs both 0 and 1")
    shape = tuple(input_shape or zoo.default_input_shape(arch))
    has_k = any(r.klemetti for r in rows)
    has_m = mcw_head and arch in ("compact", "compact-band") and any(r.mcw_mean_mm is not None for r in rows)
    out = Path(out)
    work = Path(work_dir) if work_dir else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    log.info("caching %d images for %s", len(rows), arch)
    if progress:
        progress({"event": "message", "text": f"reading {len(rows)} images"})
    ds = dataset_from_rows(rows, mode, shape, patch_mm=patch_mm)
    splits = make_splits(protocol, labels, _row_groups(rows), seed)
    fixed_epochs = protocol == "loocv"
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed,
                      patience=None if fixed_epochs else 10,
                      lr=lr if lr is not None else (1e-3 if arch in ("compact", "compact-band", "siamese-attention", "cnn3") else 1e-4))
    (work / "splits.json").write_text(json.dumps([s.as_dict() for s in splits]))

    def build():
        return zoo.build_model(arch, shape, weights=weights, klemetti=has_k, branch=branch, mcw=has_m)

    fold_results: list[dict[str, Any]] = []
    best_fold, best_auc = 0, -1.0
    t0 = time.monotonic()
    for k, sp in enumerate(splits):
        fdir = work / sp.name
        res_path = fdir / "result.json"
        if res_path.is_file():
            res = json.loads(res_path.read_text())
            fold_results.append(res)
            log.info("%s already done (resumed)", sp.name)
        else:
            if progress:
                progress({"event": "message", "text": f"{sp.name}: {sp.train.size} train, "
                                                      f"{sp.val.size} validation, {sp.test.size} test"})
            model = build()
            val = ds.subset(sp.val) if sp.val.size else None
            hist = fit(model, ds.subset(sp.train), val, cfg, ckpt_dir=fdir / "ckpt", progress=progress)
            pt = predict_arrays(model, ds.subset(sp.test).batch(np.arange(sp.test.size), None, None))
            res = {"name": sp.name, "test": sp.test.tolist(), "test_raw": pt["risk"][:, 1].tolist(),
                   "test_klemetti": pt["klemetti"].tolist() if "klemetti" in pt else None,
                   "history": hist}
            if val is not None:
                pv = predict_arrays(model, val.batch(np.arange(len(val)), None, None))
                res["val"] = sp.val.tolist()
                res["val_raw"] = pv["risk"][:, 1].tolist()
            fdir.mkdir(parents=True, exist_ok=True)
            if not fixed_epochs:
                model.save(fdir / "model.keras")
            res_path.write_text(json.dumps(res, default=float))
            fold_results.append(res)
        if "val_raw" in res:
            a = M.auc(labels[res["val"]], res["val_raw"])
            if np.isfinite(a) and a > best_auc:
                best_auc, best_fold = float(a), k

    # ---- per-fold reports (each fold calibrated on its own validation part)
    reports = []
    for res in fold_results:
        yt = labels[res["test"]]
        kt = ds.klemetti[res["test"]]
        kp = np.asarray(res["test_klemetti"]) if res.get("test_klemetti") else None
        if "val_raw" in res and len(set(labels[res["val"]].tolist())) == 2:
            t, ops = calibrate_and_threshold(labels[res["val"]], np.asarray(res["val_raw"]))
        else:
            t, ops = 1.0, {"balanced": {"threshold": 0.5}}
        risk = calibrate(np.asarray(res["test_raw"]), t)
        if len(res["test"]) > 1 and len(set(yt.tolist())) == 2:
            rep = metric_report(yt, risk, ops["balanced"]["threshold"], kt, kp, n_boot=1000, seed=seed)
            rep["name"] = res["name"]
            reports.append(rep)
    evaluation: dict[str, Any] = {"protocol": protocol, "seed": seed, "arch": arch, "folds": reports}
    if reports:
        evaluation["mean_over_folds"] = summarise_folds(reports)

    # ---- the pack model
    if protocol == "loocv":
        idx = np.concatenate([np.asarray(r["test"]) for r in fold_results])
        raw = np.concatenate([np.asarray(r["test_raw"]) for r in fold_results])
        kp = (np.concatenate([np.asarray(r["test_klemetti"]) for r in fold_results])
              if fold_results and fold_results[0].get("test_klemetti") else None)
        t, ops = calibrate_and_threshold(labels[idx], raw)
        pooled_risk = calibrate(raw, t)
        pooled = metric_report(labels[idx], pooled_risk, ops["balanced"]["threshold"],
                               ds.klemetti[idx], kp, seed=seed)
        pooled["note"] = ("pooled out-of-fold predictions; the temperature and thresholds were fitted "
                          "on these same predictions, so threshold-dependent numbers are optimistic")
        evaluation["pooled"] = pooled
        model = build()
        hist = fit(model, ds, None, cfg, ckpt_dir=work / "final" / "ckpt", progress=progress)
        held_out = pooled
        ops_held = held_out_operating_points(ops, labels[idx], pooled_risk)
        plot_args = (labels[idx], pooled_risk, f"{arch} LOOCV pooled")
        n_train, n_val, n_test = len(rows), 0, len(rows)
    else:
        import keras

        res = fold_results[best_fold]
        model = keras.models.load_model(work / splits[best_fold].name / "model.keras",
                                        custom_objects=zoo.custom_objects(), compile=False)
        t, ops = calibrate_and_threshold(labels[res["val"]], np.asarray(res["val_raw"]))
        risk = calibrate(np.asarray(res["test_raw"]), t)
        yt = labels[res["test"]]
        kp = np.asarray(res["test_klemetti"]) if res.get("test_klemetti") else None
        held_out = metric_report(yt, risk, ops["balanced"]["threshold"], ds.klemetti[res["test"]], kp,
                                 seed=seed)
        ops_held = held_out_operating_points(ops, yt, risk)
        evaluation["pack_fold"] = splits[best_fold].name
        evaluation["pooled"] = held_out
        hist = res["history"]
        plot_args = (yt, risk, f"{arch} {splits[best_fold].name} test")
        n_train, n_val, n_test = splits[best_fold].train.size, splits[best_fold].val.size, len(yt)

    for name in ("high_sensitivity", "balanced", "high_specificity"):
        ops[name]["held_out"] = ops_held[name]
    src = "phantom" if all("phantom" in r.file.name for r in rows) else "real"
    card = {
        "name": out.name,
        "version": "0.1.0",
        "arch": arch,
        "mode": mode,
        "input": input_section(mode, shape, patch_mm),
        "preprocessing": (pp.PREPROCESSING_DESCRIPTION_LANDMARKS if mode == "landmarks"
                          else pp.PREPROCESSING_DESCRIPTION_BAND if mode == "band"
                          else pp.PREPROCESSING_DESCRIPTION_ROI),
        "outputs": card_outputs(has_k, mode == "landmarks", has_m),
        "gradcam_layer": zoo.GRADCAM_LAYERS.get(arch),
        "training_data": {"description": f"dataset folder {Path(data).name} ({len(rows)} images)",
                          "source": src, "n": len(rows)},
        "training": {"data": f"dataset folder {Path(data).name} ({len(rows)} images)", "source": src,
                     "n": len(rows), "n_train": int(n_train), "n_val": int(n_val), "n_test": int(n_test),
                     "protocol": protocol, "seed": seed, "weights_init": weights,
                     "config": asdict(cfg), "history": hist,
                     "wall_seconds": time.monotonic() - t0},
        "metrics": {"held_out": held_out, "mean_over_folds": evaluation.get("mean_over_folds")},
        "calibration": {"temperature": t, "method": "temperature scaling (NLL) on the validation part"
                        if protocol != "loocv" else "temperature scaling on pooled LOOCV predictions"},
        "operating_points": ops,
        "compute": compute_section(model, arch, shape),
        "intended_use": INTENDED_USE,
        "limitations": (PHANTOM_LIMITATIONS if src == "phantom" else
                        ["Validated only on the data described here; check on local data before use."]),
        "behaviour_on_unlabelled_real_radiographs": None,
    }
    save_pack(model, card, out)
    (out / "evaluation.json").write_text(json.dumps(evaluation, indent=2, default=float))
    save_plots(plot_args[0], plot_args[1], out / "plots", plot_args[2])
    return {"pack": str(out), "evaluation": evaluation, "card": card}
