"""core.protocols: the published splits, stratified, with no patient in two parts."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.core.data.protocols import lee2020, loocv, make_splits, split_50_25_25
from dentalosteo_gui.core.errors import ConfigError


def _labels(n_neg: int = 380, n_pos: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]
    return y[rng.permutation(y.size)]


def test_lee2020_as_published():
    y = _labels()  # Lee et al.: 680 images, 380 + 300
    splits = lee2020(y, seed=3)
    assert len(splits) == 5
    test = splits[0].test
    assert test.size == 136
    assert (y[test] == 1).sum() == 68 and (y[test] == 0).sum() == 68  # balanced hold-out
    rest = np.setdiff1d(np.arange(y.size), test)
    vals = np.concatenate([s.val for s in splits])
    assert sorted(vals.tolist()) == rest.tolist()  # the 5 validation folds partition the rest
    for s in splits:
        assert np.array_equal(s.test, test)
        assert not set(s.train) & set(s.val) and not set(s.train) & set(s.test)
        assert s.train.size + s.val.size == rest.size
        assert abs(s.val.size - rest.size / 5) <= 1  # 80 / 20 inside each fold
        assert abs(y[s.val].mean() - y[rest].mean()) < 0.02  # stratified


def test_lee2020_reproducible_and_seed_dependent():
    y = _labels(60, 40)
    a = lee2020(y, seed=1)
    b = lee2020(y, seed=1)
    c = lee2020(y, seed=2)
    assert all(np.array_equal(x.val, z.val) for x, z in zip(a, b, strict=True))
    assert not np.array_equal(a[0].test, c[0].test)


def _patients(y: np.ndarray, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    # 1-4 images per patient, all of the same label
    ids, pid = [], 0
    order = np.argsort(y, kind="stable")
    out = [""] * y.size
    i = 0
    while i < y.size:
        k = int(rng.integers(1, 5))
        grp = [j for j in order[i:i + k] if y[j] == y[order[i]]]
        for j in grp:
            out[j] = f"P{pid:04d}"
        ids.append(pid)
        pid += 1
        i += len(grp)
    return out


@pytest.mark.parametrize("protocol", ["lee2020", "split-50-25-25", "loocv"])
def test_no_patient_in_two_parts(protocol):
    y = _labels(90, 70)
    groups = _patients(y)
    splits = make_splits(protocol, y, groups, seed=4)
    g = np.asarray(groups)
    for s in splits:
        parts = [set(g[s.train]), set(g[s.val]), set(g[s.test])]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert s.train.size + s.val.size + s.test.size == y.size


def test_lee2020_grouped_holdout_roughly_balanced():
    y = _labels(200, 150)
    s = lee2020(y, _patients(y), seed=0)[0]
    n1, n0 = int((y[s.test] == 1).sum()), int((y[s.test] == 0).sum())
    assert abs(n1 - n0) <= 3
    assert abs(s.test.size - 70) <= 6


def test_split_50_25_25_stratified():
    y = _labels(200, 120)
    (s,) = split_50_25_25(y, seed=0)
    assert s.train.size == 160 and s.val.size == 80 and s.test.size == 80
    for part in (s.train, s.val, s.test):
        assert y[part].mean() == pytest.approx(y.mean(), abs=0.01)
    assert sorted(np.concatenate([s.train, s.val, s.test]).tolist()) == list(range(y.size))


def test_loocv_one_case_per_split():
    y = _labels(6, 4)
    splits = loocv(y)
    assert len(splits) == 10
    assert sorted(int(s.test[0]) for s in splits) == list(range(10))
    assert all(s.train.size == 9 and s.val.size == 0 for s in splits)


def test_unknown_protocol_is_a_config_error():
    with pytest.raises(ConfigError, match="lee2020"):
        make_splits("kfold", [0, 1], None)
