"""Speed on a shared machine: the DCGAN CPU preset's step time, alone and beside a busy process.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/threads.py

Two thread policies, each in a fresh process:
- ``all cores``: ``torch.set_num_threads(os.cpu_count())``, what the course did before;
- ``genlearn``: ``genlearn.configure_threads()``, which takes the cores that are free now.

Each runs on a quiet machine and beside one competing CPU-bound process (a Python busy loop started
first). The step time is the median of timed chunks after a warm-up. Targets: with one competing
process at most 2x the quiet step time, and on a quiet machine within 10% of the old policy.
Writes benchmarks/results/threads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "threads.json"
POLICIES = ("all cores", "genlearn")

MEASURE = """
import dataclasses, json, os, statistics, sys
sys.path.insert(0, "benchmarks")
import torch
import genlearn
from genlearn.gan import DCGAN_PRESETS, DCGANTrainer
from timing import train_timed
if sys.argv[1] == "all cores":
    torch.set_num_threads(os.cpu_count())
else:
    genlearn.configure_threads()
chunk, chunks = int(sys.argv[2]), int(sys.argv[3])
config = dataclasses.replace(DCGAN_PRESETS["cpu"], num_steps=chunk * (chunks + 1))
_, seconds_per_step = train_timed(DCGANTrainer(config, torch.device("cpu")), max_seconds=3600, chunk=chunk)
times = seconds_per_step[1:]  # the first chunk warms up
print(json.dumps({"threads": torch.get_num_threads(), "ms_per_step": 1000 * statistics.median(times)}))
"""


def measure(policy: str, competing: bool, chunk: int, chunks: int) -> dict:
    competitor = None
    if competing:
        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)  # let it take its core before the measured process starts
    try:
        environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
        output = subprocess.run([sys.executable, "-c", MEASURE, policy, str(chunk), str(chunks)], cwd=ROOT,
                                env=environment, check=True, capture_output=True, text=True).stdout
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    result = json.loads(output.strip().splitlines()[-1])
    print(f"{policy:10s} {'beside a busy process' if competing else 'quiet':22s} {result['threads']} threads "
          f"{result['ms_per_step']:7.1f} ms/step", flush=True)
    return {"policy": policy, "competing_processes": int(competing), **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=20, help="steps per timed chunk")
    parser.add_argument("--chunks", type=int, default=5, help="timed chunks per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per case; the median is kept")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    cases = []
    for competing in (False, True):
        for policy in POLICIES:
            runs = [measure(policy, competing, args.chunk, args.chunks) for _ in range(args.repeats)]
            cases.append({**runs[0], "ms_per_step": statistics.median(r["ms_per_step"] for r in runs),
                          "runs_ms_per_step": [round(r["ms_per_step"], 2) for r in runs]})
    quiet = {c["policy"]: c["ms_per_step"] for c in cases if not c["competing_processes"]}
    busy = {c["policy"]: c["ms_per_step"] for c in cases if c["competing_processes"]}
    summary = {
        "busy_over_quiet_old": round(busy["genlearn"] / quiet["all cores"], 3),
        "quiet_new_over_quiet_old": round(quiet["genlearn"] / quiet["all cores"], 3),
        "old_policy_busy_over_quiet": round(busy["all cores"] / quiet["all cores"], 3),
    }
    summary["passed"] = summary["busy_over_quiet_old"] <= 2.0 and summary["quiet_new_over_quiet_old"] <= 1.10
    results = {"model": "DCGAN, cpu preset", "cpu_count": os.cpu_count(), "cases": cases, **summary}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
