"""Pure parts of the bundled-model build (no TensorFlow, no phantom drawing)."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.ml.bundle_models import paired_auc_difference, stratified_split


def test_stratified_split_is_disjoint_stratified_and_reproducible():
    y = np.r_[np.zeros(500, int), np.ones(300, int)]
    tr, va, te = stratified_split(y, 2026)
    assert (tr.size, va.size, te.size) == (480, 120, 200)
    assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)
    for part in (tr, va, te):
        assert y[part].mean() == pytest.approx(0.375, abs=0.01)
    again = stratified_split(y, 2026)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))


def test_paired_auc_difference():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    good = y + rng.normal(0, 0.5, 200)
    bad = y + rng.normal(0, 2.0, 200)
    d = paired_auc_difference(y, good, bad, 500, 0)
    assert d["difference"] > 0 and d["ci95"][0] > 0 and d["p_model_not_better"] < 0.05
    same = paired_auc_difference(y, good, good, 200, 0)
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]
