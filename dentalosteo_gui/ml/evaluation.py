"""Evaluation of predictions: the metric set of the published studies and the plots.

``metric_report`` collects AUC with a bootstrap 95 % CI, sensitivity, specificity, accuracy,
precision, F1, OPA / NOPA / OA, the confusion matrix, Brier score, reliability bins, the
operating-point table, Klemetti accuracy and Cohen's kappa, and MCW MAE, with ``None`` for
whatever the data lacks. ``save_plots`` writes ROC, PR and reliability PNGs (matplotlib Agg).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.data import metrics as M
from ..core.fusion import FUSION_KEY, RiskFusion
from ..core.types import KLEMETTI_CLASSES
from .fusion import apply_fusion, held_out_fusion

log = logging.getLogger(__name__)


def metric_report(
    y: Sequence[int] | np.ndarray,
    risk: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
    klemetti_true: Sequence[int] | np.ndarray | None = None,
    klemetti_prob: np.ndarray | None = None,
    mcw_true: Sequence[float | None] | None = None,
    mcw_pred: Sequence[float | None] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """All metrics for binary labels ``y`` and risk scores (see module doc)."""
    yy = np.asarray(y, dtype=np.int64)
    rr = np.asarray(risk, dtype=np.float64)
    both = yy.size > 0 and yy.min() != yy.max()
    rep = M.binary_report(yy, rr, threshold)
    out: dict[str, Any] = {
        "n": int(yy.size),
        "n_osteoporosis": int(yy.sum()),
        "auc": M.finite_or_none(M.auc(yy, rr)) if both else None,
        "auc_ci95": ([M.finite_or_none(v) for v in M.auc_bootstrap_ci(yy, rr, n_boot, seed)]
                     if both else None),
        "average_precision": M.finite_or_none(M.average_precision(yy, rr)) if both else None,
        "threshold": float(threshold),
    }
    for k in ("sensitivity", "specificity", "accuracy", "precision", "f1", "opa", "nopa", "oa"):
        out[k] = M.finite_or_none(rep[k])
    out["confusion_matrix"] = rep["confusion_matrix"]
    out["brier"] = M.finite_or_none(M.brier_score(yy, rr)) if yy.size else None
    out["ece"] = M.finite_or_none(M.expected_calibration_error(yy, rr)) if yy.size else None
    out["reliability"] = M.reliability_bins(yy, rr) if yy.size else []
    out["operating_point_table"] = M.operating_point_table(yy, rr) if yy.size else []
    out["klemetti_accuracy"] = None
    out["klemetti_kappa"] = None
    out["klemetti_kappa_quadratic"] = None
    out["klemetti_n"] = 0
    if klemetti_true is not None and klemetti_prob is not None:
        kt = np.asarray(klemetti_true, dtype=np.int64)
        kp = np.argmax(np.asarray(klemetti_prob), axis=1)
        ok = kt >= 0
        if ok.any():
            mr = M.multiclass_report(kt[ok], kp[ok], labels=[0, 1, 2])
            out["klemetti_accuracy"] = M.finite_or_none(mr["accuracy"])
            out["klemetti_kappa"] = M.finite_or_none(mr["kappa"])
            out["klemetti_kappa_quadratic"] = M.finite_or_none(mr["kappa_quadratic"])
            out["klemetti_confusion_matrix"] = mr["confusion_matrix"]
            out["klemetti_labels"] = list(KLEMETTI_CLASSES)
            out["klemetti_n"] = int(ok.sum())
    out["mcw_mae_mm"] = None
    out["mcw_n"] = 0
    if mcw_true is not None and mcw_pred is not None:
        pairs = [(float(t), float(p)) for t, p in zip(mcw_true, mcw_pred, strict=True)
                 if t is not None and p is not None and np.isfinite(t) and np.isfinite(p)]
        if pairs:
            a = np.asarray(pairs)
            out["mcw_mae_mm"] = float(np.mean(np.abs(a[:, 0] - a[:, 1])))
            out["mcw_n"] = len(pairs)
    return out


def summarise_folds(fold_reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and SD over folds of the scalar metrics (as the studies report 'mean over folds')."""
    keys = ("auc", "sensitivity", "specificity", "accuracy", "precision", "f1", "opa", "nopa",
            "oa", "brier", "klemetti_accuracy", "klemetti_kappa")
    out: dict[str, Any] = {"n_folds": len(fold_reports)}
    for k in keys:
        vals = [r[k] for r in fold_reports if r.get(k) is not None]
        out[k] = {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                  "n": len(vals)} if vals else None
    return out


