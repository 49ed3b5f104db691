"""Golden screening numbers: the spine refactor (issue 14) must not move any number.

``tests/data/golden_screening.json`` was captured with the code before the refactor (risk,
MCW, Klemetti, box, landmarks). Real-image entries skip when ../shared is absent. A change
that is meant to move numbers re-captures the file and says why in its commit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from dentalosteo_gui.core.imaging.imageio import load_radiograph

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "realdata"
GOLDEN = json.loads((ROOT / "tests" / "data" / "golden_screening.json").read_text())


def _path(rel: str) -> Path:
    return ROOT / "resources" / rel if rel.startswith("samples/") else SHARED / rel


def _close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.ml
@pytest.mark.parametrize("case", GOLDEN, ids=[f"{c['file']}-{c['mode']}" for c in GOLDEN])
def test_screening_numbers_unchanged(case: dict[str, Any]) -> None:
    from dentalosteo_gui.services import make_engine

    p = _path(case["file"])
    if not p.exists():
        pytest.skip(f"{p} absent (development data is not shipped)")
    res = make_engine().screen(load_radiograph(p), mode=case["mode"]).as_json_dict()
    got = {k: res[k] for k in case["result"]}
    got["klemetti"] = {k: v for k, v in got["klemetti"].items() if k != "evidence"}
    _close(case["result"], got, case["file"])
