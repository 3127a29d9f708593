"""Hostile and careless input to the command line, runs and checkpoints (issue 16): one message, no traceback.

Every refusal is checked the same way (``refused``): exit status 1, exactly one line on stderr that starts
with "genlearn", no "Traceback", and the files that were there before are unchanged. Commands run in-process
through ``genlearn.cli.main``; a subprocess only where a real process matters (a closed pipe, Ctrl-C).
"""

import copy
import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from genlearn.cli import MAX_LENGTH, MAX_NUM_SAMPLES, main
from genlearn.models import get_model
from genlearn.run import LOCK_NAME, Run
from test_cli import ROOT, small_and_steady, snapshot  # noqa: F401 (an autouse fixture)
from tiny_family import TinyConfig, TinyTrainer


def train(out, *extra, model="mlp") -> int:
    return main(["train", model, "--preset", "smoke", "--device", "cpu", "--out", str(out), *map(str, extra)])


def sample(*extra, model="mlp") -> int:
    return main(["sample", model, "--device", "cpu", *map(str, extra)])


def refused(capsys, code: int, *fragments: str, after_progress: bool = False) -> str:
    """The one error line; with ``after_progress``, the line after a training progress bar."""
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 1, (code, err)
    assert "Traceback" not in captured.out + captured.err
    if after_progress:
        err = err.replace("\r", "\n").splitlines()[-1]
    assert len(err.splitlines()) == 1 and err.startswith("genlearn "), err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step mlp run, and its checkpoint as loaded: the material every damaged checkpoint is made from."""
    out = tmp_path_factory.mktemp("trained")
    assert train(out, "--max-steps", 2) == 0
    return out, torch.load(out / "checkpoint.pt", weights_only=True)


def write_damaged(folder: Path, payload: dict, damage) -> Path:
    payload = copy.deepcopy(payload)
    damage(payload)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(payload, folder / "checkpoint.pt")
    return folder / "checkpoint.pt"


def set_config(**values):
    return lambda payload: payload["config"].update(values)


def fill_weights(value: float):
    def damage(payload):
        for tensor in payload["state"]["module.model"].values():
            tensor.fill_(value)

    return damage


# --- kinds 1 and 7: checkpoints that load as torch files but hold the wrong content -------------------------------

DAMAGES = {
    "no weights": (lambda p: p["state"].pop("module.model"), "has no weights"),
    "no step": (lambda p: p.pop("step"), "no 'step' entry"),
    "step of the wrong type": (lambda p: p.update(step="x"), "'step' entry is str"),
    "state of the wrong type": (lambda p: p.update(state=5), "'state' entry is int"),
    "config of the wrong type": (lambda p: p.update(config=[1, 2]), "'config' entry is list"),
    "a newer format": (lambda p: p.update(format_version=99), "format version 99"),
    "field of the wrong type": (set_config(embedding_dim="ten"), "'embedding_dim' is 'ten', not an int"),
    "bool for an int": (set_config(seed=True), "'seed' is True"),
    "NaN learning rate": (set_config(learning_rate=float("nan")), "not a finite float"),
    "unknown field": (set_config(colour="red"), "unknown field 'colour'"),
    "invalid value": (set_config(dataset="bogus"), "dataset must be one of"),
    "negative size": (set_config(hidden_dim=-5), "cannot build"),
    "a 320 GB layer": (set_config(hidden_dim=10**12), "memory this device has"),
    "weights that are not tensors": (lambda p: p["state"].update({"module.model": "weights"}), "not all tensors"),
    "weights of another shape": (lambda p: p["state"].update({"module.model": {"x": torch.zeros(2)}}), "do not fit"),
    "NaN weights": (fill_weights(float("nan")), "not finite"),
    "infinite weights": (fill_weights(float("inf")), "not finite"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_checkpoint_is_refused_before_anything_is_built(damage, trained, tmp_path, capsys):
    change, message = DAMAGES[damage]
    path = write_damaged(tmp_path / "run", trained[1], change)
    before = snapshot(tmp_path)
    capsys.readouterr()
    for command in ("sample", "eval"):
        err = refused(capsys, main([command, "mlp", "--device", "cpu", "--checkpoint", str(path)]), message)
        assert str(path) in err  # the message names the file
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p["state"].pop("optimizer.model"), "cannot continue a run: it has no 'optimizer.model'"),
        (lambda p: p["state"].update(rng={"torch": torch.zeros(3)}), "training state does not load"),
        (lambda p: p["state"].update(history="long"), "training state does not load"),
        (set_config(colour="red"), "another config (colour: checkpoint 'red'"),
    ],
)
def test_resuming_a_checkpoint_that_cannot_continue_this_run(damage, message, trained, tmp_path, capsys):
    write_damaged(tmp_path / "run", trained[1], damage)
    before = snapshot(tmp_path)
    capsys.readouterr()
    refused(capsys, train(tmp_path / "run", "--resume"), message)
    assert snapshot(tmp_path) == before


class RunsAPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("content", ["payload", "random", "empty"])
def test_hostile_or_random_files_never_run_and_never_advise_unsafe_loading(content, tmp_path, capsys):
    """Kind 14: torch's advice to retry with weights_only=False is never passed on."""
    path = tmp_path / "checkpoint.pt"
    marker = tmp_path / "payload_ran"
    if content == "payload":
        torch.save({"format": "genlearn-checkpoint", "model": RunsAPayload(marker)}, path)
    else:
        path.write_bytes(os.urandom(3000) if content == "random" else b"")
    err = refused(capsys, sample("--checkpoint", path), "not a safe genlearn checkpoint")
    assert "weights_only" not in err and "can still be loaded" not in err
    if content == "payload":
        assert "posix.system" in err or "os.system" in err  # what it asked to run, so the user knows why
    assert not marker.exists()


