"""Latency fast paths, round 3: each gives the plain computation's values bit for bit.

- ``imaging.memo``: values several stages derive from the same pixels (the ~640 px working
  copy, the content frame) computed once per screening, the very values computed afresh;
- ``trace._central_dy`` (slices instead of two rolled copies) and ``trace._pool_min`` (one
  ``reduceat`` instead of one ``min`` per node);
- ``band.band_to_image``: one count for both sides, the first side's sums taken as they
  are, and the box cut out of the band's rectangle only;
- ``quality._column_means`` (running sums in place) and ``quality._noise`` (only the
  sampled pixels subtracted).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import band, frame, trace
from dentalosteo_gui.core.anatomy.dentition import DentitionWork
from dentalosteo_gui.core.imaging import memo
from dentalosteo_gui.core.types import RoiBox


def _bits(a: np.ndarray) -> bytes:
    """The exact bytes (so -0.0 differs from 0.0 and NaN payloads count)."""
    return np.ascontiguousarray(a).tobytes()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and _bits(a) == _bits(b)


# ----------------------------------------------------------------------------- memo
def test_memo_outside_a_scope_computes_every_time() -> None:
    calls = []
    a = np.zeros((4, 4), np.float32)
    for _ in range(3):
        memo.memoised(a, ("k",), lambda: calls.append(1) or 7)
    assert len(calls) == 3


def test_memo_inside_a_scope_computes_once_per_array_and_key() -> None:
    calls: list[str] = []
    a = np.zeros((4, 4), np.float32)
    b = a.copy()  # equal values, another array: its own entry

    def make(tag: str) -> int:
        calls.append(tag)
        return len(calls)

    with memo.image_memo():
        assert memo.memoised(a, ("k",), lambda: make("a")) == 1
        assert memo.memoised(a, ("k",), lambda: make("a")) == 1
        assert memo.memoised(b, ("k",), lambda: make("b")) == 2
        assert memo.memoised(a, ("other",), lambda: make("a2")) == 3
        with memo.image_memo():  # nested: the same store
            assert memo.memoised(a, ("k",), lambda: make("a")) == 1
    with memo.image_memo():  # a new screening: nothing kept
        assert memo.memoised(a, ("k",), lambda: make("a")) == 4
    assert calls == ["a", "b", "a2", "a"]


def test_memo_area_resized_is_cv2_resize_and_read_only_in_a_scope() -> None:
    rng = np.random.default_rng(0)
    for h, w, ww, hh in [(130, 300, 64, 28), (97, 211, 50, 23), (64, 64, 64, 64), (80, 700, 640, 73)]:
        img = rng.random((h, w)).astype(np.float32)
        ref = cv2.resize(img, (ww, hh), interpolation=cv2.INTER_AREA)
        assert _same(memo.area_resized(img, ww, hh), ref)
        with memo.image_memo():
            first = memo.area_resized(img, ww, hh)
            assert memo.area_resized(img, ww, hh) is first
            assert _same(first, ref)
            assert not first.flags.writeable
            other = memo.area_resized(img, ww + 1, hh)  # another size: computed
            assert _same(other, cv2.resize(img, (ww + 1, hh), interpolation=cv2.INTER_AREA))


def test_memo_content_bounds_and_working_copies_match_uncached() -> None:
    rng = np.random.default_rng(1)
    img = (0.2 + 0.6 * rng.random((300, 900))).astype(np.float32)
    img[:40] = 0.0  # a black margin: a real content frame
    img[:, -25:] = 0.0
    plain_bounds = frame._content_bounds(img)
    plain_work = trace._working_copy(img)
    plain_prep = DentitionWork(img).prepared()
    with memo.image_memo():
        assert frame.content_bounds(img) == plain_bounds
        assert frame.content_bounds(img) == plain_bounds
        w1, s1 = trace._working_copy(img)
        w2, s2 = trace._working_copy(img)
        assert s1 == s2 == plain_work[1]
        assert _same(w1, plain_work[0]) and _same(w2, plain_work[0])
        w1[0, 0] = 5.0  # the trace's copy stays its own (writable, not the shared array)
        p_img, p_f = DentitionWork(img).prepared()
    assert p_f == plain_prep[1] and _same(p_img, plain_prep[0])
    assert frame.content_bounds(img) == (0, 40, 875, 300)


def test_trace_border_same_inside_and_outside_a_memo_scope() -> None:
    from dentalosteo_gui.core.data.phantoms import generate_phantom

    px = np.asarray(generate_phantom(3).image, dtype=np.float32)
    plain = trace.trace_border(px)
    with memo.image_memo():
        trace.trace_border(px)
        cached = trace.trace_border(px)
    assert (cached.x0, cached.x1, cached.midline_x) == (plain.x0, plain.x1, plain.midline_x)
    assert _same(cached.y, plain.y) and _same(cached.strength, plain.strength)


# ----------------------------------------------------------------------------- trace
def _central_dy_reference(strip: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        gy = -(np.roll(strip, -1, axis=0) - np.roll(strip, 1, axis=0)) * 0.5
    gy[0, :] = 0
    gy[-1, :] = 0
    return gy


def test_central_dy_matches_rolled_reference() -> None:
    rng = np.random.default_rng(2)
    for rows in range(1, 8):
        for cols in (1, 3, 17):
            s = rng.random((rows, cols)).astype(np.float32)
            s[:, 0] = 0.25  # equal neighbours: -(0.0) * 0.5 is -0.0, kept bit for bit
            if cols > 2:
                s[rows // 2, 1] = np.nan
                s[0, 2] = np.inf
            with np.errstate(invalid="ignore"):
                got = trace._central_dy(s)
            assert _same(got, _central_dy_reference(s))
    s = rng.random((200, 300)).astype(np.float32)
    assert _same(trace._central_dy(s), _central_dy_reference(s))


def test_pool_min_matches_min_per_span() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        rows, cols, step = int(rng.integers(0, 20)), int(rng.integers(1, 50)), int(rng.integers(1, 9))
        c = rng.normal(size=(rows, cols))
        if rows and cols > 3:
            c[0, 2] = np.nan
            c[-1, 1] = -np.inf
        ref = np.stack([c[:, i : i + step].min(axis=1) for i in range(0, cols, step)], axis=1)
        assert _same(trace._pool_min(c, step), ref)
    with pytest.raises(ValueError):
        trace._pool_min(np.zeros((3, 0)), 4)


# ----------------------------------------------------------------------------- band
def _band_to_image_reference(values, map_x, map_y, image_shape, box=None):  # type: ignore[no-untyped-def]
    """``band.band_to_image`` as it was: zeros + one bincount per side for the sums and the
    counts, and the box cut by zeroing the whole image outside it."""
    h, w = int(image_shape[0]), int(image_shape[1])
    rows, width = map_x.shape
    v: np.ndarray = np.asarray(values, dtype=np.float32)
    if v.shape != (rows, width):
        v = cv2.resize(v, (width, rows), interpolation=cv2.INTER_LINEAR)
    # accumulate over the bounding rectangle of the band only (not the whole image), on a grid
    # `g` times coarser than the image when the band samples lie >= g px apart (a Grad-CAM map
    # is smooth at that scale), then resize that rectangle to image pixels
    x0 = int(max(0, np.floor(float(map_x.min())) - 1))
    y0 = int(max(0, np.floor(float(map_y.min())) - 1))
    x1 = int(min(w, np.ceil(float(map_x.max())) + 2))
    y1 = int(min(h, np.ceil(float(map_y.max())) + 2))
    out = np.zeros((h, w), dtype=np.float32)
    if x1 <= x0 or y1 <= y0:
        return out
    half = width // 2
    steps = [float(np.median(np.hypot(np.diff(map_x, axis=ax), np.diff(map_y, axis=ax))))
             for ax in (0, 1) if map_x.shape[ax] > 1]
    g = int(np.clip(np.floor(min(steps)) if steps else 1, 1, 4))
    sw, sh = int(np.ceil((x1 - x0) / g)), int(np.ceil((y1 - y0) / g))
    acc = np.zeros(sw * sh, dtype=np.float64)
    cnt = np.zeros(sw * sh, dtype=np.float64)
    for sl in (slice(0, half), slice(half, width)):
        sx: np.ndarray = (map_x[:, sl] - x0) / g
        sy: np.ndarray = (map_y[:, sl] - y0) / g
        sv: np.ndarray = v[:, sl]
        dc = float(np.max(np.hypot(np.diff(sx, axis=1), np.diff(sy, axis=1)))) if sx.shape[1] > 1 else 1.0
        dr = float(np.max(np.hypot(np.diff(sx, axis=0), np.diff(sy, axis=0)))) if sx.shape[0] > 1 else 1.0
        fc = int(min(16, max(1, np.ceil(dc / 0.5))))
        fr = int(min(16, max(1, np.ceil(dr / 0.5))))
        nh, nw = sx.shape[0] * fr, sx.shape[1] * fc
        if (fr, fc) != (1, 1):
            sx = cv2.resize(sx, (nw, nh), interpolation=cv2.INTER_LINEAR)
            sy = cv2.resize(sy, (nw, nh), interpolation=cv2.INTER_LINEAR)
            sv = cv2.resize(sv, (nw, nh), interpolation=cv2.INTER_LINEAR)
        ix = np.rint(sx).astype(np.int64).ravel()
        iy = np.rint(sy).astype(np.int64).ravel()
        ok = (ix >= 0) & (ix < sw) & (iy >= 0) & (iy < sh)
        flat = iy[ok] * sw + ix[ok]
        acc += np.bincount(flat, weights=sv.ravel()[ok].astype(np.float64), minlength=sw * sh)
        cnt += np.bincount(flat, minlength=sw * sh)
    flat_sub = np.zeros(sw * sh, dtype=np.float32)
    nz = cnt > 0
    flat_sub[nz] = (acc[nz] / cnt[nz]).astype(np.float32)
    sub: np.ndarray = flat_sub.reshape(sh, sw)
    if g > 1:  # back to image pixels; outside the band stays zero (nearest-neighbour mask)
        cover = cv2.resize(nz.reshape(sh, sw).astype(np.uint8), (sw * g, sh * g), interpolation=cv2.INTER_NEAREST)
        sub = cv2.resize(sub, (sw * g, sh * g), interpolation=cv2.INTER_LINEAR) * cover
    out[y0:y1, x0:x1] = sub[: y1 - y0, : x1 - x0]
    if box is not None:
        b = box.clipped(w, h)
        out[: b.y] = 0.0
        out[b.y + b.h :] = 0.0
        out[:, : b.x] = 0.0
        out[:, b.x + b.w :] = 0.0
    return out


def test_band_to_image_matches_reference() -> None:
    rng = np.random.default_rng(4)
    h, w = 400, 900
    rows, width = 24, 96
    xs = np.linspace(150, 750, width)
    ys = 260 + 60 * ((xs - 450) / 300) ** 2
    map_x = (xs[None, :] + rng.normal(0, 0.3, (rows, width))).astype(np.float32)
    map_y = (ys[None, :] + np.arange(rows)[:, None] * 2.5 - 30).astype(np.float32)
    values = rng.random((6, 12)).astype(np.float32)
    boxes = [None, RoiBox(200, 230, 500, 120), RoiBox(0, 0, w, h), RoiBox(-50, -40, 300, 200),
             RoiBox(800, 390, 500, 50), RoiBox(300, 0, 10, 10), RoiBox(100, 100, 0, 0)]
    boxes += [RoiBox(int(rng.integers(-100, w)), int(rng.integers(-100, h)), int(rng.integers(0, 1000)),
                     int(rng.integers(0, 500))) for _ in range(40)]
    for box in boxes:
        got = band.band_to_image(values, map_x, map_y, (h, w), box)
        assert _same(got, _band_to_image_reference(values, map_x, map_y, (h, w), box))
    signed = rng.normal(size=(rows, width)).astype(np.float32)  # the strip's own grid, signed values
    signed[3, :5] = -0.0
    for box in boxes[:8]:
        assert _same(band.band_to_image(signed, map_x, map_y, (h, w), box),
                     _band_to_image_reference(signed, map_x, map_y, (h, w), box))
    for scale in (1.0, 2.2, 3.1):  # coarser accumulation grids (g > 1)
        mx, my = map_x * scale, map_y * scale
        shape = (int(h * scale), int(w * scale))
        box = RoiBox(int(180 * scale), int(220 * scale), int(520 * scale), int(140 * scale))
        assert _same(band.band_to_image(values, mx, my, shape, box),
                     _band_to_image_reference(values, mx, my, shape, box))


# ----------------------------------------------------------------------------- quality
def _column_means_reference(pix, xs, y0, y1):  # type: ignore[no-untyped-def]
    lo, hi = int(min(y0.min(), y1.min())), int(max(y0.max(), y1.max()))
    cols = pix[lo:hi, xs].astype(np.float64)
    csum = np.vstack([np.zeros((1, cols.shape[1])), np.cumsum(cols, axis=0)])
    idx = np.arange(xs.size)
    return (csum[y1 - lo, idx] - csum[y0 - lo, idx]) / np.maximum(y1 - y0, 1)


def test_column_means_in_place_cumsum_matches_reference() -> None:
    from dentalosteo_gui.core.anatomy.quality import _column_means

    rng = np.random.default_rng(8)
    for i in range(300):
        h, w = int(rng.integers(2, 150)), int(rng.integers(2, 150))
        pix = rng.random((h, w)).astype(np.float32 if i % 2 else np.float64)
        n = int(rng.integers(1, 40))
        xs = rng.integers(0, w, n)
        y0 = rng.integers(0, h, n)
        y1 = np.minimum(h, y0 + rng.integers(0, 30, n))
        if i % 5 == 0:
            y1 = y0.copy()  # empty spans: divided by 1
        assert _same(_column_means(pix, xs, y0, y1), _column_means_reference(pix, xs, y0, y1))


def test_noise_subtracts_only_the_sampled_pixels_same_value() -> None:
    from dentalosteo_gui.core.anatomy.quality import _noise

    def reference(roi: np.ndarray) -> float:
        hp = (roi - cv2.blur(roi, (3, 3)))[::2, ::2]
        return 1.4826 * 1.06 * float(np.median(np.abs(hp - np.median(hp)))) + 1e-6

    rng = np.random.default_rng(9)
    for i in range(300):
        h, w = int(rng.integers(1, 50)), int(rng.integers(1, 50))
        roi = rng.random((h + 4, w + 6)).astype(np.float32)[2 : 2 + h, 3 : 3 + w]  # a view, as cut
        if i % 4 == 0:
            roi = np.round(roi * 4) / 4  # ties
        assert repr(_noise(roi)) == repr(reference(roi))


# ----------------------------------------------------------------------------- heatmap
def test_clip_unit_in_place_matches_np_clip() -> None:
    from dentalosteo_gui.core.screening.stages import clip_unit_in_place

    rng = np.random.default_rng(11)
    for i in range(300):
        m = rng.normal(0.5, 0.7, (int(rng.integers(1, 40)), int(rng.integers(1, 40)))).astype(np.float32)
        m.flat[:: 5 + i % 3] = np.float32(-0.0)
        m.flat[::11] = np.nan
        m.flat[::13] = np.inf
        m.flat[::17] = -np.inf
        m.flat[::19] = np.float32(1.0)
        want = np.clip(m, 0.0, 1.0)
        got = clip_unit_in_place(m)
        assert got is m
        assert _same(got, want)


def test_memo_area_resized_converts_without_keeping_the_converted_copy() -> None:
    """A conversion (uint8 -> float32) is keyed on the original array: asked twice, computed
    once; the float32 request of a float32 array shares the plain one's entry."""
    rng = np.random.default_rng(5)
    u8 = (rng.random((90, 300)) * 255).astype(np.uint8)
    ref = cv2.resize(u8.astype(np.float32), (64, 20), interpolation=cv2.INTER_AREA)
    with memo.image_memo():
        first = memo.area_resized(u8, 64, 20, np.float32)
        assert _same(first, ref) and memo.area_resized(u8, 64, 20, np.float32) is first
        assert _same(memo.area_resized(u8, 64, 20), cv2.resize(u8, (64, 20), interpolation=cv2.INTER_AREA))
        f32 = u8.astype(np.float32)
        assert memo.area_resized(f32, 64, 20, np.float32) is memo.area_resized(f32, 64, 20)
