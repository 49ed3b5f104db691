"""Building blocks of the ``v2`` phantom look (issue 16: phantoms closer to real radiographs).

``phantoms.py`` orchestrates the generator (draw order, geometry, ground truth); this module
holds the pure array functions the ``v2`` style adds, each drawing only from the generator
it is given. Sizes are in mm (converted with the canvas pixel size) so they hold for any
image size or detector.

- :func:`spectral_noise`, :func:`powerlaw_noise`: white noise shaped in the Fourier domain
  (log-normal ring or power law, anisotropic), the raw material of the textures;
- :func:`trabecular_network`: projected trabecular bone - a fractal field (power-law
  spectrum) made positively skewed (marrow is the floor, bone adds) plus thin bright
  trabeculae (zero-crossing ridges), coupled to density; drawn on a periodic tile;
- :func:`projection_ramp`: the rounded base of the mandible seen tangentially - the path
  length through bone grows from 0 at the border, so the projected intensity rises over a
  few mm instead of jumping, as on real panoramics;
- :func:`ridge_lines`, :func:`ghost_blobs`, :func:`hyoid_ghosts`, :func:`spine_ghost`,
  :func:`opposite_side_ghost`: canal walls and ridges, ghosts of the hyoid and the
  contralateral jaw, the central (spine / symphysis) superimposition;
- :func:`acquire`: the device chain after the exposure - signal-dependent quantum noise
  blurred by the detector (correlated, not white), two-scale unsharp masking as panoramic
  units apply it, and a display LUT.

Pure numpy / OpenCV; no Qt, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


def _aniso_freq(shape: tuple[int, int], aniso: float, angle: float) -> np.ndarray:
    """Radial frequency (cycles/px) of an rfft2 grid, stretched so that ``aniso`` > 1
    elongates structures along ``angle`` (radians from the x axis)."""
    fy = np.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    ca, sa = math.cos(angle), math.sin(angle)
    u = fx * ca + fy * sa  # frequency along the structures' long axis
    v = -fx * sa + fy * ca
    f: np.ndarray = np.sqrt((u * aniso) ** 2 + (v / aniso) ** 2)
    return f


def _filtered(rng: np.random.Generator, shape: tuple[int, int], gain: np.ndarray) -> np.ndarray:
    """White noise filtered by ``gain`` (rfft2 grid; DC removed), scaled to unit SD."""
    spec = np.fft.rfft2(rng.standard_normal(shape, dtype=np.float32))
    gain[0, 0] = 0.0
    out = np.fft.irfft2(spec * gain, s=shape).astype(np.float32)
    return out / (float(out.std()) or 1.0)


def spectral_noise(rng: np.random.Generator, shape: tuple[int, int], f_centre: float,
                   rel_bw: float = 0.6, aniso: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Unit-SD noise whose spectrum is a log-normal ring at ``f_centre`` (cycles/px) of
    relative width ``rel_bw``, optionally anisotropic (see :func:`_aniso_freq`)."""
    f = _aniso_freq(shape, aniso, angle) + 1e-6
    gain = np.exp(-0.5 * (np.log(f / max(f_centre, 1e-4)) / max(rel_bw, 1e-3)) ** 2)
    return _filtered(rng, shape, gain)


