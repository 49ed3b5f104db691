"""The model zoo: every architecture of the published studies plus our ``compact`` default.

``build_model(arch, ...)`` returns an uncompiled Keras functional model whose outputs are a
dict: ``risk`` (2-way softmax, index 1 = osteoporosis, as published), optionally
``klemetti`` (3-way softmax C1/C2/C3) and, for ``siamese-attention``, ``attention`` (the four
group weights s1..s4). Backbones from ``keras.applications`` are inlined (built on our own
input tensor) so their layers, e.g. ``block5_conv3``, are directly reachable for Grad-CAM.

ImageNet weights are never downloaded: ``weights="imagenet"`` uses the file in the Keras
cache (:func:`dentalosteo_gui.core.system.paths.keras_cache_dir`) and fails at once with a
:class:`ModelError` naming the file when it is not there.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, ModelError
from ..core.system import paths

log = logging.getLogger(__name__)

VGG_TR = tuple(f"vgg16-tr{n}" for n in range(6))
APPLICATION_ARCHS = ("vgg16", *VGG_TR, "vgg19", "resnet50", "xception", "mobilenet", "mobilenetv2")
ARCHS: tuple[str, ...] = ("compact", "compact-band", "cnn3", *APPLICATION_ARCHS, "siamese-attention")
IMAGENET_ARCHS = (*VGG_TR, "vgg19", "resnet50", "xception", "mobilenet", "mobilenetv2")

# ImageNet "no top" weight files as keras.applications names them in its cache.
IMAGENET_FILES: dict[str, str] = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "xception": "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenet": "mobilenet_1_0_224_tf_no_top.h5",
    "mobilenetv2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
}
IMAGENET_URL_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"

# Batch-norm moving averages must settle within the few hundred steps of a CPU training run
# (Keras' default 0.99 leaves inference statistics far from the training ones); our small
# CNNs use GroupNorm by default, which has no training / inference difference at all.
BN_MOMENTUM = 0.9
NORM = "gn"  # "bn" for BatchNorm


def _norm(L, name: str):
    """Normalisation of our small CNNs: GroupNorm (4 groups) behaves the same in training and
    inference, unlike BatchNorm with the few steps and small batches of CPU training."""
    if NORM == "bn":
        return L.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    return L.GroupNormalization(groups=4, name=name)

# Last convolutional layer (Grad-CAM target) per architecture.
GRADCAM_LAYERS: dict[str, str | None] = {
    "compact": "last_conv",
    "compact-band": "last_conv",
    "cnn3": "conv3",
    "vgg16": "block5_conv3",
    **{a: "block5_conv3" for a in VGG_TR},
    "vgg19": "block5_conv4",
    "resnet50": "conv5_block3_out",
    "xception": "block14_sepconv2_act",
    "mobilenet": "conv_pw_13_relu",
    "mobilenetv2": "out_relu",
    "siamese-attention": None,
}

# Scale of our z-scored input for each backbone's ImageNet convention: caffe-style models
# (VGG, ResNet) saw mean-subtracted 0..255 pixels (std about 58), tf-style ones [-1, 1].
_INPUT_SCALE = {"vgg16": 58.0, "vgg19": 58.0, "resnet50": 58.0, "xception": 0.5,
                "mobilenet": 0.5, "mobilenetv2": 0.5}


def backbone_of(arch: str) -> str:
    """keras.applications family of an architecture name (``vgg16-tr2`` -> ``vgg16``)."""
    return "vgg16" if arch.startswith("vgg16") else arch


def default_input_shape(arch: str) -> tuple[int, ...]:
    """Input shape used when none is given: the published sizes, ours for ``compact``."""
    if arch == "compact":
        return (64, 320, 1)
    if arch == "compact-band":
        return (64, 384, 1)  # core.anatomy.band.BandSpec: 64 rows x 2 sides x 192 columns
    if arch == "cnn3":
        return (140, 700, 1)
    if arch in ("mobilenet", "mobilenetv2"):
        return (224, 224, 3)  # the Klemetti / MobileNet study
    if arch == "siamese-attention":
        return (8, 64, 64, 1)
    return (140, 700, 3)  # Lee et al. 2020


def mode_of(arch: str) -> str:
    """``landmarks`` for the Siamese model, ``band`` for ``compact-band`` (the straightened
    cortex of both sides, ``core.anatomy.band``), ``roi`` for every other architecture."""
    if arch == "siamese-attention":
        return "landmarks"
    return "band" if arch == "compact-band" else "roi"


def imagenet_weights_path(arch: str) -> Path:
    """The ImageNet weight file for ``arch`` in the Keras cache, or a ModelError saying how
    to provide it (never downloads)."""
    fam = backbone_of(arch)
    if fam not in IMAGENET_FILES:
        raise ConfigError(f"--weights imagenet is not available for {arch}; use --weights none")
    name = IMAGENET_FILES[fam]
    folder = paths.keras_cache_dir()
    path = folder / name
    if not path.is_file():
        raise ModelError(
            f"ImageNet weights for {arch} not found: expected {name} in {folder} "
            f"(no download is attempted; copy the file there from a machine with internet, "
            f"source {IMAGENET_URL_BASE}, set KERAS_HOME to the folder above 'models', "
            f"or train with --weights none)"
        )
    return path


def resolve_weights(arch: str, weights: str | None) -> str | None:
    """Turn ``imagenet`` / ``none`` / a path into None or a weight-file path."""
    w = (weights or "none").strip()
    if w.lower() in ("none", ""):
        return None
    if w.lower() == "imagenet":
        if arch == "vgg16":
            raise ConfigError("vgg16 is VGG16 from scratch; use vgg16-tr0..vgg16-tr5 for ImageNet weights")
        if arch not in IMAGENET_ARCHS:
            raise ConfigError(f"{arch} has no ImageNet weights; use --weights none or a file")
        return str(imagenet_weights_path(arch))
    p = Path(w)
    if not p.is_file():
        raise ModelError(f"weights file {p} not found (give imagenet, none or an existing file)")
    return str(p)


@functools.lru_cache(maxsize=1)
def custom_objects() -> dict[str, Any]:
    """Our custom Keras layers (defined lazily so TensorFlow is not imported at module level)."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="dentalosteo")
    class PairSum(keras.layers.Layer):
        """(B, 8, D) -> (B, 4, D): right landmark i + left landmark i (symmetric pairs)."""

        def call(self, x):
            return x[:, :4, :] + x[:, 4:, :]

        def compute_output_shape(self, s):
            return (s[0], 4, s[2])

    @keras.saving.register_keras_serializable(package="dentalosteo")
    class GroupDense(keras.layers.Layer):
        """One fully connected layer per group: (B, G, D) -> (B, G, units), own weights each."""

        def __init__(self, units: int, activation: str | None = None, **kw):
            super().__init__(**kw)
            self.units = int(units)
            self.activation = keras.activations.get(activation)

        def build(self, s):
            g, d = int(s[1]), int(s[2])
            self.kernel = self.add_weight(shape=(g, d, self.units), initializer="glorot_uniform",
                                          name="kernel")
            self.bias = self.add_weight(shape=(g, self.units), initializer="zeros", name="bias")

        def call(self, x):
            return self.activation(ops.einsum("bgd,gdu->bgu", x, self.kernel) + self.bias)

        def compute_output_shape(self, s):
            return (s[0], s[1], self.units)

        def get_config(self):
            c = super().get_config()
            c.update(units=self.units, activation=keras.activations.serialize(self.activation))
            return c

    @keras.saving.register_keras_serializable(package="dentalosteo")
    class ScaleGroups(keras.layers.Layer):
        """[(B, G, D), (B, G)] -> (B, G, D): each group feature times its attention weight."""

        def call(self, inputs):
            f, s = inputs
            return f * ops.expand_dims(s, -1)

        def compute_output_shape(self, shapes):
            return shapes[0]

    return {"PairSum": PairSum, "GroupDense": GroupDense, "ScaleGroups": ScaleGroups}


