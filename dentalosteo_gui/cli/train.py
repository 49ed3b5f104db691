"""``dentalosteo train DATA --arch A --protocol P --out PACK``: train a model pack.

Prints a progress bar with ETA; checkpoints every epoch in ``PACK.work/`` so running the
same command again after an interruption resumes (finished folds are kept).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..core.data.protocols import PROTOCOLS
from ..core.errors import ConfigError
from ..ml import zoo
from ..ml.packs import select_device
from ..ml.pipeline import train_from_folder
from ..ml.training import format_progress
from .common import print_json

ARCH_CHOICES = ("compact", "compact-band", "cnn3", "vgg16", *(f"vgg16-tr{n}" for n in range(6)), "vgg19",
                "resnet50", "xception", "mobilenet", "mobilenetv2", "siamese-attention")


def _shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--input must look like 96x480 (height x width), not {text!r}") from None
    if not (16 <= h <= 2048 and 16 <= w <= 4096):
        raise ConfigError(f"--input {text} is outside 16..2048 x 16..4096")
    return h, w


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model pack with a published protocol",
                       description="Train an architecture on a dataset folder (labels.csv) with a "
                                   "published protocol and write a model pack.")
    p.add_argument("data", help="dataset folder with labels.csv")
    p.add_argument("--arch", required=True, choices=ARCH_CHOICES)
    p.add_argument("--protocol", default="lee2020", choices=PROTOCOLS,
                   help="lee2020 (balanced 20%% hold-out + 5-fold CV), loocv, split-50-25-25")
    p.add_argument("--out", required=True, help="output pack folder")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--weights", default="none", help="imagenet | none | PATH to a weight file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default per architecture)")
    p.add_argument("--input", default=None, help="model input HxW (default: the published size)")
    p.add_argument("--branch", default="light", choices=("light", "alexnet"),
                   help="siamese-attention branch")
    p.add_argument("--patch-mm", type=float, default=10.0, help="landmark patch side in mm")
    p.add_argument("--mcw-head", action="store_true",
                   help="compact and compact-band: add an auxiliary mcw_mm regression output (needs MCW truth)")
    p.add_argument("--no-fusion", action="store_true",
                   help="do not fit the risk fusion with the measured MCW (default: fitted on the validation "
                        "part, except with loocv; docs/models.md)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, not {args.epochs}")

    zoo.resolve_weights(args.arch, args.weights)  # a missing ImageNet file fails at once
    shape = None
    if args.input:
        h, w = _shape(args.input)
        base = zoo.default_input_shape(args.arch)
        shape = (8, h, w, 1) if args.arch == "siamese-attention" else (h, w, base[-1])
    device = select_device(args.device)
    err = sys.stderr
    tty = err.isatty()

    def progress(ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "message":
            err.write(f"{ev['text']}\n")
        elif kind == "resume":
            err.write(f"resuming at epoch {ev['epoch']}/{ev['epochs']}\n")
        elif kind == "step" and tty:
            err.write("\r" + format_progress(ev))
        elif kind == "epoch":
            err.write(("\r" if tty else "") + format_progress(ev) + "\n")
        err.flush()

    err.write(f"training {args.arch} with {args.protocol} on {device}\n")
    res = train_from_folder(args.data, args.arch, args.protocol, args.out, epochs=args.epochs,
                            weights=args.weights, seed=args.seed, batch_size=args.batch_size,
                            input_shape=shape, branch=args.branch, patch_mm=args.patch_mm,
                            lr=args.lr, mcw_head=args.mcw_head, progress=progress,
                            fuse_mcw=not args.no_fusion)
    held = res["card"]["metrics"]["held_out"]
    if args.json:
        print_json({"pack": res["pack"], "held_out": {k: held.get(k) for k in (
            "n", "auc", "auc_ci95", "sensitivity", "specificity", "accuracy", "f1", "opa", "nopa",
            "oa", "klemetti_kappa")}, "mean_over_folds": res["evaluation"].get("mean_over_folds")})
    else:
        auc = held.get("auc")
        sys.stdout.write(f"wrote {res['pack']}: held-out n={held['n']} AUC "
                         f"{'n/a' if auc is None else f'{auc:.3f}'} sens {held.get('sensitivity')} "
                         f"spec {held.get('specificity')}\n")
    return 0
