"""Screening metrics in plain numpy (no scikit-learn at run time).

Conventions: ``y_true`` holds 0 (no osteoporosis) / 1 (osteoporosis); ``scores`` are the
model's probability of osteoporosis (higher = more likely). A case is called positive when
``score >= threshold``. OPA / NOPA / OA are the names the Siamese-attention study uses for
sensitivity / specificity / accuracy. Tests compare every function with scikit-learn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "auc",
    "auc_bootstrap_ci",
    "roc_curve",
    "pr_curve",
    "average_precision",
    "confusion",
    "binary_report",
    "brier_score",
    "reliability_bins",
    "operating_point_table",
    "pick_operating_points",
    "cohen_kappa",
    "multiclass_report",
]


def _as_binary(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values, scores {s.size}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    return y, s


def _rankdata(a: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) with ties sharing their mean rank (like scipy's 'average')."""
    order = np.argsort(a, kind="mergesort")
    sa = a[order]
    n = a.size
    ranks = np.empty(n, dtype=np.float64)
    # boundaries of runs of equal values
    diff = np.concatenate(([True], sa[1:] != sa[:-1], [True]))
    idx = np.flatnonzero(diff)
    for start, stop in zip(idx[:-1], idx[1:], strict=True):
        ranks[order[start:stop]] = 0.5 * (start + 1 + stop)
    return ranks


def spearman(a: Any, b: Any) -> float | None:
    """Spearman's rank correlation of paired values (ties share their mean rank); None with
    fewer than 3 pairs or when either side holds a single value."""
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"spearman: {x.size} values against {y.size}")
    if x.size < 3:
        return None
    rx, ry = _rankdata(x), _rankdata(y)
    if rx.std() == 0.0 or ry.std() == 0.0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def spearman_ci95(rho: float | None, n: int) -> list[float] | None:
    """Approximate 95 % interval of a Spearman coefficient from ``n`` pairs: Fisher's z with
    the Bonett-Wright variance (1 + rho^2 / 2) / (n - 3); None under 5 pairs. On 24 images a
    rho of -0.39 spans about -0.69 to +0.03: figures that differ by 0.05 are not told apart."""
    if rho is None or n < 5 or not np.isfinite(rho):
        return None
    r = float(np.clip(rho, -0.999999, 0.999999))
    half = 1.959964 * np.sqrt((1.0 + r * r / 2.0) / (n - 3))
    z = float(np.arctanh(r))
    return [round(float(np.tanh(z - half)), 3), round(float(np.tanh(z + half)), 3)]


def auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count one half). NaN if one class."""
    y, s = _as_binary(y_true, scores)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _rankdata(s)
    u = r[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auc_bootstrap_ci(
    y_true: Any, scores: Any, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap CI of the AUC, resampling within each class (stratified).

    Returns (nan, nan) when a class is missing.
    """
    y, s = _as_binary(y_true, scores)
    pos = s[y == 1]
    neg = s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        p = pos[rng.integers(0, pos.size, pos.size)]
        q = neg[rng.integers(0, neg.size, neg.size)]
        # fraction of (pos, neg) pairs ordered correctly, ties = 1/2, via sorted search
        qs = np.sort(q)
        lt = np.searchsorted(qs, p, side="left")
        le = np.searchsorted(qs, p, side="right")
        vals[b] = (lt.sum() + 0.5 * (le - lt).sum()) / (p.size * q.size)
    lo, hi = np.quantile(vals, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))