def powerlaw_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float, f_lo: float,
                   aniso: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Unit-SD noise with a power spectrum ~ f**-beta above ``f_lo`` (cycles/px), flat below:
    the fractal texture trabecular bone shows on radiographs."""
    f = _aniso_freq(shape, aniso, angle)
    return _filtered(rng, shape, np.maximum(f, f_lo) ** (-beta / 2.0))


SPINE_HALF = (0.09, 0.16)  # half-width of the central column, fraction of the image width
SPINE_STREAK = (0.1, 0.3)  # relative amplitude of its vertical streaks
SPINE_GAIN = (0.15, 0.45)  # its brightness
SPINE_BELOW = (0.05, 0.5)  # its strength below the mandible relative to inside
SPINE_CORE = (0.0, 0.6)  # share of the column's brightness in a narrower central core
SPINE_CORE_WIDTH = (0.25, 0.6)  # the core's Gaussian sigma relative to the column half-width
TEXTURE_TILE = (512, 1024)  # texture is drawn on a periodic tile this size and repeated


def _tile_to(tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Repeat a periodic tile (FFT noise wraps seamlessly) to cover ``shape``; the right half
    of the canvas gets the tile turned by 180 degrees, so the two sides of the jaw never
    show the same texture."""
    h, w = shape
    half = w // 2

    def cover(t: np.ndarray, width: int) -> np.ndarray:
        reps = (-(-h // t.shape[0]), -(-width // t.shape[1]))
        return np.tile(t, reps)[:h, :width]

    return np.ascontiguousarray(np.hstack([cover(tile, half), cover(tile[::-1, ::-1], w - half)]))


def trabecular_network(rng: np.random.Generator, shape: tuple[int, int], px_mm: float,
                       density: float) -> np.ndarray:
    """Projected trabecular bone, SD 0.3, mean 0, drawn on a periodic tile and repeated.

    A fractal (power-law) field, its spectral slope drawn in the range reported for
    radiographic trabecular texture, made positively skewed (bright trabeculae over darker
    marrow: a log-normal transform) plus a network of thin bright trabeculae (zero-crossing
    ridges of band-passed noise, cells of 1-3 mm, lines 0.15-0.4 mm). ``px_mm``: canvas pixel
    size. Lower density: larger marrow spaces, thinner and fainter trabeculae."""
    tile = (min(shape[0], TEXTURE_TILE[0]), min(shape[1], TEXTURE_TILE[1]))
    aniso = float(rng.uniform(1.0, 1.8))
    angle = float(rng.uniform(-0.5, 0.5))  # along the border, as in the basal mandible
    beta = float(rng.uniform(1.4, 2.4))
    field = powerlaw_noise(rng, tile, beta, px_mm / 4.0, aniso, angle)
    field = np.exp(float(rng.uniform(0.3, 0.6)) * field)  # marrow is the floor, bone adds
    cell_mm = float(rng.uniform(1.0, 2.0)) + 1.2 * (1.0 - density)
    f0 = px_mm / (2.0 * cell_mm)  # cycles per pixel (zero crossings every half period)
    line_px = float(rng.uniform(0.15, 0.25) + 0.15 * density) / px_mm
    ridge = spectral_noise(rng, tile, f0, 0.45, aniso, angle)
    rods = np.exp(-((ridge / (2.0 * math.pi * f0 * line_px)) ** 2))
    field = field / max(float(field.std()), 1e-6)
    w_rods = float(rng.uniform(0.2, 0.8)) * (0.4 + 0.6 * density)
    acc = field + w_rods * rods / max(float(rods.std()), 1e-6)
    acc -= float(acc.mean())
    return _tile_to(acc / max(float(acc.std()), 1e-6) * 0.3, shape)


def projection_ramp(depth_px: np.ndarray, radius_px: float, spread_px: float = 0.0,
                    power: float = 0.5) -> np.ndarray:
    """Relative path length through a rounded bone edge at ``depth_px`` inside it: 0 at the
    edge, 1 from ``radius_px`` on; ``power`` 0.5 is the chord of a circle of that radius
    (square-root onset), 1 a flatter base (linear onset). ``spread_px`` blurs the envelope
    (the base is not one line in 3-D and lies partly outside the focal trough), leaving the
    texture it multiplies sharp."""
    d = np.clip(depth_px / max(radius_px, 1e-3), 0.0, 1.0)
    out: np.ndarray = np.power(d * (2.0 - d), power).astype(np.float32)
    return spread(out, spread_px)


def spread(envelope: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of a smooth field (skipped below 0.3 px)."""
    return _blur_large(envelope, sigma_px) if sigma_px > 0.3 else envelope


def ridge_lines(rng: np.random.Generator, shape: tuple[int, int], border_y: np.ndarray,
                x_range: tuple[float, float], mm_px: float, n: int) -> np.ndarray:
    """``n`` faint thin lines roughly parallel to ``border_y`` (per column), 4-14 mm above it,
    each over part of ``x_range``; signed (bright ridges, a few dark), blurred."""
    h, w = shape
    canvas = np.zeros((h, w), np.float32)
    x_lo, x_hi = x_range
    for _ in range(n):
        length = float(rng.uniform(0.2, 0.6)) * (x_hi - x_lo)
        x0 = float(rng.uniform(x_lo, max(x_lo + 1.0, x_hi - length)))
        xs = np.linspace(x0, x0 + length, 24)
        off_mm = float(rng.uniform(4.0, 14.0)) + float(rng.uniform(-3.0, 3.0)) * np.linspace(-1, 1, 24)
        cols = np.clip(xs.astype(int), 0, w - 1)
        ys = border_y[cols] - off_mm / mm_px
        ok = np.isfinite(ys)
        if ok.sum() < 2:
            continue
        pts = np.round(np.c_[xs[ok], ys[ok]] * 16).astype(np.int32).reshape(-1, 1, 2)
        value = float(rng.uniform(0.3, 1.0)) * (1.0 if rng.random() < 0.8 else -0.7)
        thick = max(1, int(round(float(rng.uniform(0.2, 0.6)) / mm_px)))
        cv2.polylines(canvas, [pts], False, value, thickness=thick, lineType=cv2.LINE_AA, shift=4)
    return np.asarray(cv2.GaussianBlur(canvas, (0, 0), max(0.6, 0.25 / mm_px)), dtype=np.float32)


@dataclass(frozen=True)
class Acquisition:
    """Device settings of one v2 phantom (drawn by :func:`draw_acquisition`)."""

    blur_px: float  # detector and layer blur (Gaussian sigma)
    noise: float  # quantum-noise amplitude at full signal
    noise_corr_px: float  # detector blur of the noise (sigma): correlated noise
    usm_large_px: float  # large-kernel unsharp masking (dynamic-range compression)
    usm_large_gain: float
    usm_small_px: float  # edge enhancement
    usm_small_gain: float
    gamma: float
    contrast: float
    offset: float


def draw_acquisition(rng: np.random.Generator, s: float, mm_px: float) -> Acquisition:
    """Random device / processing settings. Blur and edge enhancement are in mm (``mm_px``:
    canvas mm per pixel); the noise correlation is in detector pixels. ``s`` (the size scale
    of the canvas) is kept for callers and no longer used."""
    return Acquisition(
        blur_px=float(rng.uniform(0.02, 0.06)) / mm_px,
        noise=float(rng.uniform(0.002, 0.007)),
        # quanta spread by the scintillator and the pixel aperture: correlated over about
        # half a detector pixel (a detector property, so in pixels, not mm)
        noise_corr_px=float(rng.uniform(0.45, 0.57)),
        usm_large_px=float(rng.uniform(3.0, 8.0)) / mm_px,
        usm_large_gain=float(rng.uniform(0.0, 0.4)),
        usm_small_px=float(rng.uniform(0.08, 0.2)) / mm_px,
        usm_small_gain=float(rng.uniform(0.3, 0.9)),
        gamma=float(rng.uniform(0.8, 1.25)),
        contrast=float(rng.uniform(0.85, 1.15)),
        offset=float(rng.uniform(-0.04, 0.04)),
    )


def _blur_large(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a large sigma, computed on a down-sampled copy (fast, same result
    to within a fraction of a grey level)."""
    h, w = img.shape
    f = max(1, int(sigma // 4))
    if f == 1:
        return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.float32)
    small = cv2.resize(img, (max(2, w // f), max(2, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / f)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)


def unsharp(img: np.ndarray, sigma: float, gain: float) -> np.ndarray:
    """``img + gain * (img - blur(img, sigma))`` (in place on a copy)."""
    out: np.ndarray = img + gain * (img - _blur_large(img, sigma))
    return out


def acquire(rng: np.random.Generator, img: np.ndarray, acq: Acquisition, nf: float = 1.0) -> np.ndarray:
    """Detector -> processing, after the exposure was blurred (``blur_px`` is applied by the
    caller with the focal blur): correlated quantum noise (factor ``nf``), two-scale unsharp
    masking, display LUT; returns the displayed image in [0, 1]."""
    if nf > 0:
        qn = rng.standard_normal(img.shape, dtype=np.float32)
        if acq.noise_corr_px > 0.1:
            qn = np.asarray(cv2.GaussianBlur(qn, (0, 0), acq.noise_corr_px), dtype=np.float32)
        qn /= float(qn.std()) or 1.0
        img += (nf * acq.noise) * np.sqrt(np.clip(img, 0.02, 1.0)) * qn
    img = unsharp(img, acq.usm_large_px, acq.usm_large_gain)
    img = unsharp(img, acq.usm_small_px, acq.usm_small_gain)
    img = (img - 0.5) * acq.contrast + 0.5 + acq.offset
    np.clip(img, 0.0, 1.0, out=img)
    img **= acq.gamma
    return img


def _smooth_edge(x: np.ndarray, half: float, soft: float) -> np.ndarray:
    """1 inside |x| < half, 0 outside, with a smoothstep of width ``soft`` at the edges."""
    t = np.clip((half + soft / 2.0 - np.abs(x)) / max(soft, 1e-6), 0.0, 1.0)
    out: np.ndarray = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return out


def spine_ghost(rng: np.random.Generator, mask: np.ndarray, cx: float,
                rng_core: np.random.Generator | None = None) -> np.ndarray:
    """The central superimposition panoramic units show over the symphysis (cervical spine,
    both halves of the anterior mandible): a broad bright column (a fifth to a third of the
    width) with steep sides, vertical streaks and faint vertebral banding, strongest inside
    the mandible (``mask``, canvas pixels) and fainter below it. With ``rng_core`` (its own
    stream, so the other draws stay put) the column is not a flat plateau: a narrower
    brighter core (the vertebral bodies and the symphysis seen end-on) over dimmer shoulders,
    :data:`SPINE_CORE` (share of the brightness in the core) and :data:`SPINE_CORE_WIDTH`."""
    h, w = mask.shape
    xs = np.arange(w, dtype=np.float32)[None, :] - (cx + float(rng.normal(0.0, 0.01)) * w)
    half = float(rng.uniform(*SPINE_HALF)) * w
    column = _smooth_edge(xs, half, float(rng.uniform(0.01, 0.04)) * w)
    if rng_core is not None:
        share = float(rng_core.uniform(*SPINE_CORE))
        core_w = float(rng_core.uniform(*SPINE_CORE_WIDTH)) * half
        core = np.exp(-0.5 * ((xs - float(rng_core.normal(0.0, 0.15)) * half) / core_w) ** 2)
        column = column * ((1.0 - share) + 2.0 * share * core)
    # vertebral bodies / symphysis edges: vertical streaks across the column
    streak = np.asarray(cv2.GaussianBlur(rng.standard_normal((1, w)).astype(np.float32), (0, 0),
                                         max(1.0, 0.006 * w)), dtype=np.float32)
    streak /= max(float(streak.std()), 1e-6)
    column = column * np.clip(1.0 + float(rng.uniform(*SPINE_STREAK)) * streak, 0.3, 2.0)
    ys = np.arange(h, dtype=np.float32)[:, None]
    period = float(rng.uniform(0.12, 0.17)) * h
    phase = float(rng.uniform(0.0, 2 * math.pi))
    bands = 0.85 + 0.15 * np.cos(2 * math.pi * ys / period + phase)
    fade = np.clip((ys / h - 0.25) / 0.35, 0.0, 1.0)
    below = float(rng.uniform(*SPINE_BELOW))
    inside = np.clip(mask + below * (1.0 - mask), 0.0, 1.0)
    out: np.ndarray = (float(rng.uniform(*SPINE_GAIN)) * column * bands * fade * inside).astype(np.float32)
    return out


def opposite_side_ghost(rng: np.random.Generator, mask: np.ndarray, cx: float) -> np.ndarray:
    """The contralateral mandible projected onto this side: the mask mirrored about the
    midline, raised, widened and heavily blurred (canvas pixels)."""
    h, w = mask.shape
    lift = float(rng.uniform(0.08, 0.22)) * h
    stretch = float(rng.uniform(1.0, 1.25))
    m = np.array([[-stretch, 0.0, cx * (1.0 + stretch)], [0.0, 1.0, -lift]], dtype=np.float64)
    ghost = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    edge = np.abs(cv2.Laplacian(ghost, cv2.CV_32F, ksize=3))
    ghost = 0.5 * ghost + 2.0 * edge  # the ghost's borders show more than its body
    ghost = cv2.GaussianBlur(ghost, (0, 0), float(rng.uniform(0.006, 0.015)) * w)
    out: np.ndarray = (float(rng.uniform(0.0, 0.06)) * ghost).astype(np.float32)
    return out


def hyoid_ghosts(rng: np.random.Generator, shape: tuple[int, int], cx: float,
                 border_y: np.ndarray) -> np.ndarray:
    """Hyoid body / greater horns and their ghosts near the inferior border (canvas pixels):
    elongated bright outlines, blurred, on one or both sides, sometimes none."""
    h, w = shape
    canvas = np.zeros((h, w), np.float32)
    for sign in (-1, 1):
        if rng.random() < 0.3:
            continue
        x = cx + sign * float(rng.uniform(0.1, 0.3)) * w
        col = int(np.clip(x, 0, w - 1))
        y = (border_y[col] if np.isfinite(border_y[col]) else 0.9 * h) + float(rng.uniform(0.03, 0.1)) * h
        axes = (int(float(rng.uniform(0.025, 0.06)) * w), max(1, int(float(rng.uniform(0.006, 0.016)) * h)))
        ang = float(rng.uniform(-25.0, 25.0))
        cv2.ellipse(canvas, (int(x), int(y)), axes, ang, 0, 360, float(rng.uniform(0.4, 1.0)),
                    max(1, axes[1] // 2), cv2.LINE_AA)
        cv2.ellipse(canvas, (int(x), int(y)), axes, ang, 0, 360, 0.3, -1, cv2.LINE_AA)
    blur = float(rng.uniform(0.002, 0.006)) * w
    out: np.ndarray = (float(rng.uniform(0.03, 0.1)) * cv2.GaussianBlur(canvas, (0, 0), blur)).astype(np.float32)
    return out


def ghost_blobs(rng: np.random.Generator, shape: tuple[int, int], cx: float,
                border_y: np.ndarray, mm_px: float) -> np.ndarray:
    """Soft elongated shadows over the lower mandible, mostly bright (ghosts of the
    contralateral angle and hyoid, the tongue, the soft palate), 0-15 mm above the border,
    canvas pixels of ``mm_px``."""
    h, w = shape
    canvas = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 5))):
        x = cx + (1 if rng.random() < 0.5 else -1) * float(rng.uniform(0.08, 0.36)) * w
        col = int(np.clip(x, 0, w - 1))
        if not np.isfinite(border_y[col]):
            continue
        y = border_y[col] - float(rng.uniform(-2.0, 15.0)) / mm_px
        axes = (max(1, int(float(rng.uniform(3.0, 14.0)) / mm_px)), max(1, int(float(rng.uniform(1.0, 5.0)) / mm_px)))
        value = float(rng.uniform(0.3, 1.0)) * (1.0 if rng.random() < 0.8 else -0.6)
        # a filled shadow, or the bright outline of a ghosted bone edge (an arc)
        outline = rng.random() < 0.5
        thick = -1 if not outline else max(1, int(round(float(rng.uniform(0.2, 0.6)) / mm_px)))
        start = float(rng.uniform(0.0, 360.0))
        span = 360.0 if not outline else float(rng.uniform(60.0, 240.0))
        cv2.ellipse(canvas, (int(x), int(y)), axes, float(rng.uniform(-30.0, 30.0)), start, start + span,
                    value * (2.0 if outline else 1.0), thick, cv2.LINE_AA)
    sigma = max(0.5, float(rng.uniform(0.3, 2.0)) / mm_px)
    out: np.ndarray = (float(rng.uniform(0.02, 0.08)) * cv2.GaussianBlur(canvas, (0, 0), sigma)).astype(np.float32)
    return out
