"""Synthetic phantoms: determinism, ground-truth geometry, label coupling, samples, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from dentalosteo_gui.cli.main import main as cli_main
from dentalosteo_gui.core.data import phantom_texture as ptx
from dentalosteo_gui.core.data.dataset import read_dataset
from dentalosteo_gui.core.data.phantoms import (
    DEFAULT_STYLE,
    LEE_RESIZED,
    LEE_ROI,
    MCW_RANGE,
    STYLES,
    PhantomCase,
    draw_clinical,
    generate_phantom,
    generator_fingerprint,
    make_montage,
    phantom_seed,
    write_dataset,
    write_samples,
)
from dentalosteo_gui.core.errors import ConfigError
from dentalosteo_gui.core.imaging.imageio import load_radiograph
from dentalosteo_gui.core.system import paths
from dentalosteo_gui.core.types import KLEMETTI_CLASSES, LANDMARK_NAMES

SMALL = 0.25  # quarter-size phantoms keep the tests fast; anatomy in mm is unchanged


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / (len(pos) * len(neg)))


def _profile_at(img: np.ndarray, p: np.ndarray, n: np.ndarray, ts: np.ndarray) -> np.ndarray:
    pts = p[None, :] + ts[:, None] * n[None, :]
    xs = np.clip(np.round(pts[:, 0]).astype(int), 0, img.shape[1] - 1)
    ys = np.clip(np.round(pts[:, 1]).astype(int), 0, img.shape[0] - 1)
    return img[ys, xs].astype(np.float64)


def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    a = generate_phantom(7, size_scale=SMALL)
    b = generate_phantom(7, size_scale=SMALL)
    c = generate_phantom(8, size_scale=SMALL)
    assert a.image.dtype == b.image.dtype and a.image.shape == b.image.shape
    assert hashlib.sha256(a.image.tobytes()).digest() == hashlib.sha256(b.image.tobytes()).digest()
    assert a.truth == b.truth
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)


def _check_truth_geometry(case: PhantomCase) -> None:
    """Truth consistent with itself and the image frame: ROI, landmarks, sides, borders,
    endosteal margins, and the cortex width at the foramen equal to the truth MCW."""
    img, tr = case.image, case.truth
    h, w = img.shape
    assert 2400 <= w <= 3200 and 1050 <= h <= 1450
    assert 0.075 <= tr.pixel_spacing_mm <= 0.14
    assert tr.label == int(tr.t_score < -2.5)
    # ROI: the Lee box size scaled to this image, inside it, below the teeth
    assert tr.roi.w == pytest.approx(LEE_ROI[0] * w / LEE_RESIZED[0], abs=2)
    assert tr.roi.h == pytest.approx(LEE_ROI[1] * h / LEE_RESIZED[1], abs=2)
    assert tr.roi.x >= 0 and tr.roi.y >= 0 and tr.roi.x + tr.roi.w <= w and tr.roi.y + tr.roi.h <= h
    assert set(tr.landmarks) == set(LANDMARK_NAMES)
    for x, y in tr.landmarks.values():
        assert 0 <= x < w and 0 <= y < h
    # patient's right is image-left
    assert tr.landmarks["right_condyle"][0] < w / 2 < tr.landmarks["left_condyle"][0]
    assert tr.mental_foramen_right[0] < w / 2 < tr.mental_foramen_left[0]
    assert max(x for x, _ in tr.border_right) <= min(x for x, _ in tr.border_left) + 10
    for side in ("right", "left"):
        border = np.asarray(getattr(tr, f"border_{side}"))
        endo = np.asarray(getattr(tr, f"endosteal_{side}"))
        assert border.shape == endo.shape and len(border) > 50
        steps = np.hypot(*np.diff(border, axis=0).T)
        assert 3.0 <= np.median(steps) <= 7.0
        assert np.all(np.diff(border[:, 0]) > 0)  # ordered image-left to image-right
        assert np.all(endo[:, 1] < border[:, 1])  # endosteal margin is above the border
        # cortex width at the foramen column equals the ground-truth MCW
        mf = np.asarray(getattr(tr, f"mental_foramen_{side}"))
        i = int(np.argmin(np.abs(border[:, 0] - mf[0])))
        width_mm = float(np.hypot(*(endo[i] - border[i]))) * tr.pixel_spacing_mm
        assert width_mm == pytest.approx(getattr(tr, f"mcw_{side}_mm"), rel=0.03)
        assert mf[1] < endo[i, 1]  # foramen sits above the cortex
        # the ROI covers the cortex at the foramen
        assert tr.roi.x <= mf[0] <= tr.roi.x + tr.roi.w
        assert tr.roi.y <= endo[i, 1] and border[i, 1] <= tr.roi.y + tr.roi.h + 2


def _zone_means(case: PhantomCase, side: str) -> tuple[float, float, float]:
    """Mean intensity outside the border, in the cortex and beyond the endosteal margin,
    along the normal at the foramen (depths relative to the truth MCW)."""
    img, tr = case.image, case.truth
    border = np.asarray(getattr(tr, f"border_{side}"))
    endo = np.asarray(getattr(tr, f"endosteal_{side}"))
    mf = np.asarray(getattr(tr, f"mental_foramen_{side}"))
    i = int(np.argmin(np.abs(border[:, 0] - mf[0])))
    n = (endo[i] - border[i]) / np.hypot(*(endo[i] - border[i]))
    wpx = getattr(tr, f"mcw_{side}_mm") / tr.pixel_spacing_mm
    outside = _profile_at(img, border[i], n, -np.linspace(0.6, 1.2, 7) * wpx).mean()
    cortex = _profile_at(img, border[i], n, np.linspace(0.25, 0.75, 7) * wpx).mean()
    trab = _profile_at(img, border[i], n, np.linspace(1.4, 2.2, 9) * wpx).mean()
    return float(outside), float(cortex), float(trab)


def test_full_size_geometry_and_truth_consistency() -> None:
    case = generate_phantom(3, klemetti="C1", bit_depth=8, noise=0.0)
    assert case.image.dtype == np.uint8 and case.truth.klemetti == "C1"
    _check_truth_geometry(case)
    # the image agrees: bright band inside the border, dark soft tissue outside,
    # trabecular bone darker than the cortex beyond the endosteal margin
    for side in ("right", "left"):
        outside, cortex, trab = _zone_means(case, side)
        assert cortex > outside + 40, (side, cortex, outside)
        assert cortex > trab + 12, (side, cortex, trab)


def test_overrides_and_bit_depth() -> None:
    c = generate_phantom(1, klemetti="C3", t_score=-3.1, bit_depth=16, size_scale=SMALL,
                         mcw_right_mm=2.0, mcw_left_mm=2.5)
    assert c.image.dtype == np.uint16 and c.image.max() > 4095
    assert c.truth.klemetti == "C3" and c.truth.t_score == -3.1 and c.truth.label == 1
    assert (c.truth.mcw_right_mm, c.truth.mcw_left_mm) == (2.0, 2.5)
    assert c.truth.bit_depth == 16
    with pytest.raises(ConfigError):
        generate_phantom(1, klemetti="C4")
    with pytest.raises(ConfigError):
        generate_phantom(1, bogus=1)
    with pytest.raises(ConfigError):
        generate_phantom(1, bit_depth=12)


def test_label_model_coupling_large_sample() -> None:
    rng = np.random.default_rng(123)
    draws = [draw_clinical(rng) for _ in range(20000)]
    t = np.array([d[0] for d in draws])
    kl = np.array([d[1] for d in draws])
    mcw = np.array([(d[2] + d[3]) / 2 for d in draws])
    y = (t < -2.5).astype(int)
    assert 0.25 < y.mean() < 0.5
    auc = _auc(-mcw[:4000], y[:4000])
    assert 0.85 <= auc <= 0.93  # overlap: a perfect MCW reader is not perfect
    assert MCW_RANGE[0] <= mcw.min() and mcw.max() <= MCW_RANGE[1]
    assert 2.0 <= np.percentile(mcw, 5) and np.percentile(mcw, 95) <= 5.5
    assert mcw[y == 1].mean() < mcw[y == 0].mean() - 0.6
    c3_op = np.mean(kl[y == 1] == "C3")
    c3_norm = np.mean(kl[y == 0] == "C3")
    c1_op = np.mean(kl[y == 1] == "C1")
    assert c3_op > 0.4 > c3_norm and c1_op < 0.15
    assert set(kl) == set(KLEMETTI_CLASSES)


def test_label_coupling_in_generated_phantoms() -> None:
    truths = [generate_phantom(phantom_seed(5, i), size_scale=0.12).truth for i in range(60)]
    y = np.array([tr.label for tr in truths])
    mcw = np.array([tr.mcw_mean_mm for tr in truths])
    assert 5 <= y.sum() <= 40
    assert all(tr.label == int(tr.t_score < -2.5) for tr in truths)
    assert 0.7 <= _auc(-mcw, y) < 1.0
    bits = [tr.bit_depth for tr in truths]
    assert 3 <= bits.count(16) <= 30


def test_klemetti_class_changes_the_endosteal_margin() -> None:
    """C3 phantoms have a rougher endosteal margin than C1 at identical anatomy."""
    def roughness(kl: str) -> float:
        c = generate_phantom(21, klemetti=kl, t_score=-2.0, mcw_right_mm=3.5, mcw_left_mm=3.5,
                             size_scale=0.5, noise=0.0, bit_depth=8)
        img = c.image.astype(np.float64)
        border = np.asarray(c.truth.border_right)
        endo = np.asarray(c.truth.endosteal_right)
        vals = []
        for i in range(len(border) // 3, len(border) - 5, 2):
            n = endo[i] - border[i]
            n /= np.hypot(*n)
            w = np.hypot(*(endo[i] - border[i]))
            vals.append(_profile_at(img, border[i], n, np.array([0.75 * w]))[0])
        return float(np.std(np.diff(vals)))

    assert roughness("C3") > 1.5 * roughness("C1")


def test_write_dataset_and_montage(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    labels = write_dataset(tmp_path / "ds", 4, 9, progress=lambda d, t: calls.append((d, t)),
                           size_scale=0.15)
    assert labels == tmp_path / "ds" / "labels.csv"
    assert calls[-1] == (4, 4) and len(calls) == 4
    rows = read_dataset(tmp_path / "ds")
    assert [r.file.name for r in rows] == [f"phantom_{i:05d}.png" for i in range(4)]
    for r in rows:
        assert r.file.parent.name == "images"
        assert r.roi is not None and r.landmarks is not None and r.klemetti in KLEMETTI_CLASSES
        im = cv2.imread(str(r.file), cv2.IMREAD_UNCHANGED)
        ref = generate_phantom(phantom_seed(9, r.row_number - 2), size_scale=0.15, style=DEFAULT_STYLE)
        assert np.array_equal(im, ref.image)  # the PNG holds exactly the generated pixels
        assert r.mcw_left_mm == pytest.approx(ref.truth.mcw_left_mm, abs=1e-3)
    out = make_montage(tmp_path / "ds", tmp_path / "m.png", n=3)
    m = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert m is not None and m.shape[0] >= 3 * 300


def test_montage_beside_real_images(tmp_path: Path, shared_dir: Path) -> None:
    real = shared_dir / "realdata" / "abdi_dev" / "images"
    if not real.is_dir():
        pytest.skip("abdi_dev images absent")
    write_dataset(tmp_path / "ds", 2, 1, size_scale=0.15)
    out = make_montage(tmp_path / "ds", tmp_path / "m.png", real_dir=real, n=2)
    m = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert m.shape[1] == 1800  # phantoms beside real images


def test_shipped_samples_load_and_match_their_truth() -> None:
    sdir = paths.samples_dir()
    assert paths.sample_image().is_file()
    for stem in ("phantom_c1", "phantom_c2", "phantom_c3"):
        p = sdir / f"{stem}.png"
        assert p.stat().st_size < 1_500_000
        rad = load_radiograph(p)
        assert rad.width >= 1200 and rad.height >= 500
    rows = read_dataset(sdir)
    assert [(r.file.name, r.klemetti) for r in rows] == [
        ("phantom_c1.png", "C1"), ("phantom_c2.png", "C2"), ("phantom_c3.png", "C3")]
    assert [r.label for r in rows] == [0, 0, 1]
    dcm = load_radiograph(sdir / "phantom_c2.dcm")
    assert dcm.format == "DICOM" and dcm.modality == "PX" and dcm.photometric == "MONOCHROME2"
    assert dcm.patient.name == "DEMO^PATIENT" and dcm.patient.patient_id == "DEMO-0001"
    c2 = next(r for r in rows if r.klemetti == "C2")
    assert dcm.pixel_spacing_mm == pytest.approx(c2.pixel_spacing_mm, rel=1e-4)
    png = load_radiograph(sdir / "phantom_c2.png")
    assert dcm.pixels.shape == png.pixels.shape
    assert np.abs(dcm.pixels - png.pixels).mean() < 0.01
    assert (sdir / "phantom_c2.dcm").stat().st_size < 1_500_000
    all_rows = read_dataset(sdir / "samples.csv")
    assert [r.file.name for r in all_rows][-1] == "phantom_c2.dcm"


def test_shipped_samples_are_reproducible(tmp_path: Path) -> None:
    """write_samples regenerates the shipped files (pixels within rounding, same truth).

    Bytes are not compared: zlib and SIMD blur rounding may differ between machines.
    """
    write_samples(tmp_path)
    sdir = paths.samples_dir()
    for name in ("phantom_c1.png", "phantom_c2.png", "phantom_c3.png", "phantom_c2.dcm"):
        new = load_radiograph(tmp_path / name)
        old = load_radiograph(sdir / name)
        assert new.pixels.shape == old.pixels.shape, name
        diff = np.abs(new.pixels - old.pixels)
        assert float(diff.mean()) < 0.002 and float(np.percentile(diff, 99.9)) < 0.02, name
        assert new.pixel_spacing_mm == old.pixel_spacing_mm
        assert new.patient.as_dict() == old.patient.as_dict()
    for csv_name in ("labels.csv", "samples.csv"):
        a_rows, b_rows = read_dataset(tmp_path / csv_name), read_dataset(sdir / csv_name)
        assert [(r.file.name, r.label, r.klemetti, r.t_score, r.mcw_left_mm, r.mcw_right_mm, r.roi)
                for r in a_rows] == [
            (r.file.name, r.label, r.klemetti, r.t_score, r.mcw_left_mm, r.mcw_right_mm, r.roi)
            for r in b_rows]


def test_cli_phantoms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["phantoms", "--out", str(tmp_path / "ds"), "--n", "2", "--seed", "4",
                   "--size-scale", "0.12", "--montage", str(tmp_path / "m.png")])
    assert rc == 0
    out, err = capsys.readouterr()
    assert "phantoms 2/2" in err and "labels.csv" in out
    assert len(read_dataset(tmp_path / "ds")) == 2 and (tmp_path / "m.png").is_file()
    assert cli_main(["phantoms", "--out", str(tmp_path / "x"), "--n", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert cli_main(["phantoms", "--n", "2"]) == 2


# ----------------------------------------------------------------------------- style v2


def test_styles_and_their_defaults() -> None:
    assert STYLES == ("v1", "v2") and DEFAULT_STYLE == "v2"
    with pytest.raises(ConfigError, match="style"):
        generate_phantom(1, style="v3", size_scale=SMALL)
    a = generate_phantom(7, size_scale=SMALL)  # generate_phantom itself keeps v1 by default
    b = generate_phantom(7, size_scale=SMALL, style="v1")
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    assert len(generator_fingerprint()) == 16


def test_v2_is_deterministic_keeps_the_label_model_and_differs_from_v1() -> None:
    a = generate_phantom(7, size_scale=SMALL, style="v2")
    b = generate_phantom(7, size_scale=SMALL, style="v2")
    v1 = generate_phantom(7, size_scale=SMALL)
    assert np.array_equal(a.image, b.image) and a.truth == b.truth
    assert a.image.shape == v1.image.shape and not np.array_equal(a.image, v1.image)
    # the clinical state is drawn first, from the same generator: identical in both styles
    for k in ("t_score", "label", "klemetti", "mcw_right_mm", "mcw_left_mm", "pixel_spacing_mm", "bit_depth"):
        assert getattr(a.truth, k) == getattr(v1.truth, k), k
    assert a.truth.extras["style"] == "v2" and "style" not in v1.truth.extras


@pytest.mark.parametrize("seed,kl", [(3, "C1"), (12, "C3")])
def test_v2_truth_geometry_is_exact_and_the_image_agrees(seed: int, kl: str) -> None:
    case = generate_phantom(seed, klemetti=kl, bit_depth=8, noise=0.0, style="v2")
    _check_truth_geometry(case)
    for side in ("right", "left"):
        outside, cortex, _ = _zone_means(case, side)
        assert cortex > outside + 10, (side, cortex, outside)  # bone above soft tissue


def test_v2_cortex_is_less_conspicuous_than_v1() -> None:
    """Issue 16: the v1 cortex stands far above the trabecular bone, real ones barely do."""
    def contrast(style: str) -> float:
        vals = []
        for seed in (3, 4, 5):
            case = generate_phantom(seed, klemetti="C1", bit_depth=8, noise=0.0, style=style)
            for side in ("right", "left"):
                _, cortex, trab = _zone_means(case, side)
                vals.append(cortex - trab)
        return float(np.median(vals))

    assert contrast("v2") < 0.6 * contrast("v1")


def test_v2_dentition_states_and_landmarks() -> None:
    truths = [generate_phantom(phantom_seed(3, i), size_scale=0.12, style="v2").truth for i in range(40)]
    missing = [tr.extras["missing_p"] for tr in truths]
    assert any(m == 1.0 for m in missing) and any(m < 0.2 for m in missing)  # edentulous and dentate
    for tr in truths:
        cx = 0.5 * (tr.border_right[-1][0] + tr.border_left[0][0])
        for side, sign in (("right", -1), ("left", 1)):
            x = tr.landmarks[f"{side}_maxillary_tuberosity"][0]
            assert (x - cx) * sign > 0.15 * (tr.roi.w / LEE_ROI[0] * LEE_RESIZED[0]), (side, tr.extras)


def test_texture_building_blocks() -> None:
    rng = np.random.default_rng(0)
    n = ptx.spectral_noise(rng, (128, 256), 0.1, 0.3)
    assert abs(float(n.std()) - 1.0) < 1e-3 and abs(float(n.mean())) < 1e-3
    power = np.abs(np.fft.rfft2(n)) ** 2
    f = np.hypot(np.fft.fftfreq(128)[:, None], np.fft.rfftfreq(256)[None, :])
    assert 0.07 < float((power * f).sum() / power.sum()) < 0.13  # the ring sits at 0.1 cycles/px
    trab = ptx.trabecular_network(rng, (300, 700), 0.1, 0.6)
    assert trab.shape == (300, 700) and abs(float(trab.mean())) < 0.02 and 0.25 < float(trab.std()) < 0.35
    skew = float(((trab - trab.mean()) ** 3).mean() / trab.std() ** 3)
    assert skew > 0.2  # bright trabeculae over a marrow floor
    ramp = ptx.projection_ramp(np.linspace(0, 40, 41, dtype=np.float32)[None, :], 20.0)
    assert ramp[0, 0] == 0.0 and ramp[0, 20] == pytest.approx(1.0) and np.all(np.diff(ramp[0]) >= 0)
    acq = ptx.draw_acquisition(rng, 1.0, 0.1)
    img = ptx.acquire(rng, np.full((64, 64), 0.5, np.float32), acq)
    assert img.min() >= 0.0 and img.max() <= 1.0 and img.std() > 0.0


def test_cli_phantoms_style(tmp_path: Path) -> None:
    assert cli_main(["phantoms", "--out", str(tmp_path / "v1"), "--n", "1", "--seed", "4",
                     "--size-scale", "0.12", "--style", "v1"]) == 0
    im = cv2.imread(str(tmp_path / "v1" / "images" / "phantom_00000.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(im, generate_phantom(phantom_seed(4, 0), size_scale=0.12, style="v1").image)