def save_plots(y: Sequence[int] | np.ndarray, risk: Sequence[float] | np.ndarray, out_dir: Path | str,
               title: str = "", extra_curves: dict[str, np.ndarray] | None = None) -> list[Path]:
    """Write roc.png, pr.png and reliability.png to ``out_dir``; returns the paths.

    ``extra_curves`` adds more ROC curves for comparison (name -> scores on the same cases).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    yy = np.asarray(y, dtype=np.int64)
    rr = np.asarray(risk, dtype=np.float64)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if yy.size == 0 or yy.min() == yy.max():
        log.warning("plots need both classes; none written")
        return written
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    fpr, tpr, _ = M.roc_curve(yy, rr)
    lo, hi = M.auc_bootstrap_ci(yy, rr, 1000)
    ax.plot(fpr, tpr, lw=2, label=f"model AUC {M.auc(yy, rr):.3f} [{lo:.3f}-{hi:.3f}]")
    for name, s in (extra_curves or {}).items():
        f2, t2, _ = M.roc_curve(yy, s)
        ax.plot(f2, t2, lw=1.5, ls="--", label=f"{name} AUC {M.auc(yy, s):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"ROC {title}".strip())
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    written.append(out / "roc.png")
    fig.savefig(written[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    prec, rec, _ = M.pr_curve(yy, rr)
    ax.step(rec, prec, where="post", lw=2, label=f"AP {M.average_precision(yy, rr):.3f}")
    ax.axhline(yy.mean(), color="grey", lw=0.8, ls=":", label=f"prevalence {yy.mean():.2f}")
    ax.set_xlabel("recall (sensitivity)")
    ax.set_ylabel("precision (PPV)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Precision-recall {title}".strip())
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    written.append(out / "pr.png")
    fig.savefig(written[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    bins = M.reliability_bins(yy, rr, 10)
    xs = [b["mean_predicted"] for b in bins if b["count"]]
    ys = [b["observed_rate"] for b in bins if b["count"]]
    ns = [b["count"] for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.plot(xs, ys, marker="o", lw=1.5, label=f"Brier {M.brier_score(yy, rr):.3f}")
    for x_, y_, n_ in zip(xs, ys, ns, strict=True):
        ax.annotate(str(n_), (x_, y_), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed osteoporosis rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"Reliability {title}".strip())
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    written.append(out / "reliability.png")
    fig.savefig(written[-1])
    plt.close(fig)
    return written


def measured_mcw(rows: Sequence[Any]) -> list[float | None]:
    """Mean MCW (mm) per row measured by the anatomy module on the row's ROI box (or on the
    proposed ROI when the row has none); None where it cannot measure."""
    from ..core.anatomy import border_for_box, measure_cortex, propose_roi
    from ..core.errors import DentalOsteoError
    from ..core.imaging.imageio import load_radiograph
    from ..core.screening.spacing import dataset_record, resolve_spacing
    from ..core.system.settings import DEFAULT_PIXEL_SPACING_MM

    out: list[float | None] = []
    for r in rows:
        try:
            rad = load_radiograph(r.file)
            auto = propose_roi(rad)
            prop = border_for_box(rad, r.roi, auto) if getattr(r, "roi", None) else auto
            m = measure_cortex(rad, prop, resolve_spacing(rad, dataset_record(getattr(r, "pixel_spacing_mm", None)),
                                                          DEFAULT_PIXEL_SPACING_MM))
            vals = [v for v in (m.right.mcw_mm, m.left.mcw_mm) if v is not None]
            out.append(float(np.mean(vals)) if vals else None)
        except (DentalOsteoError, ValueError) as exc:
            log.info("MCW not measured for row %s: %s", getattr(r, "row_number", "?"), type(exc).__name__)
            out.append(None)
    return out


def _pack_threshold(pack: Any, operating_point: str) -> float:
    """The decision threshold of the pack's ``operating_point`` (``"0.5"``: 0.5)."""
    from ..core.errors import ConfigError

    ops = pack.card.get("operating_points") or {}
    if operating_point not in ops and operating_point != "0.5":
        raise ConfigError(f"operating point {operating_point!r} not in the model card "
                          f"({', '.join(k for k in ops if k != 'bands') or 'none'})")
    return 0.5 if operating_point == "0.5" else float(ops[operating_point]["threshold"])


