"""Temperature scaling of the risk output (numpy only).

The 2-way softmax gives p = sigmoid(z) with z = log(p1 / p0). Calibration replaces it with
sigmoid(z / T); T is fitted on a validation split by minimising the negative log-likelihood
(Guo et al. 2017). T > 1 softens over-confident outputs. Ranking, hence AUC, is unchanged.
"""

from __future__ import annotations

import numpy as np

from .packs import calibrate, risk_logit


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
        return nll(y, 1.0 / (1.0 + np.exp(-z / np.exp(log_t))))

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
    t = float(np.exp((a + b) / 2.0))
    return t


__all__ = ["fit_temperature", "nll", "calibrate"]
