"""Can a classifier tell phantoms from real panoramic radiographs? (issue 16; not a test)

Usage::

    python bench/realism.py --real DIR --phantoms DIR [--plots DIR] [--montage OUT.png]
                            [--anatomy] [--limit N] [--repeats 3] [--out JSON]

``DIR`` is any folder of radiographs (PNG/JPEG/TIFF/BMP/DICOM; searched recursively, but
sub-folders named ``mask*`` are skipped and, when the folder has an ``images/`` sub-folder and
no ``labels.csv``, only that is read: ``../shared/realdata/abdi_dev`` gives its 29
radiographs, not their segmentation masks too). A folder with a ``labels.csv`` (dataset
format) takes each image's pixel spacing from it; otherwise the file's own spacing is used,
else 0.1 mm/px is assumed (as the app does).

Every image goes through the product's code (``propose_roi`` + ``core.anatomy.band``, see
``realism_features.py``); features are measured per side on the z-scored cortex strip and on
the ROI box. Printed: ONE JSON object with, per feature, the median of each set and the
image-level AUC of that feature alone (0.5 = indistinguishable), and ``discriminator_auc``:
the best image-level, out-of-fold AUC of three small classifiers (logistic regression and
gradient boosting on the features, logistic regression on the down-sampled strip pixels),
cross-validated by image (StratifiedGroupKFold, both sides of one image always in the same
fold, 3 shuffles averaged). ``give_away`` lists the features that tell the sets apart most.
``discriminator_auc_without_device_noise`` repeats the discriminator without the ROI box's
noise level and colour (a detector's fingerprint, see ``DEVICE_NOISE_FEATURES``), so what
the anatomy and texture alone give away is visible beside the full figure.
``--plots DIR`` writes the distributions overlaid; ``--montage OUT.png`` strips and ROI boxes
of both sets side by side at the same window (z-score, -3..3). ``--anatomy`` adds whether the
product's anatomy works on each set: trace rate and, for a labelled folder, the MCW error.

Depths are in mm at the pixel spacing above: for real images of unknown spacing (0.1 mm
assumed) the mm-based features (cortex peak depth, border rise) carry that uncertainty.
With a few dozen images per set, AUCs move by several hundredths between samples: compare
sets of similar size and read the per-feature AUCs, not only the best classifier.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realism_features import ImageStats, measure_image  # noqa: E402

from dentalosteo_gui.core.data.dataset import LABELS_FILE, DatasetRow, read_dataset  # noqa: E402
from dentalosteo_gui.core.imaging.imageio import SUPPORTED_EXTENSIONS, load_radiograph  # noqa: E402
from dentalosteo_gui.core.types import Radiograph  # noqa: E402

ASSUMED_SPACING_MM = 0.1
PIXEL_GRID = (16, 48)  # strip side down-sampled to this for the pixel discriminator
# The ROI box's noise level and colour are a detector's fingerprint, not anatomy: on the real
# CR/DX DICOMs of ../shared (four devices) the noise colour spans -1.1 to -0.2, on the one
# device of abdi_dev -0.48 to -0.43 (one image -0.25); the phantoms spread it over the
# devices' range on purpose, and a classifier can always fence in one device's narrow range.
# ``discriminator_without_device_noise`` repeats the discriminator without these columns.
DEVICE_NOISE_FEATURES = ("box_noise_colour", "box_noise_rel")


@dataclass
class Item:
    """One image of a folder, with the pixel spacing it is measured at and, from a
    labels.csv, its truth MCW per side (right, left)."""

    name: str
    rad: Radiograph
    spacing_mm: float
    truth_mcw_mm: tuple[float | None, float | None] = (None, None)


def iter_images(folder: Path, limit: int = 0) -> Iterator[Item]:
    """Each image in ``folder`` (its labels.csv, when present, gives spacing and MCW)."""
    folder = Path(folder)
    rows: dict[Path, DatasetRow] = {}
    if (folder / LABELS_FILE).is_file():
        rows = {r.file.resolve(): r for r in read_dataset(folder)}
        files = list(rows)
    else:
        root = folder / "images" if (folder / "images").is_dir() else folder
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
                       and not any(d.lower().startswith("mask") for d in p.relative_to(root).parts[:-1]))
    for i, path in enumerate(files):
        if limit and i >= limit:
            return
        rad = load_radiograph(path)
        row = rows.get(Path(path).resolve())
        sp = (row.pixel_spacing_mm if row else None) or rad.pixel_spacing_mm or ASSUMED_SPACING_MM
        truth = (row.mcw_right_mm, row.mcw_left_mm) if row else (None, None)
        yield Item(str(Path(path).resolve().relative_to(folder.resolve())), rad, float(sp), truth)


def measure_folder(folder: Path, limit: int = 0, cortex: bool = False) -> list[ImageStats]:
    """Measure every image (``cortex``: also the product's MCW, for :func:`anatomy_summary`)."""
    out = []
    for it in iter_images(folder, limit):
        st = measure_image(it.name, it.rad, it.spacing_mm, cortex)
        st.truth_mcw_mm = it.truth_mcw_mm
        out.append(st)
    return out


def anatomy_summary(stats: list[ImageStats]) -> dict[str, Any]:
    """Is the anatomy usable? Trace rate (both sides, confidence >= 0.5) and, where the
    folder's labels.csv gives the MCW, the error of the product's MCW (``measure_cortex``)."""
    good = [s for s in stats if s.ok and s.confidence >= 0.5]
    err = np.array([m - t for s in stats if s.ok
                    for m, t in zip(s.mcw_mm, s.truth_mcw_mm, strict=True) if m is not None and t is not None])
    n_truth = sum(t is not None for s in stats for t in s.truth_mcw_mm)
    out: dict[str, Any] = {"n": len(stats), "traced_rate": round(len(good) / max(len(stats), 1), 3)}
    if n_truth:
        out.update(mcw_sides_measured=f"{err.size}/{n_truth}",
                   mcw_mae_mm=round(float(np.abs(err).mean()), 3) if err.size else None,
                   mcw_bias_mm=round(float(err.mean()), 3) if err.size else None,
                   mcw_p90_abs_mm=round(float(np.percentile(np.abs(err), 90)), 3) if err.size else None)
    # A reader-free width: where each side's mean strip profile falls half-way from its cortex
    # peak to the trabecular level. It sits below the true MCW on phantoms (a soft margin), but
    # it needs no margin finder: the product's MCW over it, compared between real images and
    # phantoms, says whether the reader reads real cortices deeper than it reads phantoms.
    half = [(f["cortex_peak_mm"] + f["endosteal_halfwidth_mm"], m, t) for s in stats if s.ok
            for f, m, t in zip(s.sides, s.mcw_mm, s.truth_mcw_mm, strict=False)]
    if half:
        hm = np.array([h for h, _, _ in half])
        gap = np.array([m - h for h, m, _ in half if m is not None])
        ratio = np.array([m / h for h, m, _ in half if m is not None and h > 0])
        off = np.array([h - t for h, _, t in half if t is not None])
        out.update(halfmax_width_mm_median=round(float(np.median(hm)), 3),
                   mcw_minus_halfmax_mm_median=round(float(np.median(gap)), 3) if gap.size else None,
                   mcw_over_halfmax_median=round(float(np.median(ratio)), 3) if ratio.size else None,
                   halfmax_minus_truth_mm_median=round(float(np.median(off)), 3) if off.size else None)
    return out


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC of ``score`` for y == 1 (ties half)."""
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    d = pos[:, None] - neg[None, :]
    return float(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)


def _table(real: list[ImageStats], phantom: list[ImageStats]) -> dict[str, np.ndarray]:
    """Feature matrix (one row per side), set label (1 real), image group, pixel rows."""
    xs, ys, gs, px = [], [], [], []
    img = 0
    names = sorted(real[0].sides[0]) if real and real[0].sides else sorted(phantom[0].sides[0])
    for y, stats in ((1, real), (0, phantom)):
        for st in stats:
            for k, f in enumerate(st.sides):
                xs.append([f[n] for n in names])
                ys.append(y)
                gs.append(img)
                half = st.strip.shape[1] // 2  # type: ignore[union-attr]
                side = st.strip[:, k * half:(k + 1) * half]  # type: ignore[index]
                px.append(_downsample(side if k == 0 else side[:, ::-1]))
            img += 1
    return {"X": np.nan_to_num(np.asarray(xs, np.float64)), "y": np.asarray(ys), "g": np.asarray(gs),
            "P": np.asarray(px, np.float64), "names": np.asarray(names)}


def _downsample(side: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(side.astype(np.float32), (PIXEL_GRID[1], PIXEL_GRID[0]),
                      interpolation=cv2.INTER_AREA).ravel()


def _models(n_components: int) -> dict[str, Any]:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(
            C=0.3, class_weight="balanced", max_iter=5000)),
        "boosting": lambda: GradientBoostingClassifier(
            n_estimators=150, max_depth=2, learning_rate=0.08, subsample=0.8, random_state=0),
        "pixels": lambda: make_pipeline(StandardScaler(), PCA(n_components=n_components, random_state=0),
                                        LogisticRegression(C=0.3, class_weight="balanced", max_iter=5000)),
    }


def discriminate(tab: dict[str, np.ndarray], repeats: int = 3) -> dict[str, Any]:
    """Image-level out-of-fold AUC per classifier and feature importances (boosting, logistic)."""
    from sklearn.model_selection import StratifiedGroupKFold

    y, g = tab["y"], tab["g"]
    n_img_min = min(len(np.unique(g[y == 1])), len(np.unique(g[y == 0])))
    n_splits = int(max(2, min(5, n_img_min)))
    w = np.where(y == 1, 0.5 / max((y == 1).mean(), 1e-9), 0.5 / max((y == 0).mean(), 1e-9))
    aucs: dict[str, list[float]] = {}
    imp_gb = np.zeros(tab["X"].shape[1])
    imp_lr = np.zeros(tab["X"].shape[1])
    n_train = len(y) - int(np.ceil(len(y) / n_splits)) - 2
    for name, make in _models(int(max(1, min(12, n_train)))).items():
        data = tab["P"] if name == "pixels" else tab["X"]
        for rep in range(repeats):
            oof = np.zeros(len(y))
            cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=rep)
            for tr, te in cv.split(data, y, g):
                model = make()
                if name == "boosting":
                    model.fit(data[tr], y[tr], sample_weight=w[tr])
                    imp_gb += model.feature_importances_
                else:
                    model.fit(data[tr], y[tr])
                    if name == "logistic":
                        imp_lr += np.abs(model[-1].coef_[0])
                oof[te] = model.predict_proba(data[te])[:, 1]
            per_img = np.bincount(g, weights=oof) / np.bincount(g)
            y_img = np.bincount(g, weights=y) / np.bincount(g)
            aucs.setdefault(name, []).append(_auc(per_img, (y_img > 0.5).astype(int)))
    names = tab["names"]
    order_gb = np.argsort(-imp_gb)
    order_lr = np.argsort(-imp_lr)
    return {
        "auc": {k: round(float(np.mean(v)), 3) for k, v in aucs.items()},
        "boosting_importance": {str(names[i]): round(float(imp_gb[i] / imp_gb.sum()), 3) for i in order_gb[:8]},
        "logistic_abs_coef": {str(names[i]): round(float(imp_lr[i] / max(imp_lr.sum(), 1e-9)), 3)
                              for i in order_lr[:8]},
        "n_splits": n_splits,
    }


def without_features(tab: dict[str, np.ndarray], drop: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The same table without the named feature columns (pixels untouched)."""
    keep = np.array([str(n) not in drop for n in tab["names"]])
    return {**tab, "X": tab["X"][:, keep], "names": tab["names"][keep]}


def feature_summary(tab: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per feature: median of each set and the image-level AUC of the feature alone."""
    X, y, g = tab["X"], tab["y"], tab["g"]
    y_img = (np.bincount(g, weights=y) / np.bincount(g)) > 0.5
    out = {}
    for j, n in enumerate(tab["names"]):
        per_img = np.bincount(g, weights=X[:, j]) / np.bincount(g)
        out[str(n)] = {"real": round(float(np.median(X[y == 1, j])), 4),
                       "phantom": round(float(np.median(X[y == 0, j])), 4),
                       "auc": round(_auc(per_img, y_img.astype(int)), 3)}
    return out


def summarise(real: list[ImageStats], phantom: list[ImageStats], repeats: int = 3) -> dict[str, Any]:
    """The report: feature medians and AUCs, the discriminator, what gives phantoms away."""
    ok_r = [s for s in real if s.ok]
    ok_p = [s for s in phantom if s.ok]
    if len(ok_r) < 2 or len(ok_p) < 2:
        raise SystemExit("realism: fewer than 2 traced images in a set; nothing to compare")
    tab = _table(ok_r, ok_p)
    feats = feature_summary(tab)
    disc = discriminate(tab, repeats)
    disc_dev = discriminate(without_features(tab, DEVICE_NOISE_FEATURES), repeats)
    ranked = sorted(feats, key=lambda n: -abs(feats[n]["auc"] - 0.5))
    give_away = ranked[:8]
    cc = feats["cortex_contrast_sd"]
    return {
        "n_images": {"real": len(real), "phantom": len(phantom)},
        "traced": {"real": len(ok_r), "phantom": len(ok_p)},
        "not_traced": {"real": [s.name for s in real if not s.ok][:10],
                       "phantom": [s.name for s in phantom if not s.ok][:10]},
        "discriminator_auc": max(disc["auc"].values()),
        "discriminator": disc,
        "discriminator_auc_without_device_noise": max(disc_dev["auc"].values()),
        "discriminator_without_device_noise": {"excluded": list(DEVICE_NOISE_FEATURES), **disc_dev},
        "cortex_contrast_sd": {"real": cc["real"], "phantom": cc["phantom"]},
        "give_away": {n: feats[n] for n in give_away},
        "separation_ranking": [[n, round(abs(feats[n]["auc"] - 0.5) * 2.0, 3)] for n in ranked],
        "features": feats,
        "definitions": {
            "cortex_contrast_sd": "peak of the side's mean depth profile within 5 mm above the traced "
                                  "border minus the mean of the trabecular zone (5.5-9.8 mm), in SDs of "
                                  "the z-scored strip (the model's input); median over sides",
            "cortex_zone_contrast_sd": "same with the fixed cortex zone 0.6-2.4 mm instead of the peak",
            "auc": "image-level; 0.5 = the sets cannot be told apart, 1 or 0 = fully separable",
            "separation_ranking": "every feature by |2 AUC - 1| (0 = no separation, 1 = complete)",
            "trab_texture_*": "the trabecular zone minus its blur at TEXTURE_SIGMA_PX (~0.8 mm): "
                              "SD share and skew of the texture; trab_smooth_skew: skew of the blur",
        },
    }


def emit(report: dict[str, Any], out: Path | None) -> None:
    """The report as ONE JSON object on stdout (and in ``out`` too when given)."""
    text = json.dumps(report, indent=1)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    sys.stdout.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", type=Path, required=True, help="folder of real radiographs")
    ap.add_argument("--phantoms", type=Path, required=True, help="folder of phantoms (labels.csv optional)")
    ap.add_argument("--plots", type=Path, help="write distribution plots (PNG) here")
    ap.add_argument("--montage", type=Path, metavar="OUT.png", help="strips side by side")
    ap.add_argument("--limit", type=int, default=0, help="at most N images per set")
    ap.add_argument("--repeats", type=int, default=3, help="cross-validation shuffles (default 3)")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--anatomy", action="store_true",
                    help="also report the trace rate and, for folders with a labels.csv, the MCW "
                    "error of the product's measure_cortex (`anatomy` in the JSON)")
    args = ap.parse_args(argv)
    for d in (args.real, args.phantoms):
        if not d.is_dir():
            ap.error(f"{d}: not a folder")
    t0 = time.perf_counter()
    real = measure_folder(args.real, args.limit, args.anatomy)
    phantom = measure_folder(args.phantoms, args.limit, args.anatomy)
    report = summarise(real, phantom, args.repeats)
    if args.anatomy:
        report["anatomy"] = {"real": anatomy_summary(real), "phantom": anatomy_summary(phantom)}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.plots is not None or args.montage is not None:
        from realism_plots import write_montage, write_plots

        if args.plots is not None:
            report["plots"] = [str(p) for p in write_plots(real, phantom, report, args.plots)]
        if args.montage is not None:
            report["montage"] = str(write_montage(real, phantom, args.montage))
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
