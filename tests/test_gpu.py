"""The ``gpu`` device: without a GPU (or with a CPU-only TensorFlow) it falls back to CPU with
one warning line that says why (runs everywhere); where a GPU is present the screening runs
on it and gives the CPU's numbers (skipped elsewhere, with the reason)."""

from __future__ import annotations

from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")

from dentalosteo_gui.ml import packs  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "samples" / "phantom_c3.png"


def _gpus() -> list:
    try:
        return list(tf.config.list_physical_devices("GPU"))
    except Exception:  # noqa: BLE001
        return []


@pytest.mark.parametrize(("cuda", "says"), [(False, "pip install 'dentalosteo[gpu]'"),
                                            (True, "no GPU is visible")])
def test_gpu_without_a_gpu_falls_back_to_cpu_with_one_warning(
        cuda: bool, says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(tf.test, "is_built_with_cuda", lambda: cuda)
    monkeypatch.setattr(packs.select_device, "warned", False, raising=False)
    assert packs.select_device("gpu") == "CPU"
    assert packs.select_device("gpu") == "CPU"  # a second model: no second line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("warning: GPU requested but") and err[0].endswith("; using CPU")
    assert says in err[0]


def test_cpu_request_never_warns(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(packs.select_device, "warned", False, raising=False)
    assert packs.select_device("cpu") == "CPU"
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(not _gpus(), reason="no GPU visible to TensorFlow here (CPU-only build or no "
                    "NVIDIA GPU): install dentalosteo[gpu] on a GPU machine to run this test")
def test_screening_runs_on_the_gpu_with_the_cpu_numbers() -> None:
    from dentalosteo_gui.core.imaging.imageio import load_radiograph
    from dentalosteo_gui.services import make_engine

    rad = load_radiograph(SAMPLE)
    on_gpu = make_engine(device="gpu").screen(rad)
    on_cpu = make_engine(device="cpu").screen(rad)
    assert on_gpu.device == "GPU:0"
    assert on_gpu.risk is not None and on_cpu.risk is not None
    assert abs(on_gpu.risk - on_cpu.risk) < 1e-3
    assert (on_gpu.mcw_left_mm, on_gpu.mcw_right_mm) == (on_cpu.mcw_left_mm, on_cpu.mcw_right_mm)
