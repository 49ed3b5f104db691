"""bench/real_behaviour.py's interval for its rank figures (pure; no real images needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from real_behaviour import spearman_ci95  # noqa: E402


def test_interval_of_a_spearman_on_few_images_is_wide_and_contains_it() -> None:
    lo, hi = spearman_ci95(-0.39, 24)  # type: ignore[misc]
    assert lo == pytest.approx(-0.69, abs=0.01) and hi == pytest.approx(0.03, abs=0.02)
    assert lo < -0.5 < hi  # the target cannot be told apart from -0.39 on 24 images
    lo2, hi2 = spearman_ci95(-0.39, 240)  # type: ignore[misc]
    assert lo < lo2 < -0.39 < hi2 < hi


def test_interval_covers_the_true_coefficient_about_95_percent() -> None:
    rng = np.random.default_rng(0)
    n, hits, trials = 24, 0, 400
    cov = [[1.0, -0.6], [-0.6, 1.0]]
    big = rng.multivariate_normal([0, 0], cov, size=200_000)
    ra, rb = np.argsort(np.argsort(big[:, 0])), np.argsort(np.argsort(big[:, 1]))
    truth = float(np.corrcoef(ra, rb)[0, 1])
    for _ in range(trials):
        x = rng.multivariate_normal([0, 0], cov, size=n)
        a, b = np.argsort(np.argsort(x[:, 0])), np.argsort(np.argsort(x[:, 1]))
        lo, hi = spearman_ci95(float(np.corrcoef(a, b)[0, 1]), n)  # type: ignore[misc]
        hits += lo <= truth <= hi
    assert 0.90 <= hits / trials <= 0.99


def test_no_interval_without_a_coefficient_or_enough_pairs() -> None:
    assert spearman_ci95(None, 24) is None
    assert spearman_ci95(0.5, 4) is None
    assert spearman_ci95(float("nan"), 24) is None
