"""Model packs: a folder with ``model.keras`` + ``card.json``.

The card describes the model (architecture, input, preprocessing, outputs, training data,
held-out metrics, calibration, operating points, intended use, limitations, framework
versions) and records the sha256 of ``model.keras``; :func:`load_pack` refuses a pack whose
weights do not match. TensorFlow is imported only when a model is actually loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError
from ..core.model_input.landmarks import LANDMARK_GROUPS, prepare_landmark_input
from ..core.model_input.roi import prepare_roi_input
from ..core.model_input.strip import band_spec_from_card, prepare_band_input
from ..core.system import paths
from ..core.types import KLEMETTI_CLASSES, RoiBox
from .calibration import calibrate

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"
ATTENTION_GROUPS: tuple[str, ...] = LANDMARK_GROUPS  # the attention output's order
REQUIRED_CARD_KEYS = ("name", "version", "arch", "mode", "input", "sha256")
MAX_WEIGHTS_BYTES = 20 * 1024 * 1024


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ModelPack:
    """A loaded (verified) model pack; the Keras model is built on first use and cached."""

    def __init__(self, path: Path, card: dict[str, Any], sha256: str) -> None:
        self.path = Path(path)
        self.card = card
        self.sha256 = sha256
        self.mode: str = str(card.get("mode", "roi"))
        self._model: Any = None

    def __repr__(self) -> str:
        return f"ModelPack({self.name!r} {self.version} {self.mode} at {self.path})"

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.path.name))

    @property
    def version(self) -> str:
        return str(self.card.get("version", "0"))

    @property
    def input_shape(self) -> tuple[int, ...]:
        i = self.card["input"]
        if self.mode == "landmarks":
            return (8, int(i["height"]), int(i["width"]), int(i.get("channels", 1)))
        return (int(i["height"]), int(i["width"]), int(i.get("channels", 1)))

    @property
    def temperature(self) -> float:
        return float((self.card.get("calibration") or {}).get("temperature", 1.0) or 1.0)

    @property
    def gradcam_layer(self) -> str | None:
        return self.card.get("gradcam_layer")

    def keras_model(self) -> Any:
        """The Keras model (loaded once, cached)."""
        if self._model is None:
            import keras

            from .zoo import custom_objects

            try:
                self._model = keras.models.load_model(
                    self.path / MODEL_FILE, custom_objects=custom_objects(), compile=False)
            except Exception as exc:  # noqa: BLE001 - one line naming the file
                raise ModelError(f"{self.path / MODEL_FILE}: cannot load the model ({exc}); "
                                 "reinstall the pack") from None
        return self._model

    def prepare_roi(self, pixels: np.ndarray, box: RoiBox) -> np.ndarray:
        """(1, H, W, C) float32 exactly as in training (``core.model_input.roi``)."""
        if self.mode != "roi":
            raise ModelError(f"{self.path}: a {self.mode} pack has no ROI input")
        h, w, c = self.input_shape
        return prepare_roi_input(pixels, box, h, w, c)

    @property
    def band_spec(self) -> Any:
        """The cortex-band geometry of a band pack (``core.anatomy.band.BandSpec``)."""
        try:
            return band_spec_from_card(self.card["input"])
        except ValueError as exc:
            raise ModelError(f"{self.path}: {exc}; reinstall the pack") from None

    def prepare_band(self, pixels: np.ndarray, proposal: Any, spacing_mm: float) -> tuple[np.ndarray, Any]:
        """(1, rows, 2*cols, C) float32 as in training (``core.model_input.strip``), and the
        band (for mapping maps back)."""
        if self.mode != "band":
            raise ModelError(f"{self.path}: a {self.mode} pack has no cortex-band input")
        return prepare_band_input(pixels, proposal, spacing_mm, self.band_spec, self.input_shape[-1])

    def prepare_landmarks(
        self, pixels: np.ndarray, landmarks: Mapping[str, Any], pixel_spacing_mm: float | None
    ) -> np.ndarray:
        """(1, 8, P, P, C) float32: the eight landmark patches as in training
        (``core.model_input.landmarks``)."""
        if self.mode != "landmarks":
            raise ModelError(f"{self.path}: a {self.mode} pack has no landmark input")
        i = self.card["input"]
        return prepare_landmark_input(pixels, landmarks, pixel_spacing_mm, out_size=int(i["height"]),
                                      patch_mm=float(i.get("patch_mm", 10.0)),
                                      channels=self.input_shape[-1])

    def predict_arrays(self, x: np.ndarray | list) -> dict[str, np.ndarray]:
        """Batch prediction: arrays ``risk`` (calibrated), ``risk_raw``, and, when the model
        has them, ``klemetti`` (N, 3) and ``attention`` (N, 4)."""
        model = self.keras_model()
        return self._interpret(model(np.asarray(x, dtype=np.float32), training=False))

    def _interpret(self, out: Any) -> dict[str, np.ndarray]:
        """Raw model outputs (dict, list or one array) -> named arrays with calibrated risk.

        A list is matched by width (2 risk, 3 klemetti, 4 attention), so the order Keras
        flattens the outputs in does not matter."""
        if isinstance(out, dict):
            res = {str(k): np.asarray(v, dtype=np.float64) for k, v in out.items()}
        else:
            seq = list(out) if isinstance(out, (list, tuple)) else [out]
            by_width = {1: "mcw_mm", 2: "risk", 3: "klemetti", 4: "attention"}
            res = {}
            for v in seq:
                a = np.asarray(v, dtype=np.float64)
                a = a.reshape(1, -1) if a.ndim == 1 else a
                name = by_width.get(int(a.shape[-1]))
                if name is None or name in res:
                    raise ModelError(f"{self.path}: unexpected model output of shape {a.shape}")
                res[name] = a
        if "risk" not in res:
            raise ModelError(f"{self.path}: the model has no 'risk' output")
        raw = res["risk"][:, 1]
        res["risk_raw"] = raw
        res["risk"] = calibrate(raw, self.temperature)
        return res

    def predict_from_outputs(self, outs: Any) -> dict[str, Any]:
        """Like :meth:`predict` but from already computed raw outputs (e.g. of a Grad-CAM pass)."""
        return self._single(self._interpret(outs))

    def predict(self, x: np.ndarray | list) -> dict[str, Any]:
        """Prediction for ONE input: calibrated ``risk``, ``risk_raw``, ``klemetti`` (dict or
        None), ``attention`` (dict or None)."""
        return self._single(self.predict_arrays(x))

    @staticmethod
    def _single(r: dict[str, np.ndarray]) -> dict[str, Any]:
        kl = r.get("klemetti")
        att = r.get("attention")
        mcw = r.get("mcw_mm")
        return {
            "risk": float(r["risk"][0]),
            "risk_raw": float(r["risk_raw"][0]),
            "klemetti": ({c: float(kl[0][i]) for i, c in enumerate(KLEMETTI_CLASSES)}
                         if kl is not None else None),
            "attention": ({g: float(att[0][i]) for i, g in enumerate(ATTENTION_GROUPS)}
                          if att is not None else None),
            "mcw_mm": float(np.ravel(mcw)[0]) if mcw is not None else None,
        }


def read_card(path: Path | str) -> dict[str, Any]:
    """Parse and check ``card.json`` of a pack folder."""
    folder = Path(path)
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise ModelError(f"{folder}: not a model pack (no {CARD_FILE}); give a folder with "
                         f"{MODEL_FILE} and {CARD_FILE}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{card_path}: unreadable model card ({exc}); reinstall the pack") from None
    if not isinstance(card, dict):
        raise ModelError(f"{card_path}: model card is not a JSON object; reinstall the pack")
    missing = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if missing:
        raise ModelError(f"{card_path}: model card lacks {', '.join(missing)}; reinstall the pack")
    if card["mode"] not in ("roi", "band", "landmarks"):
        raise ModelError(f"{card_path}: unknown mode {card['mode']!r} (roi, band or landmarks)")
    return card


MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "dentalosteo-pack-manifest/1"


def _pack_files(folder: Path) -> list[str]:
    """Every regular file of a pack (relative POSIX paths) except the manifest itself."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST_FILE and not p.name.startswith("."))


