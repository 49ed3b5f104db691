"""Issue 15: the same radiograph re-encoded (flipped, resampled, re-windowed, JPEG, padded,
16 bit) gives the same reading. Real images: the first six scored abdi_dev images (skipped
when ../shared is absent); padding is also checked on a phantom (always runs).

Development figures: these images were used to develop the method (docs/anatomy.md).
"""

from __future__ import annotations

import csv
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import measure_cortex, propose_landmarks, propose_roi
from dentalosteo_gui.core.anatomy.frame import black_floor
from dentalosteo_gui.core.data.phantoms import generate_phantom
from dentalosteo_gui.core.imaging.imageio import from_array, load_radiograph
from dentalosteo_gui.core.types import Radiograph, Spacing

ROOT = Path(__file__).resolve().parents[1]
ABDI = ROOT.parent / "shared" / "realdata" / "abdi_dev"
N_IMAGES = 6


def _bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_invariance", ROOT / "bench" / "invariance.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


IV = _bench()


def _anatomy_screen(rad: Radiograph, sp: float) -> Any:
    """The anatomy part of a screening (no model): what bench/invariance.py compares."""
    p = propose_roi(rad)
    c = measure_cortex(rad, p, Spacing(sp, "user"))
    return types.SimpleNamespace(mcw_right_mm=c.right.mcw_mm, mcw_left_mm=c.left.mcw_mm,
                                 klemetti_class=None, klemetti_rule=c.klemetti_rule,
                                 klemetti_evidence=c.evidence, risk=None, assessable=True, roi=p.box)


@pytest.fixture(scope="module")
def abdi_files() -> list[Path]:
    if not (ABDI / "image_index.csv").is_file():
        pytest.skip(f"{ABDI} absent (development data is not shipped)")
    rows = sorted(csv.DictReader(open(ABDI / "image_index.csv")), key=lambda r: int(r["id"]))
    return [ABDI / "images" / f"{r['id']}.png" for r in rows if r["qc_flag"] != "CHECK"][:N_IMAGES]


@pytest.fixture(scope="module")
def anatomy_summary(abdi_files: list[Path]) -> dict[str, Any]:
    return IV.run_invariance(abdi_files, _anatomy_screen, IV.VARIANTS)  # type: ignore[no-any-return]


@pytest.mark.realdata
@pytest.mark.parametrize("variant", IV.VARIANTS)
def test_mcw_same_on_reencoded_real_images(anatomy_summary: dict[str, Any], variant: str) -> None:
    s = anatomy_summary["per_variant"][variant]
    assert s["mcw_abs_diff_median_mm"] is not None
    assert s["mcw_abs_diff_median_mm"] <= 0.15, s
    assert s["mcw_abs_diff_p90_mm"] <= 0.5, s
    assert s["mcw_missing_rate"] <= 0.25, s
    assert s["box_shift_median_mm"] <= 1.0, s


@pytest.mark.realdata
def test_rule_rarely_abstains_and_holds(anatomy_summary: dict[str, Any]) -> None:
    assert anatomy_summary["base"]["rule_abstain_rate"] <= 0.2, anatomy_summary["base"]
    assert anatomy_summary["overall"]["rule_abstain_rate"] <= 0.2, anatomy_summary["overall"]
    assert anatomy_summary["overall"]["rule_same"] >= 0.75, anatomy_summary["overall"]


@pytest.mark.realdata
@pytest.mark.ml
def test_full_reading_same_on_reencoded_real_images(abdi_files: list[Path]) -> None:
    out = IV.run_invariance(abdi_files[:3], IV.engine_screen(), IV.VARIANTS)
    o = out["overall"]
    assert o["risk_abs_diff_median"] is not None and o["risk_abs_diff_median"] <= 0.05, o
    assert o["klemetti_same"] >= 0.85, o
    assert o["mcw_abs_diff_median_mm"] <= 0.15, o
    assert out["per_variant"]["pad"]["risk_abs_diff_p90"] <= 0.01, out["per_variant"]["pad"]


def _pad(px: np.ndarray, m: int) -> np.ndarray:
    return cv2.copyMakeBorder(px, m, m, m, m, cv2.BORDER_CONSTANT, value=0.0)


def _padding_keeps_anatomy(rad: Radiograph, sp: float) -> None:
    m = int(0.06 * rad.width)
    padded = from_array(_pad(rad.pixels, m))
    a, b = propose_roi(rad), propose_roi(padded)
    assert (b.box.x - m, b.box.y - m, b.box.w, b.box.h) == (a.box.x, a.box.y, a.box.w, a.box.h)
    assert b.midline_x is not None and a.midline_x is not None
    assert abs(b.midline_x - m - a.midline_x) < 1e-6
    for pa, pb in ((a.border_right, b.border_right), (a.border_left, b.border_left)):
        assert np.allclose(np.asarray(pb) - m, np.asarray(pa))
    ca, cb = measure_cortex(rad, a, Spacing(sp, "user")), measure_cortex(padded, b, Spacing(sp, "user"))
    assert (cb.right.mcw_mm, cb.left.mcw_mm) == pytest.approx((ca.right.mcw_mm, ca.left.mcw_mm), abs=1e-3)
    la, lb = propose_landmarks(rad, a), propose_landmarks(padded, b)
    for k, (x, y) in la.items():
        assert lb[k] == pytest.approx((x + m, y + m), abs=1e-6)


