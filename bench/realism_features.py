"""Image statistics for ``bench/realism.py``: what a cortex strip and an ROI box look like.

Every image goes through the product's own code: ``propose_roi`` traces the inferior border
and places the ROI box, ``core.anatomy.band.extract_band`` straightens both sides of the
inferior cortex into the strip the ``compact-band`` model reads (default ``BandSpec``: 64 rows
from 9.8 mm inside the traced border to 3 mm below it). Features are computed per side (one
row per side, grouped by image) on the strip z-scored as the model sees it
(``core.model_input.common.normalise_patch``) and on the ROI box at the image's own pixels.

Depth zones (mm above the traced border, negative below it): trabecular 5.5-9.8, cortex
0.6-2.4, soft tissue -2.8 to -0.6. Fixed mm zones, not the measured MCW, so a poor MCW
measurement cannot bias the comparison; the same tracer cuts real and phantom strips.

The trabecular zone is also split at ``TEXTURE_SIGMA_PX`` (about 0.8 mm in the strip) into
its texture (zone minus blur: ``trab_texture_sd_ratio``, ``trab_texture_skew``) and its smooth
part (``trab_smooth_skew``), plus the share of along-border variation
(``trab_along_border_sd``): these tell whether a mismatch of ``trab_skew`` or of the spectrum
lies in the fine texture or in the density variation over millimetres.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dentalosteo_gui.core.anatomy import measure_cortex, propose_roi  # noqa: E402
from dentalosteo_gui.core.anatomy.band import BandSpec, extract_band  # noqa: E402
from dentalosteo_gui.core.errors import AnatomyError  # noqa: E402
from dentalosteo_gui.core.model_input.common import normalise_patch  # noqa: E402
from dentalosteo_gui.core.types import Radiograph, Spacing  # noqa: E402

SPEC = BandSpec()
TRAB_MM = (5.5, 9.8)
CORTEX_MM = (0.6, 2.4)
SOFT_MM = (-2.8, -0.6)
PROFILE_MM = (-3.0, 9.8)
# frequency bands (cycles/mm) of the trabecular power spectrum in the strip (Nyquist ~2.4)
SPECTRUM_BANDS = ((0.1, 0.3), (0.3, 0.6), (0.6, 1.0), (1.0, 1.6), (1.6, 2.4))
SPECTRUM_BINS = np.linspace(0.05, 2.4, 24)
BOX_SIZE = (96, 480)  # the ROI box resized for its histogram / spectrum (rows, cols)
GREY_BINS = np.linspace(-4.0, 4.0, 41)
TEXTURE_SIGMA_PX = 4.0  # the trabecular texture: the zone minus its blur at this sigma (~0.8 mm)


@dataclass
class ImageStats:
    """Everything measured on one image: per-side feature rows plus curves for the plots."""

    name: str
    ok: bool
    reason: str = ""
    sides: list[dict[str, float]] = field(default_factory=list)
    strip: np.ndarray | None = None  # z-scored strip, for the montage
    box: np.ndarray | None = None  # the ROI box resized to BOX_SIZE, z-scored
    profiles: list[np.ndarray] = field(default_factory=list)  # mean row profile per side
    spectra: list[np.ndarray] = field(default_factory=list)  # trabecular radial spectrum per side
    grey_hist: np.ndarray | None = None  # histogram of the z-scored strip (GREY_BINS)
    confidence: float = 0.0  # propose_roi's confidence
    mcw_mm: tuple[float | None, float | None] = (None, None)  # measure_cortex (right, left)
    truth_mcw_mm: tuple[float | None, float | None] = (None, None)  # labels.csv, when given


def row_depth_mm(spec: BandSpec = SPEC) -> np.ndarray:
    """Depth of each strip row in mm above the traced border (row 0 deepest inside)."""
    step = (spec.inside_mm + spec.outside_mm) / (spec.rows - 1)
    return spec.inside_mm - step * np.arange(spec.rows)


def _zone(depth: np.ndarray, lo_hi: tuple[float, float]) -> np.ndarray:
    return (depth >= lo_hi[0]) & (depth <= lo_hi[1])


def radial_spectrum(patch: np.ndarray, d_row_mm: float, d_col_mm: float,
                    bins: np.ndarray = SPECTRUM_BINS) -> np.ndarray:
    """Radially averaged power spectrum (cycles/mm bins) of a mean-free, Hann-windowed patch."""
    p = patch - patch.mean()
    win = np.outer(np.hanning(p.shape[0]), np.hanning(p.shape[1]))
    power = np.abs(np.fft.fft2(p * win)) ** 2
    fy = np.fft.fftfreq(p.shape[0], d=d_row_mm)[:, None]
    fx = np.fft.fftfreq(p.shape[1], d=d_col_mm)[None, :]
    fr = np.hypot(fy, fx)
    idx = np.digitize(fr.ravel(), bins) - 1
    ok = (idx >= 0) & (idx < len(bins) - 1)
    tot = np.bincount(idx[ok], weights=power.ravel()[ok], minlength=len(bins) - 1)
    cnt = np.bincount(idx[ok], minlength=len(bins) - 1)
    return np.asarray(tot / np.maximum(cnt, 1), dtype=np.float64)


def _spectrum_features(spec_curve: np.ndarray) -> dict[str, float]:
    """Relative power per band (shape, not level) and the log-log slope."""
    centres = 0.5 * (SPECTRUM_BINS[:-1] + SPECTRUM_BINS[1:])
    total = float(spec_curve.sum()) or 1.0
    out: dict[str, float] = {}
    for lo, hi in SPECTRUM_BANDS:
        sel = (centres >= lo) & (centres < hi)
        out[f"trab_power_{lo:g}_{hi:g}"] = float(np.log10(max(spec_curve[sel].sum() / total, 1e-9)))
    ok = spec_curve > 0
    slope = np.polyfit(np.log(centres[ok]), np.log(spec_curve[ok]), 1)[0] if ok.sum() >= 3 else 0.0
    out["trab_spectral_slope"] = float(slope)
    return out


def _crossing(prof: np.ndarray, depth: np.ndarray, level: float, start: int, step: int) -> float:
    """Depth (mm) where ``prof`` first crosses ``level`` walking from row ``start`` by ``step``."""
    i = start
    while 0 <= i + step < len(prof):
        a, b = prof[i], prof[i + step]
        if (a - level) * (b - level) <= 0 and a != b:
            f = (level - a) / (b - a)
            return float(depth[i] + f * (depth[i + step] - depth[i]))
        i += step
    return float(depth[i])


def _profile_features(prof: np.ndarray, depth: np.ndarray) -> dict[str, float]:
    """Border sharpness (10-90 % rise, mm), cortex peak and the endosteal transition width."""
    soft = float(prof[_zone(depth, SOFT_MM)].mean())
    trab = float(prof[_zone(depth, TRAB_MM)].mean())
    inner = _zone(depth, (0.0, 5.0))
    ipk = int(np.flatnonzero(inner)[np.argmax(prof[inner])])
    peak = float(prof[ipk])
    step = max(peak - soft, 1e-6)
    lo = _crossing(prof, depth, soft + 0.1 * step, ipk, +1)
    hi = _crossing(prof, depth, soft + 0.9 * step, ipk, +1)
    fall = max(peak - trab, 1e-6)
    endo = _crossing(prof, depth, trab + 0.5 * fall, ipk, -1)
    grad = np.abs(np.diff(prof)) / max(step, 1e-6)
    return {
        "border_rise_mm": float(hi - lo),
        "border_max_slope": float(grad[_zone(depth[1:], (-1.5, 1.5))].max()),
        "cortex_peak_mm": float(depth[ipk]),
        "cortex_contrast_sd": float(peak - trab),
        "endosteal_halfwidth_mm": float(endo - depth[ipk]),
    }


def side_features(z: np.ndarray, d_col_mm: float, depth: np.ndarray) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Feature row, mean row profile and trabecular spectrum of one z-scored strip side."""
    trab = z[_zone(depth, TRAB_MM)]
    cort = z[_zone(depth, CORTEX_MM)]
    soft = z[_zone(depth, SOFT_MM)]
    t_sd = max(float(trab.std()), 1e-6)
    hp = trab - cv2.GaussianBlur(trab.astype(np.float32), (0, 0), 1.5)
    smooth = cv2.GaussianBlur(trab.astype(np.float32), (0, 0), TEXTURE_SIGMA_PX)
    tex = trab - smooth
    tex_sd = max(float(tex.std()), 1e-6)
    lf_sd = max(float(smooth.std()), 1e-6)
    prof = z.mean(axis=1)
    d_row = float(abs(depth[1] - depth[0]))
    spec_curve = radial_spectrum(trab, d_row, d_col_mm)
    col_cort = cort.mean(axis=0)
    col_soft = soft.mean(axis=0)
    f: dict[str, float] = {
        "cortex_zone_contrast_sd": float(cort.mean() - trab.mean()),
        "cortex_zone_contrast_trab_sd": float((cort.mean() - trab.mean()) / t_sd),
        "soft_below_border_sd": float(soft.mean() - trab.mean()),
        "soft_along_border_var": float(col_soft.std()),
        "soft_gradient_sd": float(soft[-1].mean() - soft[0].mean()),
        "cortex_along_border_var": float(col_cort.std()),
        "cortex_inner_sd": float(cort.std()),
        "trab_sd": t_sd,
        "trab_highpass_ratio": float(hp.std() / t_sd),
        "trab_skew": float(((trab - trab.mean()) ** 3).mean() / t_sd**3),
        "trab_texture_sd_ratio": tex_sd / t_sd,
        "trab_texture_skew": float(((tex - tex.mean()) ** 3).mean() / tex_sd**3),
        "trab_along_border_sd": float(trab.mean(axis=0).std() / t_sd),
        "trab_smooth_skew": float(((smooth - smooth.mean()) ** 3).mean() / lf_sd**3),
    }
    f.update(_spectrum_features(spec_curve))
    f.update(_profile_features(prof, depth))
    return f, prof, spec_curve