def _predict_all(pack: Any, ds: Any, batch: int = 32) -> dict[str, np.ndarray]:
    """The pack's named outputs (calibrated risk, ...) on every exact input of ``ds``."""
    preds: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(ds), batch):
        r = pack.predict_arrays(ds.batch(np.arange(s, min(len(ds), s + batch)), None, None))
        for k, v in r.items():
            preds.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in preds.items()}


def _mae(pairs: list[tuple[float, float]]) -> float | None:
    if not pairs:
        return None
    a = np.asarray(pairs)
    return float(np.mean(np.abs(a[:, 0] - a[:, 1])))


def _protocol_folds(protocol: str, rows: Sequence[Any], labels: np.ndarray, seed: int,
                    report: Callable[[np.ndarray], dict[str, Any]]) -> dict[str, Any]:
    """``report`` on each test part of ``protocol`` (the splits of training, same seed)."""
    from ..core.data.protocols import make_splits
    from .data import row_groups

    folds = []
    for sp in make_splits(protocol, labels, row_groups(rows), seed):
        y = labels[sp.test]
        if sp.test.size > 1 and y.min() != y.max():
            f = report(sp.test)
            f["name"] = sp.name
            folds.append(f)
    out: dict[str, Any] = {"protocol": protocol, "folds": folds}
    if folds:
        out["mean_over_folds"] = summarise_folds(folds)
    return out


def rank_agreement(mcw: Sequence[float | None], risk: Sequence[float] | np.ndarray,
                   model_mcw: Sequence[float] | np.ndarray | None = None,
                   measured: Sequence[float | None] | None = None) -> dict[str, Any] | None:
    """How the image model's risk, its own MCW output and the app's measured MCW order the
    images against the dataset's MCW (``labels.csv``: a dentist's measurement, or a phantom's
    truth), each a Spearman coefficient with its approximate 95 % interval and its number of
    images. The risk should fall as the cortex widens (negative), the widths agree (positive).
    This is the transfer check for images without DXA labels' help: it needs only a width.
    None with fewer than 5 images that have an MCW."""
    idx = [i for i, t in enumerate(mcw) if t is not None and np.isfinite(t)]
    if len(idx) < 5:
        return None
    out: dict[str, Any] = {"n": len(idx),
                           "expected": "risk: negative (thinner cortex, higher risk); widths: positive"}

    def put(name: str, values: Sequence[float | None]) -> None:
        pairs = [(float(mcw[i]), float(v)) for i, v in zip(idx, values, strict=True)  # type: ignore[arg-type]
                 if v is not None and np.isfinite(v)]
        rho = M.spearman([p[1] for p in pairs], [p[0] for p in pairs])
        out[name] = None if rho is None else round(rho, 4)
        out[f"{name}_ci95"] = M.spearman_ci95(rho, len(pairs))
        out[f"{name}_n"] = len(pairs)

    put("spearman_image_model_risk_vs_mcw", [float(risk[i]) for i in idx])
    if model_mcw is not None:
        put("spearman_model_mcw_vs_mcw", [float(model_mcw[i]) for i in idx])
    if measured is not None:
        put("spearman_measured_mcw_vs_mcw", [measured[i] for i in idx])
    return out