def test_eval_prints_strict_json_when_a_metric_is_not_finite(trained, monkeypatch, capsys):
    mlp = get_model("mlp").trainer_class()
    monkeypatch.setattr(mlp, "evaluate", lambda self: {"test_nll": float("nan"), "ratio": float("inf"), "data": "x"})
    capsys.readouterr()
    assert main(["eval", "mlp", "--device", "cpu", "--out", str(trained[0])]) == 0

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    record = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    assert record["test_nll"] is None and record["ratio"] is None


# --- kind 5: run folders that cannot be written ------------------------------------------------------------------


def test_an_unwritable_run_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    refused(capsys, train(tmp_path / "a_file" / "run"), "cannot write to the run folder", "a_file")
    refused(capsys, train(tmp_path / ("x" * 300)), "cannot write to the run folder", "name too long")
    assert (tmp_path / "a_file").read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_run_folder_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        refused(capsys, train(folder), "cannot write to the run folder", "Permission denied")
    finally:
        folder.chmod(0o755)
    assert not any(folder.iterdir())


def test_a_failing_save_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    """A full disk at the second save: one message that says the first checkpoint is intact."""
    from genlearn import run as run_module

    real_save, calls = run_module.save_checkpoint, []

    def save_then_fill_the_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(*args, **kwargs)

    monkeypatch.setattr(run_module, "save_checkpoint", save_then_fill_the_disk)
    err = refused(capsys, train(tmp_path, "--max-steps", 4, "--save-every", 2), "No space left", after_progress=True)
    assert "still holds step 2, intact" in err and "--resume" in err
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 2
    assert not (tmp_path / LOCK_NAME).exists()  # the folder is released for the resume


# --- kind 6: numbers out of range ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, message",
    [
        (["train", "--seed", -1], "--seed must be between 0 and"),
        (["train", "--seed", 2**70], "--seed must be between 0 and"),
        (["sample", "--seed", -1], "--seed must be between 0 and"),
        (["sample", "--num-samples", 10**9], f"--num-samples must be between 1 and {MAX_NUM_SAMPLES}"),
        (["sample", "--length", 10**9], f"--length must be between 1 and {MAX_LENGTH}"),
        (["train", "--max-steps", 0], "--max-steps must be at least 1"),
    ],
)
def test_numbers_out_of_range(command, message, trained, tmp_path, capsys):
    name, *options = command
    before = snapshot(trained[0])
    if name == "train":
        code = train(tmp_path / "run", *options)
    else:
        code = sample("--out", trained[0], *options)
    refused(capsys, code, message)
    assert not (tmp_path / "run").exists() and snapshot(trained[0]) == before