def write_manifest(folder: Path | str) -> str:
    """(Re)write ``manifest.json``: the sha256 of every file of the pack. Returns the pack's
    identity, the sha256 of the manifest (shown in every result and report). Call it after
    anything in the pack changes (card, weights, plots)."""
    folder = Path(folder)
    doc = {"format": MANIFEST_FORMAT, "files": {f: sha256_file(folder / f) for f in _pack_files(folder)}}
    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")
    (folder / MANIFEST_FILE).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def verify_manifest(folder: Path) -> str:
    """Check every file of the pack against ``manifest.json`` (none changed, missing or
    added); returns the pack identity. ModelError naming the first problem otherwise."""
    mpath = folder / MANIFEST_FILE
    if not mpath.is_file():
        raise ModelError(f"{folder}: no {MANIFEST_FILE} (a pack from before integrity manifests, or "
                         "tampered with): reinstall the pack from a trusted copy or rebuild it")
    data = mpath.read_bytes()
    try:
        doc = json.loads(data)
        files = dict(doc["files"]) if doc.get("format") == MANIFEST_FORMAT else None
    except (ValueError, KeyError, TypeError, AttributeError):
        files = None
    if not files:
        raise ModelError(f"{mpath}: not a valid pack manifest; reinstall the pack from a trusted copy")
    present = set(_pack_files(folder))
    for name in sorted(set(files) | present):
        if name not in present:
            problem = "is missing"
        elif name not in files:
            problem = "is not in the manifest (added)"
        elif sha256_file(folder / name) != str(files[name]).lower():
            problem = "was modified"
        else:
            continue
        raise ModelError(f"{folder / name}: {problem}; the pack is not the one that was "
                         "released: reinstall it from a trusted copy")
    return hashlib.sha256(data).hexdigest()


