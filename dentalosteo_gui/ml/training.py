"""The training loop: class-weighted cross-entropy on ``risk`` (+ masked Klemetti loss),
augmentation prepared in a background thread, early stopping restoring the best weights,
per-epoch checkpoints that let an interrupted run resume where it stopped, and a progress
callback (epoch, step, loss, ETA) that the CLI prints as a bar and the GUI can show.

Seeds: numpy draws per epoch come from ``default_rng([seed, epoch])`` so a resumed run
draws the same batches as an uninterrupted one; TensorFlow is seeded with ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.data import metrics as M
from ..core.errors import DentalOsteoError
from .data import ArrayDataset, AugmentConfig

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


class TrainingCancelled(DentalOsteoError):
    """The user cancelled training (checkpoints are kept; run again to resume)."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (recorded in the model card)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # adamw | adam | sgd (momentum 0.9)
    patience: int | None = 10  # early stopping on validation loss; None = fixed epochs
    min_epochs: int = 0
    klemetti_weight: float = 0.5
    mcw_weight: float = 0.5  # Huber loss (mm) of the optional mcw_mm output
    class_weights: bool = True
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def signature(self) -> str:
        """Short hash of the config (a checkpoint is only resumed by the same config)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()
                              ).hexdigest()[:16]


def _outputs(model) -> list[str]:
    out = model.output
    return list(out.keys()) if isinstance(out, dict) else ["risk"]


def predict_arrays(model, x: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Run ``model`` on ``x`` in batches; returns numpy arrays per output (risk: (N, 2))."""
    chunks: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(x), batch_size):
        out = model(np.asarray(x[s:s + batch_size], dtype=np.float32), training=False)
        if not isinstance(out, dict):
            out = {"risk": out}
        for k, v in out.items():
            chunks.setdefault(k, []).append(np.asarray(v, dtype=np.float64))
    return {k: np.concatenate(v) for k, v in chunks.items()}


def _class_weights(y: np.ndarray, on: bool) -> np.ndarray:
    if not on:
        return np.ones(2)
    n = np.bincount(y, minlength=2).astype(np.float64)
    return np.where(n > 0, y.size / (2.0 * np.maximum(n, 1)), 1.0)


def _val_loss(y: np.ndarray, p: np.ndarray, cw: np.ndarray) -> float:
    q = np.clip(p[np.arange(y.size), y], 1e-7, 1.0)
    w = cw[y]
    return float(np.sum(-np.log(q) * w) / np.sum(w))


