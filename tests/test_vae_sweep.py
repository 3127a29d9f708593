"""Notebook 05's short runs (genlearn.vae.sweep) and their shipped weights, stored in float16."""

import dataclasses
import re
import sys
from pathlib import Path

import pytest
import torch

from genlearn.checkpoint import CheckpointError
from genlearn.data.mnist import ImageData
from genlearn.data.files import checked_file
from genlearn.pretrained import export_pretrained, how_to_restore, load_pretrained, pretrained_file, pretrained_path
from genlearn.vae import SWEEP_PRESETS, VAETrainer
from genlearn.vae.sweep import BETAS, SWEEP_RUNS, beta_run, shipped_name, sweep_config, sweep_run


def tiny_data(seed: int = 0) -> tuple[ImageData, ImageData]:
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> ImageData:
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        return ImageData(images, torch.arange(n) % 10, "random")

    return split(256), split(64)


def test_each_run_changes_only_its_own_fields():
    base = SWEEP_PRESETS["cpu"]
    assert sweep_config("beta_4", base) == dataclasses.replace(base, beta=4.0)
    assert sweep_config("beta_1", base) == base  # section 5's correct run is the preset itself
    assert sweep_config("pixel_mean", base).pixel_reduction == "mean"
    assert [beta_run(beta) for beta in BETAS] == [f"beta_{beta:g}" for beta in BETAS]
    with pytest.raises(KeyError, match="choose one of"):
        sweep_config("beta_3", base)
    with pytest.raises(KeyError, match="has no beta 3"):
        beta_run(3)


@pytest.mark.parametrize("run", list(SWEEP_RUNS))
def test_every_run_ships_checked_weights_of_its_own_config(run):
    name = shipped_name(run)
    assert checked_file(pretrained_file(name), fix="") == pretrained_path(name)
    trainer = load_pretrained(VAETrainer, "cpu", name, data=tiny_data())
    assert trainer.config == sweep_config(run, SWEEP_PRESETS["cpu"])
    assert trainer.step == trainer.config.num_steps
    assert all(p.dtype == torch.float32 for p in trainer.vae.parameters())  # stored in float16, loaded as float32


def test_float16_export_halves_the_file_and_loads_rounded(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLEARN_DATA_DIR", str(tmp_path))
    data = tiny_data()
    trainer = VAETrainer(SWEEP_PRESETS["smoke"], "cpu", data=data)
    full = export_pretrained(trainer, "group/full").stat().st_size
    half = export_pretrained(trainer, "group/half", dtype=torch.float16).stat().st_size
    assert 0.4 < half / full < 0.6
    loaded = load_pretrained(VAETrainer, "cpu", "group/half", data=data)
    for (key, stored), original in zip(loaded.vae.state_dict().items(), trainer.vae.state_dict().values()):
        assert stored.dtype == original.dtype, key
        torch.testing.assert_close(stored, original.half().float(), rtol=0, atol=0)
    with pytest.raises(CheckpointError, match=re.escape("python benchmarks/pretrain.py --models group`")):
        load_pretrained(VAETrainer, "cpu", "group/absent", data=data)
    assert how_to_restore("vae_sweep/beta_4").endswith("--models vae_sweep`.")


def test_sweep_run_trains_or_loads(monkeypatch):
    data = tiny_data()
    base = dataclasses.replace(SWEEP_PRESETS["smoke"], num_steps=3)
    trained = sweep_run("beta_4", base, "cpu", data)
    assert trained.step == 3 and trained.config.beta == 4.0
    loaded = sweep_run("beta_4", base, "cpu", data, use_pretrained=True)
    assert loaded.config == sweep_config("beta_4", SWEEP_PRESETS["cpu"])  # the shipped cpu run, whatever the base


def test_pretrain_builds_the_sweep_as_one_group_stored_in_float16():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import pretrain

    jobs = list(pretrain.trainings(["vae_2d", "vae_sweep"], "smoke", "cpu"))
    assert [(name, dtype) for name, _, dtype in jobs] == [("vae_2d", "float16")] + [
        (shipped_name(run), "float16") for run in SWEEP_RUNS]
    for (name, trainer, _), run in zip(jobs[1:], SWEEP_RUNS):
        assert trainer.config == sweep_config(run, SWEEP_PRESETS["smoke"]) and trainer.step == 0