def test_padding_keeps_box_on_the_anatomy_phantom() -> None:
    case = generate_phantom(7, klemetti="C1", size_scale=0.5)
    _padding_keeps_anatomy(from_array(case.image), case.truth.pixel_spacing_mm)


@pytest.mark.realdata
def test_padding_keeps_box_on_the_anatomy_real(abdi_files: list[Path]) -> None:
    _padding_keeps_anatomy(load_radiograph(abdi_files[0]), 0.1)


def test_device_stresses_are_what_the_bench_says(tmp_path: Path) -> None:
    """The opt-in device stresses: coarser pixels with the spacing doubled, unsharp masking
    (edges overshoot), noise (the image changes, its mean does not) and a squeezed range."""
    ramp = np.tile(np.r_[np.full(80, 0.2), np.full(80, 0.8)].astype(np.float32), (140, 1))
    rad = from_array(ramp)
    out = IV.make_variants(rad, 0.1, tmp_path, IV.DEVICE_STRESSES)
    assert set(out) == set(IV.DEVICE_STRESSES)
    half = out["halfres"]
    assert half.rad.pixels.shape == (70, 80) and half.spacing_mm == pytest.approx(0.2) and half.scale == 0.5
    sharp = out["unsharp"].rad.pixels
    assert sharp[:, 81].mean() > 0.8 + 0.02 and sharp[:, 78].mean() < 0.2 - 0.02  # overshoot at the step
    noisy = out["noise"].rad.pixels
    assert abs(float(noisy.mean()) - float(ramp.mean())) < 0.01 and float(np.abs(noisy - ramp).mean()) > 0.003
    flat = out["lowcontrast"].rad.pixels
    assert flat.min() == pytest.approx(0.35) and flat.max() == pytest.approx(0.65)
    with pytest.raises(ValueError, match="unknown variant"):
        IV.make_variants(rad, 0.1, tmp_path, ["blur"])


@pytest.fixture(scope="module")
def all_abdi_files() -> list[Path]:
    if not (ABDI / "image_index.csv").is_file():
        pytest.skip(f"{ABDI} absent (development data is not shipped)")
    return IV.list_images([ABDI / "images"])  # type: ignore[no-any-return]


@pytest.mark.realdata
def test_mcw_holds_under_sensor_noise_and_unsharp_masking(all_abdi_files: list[Path]) -> None:
    """Device stresses on all 29 abdi_dev images (development figures): the endosteal path
    used to follow the clearest scale, so noise (2 % white, then blurred: about 1 %; it dims
    the finest scale) or a device's
    unsharp masking (lifting the coarsest) switched a few sides between two candidate inner
    margins, by 2-5 mm (p90 0.78 and 0.88 mm). Following the fall averaged over the scales:
    0.35 and 0.48 mm."""
    out = IV.run_invariance(all_abdi_files, _anatomy_screen, ("noise", "unsharp"))
    noise, sharp = out["per_variant"]["noise"], out["per_variant"]["unsharp"]
    assert noise["mcw_abs_diff_median_mm"] <= 0.15 and noise["mcw_abs_diff_p90_mm"] <= 0.5, noise
    assert sharp["mcw_abs_diff_median_mm"] <= 0.15 and sharp["mcw_abs_diff_p90_mm"] <= 0.6, sharp


def test_black_floor_is_the_flat_darkest_level_only() -> None:
    rng = np.random.default_rng(0)
    tissue = rng.uniform(0.3, 0.9, (200, 300)).astype(np.float32)
    assert black_floor(tissue) == 0.0  # no flat black region: absolute levels
    raised = tissue.copy()
    raised[:20] = 0.2  # a collimator band at a raised black level (pedestal)
    assert black_floor(raised) == pytest.approx(0.2)
    zero = tissue.copy()
    zero[:20] = 0.0
    assert black_floor(zero) == 0.0


@pytest.mark.parametrize("style", ["v1", "v2"])
def test_padding_on_a_device_with_a_raised_black_level(style: str) -> None:
    """A device whose black sits at 0.2 (pedestal, offset LUT), padded with its own black: the
    box stays on the anatomy (it used to take the margin for tissue and grow by 10 %)."""
    case = generate_phantom(1, style=style)
    px = case.image.astype(np.float32)
    px = px / (65535.0 if px.max() > 255 else 255.0) if px.max() > 1.5 else px
    m = int(0.05 * px.shape[1])
    pedestal = (0.2 + 0.8 * _pad(px, m)).astype(np.float32)
    a, b = propose_roi(from_array(px)), propose_roi(from_array(pedestal))
    assert abs(b.box.x - m - a.box.x) <= 3 and abs(b.box.y - m - a.box.y) <= 3, (a.box, b.box)
    assert abs(b.box.w - a.box.w) <= 3 and abs(b.box.h - a.box.h) <= 3, (a.box, b.box)