def box_features(pixels: np.ndarray, box: tuple[int, int, int, int]) -> tuple[dict[str, float], np.ndarray]:
    """Grey-level shape, noise level and noise colour of the ROI box at the image's pixels."""
    x, y, w, h = box
    sub = np.asarray(pixels[y:y + h, x:x + w], dtype=np.float32)
    rng_ = float(np.percentile(sub, 95) - np.percentile(sub, 5)) or 1e-3
    res = sub - cv2.GaussianBlur(sub, (0, 0), 1.5)
    mad = float(np.median(np.abs(res - np.median(res)))) * 1.4826
    # noise colour: residual power at the top of the band vs the middle (white noise ~1)
    tile = res[: (res.shape[0] // 64) * 64, : (res.shape[1] // 64) * 64]
    ratio = 1.0
    if tile.size:
        blocks = tile.reshape(tile.shape[0] // 64, 64, -1, 64).swapaxes(1, 2).reshape(-1, 64, 64)
        pw = (np.abs(np.fft.fft2(blocks)) ** 2).mean(axis=0)
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij"))
        ratio = float(pw[(f > 0.38)].mean() / max(pw[(f > 0.2) & (f <= 0.3)].mean(), 1e-12))
    small = cv2.resize(sub, (BOX_SIZE[1], BOX_SIZE[0]), interpolation=cv2.INTER_AREA)
    zb = normalise_patch(small)
    q = np.percentile(zb, [5, 25, 50, 75, 95])
    grad = np.hypot(*np.gradient(cv2.GaussianBlur(zb, (0, 0), 1.0)))
    feats = {
        "box_noise_rel": mad / rng_,
        "box_noise_colour": float(np.log10(max(ratio, 1e-6))),
        "box_p05": float(q[0]), "box_p25": float(q[1]), "box_p50": float(q[2]),
        "box_p75": float(q[3]), "box_p95": float(q[4]),
        "box_gradient": float(grad.mean()),
    }
    return feats, zb


def _strip_hist_features(z: np.ndarray) -> dict[str, float]:
    q = np.percentile(z, [5, 25, 50, 75, 95])
    sd = max(float(z.std()), 1e-6)
    return {"strip_p05": float(q[0]), "strip_p25": float(q[1]), "strip_p50": float(q[2]),
            "strip_p75": float(q[3]), "strip_p95": float(q[4]),
            "strip_skew": float(((z - z.mean()) ** 3).mean() / sd**3)}


def measure_image(name: str, rad: Radiograph, spacing_mm: float, cortex: bool = False) -> ImageStats:
    """Trace, cut the strip and the box, and measure both sides (ok=False when no border);
    with ``cortex`` also the product's MCW (``measure_cortex``) per side."""
    prop = propose_roi(rad)
    if not prop.border_right or not prop.border_left:
        return ImageStats(name=name, ok=False, reason="; ".join(prop.reasons) or "no border",
                          confidence=float(prop.confidence))
    try:
        band = extract_band(rad.pixels, prop, spacing_mm, SPEC)
    except AnatomyError as exc:
        return ImageStats(name=name, ok=False, reason=str(exc))
    z = normalise_patch(band.strip)
    depth = row_depth_mm()
    half = z.shape[1] // 2
    bfeat, zb = box_features(rad.pixels, (prop.box.x, prop.box.y, prop.box.w, prop.box.h))
    stats = ImageStats(name=name, ok=True, strip=z, box=zb, confidence=float(prop.confidence),
                       grey_hist=np.histogram(z, GREY_BINS)[0].astype(np.float64))
    if cortex:
        m = measure_cortex(rad, prop, Spacing(float(spacing_mm), "dataset"))
        stats.mcw_mm = (m.right.mcw_mm, m.left.mcw_mm)
    hfeat = _strip_hist_features(z)
    for sl in (slice(0, half), slice(half, z.shape[1])):
        mx, my = band.map_x[:, sl], band.map_y[:, sl]
        d_col = float(np.median(np.hypot(np.diff(mx, axis=1), np.diff(my, axis=1)))) * spacing_mm
        f, prof, spec_curve = side_features(z[:, sl], max(d_col, 1e-3), depth)
        f.update(hfeat)
        f.update(bfeat)
        stats.sides.append(f)
        stats.profiles.append(prof)
        stats.spectra.append(spec_curve)
    return stats
