"""The short VAE runs that notebook 05 compares: the pixel-averaging bug (section 5) and the β sweep (section 6).

Each run is ``SWEEP_PRESETS`` with a few fields changed. ``sweep_run`` trains one, or loads its shipped
weights (``data/pretrained/vae_sweep/<run>.pt``, written by ``benchmarks/pretrain.py --models vae_sweep``).
"""

from __future__ import annotations

import dataclasses

import torch

from genlearn.pretrained import load_pretrained
from genlearn.vae.training import VAEConfig, VAETrainer

SWEEP_NAME = "vae_sweep"  # the shipped weights' folder, and pretrain.py's name for the group
BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# Each run's changes to the sweep preset, by name. beta_1 is also section 5's correct (summed) run.
SWEEP_RUNS: dict[str, dict] = {
    **{f"beta_{beta:g}": {"beta": beta} for beta in BETAS},
    "pixel_mean": {"pixel_reduction": "mean"},
}


def beta_run(beta: float) -> str:
    """The run name of the sweep's ``beta``."""
    name = f"beta_{beta:g}"
    if name not in SWEEP_RUNS:
        raise KeyError(f"the sweep has no beta {beta:g}; it has {', '.join(f'{b:g}' for b in BETAS)}")
    return name


def shipped_name(run: str) -> str:
    return f"{SWEEP_NAME}/{run}"


def sweep_config(run: str, base: VAEConfig) -> VAEConfig:
    if run not in SWEEP_RUNS:
        raise KeyError(f"unknown sweep run {run!r}; choose one of {', '.join(SWEEP_RUNS)}")
    return dataclasses.replace(base, **SWEEP_RUNS[run])


def sweep_run(run: str, base: VAEConfig, device: torch.device | str, data=None, use_pretrained: bool = False) -> VAETrainer:
    """Sweep run ``run`` on ``base`` (the sweep preset in use), trained now or, with ``use_pretrained``, loaded."""
    if use_pretrained:
        return load_pretrained(VAETrainer, device, shipped_name(run), data=data)
    trainer = VAETrainer(sweep_config(run, base), device, data=data)
    trainer.fit(description=run)
    return trainer
