"""ROI proposal and border tracing on synthetic phantoms (no shared data needed)."""

from __future__ import annotations

import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import border_arrays, border_from_box, box_size, propose_roi
from dentalosteo_gui.core.data.phantoms import generate_phantom
from dentalosteo_gui.core.imaging.imageio import from_array
from dentalosteo_gui.core.types import RoiBox, Spacing


@pytest.fixture(scope="module")
def phantoms():
    cases = [generate_phantom(s, klemetti=k) for s, k in ((101, "C1"), (102, "C2"), (103, "C3"))]
    return [(from_array(c.image, spacing=c.truth.pixel_spacing_mm), c.truth) for c in cases]


def _truth_border(truth) -> np.ndarray:
    return np.asarray(list(truth.border_right) + list(truth.border_left), dtype=float)


def test_box_has_published_proportions() -> None:
    assert box_size(1200, 630) == (700, 140)
    w, h = box_size(2400, 1260)
    assert (w, h) == (1400, 280)


def test_roi_covers_true_border_and_traces_it(phantoms) -> None:
    for rad, truth in phantoms:
        prop = propose_roi(rad)
        b = prop.box
        assert 0.45 <= b.w / rad.width <= 0.70
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= rad.width and b.y + b.h <= rad.height
        tb = _truth_border(truth)
        inside_cols = (tb[:, 0] >= b.x) & (tb[:, 0] < b.x + b.w)
        cov = np.mean((tb[inside_cols, 1] >= b.y) & (tb[inside_cols, 1] <= b.y + b.h))
        assert cov >= 0.95
        bx, by = border_arrays(prop)
        sel = inside_cols
        err = np.abs(np.interp(tb[sel, 0], bx, by) - tb[sel, 1])
        assert np.median(err) < 3.0, np.median(err)
        assert np.percentile(err, 95) < 8.0
        # centred on the mandible: truth midline between the two half-borders
        mid = 0.5 * (max(p[0] for p in truth.border_right) + min(p[0] for p in truth.border_left))
        assert abs(b.x + b.w / 2 - mid) < 0.03 * rad.width
        assert prop.confidence >= 0.7


def test_sides_are_patient_sides(phantoms) -> None:
    rad, _ = phantoms[0]
    prop = propose_roi(rad)
    xr = [p[0] for p in prop.border_right]
    xl = [p[0] for p in prop.border_left]
    assert xr and xl
    assert max(xr) <= min(xl)  # patient's right = image-left half
    assert np.mean(xr) < rad.width / 2 < np.mean(xl)


def test_border_from_box_keeps_box_and_follows_border(phantoms) -> None:
    rad, truth = phantoms[1]
    prop = propose_roi(rad)
    moved = RoiBox(prop.box.x + 40, prop.box.y - 20, prop.box.w - 80, prop.box.h + 30)
    p2 = border_from_box(rad, moved)
    assert p2.box == moved.clipped(rad.width, rad.height)
    bx, by = border_arrays(p2)
    assert bx.min() >= moved.x - 1 and bx.max() <= moved.x + moved.w + 1
    tb = _truth_border(truth)
    sel = (tb[:, 0] > bx.min()) & (tb[:, 0] < bx.max())
    assert np.median(np.abs(np.interp(tb[sel, 0], bx, by) - tb[sel, 1])) < 3.0


def test_small_and_16bit_phantom() -> None:
    case = generate_phantom(7, size_scale=0.4, bit_depth=16)
    rad = from_array(case.image, spacing=case.truth.pixel_spacing_mm)
    prop = propose_roi(rad)
    tb = _truth_border(case.truth)
    bx, by = border_arrays(prop)
    sel = (tb[:, 0] >= prop.box.x) & (tb[:, 0] < prop.box.x + prop.box.w)
    assert np.median(np.abs(np.interp(tb[sel, 0], bx, by) - tb[sel, 1])) < 2.5


def test_flat_image_gives_low_confidence() -> None:
    rng = np.random.default_rng(0)
    img = (0.4 + 0.01 * rng.standard_normal((600, 1300))).astype(np.float32)
    prop = propose_roi(from_array(img))
    assert prop.confidence < 0.5
    assert prop.reasons


def test_square_image_flagged() -> None:
    case = generate_phantom(3, size_scale=0.3)
    img = case.image[:, : case.image.shape[0]]  # crop to a square
    prop = propose_roi(from_array(img))
    assert any("aspect ratio" in r for r in prop.reasons)


