"""Benchmark the DCGAN CPU preset on full MNIST against the previous preset, in the same run; then classifier metrics.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/gan.py

Each preset trains for at most 10 minutes. Targets (issue 12), for the current preset's EMA generator on
10,000 samples: classifier inception score >= 7.5 (aim 8.0); all 10 classes, the most frequent at most 3x
the least frequent; FID (MNIST classifier) at least 30% below the previous preset's, measured in this run.

Also measured, so that the course's claims about sampling rest on numbers:
- the EMA generator with BatchNorm statistics re-measured for its own weights (what the trainer samples)
  against the same weights with the live generator's statistics (what the previous version sampled),
  and against the live generator itself;
- eval-mode sampling (running statistics) against train-mode sampling (each batch's own statistics).
Writes benchmarks/results/gan.json and, for a full run, the shipped weights data/pretrained/gan.pt.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

import genlearn
from genlearn.data import load_mnist
from genlearn.data.mnist import has_full_mnist
from genlearn.evaluation import classifier_metrics, real_data_metrics
from genlearn.gan import DCGAN_PRESETS, DCGANConfig, DCGANTrainer
from genlearn.gan.sampling import generate, generate_in_train_mode, sample_latents, to_unit_interval
from genlearn.pretrained import export_pretrained
from genlearn.run import TIME_LIMIT

import reference_cpu
from timing import train_timed

RESULTS = Path(__file__).resolve().parent / "results" / "gan.json"
# The cpu preset before issue 12, which sampled its EMA generator with the live generator's BatchNorm statistics.
PREVIOUS_PRESET = DCGANConfig(num_steps=12_000, batch_size=64, channels=32, generator_learning_rate=5e-4,
                              discriminator_learning_rate=5e-4, ema_decay=0.999)
TARGETS = {"inception_score": 7.5, "inception_score_aim": 8.0, "classes_present": 10, "max_min_ratio": 3.0,
           "fid_reduction_vs_previous": 0.30, "train_seconds": 600}
SUMMARY_KEYS = ("fid", "inception_score", "precision", "recall", "max_min_ratio", "classes_present", "class_histogram")


def rounded(metrics: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items() if k in SUMMARY_KEYS}


def with_live_statistics(trainer: DCGANTrainer) -> torch.nn.Module:
    """The EMA generator's weights with the live generator's BatchNorm statistics (the previous sampler)."""
    model = copy.deepcopy(trainer.unwrapped("generator_ema"))
    for target, source in zip(model.buffers(), trainer.unwrapped("generator").buffers()):
        target.copy_(source)
    return model


def train_and_score(config: DCGANConfig, max_seconds: float, num_samples: int, device, train) -> tuple[DCGANTrainer, dict]:
    trainer = DCGANTrainer(config, device, data=train)
    run, chunk_seconds = train_timed(trainer, max_seconds, chunk=100)
    started = time.perf_counter()
    z = sample_latents(num_samples, config.latent_dim, device, torch.Generator().manual_seed(1))

    def score(images: torch.Tensor, reference: str = "test") -> dict:
        return rounded(classifier_metrics(to_unit_interval(images), device=device, reference=reference))

    ema = trainer.sampler  # BatchNorm statistics re-measured for the EMA weights
    samples = generate(ema, z)
    record = {
        "config": dataclasses.asdict(config),
        "steps": trainer.step,
        "stopped_by_time_cap": run.stopped_by == TIME_LIMIT,
        "train_seconds": round(run.seconds, 1),
        "median_ms_per_step": round(1000 * statistics.median(chunk_seconds), 1),
        "generated": {"vs_full_test": score(samples), "vs_subset_test": score(samples, "subset-test")},
        "samplers": {
            "ema_own_statistics": score(samples),
            "ema_live_statistics": score(generate(with_live_statistics(trainer), z)),
            "live_generator": score(generate(trainer.unwrapped("generator"), z)),
            "ema_train_mode_batch_64": score(generate_in_train_mode(ema, z, batch_size=64)),
        },
        "final_d_real": round(trainer.history.mean("d_real", last=200), 3),
        "final_d_fake": round(trainer.history.mean("d_fake", last=200), 3),
    }
    record["evaluation_seconds"] = round(time.perf_counter() - started, 1)
    return trainer, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=["smoke", "cpu", "gpu"])
    parser.add_argument("--max-seconds", type=float, default=600.0, help="cap on each training's wall time")
    parser.add_argument("--override", default="{}", help="JSON of config fields to change (for short tuning runs)")
    parser.add_argument("--eval-samples", type=int, default=10_000)
    parser.add_argument("--no-previous", action="store_true", help="skip the previous preset (no FID comparison)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-export", action="store_true", help="do not write data/pretrained/gan.pt")
    args = parser.parse_args()

    threads = reference_cpu.use_threads()
    device = genlearn.pick_device()
    if not has_full_mnist():
        raise SystemExit("this benchmark trains on full MNIST; build data/full first (see data/README.md)")
    train = load_mnist("train")
    config = dataclasses.replace(DCGAN_PRESETS[args.preset], **json.loads(args.override))
    trainer, results = train_and_score(config, args.max_seconds, args.eval_samples, device, train)
    previous = None
    if not args.no_previous:
        _, previous = train_and_score(PREVIOUS_PRESET, args.max_seconds, args.eval_samples, device, train)
    real = {
        "full_test_vs_full_train": rounded(real_data_metrics("test", device=device)),
        "subset_test_vs_subset_train": rounded(real_data_metrics("subset-test", device=device)),
    }

    scores = results["generated"]["vs_full_test"]
    passed = {
        "inception_score >= 7.5": scores["inception_score"] >= TARGETS["inception_score"],
        "all 10 classes": scores["classes_present"] == TARGETS["classes_present"],
        "max/min <= 3": scores["max_min_ratio"] <= TARGETS["max_min_ratio"],
        "training <= 600 s": results["train_seconds"] <= TARGETS["train_seconds"] + 30,
    }
    if previous:
        # The previous version sampled its EMA weights with the live generator's statistics.
        previous_fid = previous["samplers"]["ema_live_statistics"]["fid"]
        results["fid_reduction_vs_previous"] = round(1 - scores["fid"] / previous_fid, 3)
        passed["FID >= 30% below the previous preset's"] = results["fid_reduction_vs_previous"] >= 0.30
    results = {
        "device": genlearn.describe_device(device),
        "threads": threads,
        "preset": args.preset,
        **results,
        "eval_samples": args.eval_samples,
        "previous_preset": previous,
        "real": real,
        "targets": TARGETS,
        "passed": passed,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n{results['device']}; {args.eval_samples:,} samples per row, FID against the full test split\n")
    print("| preset | sampler | steps | IS | FID | precision | recall | max/min |")
    print("|---|---|---|---|---|---|---|---|")
    for name, record in (("current", results), ("previous", previous)):
        for sampler, metrics in (record or {}).get("samplers", {}).items():
            print(f"| {name} | {sampler} | {record['steps']} | {metrics['inception_score']:.2f} | {metrics['fid']:.1f} | "
                  f"{metrics.get('precision', float('nan')):.3f} | {metrics.get('recall', float('nan')):.3f} | "
                  f"{metrics['max_min_ratio']:.2f} |")
    full = real["full_test_vs_full_train"]
    print(f"| real test (ceiling) | | | {full['inception_score']:.2f} | {full['fid']:.1f} (vs train) | | | {full['max_min_ratio']:.2f} |")
    print(f"\ntargets: {passed}; histogram {scores['class_histogram']}")
    if not args.no_export:
        print(f"wrote {export_pretrained(trainer)}")


if __name__ == "__main__":
    main()