def _heads(keras, features, klemetti: bool, hidden: list[int], dropout: float,
           mcw: bool = False) -> dict:
    layers = keras.layers
    x = features
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
        x = layers.Dropout(dropout, name=f"drop{i + 1}")(x)
    out = {"risk": layers.Dense(2, activation="softmax", name="risk")(x)}
    if klemetti:
        out["klemetti"] = layers.Dense(3, activation="softmax", name="klemetti")(x)
    if mcw:  # auxiliary regression of the mean cortical width (mm): dense supervision
        out["mcw_mm"] = layers.Dense(1, name="mcw_mm",
                                     bias_initializer=keras.initializers.Constant(3.0))(x)
    return out


def _build_compact(keras, shape, klemetti: bool, width: int = 1, mcw: bool = False, sides: int = 1):
    """Our default: a small CNN on the ROI (Conv-GN-ReLU stem, separable blocks, global average
    pooling, Dense 32). GAP keeps the initial logits small; global max pooling (tried) made the
    training-mode outputs extreme and the loss start far above chance.

    ``sides=2`` (``compact-band``): the input is the cortex band, the two sides of the mandible
    side by side; the same convolution layers (shared weights) run on each half separately, so
    no filter ever straddles the join, and the two feature maps are put back side by side as
    ``last_conv`` (Grad-CAM then covers both halves, aligned with the band)."""
    L = keras.layers
    inp = keras.Input(shape=shape, name="image")
    spec = [("conv", 16 * width, 2), ("conv", 24 * width, 1), ("pool", 0, 0),
            ("sep", 32 * width, 1), ("pool", 0, 0), ("sep", 48 * width, 1), ("sep", 64 * width, 1)]
    layers_: list = []
    for i, (kind, filters, stride) in enumerate(spec):
        if kind == "pool":
            layers_.append([L.MaxPooling2D(2, name=f"pool{i}")])
            continue
        last = i == len(spec) - 1
        conv = L.Conv2D if kind == "conv" else L.SeparableConv2D
        layers_.append([conv(filters, 3, strides=stride, padding="same", use_bias=False, name=f"conv{i}"),
                        _norm(L, f"bn{i}"),
                        L.Activation("relu", name="last_conv" if (last and sides == 1) else f"relu{i}")])

    def trunk(x):
        for group in layers_:
            for layer in group:
                x = layer(x)
        return x

    if sides == 1:
        x = trunk(inp)
    else:
        half = int(shape[1]) // 2
        left = L.Cropping2D(((0, 0), (0, int(shape[1]) - half)), name="side_a")(inp)
        right = L.Cropping2D(((0, 0), (half, 0)), name="side_b")(inp)
        x = L.Concatenate(axis=2, name="last_conv")([trunk(left), trunk(right)])
    feats = L.GlobalAveragePooling2D(name="gap")(x)
    name = "compact" if sides == 1 else "compact_band"
    return keras.Model(inp, _heads(keras, feats, klemetti, [32], 0.1, mcw), name=name)


