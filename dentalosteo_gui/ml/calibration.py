"""Temperature scaling of the risk output (numpy only): the one calibration path of training
(fitting T) and inference (applying it, ``ml.packs``).

The 2-way softmax gives p = sigmoid(z) with z = log(p1 / p0). Calibration replaces it with
sigmoid(z / T); T is fitted on a validation split by minimising the negative log-likelihood
(Guo et al. 2017). T > 1 softens over-confident outputs. Ranking, hence AUC, is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.data import metrics as M

OPERATING_POINTS = ("high_sensitivity", "balanced", "high_specificity")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def risk_logit(p_osteo: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """log(p1 / p0) of the 2-way softmax (the quantity temperature scaling divides)."""
    p = np.clip(np.asarray(p_osteo, dtype=np.float64), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


def calibrate(p_osteo: np.ndarray | float, temperature: float) -> np.ndarray:
    """Temperature-scaled probability sigmoid(logit / T) (T missing or <= 0: 1)."""
    t = float(temperature) if temperature and temperature > 0 else 1.0
    return _sigmoid(risk_logit(np.asarray(p_osteo)) / t)


def nll(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary negative log-likelihood."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    yy = np.asarray(y, dtype=np.float64)
    return float(-np.mean(yy * np.log(q) + (1.0 - yy) * np.log1p(-q)))


def fit_temperature(y_true: np.ndarray, p_raw: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """Temperature minimising the validation NLL (golden-section search on log T)."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    z = risk_logit(np.asarray(p_raw).ravel())
    if y.size == 0 or y.min() == y.max():
        return 1.0

    def f(log_t: float) -> float:
        return nll(y, _sigmoid(z / np.exp(log_t)))

    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return float(np.exp((a + b) / 2.0))


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
    for name in OPERATING_POINTS:
        r = M.binary_report(y, risk, ops[name]["threshold"])
        out[name] = {"threshold": ops[name]["threshold"],
                     "sensitivity": M.finite_or_none(r["sensitivity"]),
                     "specificity": M.finite_or_none(r["specificity"])}
    return out


def add_held_out(ops: dict[str, Any], held: dict[str, Any]) -> None:
    """Record :func:`held_out_operating_points` under each operating point (``held_out``)."""
    for name in OPERATING_POINTS:
        ops[name]["held_out"] = held[name]


__all__ = ["OPERATING_POINTS", "add_held_out", "calibrate", "calibrate_and_threshold", "fit_temperature",
           "held_out_operating_points", "nll", "risk_logit"]
