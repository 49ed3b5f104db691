"""The model backend the screening engine calls: a model pack + device + Grad-CAM.

Implements the protocol of its pack's input kind (``core.screening.model_api``: ``RoiBoxModel``,
``CortexStripModel`` or ``LandmarkModel``), declared as ``input_kind`` from the card when the
backend is built. TensorFlow is imported lazily.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError
from ..core.imaging.heatmap import resize_map
from ..core.screening.model_api import CARD_MODE_TO_INPUT_KIND, InputKind, ModelPrediction
from ..core.types import Landmarks, ModelInfo, RoiBox, RoiProposal

log = logging.getLogger(__name__)

def _stage_ms(t0: float, t1: float, t2: float, t3: float, gradcam: str | None) -> dict[str, float]:
    """Preprocess / model / postprocess times (ms) from four perf_counter readings."""
    return {"preprocess": (t1 - t0) * 1000.0,
            "inference_gradcam" if gradcam else "inference": (t2 - t1) * 1000.0,
            "postprocess": (t3 - t2) * 1000.0}


def _prediction(d: dict[str, Any]) -> ModelPrediction:
    """The pack's output mapping as the typed contract."""
    raw = d.get("risk_raw")
    return ModelPrediction(risk=float(d["risk"]), klemetti=d.get("klemetti"),
                           risk_raw=None if raw is None else float(raw), attention=d.get("attention"))


