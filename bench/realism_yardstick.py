"""What does the realism discriminator say about REAL images? A yardstick for issue 16 (not a test).

Usage::

    python bench/realism_yardstick.py --real DIR [--splits 3] [--repeats 3] [--seed 0] [--out JSON]

``bench/realism.py`` scores phantoms by how well small classifiers tell them from the real
radiographs of ``--real`` (``discriminator_auc``; issue 16 asks for at most 0.70). That figure
has no scale without a reference: how far apart are two sets of REAL panoramics?

Here the real images are split at random into two halves, A and B, by patient (image). A is
kept as it is; B goes through one acquisition chain at a time, as another panoramic unit might
record the same patients, then both halves go through exactly the discriminator of
``realism.py`` (same features, same classifiers, same cross-validation). Printed: ONE JSON
object; per chain the median over ``--splits`` random halvings of ``discriminator_auc`` and
``discriminator_auc_without_device_noise``, their range, and the features that give B away.

Chains (pure functions of the image and a seeded generator, output quantised to 8 bits as a
PNG export would be; every image draws its own parameters):

- ``same_device``: nothing (the floor: two halves of one device; small halves make it noisy)
- ``detector_blur``: a softer detector, Gaussian blur of 0.5-0.8 px
- ``lut_and_edge_enhancement``: another tone curve (gamma 0.9-1.1) and unsharp masking
  (amount 0.1-0.3, sigma 6-12 px)
- ``quantum_noise``: white noise of 0.3-0.6 grey levels (of 255) added
- ``other_unit``: all of a different unit's chain at once (gamma 0.8-1.25, blur 0.4-1.0 px,
  unsharp masking 0.2-0.7 at sigma 4-12 px, correlated noise 0.5-1.5 % of the range)

A phantom set whose ``discriminator_auc`` is near ``other_unit``'s is about as far from these
radiographs as the same patients seen through another unit's processing would be.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realism import emit, iter_images, summarise  # noqa: E402
from realism_features import ImageStats, measure_image  # noqa: E402

Chain = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _quantise(im: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to 8 bits (what a PNG export stores)."""
    return np.asarray(np.round(np.clip(im, 0.0, 1.0) * 255.0) / 255.0, dtype=np.float32)


def _unsharp(im: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    return np.asarray(im + amount * (im - cv2.GaussianBlur(im, (0, 0), sigma)), dtype=np.float32)


def same_device(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _quantise(im)


def detector_blur(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _quantise(cv2.GaussianBlur(im, (0, 0), float(rng.uniform(0.5, 0.8))))


def lut_and_edge_enhancement(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.power(im, float(rng.uniform(0.9, 1.1)), dtype=np.float32)
    return _quantise(_unsharp(out, float(rng.uniform(0.1, 0.3)), float(rng.uniform(6.0, 12.0))))


def quantum_noise(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sd = float(rng.uniform(0.3, 0.6)) / 255.0
    return _quantise(im + rng.normal(0.0, sd, im.shape).astype(np.float32))


def other_unit(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.power(im, float(rng.uniform(0.8, 1.25)), dtype=np.float32)
    out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.0)))
    out = _unsharp(out, float(rng.uniform(0.2, 0.7)), float(rng.uniform(4.0, 12.0)))
    n = cv2.GaussianBlur(rng.normal(0.0, 1.0, im.shape).astype(np.float32), (0, 0), float(rng.uniform(0.6, 1.2)))
    out = out + float(rng.uniform(0.005, 0.015)) * n / max(float(n.std()), 1e-9)
    return _quantise(out)


CHAINS: dict[str, Chain] = {
    "same_device": same_device,
    "detector_blur": detector_blur,
    "lut_and_edge_enhancement": lut_and_edge_enhancement,
    "quantum_noise": quantum_noise,
    "other_unit": other_unit,
}


def halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of ``n`` images into two halves (A gets the extra one when n is odd)."""
    perm = rng.permutation(n)
    k = (n + 1) // 2
    return np.sort(perm[:k]), np.sort(perm[k:])


def run(real: Path, splits: int = 3, repeats: int = 3, seed: int = 0, limit: int = 0,
        chains: tuple[str, ...] = tuple(CHAINS)) -> dict[str, Any]:
    t0 = time.perf_counter()
    items = list(iter_images(real, limit))
    if len(items) < 8:
        raise SystemExit(f"realism_yardstick: {real} holds {len(items)} images; at least 8 are needed")
    original = [measure_image(it.name, it.rad, it.spacing_mm) for it in items]
    seq = np.random.SeedSequence(seed)
    split_rngs = [np.random.default_rng(s) for s in seq.spawn(splits)]
    parts = [halves(len(items), r) for r in split_rngs]
    out: dict[str, Any] = {}
    for ci, name in enumerate(chains):
        chain = CHAINS[name]
        seen: list[ImageStats] = []
        for i, it in enumerate(items):  # each image's own parameters: (seed, chain, image)
            rng = np.random.default_rng(np.random.SeedSequence([seed, ci, i]))
            rad = dataclasses.replace(it.rad, pixels=chain(it.rad.pixels, rng))
            seen.append(measure_image(it.name, rad, it.spacing_mm))
        auc, auc_dev, give = [], [], {}
        for a, b in parts:
            rep = summarise([original[j] for j in a], [seen[j] for j in b], repeats)
            auc.append(rep["discriminator_auc"])
            auc_dev.append(rep["discriminator_auc_without_device_noise"])
            for f in list(rep["give_away"])[:3]:
                give[f] = give.get(f, 0) + 1
        out[name] = {
            "discriminator_auc": round(float(np.median(auc)), 3),
            "discriminator_auc_range": [round(min(auc), 3), round(max(auc), 3)],
            "discriminator_auc_without_device_noise": round(float(np.median(auc_dev)), 3),
            "discriminator_auc_without_device_noise_range": [round(min(auc_dev), 3), round(max(auc_dev), 3)],
            "give_away": sorted(give, key=lambda f: -give[f])[:4],
        }
    return {
        "real": str(real),
        "n_images": len(items),
        "halves": [len(parts[0][0]), len(parts[0][1])],
        "splits": splits,
        "chains": out,
        "reading": "discriminator_auc of real half A against real half B seen through each chain, by the "
                   "classifiers of bench/realism.py; a phantom set near other_unit's figure is about as far "
                   "from these radiographs as the same patients through another unit's processing",
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", type=Path, required=True, help="folder of real radiographs (>= 8)")
    ap.add_argument("--splits", type=int, default=3, help="random halvings per chain (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="cross-validation shuffles (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="at most N images")
    ap.add_argument("--chains", default=",".join(CHAINS), help=f"comma-separated subset of {','.join(CHAINS)}")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)
    if not args.real.is_dir():
        ap.error(f"{args.real}: not a folder")
    chains = tuple(c.strip() for c in args.chains.split(",") if c.strip())
    bad = [c for c in chains if c not in CHAINS]
    if bad:
        ap.error(f"unknown chain {bad[0]!r}; choose from {', '.join(CHAINS)}")
    report = run(args.real, max(1, args.splits), max(1, args.repeats), args.seed, args.limit, chains)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
