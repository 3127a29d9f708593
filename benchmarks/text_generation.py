"""Generation speed past the context window: KV cache against none, for learned and for rotary positions.

Run from the repository root, alone on the machine (the lock keeps other benchmarks off the cores):

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/text_generation.py
    .venv/bin/python benchmarks/text_generation.py --quick     # seconds: a check; writes to results/raw/smoke/

The network is ``GPT_PRESETS["cpu"]``'s (1 layer x 128, context 64) over the bundled text's characters, with
untrained (randomly initialised) weights: the time per token does not depend on the weights' values. Each
run generates 500 new tokens from a one-token prompt, batch 1, so 436 of them lie past the context. With
learned positions the cache is refilled at every step past the window (no speed-up); with RoPE it rolls.
Cached and uncached runs alternate, so drifting machine load hits both alike; the median of the repeats
is kept. Results go to ``benchmarks/results/text_generation.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlearn.data import CharTokenizer, load_shakespeare  # noqa: E402
from genlearn.text import GPT, GPT_PRESETS, generate  # noqa: E402
from genlearn.text.gpt import POSITION_ENCODINGS  # noqa: E402

import reference_cpu  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "text_generation.json"
QUICK_RESULTS = ROOT / "benchmarks" / "results" / "raw" / "smoke" / "text_generation.json"
NEW_TOKENS = 500
REPEATS = 5
ROPE_SPEEDUP_TARGET = 1.5  # issue 14: the rolling cache at least 1.5x the uncached path at 500 tokens


def seconds_to_generate(model: GPT, new_tokens: int, use_kv_cache: bool, seed: int) -> float:
    prompt = torch.zeros((1, 1), dtype=torch.int64)
    start = time.perf_counter()
    generate(model, prompt, new_tokens, generator=torch.Generator().manual_seed(seed), use_kv_cache=use_kv_cache)
    return time.perf_counter() - start


def measure(position_encoding: str, vocab_size: int, new_tokens: int, repeats: int) -> dict:
    torch.manual_seed(0)
    config = dataclasses.replace(GPT_PRESETS["cpu"], position_encoding=position_encoding).model_config(vocab_size)
    model = GPT(config).eval()
    seconds_to_generate(model, 20, True, 0)  # warm-up: first calls allocate
    times = {False: [], True: []}
    for repeat in range(repeats):
        for use_kv_cache in (False, True):
            times[use_kv_cache].append(seconds_to_generate(model, new_tokens, use_kv_cache, repeat))
    row = {
        "uncached_tokens_per_second": new_tokens / statistics.median(times[False]),
        "cached_tokens_per_second": new_tokens / statistics.median(times[True]),
    }
    row["speedup"] = row["cached_tokens_per_second"] / row["uncached_tokens_per_second"]
    print(f"| {position_encoding:7s} | uncached {row['uncached_tokens_per_second']:6.0f} tok/s "
          f"| cached {row['cached_tokens_per_second']:6.0f} tok/s | x{row['speedup']:.2f} |")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 tokens, one repeat: checks the script, not speed")
    args = parser.parse_args()
    threads = reference_cpu.use_threads()
    new_tokens, repeats = (100, 1) if args.quick else (NEW_TOKENS, REPEATS)
    vocab_size = CharTokenizer.from_text(load_shakespeare()).vocab_size
    rows = {encoding: measure(encoding, vocab_size, new_tokens, repeats) for encoding in POSITION_ENCODINGS}
    results = {
        "what": "tokens/s generating past the context window, batch 1, GPT_PRESETS['cpu'] network, untrained weights",
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": threads},
        "context_length": GPT_PRESETS["cpu"].context_length,
        "new_tokens": new_tokens,
        "repeats": repeats,
        **rows,
        "rope_speedup_target": ROPE_SPEEDUP_TARGET,
        "passed": rows["rope"]["speedup"] >= ROPE_SPEEDUP_TARGET,
    }
    path = QUICK_RESULTS if args.quick else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"rope speed-up x{rows['rope']['speedup']:.2f} (target x{ROPE_SPEEDUP_TARGET}); wrote {path}")


if __name__ == "__main__":
    main()