def fit(
    model,
    train: ArrayDataset,
    val: ArrayDataset | None,
    cfg: TrainConfig,
    ckpt_dir: Path | str | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    eager: bool = False,
) -> dict[str, Any]:
    """Train ``model`` in place; returns the history (per-epoch losses and val metrics).

    With a validation set and ``cfg.patience``, stops when the validation loss has not
    improved for ``patience`` epochs and restores the best weights.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg.seed)
    outs = _outputs(model)
    has_k = "klemetti" in outs and bool((train.klemetti >= 0).any())
    n = len(train)
    bs = max(1, min(cfg.batch_size, n))
    steps = int(np.ceil(n / bs))
    total_steps = max(1, steps * cfg.epochs)
    sched = keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total_steps, alpha=0.05)
    if cfg.optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate=sched, momentum=0.9, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate=sched)
    else:
        opt = keras.optimizers.AdamW(learning_rate=sched, weight_decay=cfg.weight_decay)
    opt.build(model.trainable_variables)
    cw = _class_weights(train.labels, cfg.class_weights)
    cw_t = tf.constant(cw, dtype=tf.float32)
    kw = float(cfg.klemetti_weight if has_k else 0.0)
    has_m = ("mcw_mm" in outs and train.mcw is not None and bool(np.isfinite(train.mcw).any()))
    mw = float(cfg.mcw_weight if has_m else 0.0)
    mcw_all = (train.mcw if train.mcw is not None else np.full(n, np.nan)).astype(np.float32)

    def step_fn(x, y, k, m):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            p = out["risk"] if isinstance(out, dict) else out
            sw = tf.gather(cw_t, y)
            ce = -tf.reduce_sum(tf.one_hot(y, 2) * tf.math.log(tf.clip_by_value(p, 1e-7, 1.0)), -1)
            loss_r = tf.reduce_sum(ce * sw) / tf.reduce_sum(sw)
            loss = loss_r
            loss_k = tf.constant(0.0)
            if kw > 0:
                mask = tf.cast(k >= 0, tf.float32)
                pk = tf.clip_by_value(out["klemetti"], 1e-7, 1.0)
                kce = -tf.reduce_sum(tf.one_hot(tf.maximum(k, 0), 3) * tf.math.log(pk), -1)
                loss_k = tf.reduce_sum(kce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
                loss = loss + kw * loss_k
            if mw > 0:
                ok = tf.math.is_finite(m)
                err = tf.where(ok, out["mcw_mm"][:, 0] - tf.where(ok, m, 0.0), 0.0)
                hub = tf.where(tf.abs(err) < 1.0, 0.5 * err * err, tf.abs(err) - 0.5)
                okf = tf.cast(ok, tf.float32)
                loss = loss + mw * tf.reduce_sum(hub * okf) / tf.maximum(tf.reduce_sum(okf), 1.0)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply(grads, model.trainable_variables)
        return loss_r, loss_k

    # tracing costs seconds; for a handful of steps (tests, tiny data) eager is faster
    step = step_fn if (eager or total_steps <= 12) else tf.function(step_fn, reduce_retracing=True)

    # ---- resume
    ck = Path(ckpt_dir) if ckpt_dir else None
    arch_sig = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode()
                              ).hexdigest()[:8]
    sig = f"{cfg.signature()}-{arch_sig}-n{n}"
    history: dict[str, Any] = {"epochs": [], "best_epoch": None, "stopped_early": False,
                               "config_signature": sig}
    start_epoch, best, best_weights, wait = 0, float("inf"), None, 0
    if ck is not None and (ck / "state.json").is_file():
        try:
            state = json.loads((ck / "state.json").read_text())
            if state.get("signature") == sig:
                w = np.load(ck / "last.npz")
                model.set_weights([w[f"w{i}"] for i in range(len(w.files))])
                o = np.load(ck / "opt.npz")
                for i, v in enumerate(opt.variables):
                    v.assign(o[f"v{i}"])
                if (ck / "best.npz").is_file():
                    b = np.load(ck / "best.npz")
                    best_weights = [b[f"w{i}"] for i in range(len(b.files))]
                start_epoch = int(state["epoch"])
                best, wait = float(state["best"]), int(state["wait"])
                history = state["history"]
                log.info("resuming from checkpoint at epoch %d", start_epoch)
                if progress:
                    progress({"event": "resume", "epoch": start_epoch, "epochs": cfg.epochs})
            else:
                log.info("checkpoint in %s was made with another config; starting afresh", ck)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("checkpoint unreadable (%s); starting afresh", exc)

    def save_ckpt(epoch: int) -> None:
        if ck is None:
            return
        ck.mkdir(parents=True, exist_ok=True)
        np.savez(ck / "last.npz", **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        np.savez(ck / "opt.npz", **{f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(opt.variables)})
        if best_weights is not None:
            np.savez(ck / "best.npz", **{f"w{i}": w for i, w in enumerate(best_weights)})
        tmp = ck / "state.json.tmp"
        tmp.write_text(json.dumps({"signature": sig, "epoch": epoch, "best": best, "wait": wait,
                                   "history": history}, default=float))
        tmp.replace(ck / "state.json")

    t_start = time.monotonic()
    epochs_run = 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        for epoch in range(start_epoch, cfg.epochs):
            if history.get("stopped_early"):
                break
            rng = np.random.default_rng([cfg.seed, epoch])
            order = rng.permutation(n)
            batches = [order[i * bs:(i + 1) * bs] for i in range(steps)]
            aug_rng = np.random.default_rng([cfg.seed, epoch, 1])

            def make(b: np.ndarray, r: np.random.Generator = aug_rng) -> tuple:
                return (train.batch(b, r, cfg.augment), train.labels[b], train.klemetti[b], mcw_all[b])

            t0 = time.monotonic()
            fut = pool.submit(make, batches[0])
            lr_sum, lk_sum = 0.0, 0.0
            for si in range(steps):
                if cancel is not None and cancel():
                    raise TrainingCancelled("training cancelled; run the same command again to resume")
                x, y, k, mm = fut.result()
                if si + 1 < steps:
                    fut = pool.submit(make, batches[si + 1])
                lr_, lk_ = step(tf.constant(x), tf.constant(y, tf.int32), tf.constant(k, tf.int32),
                                tf.constant(mm, tf.float32))
                lr_sum += float(lr_)
                lk_sum += float(lk_)
                if progress:
                    done = (epoch - start_epoch) * steps + si + 1
                    rate = (time.monotonic() - t_start) / max(1, done)
                    progress({"event": "step", "epoch": epoch + 1, "epochs": cfg.epochs,
                              "step": si + 1, "steps": steps, "loss": lr_sum / (si + 1),
                              "eta_s": rate * ((cfg.epochs - epoch) * steps - si - 1)})
            rec: dict[str, Any] = {"epoch": epoch + 1, "loss": lr_sum / steps,
                                   "klemetti_loss": lk_sum / steps if kw else None,
                                   "seconds": time.monotonic() - t0}
            if val is not None and len(val):
                pv = predict_arrays(model, val.batch(np.arange(len(val)), None, None))
                rec["val_loss"] = _val_loss(val.labels, pv["risk"], cw)
                rec["val_auc"] = M.finite_or_none(M.auc(val.labels, pv["risk"][:, 1]))
                monitor = rec["val_loss"]
            else:
                monitor = rec["loss"]
            history["epochs"].append(rec)
            epochs_run += 1
            if monitor < best - 1e-4:
                best, wait = monitor, 0
                best_weights = [w.copy() for w in model.get_weights()]
                history["best_epoch"] = epoch + 1
            else:
                wait += 1
            if (val is not None and len(val) and cfg.patience is not None and wait >= cfg.patience
                    and epoch + 1 >= cfg.min_epochs):
                history["stopped_early"] = True
            save_ckpt(epoch + 1)
            if progress:
                rate = (time.monotonic() - t_start) / max(1, epochs_run)
                progress({"event": "epoch", **rec, "epochs": cfg.epochs,
                          "eta_s": rate * (cfg.epochs - epoch - 1)})
    if val is not None and len(val) and best_weights is not None:
        model.set_weights(best_weights)  # restore the best epoch
    history["train_seconds"] = time.monotonic() - t_start
    return history


def format_progress(ev: dict[str, Any], width: int = 24) -> str:
    """A one-line text progress bar with ETA for the CLI."""
    ep, eps = ev.get("epoch", 0), ev.get("epochs", 1)
    frac = ((ep - 1) + ev.get("step", ev.get("steps", 1)) / max(1, ev.get("steps", 1))) / max(1, eps)
    if ev.get("event") == "epoch":
        frac = ep / max(1, eps)
    filled = int(round(frac * width))
    eta = int(ev.get("eta_s") or 0)
    bar = "#" * filled + "-" * (width - filled)
    tail = f"loss {ev.get('loss', float('nan')):.3f}"
    if ev.get("val_loss") is not None:
        tail += f" val_loss {ev['val_loss']:.3f}"
    if ev.get("val_auc") is not None:
        tail += f" val_auc {ev['val_auc']:.3f}"
    return f"epoch {ep}/{eps} [{bar}] {tail} ETA {eta // 60}m{eta % 60:02d}s"
