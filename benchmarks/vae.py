"""VAE benchmark on binarized MNIST: test NLL by the IWAE bound (k = 5000), and pytorch/examples' VAE as a baseline.

Run from the repository root, under the shared CPU lock (it takes about 35 minutes; ``--parts full-test`` 14 more):

    flock /tmp/genlearn-cpu.lock nice -n -10 .venv/bin/python benchmarks/vae.py

(``nice -n -10``, as root, gives the locked run priority over unlocked jobs on the shared machine.)

What it measures (1 or 2 torch threads, whichever a probe at the start finds faster; the load average is recorded):
1. ``VAE_PRESETS["cpu"]`` trained on full MNIST for at most 15 minutes of wall clock, scored on a fixed
   1,000-image test subset (``fixed_test_subset(test, 1000, seed=0)``: the first 1,000 of
   ``torch.randperm(10000)`` from a CPU generator seeded 0, each binarized once by a CPU generator seeded 0);
   IWAE bound at k = 5000 (± its standard error over images) and -ELBO. Sample quality by the shared
   MNIST-classifier metrics. Its weights go to ``data/pretrained/vae.pt``.
2. The same recipe on the bundled 4,000/1,000-digit subset (what a student without full MNIST gets), for a
   shorter, stated number of steps, scored on all 1,000 bundled test digits the same way.
3. pytorch/examples' VAE (784-400-20 MLP, summed BCE on [0, 1] pixels, 10 epochs, Adam 1e-3, batch 128,
   its DataLoader pipeline), timed; then ours trained on the same loss for the same wall clock in this
   run, its learning rate, batch size, KL warm-up and kind of decay chosen on a validation split, both scored by that
   loss (one z per image) on the full 10,000-image test set.
4. Only with ``--parts full-test``: the shipped weights on all 10,000 test images at k = 5000.
5. Only with ``--parts command-line``: ``genlearn train vae --preset cpu --data MNIST_ROOT`` and ``genlearn eval
   vae`` as a user runs them, each a timed process: the whole preset, with no time limit.

Results go to ``benchmarks/results/vae.json``; ``--smoke`` runs every part for a few seconds, to test the script.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlearn.data import ImageData, load_mnist  # noqa: E402
from genlearn.data.mnist import FULL_SOURCE, SUBSET_SOURCE, default_root, load_mnist_subset  # noqa: E402
from genlearn.device import describe_device  # noqa: E402
from genlearn.evaluation import classifier_metrics  # noqa: E402
from genlearn.pretrained import export_pretrained, load_pretrained, pretrained_path  # noqa: E402
from genlearn.vae import VAE_PRESETS, VAEConfig, VAETrainer  # noqa: E402

import reference_cpu  # noqa: E402
from timing import steps_that_fit, timed_process, train_timed  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "vae.json"
NUM_SAMPLES_FOR_METRICS = 10_000
SUBSET_STEPS = 6_000  # about 190 epochs of the 4,000 bundled digits
# Ours in the same-loss, same-time comparison: pytorch/examples' architecture on [0, 1] pixels, genlearn's training.
SAME_TIME_CHANGES = {"hidden_dim": 400, "num_layers": 1, "latent_dim": 20, "binarize": False}
# Its settings: the combination of this grid that scores best on the validation split, at the baseline's wall clock.
# (Earlier runs, all with exponential decay: over 1e-3..4e-3 x batch 64, 128 the largest of each did best, 104.94
# on validation; over 2e-3..8e-3 x batch 128, 256, rate 8e-3 and batch 128, 104.50; over 4e-3..1.6e-2 x batch 64,
# 128, 8e-3 and 128 again, 104.65, and 1.6e-2 diverged. The preset's KL warm-up over the first quarter beat none,
# 104.51 against 108.07 at 8e-3.)
SAME_LOSS_GRID = {
    "learning_rate": (8e-3, 1.2e-2),
    "batch_size": (128,),
    "kl_warmup_steps": (VAE_PRESETS["cpu"].kl_warmup_steps,),  # the preset's share of the run
    "learning_rate_decay": ("exponential", "cosine"),
}
VALIDATION_IMAGES = 10_000


def with_steps(config: VAEConfig, num_steps: int) -> VAEConfig:
    """``config`` shortened or lengthened to ``num_steps``, its KL warm-up kept at the same share of the run."""
    warmup = round(config.kl_warmup_steps * num_steps / config.num_steps)
    return dataclasses.replace(config, num_steps=num_steps, kl_warmup_steps=warmup)


def train_for(trainer: VAETrainer, seconds: float, chunk: int = 250) -> dict:
    """Train up to the config's num_steps, stopping early at ``seconds`` of wall clock."""
    run, chunk_seconds = train_timed(trainer, seconds, chunk)
    return {
        "steps": trainer.step,
        "planned_steps": trainer.config.num_steps,
        "train_seconds": round(run.seconds, 1),
        "median_ms_per_step": round(1000 * statistics.median(chunk_seconds), 2),
        "final_train_neg_elbo_last_500": round(trainer.history.mean("neg_elbo", last=500), 2),
    }


