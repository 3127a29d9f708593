"""``torchrun --nproc_per_node=2 -m genlearn train``: two gloo processes on the CPU take the steps one process takes.

The GPT on Shakespeare is used because its loss is a mean over a batch of full windows and it has
no BatchNorm, so splitting the global batch between ranks and averaging gradients is exact (up to
float summation order).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlearn.cli import main
from test_cli import small_and_steady  # noqa: F401 (an autouse fixture)

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="needs torch.distributed with gloo",
)


def test_two_gloo_processes_match_one_process(tmp_path):
    options = ["train", "gpt", "--preset", "smoke", "--device", "cpu", "--max-steps", str(STEPS)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "genlearn"]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [*command, *options, "--out", str(tmp_path / "ddp")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "2 processes (DDP)" in result.stdout
    assert result.stdout.count("saved ") == 1  # rank 0 alone reports and writes
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["checkpoint.pt"]

    assert main([*options, "--out", str(tmp_path / "single")]) == 0
    ddp = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)
    single = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)
    assert ddp["step"] == single["step"] == STEPS
    # The logged losses are the global batch's (averaged over the ranks), step by step.
    ddp_losses, single_losses = ddp["state"]["history"]["values"]["loss"], single["state"]["history"]["values"]["loss"]
    torch.testing.assert_close(torch.tensor(ddp_losses), torch.tensor(single_losses), rtol=1e-5, atol=1e-6)
    for key, value in single["state"]["module.model"].items():
        torch.testing.assert_close(ddp["state"]["module.model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