def roc_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points (fpr, tpr, thresholds), thresholds decreasing; first point is (0, 0) at +inf.

    Like scikit-learn's ``roc_curve(drop_intermediate=False)``.
    """
    y, s = _as_binary(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    distinct = np.flatnonzero(np.diff(ss)) if ss.size else np.array([], dtype=np.int64)
    last = np.concatenate((distinct, [ss.size - 1])) if ss.size else np.array([], dtype=np.int64)
    tps = np.cumsum(ys)[last]
    fps = (last + 1) - tps
    tps = np.concatenate(([0], tps)).astype(np.float64)
    fps = np.concatenate(([0], fps)).astype(np.float64)
    thr = np.concatenate(([np.inf], ss[last]))
    n_pos = max(1, int(y.sum()))
    n_neg = max(1, int(y.size - y.sum()))
    return fps / n_neg, tps / n_pos, thr


def pr_curve(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall points (precision, recall, thresholds) as scikit-learn's
    ``precision_recall_curve``: recall decreasing, a final (precision 1, recall 0) point
    with no threshold, thresholds increasing.
    """
    y, s = _as_binary(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    ss = s[order]
    distinct = np.flatnonzero(np.diff(ss))
    last = np.concatenate((distinct, [ss.size - 1]))
    tps = np.cumsum(y[order])[last].astype(np.float64)
    predicted = (last + 1).astype(np.float64)
    precision = tps / predicted
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return (np.concatenate((precision[::-1], [1.0])), np.concatenate((recall[::-1], [0.0])),
            ss[last][::-1])


def average_precision(y_true: Any, scores: Any) -> float:
    """Average precision (step-wise area under the PR curve, as scikit-learn)."""
    precision, recall, _ = pr_curve(y_true, scores)
    if int(np.asarray(y_true).sum()) == 0:
        return float("nan")
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def confusion(y_true: Any, y_pred: Any) -> dict[str, int]:
    """Binary confusion counts: tp, fp, tn, fn (positive = osteoporosis = 1)."""
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    return {
        "tp": int(np.sum((y == 1) & (p == 1))),
        "fp": int(np.sum((y == 0) & (p == 1))),
        "tn": int(np.sum((y == 0) & (p == 0))),
        "fn": int(np.sum((y == 1) & (p == 0))),
    }


def _div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def binary_report(y_true: Any, scores: Any, threshold: float = 0.5) -> dict[str, Any]:
    """Sensitivity, specificity, accuracy, precision, F1, OPA/NOPA/OA and the confusion matrix.

    The confusion matrix is ``[[tn, fp], [fn, tp]]`` (rows = truth 0/1, as scikit-learn).
    """
    y, s = _as_binary(y_true, scores)
    pred = (s >= threshold).astype(np.int64)
    c = confusion(y, pred)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    sens = _div(tp, tp + fn)
    spec = _div(tn, tn + fp)
    acc = _div(tp + tn, y.size)
    prec = _div(tp, tp + fp)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    return {
        "threshold": float(threshold),
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "sensitivity": sens,
        "specificity": spec,
        "accuracy": acc,
        "precision": prec,
        "recall": sens,
        "f1": f1,
        "opa": sens,
        "nopa": spec,
        "oa": acc,
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def brier_score(y_true: Any, probs: Any) -> float:
    """Mean squared difference between the predicted probability and the 0/1 truth."""
    y, p = _as_binary(y_true, probs)
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


def reliability_bins(y_true: Any, probs: Any, n_bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width reliability bins: per bin mean predicted probability, observed rate, count.

    Bin edges as scikit-learn's ``calibration_curve(strategy='uniform')``; empty bins are
    reported with count 0 and null means.
    """
    y, p = _as_binary(y_true, probs)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], p, side="left")  # bins (lo, hi], first [0, hi]
    out: list[dict[str, Any]] = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        out.append({
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "count": n,
            "mean_predicted": float(p[m].mean()) if n else None,
            "observed_rate": float(y[m].mean()) if n else None,
        })
    return out


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = 10) -> float:
    """Count-weighted mean |observed - predicted| over the reliability bins."""
    bins = reliability_bins(y_true, probs, n_bins)
    n = sum(b["count"] for b in bins)
    if not n:
        return float("nan")
    return float(sum(b["count"] * abs(b["observed_rate"] - b["mean_predicted"])
                     for b in bins if b["count"]) / n)


def operating_point_table(y_true: Any, scores: Any, thresholds: Any = None) -> list[dict[str, float]]:
    """Sensitivity / specificity / PPV / NPV for each threshold (default 0.05 .. 0.95)."""
    y, s = _as_binary(y_true, scores)
    ths = np.round(np.arange(0.05, 0.951, 0.05), 2) if thresholds is None else np.asarray(thresholds)
    rows = []
    for t in ths:
        r = binary_report(y, s, float(t))
        c = r["confusion_matrix"]
        tn, fn = c[0][0], c[1][0]
        rows.append({
            "threshold": float(t),
            "sensitivity": r["sensitivity"],
            "specificity": r["specificity"],
            "ppv": r["precision"],
            "npv": _div(tn, tn + fn),
        })
    return rows


def pick_operating_points(
    y_true: Any, scores: Any, target_sensitivity: float = 0.9, target_specificity: float = 0.9
) -> dict[str, dict[str, float]]:
    """Three thresholds chosen on (validation) data.

    - ``high_sensitivity``: the highest threshold whose sensitivity >= target;
    - ``balanced``: the threshold maximising Youden's J (sens + spec - 1);
    - ``high_specificity``: the lowest threshold whose specificity >= target.
    Thresholds are placed midway between neighbouring distinct scores so they generalise.
    Guaranteed ordering: high_sensitivity <= balanced <= high_specificity.
    """
    y, s = _as_binary(y_true, scores)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("operating points need both classes")
    u = np.unique(s)
    mids = (u[:-1] + u[1:]) / 2.0
    cands = np.concatenate(([max(0.0, u[0] - 1e-6)], mids, [min(1.0, u[-1] + 1e-6)]))
    sens = np.array([np.mean(s[y == 1] >= t) for t in cands])
    spec = np.array([np.mean(s[y == 0] < t) for t in cands])
    ok = np.flatnonzero(sens >= target_sensitivity)
    i_sens = int(ok.max()) if ok.size else 0
    ok = np.flatnonzero(spec >= target_specificity)
    i_spec = int(ok.min()) if ok.size else len(cands) - 1
    j = sens + spec - 1.0
    i_bal = int(np.argmax(j))
    i_bal = min(max(i_bal, min(i_sens, i_spec)), max(i_sens, i_spec))
    if i_sens > i_spec:
        i_sens, i_spec = i_spec, i_sens
    return {
        name: {"threshold": float(cands[i]), "sensitivity": float(sens[i]),
               "specificity": float(spec[i])}
        for name, i in (("high_sensitivity", i_sens), ("balanced", i_bal),
                        ("high_specificity", i_spec))
    }


def cohen_kappa(y1: Any, y2: Any, labels: Any = None, weights: str | None = None) -> float:
    """Cohen's kappa between two label vectors (None / 'linear' / 'quadratic' weights)."""
    a = np.asarray(y1).ravel()
    b = np.asarray(y2).ravel()
    if a.shape != b.shape:
        raise ValueError("kappa needs two vectors of the same length")
    if a.size == 0:
        return float("nan")
    labs = np.asarray(sorted(set(a.tolist()) | set(b.tolist())) if labels is None else labels)
    k = labs.size
    index = {v: i for i, v in enumerate(labs.tolist())}
    cm = np.zeros((k, k), dtype=np.float64)
    for u, v in zip(a.tolist(), b.tolist(), strict=True):
        if u in index and v in index:
            cm[index[u], index[v]] += 1
    n = cm.sum()
    if n == 0:
        return float("nan")
    expected = np.outer(cm.sum(1), cm.sum(0)) / n
    if weights is None:
        w = 1.0 - np.eye(k)
    else:
        grid = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(np.float64)
        w = grid if weights == "linear" else grid**2
    denom = float((w * expected).sum())
    if denom == 0:
        return float("nan") if float((w * cm).sum()) else 1.0
    return float(1.0 - (w * cm).sum() / denom)


def multiclass_report(y_true: Any, y_pred: Any, labels: Any) -> dict[str, Any]:
    """Accuracy, Cohen's kappa (plain and quadratic), confusion matrix and per-class P/R/F1."""
    a = np.asarray(y_true).ravel()
    b = np.asarray(y_pred).ravel()
    labs = list(labels)
    cm = [[int(np.sum((a == t) & (b == p))) for p in labs] for t in labs]
    per = {}
    for i, lab in enumerate(labs):
        tp = cm[i][i]
        fp = sum(cm[j][i] for j in range(len(labs))) - tp
        fn = sum(cm[i]) - tp
        per[str(lab)] = {"precision": _div(tp, tp + fp), "recall": _div(tp, tp + fn),
                         "f1": _div(2 * tp, 2 * tp + fp + fn), "support": int(sum(cm[i]))}
    return {
        "n": int(a.size),
        "accuracy": _div(float(np.sum(a == b)), a.size),
        "kappa": cohen_kappa(a, b, labels=labs),
        "kappa_quadratic": cohen_kappa(a, b, labels=labs, weights="quadratic"),
        "confusion_matrix": cm,
        "labels": [str(x) for x in labs],
        "per_class": per,
    }


def finite_or_none(x: float | None) -> float | None:
    """JSON-friendly float: NaN/inf -> None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
