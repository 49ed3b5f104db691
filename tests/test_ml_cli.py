"""`dentalosteo train` and `dentalosteo evaluate` end to end on a tiny synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dentalosteo_gui.cli.main import main  # noqa: E402
from dentalosteo_gui.core.data.dataset import write_labels_csv  # noqa: E402

pytestmark = pytest.mark.ml


def _dataset(folder: Path, n: int = 20) -> Path:
    """Images with a bright lower band, thinner for label 1 (as the cortex is)."""
    rng = np.random.default_rng(0)
    rows = []
    (folder / "images").mkdir(parents=True)
    for i in range(n):
        label = i % 2
        img = rng.normal(0.35, 0.05, (160, 320))
        band = 6 if label else 16
        img[110:110 + band, 40:280] += 0.4
        cv2.imwrite(str(folder / "images" / f"im{i:02d}.png"), (np.clip(img, 0, 1) * 255).astype(np.uint8))
        rows.append({"file": f"images/im{i:02d}.png", "label": label,
                     "klemetti": ["C1", "C2", "C3"][i % 3], "pixel_spacing_mm": 0.1,
                     "mcw_left_mm": 1.6 if label else 3.2, "mcw_right_mm": 1.6 if label else 3.2,
                     "roi_x": 40, "roi_y": 80, "roi_w": 240, "roi_h": 60,
                     "patient_id": f"P{i // 2}"})
    write_labels_csv(folder / "labels.csv", rows)
    return folder


def test_train_then_evaluate(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    pack = tmp_path / "pack"
    args = ["train", str(data), "--arch", "compact", "--protocol", "lee2020", "--out", str(pack),
            "--epochs", "2", "--input", "16x64", "--batch-size", "8", "--seed", "1", "--mcw-head"]
    assert main(args) == 0
    card = json.loads((pack / "card.json").read_text())
    assert card["arch"] == "compact" and card["mode"] == "roi"
    assert card["input"]["height"] == 16 and card["input"]["width"] == 64
    assert card["training_data"]["source"] == "real"  # file names are not phantoms
    assert set(card["outputs"]) == {"risk", "klemetti", "mcw_mm"}
    ops = card["operating_points"]
    assert ops["bands"]["low_max"] <= ops["bands"]["high_min"]
    ev = json.loads((pack / "evaluation.json").read_text())
    assert len(ev["folds"]) == 5 and ev["mean_over_folds"]["n_folds"] == 5
    assert {p.name for p in (pack / "plots").iterdir()} == {"roc.png", "pr.png", "reliability.png"}
    # no patient in two parts
    splits = json.loads((tmp_path / "pack.work" / "splits.json").read_text())
    pid = [f"P{i // 2}" for i in range(20)]
    for s in splits:
        assert not {pid[i] for i in s["train"]} & {pid[i] for i in s["test"]}
    # running again resumes: finished folds are reused, same numbers
    assert main(args) == 0
    ev2 = json.loads((pack / "evaluation.json").read_text())
    assert [f["auc"] for f in ev2["folds"]] == [f["auc"] for f in ev["folds"]]

    out = tmp_path / "ev.json"
    assert main(["evaluate", str(data), "--model", str(pack), "--json", str(out),
                 "--plots", str(tmp_path / "plots"), "--protocol", "lee2020", "--seed", "1"]) == 0
    res = json.loads(out.read_text())
    for key in ("n", "auc", "auc_ci95", "sensitivity", "specificity", "accuracy", "f1", "opa",
                "nopa", "oa", "klemetti_kappa", "mcw_mae_mm", "brier", "confusion_matrix"):
        assert key in res
    assert res["n"] == 20 and len(res["folds"]) == 5
    assert res["klemetti_kappa"] is not None
    assert res["mcw_mae_mm_model"] is not None and res["mcw_mae_mm_model"] >= 0
    assert (tmp_path / "plots" / "roc.png").stat().st_size > 1000


def test_train_errors_are_one_line(tmp_path, capsys, monkeypatch):
    data = _dataset(tmp_path / "data", 6)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    rc = main(["train", str(data), "--arch", "vgg16-tr2", "--weights", "imagenet", "--out",
               str(tmp_path / "p"), "--protocol", "split-50-25-25"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in err[-1]
    rc = main(["evaluate", str(data), "--model", str(tmp_path / "missing"), "--json", "-"])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


def test_train_and_evaluate_a_cortex_band_model(tmp_path):
    """``--arch compact-band``: the band is cut along the border traced inside each row's ROI."""
    from tests.test_anatomy_band import SPACING, _image, _proposal

    folder = tmp_path / "band_data"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(5)
    rows_csv: list[dict] = []
    box = _proposal(30.0).box
    for i in range(12):
        label = i % 2
        img = _image(30.0, cortex_mm=1.5 if label else 4.0) + rng.normal(0, 0.03, (500, 1400))
        cv2.imwrite(str(folder / "images" / f"b{i:02d}.png"), (np.clip(img, 0, 1) * 255).astype(np.uint8))
        rows_csv.append({"file": f"images/b{i:02d}.png", "label": label, "pixel_spacing_mm": SPACING,
                     "roi_x": box.x, "roi_y": box.y, "roi_w": box.w, "roi_h": box.h})
    write_labels_csv(folder / "labels.csv", rows_csv)
    pack = tmp_path / "bandpack"
    assert main(["train", str(folder), "--arch", "compact-band", "--protocol", "split-50-25-25",
                 "--out", str(pack), "--epochs", "2", "--input", "16x64", "--batch-size", "4",
                 "--seed", "1"]) == 0
    card = json.loads((pack / "card.json").read_text())
    assert card["arch"] == "compact-band" and card["mode"] == "band"
    assert card["input"]["band"]["rows"] == 16 and card["input"]["band"]["cols_per_side"] == 32
    assert "core.anatomy.band" in card["preprocessing"]
    out = tmp_path / "band_ev.json"
    assert main(["evaluate", str(folder), "--model", str(pack), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == 12 and res["auc"] is not None
    assert "risk_fusion" not in res  # a pack without a fusion: the image model only
    # a pack with a risk fusion: evaluate also reports the fused risk the app would show
    from dentalosteo_gui.ml.packs import write_manifest

    card["risk_fusion"] = {"weights": {"intercept": 4.0, "image_logit": 0.1, "mcw_mm": -1.5},
                           "mcw_range_mm": [1.0, 5.0],
                           "operating_points": {"balanced": {"threshold": 0.5}, "high_sensitivity": {"threshold": 0.3},
                                                "high_specificity": {"threshold": 0.7}}}
    (pack / "card.json").write_text(json.dumps(card))
    write_manifest(pack)
    assert main(["evaluate", str(folder), "--model", str(pack), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    fused = res["risk_fusion"]
    assert fused["n_with_measured_mcw"] >= 10 and fused["auc_image_model"] == res["auc"]
    preds = [p for p in res["predictions"] if p["measured_mcw_mm"] is not None]
    thin = [p["risk_fused"] for p in preds if p["label"] == 1]
    thick = [p["risk_fused"] for p in preds if p["label"] == 0]
    assert thin and thick and min(thin) > max(thick)  # 1.5 mm vs 4 mm cortices, the width decides
    # a malformed fusion is ignored, as the app ignores it (no traceback)
    (pack / "card.json").write_text(json.dumps({**card, "risk_fusion": {"weights": {}}}))
    write_manifest(pack)
    assert main(["evaluate", str(folder), "--model", str(pack), "--json", str(out)]) == 0
    assert "risk_fusion" not in json.loads(out.read_text())
    # `train` fits the fusion on the pack fold's validation part when it has enough measured
    # images (here 3: said, and none; the evaluate above saw no fusion); fitted on all 12 it
    # finds the width's sign
    from types import SimpleNamespace

    from dentalosteo_gui.core.data.dataset import read_dataset
    from dentalosteo_gui.ml.pipeline import _fit_fusion

    rows = read_dataset(folder)
    said: list[str] = []
    run = SimpleNamespace(rows=rows, labels=np.array([r.label for r in rows]), seed=0, say=said.append)
    idx = np.arange(len(rows))
    sec = _fit_fusion(run, idx, np.full(len(rows), 0.5), idx, np.full(len(rows), 0.5))  # type: ignore[arg-type]
    assert sec is not None and sec["weights"]["mcw_mm"] < 0 and sec["held_out"]["n_with_measured_mcw"] >= 10
    assert _fit_fusion(run, idx[:3], np.full(3, 0.5), idx, np.full(len(rows), 0.5)) is None  # type: ignore[arg-type]
    assert any(m.startswith("no risk fusion: too few") for m in said)
    assert json.loads(out.read_text())["rank_agreement_with_dataset_mcw"] is None  # no MCW in labels.csv
    # with a width per image (a dentist's, here the drawn cortex), evaluate orders the images
    # by it: the app's reader agrees (+), and each figure carries its interval and count
    for r in rows_csv:
        r["mcw_left_mm"] = r["mcw_right_mm"] = 1.5 if r["label"] else 4.0
    write_labels_csv(folder / "labels.csv", rows_csv)
    assert main(["evaluate", str(folder), "--model", str(pack), "--json", str(out)]) == 0
    ra = json.loads(out.read_text())["rank_agreement_with_dataset_mcw"]
    assert ra["n"] == 12 and ra["spearman_image_model_risk_vs_mcw_n"] == 12
    assert -1.0 <= ra["spearman_image_model_risk_vs_mcw"] <= 1.0
    lo, hi = ra["spearman_image_model_risk_vs_mcw_ci95"]
    assert lo <= ra["spearman_image_model_risk_vs_mcw"] <= hi
    assert ra["spearman_measured_mcw_vs_mcw"] > 0.5 and ra["spearman_measured_mcw_vs_mcw_n"] >= 10
    assert "spearman_model_mcw_vs_mcw" not in ra  # trained without widths: no MCW head to rank


def test_rank_agreement_orders_risk_and_widths_against_the_dataset_mcw():
    from dentalosteo_gui.ml.evaluation import rank_agreement

    mcw = [4.0, 3.5, None, 3.0, 2.5, 2.0, 1.5]
    risk = np.array([0.1, 0.2, 0.9, 0.3, 0.5, 0.4, 0.8])  # falls as the width grows, one swap
    model = np.array([3.9, 3.6, 1.0, 2.9, 2.4, 2.2, 1.4])
    measured = [4.1, None, 2.0, 3.1, 2.6, 1.9, 1.6]
    ra = rank_agreement(mcw, risk, model, measured)
    assert ra is not None and ra["n"] == 6  # the row without an MCW is left out
    assert ra["spearman_image_model_risk_vs_mcw"] == pytest.approx(-0.9429, abs=1e-4)
    assert ra["spearman_model_mcw_vs_mcw"] == 1.0 and ra["spearman_measured_mcw_vs_mcw_n"] == 5
    lo, hi = ra["spearman_image_model_risk_vs_mcw_ci95"]
    assert -1.0 < lo < -0.9429 < hi < 0.0
    assert rank_agreement([1.0, 2.0, None, None, 3.0, 4.0], np.zeros(6)) is None  # under 5 widths
