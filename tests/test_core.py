"""The training core: device, budget, precision, seeding, checkpoints and the loop."""

import dataclasses
import os

import pytest
import torch

import genlearn
from genlearn import budget
from genlearn.checkpoint import CheckpointError, load_checkpoint, load_module_state, save_checkpoint
from genlearn.device import DeviceUnavailableError, pick_device
from genlearn.precision import Precision
from genlearn.training import Callback, LossHistory, StopTraining, evaluating, train_loop
from tiny_family import TinyConfig, TinyTrainer


# device


def test_pick_device_defaults_to_cpu_here():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu") == torch.device("cpu")


def test_missing_device_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="'cuda' was requested but is not present"):
        pick_device("cuda")
    with pytest.raises(DeviceUnavailableError, match="not a device name"):
        pick_device("tpu7")


def test_device_env_override(monkeypatch):
    monkeypatch.setenv("GENLEARN_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")


# budget


def test_budget_env_selects_preset(monkeypatch):
    presets = budget.Presets(smoke=1, cpu=2, gpu=3)
    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    assert presets.for_device("cpu") == 2
    assert presets.for_device(torch.device("cuda")) == 3
    assert presets.for_device("mps") == 2
    monkeypatch.setenv(budget.BUDGET_ENV, "smoke")
    assert presets.for_device(torch.device("cuda")) == 1 and budget.under_test()
    monkeypatch.setenv(budget.BUDGET_ENV, "tiny")
    with pytest.raises(ValueError, match="not a budget"):
        presets.for_device("cpu")
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        presets["huge"]


# precision


def test_precision_auto_is_fp32_on_cpu():
    precision = Precision("cpu")
    assert precision.mode == "fp32" and precision.scaler is None
    with precision.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="needs a CUDA device"):
        Precision("cpu", "fp16")
    with pytest.raises(ValueError, match="unknown precision"):
        Precision("cpu", "fp8")


def test_bf16_autocast_runs_on_cpu_when_asked():
    with Precision("cpu", "bf16").autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16


def test_precision_step_clips_gradients():
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    Precision("cpu").backward((parameter * torch.tensor([30.0, 40.0, 0.0])).sum())
    Precision("cpu").step(optimizer, clip_grad_norm=1.0)
    torch.testing.assert_close(parameter.detach(), torch.tensor([-0.6, -0.8, 0.0]))


# seeding


def test_same_seed_same_training_on_cpu():
    def run():
        genlearn.seed_everything(3)
        trainer = TinyTrainer(TinyConfig(), "cpu")
        return trainer.fit(progress=False)["loss"]

    first, second = run(), run()
    assert first == second
    assert first[-1] < first[0]


# checkpoints


def test_checkpoint_round_trip(tmp_path):
    trainer = TinyTrainer(TinyConfig(), "cpu")
    trainer.fit(progress=False)
    path = save_checkpoint(tmp_path / "c.pt", model="tiny", config=trainer.config, state=trainer.state_dict(), step=trainer.step)
    checkpoint = load_checkpoint(path, expected_model="tiny", expected_config=TinyConfig())
    assert checkpoint.step == 12 and checkpoint.config == dataclasses.asdict(TinyConfig())
    restored = TinyTrainer(TinyConfig(seed=1), "cpu")
    restored.load_state_dict(checkpoint.state)
    torch.testing.assert_close(restored.modules["net"].weight, trainer.modules["net"].weight)
    assert restored.step == 12 and restored.history["loss"] == trainer.history["loss"]


def test_resumed_trainer_continues_exactly(tmp_path):
    genlearn.seed_everything(0)
    straight = TinyTrainer(TinyConfig(), "cpu")
    straight.fit(progress=False)

    genlearn.seed_everything(0)
    first = TinyTrainer(TinyConfig(), "cpu")
    first.fit(num_steps=5, progress=False)
    path = save_checkpoint(tmp_path / "c.pt", model="tiny", config=first.config, state=first.state_dict(), step=first.step)
    torch.randn(100)  # disturb the global generator: resume must restore it
    resumed = TinyTrainer(TinyConfig(seed=5), "cpu")
    resumed.load_state_dict(load_checkpoint(path).state)
    resumed.fit(progress=False)
    assert resumed.history["loss"] == straight.history["loss"]


