"""Benchmark the DCGAN CPU preset on full MNIST: at most 10 minutes of training, then classifier metrics.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/gan.py

Targets (issue 3): classifier inception score >= 6.5 (aim 7.5), all 10 classes, max/min class ratio <= 6.
Reports FID (MNIST classifier) against full MNIST test and against the bundled subset, and the real
test set's scores with the same classifier (the ceiling). Writes benchmarks/results/gan.json and,
for a full run, the shipped weights data/pretrained/gan.pt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import genlearn
from genlearn.data import load_mnist
from genlearn.data.mnist import has_full_mnist
from genlearn.evaluation import classifier_metrics, real_data_metrics
from genlearn.gan import DCGAN_PRESETS, DCGANTrainer
from genlearn.pretrained import export_pretrained
from genlearn.run import TIME_LIMIT

import reference_cpu
from timing import train_timed

RESULTS = Path(__file__).resolve().parent / "results" / "gan.json"
TARGETS = {"inception_score": 6.5, "inception_score_aim": 7.5, "classes_present": 10, "max_min_ratio": 6.0}


def rounded(metrics: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=["smoke", "cpu", "gpu"])
    parser.add_argument("--max-seconds", type=float, default=600.0, help="cap on training wall time")
    parser.add_argument("--override", default="{}", help="JSON of config fields to change (for short tuning runs)")
    parser.add_argument("--eval-samples", type=int, default=10_000)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-export", action="store_true", help="do not write data/pretrained/gan.pt")
    args = parser.parse_args()

    reference_cpu.use_threads()
    device = genlearn.pick_device()
    if not has_full_mnist():
        raise SystemExit("this benchmark trains on full MNIST; build data/full first (see data/README.md)")
    config = dataclasses.replace(DCGAN_PRESETS[args.preset], **json.loads(args.override))
    trainer = DCGANTrainer(config, device, data=load_mnist("train"))
    run, chunk_seconds = train_timed(trainer, args.max_seconds, chunk=100)
    train_seconds = run.seconds

    evaluation_started = time.perf_counter()
    samples = trainer.sample(args.eval_samples, seed=1)
    generated = {
        "vs_full_test": rounded(classifier_metrics(samples, device=device, reference="test")),
        "vs_subset_test": rounded(classifier_metrics(samples, device=device, reference="subset-test")),
    }
    raw_generator = None
    if "generator_ema" in trainer.modules:
        raw = classifier_metrics(trainer.sample(args.eval_samples, seed=1, use_ema=False), device=device)
        raw_generator = rounded({k: raw[k] for k in ("fid", "inception_score", "max_min_ratio", "classes_present")})
    real = {
        "full_test_vs_full_train": rounded(real_data_metrics("test", device=device)),
        "subset_test_vs_subset_train": rounded(real_data_metrics("subset-test", device=device)),
    }
    evaluation_seconds = time.perf_counter() - evaluation_started

    scores = generated["vs_full_test"]
    passed = {
        "inception_score >= 6.5": scores["inception_score"] >= TARGETS["inception_score"],
        "all 10 classes": scores["classes_present"] == TARGETS["classes_present"],
        "max/min <= 6": scores["max_min_ratio"] <= TARGETS["max_min_ratio"],
        "training <= 600 s": train_seconds <= 600 + 30,
    }
    results = {
        "device": genlearn.describe_device(device),
        "preset": args.preset,
        "config": dataclasses.asdict(config),
        "steps": trainer.step,
        "stopped_by_time_cap": run.stopped_by == TIME_LIMIT,
        "train_seconds": round(train_seconds, 1),
        "median_ms_per_step": round(1000 * statistics.median(chunk_seconds), 1),
        "evaluation_seconds": round(evaluation_seconds, 1),
        "eval_samples": args.eval_samples,
        "generated": generated,
        "raw_generator_vs_full_test": raw_generator,
        "real": real,
        "targets": TARGETS,
        "passed": passed,
        "final_d_real": round(trainer.history.mean("d_real", last=200), 3),
        "final_d_fake": round(trainer.history.mean("d_fake", last=200), 3),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n{results['device']}; {trainer.step} steps in {train_seconds:.0f} s "
          f"({results['median_ms_per_step']} ms/step median); {args.eval_samples:,} samples\n")
    print("| samples | IS | max/min | classes | FID vs full test | FID vs subset test |")
    print("|---|---|---|---|---|---|")
    subset = generated["vs_subset_test"]
    print(f"| generator (EMA) | {scores['inception_score']:.2f} | {scores['max_min_ratio']:.2f} | "
          f"{scores['classes_present']} | {scores['fid']:.1f} | {subset['fid']:.1f} |")
    if raw_generator:
        print(f"| generator (raw) | {raw_generator['inception_score']:.2f} | {raw_generator['max_min_ratio']:.2f} | "
              f"{raw_generator['classes_present']} | {raw_generator['fid']:.1f} | |")
    full, small = real["full_test_vs_full_train"], real["subset_test_vs_subset_train"]
    print(f"| real test (ceiling) | {full['inception_score']:.2f} | {full['max_min_ratio']:.2f} | "
          f"{full['classes_present']} | {full['fid']:.1f} (vs train) | {small['fid']:.1f} (subset test vs subset train) |")
    print(f"\ntargets: {passed}; histogram {scores['class_histogram']}")
    if not args.no_export:
        print(f"wrote {export_pretrained(trainer)}")


if __name__ == "__main__":
    main()
