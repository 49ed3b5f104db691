"""``dentalosteo evaluate DATA [--model PACK] --json OUT [--plots DIR]``: metrics of a pack.

Runs the pack on every image of the dataset (ground-truth ROI or landmarks from
labels.csv), computes AUC with a bootstrap 95 % CI, sensitivity, specificity, accuracy,
precision, F1, OPA / NOPA / OA, Brier score, reliability, the operating-point table,
Klemetti accuracy and kappa, and the MCW MAE of the anatomy module (null without truth);
with ``--protocol`` also per fold on that protocol's test parts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.data.protocols import PROTOCOLS
from ..ml.evaluation import evaluate_pack_on_folder
from ..ml.packs import select_device
from .common import dumps


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a model pack on a labelled dataset",
                       description="Evaluate a model pack on a dataset folder with labels.csv.")
    p.add_argument("data", help="dataset folder with labels.csv")
    p.add_argument("--model", default=None, help="model pack folder (default: bundled models/default)")
    p.add_argument("--json", required=True, help="write the metrics JSON here ('-' for stdout)")
    p.add_argument("--plots", default=None, help="folder for roc.png, pr.png, reliability.png")
    p.add_argument("--protocol", default=None, choices=PROTOCOLS,
                   help="also report per fold on this protocol's test parts")
    p.add_argument("--seed", type=int, default=0, help="protocol seed (as used in training)")
    p.add_argument("--operating-point", default="balanced",
                   help="threshold from the card: high_sensitivity | balanced | high_specificity | 0.5")
    p.add_argument("--no-mcw", action="store_true", help="skip measuring MCW (mcw_mae_mm null)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    select_device(args.device)
    res = evaluate_pack_on_folder(args.data, args.model, args.protocol, args.seed, args.plots,
                                  args.operating_point, measure_mcw=not args.no_mcw)
    text = dumps(res) + "\n"
    if args.json == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        auc = res.get("auc")
        sys.stdout.write(f"n={res['n']} AUC {'n/a' if auc is None else f'{auc:.3f}'} "
                         f"sensitivity {res.get('sensitivity')} specificity {res.get('specificity')} "
                         f"-> {out}\n")
    return 0
