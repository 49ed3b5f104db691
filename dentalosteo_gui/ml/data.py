"""Training data in memory: per-image caches and acquisition augmentation (numpy + OpenCV).

Reading a 3000 x 1300 px radiograph for every sample of every epoch would dominate CPU
training, so each image is read ONCE and reduced to
- for ROI models, the ROI box plus a 15 % context margin, resized to 1.25 x the model input
  scale (float16), from which augmented crops are cut with one affine warp, and the exact
  inference input (``core.preprocess.prepare_roi_input``) for evaluation;
- for landmark models, eight patches of 1.4 x the patch side (context for jitter), and the
  exact inference patches.

Augmentation (training only), drawn per sample: ROI box jitter (+-5 % of each edge), scale
(+-8 %), rotation (+-4 degrees, landmarks +-10), horizontal flip (the risk label is the
same on both sides; landmark patches are each mirrored), gamma 0.6-1.6, contrast and
brightness, Gaussian blur, unsharp masking, Gaussian noise. Then the per-patch z-score of
inference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..core.model_input import preprocess as pp
from ..core.types import KLEMETTI_CLASSES, RoiBox

log = logging.getLogger(__name__)

ROI_CONTEXT = 0.15
ROI_OVERSAMPLE = 1.25
LANDMARK_CONTEXT = 1.4
BAND_PAD_ROWS = 10
BAND_PAD_FRAC = 0.08


@dataclass
class AugmentConfig:
    """Strength of the acquisition randomisation (set ``enabled=False`` for none)."""

    enabled: bool = True
    box_jitter: float = 0.05
    scale: float = 0.08
    rotation_deg: float = 4.0
    flip: bool = True
    gamma: tuple[float, float] = (0.6, 1.6)
    contrast: tuple[float, float] = (0.7, 1.3)
    blur_p: float = 0.35
    blur_sigma: tuple[float, float] = (0.3, 1.3)
    sharpen_p: float = 0.25
    noise_p: float = 0.5
    noise_sd: tuple[float, float] = (0.005, 0.04)
    # cortex-band models only: depth shift (fraction of the band's rows; a border traced a
    # little high or low), depth/arc scale (pixel spacing uncertainty), and two distortions
    # seen on real radiographs but not on phantoms: haze (soft tissue and ghosts lowering the
    # local contrast of the cortex) and a smooth additive intensity field (ghosts, burn-out)
    band_shift: float = 0.12
    band_scale: float = 0.08
    haze_p: float = 0.5
    haze: tuple[float, float] = (0.1, 0.6)
    field_p: float = 0.5
    field_amp: tuple[float, float] = (0.05, 0.35)


# ----------------------------------------------------------------------------- caches


def roi_context_crop(
    pixels: np.ndarray, box: RoiBox, height: int, width: int,
    context: float = ROI_CONTEXT, oversample: float = ROI_OVERSAMPLE,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """ROI + context margin at ``oversample`` x the input scale; returns (crop, box in crop)."""
    img = np.asarray(pixels, dtype=np.float32)
    mx, my = context * box.w, context * box.h
    x0, y0 = int(np.floor(box.x - mx)), int(np.floor(box.y - my))
    x1, y1 = int(np.ceil(box.x + box.w + mx)), int(np.ceil(box.y + box.h + my))
    sx = oversample * width / float(box.w)
    sy = oversample * height / float(box.h)
    out_w = max(8, int(round((x1 - x0) * sx)))
    out_h = max(8, int(round((y1 - y0) * sy)))
    crop = pp.resize_area(pp.crop_padded(img, x0, y0, x1, y1), out_h, out_w)
    sx, sy = out_w / float(x1 - x0), out_h / float(y1 - y0)
    inner = ((box.x - x0) * sx, (box.y - y0) * sy, box.w * sx, box.h * sy)
    return crop.astype(np.float16), inner


def landmark_context_patches(
    pixels: np.ndarray, landmarks: dict, spacing: float | None, out_size: int, patch_mm: float,
    context: float = LANDMARK_CONTEXT,
) -> np.ndarray:
    """(8, S, S) float16 patches of ``context`` x the patch side (S = out_size * context)."""
    s = int(round(out_size * context))
    return pp.crop_landmark_patches(pixels, landmarks, spacing, s, patch_mm * context).astype(np.float16)


# ----------------------------------------------------------------------------- augmentation


def acquisition_augment(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Intensity randomisation of a [0,1]-ish float patch (gamma, contrast, blur, sharpen, noise)."""
    x = np.clip(img.astype(np.float32), 0.0, 1.0)
    x = x ** np.float32(np.exp(rng.uniform(np.log(cfg.gamma[0]), np.log(cfg.gamma[1]))))
    c = rng.uniform(*cfg.contrast)
    m = float(x.mean())
    x = (x - m) * c + m + rng.uniform(-0.1, 0.1)
    if rng.random() < cfg.blur_p:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(*cfg.blur_sigma)))
    if rng.random() < cfg.sharpen_p:
        b = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(1.0, 3.0)))
        x = x + rng.uniform(0.3, 1.2) * (x - b)
    if rng.random() < cfg.noise_p:
        x = x + rng.normal(0.0, rng.uniform(*cfg.noise_sd), x.shape).astype(np.float32)
    return x


