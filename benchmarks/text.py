"""Text-track benchmarks: names NLLs, Shakespeare CPU preset against nanoGPT's CPU recipe, attention path, KV cache.

Run from the repository root, alone on the machine (the lock keeps other benchmarks off the cores):

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/text.py [attention names shakespeare generation] \
        [--outside-corpus FILE]

The shakespeare part races ``genlearn train gpt --preset cpu`` against nanoGPT's CPU recipe
(``benchmarks/nanogpt_cpu.py``), whole processes, on the bundled corpus and on each ``--outside-corpus``: the
course's measured one is Project Gutenberg's *Botchan* (EBook #8868, 278,779 bytes), as ``test/botchan.txt`` in
the sentencepiece 0.2.0 source archive (``pip download --no-deps --no-binary :all: sentencepiece==0.2.0``).

With no argument every part runs. Results go to benchmarks/results/text.json (parts merge into it);
the trained models are exported with ``genlearn.pretrained.export_pretrained``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from genlearn.pretrained import export_pretrained, load_pretrained
from genlearn.text import (
    BIGRAM_PRESETS,
    GPT_BPE_PRESETS,
    GPT_NAMES_PRESETS,
    GPT_PRESETS,
    MLP_PRESETS,
    BigramTrainer,
    GPTTrainer,
    MLPTrainer,
)

import reference_cpu
from nanogpt_cpu import NANOGPT_CPU_BASELINE
from timing import steps_that_fit, timed_process

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "text.json"
BASELINE_SCRIPT = ROOT / "benchmarks" / "nanogpt_cpu.py"
GENLEARN = [sys.executable, "-m", "genlearn"]
BUNDLED_CORPUS = ROOT / "data" / "shakespeare.txt"
SEEDS = (0, 1)
TIME_RATIO_TARGET = 0.30
BPE_RACE_SECONDS = 60


def cpu() -> torch.device:
    reference_cpu.use_threads()
    return torch.device("cpu")


def timed_fit(trainer) -> float:
    start = time.perf_counter()
    trainer.fit(progress=False)
    return time.perf_counter() - start


def attention_part(steps: int = 25) -> dict:
    """ms per training step with matmul attention vs F.scaled_dot_product_attention on this CPU.

    Two trainers that differ only in their attention path take turns step by step, so drifting machine
    load hits both paths alike.
    """
    results = {}
    paths = ("matmul", "sdpa")
    for name, config in (("nanogpt_cpu_baseline", NANOGPT_CPU_BASELINE), ("gpt_cpu_preset", GPT_PRESETS["cpu"])):
        trainers = {path: GPTTrainer(dataclasses.replace(config, num_steps=10**6, attention=path), cpu()) for path in paths}
        times = {path: [] for path in paths}
        for step in range(steps + 5):
            for path, trainer in trainers.items():
                start = time.perf_counter()
                trainer.training_step(step)
                times[path].append(time.perf_counter() - start)
        results[name] = {f"{path}_ms_per_step": 1000 * statistics.median(times[path][5:]) for path in paths}
        print(f"| {name} | matmul {results[name]['matmul_ms_per_step']:.1f} ms | sdpa {results[name]['sdpa_ms_per_step']:.1f} ms |")
    return {"attention_path_cpu": results}


def names_part() -> dict:
    device = cpu()
    results = {}
    bigram = BigramTrainer(BIGRAM_PRESETS["cpu"], device)
    results["count_bigram"] = {"test_nll": bigram.evaluate_split("test", bigram.count_model())["nll"]}
    seconds = timed_fit(bigram)
    results["neural_bigram"] = {"test_nll": bigram.evaluate_split("test")["nll"], "train_seconds": seconds}
    export_pretrained(bigram, "bigram")
    for name, trainer_class, presets in (("mlp", MLPTrainer, MLP_PRESETS), ("gpt_names", GPTTrainer, GPT_NAMES_PRESETS)):
        trainer = trainer_class(presets["cpu"], device)
        seconds = timed_fit(trainer)
        results[name] = {
            "val_nll": trainer.evaluate_split("val")["nll"],
            "test_nll": trainer.evaluate_split("test")["nll"],
            "train_seconds": seconds,
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
        }
        export_pretrained(trainer, name)
        print(f"| {name} | test {results[name]['test_nll']:.4f} | {seconds:.0f} s |")
    # Every trained target must hold over the other seed too (those runs are not exported).
    for name, trainer_class, presets in (("mlp", MLPTrainer, MLP_PRESETS), ("gpt_names", GPTTrainer, GPT_NAMES_PRESETS)):
        for seed in SEEDS[1:]:
            trainer = trainer_class(dataclasses.replace(presets["cpu"], seed=seed), device)
            timed_fit(trainer)
            results[f"{name}_seed{seed}"] = {
                "val_nll": trainer.evaluate_split("val")["nll"],
                "test_nll": trainer.evaluate_split("test")["nll"],
            }
            print(f"| {name}, seed {seed} | test {results[f'{name}_seed{seed}']['test_nll']:.4f} |")
    print(f"| count bigram | test {results['count_bigram']['test_nll']:.4f} |")
    results["targets"] = {"count_bigram": 2.45, "mlp": 2.10, "gpt_names": 1.92}
    return {"names_test_nll_nats_per_char": results}


def scored(folder: Path) -> dict:
    """``genlearn eval gpt`` of the run in ``folder``: the whole val split (not timed)."""
    result = subprocess.run([*GENLEARN, "eval", "gpt", "--out", str(folder), "--device", "cpu"], capture_output=True,
                            text=True, cwd=ROOT, check=True)
    return json.loads(result.stdout)


def race_part(corpora: dict[str, Path]) -> dict:
    """``genlearn train gpt --preset cpu`` against nanoGPT's CPU recipe (``nanogpt_cpu.py``), each timed as a whole
    process, per corpus and seed, alternating; both then scored on the whole val split by ``genlearn eval gpt``."""
    results = {}
    for name, path in corpora.items():
        runs = []
        for seed in SEEDS:
            with tempfile.TemporaryDirectory() as folder:
                baseline_out, ours_out = Path(folder) / "baseline", Path(folder) / "ours"
                run = {"seed": seed}
                commands = {
                    "baseline": [sys.executable, str(BASELINE_SCRIPT), "--data", str(path), "--seed", str(seed),
                                 "--out", str(baseline_out)],
                    "ours": [*GENLEARN, "train", "gpt", "--preset", "cpu", "--device", "cpu", "--data", str(path),
                             "--seed", str(seed), "--out", str(ours_out)],
                }
                for side, command in commands.items():
                    seconds, _ = timed_process(command)
                    scores = scored(baseline_out if side == "baseline" else ours_out)
                    run[side] = {"process_seconds": round(seconds, 2), "val_nll": scores["val_nll"],
                                 "val_bits_per_char": scores["val_bits_per_char"], "step": scores["step"]}
                    print(f"| {name} | seed {seed} | {side} | val {scores['val_nll']:.4f} | {seconds:.1f} s |", flush=True)
                if path == BUNDLED_CORPUS and seed == SEEDS[0]:  # the shipped weights: the cpu preset's first run
                    export_pretrained(GPTTrainer.from_checkpoint(ours_out / "checkpoint.pt", cpu()), "gpt")
            run["time_ratio"] = run["ours"]["process_seconds"] / run["baseline"]["process_seconds"]
            run["reached_baseline_loss"] = run["ours"]["val_nll"] <= run["baseline"]["val_nll"]
            run["passed"] = run["reached_baseline_loss"] and run["time_ratio"] <= TIME_RATIO_TARGET
            runs.append(run)
        results[name] = {"file": path.name, "bytes": path.stat().st_size,
                         "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "runs": runs,
                         "passed": all(run["passed"] for run in runs)}
    return {
        "shakespeare_cpu": {
            "measures": "whole processes: `genlearn train gpt --preset cpu` against benchmarks/nanogpt_cpu.py, "
            "start-up, periodic evaluations and checkpoints included; val NLL over the whole val split",
            "baseline_config": dataclasses.asdict(NANOGPT_CPU_BASELINE),
            "ours_config": dataclasses.asdict(GPT_PRESETS["cpu"]),
            "time_ratio_target": TIME_RATIO_TARGET,
            "corpora": results,
            "passed": all(corpus["passed"] for corpus in results.values()),
        }
    }


def bpe_part() -> dict:
    """The character GPT against the same GPT on byte-level BPE tokens (``GPT_BPE_PRESETS``), each trained for
    ``BPE_RACE_SECONDS`` of wall clock (its learning rate decays over the steps a probe finds fit), per seed; scored
    in bits per byte of the whole val split, the unit both tokenizers share. Building the BPE vocabulary is timed apart."""
    device = cpu()
    runs = []
    for seed in SEEDS:
        run = {"seed": seed}
        for name, presets in (("characters", GPT_PRESETS), ("bpe", GPT_BPE_PRESETS)):
            config = dataclasses.replace(presets["cpu"], seed=seed, eval_every=0)
            start = time.perf_counter()
            probe = GPTTrainer(config, device)
            build_seconds = time.perf_counter() - start
            steps = steps_that_fit(probe, BPE_RACE_SECONDS)
            trainer = GPTTrainer(dataclasses.replace(config, num_steps=steps), device)
            seconds = timed_fit(trainer)
            val = trainer.evaluate_split("val")
            run[name] = {"steps": steps, "train_seconds": seconds, "build_seconds": build_seconds,
                         "val_bits_per_byte": val["bits_per_byte"], "val_nll_per_token": val["nll"],
                         "bytes_per_token": val["num_bytes"] / val["num_targets"]}
            print(f"| seed {seed} | {name} | {steps} steps in {seconds:.1f} s | val {val['bits_per_byte']:.4f} bits/byte |",
                  flush=True)
        runs.append(run)
    return {"bpe_against_characters_cpu": {"seconds_each": BPE_RACE_SECONDS, "runs": runs}}


def generation_part() -> dict:
    device = cpu()
    trainer = load_pretrained(GPTTrainer, device, "gpt")
    model = trainer.model
    results = {}
    for label, new_tokens in (("within_context", model.context_length - 1), ("500_tokens", 500)):
        row = {}
        for use_cache in (False, True):
            times = []
            for repeat in range(3):
                idx = torch.zeros((1, 1), dtype=torch.int64)
                generator = torch.Generator().manual_seed(repeat)
                start = time.perf_counter()
                model.generate(idx, new_tokens, generator=generator, use_kv_cache=use_cache)
                times.append(time.perf_counter() - start)
            row["cached" if use_cache else "uncached"] = new_tokens / statistics.median(times)
        row["speedup"] = row["cached"] / row["uncached"]
        results[label] = row
        print(f"| {label} | uncached {row['uncached']:.0f} tok/s | cached {row['cached']:.0f} tok/s | x{row['speedup']:.2f} |")
    return {"generation_tokens_per_second_cpu_batch1": results}


PARTS = {"attention": attention_part, "shakespeare": race_part, "bpe": bpe_part, "generation": generation_part,
         "names": names_part}


def main(parts: list[str], corpora: dict[str, Path]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": reference_cpu.REFERENCE_THREADS,
    }
    for part in parts or list(PARTS):
        start = time.perf_counter()
        results.update(PARTS[part](corpora) if part == "shakespeare" else PARTS[part]())
        results.setdefault("part_seconds", {})[part] = time.perf_counter() - start
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--outside-corpus", type=Path, action="append", default=[], metavar="FILE",
                        help="another UTF-8 English text (not in the repository) for the shakespeare part's race")
    args = parser.parse_args()
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    missing = [str(path) for path in args.outside_corpus if not path.is_file()]
    if missing:
        parser.error(f"--outside-corpus: no file at {', '.join(missing)}")
    main(args.parts, {"bundled Shakespeare": BUNDLED_CORPUS, **{path.stem: path.resolve() for path in args.outside_corpus}})
