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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.data import metrics as M
from ..core.data.dataset import read_dataset
from ..core.data.protocols import PROTOCOLS, make_splits
from ..core.errors import ConfigError, DatasetError
from ..core.fusion import FUSION_KEY
from ..core.model_input import preprocess as pp
from ..core.model_input.landmarks import LANDMARK_GROUPS
from ..core.model_input.strip import band_spec_for
from . import zoo
from .calibration import add_held_out, calibrate, calibrate_and_threshold, held_out_operating_points
from .data import check_rows_have_inputs, dataset_from_rows, row_groups
from .evaluation import metric_report, save_plots, summarise_folds
from .packs import save_pack, write_manifest
from .training import TrainConfig, fit, predict_arrays

log = logging.getLogger(__name__)

__all__ = ["INTENDED_USE", "PHANTOM_LIMITATIONS", "calibrate_and_threshold", "card_model_io", "card_outputs",
           "compute_section", "held_out_operating_points", "input_section", "train_from_folder"]

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
        out["attention"] = (f"softmax weights s1..s4 of the landmark groups [{', '.join(LANDMARK_GROUPS)}]")
    return out


def input_section(mode: str, shape: tuple[int, ...], patch_mm: float) -> dict[str, Any]:
    """The ``input`` section of a card."""
    if mode == "landmarks":
        return {"height": int(shape[1]), "width": int(shape[2]), "channels": int(shape[3]),
                "patches": 8, "patch_mm": float(patch_mm), "roi_spec": None}
    if mode == "band":
        return {"height": int(shape[0]), "width": int(shape[1]), "channels": int(shape[2]),
                "band": band_spec_for(shape).as_dict(),
                "roi_spec": {"box": "ROI box in original-image pixels (the app's proposal, or roi_x, "
                                    "roi_y, roi_w, roi_h of the dataset); the band is cut from the "
                                    "border traced inside it"}}
    return {"height": int(shape[0]), "width": int(shape[1]), "channels": int(shape[2]),
            "roi_spec": {"box": "ROI box in original-image pixels (roi_x, roi_y, roi_w, roi_h of the "
                                "dataset, or the app's ROI proposal on the inferior mandibular cortex)",
                         "reference_frame_wh": [pp.REFERENCE_WIDTH, pp.REFERENCE_HEIGHT],
                         "reference_box_wh": [pp.REFERENCE_ROI_WIDTH, pp.REFERENCE_ROI_HEIGHT]}}


def card_model_io(arch: str, mode: str, shape: tuple[int, ...], patch_mm: float, has_klemetti: bool,
                  has_mcw: bool) -> dict[str, Any]:
    """The ``input``, ``preprocessing``, ``outputs`` and ``gradcam_layer`` sections of a card."""
    return {"input": input_section(mode, shape, patch_mm),
            "preprocessing": pp.PREPROCESSING_DESCRIPTIONS[mode],
            "outputs": card_outputs(has_klemetti, mode == "landmarks", has_mcw),
            "gradcam_layer": zoo.GRADCAM_LAYERS.get(arch)}