def pick_threads(trainer: VAETrainer, steps: int = 60) -> dict:
    """1 or 2 torch threads, whichever trains faster right now: on a shared, busy 2-core machine two threads
    spin-wait on each other (measured: 388 ms per step against 71 ms with one), while on a quiet one two are 1.27x faster."""
    medians = {}
    for threads in (2, 1, 2):
        reference_cpu.use_threads(threads)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            trainer.training_step(0)
            times.append(time.perf_counter() - start)
        medians[threads] = round(1000 * statistics.median(times), 2)
    chosen = 2 if medians[2] < medians[1] else 1
    reference_cpu.use_threads(chosen)
    return {"threads": chosen, "probe_median_ms_per_step": medians}


def jsonable(value):
    """Floats that JSON can hold: inf and nan become strings."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def timed_evaluate(trainer: VAETrainer, **options) -> dict:
    start = time.perf_counter()
    metrics = trainer.evaluate(**options)
    metrics = {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()}
    metrics["eval_seconds"] = round(time.perf_counter() - start, 1)
    return metrics


def sample_metrics(trainer: VAETrainer, num_samples: int) -> dict:
    results = {}
    for kind, binary in (("mean", False), ("binary", True)):
        images = trainer.sample(num_samples, seed=0, binary=binary)
        scores = classifier_metrics(images)
        results[kind] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in scores.items()}
    return results


class ExamplesVAE(nn.Module):
    """pytorch/examples vae/main.py, verbatim in structure: 784-400-20(-400-784), ReLU, sigmoid output."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def examples_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def run_examples_baseline(root: Path, epochs: int) -> dict:
    """pytorch/examples' training script (CPU branch: no workers), timed from the first epoch to the last test."""
    torch.manual_seed(1)
    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(root, train=True, transform=transforms.ToTensor()), batch_size=128, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(
        datasets.MNIST(root, train=False, transform=transforms.ToTensor()), batch_size=128, shuffle=False
    )
    model = ExamplesVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    test_losses = []
    for _ in range(epochs):
        model.train()
        for data, _ in train_loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(data)
            loss = examples_loss(recon, data, mu, logvar)
            loss.backward()
            optimizer.step()
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in test_loader:
                recon, mu, logvar = model(data)
                test_loss += examples_loss(recon, data, mu, logvar).item()
        test_losses.append(test_loss / len(test_loader.dataset))
    return {
        "epochs": epochs,
        "seconds": round(time.perf_counter() - start, 1),
        "test_loss": round(test_losses[-1], 2),
        "test_loss_per_epoch": [round(v, 2) for v in test_losses],
    }


