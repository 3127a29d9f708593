"""GAN objectives side by side: mode coverage on the ring of Gaussians over several seeds, and full MNIST at equal CPU time.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/gan_recipes.py            # both parts
    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/gan_recipes.py --part ring

Every recipe changes the lesson's preset (``TOY_PRESETS["cpu"]``, ``DCGAN_PRESETS["cpu"]``) in the same way:
- ring: each recipe trains the preset's steps for every seed; a mode counts as covered with at least 1%
  of 2,000 samples (``genlearn.data.mode_coverage``);
- MNIST: each recipe trains for the same wall-clock time (``--seconds``), then 10,000 samples from its
  EMA generator are scored by the MNIST classifier (inception score, FID, precision and recall, class histogram).
Writes benchmarks/results/gan_recipes.json, which notebook 02 renders.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import genlearn
from genlearn.data import load_mnist, mode_coverage
from genlearn.data.mnist import has_full_mnist
from genlearn.evaluation import classifier_metrics
from genlearn.gan import DCGAN_PRESETS, TOY_PRESETS, DCGANTrainer, ToyGANTrainer

import reference_cpu
from timing import train_timed

RESULTS = Path(__file__).resolve().parent / "results" / "gan_recipes.json"


def two_time_scales(config) -> dict:
    """TTUR (Heusel et al. 2017): D learns 4x faster than G, at the preset's geometric-mean rate."""
    rate = config.generator_learning_rate
    return {"generator_learning_rate": rate / 2, "discriminator_learning_rate": rate * 2}


# name -> the changes it makes to a preset (a dict, or a function of the preset for relative ones)
RECIPES = {
    "non-saturating (preset)": {},
    "two time-scale learning rates": two_time_scales,
    "spectral norm": {"discriminator_normalization": "spectral"},
    "hinge + spectral norm": {"loss": "hinge", "discriminator_normalization": "spectral"},
    "WGAN-GP (lambda 10)": {"loss": "wasserstein", "gradient_penalty": 10.0, "discriminator_normalization": "none"},
    "R1 (gamma 1)": {"r1_penalty": 1.0, "discriminator_normalization": "none"},
}
RING_ONLY = {"PacGAN (pack 2)": {"pack": 2}}


def changed(preset, recipe) -> object:
    changes = recipe(preset) if callable(recipe) else recipe
    return dataclasses.replace(preset, **changes)


def ring_part(seeds: list[int]) -> dict:
    results = {}
    for name, recipe in {**RECIPES, **RING_ONLY}.items():
        runs = []
        for seed in seeds:
            config = changed(dataclasses.replace(TOY_PRESETS["cpu"], seed=seed), recipe)
            trainer = ToyGANTrainer(config, "cpu")
            started = time.perf_counter()
            trainer.fit(progress=False)
            coverage = mode_coverage(trainer.sample(2000, seed=seed), trainer.configured_ring())
            runs.append({
                "seed": seed,
                "modes_covered": coverage["modes_covered"],
                "fraction_high_quality": round(coverage["fraction_high_quality"], 3),
                "train_seconds": round(time.perf_counter() - started, 1),
            })
        covered = [run["modes_covered"] for run in runs]
        results[name] = {
            "config": dataclasses.asdict(changed(TOY_PRESETS["cpu"], recipe)),
            "runs": runs,
            "median_modes_covered": statistics.median(covered),
            "all_modes_in": sum(c == TOY_PRESETS["cpu"].ring_modes for c in covered),
            "median_fraction_high_quality": statistics.median(run["fraction_high_quality"] for run in runs),
        }
        print(f"ring | {name} | modes {covered} | high quality {[r['fraction_high_quality'] for r in runs]}", flush=True)
    return results


def mnist_part(seconds: float, device) -> dict:
    train = load_mnist("train")
    results = {}
    for name, recipe in RECIPES.items():
        # A step budget the time cap always cuts, so every recipe trains for the same wall-clock time.
        config = dataclasses.replace(changed(DCGAN_PRESETS["cpu"], recipe), num_steps=1_000_000)
        trainer = DCGANTrainer(config, device, data=train)
        run, chunk_seconds = train_timed(trainer, seconds, chunk=100)
        metrics = classifier_metrics(trainer.sample(10_000, seed=1), device=device)
        results[name] = {
            "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "num_steps"},
            "steps": trainer.step,
            "train_seconds": round(run.seconds, 1),
            "median_ms_per_step": round(1000 * statistics.median(chunk_seconds), 1),
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()},
        }
        print(f"mnist | {name} | {trainer.step} steps | IS {metrics['inception_score']:.2f} | FID {metrics['fid']:.1f} | "
              f"max/min {metrics['max_min_ratio']:.2f} | P {metrics.get('precision', float('nan')):.3f} "
              f"R {metrics.get('recall', float('nan')):.3f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["ring", "mnist", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=150.0, help="training time per recipe on MNIST")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per recipe on the ring")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    threads = reference_cpu.use_threads()
    device = genlearn.pick_device()
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["device"] = genlearn.describe_device(device)
    results["threads"] = threads
    if args.part in ("ring", "all"):
        seeds = list(range(args.seeds))
        results["ring"] = {"seeds": seeds, "recipes": ring_part(seeds)}
    if args.part in ("mnist", "all"):
        if not has_full_mnist():
            raise SystemExit("the MNIST part trains on full MNIST; build data/full first (see data/README.md)")
        results["mnist"] = {"seconds_per_recipe": args.seconds, "eval_samples": 10_000, "recipes": mnist_part(args.seconds, device)}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