def compute_section(model: Any, arch: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """Params and MACs of the model, and its ratio to VGG16-TR2 at 140 x 700."""
    macs = zoo.count_macs(model)
    ref = zoo.reference_macs_vgg16_tr2()
    return {"params": int(model.count_params()), "macs": int(macs), "flops": int(2 * macs),
            "vgg16_tr2_140x700_macs": int(ref), "ratio_to_vgg16_tr2": float(macs / ref)}


# ----------------------------------------------------------------------------- stages


@dataclass
class _Run:
    """What every stage of one ``train_from_folder`` run shares."""

    data: Path
    arch: str
    protocol: str
    out: Path
    work: Path
    weights: str
    seed: int
    branch: str
    patch_mm: float
    rows: list[Any]
    labels: np.ndarray
    shape: tuple[int, ...]
    has_k: bool
    has_m: bool
    cfg: TrainConfig
    progress: Callable[[dict[str, Any]], None] | None
    ds: Any = None
    splits: list[Any] = field(default_factory=list)
    t0: float = 0.0
    fuse: bool = False  # fit the risk fusion with the measured MCW

    @property
    def mode(self) -> str:
        return zoo.mode_of(self.arch)

    def build(self) -> Any:
        return zoo.build_model(self.arch, self.shape, weights=self.weights, klemetti=self.has_k,
                               branch=self.branch, mcw=self.has_m)

    def say(self, text: str) -> None:
        if self.progress:
            self.progress({"event": "message", "text": text})


@dataclass
class _PackModel:
    """The model that becomes the pack, with its calibration and held-out results."""

    model: Any
    temperature: float
    ops: dict[str, Any]
    held_out: dict[str, Any]
    history: Any
    plot: tuple[np.ndarray, np.ndarray, str]
    n_train: int
    n_val: int
    n_test: int
    fusion: dict[str, Any] | None = None  # the risk fusion with the measured MCW (ml.fusion)


def _read_rows(data: Path, arch: str, protocol: str, weights: str) -> tuple[list[Any], np.ndarray]:
    """The dataset rows and labels, after checking the arguments fit them."""
    if arch not in zoo.ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(zoo.ARCHS)}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    zoo.resolve_weights(arch, weights)  # fail before any work if imagenet weights are missing
    rows = read_dataset(data)
    check_rows_have_inputs(rows, zoo.mode_of(arch), data / "labels.csv", arch)
    labels = np.array([r.label for r in rows])
    if labels.min() == labels.max():
        raise DatasetError(f"{data / 'labels.csv'}: all labels are {labels[0]}; training needs both 0 and 1")
    return rows, labels


def _default_lr(arch: str) -> float:
    return 1e-3 if arch in ("compact", "compact-band", "siamese-attention", "cnn3") else 1e-4


def _train_fold(run: _Run, sp: Any, fdir: Path) -> dict[str, Any]:
    """Train one protocol fold and record its test (and validation) predictions."""
    run.say(f"{sp.name}: {sp.train.size} train, {sp.val.size} validation, {sp.test.size} test")
    model = run.build()
    val = run.ds.subset(sp.val) if sp.val.size else None
    hist = fit(model, run.ds.subset(sp.train), val, run.cfg, ckpt_dir=fdir / "ckpt", progress=run.progress)
    pt = predict_arrays(model, run.ds.subset(sp.test).batch(np.arange(sp.test.size), None, None))
    res = {"name": sp.name, "test": sp.test.tolist(), "test_raw": pt["risk"][:, 1].tolist(),
           "test_klemetti": pt["klemetti"].tolist() if "klemetti" in pt else None,
           "history": hist}
    if val is not None:
        pv = predict_arrays(model, val.batch(np.arange(len(val)), None, None))
        res["val"] = sp.val.tolist()
        res["val_raw"] = pv["risk"][:, 1].tolist()
    fdir.mkdir(parents=True, exist_ok=True)
    if run.protocol != "loocv":
        model.save(fdir / "model.keras")
    (fdir / "result.json").write_text(json.dumps(res, default=float))
    return res


def _run_folds(run: _Run) -> tuple[list[dict[str, Any]], int]:
    """Every fold's results (finished folds resumed from ``work``) and the best-validation-AUC fold."""
    fold_results: list[dict[str, Any]] = []
    best_fold, best_auc = 0, -1.0
    for k, sp in enumerate(run.splits):
        res_path = run.work / sp.name / "result.json"
        if res_path.is_file():
            res = json.loads(res_path.read_text())
            log.info("%s already done (resumed)", sp.name)
        else:
            res = _train_fold(run, sp, run.work / sp.name)
        fold_results.append(res)
        if "val_raw" in res:
            a = M.auc(run.labels[res["val"]], res["val_raw"])
            if np.isfinite(a) and a > best_auc:
                best_auc, best_fold = float(a), k
    return fold_results, best_fold


def _test_klemetti(res: dict[str, Any]) -> np.ndarray | None:
    return np.asarray(res["test_klemetti"]) if res.get("test_klemetti") else None