def part_full(train, test, device, smoke: bool, train_limit: float, iwae_k: int, results: dict) -> dict:
    """Full binarized MNIST with the CPU preset, at most ``train_limit`` seconds; exports the weights."""
    config = VAE_PRESETS["cpu"]
    if smoke:
        config = with_steps(config, 400)
    # The learning rate decays over num_steps: shorten the preset's run to what fits in the time limit at the probed speed.
    probed_ms = results["threads"]["probe_median_ms_per_step"][results["threads"]["threads"]]
    config = with_steps(config, min(config.num_steps, int(0.95 * train_limit * 1000 / probed_ms)))
    trainer = VAETrainer(config, device, data=(train, test))
    full = {"config": dataclasses.asdict(config), "training": train_for(trainer, train_limit)}
    print("full MNIST training:", full["training"], flush=True)
    full["eval_k100"] = timed_evaluate(trainer, iwae_k=100)
    full["eval"] = timed_evaluate(trainer, iwae_k=iwae_k)
    print("full MNIST eval:", full["eval"], flush=True)
    full["samples"] = sample_metrics(trainer, 500 if smoke else NUM_SAMPLES_FOR_METRICS)
    print("sample metrics:", full["samples"], flush=True)
    on_bundled = VAETrainer(config, device, data=(train, load_mnist_subset("test")))
    on_bundled.load_state_dict(trainer.state_dict(), weights_only=True)
    full["eval_on_bundled_test"] = timed_evaluate(on_bundled, iwae_k=iwae_k)
    if not smoke:
        full["pretrained"] = str(export_pretrained(trainer).relative_to(ROOT))
    return full


def part_full_test(test, device, smoke: bool, iwae_k: int) -> dict:
    """The shipped weights (part ``full``'s) on the whole 10,000-image test set at ``iwae_k``: about 14 minutes."""
    trainer = load_pretrained(VAETrainer, device, data=(test, test))
    return {"weights": str(pretrained_path("vae").relative_to(ROOT)), "steps": trainer.step,
            "eval": timed_evaluate(trainer, num_images=500 if smoke else len(test), iwae_k=iwae_k)}


def part_subset(device, smoke: bool, train_limit: float, iwae_k: int) -> dict:
    """The same recipe on the bundled 4,000/1,000-digit subset, for ``SUBSET_STEPS`` steps."""
    subset_config = with_steps(VAE_PRESETS["cpu"], 200 if smoke else SUBSET_STEPS)
    trainer = VAETrainer(subset_config, device, data=(load_mnist_subset("train"), load_mnist_subset("test")))
    subset = {"source": SUBSET_SOURCE, "config": dataclasses.asdict(subset_config)}
    subset["training"] = train_for(trainer, train_limit)
    subset["eval"] = timed_evaluate(trainer, iwae_k=iwae_k)
    print("bundled subset:", subset, flush=True)
    return subset


def part_same_loss(train, test, device, smoke: bool) -> dict:
    """pytorch/examples' VAE, then ours on the same loss for the same wall clock, both on the full test set.

    Ours keeps pytorch/examples' architecture (784-400-20-400-784), so the comparison isolates what genlearn's
    training adds: data kept in memory instead of a DataLoader, a KL warm-up, and a learning rate decayed to 1e-4 over
    the run. Its learning rate, batch size, KL warm-up and kind of decay (exponential or cosine) are chosen from
    ``SAME_LOSS_GRID`` on a validation split (the last 10,000 training digits,
    held out while choosing), each candidate trained for the baseline's wall clock; the choice is then trained on
    all 60,000 for that wall clock and scored once on the test set.
    """
    # One thread for both: two threads spin-wait on each other whenever another job wakes up on this shared
    # machine (one such burst stretched a 250-step chunk of ours to 25 s), which makes a 40-second race a lottery.
    reference_cpu.use_threads(1)
    baseline = run_examples_baseline(default_root(), epochs=1 if smoke else 10)
    print("pytorch/examples VAE:", baseline, flush=True)
    budget = baseline["seconds"]
    fit = ImageData(train.images[:-VALIDATION_IMAGES], train.labels[:-VALIDATION_IMAGES], train.source)
    validation = ImageData(train.images[-VALIDATION_IMAGES:], train.labels[-VALIDATION_IMAGES:], train.source)
    candidates = {}
    for values in itertools.product(*SAME_LOSS_GRID.values()):
        changes = dict(zip(SAME_LOSS_GRID, values))
        config = dataclasses.replace(VAE_PRESETS["cpu"], **SAME_TIME_CHANGES, **changes)
        trainer, training = train_same_time(config, (fit, validation), device, budget)
        loss = trainer.evaluate(num_images=len(validation), iwae_k=0)["neg_elbo"]
        candidates[", ".join(f"{name}={value:g}" if isinstance(value, (int, float)) else f"{name}={value}"
                             for name, value in changes.items())] = {
            "changes": changes, "training": training, "validation_loss": round(loss, 3),
        }
        print("candidate:", candidates, flush=True)
    chosen = min(candidates.values(), key=lambda candidate: candidate["validation_loss"])
    ours_config = dataclasses.replace(VAE_PRESETS["cpu"], **SAME_TIME_CHANGES, **chosen["changes"])
    ours, training = train_same_time(ours_config, (train, test), device, budget)
    ours_run = {"config": dataclasses.asdict(ours.config), "training": training}
    ours_run["test"] = timed_evaluate(ours, num_images=len(test), iwae_k=0)
    ours_run["test_loss"] = ours_run["test"]["neg_elbo"]
    print("ours, same loss and wall clock:", ours_run, flush=True)
    return {
        "loss": "summed BCE over pixels of [0, 1] intensities + KL, one z per image, mean over the 10,000 test images",
        "pytorch_examples": baseline,
        "validation": {"images": f"the last {VALIDATION_IMAGES:,} training digits", "candidates": candidates},
        "genlearn": ours_run,
        "margin": round(baseline["test_loss"] - ours_run["test_loss"], 2),
        "genlearn_better": ours_run["test_loss"] < baseline["test_loss"],
        "torch_threads": 1,
    }


