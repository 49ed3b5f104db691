"""Synthetic dental panoramic radiographs ("phantoms") with known ground truth.

No public panoramic set carries osteoporosis labels, so the product trains its bundled model,
tests ROI proposal and cortex measurement, and demonstrates itself on phantoms drawn here.
Every phantom is a full panoramic radiograph (about 2600-3100 x 1150-1400 px) with a
U-shaped mandible, rami, condyles and coronoids, maxilla, teeth, cervical-spine and hyoid
ghosts, airway shadows and a burned-in side marker, followed by acquisition effects
(contrast, gamma, blur, quantum noise, slight rotation/scale/offset).

The key structure is the inferior mandibular cortex: a bright band along the lower border
whose width at the mental foramen IS the ground-truth mandibular cortical width (MCW) per
side, and whose endosteal margin follows the Klemetti class (C1 even and sharp, C2
semilunar lacunae and endosteal residues, C3 heavy residues and a porous cortex).

Label model (see :func:`draw_clinical`): the T-score is drawn from a two-component mixture
(osteoporosis prevalence about 36 %); the mean MCW and the Klemetti class are drawn
conditional on it with realistic overlap, so a perfect MCW reader reaches an AUC of about
0.89, not 1. ``label = 1`` iff ``t_score < -2.5`` (WHO).

Two looks share the geometry, the label model and the ground truth (``style``):

- ``v1`` (the original; :func:`generate_phantom`'s default so existing callers, the shipped
  samples and model caches stay byte-identical): a crisp bright cortex on smooth bone;
- ``v2`` (issue 16; the default of new phantom folders, :data:`DEFAULT_STYLE`): built to be
  hard to tell from real panoramics in the cortex strip - the rounded base projected with a
  blurred penumbra and a double contour (body, cortical shell and the obliquely seen
  buccal / lingual plates each with their own projection envelope, so the intensity rises
  over about 3 mm and peaks near 3-4 mm as on real images), a cortex about as far above
  the trabecular bone as on real images with wider, softened endosteal transitions,
  plate-and-rod trabecular texture with a log-normal density mottle (positively skewed, as
  measured on real strips), an eroded C2/C3 cortex drawn as real thinned cortices look
  (wide shallow resorption bays whose eaten inner cortex stays at reduced density with
  lamellae and fine pores, a crisp margin at the truth depth, no dark gap above it; see
  :func:`_eroded_band_v2`), ghosts (central spine / symphysis superimposition, the arch
  turn, contralateral jaw, hyoid below the border), ridge lines, extra positioning
  variation, partly edentulous and edentulous jaws with implants, and a device chain
  (scintillator-correlated noise, two-scale unsharp masking, display LUT). Its extra
  choices come from a second generator, so v1's draw order is untouched. The pure building
  blocks live in ``phantom_texture.py`` and ``phantom_realism.py``; the v2 orchestration
  stays here because it interleaves with the v1 stages and their draws.
  ``bench/realism.py`` measures how far either look is from real images (docs/models.md).

Coordinates are original-image pixels (x right, y down). Left/right are the PATIENT's
sides: the patient's right is the image-LEFT half. Pure numpy/OpenCV; deterministic for a
given seed. No Qt, no TensorFlow.

Size: this module is deliberately over the usual 600-line limit. The generator is a chain of
small stage functions that share private geometry types and draw from ONE random generator
in a fixed order (moving a stage elsewhere invites reordering, which silently changes every
phantom), so the whole generator stays in this one file (the v2 building blocks in
``phantom_texture.py`` and ``phantom_realism.py`` are part of it too: ``ml/bundle_models.py``
keys its phantom caches on :func:`generator_fingerprint` and the style).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, DatasetError
from ..types import KLEMETTI_CLASSES, LANDMARK_NAMES, RoiBox
from . import phantom_realism as prl
from . import phantom_texture as ptx

log = logging.getLogger(__name__)

Point = tuple[float, float]

# Lee et al. 2020: every DPR resized to 1200 x 630; ROI is a 700 x 140 box on that image.
LEE_RESIZED = (1200, 630)
LEE_ROI = (700, 140)

OSTEOPOROSIS_T = -2.5
BORDER_STEP_PX = 5.0

# Mixture for the T-score of a dental-screening population (women ~50-80 y): a
# "normal/osteopenic" and an "osteoporotic" component; prevalence of T < -2.5 ~ 36 %.
T_MIXTURE = ((0.55, -1.2, 1.0), (0.45, -2.9, 0.85))
# mean MCW (mm) = MCW_INTERCEPT + MCW_SLOPE * T + N(0, MCW_SD); per side + N(0, MCW_SIDE_SD)
MCW_INTERCEPT = 4.4
MCW_SLOPE = 0.5
MCW_SD = 0.45
MCW_SIDE_SD = 0.2
MCW_RANGE = (1.6, 5.8)
# Klemetti: latent z = -T + N(0, 1); C1 if z < 1.3, C2 if z < 3.0, else C3.
KLEMETTI_CUTS = (1.3, 3.0)


@dataclass
class PhantomTruth:
    """Ground truth of one phantom, in original-image pixels of the written file."""

    t_score: float
    label: int  # 1 if t_score < -2.5
    klemetti: str  # "C1" | "C2" | "C3"
    mcw_right_mm: float  # patient's right = image-left
    mcw_left_mm: float
    pixel_spacing_mm: float
    roi: RoiBox  # Lee-2020 ROI
    landmarks: dict[str, Point]
    border_right: list[Point]  # periosteal inferior border, image-left half, every ~5 px
    border_left: list[Point]
    endosteal_right: list[Point]
    endosteal_left: list[Point]
    mental_foramen_right: Point
    mental_foramen_left: Point
    bit_depth: int = 8
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def mcw_mean_mm(self) -> float:
        return 0.5 * (self.mcw_right_mm + self.mcw_left_mm)

    def csv_row(self, file: str) -> dict[str, Any]:
        """One labels.csv row (dataset format) for this truth."""
        row: dict[str, Any] = {
            "file": file,
            "label": int(self.label),
            "t_score": round(float(self.t_score), 3),
            "klemetti": self.klemetti,
            "mcw_left_mm": round(float(self.mcw_left_mm), 3),
            "mcw_right_mm": round(float(self.mcw_right_mm), 3),
            "pixel_spacing_mm": round(float(self.pixel_spacing_mm), 5),
            "roi_x": int(self.roi.x),
            "roi_y": int(self.roi.y),
            "roi_w": int(self.roi.w),
            "roi_h": int(self.roi.h),
        }
        for name in LANDMARK_NAMES:
            x, y = self.landmarks[name]
            row[f"lm_{name}_x"] = round(float(x), 1)
            row[f"lm_{name}_y"] = round(float(y), 1)
        return row


@dataclass
class PhantomCase:
    image: np.ndarray  # uint8 or uint16 (as written to disk), 2-D
    truth: PhantomTruth


# ----------------------------------------------------------------------------- labels


def draw_t_score(rng: np.random.Generator) -> float:
    """T-score from the screening-population mixture, clipped to [-5, 2.5]."""
    u = rng.random()
    acc = 0.0
    for w, mu, sd in T_MIXTURE:
        acc += w
        if u <= acc:
            return float(np.clip(rng.normal(mu, sd), -5.0, 2.5))
    w, mu, sd = T_MIXTURE[-1]
    return float(np.clip(rng.normal(mu, sd), -5.0, 2.5))


def draw_clinical(
    rng: np.random.Generator, t_score: float | None = None, klemetti: str | None = None
) -> tuple[float, str, float, float]:
    """Draw (t_score, klemetti, mcw_right_mm, mcw_left_mm) from the label model.

    When ``klemetti`` is forced, the T-score is drawn from its conditional distribution
    (rejection sampling), so a forced C3 is usually osteoporotic, as in the clinic.
    """
    if klemetti is not None and klemetti not in KLEMETTI_CLASSES:
        raise ConfigError(f"klemetti must be one of {', '.join(KLEMETTI_CLASSES)}, not {klemetti!r}")
    for _ in range(1000):
        t = draw_t_score(rng) if t_score is None else float(t_score)
        z = -t + rng.normal(0.0, 1.0)
        k = KLEMETTI_CLASSES[int(np.digitize(z, KLEMETTI_CUTS))]
        if klemetti is None or k == klemetti:
            break
    else:  # forced class impossible for a forced T-score: keep the T-score, force the class
        k = klemetti  # type: ignore[assignment]
    mean = MCW_INTERCEPT + MCW_SLOPE * t + rng.normal(0.0, MCW_SD)
    right = float(np.clip(mean + rng.normal(0.0, MCW_SIDE_SD), *MCW_RANGE))
    left = float(np.clip(mean + rng.normal(0.0, MCW_SIDE_SD), *MCW_RANGE))
    return t, k, right, left


# ----------------------------------------------------------------------------- helpers


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float | tuple[float, float],
           out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Smoothed white noise with unit standard deviation (optionally resized)."""
    n: np.ndarray = rng.standard_normal(shape, dtype=np.float32)
    sx, sy = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
    if sx > 0 or sy > 0:
        n = cv2.GaussianBlur(n, (0, 0), sigmaX=max(sx, 0.1), sigmaY=max(sy, 0.1),
                             borderType=cv2.BORDER_REFLECT)
    sd = float(n.std()) or 1.0
    n /= sd
    if out_shape is not None and (out_shape[0] != shape[0] or out_shape[1] != shape[1]):
        n = cv2.resize(n, (out_shape[1], out_shape[0]), interpolation=cv2.INTER_LINEAR)
    return n


def _blob(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, value: float,
          angle: float = 0.0) -> None:
    """Add a soft elliptic Gaussian blob (in place, bounded window)."""
    h, w = img.shape
    r = 3.0 * max(rx, ry)
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 1)
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ca, sa = math.cos(angle), math.sin(angle)
    dx, dy = xx - cx, yy - cy
    u = (ca * dx + sa * dy) / max(rx, 1e-3)
    v = (-sa * dx + ca * dy) / max(ry, 1e-3)
    img[y0:y1, x0:x1] += value * np.exp(-0.5 * (u * u + v * v))


def _poly(pts: list[Point] | np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, dtype=np.float64) * 16.0).astype(np.int32).reshape(-1, 1, 2)


def _fill(img: np.ndarray, pts: list[Point] | np.ndarray, value: float) -> None:
    cv2.fillPoly(img, [_poly(pts)], float(value), lineType=cv2.LINE_AA, shift=4)


