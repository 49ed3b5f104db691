"""Pure parts of the bundled-model build (no TensorFlow, no phantom drawing)."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.ml.bundle_models import paired_auc_difference, stratified_split


def test_stratified_split_is_disjoint_stratified_and_reproducible():
    y = np.r_[np.zeros(500, int), np.ones(300, int)]
    tr, va, te = stratified_split(y, 2026)
    assert (tr.size, va.size, te.size) == (480, 120, 200)
    assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)
    for part in (tr, va, te):
        assert y[part].mean() == pytest.approx(0.375, abs=0.01)
    again = stratified_split(y, 2026)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))


def test_paired_auc_difference():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(100, int), np.ones(100, int)]
    good = y + rng.normal(0, 0.5, 200)
    bad = y + rng.normal(0, 2.0, 200)
    d = paired_auc_difference(y, good, bad, 500, 0)
    assert d["difference"] > 0 and d["ci95"][0] > 0 and d["p_model_not_better"] < 0.05
    same = paired_auc_difference(y, good, good, 200, 0)
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]


def test_default_model_keeps_the_training_seed_with_the_lowest_validation_loss(tmp_path, monkeypatch):
    import argparse
    import json

    from dentalosteo_gui.ml import bundle_models as bm

    losses = {1: [0.6, 0.45, 0.5], 2: [0.55, 0.41, 0.43], 3: [0.7, None, 0.44]}

    def fake_train_one(arch, items, split, epochs, seed, out, *a, **k):
        out.mkdir(parents=True)
        card = {"name": "default", "training": {"history": [{"val_loss": v} for v in losses[seed]]},
                "metrics": {"held_out": {"auc": 0.8 + seed / 100}}}
        (out / "card.json").write_text(json.dumps(card))
        (out / "model.keras").write_bytes(bytes([seed]))
        return card

    monkeypatch.setattr(bm, "train_one", fake_train_one)
    args = argparse.Namespace(train_seeds="1,2,3", default_arch="compact-band", epochs=1, n=10, seed=0,
                              lr=1e-3, mcw_head=True)
    card = bm.train_default(args, [], (None, None, None), tmp_path, tmp_path, None)
    sel = card["training"]["seed_selection"]
    assert sel["chosen"] == 2 and sel["seeds"]["3"]["best_val_loss"] == 0.44
    assert (tmp_path / "default" / "model.keras").read_bytes() == bytes([2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default"]
    assert json.loads((tmp_path / "default" / "card.json").read_text())["training"]["seed_selection"] == sel
    # the card was rewritten after the pack was saved: its manifest must follow, or the app
    # refuses the freshly trained pack as tampered with ("card.json: was modified")
    from dentalosteo_gui.ml.packs import verify_manifest

    verify_manifest(tmp_path / "default")


def test_mixed_style_alternates_v1_and_v2_per_phantom():
    from dentalosteo_gui.ml import bundle_models as bm

    assert [bm.item_style(bm.MIXED_STYLE, i) for i in range(4)] == ["v1", "v2", "v1", "v2"]
    assert {bm.item_style("v1", i) for i in range(5)} == {"v1"} and bm.item_style("v2", 3) == "v2"
    # its own cache: never mixed up with a v1-only or v2-only phantom set
    assert len({bm._generator_key(s) for s in ("v1", "v2", bm.MIXED_STYLE)}) == 3
