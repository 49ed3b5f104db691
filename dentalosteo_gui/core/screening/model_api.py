"""The contract between the screening engine and a model: typed input kinds and prediction.

A backend declares the input it reads (``input_kind``) where it is built
(``dentalosteo_gui.services.make_engine`` from the pack's card); the engine then calls the one
method of that kind's protocol. Implemented by ``dentalosteo_gui.ml.backend.KerasBackend``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..types import Landmarks, ModelInfo, RoiBox, RoiProposal

InputKind = Literal["roi_box", "cortex_strip", "landmark_patches"]

#: the ``mode`` a pack's card states -> the input kind (the card keeps its historic names)
CARD_MODE_TO_INPUT_KIND: dict[str, InputKind] = {
    "roi": "roi_box", "band": "cortex_strip", "landmarks": "landmark_patches",
}


@dataclass
class ModelPrediction:
    """What a model call returns. Maps are optional (Grad-CAM off, or the model has none).

    ``map_roi``: the raw map over the ROI box (box.h x box.w, unnormalised);
    ``map_image``: a map already placed in image pixels ([0, 1], zero outside the input;
    handed over: the engine clips it in place when it is writable float32, so a backend
    returns a fresh array, not one it keeps);
    ``strip_map``: the map on the straightened cortex strip; ``patch_maps``: per landmark.
    """

    risk: float
    klemetti: dict[str, float] | None = None
    risk_raw: float | None = None
    attention: dict[str, float] | None = None
    map_roi: np.ndarray | None = None
    map_image: np.ndarray | None = None
    strip_map: np.ndarray | None = None
    patch_maps: dict[str, np.ndarray] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


class _ModelCommon(Protocol):
    info: ModelInfo
    card: dict[str, Any]
    device: str
    input_kind: InputKind

    def warm(self) -> float: ...


@runtime_checkable
class RoiBoxModel(_ModelCommon, Protocol):
    """Reads the ROI box crop."""

    def predict_roi(self, pixels: np.ndarray, box: RoiBox,
                    gradcam: str | None = "gradcam") -> ModelPrediction: ...


@runtime_checkable
class CortexStripModel(_ModelCommon, Protocol):
    """Reads the straightened inferior cortex (both sides) along the traced border."""

    def predict_strip(self, pixels: np.ndarray, proposal: RoiProposal, mm_per_px: float,
                      gradcam: str | None = "gradcam") -> ModelPrediction: ...


@runtime_checkable
class LandmarkModel(_ModelCommon, Protocol):
    """Reads patches around the eight trabecular landmarks."""

    def predict_landmarks(self, pixels: np.ndarray, landmarks: Landmarks,
                          mm_per_px: float) -> ModelPrediction: ...


ProposalModel = RoiBoxModel | CortexStripModel
