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


def _optimizer(cfg: TrainConfig, total_steps: int) -> Any:
    """The optimizer of ``cfg`` on a cosine learning-rate decay over ``total_steps``."""
    import keras

    sched = keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total_steps, alpha=0.05)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=sched, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=sched)
    return keras.optimizers.AdamW(learning_rate=sched, weight_decay=cfg.weight_decay)


def _step_fn(model: Any, opt: Any, cw: np.ndarray, kw: float, mw: float) -> Callable[..., Any]:
    """One optimisation step: class-weighted risk cross-entropy, plus ``kw`` x the masked Klemetti
    cross-entropy and ``mw`` x the masked Huber loss of ``mcw_mm``; returns (risk loss, Klemetti loss)."""
    import tensorflow as tf

    cw_t = tf.constant(cw, dtype=tf.float32)

    def step_fn(x, y, k, m, rw):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            p = out["risk"] if isinstance(out, dict) else out
            sw = tf.gather(cw_t, y) * rw  # rw: 0 for a sample whose risk label does not apply (depth zoom)
            ce = -tf.reduce_sum(tf.one_hot(y, 2) * tf.math.log(tf.clip_by_value(p, 1e-7, 1.0)), -1)
            loss_r = tf.reduce_sum(ce * sw) / tf.maximum(tf.reduce_sum(sw), 1e-6)
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

    return step_fn


@dataclass
class _State:
    """What a checkpoint saves besides the weights: epoch, early-stopping state, history."""

    history: dict[str, Any]
    start_epoch: int = 0
    best: float = float("inf")
    best_weights: list[np.ndarray] | None = None
    wait: int = 0


class _Checkpoint:
    """Per-epoch checkpoint in a folder (last / optimizer / best weights and ``state.json``);
    only a run with the same signature (config, architecture, training-set size) resumes it."""

    def __init__(self, folder: Path | None, model: Any, cfg: TrainConfig, n: int) -> None:
        self.ck = folder
        arch_sig = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode()
                                  ).hexdigest()[:8]
        self.sig = f"{cfg.signature()}-{arch_sig}-n{n}"

    def restore(self, model: Any, opt: Any, progress: Progress | None, epochs: int) -> _State:
        """The saved state (weights and optimizer restored in place), else a fresh one."""
        state = _State(history={"epochs": [], "best_epoch": None, "stopped_early": False,
                                "config_signature": self.sig})
        ck = self.ck
        if ck is None or not (ck / "state.json").is_file():
            return state
        try:
            saved = json.loads((ck / "state.json").read_text())
            if saved.get("signature") != self.sig:
                log.info("checkpoint in %s was made with another config; starting afresh", ck)
                return state
            w = np.load(ck / "last.npz")
            model.set_weights([w[f"w{i}"] for i in range(len(w.files))])
            o = np.load(ck / "opt.npz")
            for i, v in enumerate(opt.variables):
                v.assign(o[f"v{i}"])
            if (ck / "best.npz").is_file():
                b = np.load(ck / "best.npz")
                state.best_weights = [b[f"w{i}"] for i in range(len(b.files))]
            state.start_epoch = int(saved["epoch"])
            state.best, state.wait = float(saved["best"]), int(saved["wait"])
            state.history = saved["history"]
            log.info("resuming from checkpoint at epoch %d", state.start_epoch)
            if progress:
                progress({"event": "resume", "epoch": state.start_epoch, "epochs": epochs})
        except (OSError, ValueError, KeyError) as exc:
            log.warning("checkpoint unreadable (%s); starting afresh", exc)
        return state

    def save(self, model: Any, opt: Any, state: _State, epoch: int) -> None:
        if self.ck is None:
            return
        import keras

        ck = self.ck
        ck.mkdir(parents=True, exist_ok=True)
        np.savez(ck / "last.npz", **{f"w{i}": w for i, w in enumerate(model.get_weights())})
        np.savez(ck / "opt.npz", **{f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(opt.variables)})
        if state.best_weights is not None:
            np.savez(ck / "best.npz", **{f"w{i}": w for i, w in enumerate(state.best_weights)})
        tmp = ck / "state.json.tmp"
        tmp.write_text(json.dumps({"signature": self.sig, "epoch": epoch, "best": state.best,
                                   "wait": state.wait, "history": state.history}, default=float))
        tmp.replace(ck / "state.json")


