"""Training data in memory: per-image caches and acquisition augmentation (numpy + OpenCV).

Reading a 3000 x 1300 px radiograph for every sample of every epoch would dominate CPU
training, so each image is read ONCE and reduced to its exact model input, built by the same
``core.model_input`` builder inference uses (evaluation, early stopping, calibration), and
to a context cache augmented samples are cut from:
- ROI models: the ROI box plus a 15 % context margin at 1.25 x the model input scale;
- cortex-band models: the band widened in depth and along the border;
- landmark models: eight patches of 1.4 x the patch side.

Augmentation (training only), drawn per sample: ROI box jitter (+-5 % of each edge), scale
(+-8 %), rotation (+-4 degrees, landmarks +-10), horizontal flip (the risk label is the
same on both sides; landmark patches are each mirrored), gamma 0.6-1.6, contrast and
brightness, Gaussian blur, unsharp masking, Gaussian noise. Then the per-patch z-score of
inference.

Images of one patient share a group (:data:`GROUP_COLUMN` of ``labels.csv``): protocol
splits never put one patient in two parts (:func:`row_groups`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..core.errors import DatasetError
from ..core.model_input.common import normalise_patch
from ..core.model_input.landmarks import (
    LANDMARK_CONTEXT,
    landmark_context_patches,
    prepare_landmark_input,
)
from ..core.model_input.roi import ROI_CONTEXT, ROI_OVERSAMPLE, prepare_roi_input, roi_context_crop
from ..core.model_input.strip import (
    BAND_PAD_FRAC,
    BAND_PAD_ROWS,
    band_context,
    band_spec_for,
    prepare_band_input,
    strip_proposal,
)
from ..core.types import KLEMETTI_CLASSES, RoiBox

log = logging.getLogger(__name__)

GROUP_COLUMN = "patient_id"  # labels.csv column grouping the images of one patient
band_proposal = strip_proposal  # the traced border a band model is fed from (historical name)

__all__ = ["BAND_PAD_FRAC", "BAND_PAD_ROWS", "GROUP_COLUMN", "LANDMARK_CONTEXT", "ROI_CONTEXT",
           "ROI_OVERSAMPLE", "ArrayDataset", "AugmentConfig", "band_inputs", "band_proposal",
           "band_spec_for", "check_rows_have_inputs", "dataset_from_rows", "encode_image",
           "exact_input", "klemetti_index", "landmark_context_patches", "roi_context_crop",
           "row_groups"]


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
    # cortex-band models with an MCW head only (off by default): the band zoomed in depth about
    # the border row by a factor drawn log-uniformly from ``depth_zoom`` (the cortex looks that
    # much wider); the MCW target is scaled by the same factor and the risk loss is masked for
    # the zoomed sample, so the network learns to measure wider cortices than the phantoms'
    # label model draws while the risk keeps that model's relation to width
    depth_zoom_p: float = 0.0
    depth_zoom: tuple[float, float] = (1.0, 2.0)
    border_frac: float = 9.8 / 12.8  # the border's row in the band: BandSpec inside / (inside + outside)


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
    return normalise_patch(acquisition_augment(patch, rng, cfg))


def centre_roi(crop: np.ndarray, inner: Sequence[float], height: int, width: int) -> np.ndarray:
    """The un-augmented ROI from a context crop (normalised)."""
    x, y, w, h = (float(v) for v in inner)
    return normalise_patch(_affine_sample(crop, x + w / 2, y + h / 2, w, h, 0.0, height, width, False))


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
        out[i] = normalise_patch(acquisition_augment(p, np.random.default_rng(seed), cfg))
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
              aug: AugmentConfig | None, zooms: list[float] | None = None) -> np.ndarray:
        """Model input for rows ``idx``: augmented when ``rng`` and ``aug.enabled``, else exact.
        ``zooms`` (band mode): receives each sample's depth zoom (1 = none)."""
        ii = np.asarray(idx, dtype=np.int64)
        if rng is None or aug is None or not aug.enabled:
            return self._channels(self.exact[ii].astype(np.float32))
        if self.mode == "band":
            h, w = int(self.input_shape[0]), int(self.input_shape[1])
            xs = np.stack([augment_band(self.ctx[i].astype(np.float32), self.inner[i], h, w // 2, rng, aug,
                                        zooms) for i in ii])
        elif self.mode == "roi":
            h, w = int(self.input_shape[0]), int(self.input_shape[1])
            xs = np.stack([augment_roi(self.ctx[i].astype(np.float32), self.inner[i], h, w, rng, aug)
                           for i in ii])
        else:
            p = int(self.input_shape[1])
            xs = np.stack([augment_landmarks(self.ctx[i].astype(np.float32), p, rng, aug) for i in ii])
        return self._channels(xs)


