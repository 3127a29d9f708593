"""Fast checks of genlearn.data on the real bundled files (seconds, no network)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from genlearn.data import (
    BOUNDARY,
    CharTokenizer,
    DataFileError,
    GaussianMixture2D,
    InMemoryBatches,
    bundled_file,
    dynamic_binarize,
    encode_names,
    grid_of_gaussians,
    load_mnist,
    load_names,
    load_shakespeare,
    load_text_file,
    mode_coverage,
    names_tokenizer,
    random_windows,
    ring_of_gaussians,
    split_names,
    train_val_split,
    two_moons,
)
from genlearn.data.files import REPO_DATA_DIR
from genlearn.data.mnist import FULL_SOURCE, SUBSET_SOURCE, has_full_mnist


@pytest.fixture(autouse=True)
def repo_data(monkeypatch):
    """Every test starts from the repository's data/, whatever the caller's environment says."""
    monkeypatch.delenv("GENLEARN_DATA_DIR", raising=False)
    monkeypatch.delenv("GENLEARN_MNIST_ROOT", raising=False)


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private data folder (manifest only); GENLEARN_DATA_DIR points at it."""
    shutil.copy(REPO_DATA_DIR / "manifest.json", tmp_path / "manifest.json")
    monkeypatch.setenv("GENLEARN_DATA_DIR", str(tmp_path))
    return tmp_path


# --- MNIST ---------------------------------------------------------------------------------------


def test_subset_file_is_stratified_real_digits():
    with np.load(bundled_file("mnist_subset.npz")) as arrays:
        for split, per_class in (("train", 400), ("test", 100)):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            assert images.dtype == np.uint8 and images.shape == (10 * per_class, 28, 28)
            assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
            assert images.max() == 255 and images.min() == 0
        train = arrays["train_images"].reshape(4000, -1)
        test = arrays["test_images"].reshape(1000, -1)
    # Train and test together are the 5,000 distinct source digits.
    assert len(np.unique(np.concatenate([train, test]), axis=0)) == 5000
    # Real digits: dark border, ink in the middle.
    assert train[:, :28].max() < 50 and train.reshape(4000, 28, 28)[:, 10:18, 10:18].mean() > 60


def test_load_mnist_uses_the_subset_offline_and_says_so(tmp_path, capsys):
    data = load_mnist("train", root=tmp_path / "no_mnist_here")
    assert data.source == SUBSET_SOURCE and len(data) == 4000
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    assert torch.bincount(data.labels).tolist() == [400] * 10
    printed = capsys.readouterr().out
    assert "subset" in printed and "build_full_mnist.py" in printed
    floats = data.to_float()
    assert floats.shape == (4000, 1, 28, 28) and floats.dtype == torch.float32
    assert floats.min() == 0 and floats.max() == 1

    test = load_mnist("test", root=tmp_path / "no_mnist_here", verbose=False)
    assert len(test) == 1000 and capsys.readouterr().out == ""


def test_load_mnist_rejects_unknown_split():
    with pytest.raises(ValueError, match="'train', 'test'"):
        load_mnist("validation")


