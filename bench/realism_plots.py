"""Plots and montages for ``bench/realism.py`` (matplotlib, Agg backend; not a test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from realism_features import GREY_BINS, SPECTRUM_BINS, ImageStats, row_depth_mm

WINDOW = (-3.0, 3.0)  # display window of every z-scored strip / box in the montage
COLOURS = {"real": "tab:blue", "phantom": "tab:orange"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _sets(real: list[ImageStats], phantom: list[ImageStats]) -> dict[str, list[ImageStats]]:
    return {"real": [s for s in real if s.ok], "phantom": [s for s in phantom if s.ok]}


def _curves(plt: Any, sets: dict[str, list[ImageStats]], out: Path) -> list[Path]:
    """Mean border profile, trabecular spectrum and grey-level histogram, both sets overlaid."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    depth = row_depth_mm()
    centres = 0.5 * (SPECTRUM_BINS[:-1] + SPECTRUM_BINS[1:])
    gcent = 0.5 * (GREY_BINS[:-1] + GREY_BINS[1:])
    for name, stats in sets.items():
        c = COLOURS[name]
        profs = np.array([p for s in stats for p in s.profiles])
        m, sd = profs.mean(0), profs.std(0)
        axes[0].plot(depth, m, color=c, label=f"{name} (n={len(stats)})")
        axes[0].fill_between(depth, m - sd, m + sd, color=c, alpha=0.2)
        spec = np.array([sp / max(sp.sum(), 1e-12) for s in stats for sp in s.spectra])
        axes[1].loglog(centres, np.median(spec, 0), color=c, label=name)
        axes[1].fill_between(centres, np.percentile(spec, 25, 0), np.percentile(spec, 75, 0), color=c, alpha=0.2)
        hist = np.array([s.grey_hist / max(s.grey_hist.sum(), 1) for s in stats if s.grey_hist is not None])
        axes[2].plot(gcent, hist.mean(0), color=c, label=name)
    axes[0].axvline(0, color="k", lw=0.6)
    axes[0].set(title="mean strip profile (z) across the border", xlabel="mm above the traced border",
                ylabel="z-scored intensity")
    axes[1].set(title="trabecular radial power spectrum (relative)", xlabel="cycles/mm")
    axes[2].set(title="grey-level histogram of the z-scored strip", xlabel="z")
    for a in axes:
        a.legend(fontsize=8)
    fig.tight_layout()
    p = out / "curves.png"
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return [p]


def _feature_grid(plt: Any, sets: dict[str, list[ImageStats]], report: dict[str, Any],
                  out: Path) -> list[Path]:
    """One histogram per feature, both sets overlaid, titled with the feature's AUC."""
    feats = report["features"]
    names = sorted(feats, key=lambda n: -abs(feats[n]["auc"] - 0.5))
    cols = 6
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.3 * rows))
    for ax, n in zip(np.ravel(axes), names, strict=False):
        vals = {k: np.array([f[n] for s in v for f in s.sides]) for k, v in sets.items()}
        allv = np.concatenate(list(vals.values()))
        lo, hi = np.percentile(allv, [1, 99]) if allv.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 25)
        for k, v in vals.items():
            ax.hist(np.clip(v, lo, hi), bins=bins, alpha=0.5, density=True, color=COLOURS[k], label=k)
        ax.set_title(f"{n}\nAUC {feats[n]['auc']:.2f}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in np.ravel(axes)[len(names):]:
        ax.axis("off")
    np.ravel(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    p = out / "features.png"
    fig.savefig(p, dpi=80)
    plt.close(fig)
    return [p]


def write_plots(real: list[ImageStats], phantom: list[ImageStats], report: dict[str, Any],
                out_dir: Path) -> list[Path]:
    """features.png (per-feature histograms) and curves.png (profile, spectrum, histogram)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    sets = _sets(real, phantom)
    return _curves(plt, sets, out_dir) + _feature_grid(plt, sets, report, out_dir)


def _to_u8(z: np.ndarray, width: int) -> np.ndarray:
    g = np.clip((z - WINDOW[0]) / (WINDOW[1] - WINDOW[0]) * 255.0, 0, 255).astype(np.uint8)
    h = int(round(g.shape[0] * width / g.shape[1]))
    return np.asarray(cv2.resize(g, (width, max(h, 1)), interpolation=cv2.INTER_AREA))


def _column(stats: list[ImageStats], title: str, width: int, n: int, attr: str) -> np.ndarray:
    tiles = [np.full((22, width), 0, np.uint8)]
    cv2.putText(tiles[0], title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
    for s in stats[:n]:
        t = _to_u8(getattr(s, attr), width)
        cv2.putText(t, s.name[-24:], (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 255, 1, cv2.LINE_AA)
        tiles += [t, np.zeros((4, width), np.uint8)]
    return np.vstack(tiles)


def write_montage(real: list[ImageStats], phantom: list[ImageStats], out_png: Path,
                  n: int = 10, width: int = 576) -> Path:
    """Cortex strips (top) and ROI boxes (bottom): real left, phantoms right, same window."""
    sets = _sets(real, phantom)
    blocks = []
    for attr in ("strip", "box"):
        cols = [_column(sets["real"], f"real {attr} (z, window -3..3)", width, n, attr),
                _column(sets["phantom"], f"phantom {attr} (z, window -3..3)", width, n, attr)]
        hmax = max(c.shape[0] for c in cols)
        cols = [np.pad(c, ((0, hmax - c.shape[0]), (0, 0))) for c in cols]
        blocks.append(np.hstack([cols[0], np.full((hmax, 8), 128, np.uint8), cols[1]]))
    mont = np.vstack([blocks[0], np.full((10, blocks[0].shape[1]), 128, np.uint8), blocks[1]])
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), mont)
    return out_png
