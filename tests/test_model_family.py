"""A new model family costs a Trainer subclass and one registry line: the command line needs no change.

The throwaway family of ``tiny_family.py`` is registered here, then trained, sampled, evaluated and
resumed exactly through ``genlearn.cli.main``, as README's "Adding a model family" describes.
"""

import json

import pytest
import torch

from genlearn.cli import main
from genlearn.models import MODELS, ModelEntry, register
from genlearn.training import Trainer
from test_cli import expect_error, small_and_steady  # noqa: F401 (an autouse fixture)
from tiny_family import TinyTrainer


@pytest.fixture(autouse=True)
def tiny_registered():
    register(ModelEntry(
        name="tiny", trainer="tiny_family:TinyTrainer", presets="tiny_family:TINY_PRESETS",
        data="a text file of numbers", summary="a throwaway family for the tests",
    ))
    yield
    del MODELS["tiny"]


def train(out, *extra) -> int:
    return main(["train", "tiny", "--preset", "smoke", "--device", "cpu", "--out", str(out), *map(str, extra)])


def test_tiny_follows_the_protocol():
    assert issubclass(TinyTrainer, Trainer) and not TinyTrainer.__abstractmethods__


def test_train_sample_eval_and_exact_resume(tmp_path, capsys):
    assert train(tmp_path / "straight") == 0
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    assert straight["model"] == "tiny" and straight["step"] == 12

    assert train(tmp_path / "resumed", "--max-steps", 5) == 0
    assert train(tmp_path / "resumed", "--resume") == 0
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert resumed["state"]["history"] == straight["state"]["history"]
    for key, value in straight["state"]["module.net"].items():
        assert torch.equal(resumed["state"]["module.net"][key], value)
    capsys.readouterr()

    assert main(["sample", "tiny", "--out", str(tmp_path / "straight"), "--num-samples", "2", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 2 and (tmp_path / "straight" / "samples.txt").read_text().strip().splitlines() == printed

    assert main(["eval", "tiny", "--out", str(tmp_path / "straight"), "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["model"] == "tiny" and metrics["step"] == 12 and metrics["mse"] >= 0 and metrics["data"]


def test_its_own_data_and_its_own_refusals(tmp_path, capsys):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("3 5 7\n")
    assert train(tmp_path / "run", "--data", numbers) == 0
    capsys.readouterr()
    assert main(["eval", "tiny", "--out", str(tmp_path / "run"), "--device", "cpu"]) == 0
    assert "target 5.0" in json.loads(capsys.readouterr().out)["data"]  # eval reloads the data the run trained on

    words = tmp_path / "words.txt"
    words.write_text("three five seven\n")
    expect_error(capsys, train(tmp_path / "other", "--data", words), "cannot train tiny", "numbers")
    expect_error(capsys, main(["sample", "tiny", "--out", str(tmp_path / "run"), "--length", "3", "--device", "cpu"]), "fixed size")
    assert not (tmp_path / "other").exists()
