"""The dentists' inferior border on the abdi_dev development images (../shared; CC BY-NC, never
copied into the repo): the shared reader of the tests that compare the trace with rater 1."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ABDI = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "abdi_dev"


def rater1_border(iid: int, abdi: Path = ABDI) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of rater 1's lowest mask pixel per sampled column of image ``iid``, where the
    rater has a border."""
    with open(abdi / "inferior_border_by_column.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["image_id"]) == iid]
    xy = np.array([(float(r["x"]), float(r["y_lowest_mask_px_rater1"])) for r in rows])
    xy = xy[xy[:, 1] >= 0]
    return xy[:, 0], xy[:, 1]
