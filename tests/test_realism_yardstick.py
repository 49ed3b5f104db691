"""bench/realism_yardstick.py: the discriminator's figure for real images seen through
another acquisition chain (issue 16's scale for ``discriminator_auc``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dentalosteo_gui.core.data.phantoms import write_dataset

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import realism_yardstick as ry  # noqa: E402


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    im = rng.integers(0, 256, (64, 96)).astype(np.float32) / 255.0  # an 8-bit image
    return im


@pytest.mark.parametrize("name", list(ry.CHAINS))
def test_chains_are_seeded_8_bit_and_in_range(name: str) -> None:
    im = _image()
    a = ry.CHAINS[name](im, np.random.default_rng(3))
    b = ry.CHAINS[name](im, np.random.default_rng(3))
    assert a.dtype == np.float32 and a.shape == im.shape
    assert np.array_equal(a, b)  # the same generator: the same image
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.allclose(a * 255.0, np.round(a * 255.0), atol=1e-3)  # quantised to 8 bits
    assert not np.shares_memory(a, im)


def test_same_device_keeps_an_8_bit_image_and_the_others_change_it() -> None:
    im = _image(1)
    assert np.array_equal(ry.same_device(im, np.random.default_rng(0)), im)
    for name in ("detector_blur", "lut_and_edge_enhancement", "quantum_noise", "other_unit"):
        out = ry.CHAINS[name](im, np.random.default_rng(0))
        assert np.abs(out - im).mean() > 0.1 / 255.0, name  # quantum noise: a fraction of a level


def test_detector_blur_takes_away_fine_detail() -> None:
    im = _image(2)
    out = ry.detector_blur(im, np.random.default_rng(0))
    hp = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert hp(out) < 0.6 * hp(im)


def test_halves_partition_the_images() -> None:
    a, b = ry.halves(29, np.random.default_rng(0))
    assert len(a) == 15 and len(b) == 14
    assert sorted(np.r_[a, b].tolist()) == list(range(29))
    a2, _ = ry.halves(29, np.random.default_rng(1))
    assert a.tolist() != a2.tolist()


def test_too_few_images_is_a_clear_stop(tmp_path: Path) -> None:
    (tmp_path / "few").mkdir()
    with pytest.raises(SystemExit, match="at least 8"):
        ry.run(tmp_path / "few")
    with pytest.raises(SystemExit):
        ry.main(["--real", str(tmp_path / "nope")])
    with pytest.raises(SystemExit):
        ry.main(["--real", str(tmp_path / "few"), "--chains", "same_device,bogus"])


@pytest.mark.slow
def test_yardstick_end_to_end_on_phantoms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Phantoms standing in for real images: one JSON object; the same images through a
    softer detector are told apart better than two halves of the untouched set."""
    write_dataset(tmp_path / "set", 10, 7, style="v2", size_scale=0.4)
    rc = ry.main(["--real", str(tmp_path / "set"), "--splits", "1", "--repeats", "1",
                  "--chains", "same_device,other_unit", "--out", str(tmp_path / "y.json")])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((tmp_path / "y.json").read_text())
    assert report["n_images"] == 10 and report["halves"] == [5, 5]
    assert set(report["chains"]) == {"same_device", "other_unit"}
    for v in report["chains"].values():
        assert 0.0 <= v["discriminator_auc"] <= 1.0
        assert 0.0 <= v["discriminator_auc_without_device_noise"] <= 1.0
    assert report["chains"]["other_unit"]["discriminator_auc"] > report["chains"]["same_device"]["discriminator_auc"]
