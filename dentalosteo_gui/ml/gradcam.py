"""Grad-CAM for the risk output: a fast compiled GradientTape path and the tf-keras-vis reference.

Both return the RAW map at the model's input resolution (before normalisation); resizing,
normalising and blending are the pure functions in :mod:`dentalosteo_gui.core.imaging.heatmap`.
TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _risk_output_index(model: Any, output_name: str) -> int:
    names = [t.name.split("/")[0] for t in getattr(model, "outputs", [])]
    out_names = list(getattr(model, "output_names", []) or [])
    for cand in (out_names, names):
        for i, n in enumerate(cand):
            if n == output_name or n.startswith(output_name):
                return i
    return 0


class FastGradCam:
    """One compiled pass returns the model outputs AND the Grad-CAM map of the risk output.

    The gradient only flows from the risk score back to the chosen conv layer, so on a small
    model it costs little more than the forward pass (see bench/).
    """

    def __init__(self, model: Any, layer_name: str, output_name: str = "risk", class_index: int = 1) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.layer_name = layer_name
        self.class_index = class_index
        conv = model.get_layer(layer_name).output
        outs = model.outputs if isinstance(model.outputs, list) else [model.outputs]
        self.risk_index = _risk_output_index(model, output_name)
        self.n_outputs = len(outs)
        self._grad_model = keras.Model(model.inputs, [conv, *outs])

        @tf.function(reduce_retracing=True)
        def _run(x: Any, plus: Any) -> Any:
            with tf.GradientTape() as tape:
                res = self._grad_model(x, training=False)
                fmap = res[0]
                tape.watch(fmap)
                score = res[1 + self.risk_index][:, self.class_index]
            grads = tape.gradient(score, fmap)
            # Grad-CAM: channel weights = spatial mean of gradients.
            w_cam = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            # Grad-CAM++ weights (Chattopadhyay et al. 2018, exp-score closed form).
            g2 = tf.square(grads)
            g3 = g2 * grads
            denom = 2.0 * g2 + tf.reduce_sum(fmap, axis=(1, 2), keepdims=True) * g3
            denom = tf.where(tf.not_equal(denom, 0.0), denom, tf.ones_like(denom))
            alpha = g2 / denom
            w_pp = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
            weights = tf.where(plus, w_pp, w_cam)
            cam = tf.nn.relu(tf.reduce_sum(weights * fmap, axis=-1))
            return cam, res[1:]

        self._run = _run

    def __call__(self, x: Any, plus: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Return (raw maps (N, h, w) at conv resolution, model outputs as numpy)."""
        import tensorflow as tf

        cam, outs = self._run(tf.convert_to_tensor(x), tf.constant(bool(plus)))
        return cam.numpy(), [o.numpy() for o in outs]

    def input_resolution_map(self, x: Any, plus: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Maps upsampled to the input's (H, W) with scipy zoom(order=1), like tf-keras-vis."""
        from ..core.imaging.heatmap import resize_map

        cam, outs = self(x, plus=plus)
        h, w = int(x.shape[1]), int(x.shape[2])
        return np.stack([resize_map(c, (h, w)) for c in cam]), outs


def tf_keras_vis_map(model: Any, x: Any, layer_name: str, output_name: str = "risk",
                     class_index: int = 1, plus: bool = False) -> np.ndarray:
    """Reference Grad-CAM / Grad-CAM++ from tf-keras-vis (the slower, trusted path).

    Returns (N, H, W) maps at input resolution, unnormalised.
    """
    import keras
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.utils.scores import CategoricalScore

    idx = _risk_output_index(model, output_name)
    outs = model.outputs if isinstance(model.outputs, list) else [model.outputs]
    single = keras.Model(model.inputs, outs[idx])
    cls = GradcamPlusPlus if plus else Gradcam
    viz = cls(single, clone=False)
    cam = viz(CategoricalScore([class_index]), np.asarray(x), penultimate_layer=layer_name,
              seek_penultimate_conv_layer=False, normalize_cam=False)
    return np.asarray(cam, dtype=np.float32)