def load_pack(path: Path | str | None = None) -> ModelPack:
    """Open a pack folder (default: the bundled ``models/default``), verifying every file
    against its manifest; the pack's identity is the manifest's sha256."""
    folder = Path(path) if path is not None else paths.default_model_dir()
    if not folder.is_dir():
        raise ModelError(f"{folder}: model pack folder not found; install a pack or run `make model`")
    card = read_card(folder)
    weights = folder / MODEL_FILE
    if not weights.is_file():
        raise ModelError(f"{weights}: model weights missing; reinstall the pack")
    digest = sha256_file(weights)
    if digest != str(card["sha256"]).lower():
        raise ModelError(
            f"{weights}: sha256 {digest[:12]}... does not match the card ({str(card['sha256'])[:12]}...); "
            "the weights were modified or corrupted: reinstall the pack from a trusted copy")
    identity = verify_manifest(folder)
    log.info("model pack %s %s verified", card.get("name"), card.get("version"))
    return ModelPack(folder, card, identity)


def framework_versions() -> dict[str, str]:
    """Versions of the frameworks a pack was trained with."""
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__}


def _json_clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _json_clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, np.ndarray):
        return _json_clean(o.tolist())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def save_pack(model: Any, card: dict[str, Any], out_dir: Path | str) -> Path:
    """Write ``model.keras`` and ``card.json`` (with sha256 and framework versions) to
    ``out_dir`` atomically (a temporary folder renamed into place). Returns the folder."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pack-", dir=out.parent))
    try:
        model.save(tmp / MODEL_FILE)
        size = (tmp / MODEL_FILE).stat().st_size
        if size > MAX_WEIGHTS_BYTES:
            log.warning("model file is %.1f MB (over %d MB)", size / 1e6, MAX_WEIGHTS_BYTES >> 20)
        full = dict(card)
        full.setdefault("name", out.name)
        full.setdefault("version", "0.1.0")
        full["sha256"] = sha256_file(tmp / MODEL_FILE)
        full["weights_bytes"] = int(size)
        full.setdefault("framework", framework_versions())
        (tmp / CARD_FILE).write_text(json.dumps(_json_clean(full), indent=2) + "\n", encoding="utf-8")
        write_manifest(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; an installed pack must be readable by all
        if out.exists():
            old = out.with_name(f".old-{out.name}-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def classify_risk_level(card: Mapping[str, Any], risk: float) -> str:
    """``low`` (risk < low_max), ``high`` (risk >= high_min) or ``intermediate``.

    One rule for the whole product: ``core.cards.classify_risk_level``.
    """
    from ..core.cards import classify_risk_level as _band

    return _band(dict(card), risk)


def select_device(preference: str = "auto") -> str:
    """Choose ``"GPU:0"`` or ``"CPU"`` and make TensorFlow see only that; never raises.

    ``preference``: auto (GPU when present), gpu (GPU when present, else CPU with one
    warning line on stderr and in the log, saying why: no CUDA build or no GPU visible), cpu.
    The device used rides on every result (``device``).
    """
    import sys

    pref = (preference or "auto").lower()
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    except Exception as exc:  # noqa: BLE001 - a broken TF install must not crash the app
        log.warning("TensorFlow device query failed (%s); using CPU", exc)
        return "CPU"
    use_gpu = bool(gpus) and pref in ("auto", "gpu")
    if pref == "gpu" and not gpus:
        try:
            cuda = bool(tf.test.is_built_with_cuda())
        except Exception:  # noqa: BLE001
            cuda = False
        why = ("no GPU is visible to TensorFlow (NVIDIA driver? CUDA_VISIBLE_DEVICES?)" if cuda else
               "this TensorFlow is built without CUDA (pip install 'dentalosteo[gpu]' on a Linux PC "
               "with an NVIDIA GPU)")
        log.warning("GPU requested but %s; using CPU", why)
        if not getattr(select_device, "warned", False):  # once per process, not per model
            select_device.warned = True  # type: ignore[attr-defined]
            sys.stderr.write(f"warning: GPU requested but {why}; using CPU\n")
    try:
        if use_gpu:
            tf.config.set_visible_devices(gpus[:1], "GPU")
            try:
                tf.config.experimental.set_memory_growth(gpus[0], True)
            except (RuntimeError, ValueError):
                pass
        else:
            tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        # TF already initialised its devices: keep what it has
        visible = tf.config.get_visible_devices("GPU")
        return "GPU:0" if visible and pref != "cpu" else "CPU"
    return "GPU:0" if use_gpu else "CPU"
