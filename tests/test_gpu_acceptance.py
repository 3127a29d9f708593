"""benchmarks/gpu_acceptance.py at its CPU smoke size: it starts, runs every part and writes a check per part.

The GPU run itself needs a lent GPU (its docstring says how to start it); these tests make sure it will start.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from genlearn.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_acceptance.py"


@pytest.fixture
def acceptance(monkeypatch):
    """The script as a module (it imports benchmarks/timing.py by name)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("gpu_acceptance", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_cpu_smoke_run_writes_a_passing_check_per_part(acceptance, tmp_path, monkeypatch, capsys):
    """In-process (a fresh interpreter costs seconds of imports); its torchrun check still starts real processes."""
    output = tmp_path / "results" / "acceptance.json"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what its configure_threads() then takes
    monkeypatch.setenv("GENLEARN_MNIST_ROOT", str(tmp_path / "no-full-mnist"))  # the bundled subset: loads faster
    threads = torch.get_num_threads()
    try:
        code = acceptance.main(["--cpu-smoke", "--output", str(output)])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr()
    assert code == 0, printed.out[-3000:] + printed.err[-3000:]
    report = json.loads(output.read_text())
    checks = {check["name"]: check for check in report["checks"]}
    expected = {f"{kind}/{model}" for model in MODELS for kind in ("train", "loss")}
    expected |= {"generation/fp32", "torchrun/gpt"}
    assert set(checks) == expected
    assert report["passed"] and all(check["passed"] for check in checks.values())
    assert report["plan"]["precision"] == "fp32" and report["plan"]["compile_gpt"] is False
    for model in MODELS:
        train = checks[f"train/{model}"]
        assert train["per_second"] > 0 and train["unit"] in ("images/s", "tokens/s")
        assert train["flops_per_step"] >= 0 and train["mfu"] is None and train["mfu_note"]  # no MFU on a CPU
        # The same seed, device and precision on both sides: the losses agree exactly.
        assert checks[f"loss/{model}"]["relative_difference"] == 0.0
    assert checks["torchrun/gpt"]["processes"] == 1 and checks["torchrun/gpt"]["relative_difference"] == 0.0
    assert checks["generation/fp32"]["relative_gap"] < checks["generation/fp32"]["tolerance"]
    table = printed.out[printed.out.index("\ncheck ") :]
    assert all(name in table for name in checks) and "passed in" in table


def test_loss_check_fails_outside_the_tolerance_and_on_nan(acceptance):
    within = 1 + acceptance.LOSS_TOLERANCE / 2
    beyond = 1 + acceptance.LOSS_TOLERANCE * 2
    assert acceptance.loss_check("loss/x", [within, within], [1.0, 1.0], "reference")["passed"]
    assert not acceptance.loss_check("loss/x", [beyond, beyond], [1.0, 1.0], "reference")["passed"]
    assert not acceptance.loss_check("loss/x", [math.nan, 1.0], [1.0, 1.0], "reference")["passed"]


def test_a_check_that_raises_fails_and_the_run_goes_on(acceptance):
    def broken() -> dict:
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nmore detail")

    check = acceptance.attempt("train/x", broken)
    assert check == {
        "name": "train/x",
        "passed": False,
        "summary": "RuntimeError: CUDA error: an illegal memory access was encountered",
        "error": "RuntimeError: CUDA error: an illegal memory access was encountered",
    }


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_without_cuda_it_says_to_add_cpu_smoke(acceptance, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        acceptance.main(["--output", str(tmp_path / "out.json")])
    assert exit_info.value.code == 2
    assert "--cpu-smoke" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_an_output_folder_is_refused(acceptance, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        acceptance.main(["--cpu-smoke", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, peak",
    [
        ("NVIDIA H200", 989e12),
        ("NVIDIA H200 NVL", 835e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("Tesla V100-SXM2-16GB", None),
    ],
)
def test_peak_flops_come_from_the_most_specific_device_name(acceptance, monkeypatch, name, peak):
    monkeypatch.setattr(acceptance.torch.cuda, "get_device_name", lambda device: name)
    assert acceptance.peak_bf16_flops(torch.device("cuda")) == peak
    assert acceptance.peak_bf16_flops(torch.device("cpu")) is None