def evaluate_pack_on_folder(
    data: Path | str,
    model: Path | str | None = None,
    protocol: str | None = None,
    seed: int = 0,
    plots_dir: Path | str | None = None,
    operating_point: str = "balanced",
    measure_mcw: bool = True,
) -> dict[str, Any]:
    """Run a pack on every image of a dataset folder and report the metrics.

    With ``protocol``, also per fold on that protocol's test parts (same seed as training).
    The decision threshold is the pack's ``operating_point`` (chosen on its validation data).
    """
    from ..core.data.dataset import read_dataset
    from .data import check_rows_have_inputs, dataset_from_rows
    from .packs import load_pack

    rows = read_dataset(Path(data))
    pack = load_pack(model)
    check_rows_have_inputs(rows, pack.mode, Path(data) / "labels.csv", f"the {pack.name} pack")
    threshold = _pack_threshold(pack, operating_point)
    patch_mm = float(pack.card["input"].get("patch_mm") or 10.0)
    ds = dataset_from_rows(rows, pack.mode, pack.input_shape, patch_mm=patch_mm, exact_only=True)
    p = _predict_all(pack, ds)
    risk, kprob = p["risk"], p.get("klemetti")
    has_k = kprob is not None and bool((ds.klemetti >= 0).any())
    mcw_true = [r.mcw_mean_mm for r in rows]
    # the app's own test of a usable fusion (a malformed section is ignored there, so here too)
    fusion = pack.card[FUSION_KEY] if RiskFusion.from_card(pack.card) is not None else None
    measured = measured_mcw(rows) if measure_mcw and (fusion or any(v is not None for v in mcw_true)) else None
    mcw_pred = measured if any(v is not None for v in mcw_true) else None

    def report(idx: np.ndarray) -> dict[str, Any]:
        return metric_report(ds.labels[idx], risk[idx], threshold,
                             ds.klemetti[idx] if has_k else None, kprob[idx] if has_k else None,
                             [mcw_true[i] for i in idx] if mcw_pred is not None else None,
                             [mcw_pred[i] for i in idx] if mcw_pred is not None else None,
                             seed=seed)

    res = report(np.arange(len(rows)))
    model_mcw = p["mcw_mm"][:, 0] if "mcw_mm" in p else None  # the pack's own MCW output, when it has one
    res["mcw_mae_mm_model"] = None
    if model_mcw is not None:
        res["mcw_mae_mm_model"] = _mae([(t, float(v)) for t, v in zip(mcw_true, model_mcw, strict=True)
                                        if t is not None])
    res["rank_agreement_with_dataset_mcw"] = rank_agreement(mcw_true, risk, model_mcw, measured)
    res["model"] = {"name": pack.name, "version": pack.version, "sha256": pack.sha256,
                    "arch": pack.card.get("arch"), "source": (pack.card.get("training") or {}).get("source")}
    res["operating_point"] = operating_point
    res["data"] = str(Path(data))
    res["predictions"] = [{"file": str(r.file.name), "label": int(r.label), "risk": float(risk[i]),
                           "risk_raw": float(p["risk_raw"][i])} for i, r in enumerate(rows)]
    if fusion is not None and measured is not None:
        # the risk the app shows: the image model's risk fused with the measured MCW (at the
        # dataset's spacing); ``auc`` above stays the image model's own
        sec = copy.deepcopy(fusion)
        res["risk_fusion"] = held_out_fusion(sec, ds.labels, risk, measured, seed)
        res["risk_fusion"]["operating_points_here"] = {
            k: v.get("held_out") for k, v in sec["operating_points"].items() if isinstance(v, dict) and k != "bands"}
        fused = apply_fusion(sec, risk, measured)
        for i, pr in enumerate(res["predictions"]):
            pr["risk_fused"] = float(fused[i])
            pr["measured_mcw_mm"] = measured[i]
    if protocol:
        res.update(_protocol_folds(protocol, rows, ds.labels, seed, report))
    if plots_dir:
        res["plots"] = [str(x) for x in save_plots(ds.labels, risk, plots_dir, pack.name)]
    return res