class KerasBackend:
    """Loads a pack once, warms it, and serves predictions + Grad-CAM maps."""

    def __init__(self, pack_dir: str | Path | None = None, device: str = "auto") -> None:
        from .packs import load_pack, select_device

        self.device = select_device(device)
        self.pack = load_pack(pack_dir)
        self.card: dict[str, Any] = self.pack.card
        if self.pack.mode not in CARD_MODE_TO_INPUT_KIND:
            raise ModelError(f"model pack {self.pack.path}: unknown input mode {self.pack.mode!r} in card.json")
        self.input_kind: InputKind = CARD_MODE_TO_INPUT_KIND[self.pack.mode]
        self.info = ModelInfo(
            name=str(self.card.get("name", "model")),
            version=str(self.card.get("version", "")),
            sha256=self.pack.sha256,
            arch=str(self.card.get("arch", "")),
            source=str((self.card.get("training_data") or {}).get("source", "")),
        )
        self._cam: Any = None
        self._warm = False

    # ------------------------------------------------------------------ helpers
    def _tf_device(self) -> Any:
        import tensorflow as tf

        return tf.device("/GPU:0" if self.device.upper().startswith("GPU") else "/CPU:0")

    def _cam_engine(self) -> Any:
        if self._cam is None:
            from .gradcam import FastGradCam

            layer = self.card.get("gradcam_layer")
            if not layer:
                raise ModelError(f"model pack {self.pack.path}: card has no gradcam_layer")
            self._cam = FastGradCam(self.pack.keras_model(), layer)
        return self._cam

    def _from_outputs(self, outs: list[np.ndarray]) -> ModelPrediction:
        """Model outputs -> calibrated risk + Klemetti probabilities, as the card says."""
        return _prediction(self._outputs_dict(outs))

    def _outputs_dict(self, outs: list[np.ndarray]) -> dict[str, Any]:
        return dict(self.pack.predict_from_outputs(outs))  # one calibration path: the pack's

    def warm(self) -> float:
        """Build the graph once so the first dentist-facing call is fast; returns ms."""
        if self._warm:
            return 0.0
        t0 = time.perf_counter()
        if self.input_kind in ("roi_box", "cortex_strip"):
            h = int(self.card["input"]["height"])
            w = int(self.card["input"]["width"])
            c = int(self.card["input"].get("channels", 1))
            with self._tf_device():
                self._cam_engine()(np.zeros((1, h, w, c), np.float32))
        else:
            px = np.zeros((400, 800), np.float32)
            lm = {n: (400.0, 200.0) for n in self._landmark_names()}
            self.predict_landmarks(px, lm, 0.1)
        self._warm = True
        return (time.perf_counter() - t0) * 1000.0

    @staticmethod
    def _landmark_names() -> tuple[str, ...]:
        from ..core.types import LANDMARK_NAMES

        return LANDMARK_NAMES

    # ------------------------------------------------------------------ ROI mode
    def _infer(self, x: np.ndarray, gradcam: str | None) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Model outputs and (optionally) the raw Grad-CAM map of the risk output."""
        with self._tf_device():
            if gradcam:
                cam, outs = self._cam_engine()(x, plus=(gradcam == "gradcam++"))
                return outs, cam[0]
            outs = self.pack.keras_model()(x, training=False)
            if isinstance(outs, dict):  # our models name their outputs
                return {str(k): np.asarray(v) for k, v in outs.items()}, None  # type: ignore[return-value]
            return [np.asarray(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])], None

    def predict_roi(self, pixels: np.ndarray, box: RoiBox, gradcam: str | None = "gradcam") -> ModelPrediction:
        """Risk, Klemetti probabilities and (optionally) the Grad-CAM map on the ROI
        (``map_roi``: box.h x box.w in model units, unnormalised)."""
        t0 = time.perf_counter()
        x = self.pack.prepare_roi(pixels, box)
        t1 = time.perf_counter()
        outs, raw = self._infer(x, gradcam)
        t2 = time.perf_counter()
        pred = self._from_outputs(outs)
        pred.map_roi = resize_map(raw, (box.h, box.w)) if raw is not None else None
        pred.timings_ms = _stage_ms(t0, t1, t2, time.perf_counter(), gradcam)
        return pred

    # ------------------------------------------------------------------ cortex-band mode
    def predict_strip(self, pixels: np.ndarray, proposal: RoiProposal, mm_per_px: float,
                      gradcam: str | None = "gradcam") -> ModelPrediction:
        """Risk and Klemetti probabilities from the straightened cortex strip along
        ``proposal``'s traced border; ``map_image`` is the Grad-CAM map put back into image
        pixels ([0, 1], zero outside the strip and the box), ``strip_map`` the map on the strip."""
        from ..core.anatomy.band import band_to_image
        from ..core.imaging.heatmap import normalise_map

        t0 = time.perf_counter()
        x, band = self.pack.prepare_band(pixels, proposal, mm_per_px)
        t1 = time.perf_counter()
        outs, raw = self._infer(x, gradcam)
        t2 = time.perf_counter()
        pred = self._from_outputs(outs)
        if raw is not None:
            strip_map = normalise_map(resize_map(raw, band.strip.shape))
            pred.strip_map = strip_map
            pred.map_image = band_to_image(strip_map, band.map_x, band.map_y,
                                           np.asarray(pixels).shape[:2], proposal.box)
        pred.timings_ms = _stage_ms(t0, t1, t2, time.perf_counter(), gradcam)
        return pred

    # ------------------------------------------------------------------ landmark mode
    def predict_landmarks(self, pixels: np.ndarray, landmarks: Landmarks, mm_per_px: float) -> ModelPrediction:
        t0 = time.perf_counter()
        x = self.pack.prepare_landmarks(pixels, landmarks, mm_per_px)
        t1 = time.perf_counter()
        with self._tf_device():
            pred = _prediction(dict(self.pack.predict(x)))
        t2 = time.perf_counter()
        layer = self.card.get("gradcam_layer")
        if layer:
            try:
                pred.patch_maps = self._patch_maps(x, layer)
            except Exception as exc:  # noqa: BLE001 - maps are an extra; never fail the screening
                log.warning("landmark Grad-CAM failed: %s", type(exc).__name__)
        pred.timings_ms = {"preprocess": (t1 - t0) * 1000.0, "inference": (t2 - t1) * 1000.0,
                           "gradcam": (time.perf_counter() - t2) * 1000.0}
        return pred

    def _patch_maps(self, x: Any, layer: str) -> dict[str, np.ndarray] | None:
        """Per-patch saliency for the siamese model: |d risk / d patch| smoothed (input gradients)."""
        import tensorflow as tf

        model = self.pack.keras_model()
        xs = x if isinstance(x, (list, tuple)) else [x]
        ts = [tf.convert_to_tensor(np.asarray(v, dtype=np.float32)) for v in xs]
        with tf.GradientTape() as tape:
            for t in ts:
                tape.watch(t)
            out = model(ts if len(ts) > 1 else ts[0], training=False)
            risk = out["risk"] if isinstance(out, dict) else (out[0] if isinstance(out, (list, tuple)) else out)
            score = risk[:, 1]
        grads = tape.gradient(score, ts)
        names = self._landmark_names()
        maps: dict[str, np.ndarray] = {}
        if len(ts) == 1:  # (1, 8, H, W, C)
            g = np.abs(np.asarray(grads[0]))[0]
            for i, n in enumerate(names):
                maps[n] = g[i].mean(axis=-1)
        else:
            for i, n in enumerate(names):
                maps[n] = np.abs(np.asarray(grads[i]))[0].mean(axis=-1)
        return maps
