"""genlearn.run: a run that checkpoints, resumes exactly, stops at a wall-clock limit, and never touches the caller's RNG."""

import dataclasses
import signal

import pytest
import torch

from genlearn.checkpoint import CheckpointError
from genlearn.run import CHECKPOINT_NAME, Run, RunError
from genlearn.text import GPT_NAMES_PRESETS, GPTTrainer
from genlearn.training import Callback
from tiny_family import TinyConfig, TinyTrainer


def dropout_gpt(**changes) -> GPTTrainer:
    """A small names GPT with dropout, whose steps draw from the global generator."""
    config = dataclasses.replace(GPT_NAMES_PRESETS["smoke"], num_steps=8, dropout=0.2, **changes)
    return GPTTrainer(config, "cpu")


def test_notebook_style_checkpoint_and_resume_after_a_restart(tmp_path):
    """A student passes a folder; after a kernel restart the same call continues, bit for bit."""
    straight = dropout_gpt()
    straight.fit(progress=False)

    before_restart = dropout_gpt()
    before_restart.fit(3, out=tmp_path, progress=False, resume="auto")
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    torch.randn(50)  # the restarted kernel's global generator is elsewhere

    after_restart = dropout_gpt()
    after_restart.fit(out=tmp_path, progress=False, resume="auto")
    assert after_restart.step == 8
    assert after_restart.history["loss"] == straight.history["loss"]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(after_restart.model.state_dict()[key], value), key


def test_training_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    trainer = TinyTrainer(TinyConfig(), "cpu")  # its steps draw from the global generator
    trainer.fit(progress=False)
    trainer.sample(2, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_the_same_config_trains_the_same_whatever_the_global_seed():
    torch.manual_seed(1)
    first = TinyTrainer(TinyConfig(), "cpu")
    first.fit(progress=False)
    torch.manual_seed(2)
    second = TinyTrainer(TinyConfig(), "cpu")
    second.fit(progress=False)
    assert first.history["loss"] == second.history["loss"]


def test_an_interrupted_fit_saves_then_raises(tmp_path, monkeypatch):
    """In a notebook, the stop button saves the run and stops the cell, instead of going on half-trained."""
    original_step = TinyTrainer.training_step

    def step_then_interrupt(self, step):
        terms = original_step(self, step)
        if step == 2:
            signal.raise_signal(signal.SIGINT)
        return terms

    monkeypatch.setattr(TinyTrainer, "training_step", step_then_interrupt)
    trainer = TinyTrainer(TinyConfig(), "cpu")
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGINT after step 3"):
        trainer.fit(out=tmp_path, progress=False)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == 3


def test_time_limit_stops_after_a_whole_step_and_saves(tmp_path):
    trainer = TinyTrainer(TinyConfig(num_steps=1000), "cpu")
    result = Run(trainer, tmp_path, max_seconds=0.0, progress=False).fit()
    assert result.stopped_by == "time limit" and result.steps == 1 and result.signal_number == 0
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == 1


def test_callbacks_run_after_the_trainers_own_each_on_its_period():
    trainer = TinyTrainer(TinyConfig(num_steps=7), "cpu")
    seen = []
    Run(trainer, callbacks=[Callback(3, lambda step, history: seen.append((step, len(history))))], progress=False).fit()
    assert seen == [(3, 3), (6, 6), (7, 7)]


def test_a_finished_run_does_nothing(tmp_path):
    trainer = TinyTrainer(TinyConfig(num_steps=4), "cpu")
    Run(trainer, tmp_path, progress=False).fit()
    again = TinyTrainer(TinyConfig(num_steps=4), "cpu")
    result = Run(again, tmp_path, resume=True, progress=False).fit()
    assert result.steps == 0 and again.step == 4


def test_periodic_checkpoints_hold_whole_steps(tmp_path):
    trainer = TinyTrainer(TinyConfig(num_steps=10), "cpu")
    saved_steps = []

    def read_checkpoint(step, history):
        saved_steps.append(torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"])

    Run(trainer, tmp_path, save_every=4, callbacks=[Callback(5, read_checkpoint)], progress=False).fit()
    assert saved_steps == [4, 8]  # read at steps 5 and 10, before the final save
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == 10


@pytest.mark.parametrize("problem", ["file", "exists", "missing", "other_data", "same_label_other_data", "other_config"])
def test_refusals_write_nothing(problem, tmp_path):
    folder = tmp_path / "run"
    if problem == "file":
        folder.write_text("not a folder")
    elif problem in ("exists", "other_data", "same_label_other_data", "other_config"):
        Run(TinyTrainer(TinyConfig(num_steps=2), "cpu"), folder, progress=False).fit()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    # The bundled MNIST subset, then full MNIST once it is on disk: the same label, other data.
    data = torch.tensor([5.0]) if problem == "same_label_other_data" else None
    trainer = TinyTrainer(TinyConfig(num_steps=2, width=5 if problem == "other_config" else 4), "cpu", data=data)
    expected = {
        "file": (RunError, "is a file"),
        "exists": (RunError, "already exists"),
        "missing": (RunError, "no checkpoint"),
        "other_data": (CheckpointError, "trained on data"),
        "same_label_other_data": (CheckpointError, "trained on data 'bundled = numbers with mean 1.0'"),
        "other_config": (CheckpointError, "another config"),
    }[problem]
    with pytest.raises(expected[0], match=expected[1]):
        Run(trainer, folder, resume=problem != "exists", data_label="elsewhere" if problem == "other_data" else "bundled")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