def _fold_reports(run: _Run, fold_results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-fold test metrics, each fold calibrated on its own validation part."""
    labels, reports = run.labels, []
    for res in fold_results:
        yt = labels[res["test"]]
        if "val_raw" in res and len(set(labels[res["val"]].tolist())) == 2:
            t, ops = calibrate_and_threshold(labels[res["val"]], np.asarray(res["val_raw"]))
        else:
            t, ops = 1.0, {"balanced": {"threshold": 0.5}}
        risk = calibrate(np.asarray(res["test_raw"]), t)
        if len(res["test"]) > 1 and len(set(yt.tolist())) == 2:
            rep = metric_report(yt, risk, ops["balanced"]["threshold"], run.ds.klemetti[res["test"]],
                                _test_klemetti(res), n_boot=1000, seed=run.seed)
            rep["name"] = res["name"]
            reports.append(rep)
    evaluation: dict[str, Any] = {"protocol": run.protocol, "seed": run.seed, "arch": run.arch, "folds": reports}
    if reports:
        evaluation["mean_over_folds"] = summarise_folds(reports)
    return evaluation


def _pack_model_loocv(run: _Run, fold_results: list[dict[str, Any]], evaluation: dict[str, Any]) -> _PackModel:
    """LOOCV: calibrate on the pooled out-of-fold predictions, then train on every case."""
    idx = np.concatenate([np.asarray(r["test"]) for r in fold_results])
    raw = np.concatenate([np.asarray(r["test_raw"]) for r in fold_results])
    kp = (np.concatenate([np.asarray(r["test_klemetti"]) for r in fold_results])
          if fold_results and fold_results[0].get("test_klemetti") else None)
    t, ops = calibrate_and_threshold(run.labels[idx], raw)
    pooled_risk = calibrate(raw, t)
    pooled = metric_report(run.labels[idx], pooled_risk, ops["balanced"]["threshold"],
                           run.ds.klemetti[idx], kp, seed=run.seed)
    pooled["note"] = ("pooled out-of-fold predictions; the temperature and thresholds were fitted "
                      "on these same predictions, so threshold-dependent numbers are optimistic")
    evaluation["pooled"] = pooled
    model = run.build()
    hist = fit(model, run.ds, None, run.cfg, ckpt_dir=run.work / "final" / "ckpt", progress=run.progress)
    add_held_out(ops, held_out_operating_points(ops, run.labels[idx], pooled_risk))
    n = len(run.rows)
    return _PackModel(model, t, ops, pooled, hist, (run.labels[idx], pooled_risk, f"{run.arch} LOOCV pooled"),
                      n, 0, n)


def _pack_model_best_fold(run: _Run, fold_results: list[dict[str, Any]], best_fold: int,
                          evaluation: dict[str, Any]) -> _PackModel:
    """The fold with the best validation AUC, calibrated on its validation part."""
    import keras

    res, sp = fold_results[best_fold], run.splits[best_fold]
    model = keras.models.load_model(run.work / sp.name / "model.keras",
                                    custom_objects=zoo.custom_objects(), compile=False)
    t, ops = calibrate_and_threshold(run.labels[res["val"]], np.asarray(res["val_raw"]))
    risk = calibrate(np.asarray(res["test_raw"]), t)
    yt = run.labels[res["test"]]
    held_out = metric_report(yt, risk, ops["balanced"]["threshold"], run.ds.klemetti[res["test"]],
                             _test_klemetti(res), seed=run.seed)
    add_held_out(ops, held_out_operating_points(ops, yt, risk))
    evaluation["pack_fold"] = sp.name
    evaluation["pooled"] = held_out
    fusion = _fit_fusion(run, np.asarray(res["val"]), calibrate(np.asarray(res["val_raw"]), t),
                         np.asarray(res["test"]), risk) if run.fuse else None
    return _PackModel(model, t, ops, held_out, res["history"], (yt, risk, f"{run.arch} {sp.name} test"),
                      sp.train.size, sp.val.size, len(yt), fusion)


def _fit_fusion(run: _Run, val: np.ndarray, risk_val: np.ndarray, test: np.ndarray,
                risk_test: np.ndarray) -> dict[str, Any] | None:
    """The risk fusion with the MCW the anatomy module measures (``ml.fusion``), fitted on the
    pack fold's validation part and measured on its test part; None (said) when too few
    validation images have a measured MCW."""
    from .evaluation import measured_mcw
    from .fusion import fit_fusion, held_out_fusion

    run.say(f"measuring MCW on {val.size + test.size} validation and test images for the risk fusion")
    rows = run.rows
    mv = measured_mcw([rows[i] for i in val])
    try:
        sec = fit_fusion(run.labels[val], risk_val, mv)
    except ValueError as exc:
        run.say(f"no risk fusion: {exc}")
        return None
    held_out_fusion(sec, run.labels[test], risk_test, measured_mcw([rows[i] for i in test]), run.seed)
    sec["note"] = ("MCW measured at each image's dataset spacing (or the assumed default where labels.csv "
                   "gives none); the app measures at the model's input scale")
    return sec


def _card(run: _Run, pm: _PackModel, evaluation: dict[str, Any]) -> dict[str, Any]:
    """The model card of a pack trained from a folder."""
    rows = run.rows
    src = "phantom" if all("phantom" in r.file.name for r in rows) else "real"
    described = f"dataset folder {run.data.name} ({len(rows)} images)"
    return {
        "name": run.out.name,
        "version": "0.1.0",
        "arch": run.arch,
        "mode": run.mode,
        **card_model_io(run.arch, run.mode, run.shape, run.patch_mm, run.has_k, run.has_m),
        "training_data": {"description": described, "source": src, "n": len(rows)},
        "training": {"data": described, "source": src, "n": len(rows), "n_train": int(pm.n_train),
                     "n_val": int(pm.n_val), "n_test": int(pm.n_test), "protocol": run.protocol,
                     "seed": run.seed, "weights_init": run.weights, "config": asdict(run.cfg),
                     "history": pm.history, "wall_seconds": time.monotonic() - run.t0},
        "metrics": {"held_out": pm.held_out, "mean_over_folds": evaluation.get("mean_over_folds")},
        "calibration": {"temperature": pm.temperature,
                        "method": "temperature scaling (NLL) on the validation part" if run.protocol != "loocv"
                        else "temperature scaling on pooled LOOCV predictions"},
        "operating_points": pm.ops,
        "compute": compute_section(pm.model, run.arch, run.shape),
        "intended_use": INTENDED_USE,
        "limitations": (PHANTOM_LIMITATIONS if src == "phantom" else
                        ["Validated only on the data described here; check on local data before use."]),
        "behaviour_on_unlabelled_real_radiographs": None,
        **({FUSION_KEY: pm.fusion} if pm.fusion else {}),
    }


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
    fuse_mcw: bool = True,
) -> dict[str, Any]:
    """Run a protocol on a dataset folder and write a pack to ``out`` (see module doc).
    ``fuse_mcw``: also fit the risk fusion with the measured MCW (``ml.fusion``) on the pack
    fold's validation part (not with LOOCV, which has none)."""
    rows, labels = _read_rows(Path(data), arch, protocol, weights)
    out = Path(out)
    run = _Run(
        data=Path(data), arch=arch, protocol=protocol, out=out,
        work=Path(work_dir) if work_dir else out.with_name(out.name + ".work"),
        weights=weights, seed=seed, branch=branch, patch_mm=patch_mm, rows=rows, labels=labels,
        shape=tuple(input_shape or zoo.default_input_shape(arch)),
        has_k=any(r.klemetti for r in rows),
        has_m=mcw_head and arch in ("compact", "compact-band") and any(r.mcw_mean_mm is not None for r in rows),
        cfg=TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed,
                        patience=None if protocol == "loocv" else 10,
                        lr=lr if lr is not None else _default_lr(arch)),
        progress=progress, fuse=fuse_mcw and protocol != "loocv")
    run.work.mkdir(parents=True, exist_ok=True)
    log.info("caching %d images for %s", len(rows), arch)
    run.say(f"reading {len(rows)} images")
    run.ds = dataset_from_rows(rows, run.mode, run.shape, patch_mm=patch_mm)
    run.splits = make_splits(protocol, labels, row_groups(rows), seed)
    (run.work / "splits.json").write_text(json.dumps([s.as_dict() for s in run.splits]))
    run.t0 = time.monotonic()
    fold_results, best_fold = _run_folds(run)
    evaluation = _fold_reports(run, fold_results)
    pm = (_pack_model_loocv(run, fold_results, evaluation) if protocol == "loocv"
          else _pack_model_best_fold(run, fold_results, best_fold, evaluation))
    card = _card(run, pm, evaluation)
    save_pack(pm.model, card, out)
    (out / "evaluation.json").write_text(json.dumps(evaluation, indent=2, default=float))
    save_plots(pm.plot[0], pm.plot[1], out / "plots", pm.plot[2])
    write_manifest(out)
    return {"pack": str(out), "evaluation": evaluation, "card": card}
