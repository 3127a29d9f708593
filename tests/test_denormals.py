"""Denormals are flushed to zero in every thread torch computes with, once genlearn picks devices."""

from __future__ import annotations

import subprocess
import sys

# A matrix of denormals times a matrix of ones, summed: the rows that a thread which does not flush computes keep
# their denormals, and the sum is then positive. Two threads, so the product is split between them. The denormals
# are written as bits (0x000AE398 is about 1e-39): converting 1e-39 from a double would itself be flushed.
PROBE = """
import torch
{setup}
torch.set_num_threads(2)
torch.ones(512, 512) @ torch.ones(512, 512)
denormals = torch.full((512, 512), 0x000AE398, dtype=torch.int32).view(torch.float32)
print(float((denormals @ torch.ones(512, 512)).double().sum()))
"""


def flushed_sum(setup: str) -> float:
    result = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], capture_output=True, text=True, check=True)
    return float(result.stdout)


def test_importing_genlearns_device_module_flushes_denormals_in_every_thread():
    assert flushed_sum("") > 0  # torch's default: denormals kept, so this probe can fail
    assert flushed_sum("import genlearn.device") == 0.0
    # Once torch's worker threads exist, the setting no longer reaches them: hence at import, before any model.
    assert flushed_sum("torch.set_num_threads(2); torch.ones(512, 512) @ torch.ones(512, 512); import genlearn.device") > 0
