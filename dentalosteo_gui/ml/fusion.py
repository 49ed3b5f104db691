"""Fit the risk fusion of a model pack (``card["risk_fusion"]``, applied by
``core.fusion``): a logistic model of the label on the image model's calibrated
risk logit and the MCW the anatomy module measures, fitted on the pack's **validation**
phantoms, with its own operating points chosen there, and measured on the held-out test
phantoms against the image model alone and against the measured-MCW rule (risk = -MCW).

``python -m dentalosteo_gui.ml.fusion --pack models/default`` adds (or refits) the fusion of
an existing bundled pack without retraining it: it re-creates the pack's phantoms and split
from the bundle cache (``--work``, drawn again when absent), runs the pack on the validation
and test phantoms, measures MCW on them, fits and writes the card (the weights, hence the
pack's sha256, are untouched; the manifest is rewritten). ``make model`` fits it as part of
training (``bundle_models``).

numpy only at import; TensorFlow is loaded by the CLI when it runs the pack.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.data import metrics as M
from ..core.fusion import FUSION_KEY, RiskFusion
from .calibration import add_held_out, calibrate, held_out_operating_points, risk_logit

#: what a phantom-fitted fusion cannot know (added to the card's limitations)
PHANTOM_FUSION_LIMITATION = (
    "The score shown combines the image model's score with the measured cortical width; the weights were "
    "fitted on phantoms, whose labels follow a synthetic label model tied to the width: on patients the "
    "width's weight must be refitted on DXA-labelled radiographs (dentalosteo train does so).")

L2 = 1e-2  # ridge on the two slopes (not the intercept): keeps the fit finite on separable data


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iters: int = 100) -> np.ndarray:
    """Weights (intercept first) of a ridge-penalised logistic regression by Newton steps."""
    xx = np.column_stack([np.ones(len(x)), np.asarray(x, dtype=np.float64)])
    yy = np.asarray(y, dtype=np.float64)
    w = np.zeros(xx.shape[1])
    pen = np.r_[0.0, np.full(xx.shape[1] - 1, l2)]
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xx @ w, -60, 60)))
        g = xx.T @ (p - yy) + pen * w
        h = (xx * (p * (1 - p))[:, None]).T @ xx + np.diag(pen) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


def _mm(values: list[float | None] | np.ndarray) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def apply_fusion(section: dict[str, Any], image_risk: np.ndarray,
                 mcw_mm: list[float | None] | np.ndarray) -> np.ndarray:
    """The fused risk per row, as the app computes it (``core.fusion``): the image
    model's risk alone where no MCW was measured."""
    fusion = RiskFusion.from_card({FUSION_KEY: section})
    if fusion is None:
        raise ValueError("not a risk_fusion section")
    return np.array([r if not np.isfinite(m) else fusion.risk(float(r), float(m))
                     for r, m in zip(np.asarray(image_risk, dtype=np.float64), _mm(mcw_mm), strict=True)])


def fit_fusion(y_val: np.ndarray, risk_val: np.ndarray, mcw_val: list[float | None] | np.ndarray,
               ) -> dict[str, Any]:
    """The ``risk_fusion`` card section fitted on validation data (rows with an MCW)."""
    y, r, m = np.asarray(y_val), np.asarray(risk_val, dtype=np.float64), _mm(mcw_val)
    ok = np.isfinite(m)
    if ok.sum() < 10 or len(set(y[ok].tolist())) < 2:
        raise ValueError(f"too few validation phantoms with a measured MCW to fit the fusion ({int(ok.sum())})")
    w = fit_logistic(np.column_stack([risk_logit(r[ok]), m[ok]]), y[ok])
    section: dict[str, Any] = {
        "definition": "risk = sigmoid(intercept + image_logit * logit(image model's calibrated risk) "
                      "+ mcw_mm * mean measured MCW in mm at the model's input scale); mcw_range_mm: the "
                      "range the fit saw, the curve is extended beyond it; without a measured "
                      "MCW the image model's risk stands alone with the card's own operating points",
        "fitted_on": f"validation phantoms with a measured MCW ({int(ok.sum())} of {len(y)}); ridge {L2} on the slopes",
        "weights": {"intercept": float(w[0]), "image_logit": float(w[1]), "mcw_mm": float(w[2])},
        "mcw_range_mm": [float(np.min(m[ok])), float(np.max(m[ok]))],
    }
    # the fusion's operating points apply to fused scores only (a row without an MCW keeps the
    # pack's own): chosen on the rows with an MCW
    fused = apply_fusion({**section, "operating_points": {}}, r, m)
    ops: dict[str, Any] = M.pick_operating_points(y[ok], fused[ok], 0.9, 0.9)
    ops["bands"] = {"low_max": ops["high_sensitivity"]["threshold"],
                    "high_min": ops["high_specificity"]["threshold"]}
    section["operating_points"] = ops
    section["validation"] = {"n": len(y), "n_with_measured_mcw": int(ok.sum()),
                             "auc": M.finite_or_none(M.auc(y[ok], fused[ok])),
                             "auc_image_model": M.finite_or_none(M.auc(y[ok], r[ok]))}
    return section