def test_gpu_checkpoint_loads_on_cpu(tmp_path, monkeypatch):
    """A file whose tensors are tagged cuda:0, as a GPU run writes them, loads on this CPU via map_location."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    net = torch.nn.Linear(2, 2)
    path = save_checkpoint(tmp_path / "gpu.pt", model="tiny", config={}, state={"module.net": net.state_dict()}, step=1)
    monkeypatch.undo()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    checkpoint = load_checkpoint(path, map_location="cpu")
    assert checkpoint.state["module.net"]["weight"].device.type == "cpu"
    torch.testing.assert_close(checkpoint.state["module.net"]["weight"], net.weight.detach())


def test_compile_and_ddp_prefixes_do_not_break_loading(tmp_path):
    net = torch.nn.Linear(2, 2)
    prefixed = {f"_orig_mod.module.{k}": v for k, v in net.state_dict().items()}
    path = save_checkpoint(tmp_path / "c.pt", model="tiny", config={}, state={"module.net": prefixed}, step=0)
    fresh = torch.nn.Linear(2, 2)
    load_module_state(fresh, load_checkpoint(path).state["module.net"])
    torch.testing.assert_close(fresh.weight, net.weight)


def test_wrong_model_or_config_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model="gan", config=TinyConfig(), state={}, step=0)
    with pytest.raises(CheckpointError, match="holds a 'gan' model, not 'vae'"):
        load_checkpoint(path, expected_model="vae")
    with pytest.raises(CheckpointError, match="width: checkpoint 4 vs requested 8"):
        load_checkpoint(path, expected_config=TinyConfig(width=8))
    with pytest.raises(CheckpointError, match="do not fit this Linear"):
        load_module_state(torch.nn.Linear(3, 3), torch.nn.Linear(2, 2).state_dict())


def test_missing_and_corrupt_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a safe genlearn checkpoint"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="not a genlearn checkpoint"):
        load_checkpoint(foreign)


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EXPLOIT_MARKER']}",))


def test_malicious_checkpoint_cannot_run_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EXPLOIT_MARKER", str(marker))
    path = tmp_path / "evil.pt"
    torch.save({"format": "genlearn-checkpoint", "payload": Exploit()}, path)
    with pytest.raises(CheckpointError, match="corrupt or not a safe"):
        load_checkpoint(path)
    assert not marker.exists()


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", model="tiny", config={}, state={"x": torch.ones(3)}, step=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model="tiny", config={}, state={"x": torch.zeros(3)}, step=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


# training loop


def test_train_loop_records_named_terms_and_calls_back():
    calls = []
    history = train_loop(
        lambda step: {"a": torch.tensor(float(step)), "b": 2.0 * step},
        7,
        progress=False,
        sync_every=3,
        callbacks=[Callback(3, lambda step, h: calls.append(step))],
    )
    assert history.steps == list(range(7))
    assert history["a"] == [float(i) for i in range(7)] and history["b"] == [2.0 * i for i in range(7)]
    assert calls == [3, 6, 7]
    assert history.mean("a", last=2) == 5.5 and history.mean("a", first=2) == 0.5


def test_train_loop_runs_each_callback_on_its_own_period_in_order():
    calls = []
    train_loop(
        lambda step: {"a": float(step)},
        6,
        progress=False,
        callbacks=[
            Callback(2, lambda step, h: calls.append(("two", step))),
            Callback(3, lambda step, h: calls.append(("three", step))),
            Callback(4, lambda step, h: calls.append(("four", step))),
        ],
    )
    assert calls == [("two", 2), ("three", 3), ("two", 4), ("four", 4), ("two", 6), ("three", 6), ("four", 6)]


def test_stop_training_ends_the_loop_with_the_history_flushed():
    def stop_at_three(step, history):
        raise StopTraining

    history = LossHistory()
    with pytest.raises(StopTraining):
        train_loop(lambda step: {"a": torch.tensor(float(step))}, 10, progress=False, history=history,
                   callbacks=[Callback(3, stop_at_three)])
    assert history.steps == [0, 1, 2] and history.values["a"] == [0.0, 1.0, 2.0]


def test_loss_history_state_round_trip():
    history = LossHistory()
    history.append(0, {"loss": torch.tensor(1.5)})
    restored = LossHistory()
    restored.load_state_dict(history.state_dict())
    assert restored["loss"] == [1.5] and restored.steps == [0]


def test_evaluating_restores_mode_and_disables_grad():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with evaluating(net):
        assert not net.training and not torch.is_grad_enabled()
    assert net.training and torch.is_grad_enabled()


def test_saved_checkpoint_has_ordinary_permissions(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model="tiny", config={}, state={}, step=0)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
