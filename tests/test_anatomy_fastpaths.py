"""The anatomy's fast paths give exactly what the plain numpy / scipy calls they replace give."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from dentalosteo_gui.core.anatomy.endosteal import _haar, _median, aligned_strip
from dentalosteo_gui.core.anatomy.frame import _dark_counts
from dentalosteo_gui.core.anatomy.texture import _median_along_rows


def _haar_plain(prof: np.ndarray, a: int) -> np.ndarray:
    n, m = prof.shape
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(prof, axis=1)], axis=1)
    out = np.zeros((n, m))
    if m > 2 * a:
        k = np.arange(a, m - a + 1)
        fit = k < m
        r = (cs[:, k + a] - 2.0 * cs[:, k] + cs[:, k - a]) / a
        out[:, k[fit]] = r[:, : int(fit.sum())]
    return out


def test_fast_paths_are_exact() -> None:
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 17, 60):
        x = rng.normal(size=(7, m))
        for a in (1, 2, 3, 8, 20):
            assert np.array_equal(_haar(x, a), _haar_plain(x, a))
    for shape in ((1, 9), (4, 3), (60, 313), (200, 5)):
        x = np.round(rng.normal(size=shape), 1)  # ties included
        for size in (3, 13):
            assert np.array_equal(_median_along_rows(x, size), median_filter(x, size=(size, 1), mode="nearest"))
    x = rng.normal(size=(20, 30))
    x[3, 4] = np.nan
    assert np.array_equal(_median_along_rows(x, 13), median_filter(x, size=(13, 1), mode="nearest"),
                          equal_nan=True)
    for n in (1, 2, 3, 10, 11, 1000):
        v = np.round(rng.normal(size=n), 2)
        assert _median(v) == float(np.median(v))
        assert _median(v.reshape(-1, 1)[::-1]) == float(np.median(v))
    assert np.isnan(_median(np.array([1.0, np.nan, 2.0])))
    dark = rng.random((37, 53)) < 0.4
    rows, cols = _dark_counts(dark)
    assert np.array_equal(rows, np.count_nonzero(dark, axis=1))
    assert np.array_equal(cols, np.count_nonzero(dark, axis=0))
    rows, cols = _dark_counts(dark[::2, 1::3])
    assert np.array_equal(rows, np.count_nonzero(dark[::2, 1::3], axis=1))
    assert np.array_equal(cols, np.count_nonzero(dark[::2, 1::3], axis=0))
    t = np.arange(-4.5, 14.5 + 1e-9, 0.04)
    prof = rng.normal(size=(9, t.size))
    peri = rng.uniform(-2.0, 2.0, size=9)
    strip, depth = aligned_strip(prof, t, peri, 0.04)
    pos = np.clip((peri[:, None] + depth[None, :] - t[0]) / 0.04, 0.0, t.size - 1.0)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, t.size - 1)
    f = pos - i0
    r = np.arange(9)[:, None]
    assert np.array_equal(strip, prof[r, i0] * (1.0 - f) + prof[r, i1] * f)
