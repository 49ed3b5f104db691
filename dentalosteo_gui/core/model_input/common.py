"""What every model input shares: the per-patch z-score and the batch / channel axes."""

from __future__ import annotations

import numpy as np

Z_CLIP = 4.0


def normalise_patch(patch: np.ndarray) -> np.ndarray:
    """Per-patch z-score, clipped to +-4, float32 (works on any shape)."""
    p = np.asarray(patch, dtype=np.float32)
    m = float(p.mean())
    s = max(float(p.std()), 1e-3)
    return np.clip((p - m) / s, -Z_CLIP, Z_CLIP).astype(np.float32)


def batch_of_one(x: np.ndarray, channels: int = 1) -> np.ndarray:
    """(...) -> (1, ..., channels) float32: a batch axis first, the array repeated over channels."""
    return np.repeat(np.asarray(x)[None, ..., None], int(channels), axis=-1).astype(np.float32)
