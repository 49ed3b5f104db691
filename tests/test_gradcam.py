"""Grad-CAM: our compiled fast path agrees with tf-keras-vis (the reference) on the same model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras_vis")
pytestmark = pytest.mark.ml


def _tiny_model(seed: int = 0):  # type: ignore[no-untyped-def]
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((40, 120, 1))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="cam_conv")(x)
    g = layers.GlobalAveragePooling2D()(x)
    risk = layers.Dense(2, activation="softmax", name="risk")(layers.Dense(8, activation="relu")(g))
    kl = layers.Dense(3, activation="softmax", name="klemetti")(g)
    return keras.Model(inp, [risk, kl])


@pytest.mark.parametrize("plus", [False, True])
def test_fast_gradcam_matches_tf_keras_vis(plus: bool) -> None:
    from dentalosteo_gui.ml.gradcam import FastGradCam, tf_keras_vis_map

    model = _tiny_model()
    rng = np.random.default_rng(1)
    x = rng.random((2, 40, 120, 1)).astype(np.float32)
    x[:, 25:32, 20:100] += 1.5  # a bright band, like the cortex
    fast, outs = FastGradCam(model, "cam_conv").input_resolution_map(x, plus=plus)
    ref = tf_keras_vis_map(model, x, "cam_conv", plus=plus)
    assert fast.shape == ref.shape == (2, 40, 120)
    for a, b in zip(fast, ref, strict=True):
        if b.std() < 1e-9:
            assert a.std() < 1e-6
            continue
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert r >= 0.99, f"correlation {r:.4f} with tf-keras-vis"
    # the fast pass also returns the model outputs unchanged
    direct = model(x, training=False)
    np.testing.assert_allclose(outs[0], np.asarray(direct[0]), rtol=1e-5, atol=1e-6)


def test_heatmap_pure_functions_shapes() -> None:
    from dentalosteo_gui.core.imaging.heatmap import (
        blend,
        colorbar,
        normalise_map,
        place_in_image,
        resize_map,
    )
    from dentalosteo_gui.core.types import RoiBox

    raw = np.arange(12, dtype=np.float32).reshape(3, 4)
    up = resize_map(raw, (30, 40))
    assert up.shape == (30, 40)
    n = normalise_map(up)
    assert n.min() == 0.0 and n.max() == 1.0
    assert normalise_map(np.ones((5, 5))).max() == 0.0
    full = place_in_image(n, RoiBox(10, 20, 40, 30), (100, 120))
    assert full.shape == (100, 120)
    assert full[:20].sum() == 0 and full[50:].sum() == 0 and full[20:50, 10:50].max() == 1.0
    rgb = blend(np.zeros((100, 120), np.float32), full)
    assert rgb.shape == (100, 120, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].sum() == 0  # outside ROI untouched
    assert colorbar(64, 8).shape == (64, 8, 3)
    # box partly outside the image is clipped, not an error
    part = place_in_image(n, RoiBox(100, 90, 40, 30), (100, 120))
    assert part.shape == (100, 120)


def test_fast_gradcam_matches_tf_keras_vis_on_the_two_sided_band_model() -> None:
    """The shipped architecture: Grad-CAM on the joined side feature maps (``last_conv``)."""
    import keras

    from dentalosteo_gui.ml import zoo
    from dentalosteo_gui.ml.gradcam import FastGradCam, tf_keras_vis_map

    keras.utils.set_random_seed(3)
    model = zoo.build_model("compact-band", (32, 128, 1), klemetti=True, mcw=True)
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (2, 32, 128, 1)).astype(np.float32)
    x[:, 18:24] += 2.0  # a bright cortex row across both sides
    fast, _ = FastGradCam(model, "last_conv").input_resolution_map(x)
    ref = tf_keras_vis_map(model, x, "last_conv")
    assert fast.shape == ref.shape == (2, 32, 128)
    for a, b in zip(fast, ref, strict=True):
        if b.std() < 1e-9:
            assert a.std() < 1e-6
            continue
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.99