def held_out_fusion(section: dict[str, Any], y: np.ndarray, risk: np.ndarray,
                    mcw: list[float | None] | np.ndarray, seed: int) -> dict[str, Any]:
    """The fusion on the held-out test phantoms: AUC with CI of the risk the app shows (fused
    where an MCW was measured, the image model's elsewhere), the paired differences to the
    image model alone and to the measured-MCW rule (rows with an MCW), and the operating
    points' sensitivity / specificity on the rows with an MCW (recorded under each)."""
    from .bundle_models import paired_auc_difference

    y, r, m = np.asarray(y), np.asarray(risk, dtype=np.float64), _mm(mcw)
    fused = apply_fusion(section, r, m)
    ok = np.isfinite(m)
    out: dict[str, Any] = {
        "n": len(y), "n_with_measured_mcw": int(ok.sum()),
        "auc": M.finite_or_none(M.auc(y, fused)),
        "auc_ci95": list(M.auc_bootstrap_ci(y, fused, 2000, seed)),
        "auc_image_model": M.finite_or_none(M.auc(y, r)),
        "minus_image_model": paired_auc_difference(y, fused, r, 2000, seed),
    }
    if ok.sum() > 2:
        out["auc_measured_mcw_rule"] = M.finite_or_none(M.auc(y[ok], -m[ok]))
        out["minus_measured_mcw_rule"] = paired_auc_difference(y[ok], fused[ok], -m[ok], 2000, seed)
    # the operating points' sensitivity / specificity where they apply: the rows with an MCW
    add_held_out(section["operating_points"],
                 held_out_operating_points(section["operating_points"], y[ok], fused[ok]))
    section["held_out"] = out
    return out


def add_limitation(card: dict[str, Any]) -> None:
    """The phantom fusion's limitation in the card's list (once)."""
    if str((card.get("training_data") or {}).get("source")) != "phantom":
        return
    lims = card.get("limitations")
    lims = list(lims) if isinstance(lims, list) else ([lims] if lims else [])
    if PHANTOM_FUSION_LIMITATION not in lims:
        lims.append(PHANTOM_FUSION_LIMITATION)
    card["limitations"] = lims


# ---------------------------------------------------------------------------- CLI: refit a pack
def _pack_predictions(pack_dir: Path, items: list[dict[str, Any]], split: Any, mode: str
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from .bundle_models import make_dataset
    from .packs import load_pack
    from .training import predict_arrays

    pack = load_pack(pack_dir)
    model = pack.keras_model()
    ds = make_dataset(items, mode)
    out = []
    for ix in (split[1], split[2]):
        sub = ds.subset(ix)
        raw = predict_arrays(model, sub.batch(np.arange(len(sub)), None, None))["risk"][:, 1]
        out.append({"y": sub.labels, "risk": np.asarray(calibrate(raw, pack.temperature))})
    return out[0], out[1]


def refit_pack(pack_dir: Path, work: Path, n: int, seed: int, workers: int) -> dict[str, Any]:
    """Fit the fusion of an existing bundled pack and write it into its card."""
    from . import bundle_models as B
    from .packs import write_manifest

    card_path = pack_dir / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    style = str((card.get("training_data") or {}).get("phantom_style") or B.BUNDLED_STYLE)
    if int((card.get("training") or {}).get("n", n)) != n:
        raise SystemExit(f"{pack_dir}: trained on {card['training']['n']} phantoms, not {n}: pass --n")
    items = B.generate_cached(n, seed, workers, work, None, style)
    split = B.stratified_split(np.array([it["label"] for it in items]), seed)
    measured_val = B.measured_mcw_cached(seed, split[1], workers, work, style)
    measured_test = B.measured_mcw_cached(seed, split[2], workers, work, style)
    mode = str(card.get("mode"))
    if mode == "band":
        items, split, measured_test, measured_val = B._drop_untraced(
            str(card.get("arch")), items, split, measured_test, measured_val)
    val, test = _pack_predictions(pack_dir, items, split, mode)
    section = fit_fusion(val["y"], val["risk"], measured_val)
    ho = held_out_fusion(section, test["y"], test["risk"], measured_test, seed)
    trained = ((card.get("metrics") or {}).get("held_out") or {}).get("auc")
    if trained is not None and abs(float(trained) - float(ho["auc_image_model"] or 0)) > 1e-6:
        ho["note"] = (f"the image model's AUC here ({ho['auc_image_model']:.4f}) is on the test phantoms' inputs "
                      f"as cut today (tracer, anatomy); the card's {float(trained):.4f} on those cut when it was "
                      "trained")
    section["refitted_with"] = "python -m dentalosteo_gui.ml.fusion (weights of the pack unchanged)"
    card[FUSION_KEY] = section
    add_limitation(card)
    card_path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    write_manifest(pack_dir)
    return section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dentalosteo_gui.ml.fusion",
                                 description="fit the risk fusion (image model + measured MCW) of a bundled pack")
    ap.add_argument("--pack", action="append", required=True, help="pack folder (repeatable)")
    ap.add_argument("--n", type=int, default=800, help="phantoms the pack was bundled with (800)")
    ap.add_argument("--seed", type=int, default=2026, help="their seed (2026)")
    ap.add_argument("--work", default="build/bundle_models", help="the bundle cache folder")
    ap.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.monotonic()
    for p in args.pack:
        sec = refit_pack(Path(p), Path(args.work), args.n, args.seed, args.workers)
        ho = sec["held_out"]
        print(json.dumps({"pack": p, "weights": sec["weights"], "mcw_range_mm": sec["mcw_range_mm"],
                          "held_out_auc": ho["auc"], "held_out_auc_image_model": ho["auc_image_model"],
                          "held_out_auc_measured_mcw_rule": ho.get("auc_measured_mcw_rule"),
                          "minus_measured_mcw_rule": ho.get("minus_measured_mcw_rule"),
                          "minus_image_model": ho["minus_image_model"]}, indent=1), flush=True)
    print(f"done in {time.monotonic() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
