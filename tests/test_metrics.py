"""core.metrics against scikit-learn on fixed and random vectors."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.core.data import metrics as M

sk = pytest.importorskip("sklearn.metrics")
from sklearn.calibration import calibration_curve  # noqa: E402

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1])
S = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4, 0.65, 0.05, 0.7, 0.55, 0.3, 0.4, 0.2])


def _random_cases(k: int = 25):
    rng = np.random.default_rng(123)
    for _ in range(k):
        n = int(rng.integers(4, 60))
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1
        s = np.round(rng.random(n) + 0.3 * y, 1)  # rounding makes ties
        yield y, s


def test_auc_matches_sklearn_with_ties():
    assert M.auc(Y, S) == pytest.approx(sk.roc_auc_score(Y, S), abs=1e-12)
    for y, s in _random_cases():
        assert M.auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)


def test_auc_one_class_is_nan():
    assert np.isnan(M.auc([1, 1, 1], [0.2, 0.3, 0.4]))


def test_roc_curve_matches_sklearn():
    for y, s in [(Y, S), *_random_cases(10)]:
        fpr, tpr, thr = M.roc_curve(y, s)
        f2, t2, th2 = sk.roc_curve(y, s, drop_intermediate=False)
        np.testing.assert_allclose(fpr, f2)
        np.testing.assert_allclose(tpr, t2)
        np.testing.assert_allclose(thr[1:], th2[1:])


def test_pr_curve_and_average_precision_match_sklearn():
    for y, s in [(Y, S), *_random_cases(10)]:
        p, r, t = M.pr_curve(y, s)
        p2, r2, t2 = sk.precision_recall_curve(y, s)
        np.testing.assert_allclose(p, p2)
        np.testing.assert_allclose(r, r2)
        np.testing.assert_allclose(t, t2)
        assert M.average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("thr", [0.3, 0.4, 0.5, 0.75])
def test_binary_report_matches_sklearn(thr):
    pred = (S >= thr).astype(int)
    r = M.binary_report(Y, S, thr)
    assert r["sensitivity"] == pytest.approx(sk.recall_score(Y, pred))
    assert r["specificity"] == pytest.approx(sk.recall_score(1 - Y, 1 - pred))
    assert r["accuracy"] == pytest.approx(sk.accuracy_score(Y, pred))
    assert r["precision"] == pytest.approx(sk.precision_score(Y, pred, zero_division=np.nan))
    assert r["f1"] == pytest.approx(sk.f1_score(Y, pred))
    assert r["confusion_matrix"] == sk.confusion_matrix(Y, pred).tolist()
    assert (r["opa"], r["nopa"], r["oa"]) == (r["sensitivity"], r["specificity"], r["accuracy"])


def test_brier_and_reliability_match_sklearn():
    assert M.brier_score(Y, S) == pytest.approx(sk.brier_score_loss(Y, S))
    bins = M.reliability_bins(Y, S, 5)
    prob_true, prob_pred = calibration_curve(Y, S, n_bins=5, strategy="uniform")
    filled = [b for b in bins if b["count"]]
    np.testing.assert_allclose([b["observed_rate"] for b in filled], prob_true)
    np.testing.assert_allclose([b["mean_predicted"] for b in filled], prob_pred)
    assert sum(b["count"] for b in bins) == Y.size


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights):
    a = np.array([0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 2, 0, 1])
    b = np.array([0, 2, 2, 1, 1, 0, 1, 2, 1, 0, 2, 0, 2])
    assert M.cohen_kappa(a, b, weights=weights) == pytest.approx(
        sk.cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    ka = np.array(["C1", "C2", "C3", "C2", "C1"])
    kb = np.array(["C1", "C3", "C3", "C2", "C2"])
    assert M.cohen_kappa(ka, kb) == pytest.approx(sk.cohen_kappa_score(ka, kb))


def test_multiclass_report():
    a = np.array([0, 1, 2, 2, 1, 0])
    b = np.array([0, 1, 1, 2, 1, 2])
    r = M.multiclass_report(a, b, [0, 1, 2])
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == sk.confusion_matrix(a, b).tolist()
    assert r["per_class"]["2"]["recall"] == pytest.approx(0.5)


def test_bootstrap_ci_brackets_the_auc_and_is_reproducible():
    rng = np.random.default_rng(5)
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    s = rng.normal(0, 1, 100) + 1.0 * y
    a = M.auc(y, s)
    lo, hi = M.auc_bootstrap_ci(y, s, 500, seed=1)
    assert lo < a < hi
    assert 0.05 < hi - lo < 0.4
    assert (lo, hi) == M.auc_bootstrap_ci(y, s, 500, seed=1)


def test_operating_points_ordered_and_meet_targets():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, 300) + 1.5 * (y - 0.5))))
    ops = M.pick_operating_points(y, s, 0.9, 0.9)
    t = [ops[k]["threshold"] for k in ("high_sensitivity", "balanced", "high_specificity")]
    assert t[0] <= t[1] <= t[2]
    assert ops["high_sensitivity"]["sensitivity"] >= 0.9
    assert ops["high_specificity"]["specificity"] >= 0.9
    r = M.binary_report(y, s, ops["high_sensitivity"]["threshold"])
    assert r["sensitivity"] == pytest.approx(ops["high_sensitivity"]["sensitivity"])


def test_operating_point_table_monotone():
    rows = M.operating_point_table(Y, S)
    sens = [r["sensitivity"] for r in rows]
    spec = [r["specificity"] for r in rows]
    assert sens == sorted(sens, reverse=True)
    assert spec == sorted(spec)


def test_spearman_matches_scipy_with_and_without_ties() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(7)
    for n in (3, 5, 24, 60):
        a, b = rng.normal(size=n), rng.normal(size=n)
        a_ties, b_ties = np.round(a), np.round(b * 2) / 2
        for x, y in ((a, b), (a_ties, b_ties), (a, -a + 0.1 * b)):
            ref = spearmanr(x, y).statistic
            got = M.spearman(x, y)
            if np.isnan(ref):
                assert got is None
            else:
                assert got == pytest.approx(ref, abs=1e-12)
    assert M.spearman([1, 2], [2, 1]) is None  # under 3 pairs
    assert M.spearman([1, 1, 1], [1, 2, 3]) is None  # one side constant
    with pytest.raises(ValueError):
        M.spearman([1, 2, 3], [1, 2])


def test_spearman_interval_is_wide_on_few_images_and_contains_the_estimate() -> None:
    lo, hi = M.spearman_ci95(-0.39, 24)  # type: ignore[misc]
    assert lo == pytest.approx(-0.69, abs=0.01) and hi == pytest.approx(0.03, abs=0.02)
    assert lo < -0.5 < hi  # a target of -0.5 is not told apart from -0.39 on 24 images
    lo2, hi2 = M.spearman_ci95(-0.39, 240)  # type: ignore[misc]
    assert lo < lo2 < -0.39 < hi2 < hi
    assert M.spearman_ci95(None, 24) is None and M.spearman_ci95(0.5, 4) is None
    assert M.spearman_ci95(float("nan"), 24) is None


def test_spearman_interval_covers_the_true_coefficient_about_95_percent() -> None:
    rng = np.random.default_rng(0)
    n, hits, trials = 24, 0, 400
    cov = [[1.0, -0.6], [-0.6, 1.0]]
    big = rng.multivariate_normal([0, 0], cov, size=200_000)
    truth = M.spearman(big[:, 0], big[:, 1])
    for _ in range(trials):
        x = rng.multivariate_normal([0, 0], cov, size=n)
        lo, hi = M.spearman_ci95(M.spearman(x[:, 0], x[:, 1]), n)  # type: ignore[misc]
        hits += lo <= truth <= hi  # type: ignore[operator]
    assert 0.90 <= hits / trials <= 0.99