def _resample(pts: np.ndarray, step: float) -> np.ndarray:
    """Resample a polyline at constant arc-length step."""
    d = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    n = max(2, int(d[-1] // step) + 1)
    s = np.linspace(0.0, d[-1], n)
    return np.c_[np.interp(s, d, pts[:, 0]), np.interp(s, d, pts[:, 1])]


def _normals_up(pts: np.ndarray) -> np.ndarray:
    """Unit normals of a polyline, oriented towards -y (into the mandible for the lower border)."""
    t = np.gradient(pts, axis=0)
    t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    n = np.c_[t[:, 1], -t[:, 0]]
    flip = n[:, 1] > 0
    n[flip] *= -1
    return n



def _chaikin(pts: np.ndarray, iterations: int) -> np.ndarray:
    """Corner-cutting smoothing of an open polyline (end points kept)."""
    p = np.asarray(pts, dtype=np.float64)
    for _ in range(iterations):
        q = 0.75 * p[:-1] + 0.25 * p[1:]
        r = 0.25 * p[:-1] + 0.75 * p[1:]
        mid = np.empty((2 * len(q), 2))
        mid[0::2] = q
        mid[1::2] = r
        p = np.vstack([p[:1], mid, p[-1:]])
    return p


# tooth widths as a fraction of the image width, incisor -> third molar (panoramic view)
_TOOTH_WIDTHS = (0.027, 0.026, 0.031, 0.035, 0.035, 0.052, 0.05, 0.047)
_TEETH_SCALE = 2.0  # the teeth are drawn on a canvas this many times smaller than the image


@dataclass
class _Dentition:
    """What every tooth of one phantom shares, and the half-resolution canvas they go on."""

    W: int
    H: int
    cx: float
    y_occ: Callable[[Any], Any]
    missing_p: float  # probability that a tooth is missing
    bite: float  # bite-block gap between the arches (px)
    canvas: np.ndarray
    state: DentalState | None = None  # v2: dentition drawn by the style (None: v1)


@dataclass(frozen=True)
class DentalState:
    """Dentition of a v2 phantom: tooth-loss probability (1 = edentulous) and the probability
    that a missing lower tooth was replaced by an implant (metal)."""

    missing_p: float
    implant_p: float = 0.0


@dataclass
class _Tooth:
    """One tooth's frame: crown and roots are drawn relative to its cemento-enamel junction."""

    i: int  # 0 central incisor ... 7 third molar
    arch: int  # 1 = lower (crowns point up), -1 = upper
    xc: float
    y0: float  # occlusal surface
    y1: float  # cemento-enamel junction
    hw: float  # half the crown width
    crown_h: float
    root_l: float
    k: float  # density / projection
    pw: float  # crown-shape exponent: flat incisal edge, pointed canine
    ct: float  # cos / sin of the tooth's tilt
    st: float

    def rp(self, px: float, py: float) -> tuple[float, float]:
        """Tilt a point about the crown's base and map it onto the half-resolution canvas."""
        dx, dy = px - self.xc, py - self.y1
        return ((self.xc + self.ct * dx - self.st * dy) / _TEETH_SCALE,
                (self.y1 + self.st * dx + self.ct * dy) / _TEETH_SCALE)


def _draw_teeth(rng: np.random.Generator, W: int, H: int, cx: float,
                y_occ: Callable[[Any], Any], s: float,
                state: DentalState | None = None) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Both dental arches on a half-resolution canvas (display units, to be added).

    Returns the canvas, the x of each side's maxillary tuberosity (behind the last upper
    molar) and the x of each side's second lower premolar. ``state`` (v2) overrides the
    drawn tooth-loss probability and adds implants.
    """
    h2, w2 = max(8, int(round(H / _TEETH_SCALE))), max(8, int(round(W / _TEETH_SCALE)))
    canvas: np.ndarray = np.zeros((h2, w2), np.float32)
    missing_p = 0.04 + 0.1 * float(rng.random())
    if state is not None:
        missing_p = state.missing_p
    bite = float(rng.uniform(0.0, 0.014)) * H
    dent = _Dentition(W=W, H=H, cx=cx, y_occ=y_occ, missing_p=missing_p, bite=bite, canvas=canvas,
                      state=state)
    premolar_x: dict[str, float] = {}
    tuber_x: dict[str, float] = {}
    for arch in (1, -1):  # 1 = lower (crowns point up), -1 = upper
        for sign in (-1, 1):
            side = "right" if sign < 0 else "left"
            last_x, premolar = _draw_quadrant(rng, dent, arch, sign)
            if arch == 1:
                premolar_x[side] = premolar
            else:
                tuber_x[side] = last_x + sign * 0.02 * W
    teeth = cv2.GaussianBlur(dent.canvas, (0, 0), 1.6 * s / _TEETH_SCALE + 0.4)
    return teeth, tuber_x, premolar_x


def _draw_quadrant(rng: np.random.Generator, dent: _Dentition, arch: int, sign: int) -> tuple[float, float]:
    """One quadrant, central incisor to third molar.

    Returns the x just behind the last tooth present and the x of the second premolar.
    """
    x = dent.cx + sign * 0.003 * dent.W
    last_x = x
    premolar = x
    for i, wf in enumerate(_TOOTH_WIDTHS):
        tw = wf * dent.W * float(rng.uniform(0.93, 1.05))
        xc_t = x + sign * tw / 2
        x += sign * tw * float(rng.uniform(0.97, 1.04))
        if i == 4:
            premolar = xc_t
        if rng.random() < dent.missing_p or (i == 7 and rng.random() < 0.45):
            if dent.state is not None:
                if i == 6 and (last_x - x) * sign < 0:  # the tuberosity stays behind the
                    last_x = x  # second molar's place in a (partly) edentulous jaw
                if arch == 1 and 2 <= i <= 6 and rng.random() < dent.state.implant_p:
                    _draw_implant(rng, dent, _place_tooth(rng, dent, i, arch, sign, xc_t, tw))
            continue
        last_x = x
        tooth = _place_tooth(rng, dent, i, arch, sign, xc_t, tw)
        _draw_roots(dent.canvas, tooth)
        _draw_crown(dent.canvas, tooth, dent.H)
        if i >= 3 and rng.random() < 0.15:  # metal restoration
            _draw_restoration(rng, dent.canvas, tooth)
    return last_x, premolar


def _place_tooth(rng: np.random.Generator, dent: _Dentition, i: int, arch: int, sign: int,
                 xc: float, tw: float) -> _Tooth:
    """Size, density and tilt of tooth ``i`` centred at ``xc`` with width ``tw``."""
    H = dent.H
    yo = float(dent.y_occ(xc))
    crown_h = (0.095 if i < 3 else 0.085) * H * float(rng.uniform(0.9, 1.1))
    if arch == -1 and i < 2:
        crown_h *= 1.15  # long upper incisors
    k = float(rng.uniform(0.85, 1.1))  # per-tooth density / projection
    pw = 0.35 if i < 2 else (2.0 if i == 2 else 0.8)  # flat incisal edge, pointed canine
    root_l = (0.22 if i == 2 else 0.18 if i < 5 else 0.16) * H * float(rng.uniform(0.9, 1.1))
    if arch == -1:
        root_l *= 0.85
    tilt = float(rng.normal(0.0, 0.04)) + sign * arch * 0.05 * i / 7
    y0 = yo + arch * (0.004 * H + 0.5 * dent.bite)  # occlusal surface
    y1 = y0 + arch * crown_h  # cemento-enamel junction
    return _Tooth(i=i, arch=arch, xc=xc, y0=y0, y1=y1, hw=tw * 0.46, crown_h=crown_h,
                  root_l=root_l, k=k, pw=pw, ct=math.cos(tilt), st=math.sin(tilt))


def _draw_roots(canvas: np.ndarray, t: _Tooth) -> None:
    """One root (two for molars), tapering towards the apex, with its root canal."""
    n_roots = 2 if t.i >= 5 else 1
    for r_i in range(n_roots):
        off = (r_i - (n_roots - 1) / 2) * t.hw * 0.85
        rw = t.hw * (0.72 if n_roots == 1 else 0.45)
        ys = np.linspace(0.0, 1.0, 7)
        taper = rw * (1.0 - 0.75 * ys**1.5)
        xo = off * (1.0 + 0.3 * ys)
        yv = t.y1 + t.arch * t.root_l * ys
        outline = [t.rp(t.xc + xo[j] - taper[j], yv[j]) for j in range(7)]
        outline += [t.rp(t.xc + xo[j] + taper[j], yv[j]) for j in range(6, -1, -1)]
        _fill(canvas, outline, 0.15 * t.k)
        canal_pts = [t.rp(t.xc + xo[j] - 0.22 * taper[j], yv[j]) for j in range(6)]
        canal_pts += [t.rp(t.xc + xo[j] + 0.22 * taper[j], yv[j]) for j in range(5, -1, -1)]
        _fill(canvas, canal_pts, 0.11 * t.k)


def _draw_crown(canvas: np.ndarray, t: _Tooth, H: int) -> None:
    """Enamel cap, dentine core and pulp chamber of the crown."""
    xc, y1, hw, ch, arch, pw = t.xc, t.y1, t.hw, t.crown_h, t.arch, t.pw
    a = np.linspace(0.0, math.pi, 9)
    crown = [t.rp(xc - hw, y1)]
    crown += [t.rp(xc - hw * math.cos(t_) * 1.02,
                   y1 - arch * ch * (0.55 + 0.45 * math.sin(t_) ** pw)) for t_ in a]
    crown += [t.rp(xc + hw, y1)]
    _fill(canvas, crown, 0.32 * t.k)  # enamel
    inner = [t.rp(xc - hw * 0.78, y1)]
    inner += [t.rp(xc - hw * 0.78 * math.cos(t_),
                   y1 - arch * ch * (0.35 + 0.4 * math.sin(t_) ** pw)) for t_ in a]
    inner += [t.rp(xc + hw * 0.78, y1)]
    _fill(canvas, inner, 0.22 * t.k)  # dentine
    chamber = [t.rp(xc - hw * 0.3, y1 + arch * 0.01 * H), t.rp(xc - hw * 0.28, y1 - arch * ch * 0.3),
               t.rp(xc + hw * 0.28, y1 - arch * ch * 0.3), t.rp(xc + hw * 0.3, y1 + arch * 0.01 * H)]
    _fill(canvas, chamber, 0.16 * t.k)


def _draw_implant(rng: np.random.Generator, dent: _Dentition, t: _Tooth) -> None:
    """A threaded titanium implant in the bone where a lower tooth is missing, with its crown
    (metal saturates, as on a real radiograph)."""
    hw = t.hw * float(rng.uniform(0.32, 0.42))
    length = t.root_l * float(rng.uniform(0.75, 1.0))
    n = 9
    ys = np.linspace(0.0, 1.0, n * 2 + 1)
    wave = np.where(np.arange(len(ys)) % 2 == 0, 1.0, 0.82) * (1.0 - 0.25 * ys**3)
    side_a = [t.rp(t.xc - hw * w, t.y1 + length * y) for w, y in zip(wave, ys, strict=True)]
    side_b = [t.rp(t.xc + hw * w, t.y1 + length * y) for w, y in zip(wave, ys, strict=True)]
    _fill(dent.canvas, side_a + side_b[::-1], 1.25)
    if rng.random() < 0.8:  # the crown on the abutment
        _draw_crown(dent.canvas, t, dent.H)
        crown = [t.rp(t.xc - t.hw * 0.9, t.y1), t.rp(t.xc + t.hw * 0.9, t.y1),
                 t.rp(t.xc + t.hw * 0.8, t.y0), t.rp(t.xc - t.hw * 0.8, t.y0)]
        _fill(dent.canvas, crown, 0.9)


def _draw_restoration(rng: np.random.Generator, canvas: np.ndarray, t: _Tooth) -> None:
    """A metal filling in the crown (saturates like on a real radiograph)."""
    fw = t.hw * float(rng.uniform(0.4, 0.8))
    top = t.y0 - t.arch * t.crown_h * 0.02
    bottom = t.y0 + t.arch * t.crown_h * 0.45
    fill = [t.rp(t.xc - fw, top), t.rp(t.xc + fw, top),
            t.rp(t.xc + fw * 0.85, bottom), t.rp(t.xc - fw * 0.85, bottom)]
    _fill(canvas, fill, 1.3)


# ----------------------------------------------------------------------------- geometry


@dataclass
class _Side:
    sign: int  # -1 image-left (patient right), +1 image-right (patient left)
    x_gon: float
    y_gon: float
    power: float
    notch: float
    x_mf: float
    mcw_px: float
    poly: list[Point] = field(default_factory=list)  # half-mandible outline (closed later)
    border: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # gonial -> midline


def _lower_border_y(x: np.ndarray, cx: float, y_chin: float, side: _Side) -> np.ndarray:
    u = np.clip((x - cx) / (side.x_gon - cx), 0.0, 1.0)
    y = y_chin - (y_chin - side.y_gon) * u ** side.power
    y -= side.notch * np.exp(-(((u - 0.86) / 0.06) ** 2))  # antegonial notch
    return y


def _width_profile(x: np.ndarray, cx: float, side: _Side, mean_mcw_px: float,
                   wobble: np.ndarray) -> np.ndarray:
    """Inferior cortex width (px) along the lower border; equals mcw_px at the foramen."""
    u = np.clip((x - cx) / (side.x_gon - cx), 0.0, 1.0)
    u_mf = (side.x_mf - cx) / (side.x_gon - cx)
    w = np.empty_like(u)
    post = u >= u_mf
    # thins towards the gonial angle (to ~55 %)
    q = np.clip((u[post] - u_mf) / (1.0 - u_mf), 0.0, 1.0)
    w[post] = side.mcw_px * (1.0 - 0.45 * q**1.4)
    # blends to a thick symphyseal cortex (1.1 x mean of both sides) at the midline
    a = (1.0 - u[~post] / u_mf) ** 2
    w[~post] = side.mcw_px * (1.0 - a) + 1.1 * mean_mcw_px * a
    # small irregularity, zero at the foramen so the truth stays exact there
    g = np.clip(((u - u_mf) / 0.15) ** 2, 0.0, 1.0)
    return w * (1.0 + 0.06 * wobble * g)


# ----------------------------------------------------------------------------- generator


def _choose(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


# The stages below are called in a fixed order and each draws from the one generator: the
# order of the draws IS the phantom, so a stage must never be skipped, reordered or made to
# draw a different number of values (that would change every phantom after it).

STYLES = ("v1", "v2")
DEFAULT_STYLE = "v2"  # the style of new phantom folders (write_dataset, ``dentalosteo phantoms``)

_OPTIONS = frozenset({"size_scale", "width", "height", "pixel_spacing_mm", "mcw_right_mm",
                      "mcw_left_mm", "rotation_deg", "marker", "noise"})


@dataclass
class _Frame:
    """Size and acquisition geometry of one phantom."""

    W: int
    H: int
    s: float  # size of "fixed" features relative to a typical 1250 px tall image
    spacing_out: float  # mm per pixel of the written image
    spacing_c: float  # canonical mm per pixel, so that the output is spacing_out after the zoom
    rot: float  # degrees
    zoom: float
    shift: tuple[float, float]

    @property
    def xcol(self) -> np.ndarray:
        """x of every image column (float64)."""
        return np.arange(self.W, dtype=np.float64)


@dataclass
class _Jaw:
    """Mandible and occlusal-plane layout in canonical (pre-warp) pixels."""

    W: int
    cx: float  # midline
    y_chin: float
    sides: dict[str, _Side]
    y_occ0: float
    smile: float
    alv_gap: float  # occlusal plane -> lower alveolar crest

    @property
    def mean_mcw_px(self) -> float:
        return 0.5 * (self.sides["right"].mcw_px + self.sides["left"].mcw_px)

    def y_occ(self, x: np.ndarray | float) -> np.ndarray | float:
        """The occlusal plane (a shallow smile)."""
        u = (np.asarray(x) - self.cx) / (0.42 * self.W)
        return self.y_occ0 - self.smile * u * u

    def y_crest(self, x: np.ndarray | float) -> np.ndarray | float:
        """The lower alveolar crest."""
        return np.asarray(self.y_occ(x)) + self.alv_gap


@dataclass
class _Quarter:
    """Quarter-resolution canvas of the low-frequency layers."""

    q: int
    hq: int
    wq: int
    Xq: np.ndarray  # canonical x of each canvas column, (1, wq)
    Yq: np.ndarray  # canonical y of each canvas row, (hq, 1)
    sq: float  # feature size on this canvas

    @classmethod
    def of(cls, fr: _Frame) -> _Quarter:
        q = 4
        hq, wq = max(8, fr.H // q), max(8, fr.W // q)
        Xq = (np.arange(wq, dtype=np.float32)[None, :] + 0.5) * (fr.W / wq)
        Yq = (np.arange(hq, dtype=np.float32)[:, None] + 0.5) * (fr.H / hq)
        return cls(q=q, hq=hq, wq=wq, Xq=Xq, Yq=Yq, sq=fr.s / q)

    def zeros(self) -> np.ndarray:
        return np.zeros((self.hq, self.wq), np.float32)


def _check_options(bit_depth: int | None, overrides: dict[str, Any]) -> None:
    unknown = set(overrides) - _OPTIONS
    if unknown:
        raise ConfigError(f"unknown phantom option(s): {', '.join(sorted(unknown))}")
    if bit_depth not in (None, 8, 16):
        raise ConfigError(f"bit_depth must be 8 or 16, not {bit_depth}")


def _draw_frame(rng: np.random.Generator, overrides: dict[str, Any]) -> _Frame:
    """Image size, pixel spacing, rotation, zoom and offset of the acquisition."""
    scale = float(overrides.get("size_scale", 1.0))
    if not (0.05 <= scale <= 2.0):
        raise ConfigError(f"size_scale must be in 0.05-2.0, not {scale}")
    # the defaults are drawn even when overridden, so an override changes nothing else
    W0 = int(overrides.get("width", rng.integers(2600, 3101)))
    H0 = int(overrides.get("height", rng.integers(1150, 1401)))
    W, H = max(64, int(round(W0 * scale))), max(64, int(round(H0 * scale)))
    spacing_out = float(overrides.get("pixel_spacing_mm", _choose(rng, 0.08, 0.13))) / scale
    rot = float(overrides.get("rotation_deg", rng.normal(0.0, 0.8)))
    zoom = _choose(rng, 0.975, 1.025)
    shift = (rng.normal(0.0, 0.008) * W, rng.normal(0.0, 0.008) * H)
    return _Frame(W=W, H=H, s=H / 1250.0, spacing_out=spacing_out, spacing_c=spacing_out * zoom,
                  rot=rot, zoom=zoom, shift=shift)


def _draw_jaw(rng: np.random.Generator, fr: _Frame, mcw_r: float, mcw_l: float) -> _Jaw:
    """Midline, chin, both halves of the mandible (gonial angle, foramen, MCW) and the occlusal plane."""
    W, H = fr.W, fr.H
    cx = W / 2.0 + rng.normal(0.0, 0.008) * W
    y_chin = _choose(rng, 0.925, 0.965) * H
    sides: dict[str, _Side] = {}
    for name, sign, mcw in (("right", -1, mcw_r), ("left", 1, mcw_l)):
        sides[name] = _Side(
            sign=sign,
            x_gon=cx + sign * _choose(rng, 0.405, 0.435) * W,
            y_gon=_choose(rng, 0.69, 0.75) * H,
            power=_choose(rng, 1.9, 2.5),
            notch=_choose(rng, 0.0, 0.012) * H,
            x_mf=cx + sign * _choose(rng, 0.15, 0.185) * W,
            mcw_px=mcw / fr.spacing_c,
        )
    y_occ0 = _choose(rng, 0.47, 0.52) * H
    smile = _choose(rng, 0.04, 0.08) * H
    alv_gap = _choose(rng, 0.05, 0.07) * H
    return _Jaw(W=W, cx=cx, y_chin=y_chin, sides=sides, y_occ0=y_occ0, smile=smile, alv_gap=alv_gap)


# ---- mandible outline, from the midline along the lower border and up the ramus


def _ramus_points(rng: np.random.Generator, fr: _Frame, jaw: _Jaw,
                  sd: _Side) -> tuple[np.ndarray, Point, Point]:
    """Smoothed ramus outline (gonial angle, condyle, sigmoid notch, coronoid, back to the
    alveolar crest); returns it with the condyle centre and the coronoid tip."""
    W, H, sign = fr.W, fr.H, sd.sign
    x_con = sd.x_gon + sign * _choose(rng, 0.0, 0.015) * W
    y_con = _choose(rng, 0.06, 0.11) * H
    tilt = _choose(rng, -0.008, 0.008) * W
    crx, cry = _choose(rng, 0.022, 0.03) * W, _choose(rng, 0.04, 0.055) * H
    ccx, ccy = x_con, y_con + cry * 0.6
    x_cor = x_con - sign * _choose(rng, 0.07, 0.085) * W
    y_cor = _choose(rng, 0.14, 0.2) * H
    ctrl: list[Point] = [
        (sd.x_gon, sd.y_gon),
        (sd.x_gon + sign * 0.012 * W, sd.y_gon - 0.06 * H),
        (sd.x_gon + sign * 0.014 * W + tilt * 0.5, sd.y_gon - 0.28 * H),
        (ccx + sign * crx * 0.55 + tilt, ccy + 0.13 * H),
    ]
    for a in np.linspace(-0.35 * math.pi, 1.25 * math.pi, 12):  # condyle head
        ctrl.append((ccx + sign * crx * math.cos(a), ccy - cry * math.sin(a)))
    ctrl += [
        (ccx - sign * crx * 0.6, ccy + 0.08 * H),
        (0.5 * (ccx + x_cor), y_con + _choose(rng, 0.12, 0.16) * H),  # sigmoid notch
        (x_cor + sign * 0.01 * W, y_cor + 0.02 * H),
        (x_cor, y_cor),  # coronoid tip
        (x_cor - sign * 0.012 * W, y_cor + 0.05 * H),
        (x_cor - sign * 0.018 * W, 0.40 * H),
        (x_cor - sign * 0.035 * W, float(jaw.y_crest(x_cor - sign * 0.035 * W)) - 0.02 * H),
        (x_cor - sign * 0.065 * W, float(jaw.y_crest(x_cor - sign * 0.065 * W))),
    ]
    return _chaikin(np.asarray(ctrl), 3), (ccx, ccy), (x_cor, y_cor)


def _half_outline(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, name: str, sd: _Side,
                  landmarks: dict[str, Point], extra: dict[str, Any]) -> list[Point]:
    """One half-mandible outline; sets ``sd.border`` and the side's condyle, gonial-angle
    (``landmarks``) and coronoid (``extra``) positions."""
    W, H, sign = fr.W, fr.H, sd.sign
    xs = np.linspace(jaw.cx, sd.x_gon, 160)
    yb = _lower_border_y(xs, jaw.cx, jaw.y_chin, sd)
    ramus, (ccx, ccy), (x_cor, y_cor) = _ramus_points(rng, fr, jaw, sd)
    xa = np.linspace(x_cor - sign * 0.075 * W, jaw.cx, 40)
    pts: list[Point] = list(zip(xs.tolist(), yb.tolist(), strict=True))
    pts += [(float(p[0]), float(p[1])) for p in ramus[1:]]
    pts += list(zip(xa.tolist(), np.asarray(jaw.y_crest(xa)).tolist(), strict=True))
    # lower border truth (gonial angle -> midline), resampled every ~5 px
    sd.border = _resample(np.c_[xs[::-1], yb[::-1]], BORDER_STEP_PX * fr.s)
    landmarks[f"{name}_condyle"] = (ccx, ccy)
    landmarks[f"{name}_gonial_angle"] = (sd.x_gon + sign * 0.006 * W, sd.y_gon - 0.03 * H)
    extra[f"{name}_coronoid"] = (x_cor, y_cor)
    return pts


def _rasterise_mandible(fr: _Frame, jaw: _Jaw,
                        halves: dict[str, list[Point]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mandible as (body with a soft alveolar crest, sharp-edged mask, depth map in px)."""
    W, H, s, cx = fr.W, fr.H, fr.s, jaw.cx
    mask8 = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask8, [_poly(halves["right"]), _poly(halves["left"])], 255,
                 lineType=cv2.LINE_8, shift=4)
    cv2.rectangle(mask8, (int(cx - 3 * s), int(jaw.y_crest(cx))), (int(cx + 3 * s), int(jaw.y_chin - 1)),
                  255, -1)  # close the midline seam
    depth = cv2.distanceTransform(mask8, cv2.DIST_L2, 5)
    maskf = mask8.astype(np.float32) * (1.0 / 255.0)
    sharp = cv2.GaussianBlur(maskf, (0, 0), 1.0 * s + 0.3)
    # the alveolar crest is soft on a panoramic (tongue, teeth and the other side overlap)
    soft_edge = cv2.resize(cv2.GaussianBlur(cv2.resize(maskf, (W // 4, H // 4), interpolation=cv2.INTER_AREA),
                                            (0, 0), 4.0 * s), (W, H), interpolation=cv2.INTER_LINEAR)
    crest_col = np.asarray(jaw.y_crest(fr.xcol), dtype=np.float32)
    yy = np.arange(H, dtype=np.float32)[:, None]
    crest_w = np.clip((yy - crest_col[None, :]) / (0.12 * H), 0.0, 1.0)
    mandible = soft_edge + (sharp - soft_edge) * crest_w
    return mandible, sharp, depth


def _border_columns(rng: np.random.Generator, fr: _Frame,
                    jaw: _Jaw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: inferior border y, cortex width (px) and the width wobble used for both."""
    W, cx, xcol = fr.W, jaw.cx, fr.xcol
    ybcol = np.full(W, np.nan)
    wcol = np.zeros(W)
    wob = _noise(rng, (1, max(8, W // 40)), (2.0, 0.0), (1, W))[0].astype(np.float64)
    for sd in jaw.sides.values():
        sel = (xcol - cx) * sd.sign >= 0
        ybcol[sel] = _lower_border_y(xcol[sel], cx, jaw.y_chin, sd)
        wcol[sel] = _width_profile(xcol[sel], cx, sd, jaw.mean_mcw_px, wob[sel])
        beyond = (xcol - sd.x_gon) * sd.sign > 0
        ybcol[beyond] = sd.y_gon
        wcol[beyond] = sd.mcw_px * 0.55
    return ybcol, wcol, wob


# ---- cortex


def _draw_cortex(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, kl: str, depth: np.ndarray,
                 sharp: np.ndarray, ybcol: np.ndarray, wcol: np.ndarray,
                 extra: dict[str, Any], edge_gain: float = 1.0, residue_gain: float = 1.0,
                 density_slope: float = -0.22,
                 erosion_rng: np.random.Generator | None = None) -> np.ndarray:
    """Thin cortex along every border plus the inferior cortex band of the Klemetti class
    (``edge_gain`` widens the endosteal transition, the margin itself does not move;
    ``residue_gain`` scales the endosteal residues of C2/C3; ``density_slope``: relative change
    of the cortex density from the periosteum to the endosteal margin). ``erosion_rng`` (v2):
    the C2/C3 erosion of :func:`_eroded_band_v2` with its own draws from this generator."""
    # thin cortex (ramus borders), weak, everywhere; the inferior cortex band below
    cortex = np.clip(1.0 - depth / _thin_cortex_px(fr), 0.0, 1.0) * 0.3
    y_band, lower, wfield = _inferior_band(fr, ybcol, wcol)
    tdepth = depth[y_band:] / wfield  # 0 at periosteum, 1 at the endosteal margin
    thr = _endosteal_margin(rng, fr, jaw, kl, smooth=erosion_rng is not None)
    extra["lacunae_fraction"] = float(np.mean(thr < 0.99))
    if erosion_rng is not None and kl != "C1":
        band_c = _eroded_band_v2(rng, erosion_rng, fr, kl, thr, tdepth, wfield, edge_gain,
                                 residue_gain, density_slope)
    else:
        band_c = _cortex_band(rng, fr, kl, thr, tdepth, wfield, edge_gain, residue_gain, density_slope)
    cortex[y_band:] = np.maximum(cortex[y_band:], band_c * lower)
    cortex *= sharp
    return cortex


def _thin_cortex_px(fr: _Frame) -> float:
    """Width (px) of the thin cortex drawn along every border of the mandible (1.2 mm)."""
    return 1.2 / fr.spacing_c


def _inferior_band(fr: _Frame, ybcol: np.ndarray,
                   wcol: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Where the inferior cortex is drawn: the band's first row (0.16 of the height above the
    highest border point), each band row's weight per column (1 up to 0.08 of the height above
    the border, 0 from 0.13 up) and the cortex width per column (px, at least the thin
    cortex's)."""
    H = fr.H
    y_band = int(max(0, np.nanmin(ybcol) - 0.16 * H))
    yy = np.arange(H, dtype=np.float32)[:, None]
    yb_rel = yy[y_band:] - ybcol[None, :].astype(np.float32)
    lower = np.clip((yb_rel + 0.13 * H) / (0.05 * H), 0.0, 1.0)
    wfield = np.maximum(wcol[None, :].astype(np.float32), _thin_cortex_px(fr))
    return y_band, lower, wfield


def _endosteal_margin(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, kl: str,
                      smooth: bool = False) -> np.ndarray:
    """Endosteal margin per column in normalised depth: 1 (even, C1) or eaten into by
    semilunar lacunae (C2 some, C3 many and deeper). ``smooth`` (v2): the same draws shaped
    as wide, shallow, round-ended resorption bays (a raised cosine over ``EROSION_BAY_WIDTH``
    times the radius, ``EROSION_BAY_DEPTH`` times the depth) instead of sharp-cornered
    semicircles: real eroded margins undulate, they are not scalloped."""
    W, cx = fr.W, jaw.cx
    thr = np.ones(W, np.float32)
    if kl in ("C2", "C3"):
        n_lac = int(rng.integers(9, 16) if kl == "C2" else rng.integers(16, 26))
        for sd in jaw.sides.values():
            lo, hi = sorted((cx + sd.sign * 0.04 * W, sd.x_gon - sd.sign * 0.02 * W))
            for xc in rng.uniform(lo, hi, n_lac):
                r = rng.uniform(0.7, 1.8) * sd.mcw_px
                d = rng.uniform(0.25, 0.5) if kl == "C2" else rng.uniform(0.35, 0.7)
                if smooth:
                    r, d = r * EROSION_BAY_WIDTH, d * EROSION_BAY_DEPTH
                x0, x1 = int(max(0, xc - r)), int(min(W, xc + r + 1))
                xx = np.arange(x0, x1, dtype=np.float32)
                if smooth:
                    bump = d * 0.5 * (1.0 + np.cos(np.pi * np.clip((xx - xc) / r, -1.0, 1.0)))
                else:
                    bump = d * np.sqrt(np.clip(1.0 - ((xx - xc) / r) ** 2, 0.0, 1.0))
                thr[x0:x1] = np.minimum(thr[x0:x1], 1.0 - bump)
    return thr


def _cortex_band(rng: np.random.Generator, fr: _Frame, kl: str, thr: np.ndarray,
                 tdepth: np.ndarray, wfield: np.ndarray, edge_gain: float = 1.0,
                 residue_gain: float = 1.0, density_slope: float = -0.22) -> np.ndarray:
    """Inferior cortex density below ``y_band``: densest at the periosteum, ending at the
    endosteal margin (crisp for C1, wider for C2/C3), with residues and porosity for C2/C3."""
    s = fr.s
    edge = (0.6 * s + 0.05 * wfield) if kl == "C1" else (1.0 * s + 0.1 * wfield)
    if edge_gain != 1.0:
        edge = edge * edge_gain
    band_c = np.clip(0.5 + (thr[None, :] - tdepth) * wfield / (2.0 * edge), 0.0, 1.0)
    # v2 (density_slope > 0, densest at the endosteum): the gradient runs to each column's own
    # margin, so the cortex left between lacunae is no denser than the floor of a lacuna
    tnorm = tdepth / thr[None, :] if density_slope > 0 else tdepth
    band_c *= 1.0 + density_slope * np.clip(tnorm, 0.0, 1.0)
    if kl != "C1":
        band_c = _degrade_cortex(rng, fr, kl, band_c, thr, tdepth, residue_gain)
    return band_c


def _degrade_cortex(rng: np.random.Generator, fr: _Frame, kl: str, band_c: np.ndarray,
                    thr: np.ndarray, tdepth: np.ndarray, residue_gain: float = 1.0) -> np.ndarray:
    """Endosteal residues beyond the margin and porosity inside the cortex (C2, C3)."""
    s = fr.s
    hb, wb = tdepth.shape
    # residues: cortex fragments beyond the margin, elongated along the border
    res = _noise(rng, (max(4, hb // 2), wb // 2), (6.0 * s, 2.0 * s), (hb, wb))
    cut = 1.25 if kl == "C2" else 0.55
    past = tdepth - thr[None, :]
    fade = np.clip(1.0 - past / 1.4, 0.0, 1.0) * (past > 0)
    residues = np.clip((res - cut) * 2.0, 0.0, 1.0) * fade
    band_c = np.maximum(band_c, residues * ((0.7 if kl == "C2" else 0.85) * residue_gain))
    # porosity: dark striations inside the cortex (inner part; whole cortex in C3)
    por = _noise(rng, (max(4, hb // 2), wb // 2), (3.5 * s, 0.6 * s), (hb, wb))
    if kl == "C3":
        inner = np.clip((tdepth - 0.12) / 0.4, 0.0, 1.0)
        band_c *= 1.0 - 0.6 * np.clip((por - 0.3) * 1.5, 0.0, 1.0) * inner
    else:
        inner = np.clip((tdepth - 0.55) / 0.3, 0.0, 1.0)
        band_c *= 1.0 - 0.35 * np.clip((por - 1.2) * 2.0, 0.0, 1.0) * inner
    return band_c


# v2 erosion (C2/C3, issue 16): real thinned cortices are laminated and trabecularised on
# their inner side, not scalloped by dark semicircles. The inner cortex eaten by the bays is
# kept at a reduced density (EROSION_FILL of the cortex, per class) with thin lamellae along
# the border and fine pores, and still ends at the truth margin (with the C1 edge: the
# margin the MCW reader must find stays crisp); residues beyond it are faint thin lamellae.
EROSION_BAY_WIDTH = 2.0  # bay half-width relative to the v1 lacuna radius
EROSION_BAY_DEPTH = 0.8  # bay depth relative to the v1 lacuna depth
EROSION_FILL = {"C2": (0.45, 0.7), "C3": (0.4, 0.6)}  # eroded inner cortex density share
EROSION_LAMELLA = (0.15, 0.35)  # lamellar modulation of the eroded zone (relative)
EROSION_PORE = {"C2": (0.1, 0.2), "C3": (0.15, 0.3)}  # fine pores: darkening where present
EROSION_RESIDUE = {"C2": (0.1, 0.25), "C3": (0.2, 0.4)}  # lamellar residues past the margin
# the body's projection past a thin (C2/C3) cortex: the bone envelope reaches its full
# thickness within this many cortex widths past the truth margin (a monotone rise, no edge of
# its own), so no dark gap opens between the cortex and the trabecular bone
EROSION_BODY_LIFT = (0.6, 1.2)
# the thinned cortex is least dense at the periosteum (intracortical porosity of the outer
# cortex): its density there, relative to the v2 gradient's start
EROSION_PERIOSTEAL = (0.55, 0.8)


def _eroded_band_v2(rng: np.random.Generator, rng_e: np.random.Generator, fr: _Frame, kl: str,
                    thr: np.ndarray, tdepth: np.ndarray, wfield: np.ndarray, edge_gain: float,
                    residue_gain: float, density_slope: float) -> np.ndarray:
    """C2/C3 cortex band of style v2: the intact cortex down to the bays (``thr``) with the
    density gradient of v2, the eroded (trabecularised, laminated, finely porous) inner cortex
    between the bays and the truth margin, then a crisp margin at the truth depth and faint
    lamellar residues past it. The v1 draws of :func:`_degrade_cortex` are still taken from
    ``rng`` (so every later stage keeps its draws); the new choices come from ``rng_e``."""
    s = fr.s
    hb, wb = tdepth.shape
    _noise(rng, (max(4, hb // 2), wb // 2), (6.0 * s, 2.0 * s), (hb, wb))  # v1's residue draw
    _noise(rng, (max(4, hb // 2), wb // 2), (3.5 * s, 0.6 * s), (hb, wb))  # v1's porosity draw
    edge_margin = (0.6 * s + 0.05 * wfield) * edge_gain  # as crisp as C1 at the truth margin
    edge_bay = (1.0 * s + 0.1 * wfield) * edge_gain  # softer where the bays eat in
    full = np.clip(0.5 + (1.0 - tdepth) * wfield / (2.0 * edge_margin), 0.0, 1.0)
    core = np.clip(0.5 + (thr[None, :] - tdepth) * wfield / (2.0 * edge_bay), 0.0, 1.0)
    core = np.minimum(core, full)
    fill = float(rng_e.uniform(*EROSION_FILL[kl]))
    lam_amp = float(rng_e.uniform(*EROSION_LAMELLA))
    pore_amp = float(rng_e.uniform(*EROSION_PORE[kl]))
    res_amp = float(rng_e.uniform(*EROSION_RESIDUE[kl])) * (0.5 + residue_gain)
    peri = float(rng_e.uniform(*EROSION_PERIOSTEAL))
    # lamellae: thin bright lines along the border (long along, narrow across)
    lam = _noise(rng_e, (max(4, hb // 2), max(4, wb // 4)), (5.0 * s, 0.5 * s), (hb, wb))
    pores = _noise(rng_e, (max(4, hb // 2), max(4, wb // 2)), (0.8 * s, 0.5 * s), (hb, wb))
    eroded = (full - core) * fill * np.clip(1.0 + lam_amp * lam, 0.3, 1.7)
    tn = np.clip(tdepth / thr[None, :], 0.0, 1.0)
    grad = peri + (1.0 - peri + density_slope) * tn
    band = core * grad + eroded
    # fine pores in the inner cortex (deeper than half the width; all of it in C3)
    inner = np.clip((tdepth - (0.15 if kl == "C3" else 0.5)) / 0.3, 0.0, 1.0)
    band *= 1.0 - pore_amp * np.clip(pores - 0.5, 0.0, 1.5) * inner
    # residues: faint lamellae just past the truth margin, fading over half a cortex width
    past = tdepth - 1.0
    fade = np.clip(1.0 - past / 0.5, 0.0, 1.0) * (past > 0)
    band = np.maximum(band, res_amp * np.clip(lam - 0.8, 0.0, 1.0) * fade)
    return band


def _trabecular_density(rng: np.random.Generator, t: float) -> float:
    """Trabecular density in [0.15, 1], coupled to the T-score."""
    return float(np.clip(0.62 + 0.11 * t + rng.normal(0.0, 0.08), 0.15, 1.0))


def _draw_trabecular(rng: np.random.Generator, fr: _Frame, t: float) -> tuple[np.ndarray, float]:
    """Trabecular bone pattern (drawn at half resolution) and its density, coupled to the T-score."""
    W, H, s = fr.W, fr.H, fr.s
    density = _trabecular_density(rng, t)
    hs = (max(8, H // 2), max(8, W // 2))
    # two-scale network of thin plates/rods (zero crossings of band-pass noise); lower
    # density: coarser marrow spaces, thinner and fewer trabeculae
    cell = (2.2 + 1.6 * (1.0 - density)) * s
    width_k = 0.18 + 0.3 * density
    fine = _noise(rng, hs, cell * 0.5) - 0.7 * _noise(rng, hs, cell * 1.1)
    coarse = _noise(rng, hs, cell * 1.2) - 0.7 * _noise(rng, hs, cell * 2.6)
    trab = np.maximum(np.exp(-((fine / width_k) ** 2)),
                      0.8 * np.exp(-((coarse / (1.3 * width_k)) ** 2)))
    trab += 0.15 * _noise(rng, (max(4, hs[0] // 6), max(4, hs[1] // 6)), 1.5, hs)  # marrow mottle
    trab = cv2.GaussianBlur(trab, (0, 0), 0.7) - 0.4
    trab = cv2.resize(trab, (W, H), interpolation=cv2.INTER_LINEAR)
    return trab, density


# ---- low-frequency layers (quarter resolution)


def _low_frequency(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, ybcol: np.ndarray,
                   landmarks: dict[str, Point], extra: dict[str, Any],
                   below: tuple[float, float] = (0.7, 0.01),
                   add_q: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft tissue, maxilla, airway, spine and hyoid ghosts (summed, plus ``add_q`` on the same
    quarter-resolution canvas when given), the mandibular canal and the low-frequency mottle,
    each resized to full resolution."""
    W, H = fr.W, fr.H
    qc = _Quarter.of(fr)
    lowq = _noise(rng, (max(4, qc.hq // 8), max(4, qc.wq // 8)), 1.2, (qc.hq, qc.wq))
    lf = _soft_tissue(fr, jaw, qc, lowq, ybcol, below)
    maxq, lines, pal_y = _draw_maxilla(rng, fr, jaw, qc, landmarks)
    lf = lf + maxq + lines
    lf -= _draw_airway(rng, fr, jaw, qc, pal_y)
    lf = lf + _draw_spine(rng, fr, jaw, qc)
    lf = lf + _draw_hyoid(rng, fr, jaw, qc)
    canal = _draw_canal(rng, fr, jaw, qc, extra)
    if add_q is not None:
        lf = lf + add_q
    lf_full = cv2.resize(lf, (W, H), interpolation=cv2.INTER_LINEAR)
    canal_full = cv2.resize(canal, (W, H), interpolation=cv2.INTER_LINEAR)
    low_full = cv2.resize(lowq, (W, H), interpolation=cv2.INTER_LINEAR)
    return lf_full, canal_full, low_full


def _soft_tissue(fr: _Frame, jaw: _Jaw, qc: _Quarter, lowq: np.ndarray,
                 ybcol: np.ndarray, below_dark: tuple[float, float] = (0.7, 0.01)) -> np.ndarray:
    """Soft-tissue glow of the face, fainter below the mandible (``below_dark``: how much
    fainter, and from how far below the border as a fraction of the height)."""
    W, H, Xq, Yq = fr.W, fr.H, qc.Xq, qc.Yq
    ex = (Xq - jaw.cx) / (0.55 * W)
    ey = (Yq - 0.5 * H) / (0.66 * H)
    r2 = ex * ex + ey * ey
    soft = 0.33 * (1.0 - _smoothstep(0.45, 1.35, r2)) + 0.03 + 0.03 * lowq
    yb_q = np.interp(Xq[0], fr.xcol, ybcol).astype(np.float32)[None, :]
    below = _smoothstep(0.0, 0.06 * H, Yq - yb_q - below_dark[1] * H)
    soft *= 1.0 - below_dark[0] * below
    return soft


def _draw_maxilla(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, qc: _Quarter,
                  landmarks: dict[str, Point]) -> tuple[np.ndarray, np.ndarray, float]:
    """Maxilla (alveolar process, palate, sinus lobes, zygoma, orbit floor) and the sharper
    bony lines (palate, orbit floors, septum); returns both and the palate height."""
    W, H, cx, q, sq = fr.W, fr.H, jaw.cx, qc.q, qc.sq
    pal_y = jaw.y_occ0 - _choose(rng, 0.2, 0.25) * H
    maxq = qc.zeros()
    xm = np.linspace(cx - 0.36 * W, cx + 0.36 * W, 60)
    upper_alv = np.asarray(jaw.y_occ(xm)) - 0.03 * H
    top_pal = pal_y + 0.07 * H * ((xm - cx) / (0.36 * W)) ** 2
    _fill(maxq, np.c_[np.r_[xm, xm[::-1]], np.r_[upper_alv, top_pal[::-1]]] / q, 0.12)
    _blob(maxq, cx / q, (pal_y - 0.05 * H) / q, 0.3 * W / q, 0.2 * H / q, 0.12)  # midface bone
    lines = qc.zeros()  # sharper bony lines: palate, orbit floors, septum
    cv2.polylines(lines, [_poly(np.c_[xm, top_pal] / q)], False, 0.13,
                  thickness=max(1, int(22 * sq)), lineType=cv2.LINE_AA, shift=4)  # hard palate
    xn = np.linspace(cx - 0.47 * W, cx + 0.47 * W, 50)
    yn = pal_y - _choose(rng, 0.14, 0.19) * H + 0.07 * H * ((xn - cx) / (0.47 * W)) ** 2
    cv2.polylines(lines, [_poly(np.c_[xn, yn] / q)], False, 0.08,
                  thickness=max(1, int(18 * sq)), lineType=cv2.LINE_AA, shift=4)  # orbit floor / skull base
    _blob(maxq, cx / q, (pal_y - 0.08 * H) / q, 0.06 * W / q, 0.07 * H / q, -0.12)  # nasal cavity
    cv2.line(lines, (int(cx / q), int((pal_y - 0.2 * H) / q)), (int(cx / q), int(pal_y / q)), 0.08,
             max(1, int(14 * sq)), cv2.LINE_AA)  # nasal septum
    for sign in (-1, 1):
        _blob(maxq, (cx + sign * 0.21 * W) / q, (pal_y + 0.03 * H) / q, 0.07 * W / q, 0.08 * H / q, -0.09)
        _blob(maxq, (cx + sign * 0.33 * W) / q, (pal_y - 0.05 * H) / q, 0.1 * W / q, 0.03 * H / q, 0.1,
              angle=sign * 0.2)  # zygomatic arch
        _blob(maxq, (cx + sign * 0.25 * W) / q, (pal_y - 0.12 * H) / q, 0.025 * W / q, 0.09 * H / q, 0.07,
              angle=-sign * 0.35)  # zygomatic buttress
        cxc, cyc = landmarks[f"{'right' if sign < 0 else 'left'}_condyle"]
        _blob(maxq, cxc / q, (cyc - 0.03 * H) / q, 0.05 * W / q, 0.035 * H / q, 0.06)  # fossa/eminence
    maxq = cv2.GaussianBlur(maxq, (0, 0), 12.0 * sq + 0.5)
    lines = cv2.GaussianBlur(lines, (0, 0), 1.0)
    return maxq, lines, pal_y


def _draw_airway(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, qc: _Quarter,
                 pal_y: float) -> np.ndarray:
    """Darkening by the palatoglossal air space and the pharyngeal airway across the rami."""
    W, H, cx, q, sq = fr.W, fr.H, jaw.cx, qc.q, qc.sq
    air = qc.zeros()
    air_y = pal_y + _choose(rng, 0.05, 0.09) * H
    xa2 = np.linspace(cx - 0.38 * W, cx + 0.38 * W, 50)
    ya2 = air_y + 0.12 * H * ((xa2 - cx) / (0.38 * W)) ** 2
    cv2.polylines(air, [_poly(np.c_[xa2, ya2] / q)], False, 1.0, thickness=max(1, int(30 * sq)),
                  lineType=cv2.LINE_AA, shift=4)
    for sign in (-1, 1):
        xp = cx + sign * _choose(rng, 0.33, 0.38) * W
        cv2.line(air, (int(xp / q), int(0.3 * H / q)), (int((xp + sign * 0.03 * W) / q), int(0.85 * H / q)),
                 0.8, max(1, int(45 * sq)), cv2.LINE_AA)
    air = cv2.GaussianBlur(air, (0, 0), 8.0 * sq + 0.5)
    darkening: np.ndarray = _choose(rng, 0.05, 0.1) * air
    return darkening


def _draw_spine(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, qc: _Quarter) -> np.ndarray:
    """Cervical-spine ghost: a broad bright column in the middle with vertebral banding."""
    W, H, Xq, Yq = fr.W, fr.H, qc.Xq, qc.Yq
    spx = jaw.cx + rng.normal(0.0, 0.005) * W
    spine = np.exp(-0.5 * ((Xq - spx) / (_choose(rng, 0.035, 0.05) * W)) ** 4)
    period = _choose(rng, 0.13, 0.17) * H
    phase = _choose(rng, 0.0, period)
    vert = 0.7 + 0.3 * _smoothstep(0.12, 0.3, np.abs(((Yq + phase) % period) / period - 0.5))
    ghost: np.ndarray = (_choose(rng, 0.17, 0.27) * spine * vert
                         * (0.55 + 0.45 * _smoothstep(0.3 * H, 0.75 * H, Yq)))
    return ghost


def _draw_hyoid(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, qc: _Quarter) -> np.ndarray:
    """Hyoid ghosts below the mandible."""
    W, H, q = fr.W, fr.H, qc.q
    hy = qc.zeros()
    for sign in (-1, 1):
        hx = jaw.cx + sign * _choose(rng, 0.3, 0.38) * W
        hyy = min(0.97 * H, jaw.y_chin + _choose(rng, -0.03, 0.02) * H)
        _blob(hy, hx / q, hyy / q, 0.04 * W / q, 0.014 * H / q, 0.12, angle=sign * 0.2)
        _blob(hy, hx / q, hyy / q, 0.03 * W / q, 0.006 * H / q, -0.04, angle=sign * 0.2)
    return hy


def _draw_canal(rng: np.random.Generator, fr: _Frame, jaw: _Jaw, qc: _Quarter,
                extra: dict[str, Any]) -> np.ndarray:
    """Mandibular canal and mental foramen per side (dark; only inside the mandible); the
    foramen centres go to ``extra``."""
    W, H, cx, q, sq = fr.W, fr.H, jaw.cx, qc.q, qc.sq
    canal = qc.zeros()
    for name, sd in jaw.sides.items():
        xs_c = np.linspace(sd.x_mf, sd.x_gon - sd.sign * 0.03 * W, 30)
        yc = _lower_border_y(xs_c, cx, jaw.y_chin, sd) - 0.12 * H
        yc = np.minimum(yc, np.interp(xs_c, [xs_c[0], xs_c[-1]], [yc[0], 0.6 * H]))
        cv2.polylines(canal, [_poly(np.c_[xs_c, yc] / q)], False, 1.0, thickness=max(1, int(22 * sq)),
                      lineType=cv2.LINE_AA, shift=4)
        y_mf = float(_lower_border_y(np.array([sd.x_mf]), cx, jaw.y_chin, sd)[0]) - _choose(rng, 0.1, 0.13) * H
        cv2.circle(canal, (int(sd.x_mf / q * 16), int(y_mf / q * 16)), max(1, int(0.02 * H / q * 16)), 1.3,
                   -1, cv2.LINE_AA, shift=4)
        extra[f"mf_{name}"] = (sd.x_mf, y_mf)
    canal = cv2.GaussianBlur(canal, (0, 0), 5.0 * sq + 0.8)
    return canal


# ---- composition and acquisition effects


def _compose(rng: np.random.Generator, lf_full: np.ndarray, mandible: np.ndarray,
             trab: np.ndarray, low_full: np.ndarray, canal_full: np.ndarray, density: float,
             cortex: np.ndarray, teeth: np.ndarray) -> np.ndarray:
    """All layers summed in display units, then contrast, a soft shoulder and gamma."""
    bone_amp = 0.15 + 0.06 * density
    img: np.ndarray = lf_full
    img += mandible * (bone_amp + (0.04 + 0.06 * density) * trab + 0.02 * low_full
                       - 0.045 * canal_full)
    img += _choose(rng, 0.26, 0.32) * cortex
    img += teeth
    gamma = _choose(rng, 0.85, 1.15)
    contrast = _choose(rng, 0.9, 1.1)
    img = np.clip(img * contrast, 0.0, None)
    _shoulder(img)
    img **= gamma
    return img


def _shoulder(img: np.ndarray) -> None:
    """Linear up to 0.72, then a soft shoulder so enamel and metal saturate gently; clipped
    to [0, 1] (in place; only the pixels above 0.72 change)."""
    hi = img > 0.72
    over = img[hi] - 0.72
    img[hi] -= over - 0.28 * (1.0 - np.exp(-over / 0.28))
    np.clip(img, 0.0, 1.0, out=img)


def _burn_marker(rng: np.random.Generator, fr: _Frame, img: np.ndarray,
                 overrides: dict[str, Any]) -> None:
    """Side marker ("R" on the patient's right = image-left, bottom), in place."""
    W, H, s = fr.W, fr.H, fr.s
    if bool(overrides.get("marker", rng.random() < 0.7)):
        fs = 1.6 * s
        org = (int(0.018 * W), int(0.84 * H))
        thick = max(2, int(round(4 * s)))
        cv2.putText(img, "R", org, cv2.FONT_HERSHEY_SIMPLEX, fs, 0.95, thick, cv2.LINE_AA)
        if thick >= 3:  # outlined letter, as burned in by the device
            cv2.putText(img, "R", org, cv2.FONT_HERSHEY_SIMPLEX, fs, 0.15, max(1, thick // 3), cv2.LINE_AA)


def _blur(rng: np.random.Generator, fr: _Frame, cx: float, img: np.ndarray,
          base: float = 1.0, extra: float = 0.0) -> np.ndarray:
    """Focal spot / layer thickness blur (``base`` scales its sigma, ``extra`` adds a detector
    blur in quadrature); the anterior focal trough is narrow, so the incisor region is
    blurrier than the sides, as on real panoramics."""
    s = fr.s
    sigma = (_choose(rng, 0.6, 1.4) * s + 0.2) * base
    if extra > 0.0:
        sigma = math.hypot(sigma, extra)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    ant = cv2.GaussianBlur(img, (0, 0), _choose(rng, 1.5, 3.0) * s + 0.3)
    xs_row = np.arange(fr.W, dtype=np.float32)[None, :]
    wa = np.exp(-0.5 * ((xs_row - cx) / (_choose(rng, 0.06, 0.1) * fr.W)) ** 2).astype(np.float32)
    img += (ant - img) * wa
    return img


def _warp(fr: _Frame, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slight rotation, zoom and offset of the whole image; returns it and the 2 x 3 matrix."""
    W, H = fr.W, fr.H
    M = cv2.getRotationMatrix2D((W / 2.0, H / 2.0), fr.rot, fr.zoom)
    M[0, 2] += fr.shift[0]
    M[1, 2] += fr.shift[1]
    img = np.asarray(cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT_101), dtype=np.float32)
    return img, M


def _quantum_noise(rng: np.random.Generator, img: np.ndarray, nf: float) -> np.ndarray:
    """Signal-dependent quantum noise (factor ``nf``), clipped to [0, 1]."""
    H, W = img.shape
    qn = rng.standard_normal((H, W), dtype=np.float32)
    img += (nf * _choose(rng, 0.012, 0.028)) * np.sqrt(np.clip(img, 0.02, 1.0)) * qn
    np.clip(img, 0.0, 1.0, out=img)
    return img


# ---- ground truth in output coordinates


def _output_truth(fr: _Frame, jaw: _Jaw, M: np.ndarray, wob: np.ndarray,
                  tuber_x: dict[str, float], premolar_x: dict[str, float],
                  landmarks: dict[str, Point],
                  extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[float, ...]]]:
    """Borders, endosteal margins and foramina per side, and all landmarks, mapped through
    the final warp ``M``; completes ``landmarks`` (tuberosities, premolars) on the way."""
    H, cx, xcol = fr.H, jaw.cx, fr.xcol
    for side in ("right", "left"):
        landmarks[f"{side}_maxillary_tuberosity"] = (tuber_x[side], float(jaw.y_occ(tuber_x[side])) - 0.08 * H)

    def tf(pts: np.ndarray) -> np.ndarray:
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return p @ M[:, :2].T + M[:, 2]

    out: dict[str, Any] = {}
    for name, sd in jaw.sides.items():
        b = sd.border
        nrm = _normals_up(b)
        wprof = _width_profile(b[:, 0], cx, sd, jaw.mean_mcw_px, np.interp(b[:, 0], xcol, wob))
        endo = b + nrm * wprof[:, None]
        # output polylines ordered from image-left to image-right
        bt, et = tf(b), tf(endo)
        if bt[0, 0] > bt[-1, 0]:
            bt, et = bt[::-1], et[::-1]
        out[f"border_{name}"] = [(float(x), float(y)) for x, y in bt]
        out[f"endosteal_{name}"] = [(float(x), float(y)) for x, y in et]
        mf = tf(np.array(extra[f"mf_{name}"]))[0]
        out[f"mf_{name}"] = (float(mf[0]), float(mf[1]))
        # premolar landmark: trabecular bone below the premolar apices
        xp = premolar_x[name]
        yp = float(_lower_border_y(np.array([xp]), cx, jaw.y_chin, sd)[0]) - 0.16 * H
        landmarks[f"{name}_premolar"] = (xp, yp)
    lm_out = {k: tuple(float(v) for v in tf(np.array(landmarks[k]))[0]) for k in LANDMARK_NAMES}
    return out, lm_out


@dataclass
class _Anatomy:
    """The drawn anatomy both styles render: frame, jaw, mandible rasters, border columns."""

    fr: _Frame
    jaw: _Jaw
    kl: str
    t: float
    mandible: np.ndarray
    sharp: np.ndarray
    depth: np.ndarray
    ybcol: np.ndarray
    wcol: np.ndarray
    landmarks: dict[str, Point]
    extra: dict[str, Any]


@dataclass
class _Rendered:
    img: np.ndarray  # float32 in [0, 1], output geometry
    M: np.ndarray  # the final 2 x 3 warp (canonical -> output pixels)
    density: float
    tuber_x: dict[str, float]
    premolar_x: dict[str, float]


def _render_v1(rng: np.random.Generator, an: _Anatomy, overrides: dict[str, Any]) -> _Rendered:
    """The original look (style ``v1``): every draw in its historical order."""
    fr, jaw = an.fr, an.jaw
    cortex = _draw_cortex(rng, fr, jaw, an.kl, an.depth, an.sharp, an.ybcol, an.wcol, an.extra)
    trab, density = _draw_trabecular(rng, fr, an.t)
    teeth_h, tuber_x, premolar_x = _draw_teeth(rng, fr.W, fr.H, jaw.cx, jaw.y_occ, fr.s)
    teeth = cv2.resize(teeth_h, (fr.W, fr.H), interpolation=cv2.INTER_LINEAR)
    lf_full, canal_full, low_full = _low_frequency(rng, fr, jaw, an.ybcol, an.landmarks, an.extra)
    img = _compose(rng, lf_full, an.mandible, trab, low_full, canal_full, density, cortex, teeth)
    _burn_marker(rng, fr, img, overrides)
    img = _blur(rng, fr, jaw.cx, img)
    img, M = _warp(fr, img)
    img = _quantum_noise(rng, img, float(overrides.get("noise", 1.0)))
    return _Rendered(img=img, M=M, density=density, tuber_x=tuber_x, premolar_x=premolar_x)


# ---- style v2 (issue 16): the look of real panoramics; building blocks in phantom_texture


@dataclass(frozen=True)
class _LookV2:
    """Rendering choices of one v2 phantom (drawn from the second generator)."""

    ramp_px: float  # height of the rounded inferior border (projection ramp)
    ramp_power: float  # its shape: 0.5 round (square-root onset) .. 1 flat (linear onset)
    shell_px: float  # radius of the cortical shell's chord (its projection peaks at the margin)
    plate_px: float  # depth where the obliquely seen buccal / lingual plates add most
    plate_gain: float  # and how much they add to the body there
    spread_px: float  # blur of the bone's envelope (not of its texture)
    edge_gain: float  # endosteal transition width relative to v1
    residue_gain: float  # endosteal residues (C2/C3) relative to v1
    density_slope: float  # cortex density change periosteum -> endosteum (v1: -0.22)
    double_px: float  # inferior border double contour: the inner edge's height above the outer
    double_w: float  # and its share of the envelope
    cortex: float  # inferior cortex amplitude
    cortex_blur_px: float  # residues and pores softened by the superimposed buccal / lingual plates
    bone: float  # bone (body) amplitude before the density term
    trab: float  # trabecular texture amplitude
    mottle: float  # smooth (log-normal) bone-density variation amplitude
    lines: float  # ridge / ghost line amplitude
    n_lines: int
    below_dark: float  # how much fainter the soft tissue is below the mandible (< 0: brighter neck)
    below_offset: float  # from how far below the border (fraction of the height)
    acq: ptx.Acquisition

    @classmethod
    def draw(cls, rng2: np.random.Generator, fr: _Frame) -> _LookV2:
        return cls(ramp_px=float(rng2.uniform(4.0, 9.0)) / fr.spacing_c,
                   ramp_power=float(rng2.uniform(0.8, 1.3)),
                   shell_px=float(rng2.uniform(3.0, 7.0)) / fr.spacing_c,
                   plate_px=float(rng2.uniform(3.0, 5.5)) / fr.spacing_c,
                   plate_gain=float(rng2.uniform(0.2, 0.45)),
                   spread_px=float(rng2.uniform(1.0, 2.5)) / fr.spacing_c,
                   edge_gain=float(rng2.uniform(1.2, 3.0)),
                   residue_gain=float(rng2.uniform(0.0, 0.15)),
                   density_slope=float(rng2.uniform(0.2, 0.6)),
                   double_px=float(rng2.uniform(0.3, 1.5)) / fr.spacing_c,
                   double_w=float(rng2.uniform(0.3, 0.6)),
                   cortex=float(rng2.uniform(0.15, 0.3)),
                   cortex_blur_px=float(rng2.uniform(0.15, 0.4)) / fr.spacing_c,
                   bone=float(rng2.uniform(0.12, 0.18)),
                   trab=float(rng2.uniform(0.03, 0.065)),
                   mottle=float(rng2.uniform(0.012, 0.03)),
                   lines=float(rng2.uniform(0.02, 0.1)),
                   n_lines=int(rng2.integers(0, 5)),
                   below_dark=float(rng2.uniform(-0.45, 0.05)),
                   below_offset=float(rng2.uniform(-0.005, 0.01)),
                   acq=ptx.draw_acquisition(rng2, fr.s, fr.spacing_c))


def _pose_v2(rng2: np.random.Generator, fr: _Frame, jaw: _Jaw, overrides: dict[str, Any]) -> DentalState:
    """Positioning (extra tilt, chin up/down, head turn) and the dentition of a v2 phantom;
    changes ``fr`` and ``jaw`` in place before anything is drawn, so the truth follows."""
    if "rotation_deg" not in overrides:
        fr.rot += float(rng2.normal(0.0, 1.0))
    chin = float(np.clip(rng2.normal(0.0, 1.0), -2.5, 2.5))  # + chin down: deeper smile
    turn = float(np.clip(rng2.normal(0.0, 1.0), -2.0, 2.0))  # head turned: one half wider
    jaw.smile *= 1.0 + 0.25 * chin
    for sd in jaw.sides.values():
        sd.y_gon -= 0.012 * chin * fr.H
        f = 1.0 + 0.018 * turn * sd.sign
        sd.x_gon = jaw.cx + (sd.x_gon - jaw.cx) * f
        sd.x_mf = jaw.cx + (sd.x_mf - jaw.cx) * f
    u = float(rng2.random())
    if u < 0.12:  # edentulous: no teeth, resorbed alveolar ridge
        missing, resorb = 1.0, float(rng2.uniform(0.04, 0.1))
    elif u < 0.45:  # partly edentulous
        missing, resorb = float(rng2.uniform(0.2, 0.6)), float(rng2.uniform(0.0, 0.03))
    else:
        missing, resorb = float(rng2.uniform(0.02, 0.15)), 0.0
    jaw.alv_gap += resorb * fr.H
    implant_p = float(rng2.uniform(0.0, 0.35)) if missing >= 0.2 else 0.0
    return DentalState(missing_p=missing, implant_p=implant_p)


def _envelope_v2(rng2: np.random.Generator, an: _Anatomy, look: _LookV2) -> tuple[np.ndarray, np.ndarray]:
    """Projected envelopes of the bone body and of the cortical shell: rounded-edge ramps,
    blurred, with a double contour (the buccal and lingual halves of the base seen at slightly
    different heights; the outer edge stays the truth border). The shell is seen tangentially
    (a flattened circular chord over ``shell_px``), so its projection keeps rising to
    the endosteal margin; the body fills in more slowly (``ramp_px``, ``ramp_power``)."""
    W, H = an.fr.W, an.fr.H
    w2, h2 = max(8, W // 2), max(8, H // 2)  # smooth: computed at half resolution
    depth = cv2.resize(an.depth, (w2, h2), interpolation=cv2.INTER_AREA)
    wob = _noise(rng2, (1, max(8, w2 // 30)), (2.0, 0.0), (1, w2))
    delta = (look.double_px * np.clip(0.6 + 0.4 * wob, 0.0, 1.2)).astype(np.float32)
    inner_depth = np.maximum(depth - delta, 0.0)
    outs: list[np.ndarray] = []
    for radius, power in ((look.ramp_px, look.ramp_power), (look.shell_px, 0.7)):
        ramp = ptx.projection_ramp(depth, radius, 0.0, power)
        inner = ptx.projection_ramp(inner_depth, radius, 0.0, power)
        out = (1.0 - look.double_w) * ramp + look.double_w * inner
        if not outs:  # the body: plus the buccal and lingual plates, seen obliquely near the base
            out *= 1.0 + look.plate_gain * prl.plate_hump(depth, look.plate_px / 2.0)
        out = ptx.spread(out, look.spread_px / 2.0)  # linear: blurring the sum = summing the blurs
        outs.append(np.asarray(cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR), dtype=np.float32))
    return outs[0], outs[1]


def _lift_body_v2(rng_e: np.random.Generator, fr: _Frame, an: _Anatomy, ramp: np.ndarray) -> np.ndarray:
    """Body envelope past a thin (C2/C3) cortex: full thickness within ``EROSION_BODY_LIFT``
    cortex widths past the truth margin (smoothstep from the margin), never lower than drawn.
    Only above the inferior border (the band ``_draw_cortex`` draws the inferior cortex in):
    the depth map measures to every edge of the mandible, and the ramus and alveolar borders
    must not change with the Klemetti class. Returns a new array."""
    lift_w = float(rng_e.uniform(*EROSION_BODY_LIFT))
    y_band, lower, wfield = _inferior_band(fr, an.ybcol, an.wcol)
    t = (an.depth[y_band:] / wfield - 1.0) / lift_w
    lift = np.clip(t, 0.0, 1.0)
    lift = lift * lift * (3.0 - 2.0 * lift)
    out = ramp.copy()
    np.maximum(out[y_band:], lift * np.nan_to_num(lower), out=out[y_band:])
    return out


def _ghosts_v2(rng2: np.random.Generator, fr: _Frame, jaw: _Jaw, sharp: np.ndarray,
               ybcol: np.ndarray) -> np.ndarray:
    """The central (spine / symphysis) superimposition, the opposite side's mandible, hyoid
    ghosts and ghost shadows, on the quarter-resolution canvas of :class:`_Quarter`."""
    qc = _Quarter.of(fr)
    mask_q = cv2.resize(sharp, (qc.wq, qc.hq), interpolation=cv2.INTER_AREA)
    cxq = jaw.cx / qc.q
    by_q = (np.interp(qc.Xq[0], fr.xcol, ybcol) / qc.q).astype(np.float32)
    g = ptx.spine_ghost(rng2, mask_q, cxq, rng2.spawn(1)[0])  # the core: a child stream
    g += ptx.opposite_side_ghost(rng2, mask_q, cxq)
    g += prl.arch_turn(rng2, mask_q, cxq)
    g += ptx.hyoid_ghosts(rng2, (qc.hq, qc.wq), cxq, by_q)
    g += ptx.ghost_blobs(rng2, (qc.hq, qc.wq), cxq, by_q, fr.spacing_c * qc.q)
    return g


def _render_v2(rng: np.random.Generator, rng2: np.random.Generator, an: _Anatomy,
               dental: DentalState, overrides: dict[str, Any]) -> _Rendered:
    """Style v2: projected (rounded) bone edges, a softer endosteal transition, trabecular
    networks at realistic spectra, ghosts, ridge lines, dentition states and metal, then the
    device chain (blur, correlated noise, unsharp masking, LUT) of ``phantom_texture``."""
    fr, jaw = an.fr, an.jaw
    look = _LookV2.draw(rng2, fr)
    ramp, shell = _envelope_v2(rng2, an, look)
    # the envelopes' blur (penumbra) reaches below the border: the mask must not cut it off
    soft_mask = np.maximum(an.sharp, ptx.spread(an.sharp, look.spread_px))
    rng_e = rng.spawn(1)[0]  # the erosion's own child stream: rng's draws stay put
    cortex = _draw_cortex(rng, fr, jaw, an.kl, an.depth, soft_mask * shell, an.ybcol, an.wcol,
                          an.extra, look.edge_gain, look.residue_gain, look.density_slope,
                          erosion_rng=rng_e)
    if an.kl != "C1":
        ramp = _lift_body_v2(rng_e, fr, an, ramp)
    density = _trabecular_density(rng, an.t)
    trab = prl.trabecular_texture(rng2, (fr.H, fr.W), fr.spacing_c, density)
    teeth_h, tuber_x, premolar_x = _draw_teeth(rng, fr.W, fr.H, jaw.cx, jaw.y_occ, fr.s, dental)
    teeth = cv2.resize(teeth_h, (fr.W, fr.H), interpolation=cv2.INTER_LINEAR)
    ghosts_q = _ghosts_v2(rng2, fr, jaw, an.sharp, an.ybcol)  # drawn after the v1 stages' draws
    lf_full, canal_full, low_full = _low_frequency(rng, fr, jaw, an.ybcol, an.landmarks, an.extra,
                                                   (look.below_dark, look.below_offset), ghosts_q)
    lines = ptx.ridge_lines(rng2, (fr.H, fr.W), an.ybcol, (jaw.cx - 0.4 * fr.W, jaw.cx + 0.4 * fr.W),
                            fr.spacing_c, look.n_lines)
    # bone = envelope x (level + texture + ridge lines + mottle - canal), in place (large arrays)
    bone = trab
    bone *= look.trab * (0.6 + 0.6 * density)
    bone += look.bone + 0.06 * density
    bone += look.lines * lines
    qc = _Quarter.of(fr)
    mottle = prl.density_mottle(rng2, (qc.hq, qc.wq), fr.spacing_c * qc.q)
    bone += look.mottle * cv2.resize(mottle, (fr.W, fr.H), interpolation=cv2.INTER_LINEAR)
    bone -= 0.045 * canal_full
    bone *= ramp
    bone *= np.maximum(an.mandible, soft_mask)
    img: np.ndarray = lf_full
    img += bone
    img += look.cortex * cv2.GaussianBlur(cortex, (0, 0), look.cortex_blur_px)
    img += teeth
    np.clip(img, 0.0, None, out=img)
    _shoulder(img)
    img = _blur(rng2, fr, jaw.cx, img, 0.3, look.acq.blur_px)
    img, M = _warp(fr, img)
    img = ptx.acquire(rng2, img, look.acq, float(overrides.get("noise", 1.0)))
    _burn_marker(rng2, fr, img, overrides)
    return _Rendered(img=img, M=M, density=density, tuber_x=tuber_x, premolar_x=premolar_x)


def generate_phantom(
    seed: int,
    *,
    klemetti: str | None = None,
    t_score: float | None = None,
    bit_depth: int | None = None,
    style: str = "v1",
    **overrides: Any,
) -> PhantomCase:
    """Generate one phantom panoramic radiograph with its ground truth (deterministic per seed).

    ``klemetti`` / ``t_score`` force the clinical state (the rest is drawn conditionally);
    ``bit_depth`` is 8 or 16 (default: 16 for about a quarter of seeds).
    ``style``: ``"v1"`` (the original look, default here so existing callers, samples and
    caches stay byte-identical) or ``"v2"`` (closer to real radiographs, issue 16; the
    default of new phantom folders, :data:`DEFAULT_STYLE`). Same label model either way.
    Other overrides: ``size_scale`` (float, default 1; 0.25 gives a quarter-size image
    with the same anatomy in mm), ``width``/``height`` (px before size_scale),
    ``pixel_spacing_mm``, ``mcw_right_mm``, ``mcw_left_mm``, ``rotation_deg``,
    ``marker`` (bool), ``noise`` (quantum-noise factor, default 1).
    """
    _check_options(bit_depth, overrides)
    if style not in STYLES:
        raise ConfigError(f"phantom style must be one of {', '.join(STYLES)}, not {style!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 20240301]))
    t, kl, mcw_r, mcw_l = draw_clinical(rng, t_score, klemetti)
    mcw_r = float(overrides.get("mcw_right_mm", mcw_r))
    mcw_l = float(overrides.get("mcw_left_mm", mcw_l))
    bits = bit_depth if bit_depth is not None else (16 if rng.random() < 0.25 else 8)
    fr = _draw_frame(rng, overrides)
    jaw = _draw_jaw(rng, fr, mcw_r, mcw_l)
    # v2 draws its own choices from a second generator, so v1's draw order is untouched
    rng2 = np.random.default_rng(np.random.SeedSequence([int(seed), 20240301, 2])) if style == "v2" else None
    dental = _pose_v2(rng2, fr, jaw, overrides) if rng2 is not None else None
    extra: dict[str, Any] = {}
    landmarks: dict[str, Point] = {}
    halves = {name: _half_outline(rng, fr, jaw, name, sd, landmarks, extra) for name, sd in jaw.sides.items()}
    mandible, sharp, depth = _rasterise_mandible(fr, jaw, halves)
    ybcol, wcol, wob = _border_columns(rng, fr, jaw)
    an = _Anatomy(fr=fr, jaw=jaw, kl=kl, t=t, mandible=mandible, sharp=sharp, depth=depth,
                  ybcol=ybcol, wcol=wcol, landmarks=landmarks, extra=extra)
    if rng2 is None or dental is None:
        r = _render_v1(rng, an, overrides)
    else:
        r = _render_v2(rng, rng2, an, dental, overrides)
    out, lm_out = _output_truth(fr, jaw, r.M, wob, r.tuber_x, r.premolar_x, landmarks, extra)
    img = r.img
    if bits == 16:
        arr = np.round(img * 65535.0).astype(np.uint16)
    else:
        arr = np.round(img * 255.0).astype(np.uint8)
    truth = PhantomTruth(
        t_score=float(t),
        label=int(t < OSTEOPOROSIS_T),
        klemetti=kl,
        mcw_right_mm=float(mcw_r),
        mcw_left_mm=float(mcw_l),
        pixel_spacing_mm=float(fr.spacing_out),
        roi=lee_roi_from_border(out["border_right"], out["border_left"], fr.W, fr.H),
        landmarks=lm_out,  # type: ignore[arg-type]
        border_right=out["border_right"],
        border_left=out["border_left"],
        endosteal_right=out["endosteal_right"],
        endosteal_left=out["endosteal_left"],
        mental_foramen_right=out["mf_right"],
        mental_foramen_left=out["mf_left"],
        bit_depth=bits,
        extras={"seed": int(seed), "trabecular_density": r.density,
                "lacunae_fraction": extra["lacunae_fraction"], "rotation_deg": fr.rot, "zoom": fr.zoom},
    )
    if dental is not None:
        truth.extras.update(style="v2", missing_p=round(dental.missing_p, 3))
    return PhantomCase(image=arr, truth=truth)


def lee_roi_from_border(border_right: list[Point], border_left: list[Point], width: int,
                        height: int) -> RoiBox:
    """The Lee-2020 ROI (700 x 140 on the 1200 x 630 resized image) in original pixels.

    Centred between the two mental regions, bottom just below the lowest border point
    inside the box's columns, so it covers the inferior cortex of both sides.
    """
    bw = LEE_ROI[0] * width / LEE_RESIZED[0]
    bh = LEE_ROI[1] * height / LEE_RESIZED[1]
    pts = np.asarray(list(border_right) + list(border_left), dtype=np.float64)
    xs = pts[:, 0]
    # centre: midpoint between the inner ends of the two halves
    cxm = 0.5 * (float(np.max(np.asarray(border_right)[:, 0])) + float(np.min(np.asarray(border_left)[:, 0])))
    x0 = cxm - bw / 2.0
    inside = (xs >= x0) & (xs <= x0 + bw)
    y_low = float(np.max(pts[inside, 1])) if inside.any() else float(np.max(pts[:, 1]))
    y1 = min(float(height), y_low + 0.03 * bh)
    y0 = y1 - bh
    return RoiBox(int(round(x0)), int(round(y0)), int(round(bw)), int(round(bh))).clipped(width, height)


# ----------------------------------------------------------------------------- dataset I/O


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an 8- or 16-bit grayscale PNG (raises DatasetError naming the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DatasetError(f"{path}: could not write the PNG (check the folder is writable)")


def write_dataset(
    out_dir: Path,
    n: int,
    seed: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    style: str = DEFAULT_STYLE,
    **overrides: Any,
) -> Path:
    """Write ``n`` phantoms as ``out_dir/images/phantom_NNNNN.png`` plus ``labels.csv``.

    Phantom i uses seed ``seed * 100003 + i`` so the set is reproducible and any single
    image can be regenerated (``generate_phantom(phantom_seed(seed, i), style=style)``).
    ``style``: ``v2`` by default (:data:`DEFAULT_STYLE`), ``v1`` for the original look.
    Returns the labels.csv path.
    """
    from .dataset import write_labels_csv

    if n < 1:
        raise ConfigError(f"--n must be at least 1, not {n}")
    out_dir = Path(out_dir)
    img_dir = out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    width = max(5, len(str(n - 1)))
    for i in range(n):
        case = generate_phantom(phantom_seed(seed, i), style=style, **overrides)
        rel = f"images/phantom_{i:0{width}d}.png"
        write_png(out_dir / rel, case.image)
        rows.append(case.truth.csv_row(rel))
        if progress is not None:
            progress(i + 1, n)
    labels = out_dir / "labels.csv"
    write_labels_csv(labels, rows)
    log.info("wrote %d phantoms to %s", n, out_dir)
    return labels


def generator_fingerprint() -> str:
    """sha256 (hex, 16 characters) of the generator's source: this module,
    ``phantom_texture.py`` and ``phantom_realism.py``. A phantom cache keyed on it is
    invalidated by any change to them (keying on this file alone misses changes to the v2
    building blocks)."""
    h = hashlib.sha256()
    for mod in (__file__, ptx.__file__, prl.__file__):
        h.update(Path(mod).read_bytes())
    return h.hexdigest()[:16]


def phantom_seed(seed: int, index: int) -> int:
    """Seed of phantom ``index`` in a set generated with ``seed``."""
    return int(seed) * 100003 + int(index)


# ----------------------------------------------------------------------------- montage


def _thumb(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    g: np.ndarray = gray.astype(np.float32)
    if gray.dtype == np.uint16:
        g /= 257.0
    g = cv2.resize(g, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(g, 0, 255).astype(np.uint8)


def make_montage(dataset_dir: Path, out_png: Path, real_dir: Path | None = None,
                 n: int = 6) -> Path:
    """Grid of ``n`` phantoms (left column) beside ``n`` real images (right) when given.

    Each tile carries a caption (phantom: class, MCW, T-score; real: file name). With
    ``real_dir`` the intensity histograms of both sets are drawn in a last row.
    """
    from .dataset import read_dataset

    rows = read_dataset(Path(dataset_dir))[:n]
    tw, th = 900, 400
    tiles_p: list[np.ndarray] = []
    hist_p = np.zeros(256)
    for r in rows:
        im = cv2.imread(str(r.file), cv2.IMREAD_UNCHANGED)
        if im is None:
            raise DatasetError(f"{r.file}: cannot read image for the montage")
        t = _thumb(im, tw, th)
        hist_p += np.bincount(t.ravel(), minlength=256)
        cap = f"phantom {r.file.name} {r.klemetti or ''} MCW {_fmt((r.mcw_right_mm, r.mcw_left_mm))} T {r.t_score if r.t_score is not None else '-'}"
        tiles_p.append(_caption(t, cap))
    tiles_r: list[np.ndarray] = []
    hist_r = np.zeros(256)
    if real_dir is not None:
        files = sorted(p for p in Path(real_dir).iterdir()
                       if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"))
        if not files:
            raise DatasetError(f"{real_dir}: no images found for the montage (pass a folder of PNG/JPEG files)")
        for p in files[:n]:
            im = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if im is None:
                continue
            if im.ndim == 3:
                im = cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)
            t = _thumb(im, tw, th)
            hist_r += np.bincount(t.ravel(), minlength=256)
            tiles_r.append(_caption(t, f"real {p.name}"))
    lines = []
    for i in range(max(len(tiles_p), len(tiles_r))):
        row = [tiles_p[i] if i < len(tiles_p) else np.zeros((th, tw), np.uint8)]
        if real_dir is not None:
            row.append(tiles_r[i] if i < len(tiles_r) else np.zeros((th, tw), np.uint8))
        lines.append(np.hstack(row))
    if real_dir is not None:
        lines.append(_hist_panel(hist_p, hist_r, tw * 2, 220))
    mont = np.vstack(lines)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), mont):
        raise DatasetError(f"{out_png}: could not write the montage")
    return out_png


def _fmt(v: tuple[float | None, float | None]) -> str:
    return "/".join("-" if x is None else f"{x:.1f}" for x in v)


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    t = tile.copy()
    cv2.rectangle(t, (0, 0), (t.shape[1], 24), 0, -1)
    cv2.putText(t, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
    return t


def _hist_panel(hp: np.ndarray, hr: np.ndarray, w: int, h: int) -> np.ndarray:
    panel = np.full((h, w), 20, np.uint8)
    for hist, val, label, y in ((hp, 255, "phantoms", 20), (hr, 140, "real", 40)):
        if hist.sum() <= 0:
            continue
        f = hist / hist.sum()
        f = f / max(f.max(), 1e-9)
        xs = np.linspace(10, w - 10, 256)
        ys = h - 10 - f * (h - 60)
        cv2.polylines(panel, [np.c_[xs, ys].astype(np.int32).reshape(-1, 1, 2)], False, val, 2,
                      cv2.LINE_AA)
        cv2.putText(panel, f"{label} intensity histogram", (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    val, 1, cv2.LINE_AA)
    return panel


# ----------------------------------------------------------------------------- shipped samples

# (file stem, Klemetti class, T-score, seed): the demo samples in resources/samples.
SAMPLE_SPECS: tuple[tuple[str, str, float, int], ...] = (
    ("phantom_c1", "C1", -0.6, 11),
    ("phantom_c2", "C2", -1.9, 22),
    ("phantom_c3", "C3", -3.3, 33),
)
SAMPLE_SIZE_SCALE = 0.5  # half size keeps each file well under 1.5 MB; full panoramic content
SAMPLE_DICOM_STEM = "phantom_c2"


def sample_cases() -> list[tuple[str, PhantomCase]]:
    """The three demo phantoms (deterministic; style v1, as shipped)."""
    return [
        (stem, generate_phantom(seed, klemetti=kl, t_score=t, bit_depth=8,
                                size_scale=SAMPLE_SIZE_SCALE, marker=True, style="v1"))
        for stem, kl, t, seed in SAMPLE_SPECS
    ]


def write_phantom_dicom(path: Path, case: PhantomCase, *, patient_name: str = "DEMO^PATIENT",
                        patient_id: str = "DEMO-0001") -> Path:
    """Write a phantom as a DICOM file (modality PX, MONOCHROME2, 12-bit, deflated, PixelSpacing set).

    The patient is fake; UIDs are derived deterministically from the patient id, so the
    file is byte-identical on every run.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    img = case.image
    if img.dtype == np.uint8:
        px = (img.astype(np.uint32) * 4095 + 127) // 255
    else:
        px = (img.astype(np.uint32) * 4095 + 32767) // 65535
    px = px.astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    sop_uid = generate_uid(entropy_srcs=[patient_id, "sop", str(path.name)])
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian  # lossless zlib, < 1 MB
    meta.ImplementationClassUID = generate_uid(entropy_srcs=["dentalosteo"])
    meta.ImplementationVersionName = "DENTALOSTEO"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[patient_id, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[patient_id, "series"])
    ds.Modality = "PX"
    ds.ConversionType = "SYN"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19560412"
    ds.PatientSex = "F"
    ds.StudyDate = "20240115"
    ds.StudyTime = "093000"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.StudyDescription = "DEMO panoramic phantom (synthetic, not a patient)"
    ds.Manufacturer = "DentalOsteo phantom generator"
    ds.BodyPartExamined = "JAW"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(px.shape[0]), int(px.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    sp = f"{case.truth.pixel_spacing_mm:.6f}"
    ds.PixelSpacing = [sp, sp]
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.PixelData = px.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return path


def write_samples(out_dir: Path) -> list[Path]:
    """Regenerate the shipped demo samples into ``out_dir`` (deterministic).

    Writes phantom_c1/c2/c3.png, phantom_c2.dcm (fake patient DEMO^PATIENT),
    labels.csv (the three PNGs: the folder is a valid dataset) and samples.csv (all four
    files, same format). Returns the written paths.
    """
    from .dataset import write_labels_csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows: list[dict[str, Any]] = []
    dicom_row: dict[str, Any] | None = None
    for stem, case in sample_cases():
        p = out_dir / f"{stem}.png"
        write_png(p, case.image)
        written.append(p)
        rows.append(case.truth.csv_row(p.name))
        if stem == SAMPLE_DICOM_STEM:
            d = write_phantom_dicom(out_dir / f"{stem}.dcm", case)
            written.append(d)
            dicom_row = case.truth.csv_row(d.name)
    write_labels_csv(out_dir / "labels.csv", rows)
    written.append(out_dir / "labels.csv")
    write_labels_csv(out_dir / "samples.csv", rows + ([dicom_row] if dicom_row else []))
    written.append(out_dir / "samples.csv")
    return written