def _build_cnn3(keras, shape, klemetti: bool):
    """CNN3 of Lee et al. (three conv layers from scratch) with a small dense head."""
    L = keras.layers
    inp = keras.Input(shape=shape, name="image")
    x = inp
    for i, f in enumerate((32, 64, 128)):
        x = L.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = L.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = L.MaxPooling2D(4, padding="same", name="pool_head")(x)
    x = L.Flatten(name="flatten")(x)
    return keras.Model(inp, _heads(keras, x, klemetti, [256], 0.5), name="cnn3")


def _application(keras, fam: str):
    apps = keras.applications
    return {"vgg16": apps.VGG16, "vgg19": apps.VGG19, "resnet50": apps.ResNet50,
            "xception": apps.Xception, "mobilenet": apps.MobileNet,
            "mobilenetv2": apps.MobileNetV2}[fam]


def _build_application(keras, arch: str, shape, klemetti: bool, weights_path: str | None):
    L = keras.layers
    fam = backbone_of(arch)
    App = _application(keras, fam)
    inp = keras.Input(shape=shape, name="image")
    x = L.Rescaling(_INPUT_SCALE[fam], name="input_scale")(inp)
    base = App(include_top=False, weights=None, input_tensor=x)
    if weights_path is not None:
        try:
            ref = App(include_top=False, weights=weights_path, input_shape=tuple(shape))
        except Exception as exc:  # noqa: BLE001 - any Keras reason, one line
            raise ModelError(f"{weights_path}: not {fam} 'no top' weights Keras can load ({exc}); "
                             "replace the file or use --weights none") from None
        n = 0
        for layer in ref.layers:
            if layer.weights:
                base.get_layer(layer.name).set_weights(layer.get_weights())
                n += 1
        log.info("loaded %s backbone weights into %d layers from %s", fam, n, Path(weights_path).name)
    if arch.startswith("vgg16-tr"):
        n_train = int(arch[-1])
        first_trainable = 6 - n_train  # blocks 1..5; TR2 trains blocks 4 and 5
        for layer in base.layers:
            if layer.name.startswith("block"):
                layer.trainable = int(layer.name[5]) >= first_trainable
    feat_out = base.output
    if fam in ("vgg16", "vgg19"):
        x = L.Flatten(name="flatten")(feat_out)  # as published: Flatten-512-256-2
        hidden = [512, 256]
    else:
        x = L.GlobalAveragePooling2D(name="gap")(feat_out)
        hidden = [256]
    return keras.Model(inp, _heads(keras, x, klemetti, hidden, 0.5), name=arch.replace("-", "_"))