def train_same_time(config: VAEConfig, data, device, seconds: float) -> tuple[VAETrainer, dict]:
    """``config`` trained on ``data`` for ``seconds``, its learning rate decaying over the steps a probe finds fit."""
    steps = steps_that_fit(VAETrainer(config, device, data=data), seconds)
    trainer = VAETrainer(with_steps(config, steps), device, data=data)
    return trainer, train_for(trainer, seconds, chunk=100)


def part_command_line(smoke: bool) -> dict:
    """``genlearn train vae --preset cpu --data MNIST_ROOT``, then ``genlearn eval vae``, as separate processes: the
    whole preset as a user runs it (no time limit), its training process timed, its eval's JSON kept."""
    genlearn = [sys.executable, "-m", "genlearn"]
    with tempfile.TemporaryDirectory() as folder:
        commands = {
            "train": [*genlearn, "train", "vae", "--preset", "smoke" if smoke else "cpu", "--data", str(default_root()),
                      "--device", "cpu", "--out", folder],
            "eval": [*genlearn, "eval", "vae", "--device", "cpu", "--out", folder],
        }
        seconds, outputs = {}, {}
        for name, command in commands.items():
            elapsed, outputs[name] = timed_process(command)
            seconds[name] = round(elapsed, 1)
    evaluation = json.loads(outputs["eval"])
    print("command line:", seconds, evaluation, flush=True)
    return {"commands": {name: " ".join(["genlearn", *command[3:]]).replace(folder, "RUN")
                         for name, command in commands.items()},
            "process_seconds": seconds, "eval": evaluation}


PARTS = {"full": "full_mnist", "subset": "bundled_subset", "same-loss": "same_loss_same_time",
         "full-test": "full_mnist_whole_test_set", "command-line": "command_line_cpu_preset"}