@pytest.mark.skipif(not has_full_mnist(), reason="data/full has no MNIST; run data/build/build_full_mnist.py")
def test_full_mnist_through_torchvision(capsys):
    data = load_mnist("test")
    assert data.source == FULL_SOURCE and "torchvision" in capsys.readouterr().out
    assert data.images.shape == (10000, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the famous first test digits
    assert torch.bincount(data.labels).tolist()[:2] == [980, 1135]


def test_dynamic_binarize_is_bernoulli_and_reproducible():
    images = load_mnist("test", root="/nonexistent", verbose=False).to_float()[:200]
    first = dynamic_binarize(images, torch.Generator().manual_seed(0))
    second = dynamic_binarize(images, torch.Generator().manual_seed(0))
    assert torch.equal(first, second) and first.dtype == images.dtype
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    assert abs(first.mean().item() - images.mean().item()) < 0.01


# --- integrity checks --------------------------------------------------------------------------------


def test_tampered_file_is_refused_with_the_fix(data_copy):
    text = (REPO_DATA_DIR / "names.txt").read_text()
    (data_copy / "names.txt").write_text(text.replace("\n", "\nzzz\n", 1))
    with pytest.raises(DataFileError) as error:
        load_names()
    message = str(error.value)
    assert str(data_copy / "names.txt") in message and "checksum" in message
    assert "git checkout -- data/names.txt" in message and "build_names.py" in message


def test_tampered_mnist_subset_is_refused(data_copy):
    content = bytearray((REPO_DATA_DIR / "mnist_subset.npz").read_bytes())
    content[len(content) // 2] ^= 0xFF
    (data_copy / "mnist_subset.npz").write_bytes(bytes(content))
    with pytest.raises(DataFileError, match="build_mnist_subset.py"):
        load_mnist(verbose=False)  # default root is <data_copy>/full, which is absent


def test_missing_file_is_refused_with_the_fix(data_copy):
    with pytest.raises(DataFileError) as error:
        load_shakespeare()
    message = str(error.value)
    assert str(data_copy / "shakespeare.txt") in message and "missing" in message
    assert "git checkout -- data/shakespeare.txt" in message and "build_shakespeare.py" in message


def test_manifest_matches_the_shipped_files():
    manifest = json.loads((REPO_DATA_DIR / "manifest.json").read_text())["files"]
    assert sorted(manifest) == ["mnist_subset.npz", "names.txt", "shakespeare.txt"]
    for name, entry in manifest.items():
        assert bundled_file(name).stat().st_size == entry["bytes"]


# --- text ------------------------------------------------------------------------------------------------


def test_shakespeare_is_clean_ascii_play_text():
    text = load_shakespeare()
    assert 1_000_000 <= len(text) <= 1_100_000
    assert text.startswith("ACT I.") and "Gutenberg" not in text and "\r" not in text
    assert all(c == "\n" or " " <= c <= "~" for c in set(text))
    assert "To be, or not to be" in text


def test_tokenizer_round_trip_and_state_dict(tmp_path):
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.vocab == sorted(set("hello world")) and tokenizer.vocab_size == 8
    assert tokenizer.decode(tokenizer.encode("low hello")) == "low hello"
    assert tokenizer.decode(torch.tensor(tokenizer.encode("old"))) == "old"
    path = tmp_path / "tok.pt"
    torch.save({"tokenizer": tokenizer.state_dict()}, path)
    restored = CharTokenizer.from_state_dict(torch.load(path, weights_only=True)["tokenizer"])
    assert restored == tokenizer and restored != CharTokenizer.from_text("hello")


def test_tokenizer_names_unseen_characters():
    tokenizer = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError) as error:
        tokenizer.encode("cab!Z")
    assert "'!'" in str(error.value) and "'Z'" in str(error.value) and "training corpus" in str(error.value)


def test_load_text_file_errors(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        load_text_file(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataFileError, match="empty"):
        load_text_file(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DataFileError, match="not valid UTF-8") as error:
        load_text_file(tmp_path / "latin1.txt")
    assert "latin1.txt" in str(error.value)
    (tmp_path / "ok.txt").write_text("café\n", encoding="utf-8")
    assert load_text_file(tmp_path / "ok.txt") == "café\n"


def test_train_val_split_is_contiguous():
    ids = torch.arange(100)
    train, val = train_val_split(ids)
    assert torch.equal(train, ids[:90]) and torch.equal(val, ids[90:])


def test_random_windows_shapes_and_shift():
    ids = torch.arange(1000)
    x, y = random_windows(ids, batch_size=16, context_length=32, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (16, 32) and x.dtype == y.dtype == torch.int64
    assert torch.equal(y, x + 1)  # consecutive ids: y is x shifted by one
    assert torch.equal(y.view(-1), (x + 1).view(-1))  # contiguous, so models may .view() it
    again, _ = random_windows(ids, 16, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    assert random_windows(torch.arange(33), 4, 32)[0].shape == (4, 32)  # exactly long enough
    with pytest.raises(ValueError, match="context_length=32"):
        random_windows(torch.arange(32), 4, 32)


# --- names ----------------------------------------------------------------------------------------------


def test_names_file_and_split():
    names = load_names()
    assert len(names) == 32_000 and len(set(names)) == 32_000
    assert {"emma", "james", "olivia"} <= set(names)
    train, val, test = split_names(names)
    assert (len(train), len(val), len(test)) == (25_600, 3_200, 3_200)
    assert train + val + test == names


def test_names_encoding_counts_the_end_token_once():
    tokenizer = names_tokenizer(["emma", "bo"])
    assert tokenizer.vocab[0] == BOUNDARY and tokenizer.vocab_size == 6
    x, y = encode_names(["emma", "bo"], tokenizer)
    assert x.shape == y.shape == (2, 5) and x.dtype == y.dtype == torch.int64
    assert tokenizer.decode(x[0]) == ".emma" and tokenizer.decode(y[0]) == "emma."
    assert tokenizer.decode(x[1, :3]) == ".bo" and y[1].tolist()[2:] == [0, -1, -1]
    assert ((y == 0).sum(dim=1) == 1).all()  # one end token per name
    assert (y != -1).sum().item() == len("emma") + 1 + len("bo") + 1
    with pytest.raises(ValueError, match="max_length=3"):
        encode_names(["emma"], tokenizer, max_length=3)


def test_full_names_vocabulary():
    assert names_tokenizer(load_names()).vocab == [BOUNDARY] + list("abcdefghijklmnopqrstuvwxyz")


# --- in-memory batches ------------------------------------------------------------------------------


def test_in_memory_batches_cover_each_epoch_and_resume_exactly(tmp_path):
    data, labels = torch.arange(50), torch.arange(50) * 10
    batches = InMemoryBatches((data, labels), batch_size=8, seed=3)
    assert batches.steps_per_epoch == 6
    first_epoch = [next(batches) for _ in range(6)]
    seen = torch.cat([x for x, _ in first_epoch])
    assert len(seen.unique()) == 48 and all(torch.equal(y, x * 10) for x, y in first_epoch)
    for _ in range(3):
        next(batches)
    assert batches.epoch == 1

    torch.save(batches.state_dict(), tmp_path / "batches.pt")
    state = torch.load(tmp_path / "batches.pt", weights_only=True)
    expected = [next(batches)[0] for _ in range(10)]  # crosses two epoch boundaries
    resumed = InMemoryBatches((data, labels), batch_size=8, seed=999)
    resumed.load_state_dict(state)
    assert all(torch.equal(next(resumed)[0], e) for e in expected)
    assert resumed.epoch == batches.epoch == 3

    fresh = InMemoryBatches(data, batch_size=8, seed=3)  # one tensor in, tensors out
    assert torch.equal(fresh.__next__(), first_epoch[0][0])


# --- 2-D toys ----------------------------------------------------------------------------------------------


def test_mixture_density_integrates_to_one():
    mixture = GaussianMixture2D(torch.tensor([[-1.0, 0.0], [1.5, 0.5]]), std=0.3, weights=torch.tensor([1.0, 3.0]))
    axis = torch.linspace(-4, 4, 401)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
    cell = (axis[1] - axis[0]) ** 2
    assert math.isclose((mixture.log_prob(grid).exp().sum() * cell).item(), 1.0, abs_tol=1e-3)
    ring = ring_of_gaussians()
    close = torch.linspace(-2.3, 2.3, 461)
    ring_grid = torch.stack(torch.meshgrid(close, close, indexing="ij"), dim=-1).reshape(-1, 2)
    assert math.isclose((ring.log_prob(ring_grid).exp().sum() * (close[1] - close[0]) ** 2).item(), 1.0, abs_tol=2e-2)


def test_mode_coverage_and_determinism():
    ring = ring_of_gaussians(num_modes=8, radius=2.0, std=0.02)
    samples = ring.sample(4000, torch.Generator().manual_seed(0))
    assert torch.equal(samples, ring.sample(4000, torch.Generator().manual_seed(0)))
    full = mode_coverage(samples, ring)
    assert full["modes_covered"] == 8 and full["fraction_high_quality"] > 0.98
    assert sum(full["counts_per_mode"]) == round(full["fraction_high_quality"] * 4000)
    collapsed = torch.cat([samples[:100] * 0 + ring.means[0], torch.zeros(100, 2)])  # one mode and junk
    result = mode_coverage(collapsed, ring)
    assert result["modes_covered"] == 1 and result["fraction_high_quality"] == 0.5

    grid = grid_of_gaussians()
    assert grid.num_modes == 25 and grid.means.abs().max() == 4.0
    moons = two_moons(500, generator=torch.Generator().manual_seed(1))
    assert moons.shape == (500, 2) and torch.equal(moons, two_moons(500, generator=torch.Generator().manual_seed(1)))
