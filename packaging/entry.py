"""PyInstaller entry script for the DentalOsteo bundle (one script, two executables).

The spec builds this script twice into the same folder:

* ``DentalOsteo`` (``DentalOsteo.exe``, windowed on Windows/macOS): the desktop app,
  :func:`dentalosteo_gui.app.main` (``--version``, ``--headless``, ``--screenshot FILE``).
* ``dentalosteo-cli`` (console): the ``dentalosteo`` command line,
  :func:`dentalosteo_gui.cli.main.main`.

Which one runs is decided by the executable's name, so a symlink or a copy named
``dentalosteo``/``dentalosteo-cli`` gives the CLI. ``DentalOsteo --cli ARGS`` also runs the
CLI (useful on Linux, where both executables have a console anyway).

Two bundle-only switches, used by ``packaging/smoke_test.sh`` (either executable):

* ``--check-ml``: build a tiny Keras model, save/load it as ``.keras``, run the fast Grad-CAM
  and the tf-keras-vis reference, print the TensorFlow device; proves the frozen TensorFlow
  stack works even before a trained model pack is bundled.
* ``--bundle-info``: print where the bundle looks for resources and models, and what it found.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

CLI_NAMES = ("dentalosteo", "dentalosteo-cli")  # executable names that run the CLI


def _fix_std_streams() -> None:
    """A windowed Windows executable has no stdout/stderr (``None``): give it a sink."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _configure_environment() -> None:
    # matplotlib is only used headless (colour maps, Agg plots); the bundle ships no GUI backend
    os.environ.setdefault("MPLBACKEND", "Agg")
    # TensorFlow's C++ start-up chatter (oneDNN notices, CUDA probes) is not for clinic users
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def wants_cli(argv0: str, executable: str, args: Sequence[str]) -> bool:
    """True when this process should run the ``dentalosteo`` CLI rather than the app."""
    if args[:1] == ["--cli"]:
        return True
    for p in (argv0, executable):
        stem = Path(p).name
        if stem.lower().endswith(".exe"):
            stem = stem[:-4]
        # "DentalOsteo" (the app) and "dentalosteo" (the CLI symlink) differ only in case
        if stem == "dentalosteo" or stem.lower() == "dentalosteo-cli":
            return True
    return False


def check_ml() -> int:
    """Exercise the frozen TensorFlow/Keras/tf-keras-vis stack on a tiny throw-away model."""
    import tempfile

    import numpy as np

    from dentalosteo_gui.ml.packs import select_device

    device = select_device("auto")
    import keras
    import tensorflow as tf

    from dentalosteo_gui.ml.gradcam import FastGradCam, tf_keras_vis_map

    inp = keras.Input((32, 32, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="last_conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    risk = keras.layers.Dense(2, activation="softmax", name="risk")(x)
    model = keras.Model(inp, risk)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        loaded = keras.models.load_model(path, compile=False)
    rng = np.random.default_rng(0)
    batch = rng.random((1, 32, 32, 1), dtype=np.float32)
    cam, outs = FastGradCam(loaded, "last_conv")(batch)
    ref = tf_keras_vis_map(loaded, batch, "last_conv")
    ok = cam.shape == (1, 32, 32) and ref.shape == (1, 32, 32) and np.isfinite(outs[0]).all()
    print(f"ml {'ok' if ok else 'FAILED'}: tensorflow {tf.__version__}, keras {keras.__version__}, "
          f"device {device}, gpus visible {len(tf.config.list_physical_devices('GPU'))}, "
          f"risk {float(outs[0][0, 1]):.3f}, cam {cam.shape}, tf-keras-vis {ref.shape}")
    return 0 if ok else 1


def bundle_info() -> int:
    """Print the resolved install root, resources and model packs."""
    from dentalosteo_gui import __version__
    from dentalosteo_gui.core.system import paths

    print(f"version {__version__}")
    print(f"frozen {paths.is_frozen()}")
    print(f"install_root {paths.install_root()}")
    print(f"sample {paths.sample_image()} exists={paths.sample_image().is_file()}")
    print(f"icons {paths.icons_dir()} exists={paths.icons_dir().is_dir()}")
    for name, p in (("default_model", paths.default_model_dir()), ("landmark_model", paths.landmark_model_dir())):
        have = (p / "card.json").is_file() and (p / "model.keras").is_file()
        print(f"{name} {p} present={have}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the app or the CLI (see the module docstring)."""
    _fix_std_streams()
    _configure_environment()
    import multiprocessing

    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    # bundle checks work from either executable (on Windows only the console one has stdout)
    if args[:1] == ["--check-ml"]:
        return check_ml()
    if args[:1] == ["--bundle-info"]:
        return bundle_info()
    if wants_cli(sys.argv[0], sys.executable, args):
        if args[:1] == ["--cli"]:
            args = args[1:]
        from dentalosteo_gui.cli.main import main as cli_main

        return cli_main(args)
    from dentalosteo_gui.app import main as app_main

    return app_main(args)


if __name__ == "__main__":
    sys.exit(main())
