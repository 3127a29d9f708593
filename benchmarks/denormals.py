"""Why genlearn flushes denormals: the VAE's cpu preset per 500-step chunk, with and without, each in a fresh process.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/denormals.py

Importing ``genlearn.device`` flushes denormals to zero before torch starts its worker threads
(``genlearn/denormals.py``). The "kept" process turns it off again before anything runs, so its threads keep
torch's default. Both train ``VAE_PRESETS["cpu"]`` on full MNIST (the bundled subset without it) for
``CHUNKS`` x 500 steps at 2 threads, alone on the machine. Writes ``benchmarks/results/denormals.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "denormals.json"
CHUNKS = 8
STEPS_PER_CHUNK = 500

CHILD = """
import json, sys, time
import torch
from genlearn.data import load_mnist
from genlearn.vae import VAE_PRESETS, VAETrainer
torch.set_flush_denormal({flush})  # before torch's first parallel operation: its worker threads inherit it
torch.set_num_threads(2)
trainer = VAETrainer(VAE_PRESETS["cpu"], "cpu")
milliseconds = []
for _ in range({chunks}):
    start = time.perf_counter()
    trainer.fit(trainer.step + {steps}, progress=False)
    milliseconds.append(round(1000 * (time.perf_counter() - start) / {steps}, 2))
print(json.dumps({{"data": trainer.describe_data(), "ms_per_step_by_chunk": milliseconds}}))
"""


def main() -> None:
    results = {"model": "VAE_PRESETS['cpu']", "threads": 2, "steps_per_chunk": STEPS_PER_CHUNK}
    for name, flush in (("flushed", True), ("kept", False)):
        code = CHILD.format(flush=flush, chunks=CHUNKS, steps=STEPS_PER_CHUNK)
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        results[name] = json.loads(output.stdout.strip().splitlines()[-1])
        print(name, results[name]["ms_per_step_by_chunk"], flush=True)
    last = {name: results[name]["ms_per_step_by_chunk"][-1] for name in ("flushed", "kept")}
    results["last_chunk_slowdown_when_kept"] = round(last["kept"] / last["flushed"], 2)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
