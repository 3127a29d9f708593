"""The command line end to end on the smoke preset, and one clear error per bad input.

Commands run in-process through ``genlearn.cli.main`` (a fresh interpreter per command would
cost seconds of imports); one test runs ``python -m genlearn`` to cover the entry point.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlearn.cli import main
from genlearn.data import load_mnist
from genlearn.models import MODELS, MNIST_ROOT
from genlearn.pretrained import pretrained_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def small_and_steady(monkeypatch):
    """The bundled 4,000-digit MNIST, as in CI, even where full MNIST is on disk (it loads faster); and one
    torch thread: these runs are tiny, and on a busy machine a second thread costs far more than it gives."""
    monkeypatch.setenv("GENLEARN_MNIST_ROOT", str(ROOT / "data" / "no-full-mnist-in-tests"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what the command line's configure_threads() then takes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def draws_images(model: str) -> bool:
    return MODELS[model].data == MNIST_ROOT


def train(out, model="mlp", *extra) -> int:
    return main(["train", model, "--preset", "smoke", "--device", "cpu", "--out", str(out), *map(str, extra)])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash: to show that a failed command wrote nothing."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("model", list(MODELS))
def test_train_sample_eval(model, tmp_path, capsys):
    out = tmp_path / model
    assert train(out, model, "--max-steps", 2) == 0
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    # A checkpoint names its family (the trainer's model_name): gpt_names is a GPT.
    assert checkpoint["model"] == MODELS[model].trainer_class().model_name and checkpoint["step"] == 2
    if model in ("gpt", "gpt_bpe"):  # its preset scores the val split during training; the checkpoint keeps that curve
        assert checkpoint["state"]["trainer"]["val_curve"]["step"] == [2]
    printed = capsys.readouterr().out
    assert "step 2/2" in printed  # the periodic loss log
    # TensorBoard scalars when the optional package is there, else one line that says so.
    assert (out / "tensorboard").is_dir() or "`tensorboard` package is not installed" in printed

    length = [] if draws_images(model) else ["--length", "40"]
    assert main(["sample", model, "--out", str(out), "--device", "cpu", "--num-samples", "4", *length]) == 0
    if draws_images(model):
        assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert (out / "samples.txt").read_text(encoding="utf-8").strip()
    capsys.readouterr()

    assert main(["eval", model, "--out", str(out), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    metrics = json.loads(lines[0])
    assert metrics["model"] == model and metrics["step"] == 2
    expected = {
        "gan": {"fid", "inception_score"},
        "vae": {"iwae_nll", "iwae_k", "num_images", "neg_elbo", "active_units"},
        "vae_2d": {"iwae_nll", "iwae_k", "num_images", "neg_elbo", "active_units"},
        "bigram": {"test_nll", "test_bits_per_char"},
        "mlp": {"test_nll", "test_bits_per_char"},
        "gpt_names": {"test_nll", "test_bits_per_char"},
        "gpt": {"val_nll", "val_bits_per_char"},
        "gpt_bpe": {"val_nll", "val_bits_per_byte", "val_bits_per_char"},
    }
    assert expected[model] <= set(metrics), metrics
    if model == "vae":  # the bound is meaningless without its k and the number of images it averages over
        config = MODELS[model].load_presets()["smoke"]
        assert (metrics["iwae_k"], metrics["num_images"]) == (config.eval_iwae_k, config.eval_num_images), metrics
    assert isinstance(metrics["data"], str) and metrics["data"], "evaluate() names the data it scored"


def test_entry_point_and_fast_help():
    command = [sys.executable, "-X", "importtime", "-m", "genlearn", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "train" in result.stdout
    # The registry imports the model code lazily, so --help stays quick.
    imported = result.stderr
    assert "genlearn.models" in imported
    assert not any(f"genlearn.{track}" in imported for track in ("gan", "vae", "text"))
    assert "torchvision" not in imported  # about 2 s of torch._dynamo that --help does not need


def write_idx(path: Path, array: torch.Tensor) -> None:
    """MNIST's idx format: a magic number (unsigned bytes, number of dimensions), the sizes, then the bytes."""
    header = bytes([0, 0, 8, array.dim()]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.to(torch.uint8).contiguous().numpy().tobytes())