def test_cli_roi_on_phantom(tmp_path, capsys) -> None:
    import json

    import cv2

    from dentalosteo_gui.cli.main import main as cli_main

    case = generate_phantom(5, size_scale=0.5)
    f = tmp_path / "p.png"
    cv2.imwrite(str(f), case.image)
    ov = tmp_path / "out" / "ov.png"
    assert cli_main(["roi", str(f), "--json", "--overlay", str(ov)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["roi"]) == {"x", "y", "w", "h"}
    assert len(d["landmarks"]) == 8 and set(d["border"]) == {"left", "right"}
    assert d["mcw_mm"]["assumed_spacing"] is True  # a PNG carries no spacing
    assert any("assumed" in w for w in d["warnings"])
    assert d["klemetti_rule"] in ("C1", "C2", "C3")
    assert 0.0 <= d["confidence"] <= 1.0
    assert ov.is_file()
    # text output and a given spacing
    assert cli_main(["roi", str(f), "--pixel-spacing", str(case.truth.pixel_spacing_mm)]) == 0
    out = capsys.readouterr().out
    assert "mcw_right_mm" in out and "assumed" not in out.split("mcw_left_mm")[1].split("\n")[0]


def test_cli_roi_bad_input(tmp_path, capsys) -> None:
    from dentalosteo_gui.cli.main import main as cli_main

    assert cli_main(["roi", str(tmp_path / "missing.png")]) == 2
    err = capsys.readouterr().err
    assert "missing.png" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:  # usage error: argparse exits 2 with one line
        cli_main(["roi", str(tmp_path / "x.png"), "--pixel-spacing", "abc"])
    assert exc.value.code == 2
    assert "pixel-spacing" in capsys.readouterr().err


@pytest.mark.parametrize("box", [(1469, 587, 5, 5), (1460, 580, 10, 8), (0, 0, 3, 3), (5000, 5000, 50, 50)])
def test_user_box_in_a_corner_gives_low_confidence_not_a_crash(box) -> None:
    case = generate_phantom(9, size_scale=0.5)
    rad = from_array(case.image)
    prop = border_from_box(rad, RoiBox(*box))
    assert prop.confidence == 0.0 and prop.reasons
    assert not prop.border_right and not prop.border_left
    from dentalosteo_gui.core.anatomy import (
        assess_quality,
        draw_overlay,
        measure_cortex,
        propose_landmarks,
    )

    cx = measure_cortex(rad, prop, Spacing(0.1, "assumed"))
    assert cx.right.mcw_mm is None and cx.klemetti_rule is None
    assert len(propose_landmarks(rad, prop)) == 8
    assert assess_quality(rad, prop)
    assert draw_overlay(rad, prop, None, cx).shape == (rad.height, rad.width, 3)


def test_degenerate_images_do_not_crash() -> None:
    for shape in ((64, 64), (64, 2000), (2000, 64)):
        img = np.random.default_rng(1).random(shape).astype(np.float32)
        prop = propose_roi(from_array(img))
        assert 0.0 <= prop.confidence <= 1.0


def test_moving_the_box_keeps_the_midline_and_the_cortex_band(phantoms) -> None:
    """With the whole-image midline, a box moved sideways splits the sides at the same place,
    and the cortex band along the border barely moves (the engine passes that midline)."""
    from dentalosteo_gui.core.anatomy.band import extract_band

    rad, truth = phantoms[0]
    prop = propose_roi(rad)
    assert prop.midline_x is not None
    b = prop.box
    for dx in (-0.05, 0.05):
        moved = RoiBox(int(round(b.x + dx * b.w)), b.y, b.w, b.h)
        p2 = border_from_box(rad, moved, midline_x=prop.midline_x)
        assert p2.midline_x == pytest.approx(prop.midline_x)
        assert max(x for x, _ in p2.border_right) < prop.midline_x <= min(x for x, _ in p2.border_left)
        sp = truth.pixel_spacing_mm
        a, m = extract_band(rad.pixels, prop, sp), extract_band(rad.pixels, p2, sp)
        n = a.map_x.shape[1] // 2
        # the inner (midline) ends of both sides stay put to within 1 mm
        for col in (n - 1, n):
            assert abs(float(a.map_x[0, col] - m.map_x[0, col])) * sp < 1.0
    # a midline far outside the box is ignored: the box centre is used
    far = border_from_box(rad, b, midline_x=b.x - 500.0)
    assert far.midline_x == pytest.approx(b.x + b.w / 2)


def test_roi_command_shows_what_screen_shows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`dentalosteo roi` applies screen's rule (``quality.reportable_cortex``): no width read
    off an image without a usable border (a noise PNG read 27 / 72 px)."""
    import cv2

    from dentalosteo_gui.cli.roi import analyse

    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(3).integers(0, 256, (1200, 2800), dtype=np.uint8))
    d, _ = analyse(str(noise))
    assert d["mcw_px"] == {"left": None, "right": None} and d["klemetti_rule"] is None
    why = d["klemetti_evidence"]["rule"]["abstain_reason"]
    assert why.startswith("no usable lower border") and "panoramic" not in why, why