def _affine_sample(src: np.ndarray, cx: float, cy: float, w: float, h: float, angle_deg: float,
                   out_h: int, out_w: int, flip: bool) -> np.ndarray:
    """Sample a (possibly rotated) w x h box centred at (cx, cy) of ``src`` into out_h x out_w."""
    a = np.deg2rad(angle_deg)
    ca, sa = np.cos(a), np.sin(a)
    sx, sy = w / out_w, h / out_h
    # output pixel (u, v) -> source: centre + R @ ((u - out_w/2 + .5) * sx, (v - out_h/2 + .5) * sy)
    m = np.array([[ca * sx, -sa * sy, 0.0], [sa * sx, ca * sy, 0.0]], dtype=np.float64)
    if flip:
        m[:, 0] *= -1.0
    u0, v0 = out_w / 2.0 - 0.5, out_h / 2.0 - 0.5
    m[0, 2] = cx - 0.5 - (m[0, 0] * u0 + m[0, 1] * v0)
    m[1, 2] = cy - 0.5 - (m[1, 0] * u0 + m[1, 1] * v0)
    return cv2.warpAffine(src.astype(np.float32), m, (out_w, out_h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def augment_roi(crop: np.ndarray, inner: Sequence[float], height: int, width: int,
                rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One augmented, normalised (height, width) ROI patch from a context crop."""
    x, y, w, h = (float(v) for v in inner)
    j = cfg.box_jitter
    s = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    ww = w * s * (1.0 + rng.uniform(-j, j))
    hh = h * s * (1.0 + rng.uniform(-j, j))
    cx = x + w / 2.0 + rng.uniform(-j, j) * w
    cy = y + h / 2.0 + rng.uniform(-j, j) * h
    ang = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
    flip = bool(cfg.flip and rng.random() < 0.5)
    patch = _affine_sample(crop, cx, cy, ww, hh, ang, height, width, flip)
    return pp.normalise_patch(acquisition_augment(patch, rng, cfg))


def centre_roi(crop: np.ndarray, inner: Sequence[float], height: int, width: int) -> np.ndarray:
    """The un-augmented ROI from a context crop (normalised)."""
    x, y, w, h = (float(v) for v in inner)
    return pp.normalise_patch(_affine_sample(crop, x + w / 2, y + h / 2, w, h, 0.0, height, width, False))


def augment_landmarks(ctx: np.ndarray, out_size: int, rng: np.random.Generator,
                      cfg: AugmentConfig, context: float = LANDMARK_CONTEXT) -> np.ndarray:
    """(8, out, out) augmented, normalised patches from context patches."""
    s_ctx = ctx.shape[-1]
    side = s_ctx / context
    out = np.empty((ctx.shape[0], out_size, out_size), dtype=np.float32)
    # one acquisition draw per image (the same machine took all eight patches)
    seed = int(rng.integers(0, 2**31 - 1))
    for i in range(ctx.shape[0]):
        sc = side * (1.0 + rng.uniform(-0.1, 0.1))
        cx = s_ctx / 2.0 + rng.uniform(-0.08, 0.08) * side
        cy = s_ctx / 2.0 + rng.uniform(-0.08, 0.08) * side
        p = _affine_sample(ctx[i], cx, cy, sc, sc, rng.uniform(-10, 10), out_size, out_size,
                           bool(cfg.flip and rng.random() < 0.5))
        out[i] = pp.normalise_patch(acquisition_augment(p, np.random.default_rng(seed), cfg))
    return out


# ----------------------------------------------------------------------------- dataset


@dataclass
class ArrayDataset:
    """Cached samples of one mode with labels; ``batch`` returns model-ready arrays."""

    mode: str  # roi | band | landmarks
    input_shape: tuple[int, ...]  # model input without batch
    labels: np.ndarray  # (N,) 0/1
    klemetti: np.ndarray  # (N,) 0..2, -1 unknown
    exact: np.ndarray  # (N, ...) float16 exact inference inputs (normalised)
    ctx: list[np.ndarray]  # context crops
    inner: list[tuple[float, ...]] = field(default_factory=list)
    meta: list[dict[str, Any]] = field(default_factory=list)
    mcw: np.ndarray | None = None  # (N,) mean MCW in mm, NaN unknown

    def __len__(self) -> int:
        return int(self.labels.size)

    def subset(self, idx: Sequence[int] | np.ndarray) -> ArrayDataset:
        ii = np.asarray(idx, dtype=np.int64)
        return ArrayDataset(self.mode, self.input_shape, self.labels[ii], self.klemetti[ii],
                            self.exact[ii], [self.ctx[i] for i in ii],
                            [self.inner[i] for i in ii] if self.inner else [],
                            [self.meta[i] for i in ii] if self.meta else [],
                            self.mcw[ii] if self.mcw is not None else None)

    def _channels(self, x: np.ndarray) -> np.ndarray:
        c = int(self.input_shape[-1])
        return np.repeat(x[..., None], c, axis=-1) if c > 1 else x[..., None]

    def batch(self, idx: Sequence[int] | np.ndarray, rng: np.random.Generator | None,
              aug: AugmentConfig | None) -> np.ndarray:
        """Model input for rows ``idx``: augmented when ``rng`` and ``aug.enabled``, else exact."""
        ii = np.asarray(idx, dtype=np.int64)
        if rng is None or aug is None or not aug.enabled:
            return self._channels(self.exact[ii].astype(np.float32))
        if self.mode == "band":
            h, w = int(self.input_shape[0]), int(self.input_shape[1])
            xs = np.stack([augment_band(self.ctx[i].astype(np.float32), self.inner[i], h, w // 2, rng, aug)
                           for i in ii])
        elif self.mode == "roi":
            h, w = int(self.input_shape[0]), int(self.input_shape[1])
            xs = np.stack([augment_roi(self.ctx[i].astype(np.float32), self.inner[i], h, w, rng, aug)
                           for i in ii])
        else:
            p = int(self.input_shape[1])
            xs = np.stack([augment_landmarks(self.ctx[i].astype(np.float32), p, rng, aug) for i in ii])
        return self._channels(xs)


def band_inputs(pixels: np.ndarray, proposal: Any, spacing: float, spec: Any = None
                ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """(exact normalised band, float16 context band with margins, inner rects of both halves).

    The context band is wider (``BAND_PAD_ROWS`` rows above and below, ``BAND_PAD_FRAC`` of
    the half-width at both ends of each side) so augmentation can shift and scale it."""
    from ..core.anatomy.band import BandSpec, extract_band

    spec = spec or BandSpec()
    exact = pp.normalise_patch(extract_band(pixels, proposal, spacing, spec).strip)
    ctx = extract_band(pixels, proposal, spacing, spec, pad_rows=BAND_PAD_ROWS, pad_frac=BAND_PAD_FRAC).strip
    lo, hi = spec.window
    w0, w1 = max(0.02, lo - BAND_PAD_FRAC), hi + BAND_PAD_FRAC
    n = ctx.shape[1] // 2
    span = (w1 - w0) / float(n)  # window fraction per context column (approximately)
    y, h = float(BAND_PAD_ROWS), float(spec.rows)
    left_x = (w1 - hi) / span  # image-left half runs from the outer end inwards
    right_x = (lo - w0) / span
    w = (hi - lo) / span
    return exact.astype(np.float16), ctx.astype(np.float16), (left_x, y, w, h, right_x, y, w, h)


def _smooth_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    g = rng.normal(0.0, 1.0, (3, int(rng.integers(4, 12)))).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def augment_band(ctx: np.ndarray, inner: Sequence[float], rows: int, cols: int,
                 rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One augmented, normalised (rows, 2*cols) cortex band from a context band."""
    n = ctx.shape[1] // 2
    shift = rng.uniform(-cfg.band_shift, cfg.band_shift) * rows
    scale = 1.0 + rng.uniform(-cfg.band_scale, cfg.band_scale)
    halves = []
    for k in range(2):
        x, y, w, h = (float(v) for v in inner[4 * k: 4 * k + 4])
        ww = w * scale * (1.0 + rng.uniform(-0.05, 0.05))
        cx = x + w / 2.0 + rng.uniform(-0.06, 0.06) * w
        cy = y + h / 2.0 + shift + rng.uniform(-0.02, 0.02) * rows
        halves.append(_affine_sample(ctx[:, k * n:(k + 1) * n], cx, cy, ww, h * scale,
                                     rng.uniform(-2.0, 2.0), rows, cols, False))
    x = np.concatenate(halves, axis=1)
    if cfg.flip and rng.random() < 0.5:
        x = np.ascontiguousarray(x[:, ::-1])
    x = acquisition_augment(x, rng, cfg)
    if rng.random() < cfg.haze_p:
        a = rng.uniform(*cfg.haze)
        x = (1.0 - a) * x + a * cv2.GaussianBlur(x, (0, 0), float(rng.uniform(6.0, 20.0)))
    if rng.random() < cfg.field_p:
        x = x + float(rng.uniform(*cfg.field_amp)) * float(x.std() + 1e-3) * _smooth_field(rng, *x.shape)
    return pp.normalise_patch(x)


def klemetti_index(k: str | None) -> int:
    """0/1/2 for C1/C2/C3, -1 when unknown."""
    return KLEMETTI_CLASSES.index(k) if k in KLEMETTI_CLASSES else -1


def band_proposal(pixels: np.ndarray, roi: RoiBox | None, spacing: float | None) -> Any:
    """The traced border a band model is fed from: inside ``roi`` when given (split at the
    midline found on the whole image), else proposed; exactly as the app does."""
    from ..core.anatomy import border_for_box, propose_roi
    from ..core.types import Radiograph

    rad = Radiograph(pixels=np.asarray(pixels, dtype=np.float32), pixel_spacing_mm=spacing)
    auto = propose_roi(rad)
    return border_for_box(rad, roi, auto) if roi is not None else auto


def band_spec_for(input_shape: Sequence[int]) -> Any:
    """The default band geometry with the rows / columns of ``input_shape``."""
    from ..core.anatomy.band import BandSpec

    return BandSpec(rows=int(input_shape[0]), cols_per_side=int(input_shape[1]) // 2)


def encode_image(pixels: np.ndarray, mode: str, input_shape: Sequence[int], roi: RoiBox | None,
                 landmarks: dict | None, spacing: float | None, patch_mm: float = 10.0,
                 proposal: Any = None,
                 ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...] | None]:
    """(exact input without channel axis, context crop, inner box) of one image."""
    if mode == "band":
        prop = proposal if proposal is not None else band_proposal(pixels, roi, spacing)
        return band_inputs(pixels, prop, spacing or pp.DEFAULT_SPACING_MM, band_spec_for(input_shape))
    if mode == "roi":
        if roi is None:
            raise ValueError("ROI model needs roi_x, roi_y, roi_w, roi_h")
        h, w = int(input_shape[0]), int(input_shape[1])
        exact = pp.prepare_roi_input(pixels, roi, h, w, 1)[0, :, :, 0]
        crop, inner = roi_context_crop(pixels, roi, h, w)
        return exact.astype(np.float16), crop, inner
    if landmarks is None:
        raise ValueError("landmark model needs the lm_<name>_x / _y columns")
    p = int(input_shape[1])
    patches = pp.crop_landmark_patches(pixels, landmarks, spacing, p, patch_mm)
    exact = pp.normalise_landmark_patches(patches)[0, ..., 0]
    ctx = landmark_context_patches(pixels, landmarks, spacing, p, patch_mm)
    return exact.astype(np.float16), ctx, None


def dataset_from_rows(
    rows: Sequence[Any], mode: str, input_shape: Sequence[int], patch_mm: float = 10.0,
    load: Callable[[Any], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None, threads: int = 2,
    exact_only: bool = False,
) -> ArrayDataset:
    """Read every image of ``rows`` (``core.dataset.DatasetRow``-like) once and cache it.

    ``exact_only`` keeps only the inference inputs (evaluation: no augmentation crops).
    """
    if load is None:
        from ..core.imaging.imageio import load_radiograph

        def load(r: Any) -> np.ndarray:
            return load_radiograph(r.file).pixels

    def one(r: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        px = load(r)
        if exact_only:
            return _exact_only(px, r)
        return encode_image(px, mode, input_shape, getattr(r, "roi", None),
                            getattr(r, "landmarks", None), getattr(r, "pixel_spacing_mm", None),
                            patch_mm)

    def _exact_only(px: np.ndarray, r: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        if mode == "band":
            from ..core.anatomy.band import extract_band

            sp = getattr(r, "pixel_spacing_mm", None)
            prop = band_proposal(px, getattr(r, "roi", None), sp)
            e = pp.normalise_patch(extract_band(px, prop, sp or pp.DEFAULT_SPACING_MM,
                                                band_spec_for(input_shape)).strip)
        elif mode == "roi":
            if getattr(r, "roi", None) is None:
                raise ValueError("ROI model needs roi_x, roi_y, roi_w, roi_h")
            e = pp.prepare_roi_input(px, r.roi, int(input_shape[0]), int(input_shape[1]), 1)[0, :, :, 0]
        else:
            if getattr(r, "landmarks", None) is None:
                raise ValueError("landmark model needs the lm_<name>_x / _y columns")
            e = pp.normalise_landmark_patches(pp.crop_landmark_patches(
                px, r.landmarks, getattr(r, "pixel_spacing_mm", None), int(input_shape[1]), patch_mm))[0, ..., 0]
        return e.astype(np.float16), np.zeros((1, 1), np.float16), (0.0, 0.0, 1.0, 1.0)

    results: list[Any] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as ex:
        for i, res in enumerate(ex.map(one, rows)):
            results.append(res)
            if progress is not None:
                progress(i + 1, len(rows))
    return ArrayDataset(
        mode=mode,
        input_shape=tuple(int(v) for v in input_shape),
        labels=np.array([int(r.label) for r in rows], dtype=np.int64),
        klemetti=np.array([klemetti_index(getattr(r, "klemetti", None)) for r in rows], dtype=np.int64),
        exact=np.stack([e for e, _, _ in results]),
        ctx=[c for _, c, _ in results],
        inner=[i for _, _, i in results] if mode in ("roi", "band") else [],
        meta=[{"file": str(getattr(r, "file", "")),
               "mcw_mean_mm": getattr(r, "mcw_mean_mm", None),
               "pixel_spacing_mm": getattr(r, "pixel_spacing_mm", None),
               "patient_id": (getattr(r, "extra", {}) or {}).get("patient_id")} for r in rows],
        mcw=np.array([np.nan if getattr(r, "mcw_mean_mm", None) is None else float(r.mcw_mean_mm)
                      for r in rows], dtype=np.float32),
    )
