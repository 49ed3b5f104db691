"""Train / validation / test splits of the published protocols (pure functions).

- ``lee2020``: a class-balanced hold-out test set of 20 % (Lee et al. 2020: 68 + 68 of
  680), then 5-fold cross-validation on the rest: in fold k, fold k is the validation
  part (20 %) and the other four folds train (80 %). Every fold is tested on the same
  hold-out set.
- ``loocv``: leave-one-out (the Siamese-attention study); one split per case (or per
  patient when patient ids are given). No validation part: a fixed number of epochs.
- ``split-50-25-25``: one stratified split, 50 % train, 25 % validation (early stopping),
  25 % test (the Klemetti / MobileNet study).

When ``groups`` (patient ids) are given, all images of one patient land in the same part,
so no patient is ever both trained and tested on. Stratification then works on patients
(each patient counted with the majority label of their images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

PROTOCOLS: tuple[str, ...] = ("lee2020", "loocv", "split-50-25-25")


@dataclass
class Split:
    """Index arrays into the dataset rows for one fold."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train": self.train.tolist(), "val": self.val.tolist(),
                "test": self.test.tolist(), "info": dict(self.info)}


def _groups_of(y: np.ndarray, groups: Sequence[Any] | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Member index arrays per group and each group's (majority) label."""
    if groups is None:
        members = [np.array([i]) for i in range(y.size)]
        return members, y.copy()
    g = np.asarray([str(v) for v in groups])
    if g.size != y.size:
        raise ValueError(f"groups has {g.size} values, labels {y.size}")
    uniq, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(uniq.size)]
    glab = np.array([int(round(float(y[m].mean()) + 1e-9)) if y[m].mean() != 0.5 else 1
                     for m in members])
    return members, glab


def _stratified_group_folds(
    y: np.ndarray, members: list[np.ndarray], glab: np.ndarray, candidates: np.ndarray,
    n_folds: int, rng: np.random.Generator,
) -> list[np.ndarray]:
    """Assign the candidate groups to ``n_folds`` folds, balancing each class's count.

    Returns per fold an array of sample indices.
    """
    fold_samples: list[list[int]] = [[] for _ in range(n_folds)]
    counts = np.zeros((n_folds, 2), dtype=np.int64)
    for cls in (0, 1):
        gs = candidates[glab[candidates] == cls]
        gs = gs[rng.permutation(gs.size)]
        # larger groups first so the greedy balance works (stable after the shuffle)
        gs = gs[np.argsort([-members[g].size for g in gs], kind="stable")]
        for g in gs:
            # fewest of this class, ties broken by fewest overall, then a rotating start
            tot = counts.sum(1)
            k = int(np.lexsort((rng.random(n_folds), tot, counts[:, cls]))[0])
            fold_samples[k].extend(members[g].tolist())
            counts[k, cls] += members[g].size
    return [np.array(sorted(f), dtype=np.int64) for f in fold_samples]


def lee2020(
    y: Sequence[int], groups: Sequence[Any] | None = None, seed: int = 0,
    test_fraction: float = 0.2, n_folds: int = 5,
) -> list[Split]:
    """Balanced hold-out test set + ``n_folds``-fold CV on the rest (see module doc)."""
    yy = np.asarray(y).astype(np.int64)
    rng = np.random.default_rng(seed)
    members, glab = _groups_of(yy, groups)
    n_test = int(round(test_fraction * yy.size))
    per_class = min(n_test // 2, int(min((yy == 0).sum(), (yy == 1).sum())) // 2)
    test_groups: list[int] = []
    for cls in (0, 1):
        gs = np.flatnonzero(glab == cls)
        gs = gs[rng.permutation(gs.size)]
        taken = 0
        for g in gs:
            if taken >= per_class:
                break
            n_cls = int((yy[members[g]] == cls).sum())
            if taken + n_cls > per_class and taken > 0:
                continue  # would overshoot: try a smaller patient
            test_groups.append(int(g))
            taken += n_cls
    test = np.array(sorted(i for g in test_groups for i in members[g]), dtype=np.int64)
    rest_groups = np.setdiff1d(np.arange(len(members)), np.array(test_groups, dtype=np.int64))
    folds = _stratified_group_folds(yy, members, glab, rest_groups, n_folds, rng)
    splits = []
    for k in range(n_folds):
        train = np.concatenate([folds[j] for j in range(n_folds) if j != k])
        splits.append(Split(f"fold{k + 1}", np.sort(train), folds[k], test,
                            {"protocol": "lee2020", "fold": k + 1, "seed": seed}))
    return splits


def loocv(y: Sequence[int], groups: Sequence[Any] | None = None) -> list[Split]:
    """Leave one case (or one patient) out."""
    yy = np.asarray(y).astype(np.int64)
    members, _ = _groups_of(yy, groups)
    splits = []
    everything = np.arange(yy.size)
    for k, m in enumerate(members):
        splits.append(Split(f"loo{k + 1}", np.setdiff1d(everything, m), np.array([], dtype=np.int64),
                            np.sort(m), {"protocol": "loocv", "fold": k + 1}))
    return splits


def split_50_25_25(y: Sequence[int], groups: Sequence[Any] | None = None, seed: int = 0) -> list[Split]:
    """One stratified 50 / 25 / 25 train / validation / test split."""
    yy = np.asarray(y).astype(np.int64)
    rng = np.random.default_rng(seed)
    members, glab = _groups_of(yy, groups)
    quarters = _stratified_group_folds(yy, members, glab, np.arange(len(members)), 4, rng)
    train = np.sort(np.concatenate(quarters[:2]))
    return [Split("split", train, quarters[2], quarters[3],
                  {"protocol": "split-50-25-25", "seed": seed})]


def make_splits(
    protocol: str, y: Sequence[int], groups: Sequence[Any] | None = None, seed: int = 0
) -> list[Split]:
    """Dispatch on the protocol name (one of :data:`PROTOCOLS`)."""
    if protocol == "lee2020":
        return lee2020(y, groups, seed)
    if protocol == "loocv":
        return loocv(y, groups)
    if protocol == "split-50-25-25":
        return split_50_25_25(y, groups, seed)
    raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