def band_inputs(pixels: np.ndarray, proposal: Any, spacing: float | None, spec: Any = None
                ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """(exact normalised band, float16 context band with margins, inner rects of both halves);
    see ``core.model_input.strip``."""
    exact = prepare_band_input(pixels, proposal, spacing, spec)[0][0, ..., 0]
    ctx, inner = band_context(pixels, proposal, spacing, spec)
    return exact.astype(np.float16), ctx, inner


def _smooth_field(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    g = rng.normal(0.0, 1.0, (3, int(rng.integers(4, 12)))).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def zoom_depth(x: np.ndarray, z: float, border_row: float) -> np.ndarray:
    """The band stretched ``z`` times in depth about ``border_row`` (rows; z > 1: a wider cortex)."""
    rows, cols = x.shape
    map_y = (border_row + (np.arange(rows, dtype=np.float32) - border_row) / z).astype(np.float32)
    map_y = np.repeat(map_y[:, None], cols, axis=1)
    map_x = np.repeat(np.arange(cols, dtype=np.float32)[None, :], rows, axis=0)
    return np.asarray(cv2.remap(x, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def augment_band(ctx: np.ndarray, inner: Sequence[float], rows: int, cols: int,
                 rng: np.random.Generator, cfg: AugmentConfig, zooms: list[float] | None = None) -> np.ndarray:
    """One augmented, normalised (rows, 2*cols) cortex band from a context band; ``zooms``
    receives its depth zoom (``cfg.depth_zoom_p``; 1 = none)."""
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
    z = 1.0
    if cfg.depth_zoom_p > 0 and rng.random() < cfg.depth_zoom_p:  # no draw when off: recipes unchanged
        z = float(np.exp(rng.uniform(np.log(cfg.depth_zoom[0]), np.log(cfg.depth_zoom[1]))))
        x = zoom_depth(x, z, cfg.border_frac * (rows - 1))
    if zooms is not None:
        zooms.append(z)
    if cfg.flip and rng.random() < 0.5:
        x = np.ascontiguousarray(x[:, ::-1])
    x = acquisition_augment(x, rng, cfg)
    if rng.random() < cfg.haze_p:
        a = rng.uniform(*cfg.haze)
        x = (1.0 - a) * x + a * cv2.GaussianBlur(x, (0, 0), float(rng.uniform(6.0, 20.0)))
    if rng.random() < cfg.field_p:
        x = x + float(rng.uniform(*cfg.field_amp)) * float(x.std() + 1e-3) * _smooth_field(rng, *x.shape)
    return normalise_patch(x)


def klemetti_index(k: str | None) -> int:
    """0/1/2 for C1/C2/C3, -1 when unknown."""
    return KLEMETTI_CLASSES.index(k) if k in KLEMETTI_CLASSES else -1


def row_groups(rows: Sequence[Any]) -> list[str] | None:
    """The patient group (:data:`GROUP_COLUMN`) of each row, or None when no row has one."""
    ids = [str((getattr(r, "extra", None) or {}).get(GROUP_COLUMN) or "") for r in rows]
    return ids if any(ids) else None


def check_rows_have_inputs(rows: Sequence[Any], mode: str, csv: Path, who: str) -> None:
    """DatasetError naming the first row that lacks what a ``mode`` model is fed from."""
    if mode == "roi" and any(r.roi is None for r in rows):
        bad = next(r for r in rows if r.roi is None)
        raise DatasetError(f"{csv}: row {bad.row_number}: {who} needs roi_x, roi_y, roi_w, roi_h "
                           "(the ROI box) for every row")
    if mode == "landmarks" and any(r.landmarks is None for r in rows):
        bad = next(r for r in rows if r.landmarks is None)
        raise DatasetError(f"{csv}: row {bad.row_number}: {who} needs the eight landmark columns "
                           "lm_<name>_x / lm_<name>_y")


def exact_input(pixels: np.ndarray, mode: str, input_shape: Sequence[int], roi: RoiBox | None,
                landmarks: dict | None, spacing: float | None, patch_mm: float = 10.0,
                proposal: Any = None) -> np.ndarray:
    """The un-augmented model input of one image, float32, without batch and channel axes:
    the ``core.model_input`` builder inference uses (``ml.packs.ModelPack.prepare_*``)."""
    if mode == "band":
        prop = proposal if proposal is not None else strip_proposal(pixels, roi, spacing)
        return prepare_band_input(pixels, prop, spacing, band_spec_for(input_shape))[0][0, ..., 0]
    if mode == "roi":
        if roi is None:
            raise ValueError("ROI model needs roi_x, roi_y, roi_w, roi_h")
        return prepare_roi_input(pixels, roi, int(input_shape[0]), int(input_shape[1]))[0, ..., 0]
    if landmarks is None:
        raise ValueError("landmark model needs the lm_<name>_x / _y columns")
    return prepare_landmark_input(pixels, landmarks, spacing, int(input_shape[1]), patch_mm)[0, ..., 0]


def encode_image(pixels: np.ndarray, mode: str, input_shape: Sequence[int], roi: RoiBox | None,
                 landmarks: dict | None, spacing: float | None, patch_mm: float = 10.0,
                 proposal: Any = None,
                 ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...] | None]:
    """(exact input without channel axis, context crop, inner box) of one image."""
    if mode == "band":
        prop = proposal if proposal is not None else strip_proposal(pixels, roi, spacing)
        return band_inputs(pixels, prop, spacing, band_spec_for(input_shape))
    exact = exact_input(pixels, mode, input_shape, roi, landmarks, spacing, patch_mm).astype(np.float16)
    if mode == "roi":
        crop, inner = roi_context_crop(pixels, roi, int(input_shape[0]), int(input_shape[1]))
        return exact, crop, inner
    return exact, landmark_context_patches(pixels, landmarks, spacing, int(input_shape[1]), patch_mm), None


def _row_meta(r: Any) -> dict[str, Any]:
    return {"file": str(getattr(r, "file", "")),
            "mcw_mean_mm": getattr(r, "mcw_mean_mm", None),
            "pixel_spacing_mm": getattr(r, "pixel_spacing_mm", None),
            GROUP_COLUMN: (getattr(r, "extra", {}) or {}).get(GROUP_COLUMN)}


def dataset_from_rows(
    rows: Sequence[Any], mode: str, input_shape: Sequence[int], patch_mm: float = 10.0,
    load: Callable[[Any], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None, threads: int = 2,
    exact_only: bool = False,
) -> ArrayDataset:
    """Read every image of ``rows`` (``core.data.dataset.DatasetRow``-like) once and cache it.

    ``exact_only`` keeps only the inference inputs (evaluation: no augmentation crops).
    """
    if load is None:
        from ..core.imaging.imageio import load_radiograph

        def load(r: Any) -> np.ndarray:
            return load_radiograph(r.file).pixels

    def one(r: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        args = (load(r), mode, input_shape, getattr(r, "roi", None), getattr(r, "landmarks", None),
                getattr(r, "pixel_spacing_mm", None), patch_mm)
        if exact_only:
            return exact_input(*args).astype(np.float16), np.zeros((1, 1), np.float16), (0.0, 0.0, 1.0, 1.0)
        return encode_image(*args)

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
        meta=[_row_meta(r) for r in rows],
        mcw=np.array([np.nan if getattr(r, "mcw_mean_mm", None) is None else float(r.mcw_mean_mm)
                      for r in rows], dtype=np.float32),
    )