class _Loop:
    """The per-epoch work of :func:`fit`: batches drawn per epoch, augmentation prepared in a
    background thread while the previous batch trains, validation."""

    def __init__(self, model: Any, train: ArrayDataset, val: ArrayDataset | None, cfg: TrainConfig,
                 progress: Progress | None, cancel: Callable[[], bool] | None, eager: bool) -> None:
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(cfg.seed)
        self.model, self.train, self.val, self.cfg = model, train, val, cfg
        self.progress, self.cancel = progress, cancel
        outs = _outputs(model)
        has_k = "klemetti" in outs and bool((train.klemetti >= 0).any())
        self.n = len(train)
        self.bs = max(1, min(cfg.batch_size, self.n))
        self.steps = int(np.ceil(self.n / self.bs))
        total_steps = max(1, self.steps * cfg.epochs)
        self.opt = _optimizer(cfg, total_steps)
        self.opt.build(model.trainable_variables)
        self.cw = _class_weights(train.labels, cfg.class_weights)
        self.kw = float(cfg.klemetti_weight if has_k else 0.0)
        has_m = ("mcw_mm" in outs and train.mcw is not None and bool(np.isfinite(train.mcw).any()))
        mw = float(cfg.mcw_weight if has_m else 0.0)
        self.mcw_all = (train.mcw if train.mcw is not None else np.full(self.n, np.nan)).astype(np.float32)
        step_fn = _step_fn(model, self.opt, self.cw, self.kw, mw)
        # tracing costs seconds; for a handful of steps (tests, tiny data) eager is faster
        self.step = step_fn if (eager or total_steps <= 12) else tf.function(step_fn, reduce_retracing=True)
        self.has_val = val is not None and len(val) > 0
        self.start_epoch, self.t_start = 0, time.monotonic()

    def run_epoch(self, pool: ThreadPoolExecutor, epoch: int) -> dict[str, Any]:
        """Train one epoch; returns its record (mean losses, seconds)."""
        import tensorflow as tf

        cfg, train, steps = self.cfg, self.train, self.steps
        rng = np.random.default_rng([cfg.seed, epoch])
        order = rng.permutation(self.n)
        batches = [order[i * self.bs:(i + 1) * self.bs] for i in range(steps)]
        aug_rng = np.random.default_rng([cfg.seed, epoch, 1])

        def make(b: np.ndarray) -> tuple:
            zooms: list[float] = []
            x = train.batch(b, aug_rng, cfg.augment, zooms)
            z = np.asarray(zooms, np.float32) if len(zooms) == len(b) else np.ones(len(b), np.float32)
            # a depth-zoomed band shows a z times wider cortex: its MCW target follows, its risk
            # label is left out (the label model ties the label to the unzoomed width)
            return x, train.labels[b], train.klemetti[b], self.mcw_all[b] * z, (z == 1.0).astype(np.float32)

        t0 = time.monotonic()
        fut = pool.submit(make, batches[0])
        lr_sum, lk_sum = 0.0, 0.0
        for si in range(steps):
            if self.cancel is not None and self.cancel():
                raise TrainingCancelled("training cancelled; run the same command again to resume")
            x, y, k, mm, rw = fut.result()
            if si + 1 < steps:
                fut = pool.submit(make, batches[si + 1])
            lr_, lk_ = self.step(tf.constant(x), tf.constant(y, tf.int32), tf.constant(k, tf.int32),
                                 tf.constant(mm, tf.float32), tf.constant(rw, tf.float32))
            lr_sum += float(lr_)
            lk_sum += float(lk_)
            self._report_step(epoch, si, lr_sum / (si + 1))
        return {"epoch": epoch + 1, "loss": lr_sum / steps, "klemetti_loss": lk_sum / steps if self.kw else None,
                "seconds": time.monotonic() - t0}

    def _report_step(self, epoch: int, si: int, loss: float) -> None:
        if not self.progress:
            return
        epochs, steps = self.cfg.epochs, self.steps
        done = (epoch - self.start_epoch) * steps + si + 1
        rate = (time.monotonic() - self.t_start) / max(1, done)
        self.progress({"event": "step", "epoch": epoch + 1, "epochs": epochs, "step": si + 1, "steps": steps,
                       "loss": loss, "eta_s": rate * ((epochs - epoch) * steps - si - 1)})

    def monitor(self, rec: dict[str, Any]) -> float:
        """The early-stopping quantity: validation loss (recorded with the AUC), else training loss."""
        val = self.val
        if val is None or not self.has_val:
            return float(rec["loss"])
        pv = predict_arrays(self.model, val.batch(np.arange(len(val)), None, None))
        rec["val_loss"] = _val_loss(val.labels, pv["risk"], self.cw)
        rec["val_auc"] = M.finite_or_none(M.auc(val.labels, pv["risk"][:, 1]))
        return rec["val_loss"]

    def update(self, state: _State, rec: dict[str, Any], monitor: float, epoch: int) -> None:
        """Record the epoch; keep the best weights; stop early after ``patience`` epochs without progress."""
        cfg = self.cfg
        state.history["epochs"].append(rec)
        if monitor < state.best - 1e-4:
            state.best, state.wait = monitor, 0
            state.best_weights = [w.copy() for w in self.model.get_weights()]
            state.history["best_epoch"] = epoch + 1
        else:
            state.wait += 1
        if (self.has_val and cfg.patience is not None and state.wait >= cfg.patience
                and epoch + 1 >= cfg.min_epochs):
            state.history["stopped_early"] = True


def fit(
    model: Any,
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
    loop = _Loop(model, train, val, cfg, progress, cancel, eager)
    ckpt = _Checkpoint(Path(ckpt_dir) if ckpt_dir else None, model, cfg, loop.n)
    state = ckpt.restore(model, loop.opt, progress, cfg.epochs)
    loop.start_epoch, loop.t_start = state.start_epoch, time.monotonic()
    epochs_run = 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        for epoch in range(state.start_epoch, cfg.epochs):
            if state.history.get("stopped_early"):
                break
            rec = loop.run_epoch(pool, epoch)
            monitor = loop.monitor(rec)
            epochs_run += 1
            loop.update(state, rec, monitor, epoch)
            ckpt.save(model, loop.opt, state, epoch + 1)
            if progress:
                rate = (time.monotonic() - loop.t_start) / max(1, epochs_run)
                progress({"event": "epoch", **rec, "epochs": cfg.epochs, "eta_s": rate * (cfg.epochs - epoch - 1)})
    if loop.has_val and state.best_weights is not None:
        model.set_weights(state.best_weights)  # restore the best epoch
    state.history["train_seconds"] = time.monotonic() - loop.t_start
    return state.history


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
