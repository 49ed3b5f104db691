"""Texture and density fields of the ``v2`` phantom look, second round (issue 16).

``bench/realism.py`` decomposes the trabecular zone of the cortex strip (5.5-9.8 mm above the
border) into its texture (the zone minus its 0.8 mm blur) and its smooth part. On real
panoramics the texture alone is already matched by a moderately skewed network; what gave
the phantoms away was the smooth part: real bone shows bright, sparse density variations
(denser trabecular bundles, ridges) on a fairly even floor - a positively skewed field -
where the first v2 texture carried symmetric, fractal low-frequency blotches and too little
structure at 0.3-2 mm. The blocks here, pure array functions drawing only from the
generator they are given (sizes in mm, converted with the canvas pixel size):

- :func:`trabecular_texture`: projected plate-and-rod bone. Each of a few superimposed
  layers (the beam crosses the whole bone thickness) is a band-limited random field whose
  excursions above a density-dependent level become plates (a soft threshold: sparse bright
  islands, hence the positive skew) plus the zero-crossing ridges of a second field as rods
  (thin connected lines); over them a coarser network of thin bright trabeculae
  (:func:`trabecular_network`, mesh 2.5-6.5 mm: the structure at 1.7-3.3 mm periods real
  strips show); a faint power-law component gives the fractal tail of the spectrum. Large
  marrow spaces and fewer, thinner plates at lower density.
- :func:`density_mottle`: the smooth density variation of the basal bone, log-normal
  (bright bundles on an even floor), correlated over 0.5-0.9 mm across the border and up to
  3 times that along it (round 3: over several mm it put too much of the trabecular power
  below 0.3 cycles/mm), mean 0, SD 1.

Pure numpy / OpenCV; no Qt, no TensorFlow.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from . import phantom_texture as ptx

LAYERS = (2, 4)  # superimposed trabecular layers per projection (inclusive range)
MOTTLE_SIGMA_MM = (0.5, 0.9)  # density mottle: Gaussian correlation across the border (mm)
MOTTLE_ELONG = (1.5, 3.0)  # and how much longer along it
MOTTLE_LOG_SD = (1.0, 1.4)  # log-normal shape (larger: brighter, sparser bundles)
NET_WEIGHT = 2.0  # the thin-line network relative to one plate-and-rod layer
PLATE_SOFTNESS = (0.25, 0.8)  # soft threshold of the plates (larger: less sparse, less skewed)


def _plates_and_rods(rng: np.random.Generator, tile: tuple[int, int], px_mm: float,
                     density: float) -> np.ndarray:
    """One layer: soft-thresholded plates and zero-crossing rods (unnormalised)."""
    aniso = float(rng.uniform(1.0, 1.4))
    angle = float(rng.uniform(-0.3, 0.3))  # roughly along the border, as in the basal mandible
    cell_mm = float(rng.uniform(0.8, 1.5)) + 0.5 * (1.0 - density)  # marrow spaces
    f0 = px_mm / cell_mm  # cycles per pixel
    g = ptx.spectral_noise(rng, tile, f0, 0.5, aniso, angle)
    level = float(rng.uniform(-0.4, 0.1)) + 0.5 * (1.0 - density)
    soft = float(rng.uniform(*PLATE_SOFTNESS))
    plates = np.logaddexp(0.0, (g - level) / soft) * soft  # softplus: sparse bright islands
    f_rod = px_mm / (float(rng.uniform(0.3, 0.6)) + 0.3 * (1.0 - density))  # finer rod network
    r = ptx.spectral_noise(rng, tile, f_rod, 0.45, aniso, angle)
    line_px = float(rng.uniform(0.1, 0.16) + 0.1 * density) / px_mm
    rods = np.exp(-((r / (2.0 * math.pi * f_rod * line_px)) ** 2))
    w_rods = float(rng.uniform(0.6, 1.2)) * (0.4 + 0.6 * density)
    out: np.ndarray = (plates + w_rods * rods).astype(np.float32)
    return out


def trabecular_network(rng: np.random.Generator, tile: tuple[int, int], px_mm: float,
                       density: float) -> np.ndarray:
    """Connected network of thin bright trabeculae (unnormalised, >= 0): the zero-crossing
    lines of a band-passed field whose period (2.5-5 mm, larger at lower density) sets the
    mesh, drawn at a line width of 0.12-0.25 mm (the distance to the zero-crossing is
    ``|g| / |grad g|``, so every line has the same width however steep the field is there).
    The field is stretched along the basal trajectories (roughly parallel to the border)."""
    period_mm = float(rng.uniform(2.5, 5.0)) + 1.5 * (1.0 - density)
    aniso = float(rng.uniform(1.3, 2.2))
    angle = float(rng.uniform(-0.25, 0.25))
    g = ptx.spectral_noise(rng, tile, px_mm / period_mm, 0.35, aniso, angle)
    gy, gx = np.gradient(g)
    dist = np.abs(g) / (np.hypot(gx, gy) + 1e-6)
    width_px = float(rng.uniform(0.12, 0.25)) / px_mm
    out: np.ndarray = np.exp(-((dist / width_px) ** 2)).astype(np.float32)
    return out


def trabecular_texture(rng: np.random.Generator, shape: tuple[int, int], px_mm: float,
                       density: float) -> np.ndarray:
    """Projected plate-and-rod trabecular bone, mean 0, SD 0.3, positively skewed, drawn on
    a periodic tile (:data:`phantom_texture.TEXTURE_TILE`) and repeated. ``px_mm``: canvas
    pixel size; ``density`` in [0.15, 1] (lower: larger marrow spaces, sparser plates)."""
    tile = (min(shape[0], ptx.TEXTURE_TILE[0]), min(shape[1], ptx.TEXTURE_TILE[1]))
    acc = np.zeros(tile, np.float32)
    for _ in range(int(rng.integers(LAYERS[0], LAYERS[1] + 1))):
        layer = _plates_and_rods(rng, tile, px_mm, density)
        acc += layer / max(float(layer.std()), 1e-6)
    net = trabecular_network(rng, tile, px_mm, density)
    acc += NET_WEIGHT * (0.5 + 0.5 * density) * net / max(float(net.std()), 1e-6)
    # the fractal tail: a faint power-law field, flat beyond 3 mm (no large blotches)
    beta = float(rng.uniform(2.0, 2.8))
    acc += float(rng.uniform(0.5, 1.0)) * ptx.powerlaw_noise(rng, tile, beta, px_mm / 3.0)
    sigma = float(rng.uniform(0.02, 0.05)) / px_mm  # layer superposition smooths the edges
    if sigma > 0.3:
        acc = np.asarray(cv2.GaussianBlur(acc, (0, 0), sigma), dtype=np.float32)
    acc -= float(acc.mean())
    return ptx._tile_to(acc / max(float(acc.std()), 1e-6) * 0.3, shape)


def density_mottle(rng: np.random.Generator, shape: tuple[int, int], px_mm: float) -> np.ndarray:
    """Smooth bone-density variation (mean 0, SD 1, positively skewed: log-normal), correlated
    over :data:`MOTTLE_SIGMA_MM` (Gaussian sigma) across the border and :data:`MOTTLE_ELONG`
    times that along it (bundles run with the basal cortex); ``shape`` / ``px_mm`` of the
    canvas it is drawn on (any resolution: it is smooth)."""
    sigma_px = float(rng.uniform(*MOTTLE_SIGMA_MM)) / px_mm  # Gaussian correlation, not a ring
    elong = float(rng.uniform(*MOTTLE_ELONG))
    g = rng.standard_normal(shape, dtype=np.float32)
    fine = cv2.GaussianBlur(g, (0, 0), sigmaX=sigma_px * elong, sigmaY=sigma_px)
    # band-pass (difference of Gaussians): no density drift over centimetres
    g = np.asarray(fine - cv2.GaussianBlur(g, (0, 0), sigmaX=4.0 * sigma_px * elong, sigmaY=4.0 * sigma_px),
                   dtype=np.float32)
    g /= max(float(g.std()), 1e-6)
    m = np.exp(float(rng.uniform(*MOTTLE_LOG_SD)) * g)
    m -= float(m.mean())
    out: np.ndarray = (m / max(float(m.std()), 1e-6)).astype(np.float32)
    return out


def arch_turn(rng: np.random.Generator, mask: np.ndarray, cx: float) -> np.ndarray:
    """Where the dental arch turns (canine region) the beam runs along the curved anterior
    mandible and crosses more bone: a soft bright band on each side at 10-16 % of the width
    from the midline, strongest in the upper body and fading towards the inferior border
    (``mask``: the mandible on the canvas the band is drawn on)."""
    h, w = mask.shape
    xs = np.arange(w, dtype=np.float32)[None, :]
    out = np.zeros((h, w), np.float32)
    for sign in (-1, 1):
        x_t = cx + sign * float(rng.uniform(0.1, 0.16)) * w
        sigma = float(rng.uniform(0.01, 0.03)) * w
        out += float(rng.uniform(0.0, 0.2)) * np.exp(-0.5 * ((xs - x_t) / sigma) ** 2)
    # fade towards the border: the mask blurred over ~4 % of the height is lower near its edge
    inner = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, 0.04 * h))
    res: np.ndarray = (out * mask * np.clip(inner, 0.0, 1.0) ** 2).astype(np.float32)
    return res


def plate_hump(depth_px: np.ndarray, peak_px: float) -> np.ndarray:
    """Relative extra path through the buccal and lingual cortical plates above the base:
    ``(d / p) * exp(1 - d / p)`` of the depth ``d`` above the border, 0 at the border, 1 at
    ``peak_px`` and fading higher up, where the plates turn vertical and are crossed at
    right angles (the decline of the real mean profile above the cortex)."""
    u = np.asarray(depth_px, dtype=np.float32) / max(peak_px, 1e-3)
    out: np.ndarray = (u * np.exp(1.0 - u)).astype(np.float32)
    return out
