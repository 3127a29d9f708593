"""Exact resume: a run that is stopped and resumed gives, bit for bit, the losses and weights of one that never stopped."""

import os
import signal

import pytest
import torch

from genlearn.cli import main
from genlearn.models import MODELS
from test_cli import small_and_steady  # noqa: F401 (an autouse fixture)

STEPS = 6


def train(out, model, *extra) -> int:
    return main(["train", model, "--preset", "smoke", "--device", "cpu", "--out", str(out), *map(str, extra)])


def load(out):
    return torch.load(out / "checkpoint.pt", weights_only=True)


def assert_same_run(resumed, straight):
    assert resumed["step"] == straight["step"] == STEPS
    assert resumed["state"]["history"] == straight["state"]["history"]  # every loss of every step, exactly
    assert len(straight["state"]["history"]["steps"]) == STEPS
    for key, value in straight["state"].items():
        if key.startswith(("module.", "optimizer.")):
            torch.testing.assert_close(resumed["state"][key], value, rtol=0, atol=0)


@pytest.fixture(scope="module")
def straight_runs(tmp_path_factory):
    """Uninterrupted runs, one per model, made on first use."""
    runs = {}

    def get(model):
        if model not in runs:
            out = tmp_path_factory.mktemp(f"straight_{model}")
            assert train(out, model, "--max-steps", STEPS) == 0
            runs[model] = load(out)
        return runs[model]

    return get


@pytest.mark.parametrize("model", ["vae", "gan", "gpt", "gpt_names"])
def test_stopped_then_resumed_equals_uninterrupted(model, tmp_path, straight_runs):
    assert train(tmp_path, model, "--max-steps", 2) == 0
    assert train(tmp_path, model, "--resume", "--max-steps", STEPS) == 0
    assert_same_run(load(tmp_path), straight_runs(model))


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_whole_step_and_resume_is_exact(signal_number, tmp_path, monkeypatch, capsys, straight_runs):
    handler_before = signal.getsignal(signal_number)
    trainer_class = MODELS["mlp"].trainer_class()
    original_step = trainer_class.training_step

    def step_then_signal(self, step):
        terms = original_step(self, step)
        if step == 2:
            os.kill(os.getpid(), signal_number)  # as Ctrl-C, or a scheduler's SIGTERM, mid-run
        return terms

    monkeypatch.setattr(trainer_class, "training_step", step_then_signal)
    assert train(tmp_path, "mlp", "--max-steps", STEPS) == 128 + signal_number
    assert load(tmp_path)["step"] == 3
    assert "--resume" in capsys.readouterr().err
    assert signal.getsignal(signal_number) == handler_before  # the command restored the handlers it replaced
    monkeypatch.undo()

    assert train(tmp_path, "mlp", "--resume", "--max-steps", STEPS) == 0
    assert_same_run(load(tmp_path), straight_runs("mlp"))