def test_train_on_user_data(tmp_path, capsys):
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        digits = load_mnist(split, verbose=False)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", digits.images[:300])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", digits.labels[:300])
    assert train(tmp_path / "vae", "vae", "--data", tmp_path / "mnist", "--max-steps", 1) == 0

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 40, encoding="utf-8")
    assert train(tmp_path / "gpt", "gpt", "--data", corpus, "--max-steps", 1) == 0
    capsys.readouterr()
    assert main(["sample", "gpt", "--out", str(tmp_path / "gpt"), "--device", "cpu", "--length", "20"]) == 0
    assert set(capsys.readouterr().out) <= set(corpus.read_text()) | {"-", "\n"}  # only the corpus's characters

    other = tmp_path / "other.txt"
    other.write_text("something else entirely\n" * 40, encoding="utf-8")
    expect_error(capsys, train(tmp_path / "gpt", "gpt", "--data", other, "--resume"), "trained on data")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "diffusion"], "invalid choice: 'diffusion'"),
        (["train", "mlp", "--preset", "huge"], "invalid choice: 'huge'"),
    ],
)
def test_unknown_model_or_preset(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


def expect_error(capsys, code: int, *fragments: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and err.startswith("genlearn "), err
    for fragment in fragments:
        assert fragment in err, err


def test_missing_data_path(tmp_path, capsys):
    expect_error(capsys, train(tmp_path / "run", "mlp", "--data", tmp_path / "nope.txt"), "does not exist")
    expect_error(capsys, train(tmp_path / "run", "vae", "--data", tmp_path / "nope"), "does not exist")
    (tmp_path / "empty_root").mkdir()
    expect_error(capsys, train(tmp_path / "run", "vae", "--data", tmp_path / "empty_root"), "holds no MNIST")
    assert not (tmp_path / "run").exists()


def test_empty_or_non_utf8_text(tmp_path, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    (tmp_path / "few.txt").write_text("anna\nbob\n", encoding="utf-8")
    expect_error(capsys, train(tmp_path / "run", "gpt", "--data", tmp_path / "empty.txt"), "empty")
    expect_error(capsys, train(tmp_path / "run", "gpt", "--data", tmp_path / "latin1.txt"), "not valid UTF-8")
    expect_error(capsys, train(tmp_path / "run", "mlp", "--data", tmp_path / "few.txt"), "cannot train mlp")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained_mlp(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp_run")
    assert train(out, "mlp", "--max-steps", 2) == 0
    return out


def test_existing_checkpoint_is_not_overwritten(trained_mlp, capsys):
    before = snapshot(trained_mlp)
    capsys.readouterr()
    expect_error(capsys, train(trained_mlp, "mlp", "--max-steps", 2), "already exists", "--resume")
    assert snapshot(trained_mlp) == before


def test_checkpoint_from_another_model_or_config(trained_mlp, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint.pt").write_bytes((trained_mlp / "checkpoint.pt").read_bytes())
    before = snapshot(other)
    capsys.readouterr()
    expect_error(capsys, train(other, "bigram", "--resume"), "holds a 'mlp' model, not 'bigram'")
    expect_error(capsys, train(other, "mlp", "--resume", "--seed", 7), "another config", "seed")
    expect_error(capsys, main(["eval", "gpt", "--checkpoint", str(other / "checkpoint.pt"), "--device", "cpu"]), "'mlp' model")
    assert snapshot(other) == before


def test_corrupt_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"this is not a checkpoint")
    before = snapshot(out)
    expect_error(capsys, train(out, "mlp", "--resume"), "corrupt")
    expect_error(capsys, main(["sample", "mlp", "--out", str(out), "--device", "cpu"]), "corrupt")
    assert snapshot(out) == before


def test_resume_without_checkpoint(tmp_path, capsys):
    expect_error(capsys, train(tmp_path / "run", "mlp", "--resume"), "no checkpoint")
    expect_error(capsys, main(["eval", "mlp", "--out", str(tmp_path / "run"), "--device", "cpu"]), "no checkpoint")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_not_present(tmp_path, capsys):
    code = main(["train", "mlp", "--preset", "smoke", "--device", "cuda", "--out", str(tmp_path / "run")])
    expect_error(capsys, code, "device 'cuda'", "not present")
    code = main(["train", "mlp", "--preset", "smoke", "--precision", "fp16", "--out", str(tmp_path / "run"), "--device", "cpu"])
    expect_error(capsys, code, "fp16")
    assert not (tmp_path / "run").exists()


def test_channels_last_networks_train_and_checkpoint_on_cpu():
    """The GPU path stores conv weights as NHWC; it must train and round-trip through a checkpoint anywhere."""
    entry = MODELS["gan"]
    trainer = entry.trainer_class()(entry.load_presets()["smoke"], "cpu")
    trainer.use_channels_last()
    convolutions = [m.weight for m in trainer.modules["discriminator"].modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)
    trainer.training_step(0)
    fresh = entry.trainer_class()(entry.load_presets()["smoke"], "cpu")
    fresh.load_state_dict(trainer.state_dict())
    for name in trainer.modules:
        for key, value in trainer.unwrapped(name).state_dict().items():
            assert torch.equal(fresh.unwrapped(name).state_dict()[key], value)


@pytest.mark.parametrize("model", list(MODELS))
def test_sample_from_shipped_weights(model, tmp_path):
    """Every registered model ships weights, and they load through the command line."""
    assert pretrained_path(model).is_file(), f"no shipped weights for {model}; run benchmarks/pretrain.py --models {model}"
    length = [] if draws_images(model) else ["--length", "20"]
    command = ["sample", model, "--pretrained", "--out", str(tmp_path), "--device", "cpu", "--num-samples", "4", *length]
    assert main(command) == 0
    assert (tmp_path / ("samples.png" if draws_images(model) else "samples.txt")).stat().st_size > 0
