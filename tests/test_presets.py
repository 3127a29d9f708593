"""Every preset of every model builds and takes two optimizer steps on this CPU, at fp32.

The gpu presets have not all run on a GPU; this catches their shape and config errors without one. Batches
are cut to ``BATCH`` (the presets' batch sizes are about memory and speed, not shapes), and steps run in fp32.
"""

import dataclasses
import importlib
import math
import pkgutil

import pytest
import torch

import genlearn
from genlearn.budget import Presets
from genlearn.training import Trainer
from genlearn.vae.linear_gaussian import LinearGaussian, PosteriorFitConfig, fit_gaussian_posterior
from test_cli import small_and_steady  # noqa: F401 (an autouse fixture: bundled MNIST, one thread)

BATCH = 4


def all_presets() -> dict[str, Presets]:
    """Every ``Presets`` the package defines, by ``module:NAME`` of the module that defines it (the deepest)."""
    found = {}
    for module_info in pkgutil.walk_packages(genlearn.__path__, "genlearn."):
        if module_info.name.endswith("__main__"):  # runs the command line when imported
            continue
        if module_info.name.endswith(".exercises"):  # budgets of exercise checks: tests/test_exercises_*.py run them
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if isinstance(value, Presets):
                label = f"{module_info.name}:{name}"
                if id(value) not in found or label.count(".") > found[id(value)][0].count("."):
                    found[id(value)] = (label, value)
    return dict(sorted(found.values(), key=lambda item: item[0]))


def trainer_for(config) -> type[Trainer]:
    """The trainer whose config class is exactly the config's type."""
    matches = {cls for cls in _all_subclasses(Trainer) if getattr(cls, "config_class", None) is type(config)}
    assert len(matches) == 1, f"{type(config).__name__} is the config of {matches or 'no trainer'}"
    return matches.pop()


def _all_subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _all_subclasses(subclass)


PRESETS = all_presets()
CASES = [(label, name) for label in PRESETS for name in ("smoke", "cpu", "gpu")]


def test_every_family_module_has_presets():
    modules = {label.split(":")[0] for label in PRESETS}
    assert {"genlearn.gan.training", "genlearn.vae.training", "genlearn.text.training"} <= modules, modules


@pytest.mark.parametrize("label, preset", CASES, ids=[f"{label.split(':')[1]}-{name}" for label, name in CASES])
def test_preset_takes_two_steps_on_cpu(label, preset):
    config = PRESETS[label][preset]
    changes = {"batch_size": min(config.batch_size, BATCH)}
    if getattr(config, "eval_every", 0):
        changes["eval_every"] = 0  # two steps, not an evaluation of the whole val split
    config = dataclasses.replace(config, **changes)
    if isinstance(config, PosteriorFitConfig):  # notebook 04 fits q(z|x) to a linear-Gaussian model
        model = LinearGaussian.random(data_dim=4, latent_dim=2, noise_std=0.8, generator=torch.Generator().manual_seed(0))
        x, _ = model.sample(3, generator=torch.Generator().manual_seed(1))
        _, history = fit_gaussian_posterior(model, x, dataclasses.replace(config, num_steps=2), progress=False)
    else:
        trainer = trainer_for(config)(config, "cpu", precision="fp32")
        history = trainer.fit(2, progress=False)
        assert trainer.step == 2
    assert len(history) == 2
    assert all(math.isfinite(value) for name in history.names for value in history[name])
