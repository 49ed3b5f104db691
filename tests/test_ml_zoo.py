"""Model zoo: every architecture builds and trains one step; FLOPs; ImageNet offline."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dentalosteo_gui.core.errors import ConfigError, ModelError  # noqa: E402
from dentalosteo_gui.ml import zoo  # noqa: E402
from dentalosteo_gui.ml.data import ArrayDataset, AugmentConfig  # noqa: E402
from dentalosteo_gui.ml.training import TrainConfig, fit  # noqa: E402

pytestmark = pytest.mark.ml

TINY = {
    "compact": (32, 96, 1), "compact-band": (16, 64, 1), "cnn3": (32, 64, 1), "vgg16": (32, 32, 3), "vgg19": (32, 32, 3),
    "resnet50": (32, 32, 3), "xception": (71, 71, 3), "mobilenet": (32, 32, 3),
    "mobilenetv2": (32, 32, 3), "siamese-attention": (8, 16, 16, 1),
    **{f"vgg16-tr{n}": (32, 32, 3) for n in range(6)},
}


def _one_step(model, shape, klemetti: bool) -> dict:
    """One training step on two random samples (MCW truth 2 mm / 4 mm)."""
    rng = np.random.default_rng(0)
    n = 2
    x = rng.normal(0, 1, (n, *shape[:-1])).astype(np.float16)
    ds = ArrayDataset("landmarks" if len(shape) == 4 else "roi", shape, np.array([0, 1]),
                      np.array([0, 2]) if klemetti else np.array([-1, -1]), x, [], [], [],
                      np.array([2.0, 4.0], dtype=np.float32))
    cfg = TrainConfig(epochs=1, batch_size=2, augment=AugmentConfig(enabled=False), patience=None)
    return fit(model, ds, None, cfg, eager=True)


# vgg16-tr1, tr3..tr5 are the vgg16-tr graph with other blocks frozen: covered by
# test_vgg16_tr_depth_freezes_the_right_blocks (tr0: all frozen, tr2: reference recipe).
STEP_ARCHS = [a for a in zoo.ARCHS if a not in ("vgg16-tr1", "vgg16-tr3", "vgg16-tr4", "vgg16-tr5")]


@pytest.mark.parametrize("arch", STEP_ARCHS)
def test_every_architecture_builds_and_trains_one_step(arch):
    shape = TINY[arch]
    klemetti = arch in ("compact", "mobilenet", "siamese-attention")
    model = zoo.build_model(arch, shape, weights="none", klemetti=klemetti, mcw=arch == "compact")
    outs = model.output
    assert ("mcw_mm" in outs) == (arch == "compact")
    assert "risk" in outs and outs["risk"].shape[-1] == 2
    assert ("klemetti" in outs) == klemetti
    assert ("attention" in outs) == (arch == "siamese-attention")
    before = [w.copy() for w in model.get_weights()]
    hist = _one_step(model, shape, klemetti)
    assert np.isfinite(hist["epochs"][0]["loss"])
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert changed > 0
    layer = zoo.GRADCAM_LAYERS[arch]
    if layer is not None:
        assert len(model.get_layer(layer).output.shape) == 4


def test_vgg16_tr_depth_freezes_the_right_blocks():
    for n in range(6):
        m = zoo.build_model(f"vgg16-tr{n}", (32, 32, 3), weights="none")
        trainable_blocks = {int(layer.name[5]) for layer in m.layers
                            if layer.name.startswith("block") and layer.trainable and layer.weights}
        assert trainable_blocks == set(range(6 - n, 6))


def test_vgg16_tr2_reference_size_and_compute():
    m = zoo.build_model("vgg16-tr2", (140, 700, 3), weights="none")
    # the thesis reports 36.9 M parameters at 140 x 700 x 3
    assert m.count_params() == pytest.approx(36.9e6, rel=0.005)
    macs = zoo.count_macs(m)
    assert 28e9 < macs < 31e9


def test_count_macs_vgg16_imagenet_size():
    m = zoo.build_model("vgg16", (224, 224, 3), weights="none")
    conv = zoo.count_macs(m) - (7 * 7 * 512 * 512 + 512 * 256 + 256 * 2)
    assert conv == pytest.approx(15.35e9, rel=0.01)  # the well-known 15.3 GMACs of VGG16 convs


def test_compact_is_under_a_twentieth_of_vgg16_tr2():
    m = zoo.build_model("compact", zoo.default_input_shape("compact"), klemetti=True)
    assert zoo.count_macs(m) * 20 <= zoo.reference_macs_vgg16_tr2()


def test_imagenet_offline_fails_at_once_with_the_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ModelError) as e:
        zoo.build_model("vgg16-tr2", (32, 32, 3), weights="imagenet")
    msg = str(e.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in msg
    assert str(tmp_path / "models") in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError):
        zoo.build_model("compact", weights="imagenet")
    with pytest.raises(ConfigError):
        zoo.build_model("nonsense")


def test_imagenet_uses_the_cached_file(tmp_path, monkeypatch):
    """A weight file placed in the Keras cache is loaded (no download)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    src = zoo.build_model("mobilenet", (32, 32, 3), weights="none")
    import keras

    ref = keras.applications.MobileNet(include_top=False, weights=None, input_shape=(32, 32, 3))
    for layer in ref.layers:
        if layer.weights:
            layer.set_weights([np.full(w.shape, 0.01, w.dtype) for w in layer.get_weights()])
    (tmp_path / "models").mkdir()
    import h5py
    from keras.src.legacy.saving import legacy_h5_format  # the format of the Keras cache files

    with h5py.File(tmp_path / "models" / zoo.IMAGENET_FILES["mobilenet"], "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    m = zoo.build_model("mobilenet", (32, 32, 3), weights="imagenet")
    w = m.get_layer("conv1").get_weights()[0]
    assert np.allclose(w, 0.01)
    assert not np.allclose(src.get_layer("conv1").get_weights()[0], 0.01)


def test_compact_band_runs_each_side_separately_with_shared_weights():
    """No filter straddles the join of the two sides, the sides share weights, and MACs count
    both calls of the shared layers."""
    shape = (16, 64, 1)
    m = zoo.build_model("compact-band", shape, klemetti=True)
    assert m.count_params() == zoo.build_model("compact", (16, 32, 1), klemetti=True).count_params()
    assert zoo.count_macs(m) == zoo.count_macs(zoo.build_model("compact", shape, klemetti=True))
    import keras

    fmap = keras.Model(m.input, m.get_layer("last_conv").output)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (1, *shape)).astype(np.float32)
    y = x.copy()
    y[:, :, :32] = rng.normal(0, 1, (1, 16, 32, 1))  # change the first side only
    a, b = np.asarray(fmap(x)), np.asarray(fmap(y))
    w = a.shape[2] // 2
    assert np.allclose(a[:, :, w:], b[:, :, w:])  # the other side's features did not move
    assert not np.allclose(a[:, :, :w], b[:, :, :w])
    # shared weights: the same half on either side gives the same features
    z = np.concatenate([x[:, :, :32], x[:, :, :32]], axis=2)
    fz = np.asarray(fmap(z))
    assert np.allclose(fz[:, :, :w], fz[:, :, w:], atol=1e-5)