def _branch(keras, patch_shape, kind: str):
    L = keras.layers
    inp = keras.Input(shape=patch_shape, name="patch")
    x = inp
    if kind == "alexnet":  # AlexNet layout (conv 11/4, 5, 3, 3, 3), from scratch: no AlexNet
        for i, (f, k, s, pool) in enumerate(((64, 11, 4, True), (192, 5, 1, True), (384, 3, 1, False),
                                             (256, 3, 1, False), (256, 3, 1, True))):
            x = L.Conv2D(f, k, strides=s, padding="same", activation="relu", name=f"b_conv{i + 1}")(x)
            if pool:
                x = L.MaxPooling2D(3, strides=2, padding="same", name=f"b_pool{i + 1}")(x)
        x = L.GlobalAveragePooling2D(name="b_gap")(x)
        x = L.Dense(256, activation="relu", name="b_fc")(x)
    else:  # light: three Conv-BN-ReLU stages
        for i, f in enumerate((16, 32, 48)):
            x = L.Conv2D(f, 3, strides=2 if i == 0 else 1, padding="same", use_bias=False,
                         name=f"b_conv{i + 1}")(x)
            x = _norm(L, f"b_bn{i + 1}")(x)
            x = L.Activation("relu", name=f"b_relu{i + 1}")(x)
            if i < 2:
                x = L.MaxPooling2D(2, name=f"b_pool{i + 1}")(x)
        x = L.GlobalAveragePooling2D(name="b_gap")(x)
        x = L.Dense(64, activation="relu", name="b_fc")(x)
    return keras.Model(inp, x, name="branch")


def _build_siamese(keras, shape, klemetti: bool, branch: str):
    """Eight weight-shared branches -> 4 symmetric group sums -> attention s1..s4 -> classifier."""
    L = keras.layers
    co = custom_objects()
    inp = keras.Input(shape=shape, name="patches")  # (8, P, P, 1)
    feats = L.TimeDistributed(_branch(keras, tuple(shape[1:]), branch), name="shared_branch")(inp)
    groups = co["PairSum"](name="pair_sum")(feats)  # (B, 4, D): condyle, gonial, premolar, tuberosity
    a = co["GroupDense"](16, activation="relu", name="att_group_fc")(groups)
    a = L.Flatten(name="att_flatten")(a)
    a = L.Dense(32, activation="relu", name="att_fc1")(a)
    a = L.Dense(4, name="att_fc2")(a)
    att = L.Softmax(name="attention")(a)
    weighted = co["ScaleGroups"](name="att_scale")([groups, att])
    x = L.Flatten(name="flatten")(weighted)
    outs = _heads(keras, x, klemetti, [64], 0.1)
    outs["attention"] = att
    return keras.Model(inp, outs, name="siamese_attention")


