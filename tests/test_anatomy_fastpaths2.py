"""The convex border programme's fast path (minima forward, back-pointers recomputed while
backtracking) and the sliced row shift give the plain code's results exactly."""

from __future__ import annotations

import numpy as np

from dentalosteo_gui.core.anatomy import trace


def test_dp_convex_matches_plain_with_ties() -> None:
    rng = np.random.default_rng(0)
    for i in range(300):
        rows, cols = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        c = rng.integers(0, 4, (rows, cols)).astype(np.float64) * float(rng.choice([1.0, 0.25, 0.1]))
        if i % 7 == 0:
            c = -c
        if i % 5 == 0:
            c = c.astype(np.float32)
        if i % 11 == 0:
            c = rng.random((rows, cols))
        m = int(rng.integers(0, 7))
        args = (m, 0.01 * (i % 2), 6.0 * (i % 3 > 0))
        assert np.array_equal(trace._dp_convex(c, *args), trace._dp_convex_plain(c, *args))


def test_dp_convex_non_finite_takes_plain_path() -> None:
    c = np.random.default_rng(1).random((20, 30))
    c[5, 7] = np.nan
    assert np.array_equal(trace._dp_convex(c, 6, 0.01, 6.0), trace._dp_convex_plain(c, 6, 0.01, 6.0))


def test_shift_rows_matches_index_gather() -> None:
    rng = np.random.default_rng(2)
    for rows in range(1, 9):
        a = rng.random((rows, 5)).astype(np.float32)
        for n in range(-12, 13):
            idx = np.clip(np.arange(rows) - n, 0, rows - 1)
            assert np.array_equal(trace._shift_rows(a, n), a if n == 0 else a[idx])