def test_a_budget_or_device_from_the_environment_that_does_not_exist(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENLEARN_BUDGET", "huge")
    refused(capsys, main(["train", "mlp", "--device", "cpu", "--out", str(tmp_path / "run")]), "GENLEARN_BUDGET='huge'")
    monkeypatch.setenv("GENLEARN_BUDGET", "smoke")
    if torch.cuda.device_count() < 4:
        monkeypatch.setenv("GENLEARN_DEVICE", "cuda:3")
        code = main(["train", "mlp", "--out", str(tmp_path / "run")])
        refused(capsys, code, "GENLEARN_DEVICE='cuda:3'", "not present")
    monkeypatch.setenv("GENLEARN_DEVICE", "graphics card")
    refused(capsys, main(["train", "mlp", "--out", str(tmp_path / "run")]), "GENLEARN_DEVICE", "not a device name")
    assert not (tmp_path / "run").exists()


# --- kind 8: Ctrl-C while torch is still importing ----------------------------------------------------------------

INTERRUPT_WHILE_TORCH_IMPORTS = textwrap.dedent("""
    import os, runpy, signal, sys

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if the tests run detached

    class CtrlC:  # Ctrl-C arrives just as torch starts to import
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)

    sys.meta_path.insert(0, CtrlC())
    sys.argv = ["genlearn", "--help"]
    runpy.run_module("genlearn", run_name="__main__")
""")


def test_ctrl_c_at_start_up_exits_quietly():
    command = [sys.executable, "-c", INTERRUPT_WHILE_TORCH_IMPORTS]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr


# --- kind 9: two runs into one folder ------------------------------------------------------------------------------


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, capsys):
    holder = Run(TinyTrainer(TinyConfig(num_steps=2), "cpu"), tmp_path, progress=False)  # another run, not yet done
    try:
        refused(capsys, train(tmp_path, "--max-steps", 2), "another run", f"process {os.getpid()}")
        assert not (tmp_path / "checkpoint.pt").exists()
        holder.fit()
    finally:
        holder.close()
    before = snapshot(tmp_path)
    capsys.readouterr()
    refused(capsys, train(tmp_path, "--max-steps", 2), "already exists")  # the first run's checkpoint stays
    assert snapshot(tmp_path) == before and not (tmp_path / LOCK_NAME).exists()


# --- kind 10: sample --output --------------------------------------------------------------------------------------


def test_sample_never_overwrites_a_checkpoint_or_other_files(trained, tmp_path, capsys):
    out = trained[0]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("anna\nbob\n")
    before = snapshot(out), snapshot(tmp_path)
    capsys.readouterr()
    refused(capsys, sample("--out", out, "--output", out / "checkpoint.pt"), "must end in .txt")
    refused(capsys, sample("--out", out, "--output", corpus), "already exists", "not a samples file")
    refused(capsys, sample("--out", out, "--output", tmp_path), "is a folder")
    refused(capsys, sample("--out", out, "--output", tmp_path / "grid.xyz"), "must end in .txt")
    refused(capsys, sample("--out", out, "--output", corpus / "samples.txt"), "cannot write", str(corpus))
    (tmp_path / "samples.txt").symlink_to(out / "checkpoint.pt")
    refused(capsys, sample("--out", out, "--output", tmp_path / "samples.txt"), "not a samples file")
    (tmp_path / "samples.txt").unlink()
    assert (snapshot(out), snapshot(tmp_path)) == before

    # A previous samples file is what --output may replace.
    (tmp_path / "samples.txt").write_text("old samples\n")
    assert sample("--out", out, "--output", tmp_path / "samples.txt", "--num-samples", 2) == 0
    assert (tmp_path / "samples.txt").read_text() != "old samples\n"


def test_sample_into_a_closed_pipe_exits_quietly(trained):
    command = [sys.executable, "-m", "genlearn", "sample", "mlp", "--device", "cpu", "--out", str(trained[0]),
               "--num-samples", "3", "--output", str(trained[0] / "samples.txt")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(command, **pipes, cwd=ROOT, env=environment) as process:
        process.stdout.close()  # a reader gone before the samples come (`| head -1` once it has its line)
        err = process.stderr.read().decode()
        code = process.wait()
    assert code == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


# --- kind 15: what a kill during a save leaves behind ------------------------------------------------------------


def test_a_run_clears_temporary_files_of_a_killed_save(trained, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes((trained[0] / "checkpoint.pt").read_bytes())
    leftover = folder / ".checkpoint.pt.k1ll3d.tmp"
    leftover.write_bytes(b"half a checkpoint")
    assert train(folder, "--resume", "--max-steps", 3) == 0
    assert not leftover.exists() and not (folder / LOCK_NAME).exists()
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["step"] == 3