def build_model(
    arch: str,
    input_shape: tuple[int, ...] | None = None,
    weights: str | None = "none",
    klemetti: bool = False,
    branch: str = "light",
    mcw: bool = False,
):
    """Build an architecture of :data:`ARCHS` (see module doc). ``weights``: imagenet | none |
    path to a weight file (backbone ``.h5`` for application archs, whole-model
    ``.weights.h5`` otherwise). ``mcw`` adds an ``mcw_mm`` regression output (compact only)."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    wpath = resolve_weights(arch, weights)  # fails fast, before TensorFlow starts
    import keras

    shape = tuple(int(v) for v in (input_shape or default_input_shape(arch)))
    if arch in ("compact", "compact-band"):
        model = _build_compact(keras, shape, klemetti, mcw=mcw, sides=2 if arch == "compact-band" else 1)
    elif arch == "cnn3":
        model = _build_cnn3(keras, shape, klemetti)
    elif arch == "siamese-attention":
        if branch not in ("light", "alexnet"):
            raise ConfigError(f"siamese branch must be light or alexnet, not {branch!r}")
        model = _build_siamese(keras, shape, klemetti, branch)
    else:
        if arch.startswith("vgg16-tr") and wpath is None:
            log.warning("%s without ImageNet weights: the frozen blocks stay random", arch)
        model = _build_application(keras, arch, shape, klemetti, wpath)
        wpath = None
    if wpath is not None:
        try:
            model.load_weights(wpath)
        except Exception as exc:  # noqa: BLE001 - report any Keras reason in one line
            raise ModelError(f"{wpath}: cannot load weights into {arch} ({exc})") from None
    return model


def count_macs(model) -> int:
    """Multiply-accumulates of one forward pass (batch 1): Conv, depthwise/separable conv,
    Dense, our GroupDense; nested models and TimeDistributed are followed. FLOPs = 2 x MACs."""
    import keras

    def shp(t) -> tuple:
        return tuple(1 if d is None else int(d) for d in t.shape)

    def prod(v) -> int:
        r = 1
        for d in v:
            r *= int(d)
        return r

    def layer_macs(layer, in_shape: tuple, out_shape: tuple) -> int:
        L = keras.layers
        if isinstance(layer, keras.Model):
            return sum(layer_macs(sub, shp(sub.input), shp(sub.output))
                       for sub in layer.layers if not isinstance(sub, keras.layers.InputLayer))
        if isinstance(layer, L.TimeDistributed):
            inner = layer.layer
            t = in_shape[1]
            if isinstance(inner, keras.Model):
                return t * layer_macs(inner, (1, *in_shape[2:]), (1, *out_shape[2:]))
            return t * layer_macs(inner, (1, *in_shape[2:]), (1, *out_shape[2:]))
        if isinstance(layer, L.SeparableConv2D):
            kh, kw = layer.kernel_size
            cin = in_shape[-1]
            spatial = prod(out_shape[1:3])
            return spatial * (kh * kw * cin * layer.depth_multiplier
                              + cin * layer.depth_multiplier * layer.filters)
        if isinstance(layer, L.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            return prod(out_shape[1:3]) * kh * kw * in_shape[-1] * layer.depth_multiplier
        if isinstance(layer, L.Conv2D):
            kh, kw = layer.kernel_size
            return prod(out_shape[1:3]) * kh * kw * (in_shape[-1] // layer.groups) * layer.filters
        if isinstance(layer, L.Dense):
            return prod(in_shape[1:-1]) * in_shape[-1] * layer.units
        if type(layer).__name__ == "GroupDense":
            return in_shape[1] * in_shape[2] * layer.units
        return 0

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        nodes = [n for n in getattr(layer, "_inbound_nodes", []) if getattr(n, "output_tensors", None)]
        if len(nodes) > 1:  # a layer shared between calls (compact-band's two sides): every call
            for node in nodes:
                ins, outs = node.input_tensors, node.output_tensors
                total += layer_macs(layer, shp(ins[0]), shp(outs[0]))
            continue
        try:
            ins, outs = layer.input, layer.output
        except (AttributeError, ValueError):
            continue
        if isinstance(ins, (list, tuple)):
            ins = ins[0]
        if isinstance(outs, (list, tuple)):
            outs = outs[0]
        total += layer_macs(layer, shp(ins), shp(outs))
    return int(total)


@functools.lru_cache(maxsize=4)
def reference_macs_vgg16_tr2(height: int = 140, width: int = 700) -> int:
    """MACs of the reference recipe VGG16-TR2 (Flatten-512-256-2 head) at 140 x 700 x 3."""
    return count_macs(build_model("vgg16-tr2", (height, width, 3), weights="none"))
