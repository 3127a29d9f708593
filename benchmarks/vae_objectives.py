"""VAE objectives on full binarized MNIST: posterior-collapse remedies, IWAE training at equal time, and decoders.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/vae_objectives.py

About 25 minutes on the 2-core reference CPU (``--smoke``: seconds, to test the script). Three parts, each
trained from ``VAE_PRESETS["cpu"]`` without its KL warm-up (784-512-512 -> 50-d latent) and scored on the fixed
1,000-image test subset (``fixed_test_subset``, seed 0), every run in this one process, alone on the machine:

1. ``remedies``: no remedy, a KL warm-up (the KL weight climbs from 0 to beta over the first quarter of the
   steps) and free bits (``FREE_BITS`` nats per latent dimension), each at beta = 1 and beta = 4, for
   ``REMEDY_STEPS`` steps. Reported: -ELBO, the rate (KL), active units, and the IWAE NLL at k = ``REMEDY_K``.
2. ``iwae``: the ELBO (one z) against the IWAE bound on k = 5 samples as the training objective, each for
   ``EQUAL_SECONDS`` of wall clock (the learning rate decays over the steps that fit, from a speed probe),
   both scored by the IWAE NLL at k = 5000.
3. ``decoders``: a Gaussian decoder with a learned sigma per pixel, trained on [0, 1] intensities for
   ``REMEDY_STEPS`` steps, beside part 1's Bernoulli decoder (beta = 1, no remedy): classifier metrics of
   10,000 samples of each (decoder means, and for the Bernoulli decoder also binary draws), and the Gaussian
   decoder's learned sigma. Its likelihood is a density on intensities: not comparable with the Bernoulli NLL.

Writes ``benchmarks/results/vae_objectives.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import torch

from genlearn.data import load_mnist
from genlearn.data.mnist import FULL_SOURCE
from genlearn.evaluation import classifier_metrics
from genlearn.vae import VAE_PRESETS, VAETrainer

import reference_cpu
from timing import steps_that_fit
from vae import timed_evaluate, train_for  # the track benchmark's timed training and scoring

RESULTS = Path(__file__).resolve().parent / "results" / "vae_objectives.json"
REMEDY_STEPS = 10_000  # about 21 epochs; each run about 80 s here
REMEDY_K = 1000
FREE_BITS = 0.25  # nats per latent dimension: at least 12.5 nats of rate over the 50 dimensions
EQUAL_SECONDS = 300
FINAL_K = 5000
NUM_SAMPLES = 10_000


def remedies(steps: int) -> dict[str, dict]:
    """Config changes of each remedy for a run of ``steps`` steps."""
    return {"none": {}, "kl_warmup": {"kl_warmup_steps": steps // 4}, "free_bits": {"free_bits": FREE_BITS}}


def rounded(metrics: dict) -> dict:
    return {name: round(value, 3) if isinstance(value, float) else value for name, value in metrics.items()}


def train(config, data, max_seconds: float = math.inf) -> tuple[VAETrainer, dict]:
    trainer = VAETrainer(config, "cpu", data=data)
    return trainer, train_for(trainer, max_seconds)


def scored(trainer: VAETrainer, iwae_k: int) -> dict:
    return timed_evaluate(trainer, iwae_k=iwae_k)


def sample_scores(trainer: VAETrainer, num_samples: int, binary: bool = False) -> dict:
    scores = classifier_metrics(trainer.sample(num_samples, seed=0, binary=binary))
    return rounded({name: scores[name] for name in ("fid", "inception_score", "precision", "recall", "classes_present")})


def part_remedies(base, data, steps: int, iwae_k: int) -> tuple[dict, VAETrainer]:
    results, plain = {}, None
    for beta in (1.0, 4.0):
        for remedy, changes in remedies(steps).items():
            config = dataclasses.replace(base, num_steps=steps, beta=beta, **changes)
            trainer, training = train(config, data)
            name = f"beta={beta:g}/{remedy}"
            results[name] = {"changes": changes, "beta": beta, "training": training, "test": scored(trainer, iwae_k)}
            print(name, results[name], flush=True)
            if beta == 1.0 and remedy == "none":
                plain = trainer
    return results, plain


def part_iwae(base, data, seconds: float, iwae_k: int) -> dict:
    results = {}
    for name, changes in {"elbo": {}, "iwae_k5": {"objective": "iwae", "iwae_train_k": 5}}.items():
        config = dataclasses.replace(base, **changes)
        config = dataclasses.replace(config, num_steps=steps_that_fit(VAETrainer(config, "cpu", data=data), seconds))
        trainer, training = train(config, data, max_seconds=seconds)
        results[name] = {"changes": changes, "planned_steps": config.num_steps, "training": training,
                         "test": scored(trainer, iwae_k)}
        print(name, results[name], flush=True)
    return results


def part_decoders(base, data, steps: int, bernoulli: VAETrainer, num_samples: int) -> dict:
    config = dataclasses.replace(base, num_steps=steps, decoder="gaussian", binarize=False)
    gaussian, training = train(config, data)
    sigma = gaussian.vae.decoder.log_std.detach().clamp(min=math.log(1 / 255)).exp().flatten()
    results = {
        "bernoulli": {"decoder_means": sample_scores(bernoulli, num_samples),
                      "binary_draws": sample_scores(bernoulli, num_samples, binary=True)},
        "gaussian": {"training": training, "decoder_means": sample_scores(gaussian, num_samples),
                     "test_on_intensities": scored(gaussian, 0),
                     "learned_sigma": {"median": round(sigma.median().item(), 4), "min": round(sigma.min().item(), 4),
                                       "max": round(sigma.max().item(), 4)}},
    }
    print("decoders", results, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps per run, to test this script")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    reference_cpu.use_threads()
    train_data, test_data = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    if train_data.source != FULL_SOURCE and not args.smoke:
        raise SystemExit("full MNIST is not on disk; build it first (data/build/build_full_mnist.py)")
    data = (train_data, test_data)
    base = dataclasses.replace(VAE_PRESETS["cpu"], kl_warmup_steps=0)  # no remedy: each part adds its own
    steps, remedy_k, seconds, final_k, num_samples = REMEDY_STEPS, REMEDY_K, EQUAL_SECONDS, FINAL_K, NUM_SAMPLES
    if args.smoke:
        base = dataclasses.replace(base, eval_num_images=100)
        steps, remedy_k, seconds, final_k, num_samples = 40, 20, 3, 20, 500
    started, load = time.perf_counter(), [round(v, 2) for v in os.getloadavg()]
    remedies, plain = part_remedies(base, data, steps, remedy_k)
    results = {
        "smoke": args.smoke,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "data": f"{train_data.source}; scored on {base.eval_num_images:,} fixed test digits (fixed_test_subset, seed 0)",
        "load_average_at_start": load,
        "settings": {"remedy_steps": steps, "remedy_iwae_k": remedy_k, "free_bits": FREE_BITS,
                     "kl_warmup_fraction": 0.25, "equal_seconds": seconds, "final_iwae_k": final_k,
                     "num_samples": num_samples},
        "remedies": remedies,
        "iwae_at_equal_time": part_iwae(base, data, seconds, final_k),
        "decoders": part_decoders(base, data, steps, plain, num_samples),
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
