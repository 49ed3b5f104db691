"""The dataset format: labels.csv schema, round trip and error messages."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dentalosteo_gui.core.data.dataset import (
    DATASET_COLUMNS,
    LANDMARK_COLUMNS,
    dataset_row_to_dict,
    read_dataset,
    write_labels_csv,
)
from dentalosteo_gui.core.errors import DatasetError
from dentalosteo_gui.core.types import LANDMARK_NAMES, RoiBox


def _img(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((80, 120), np.uint8)).save(path)


def _full_row(i: int) -> dict:
    row = {
        "file": f"images/im_{i}.png",
        "label": i % 2,
        "t_score": -1.25 - i,
        "klemetti": ("C1", "C2", "C3")[i % 3],
        "mcw_left_mm": 3.5 - 0.1 * i,
        "mcw_right_mm": 3.25 + 0.1 * i,
        "pixel_spacing_mm": 0.1,
        "roi_x": 10 + i,
        "roi_y": 20,
        "roi_w": 700,
        "roi_h": 140,
    }
    for k, name in enumerate(LANDMARK_NAMES):
        row[f"lm_{name}_x"] = 100.5 + k
        row[f"lm_{name}_y"] = 50.25 + k
    return row


def _dataset(tmp_path: Path, rows: list[dict]) -> Path:
    for r in rows:
        _img(tmp_path / r["file"])
    write_labels_csv(tmp_path / "labels.csv", rows)
    return tmp_path


def _write_raw(tmp_path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return tmp_path


def test_columns_match_the_documented_schema() -> None:
    assert DATASET_COLUMNS[:2] == ["file", "label"]
    assert len(LANDMARK_COLUMNS) == 16
    for name in LANDMARK_NAMES:
        assert f"lm_{name}_x" in DATASET_COLUMNS and f"lm_{name}_y" in DATASET_COLUMNS
    for c in ("t_score", "klemetti", "mcw_left_mm", "mcw_right_mm", "pixel_spacing_mm",
              "roi_x", "roi_y", "roi_w", "roi_h"):
        assert c in DATASET_COLUMNS
    doc = Path(__file__).resolve().parents[1] / "docs" / "dataset-format.md"
    text = doc.read_text()
    for c in DATASET_COLUMNS[:11]:
        assert f"`{c}`" in text, c


def test_round_trip_all_columns(tmp_path: Path) -> None:
    rows = [_full_row(i) for i in range(3)]
    ds = _dataset(tmp_path, rows)
    header = (ds / "labels.csv").read_text().splitlines()[0].split(",")
    assert header == DATASET_COLUMNS
    got = read_dataset(ds)
    assert [r.row_number for r in got] == [2, 3, 4]
    for r, src in zip(got, rows, strict=True):
        assert r.file == (tmp_path / src["file"]).resolve() and r.file.is_absolute()
        assert r.label == src["label"]
        assert r.t_score == pytest.approx(src["t_score"])
        assert r.klemetti == src["klemetti"]
        assert r.mcw_left_mm == pytest.approx(src["mcw_left_mm"])
        assert r.mcw_right_mm == pytest.approx(src["mcw_right_mm"])
        assert r.roi == RoiBox(src["roi_x"], 20, 700, 140)
        assert r.landmarks is not None
        assert r.landmarks["left_premolar"] == pytest.approx((106.5, 56.25))
    # and back again: dict -> csv -> rows gives the same values
    again = [dataset_row_to_dict(r, tmp_path) for r in got]
    write_labels_csv(tmp_path / "labels.csv", again)
    assert [dataset_row_to_dict(r, tmp_path) for r in read_dataset(tmp_path)] == again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".labels-")]  # atomic: no temp left


def test_minimal_columns_and_empty_optionals(tmp_path: Path) -> None:
    _img(tmp_path / "a.png")
    _img(tmp_path / "sub" / "b.png")
    ds = _write_raw(tmp_path, ["file", "label", "t_score", "roi_x", "roi_y", "roi_w", "roi_h", "site"],
                    [["a.png", "1", "", "", "", "", "", "x"], ["sub/b.png", "0", "-0.5", "1", "2", "3", "4", "y"]])
    a, b = read_dataset(ds)
    assert a.file.name == "a.png" and a.label == 1 and a.t_score is None and a.roi is None
    assert a.landmarks is None and a.klemetti is None and a.mcw_mean_mm is None
    assert a.extra == {"site": "x"}
    assert b.roi == RoiBox(1, 2, 3, 4) and b.t_score == -0.5
    # a CSV path works as well as its folder
    assert len(read_dataset(ds / "labels.csv")) == 2


@pytest.mark.parametrize(
    "column,value,expect",
    [
        ("label", "2", "row 3, column label"),
        ("label", "", "row 3, column label"),
        ("t_score", "abc", "row 3, column t_score"),
        ("t_score", "nan", "row 3, column t_score"),
        ("klemetti", "C4", "row 3, column klemetti"),
        ("mcw_left_mm", "-1", "row 3, column mcw_left_mm"),
        ("pixel_spacing_mm", "5", "row 3, column pixel_spacing_mm"),
        ("roi_w", "", "row 3, column roi_w"),
        ("roi_h", "0", "row 3, column roi_h"),
        ("lm_left_condyle_y", "", "row 3, column lm_left_condyle_y"),
        ("lm_right_premolar_x", "1,5", "row 3, column lm_right_premolar_x"),
        ("file", "images/missing.png", "row 3, column file"),
    ],
)
def test_malformed_value_names_file_row_and_column(tmp_path: Path, column: str, value: str,
                                                   expect: str) -> None:
    rows = [_full_row(0), _full_row(1)]
    ds = _dataset(tmp_path, rows)
    with open(ds / "labels.csv", newline="") as fh:
        table = list(csv.reader(fh))
    table[2][table[0].index(column)] = value
    _write_raw(tmp_path, table[0], table[1:])
    with pytest.raises(DatasetError) as ei:
        read_dataset(ds)
    msg = str(ei.value)
    assert expect in msg
    assert str(ds / "labels.csv") in msg
    assert "\n" not in msg


def test_structural_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no labels.csv"):
        read_dataset(tmp_path)
    _img(tmp_path / "a.png")
    _write_raw(tmp_path, ["file", "t_score"], [["a.png", "1"]])
    with pytest.raises(DatasetError, match=r"row 1 \(header\): missing required column\(s\) label"):
        read_dataset(tmp_path)
    _write_raw(tmp_path, ["file", "label"], [])
    with pytest.raises(DatasetError, match="no data rows"):
        read_dataset(tmp_path)
    _write_raw(tmp_path, ["file", "label"], [["a.png", "1"], ["a.png", "0"]])
    with pytest.raises(DatasetError, match="row 3, column file: a.png already listed in row 2"):
        read_dataset(tmp_path)
    _write_raw(tmp_path, ["file", "label"], [["a.png", "1", "extra"]])
    with pytest.raises(DatasetError, match="row 2: more cells than header"):
        read_dataset(tmp_path)
    (tmp_path / "labels.csv").write_bytes(b"file,label\n\xff\xfe,1\n")
    with pytest.raises(DatasetError, match="UTF-8"):
        read_dataset(tmp_path)


def test_write_requires_file_and_label(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="row 2, column label"):
        write_labels_csv(tmp_path / "labels.csv", [{"file": "a.png"}])
    assert not (tmp_path / "labels.csv").exists()
    assert not list(tmp_path.iterdir())
