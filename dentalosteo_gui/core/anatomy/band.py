"""The cortex band: the inferior mandibular cortex of both sides, straightened into one strip.

Lee et al. (2020) found that the models that worked looked at the left and right lower border
of the mandible, that errors came from the centre (symphysis, spine and hyoid ghosts), and
recommended limiting the ROI to the middle of the left and right lower border. The band does
exactly that, and also takes the border's curvature and position out of the picture (phantoms
and real radiographs differ most there):

- per side, the traced border (``RoiProposal.border_right`` / ``border_left``) is smoothed and
  sampled at ``cols_per_side`` equal arc-length steps between ``window[0]`` and ``window[1]``
  of the ROI half-width from the mandible's midline (the symphysis and the spine ghost over
  it are left out); the window is fixed to the midline, so nudging the box does not move it;
- at each step, ``rows`` samples are taken along the normal from ``inside_mm`` into the
  mandible down to ``outside_mm`` below the border (depth in mm, so the cortex has the same
  size in the strip whatever the detector);
- the two sides are joined left to right as they lie in the image (patient's right: back to
  front; patient's left: front to back), so a horizontal flip is a valid mirror image.

``band_to_image`` takes a map on the strip (e.g. Grad-CAM) back to image pixels.
Pure functions, numpy / OpenCV / scipy only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import AnatomyError
from ..types import RoiBox, RoiProposal


@dataclass(frozen=True)
class BandSpec:
    """Geometry of the straightened cortex strip (stored in a model card's ``input``)."""

    rows: int = 64
    cols_per_side: int = 192
    inside_mm: float = 9.8  # into the mandible from the traced border
    outside_mm: float = 3.0  # below the border (soft tissue)
    window: tuple[float, float] = (0.45, 0.97)  # fraction of the ROI half-width from the midline
    smooth_mm: float = 3.0  # Gaussian sigma of the border before normals are taken

    @property
    def width(self) -> int:
        return 2 * int(self.cols_per_side)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["window"] = list(self.window)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> BandSpec:
        if not d:
            return cls()
        keys = {"rows", "cols_per_side", "inside_mm", "outside_mm", "window", "smooth_mm"}
        kw = {k: v for k, v in d.items() if k in keys}
        if "window" in kw:
            kw["window"] = (float(kw["window"][0]), float(kw["window"][1]))
        return cls(**kw)


@dataclass
class CortexBand:
    """The strip (rows x 2*cols, float32 in the image's intensity units) and, per strip pixel,
    where it was sampled in the image (``map_x``, ``map_y``)."""

    strip: np.ndarray
    map_x: np.ndarray
    map_y: np.ndarray
    box: RoiBox
    spacing_mm: float


def _side_curve(pts: np.ndarray, x_lo: float, x_hi: float, n: int, smooth_px: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points at equal arc length along the smoothed border in [x_lo, x_hi] and their
    upward (into the mandible) unit normals."""
    order = np.argsort(pts[:, 0])
    px, py = pts[order, 0], pts[order, 1]
    keep = np.concatenate([[True], np.diff(px) > 1e-6])
    px, py = px[keep], py[keep]
    sig = max(1.0, smooth_px)
    pad = int(np.ceil(4 * sig))
    xs = np.arange(np.floor(min(px[0], x_lo)) - 1 - pad, np.ceil(max(px[-1], x_hi)) + 2 + pad, 1.0)
    ys = np.interp(xs, px, py)
    # beyond the traced part (a user's box ends where the border still rises towards the angle)
    # the border is continued along its end slope, so smoothing does not flatten it there
    fit = max(4.0, 2 * sig)
    for end in (0, 1):
        sel = (px <= px[0] + fit) if end == 0 else (px >= px[-1] - fit)
        if sel.sum() >= 2:
            k, c = np.polyfit(px[sel], py[sel], 1)
            out = (xs < px[0]) if end == 0 else (xs > px[-1])
            ys[out] = k * xs[out] + c
    ys = gaussian_filter1d(ys, sigma=sig, mode="nearest")
    dys = np.gradient(ys)
    sel = (xs >= x_lo) & (xs <= x_hi)
    xw, yw, dw = xs[sel], ys[sel], dys[sel]
    if xw.size < 2:
        raise AnatomyError("the cortex window is empty: the ROI is too narrow")
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(xw), np.diff(yw)))])
    s = np.linspace(0.0, arc[-1], n)
    xn, yn, dn = np.interp(s, arc, xw), np.interp(s, arc, yw), np.interp(s, arc, dw)
    norm = np.sqrt(1.0 + dn**2)
    normals = np.stack([dn / norm, -1.0 / norm], axis=1)
    return np.stack([xn, yn], axis=1), normals


def midline(proposal: RoiProposal, right: np.ndarray, left: np.ndarray) -> float:
    """Where the two sides meet: the proposal's midline, else the split of its polylines."""
    if proposal.midline_x is not None and np.isfinite(proposal.midline_x):
        return float(proposal.midline_x)
    return 0.5 * (float(right[:, 0].max()) + float(left[:, 0].min()))


def band_geometry(proposal: RoiProposal, spacing_mm: float, spec: BandSpec,
                  pad_rows: int = 0, pad_frac: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Sampling maps (map_x, map_y), shape (rows + 2*pad_rows, 2*cols'), of the band.

    ``pad_rows`` / ``pad_frac`` widen the band (depth rows; fraction of the half-width at
    both ends of each side's window, cols scaled to keep the step) for training-time jitter.
    """
    if not spacing_mm or spacing_mm <= 0 or not np.isfinite(spacing_mm):
        raise AnatomyError("the cortex band needs a pixel spacing")
    right = np.asarray(proposal.border_right, dtype=np.float64).reshape(-1, 2)
    left = np.asarray(proposal.border_left, dtype=np.float64).reshape(-1, 2)
    if right.shape[0] < 4 or left.shape[0] < 4:
        raise AnatomyError("the inferior mandibular border was not found on both sides: "
                           "adjust the box so it holds the lower border of the mandible")
    box = proposal.box
    mid = midline(proposal, right, left)
    half = box.w / 2.0
    lo, hi = spec.window
    w0, w1 = max(0.02, lo - pad_frac), hi + pad_frac
    cols = int(round(spec.cols_per_side * (w1 - w0) / (hi - lo)))
    step_mm = (spec.inside_mm + spec.outside_mm) / (spec.rows - 1)
    t_mm = spec.inside_mm + pad_rows * step_mm - step_mm * np.arange(spec.rows + 2 * pad_rows)
    t_px = t_mm / spacing_mm  # row 0 deepest inside the mandible (image "up")
    smooth_px = spec.smooth_mm / spacing_mm
    mx, my = [], []
    # image-left half (patient's right): x ascending runs from the back to the front
    # The window is fixed relative to the midline, so a box nudged sideways reads the same
    # anatomy; where a window end passes a box edge, the border is continued along its end slope
    # and the map is cut at the box edge (band_to_image).
    for pts, x_lo, x_hi in ((right, mid - w1 * half, mid - w0 * half),
                            (left, mid + w0 * half, mid + w1 * half)):
        base, nrm = _side_curve(pts, x_lo, x_hi, cols, smooth_px)
        mx.append(base[None, :, 0] + nrm[None, :, 0] * t_px[:, None])
        my.append(base[None, :, 1] + nrm[None, :, 1] * t_px[:, None])
    return (np.concatenate(mx, axis=1).astype(np.float32), np.concatenate(my, axis=1).astype(np.float32))


def sample_band(pixels: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """The image sampled at the maps, after a light Gaussian pre-blur against aliasing."""
    img = np.asarray(pixels, dtype=np.float32)
    h, w = img.shape
    # the coarsest sampling step in image pixels decides the anti-alias blur
    step = max(float(np.median(np.hypot(np.diff(map_x, axis=1), np.diff(map_y, axis=1)))),
               float(np.median(np.hypot(np.diff(map_x, axis=0), np.diff(map_y, axis=0)))))
    x0 = int(max(0, np.floor(map_x.min()) - 8))
    y0 = int(max(0, np.floor(map_y.min()) - 8))
    x1 = int(min(w, np.ceil(map_x.max()) + 9))
    y1 = int(min(h, np.ceil(map_y.max()) + 9))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise AnatomyError("the cortex band lies outside the image")
    sub: np.ndarray = img[y0:y1, x0:x1]
    sigma = 0.4 * step
    if sigma > 0.5:
        sub = cv2.GaussianBlur(sub, (0, 0), sigma)
    return cv2.remap(np.ascontiguousarray(sub), (map_x - x0).astype(np.float32),
                     (map_y - y0).astype(np.float32), interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def extract_band(pixels: np.ndarray, proposal: RoiProposal, spacing_mm: float,
                 spec: BandSpec | None = None, pad_rows: int = 0, pad_frac: float = 0.0) -> CortexBand:
    """Straighten the inferior cortex of both sides into one strip (see the module doc)."""
    spec = spec or BandSpec()
    mx, my = band_geometry(proposal, spacing_mm, spec, pad_rows, pad_frac)
    strip = sample_band(pixels, mx, my)
    return CortexBand(strip=strip.astype(np.float32), map_x=mx, map_y=my, box=proposal.box,
                      spacing_mm=float(spacing_mm))


def band_to_image(values: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
                  image_shape: tuple[int, int], box: RoiBox | None = None) -> np.ndarray:
    """Put a map defined on the strip back into image pixels (mean where samples overlap).

    ``values`` may be coarser than the maps (a Grad-CAM grid): it is resized to them first.
    Each side is densified separately (never interpolated across the midline gap) until
    neighbouring samples are at most half a pixel apart, then accumulated per pixel.
    Zero outside the band and, when ``box`` is given, outside the box.
    """
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
    # per side, the weighted sums (added side by side, as into zeros: a bincount never holds
    # -0.0, so 0.0 + it is itself) and the cells hit (integer counts: one bincount for both)
    acc: np.ndarray | None = None
    hits: list[np.ndarray] = []
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
        part = np.bincount(flat, weights=sv.ravel()[ok].astype(np.float64), minlength=sw * sh)
        if acc is None:
            acc = part
        else:
            acc += part
        hits.append(flat)
    assert acc is not None
    cnt = np.bincount(np.concatenate(hits), minlength=sw * sh).astype(np.float64)
    flat_sub = np.zeros(sw * sh, dtype=np.float32)
    nz = cnt > 0
    flat_sub[nz] = (acc[nz] / cnt[nz]).astype(np.float32)
    sub: np.ndarray = flat_sub.reshape(sh, sw)
    if g > 1:  # back to image pixels; outside the band stays zero (nearest-neighbour mask)
        cover = cv2.resize(nz.reshape(sh, sw).astype(np.uint8), (sw * g, sh * g), interpolation=cv2.INTER_NEAREST)
        sub = cv2.resize(sub, (sw * g, sh * g), interpolation=cv2.INTER_LINEAR) * cover
    region = out[y0:y1, x0:x1]
    region[...] = sub[: y1 - y0, : x1 - x0]
    if box is not None:
        # outside the band's rectangle ``out`` is zero already: the box is cut out of the
        # rectangle only (zeros written over the rest of the image would change nothing)
        b = box.clipped(w, h)
        rh, rw = region.shape
        region[: _clamp(b.y - y0, rh)] = 0.0
        region[_clamp(b.y + b.h - y0, rh) :] = 0.0
        region[:, : _clamp(b.x - x0, rw)] = 0.0
        region[:, _clamp(b.x + b.w - x0, rw) :] = 0.0
    return out


def _clamp(i: int, n: int) -> int:
    """``i`` limited to [0, n]: a slice bound that never counts from the end."""
    return min(max(int(i), 0), n)