# Not by default: full-test (once per shipped model: 14 minutes of IWAE at k = 5000) and command-line (the whole
# preset, about 15 minutes, then its eval).
DEFAULT_PARTS = ["full", "subset", "same-loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds per part, to test this script")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=DEFAULT_PARTS,
                        help="run only these parts (default: all but full-test); the others' results are kept from the "
                        "existing JSON")
    args = parser.parse_args()
    reference_cpu.use_threads()
    device = torch.device("cpu")
    smoke = args.smoke
    train_limit = 20 if smoke else 15 * 60
    iwae_k = 50 if smoke else 5000
    target = RESULTS.with_name("vae_smoke.json") if smoke else RESULTS
    results: dict = json.loads(target.read_text()) if target.is_file() else {}
    results.update({
        "machine": f"{platform.processor() or platform.machine()}, {describe_device(device)}",
        "torch": torch.__version__,
        "smoke": smoke,
        "test_subset": "fixed_test_subset(test, 1000, seed=0): first 1,000 of torch.randperm(10000, "
        "generator=manual_seed(0)), sorted; binarized once with torch.bernoulli, CPU generator manual_seed(0)",
    })

    def save(part: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(jsonable(results), indent=2) + "\n")
        print(f"wrote {part} to {target.relative_to(ROOT)}", flush=True)

    run_start = time.perf_counter()
    results["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    train, test = load_mnist("train"), load_mnist("test")
    if train.source != FULL_SOURCE:
        raise SystemExit(f"full MNIST is not under {default_root()}; build it first (see data/README.md)")
    probe = VAETrainer(VAE_PRESETS["cpu"], device, data=(train, test))  # a throwaway copy: the probe's steps are not kept
    results["threads"] = pick_threads(probe)
    print("threads:", results["threads"], flush=True)
    conditions = {"threads": results["threads"], "load_average_at_start": results["load_average_at_start"]}
    if "full" in args.parts:
        results["full_mnist"] = {**conditions, **part_full(train, test, device, smoke, train_limit, iwae_k, results)}
        save("full")
    if "subset" in args.parts:
        results["bundled_subset"] = {**conditions, **part_subset(device, smoke, train_limit, iwae_k)}
        save("subset")
    if "full-test" in args.parts:
        results["full_mnist_whole_test_set"] = {**conditions, **part_full_test(test, device, smoke, iwae_k)}
        save("full-test")
    if "command-line" in args.parts:
        results["command_line_cpu_preset"] = {**conditions, **part_command_line(smoke)}
        save("command-line")
    if "same-loss" in args.parts:
        results["same_loss_same_time"] = {**conditions, **part_same_loss(train, test, device, smoke)}
    results["seconds_of_last_run"] = round(time.perf_counter() - run_start, 1)
    results["parts_of_last_run"] = args.parts
    results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    save("results")
    print_table(results)


def print_table(results: dict) -> None:
    print("| measurement | value |\n|---|---|")
    if "full_mnist" in results:
        full = results["full_mnist"]
        k = full["eval"]["iwae_k"]
        print(f"| full MNIST, IWAE k={k} NLL (1,000-image subset) | {full['eval']['iwae_nll']:.2f} ± {full['eval']['iwae_nll_stderr']:.2f} |")
        print(f"| full MNIST, -ELBO (same subset) | {full['eval']['neg_elbo']:.2f} |")
        print(f"| full MNIST, training | {full['training']['steps']} steps, {full['training']['train_seconds']} s |")
        print(f"| full-MNIST model on the bundled test digits, IWAE NLL | {full['eval_on_bundled_test']['iwae_nll']:.2f} |")
        if "mean" in full["samples"]:
            mean = full["samples"]["mean"]
            print(f"| samples (decoder means): FID / IS | {mean['fid']:.2f} / {mean['inception_score']:.2f} |")
    if "bundled_subset" in results:
        subset = results["bundled_subset"]["eval"]
        print(f"| bundled subset, IWAE k={subset['iwae_k']} NLL | {subset['iwae_nll']:.2f} ± {subset['iwae_nll_stderr']:.2f} |")
    if "same_loss_same_time" in results:
        same = results["same_loss_same_time"]
        baseline = same["pytorch_examples"]
        print(f"| pytorch/examples VAE test loss ({baseline['seconds']} s) | {baseline['test_loss']:.2f} |")
        ours = same["genlearn"]
        chosen = (f"lr {ours['config']['learning_rate']:g}, {ours['config'].get('learning_rate_decay', 'exponential')} "
                  f"decay, batch {ours['config']['batch_size']}, KL warm-up {ours['config']['kl_warmup_steps']} steps, "
                  "chosen on validation")
        print(f"| ours, same loss, same wall clock ({chosen}) | {ours['test_loss']:.2f} |")


if __name__ == "__main__":
    main()
