"""The condylar head fit (``landmarks._condyle_head``) on synthetic images: a bright rounded
head under a bright glenoid fossa with a dark joint space between is found; without a head
the fit declines and the fixed-proportion rule point stays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dentalosteo_gui.core.anatomy import landmarks as lm
from dentalosteo_gui.core.imaging.imageio import from_array

W, H = 1600, 700
BONE, SOFT = 0.7, 0.25


def _ramus(img: np.ndarray, x_line: float, sign: int, y_top: float) -> None:
    """A vertical band of bone inward of the posterior border ``x_line``, from ``y_top`` down."""
    xa, xb = sorted((x_line, x_line - sign * 0.05 * W))
    img[int(y_top):, int(xa):int(xb)] = BONE


def _finish(img: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    return (img + rng.normal(0.0, 0.02, img.shape)).astype(np.float32)


def _joint(sign: int) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Image, true head centre and a rule point 0.04 h below it (the rule's typical miss)."""
    img = np.full((H, W), SOFT, np.float32)
    x_line = 0.8 * W if sign > 0 else 0.2 * W
    cx, cy = x_line - sign * 0.015 * W, 0.2 * H
    rx = 0.024 * W
    ry = 0.8 * rx
    # glenoid fossa: a bright concave roof over the head, a dark joint space between
    cv2.ellipse(img, (int(cx), int(cy)), (int(rx * 1.7), int(ry * 1.9)), 0, 180, 360, BONE, -1)
    cv2.ellipse(img, (int(cx), int(cy)), (int(rx * 1.25), int(ry * 1.35)), 0, 180, 360, 0.15, -1)
    _ramus(img, x_line, sign, cy)
    cv2.ellipse(img, (int(cx), int(cy)), (int(rx), int(ry)), 0, 0, 360, BONE + 0.05, -1)
    rule = (x_line - sign * lm.CONDYLE_INSET * W, cy + 0.04 * H)
    return _finish(img), (cx, cy), rule


@pytest.mark.parametrize("sign", [-1, 1])
def test_head_under_fossa_is_found(sign: int) -> None:
    img, (cx, cy), rule = _joint(sign)
    got = lm._condyle_head(img, rule, sign)
    assert got is not None
    assert abs(got[0] - cx) <= 8 and abs(got[1] - cy) <= 8, (got, (cx, cy))


@pytest.mark.parametrize("sign", [-1, 1])
def test_no_head_falls_back_to_the_rule(sign: int) -> None:
    # the ramus runs straight up out of the frame: no rounded top, no joint space
    img = np.full((H, W), SOFT, np.float32)
    x_line = 0.8 * W if sign > 0 else 0.2 * W
    _ramus(img, x_line, sign, 0)
    rule = (x_line - sign * lm.CONDYLE_INSET * W, 0.2 * H)
    assert lm._condyle_head(_finish(img), rule, sign) is None
    # flat soft tissue, no bone at all
    flat = _finish(np.full((H, W), SOFT, np.float32))
    assert lm._condyle_head(flat, rule, sign) is None


def test_side_landmarks_keep_the_rule_when_the_fit_declines(monkeypatch: pytest.MonkeyPatch) -> None:
    img = _finish(np.full((H, W), SOFT, np.float32))
    gon, ramus = (0.8 * W, 0.8 * H), (0.0, 0.8 * W)
    rule = lm._condyle(gon, ramus, 1, lm.CONDYLE_DY * H, H, W)
    assert lm._condyle_head(img, rule, 1) is None
    calls: list[tuple[float, float]] = []

    def spy(pix: np.ndarray, r: tuple[float, float], sign: int) -> None:
        calls.append(r)
        return None

    monkeypatch.setattr(lm, "_condyle_head", spy)
    bx = np.array([0.0, W - 1.0])
    by = np.array([0.9 * H, 0.9 * H])
    out = lm._side_landmarks(from_array(img), bx, by, W / 2, 1, gon, ramus, lm.CONDYLE_DY * H, None)
    assert calls == [rule]
    assert out["condyle"] == rule
