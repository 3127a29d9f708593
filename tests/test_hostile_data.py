"""Careless or hostile data (issue 16): every case gets one message, exit status 1, no traceback, and nothing overwritten.

Covers the shipped weights' checksums, text too short or too strange for a model, MNIST folders that parse
but are wrong, the vocabulary a text checkpoint carries, ``--prompt``, and a ``GENLEARN_DATA_DIR`` that is not there.
"""

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
import torch

from genlearn.cli import main
from genlearn.data import DataFileError, load_mnist
from genlearn.data.files import REPO_DATA_DIR, checked_file
from genlearn.models import MODELS
from genlearn.pretrained import export_pretrained, load_pretrained, pretrained_path
from genlearn.text import BigramTrainer
from genlearn.text.corpus import MAX_NAME_LENGTH, StreamCorpus, min_text_length
from test_cli import snapshot, small_and_steady, write_idx  # noqa: F401 (small_and_steady: an autouse fixture)

NAMES = ["anna", "bob", "carl", "dina", "emma", "fred", "gina", "hank", "ida", "jo", "kim", "lou"]


def train(out, model, *extra) -> int:
    return main(["train", model, "--preset", "smoke", "--device", "cpu", "--out", str(out), *map(str, extra)])


def refused(capsys, code: int, *fragments: str) -> str:
    """The command failed with one error line on stderr (besides any progress line), holding every fragment."""
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert "Traceback" not in err, err
    (message,) = [line for line in err.splitlines() if "error" in line]
    assert message.startswith("genlearn "), err
    for fragment in fragments:
        assert fragment in message, err
    return message


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A copy of the names data and the pretrained mlp with their manifests; GENLEARN_DATA_DIR points at it."""
    folder = tmp_path / "data"
    (folder / "pretrained").mkdir(parents=True)
    for name in ("manifest.json", "names.txt", "pretrained/manifest.json", "pretrained/mlp.pt"):
        shutil.copy(REPO_DATA_DIR / name, folder / name)
    monkeypatch.setenv("GENLEARN_DATA_DIR", str(folder))
    return folder


# --- kind 2: the shipped weights are checked against data/pretrained/manifest.json ----------------------------


def test_every_shipped_model_weight_matches_the_manifest(monkeypatch):
    monkeypatch.delenv("GENLEARN_DATA_DIR", raising=False)
    shipped = [name for name in MODELS if pretrained_path(name).is_file()]
    assert shipped
    for name in shipped:
        assert checked_file(f"pretrained/{name}.pt", fix="") == pretrained_path(name)


def test_one_flipped_bit_in_pretrained_weights_is_refused(data_copy, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sample", "mlp", "--pretrained", "--out", str(out), "--device", "cpu", "--num-samples", "2"]) == 0
    weights = data_copy / "pretrained" / "mlp.pt"
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0x01  # inside the tensor data
    weights.write_bytes(content)
    before = snapshot(tmp_path)
    capsys.readouterr()
    for command in (["sample", "mlp", "--pretrained", "--out", str(out)], ["eval", "mlp", "--pretrained"]):
        code = main([*command, "--device", "cpu"])
        refused(capsys, code, str(weights), "checksum", "git checkout -- data/pretrained/mlp.pt",
                "python benchmarks/pretrain.py --models mlp")
    assert snapshot(tmp_path) == before


def test_export_records_the_weights_in_the_manifest(tmp_path, monkeypatch):
    names = "\n".join(NAMES * 3)
    config = dataclasses.replace(MODELS["bigram"].load_presets()["smoke"], batch_size=8)
    trainer = BigramTrainer(config, "cpu", data=names)
    (tmp_path / "pretrained").mkdir()
    monkeypatch.setenv("GENLEARN_DATA_DIR", str(tmp_path))
    path = export_pretrained(trainer, "bigram")  # writes pretrained/manifest.json, which did not exist
    assert load_pretrained(BigramTrainer, "cpu", "bigram", data=names).step == 0  # its recorded entry matches
    trainer.fit(1, progress=False)
    path.write_bytes(b"")  # another file in place of the exported one
    with pytest.raises(DataFileError, match="fails its checksum"):
        load_pretrained(BigramTrainer, "cpu", "bigram", data=names)
    export_pretrained(trainer, "bigram")  # a new export updates its entry
    assert load_pretrained(BigramTrainer, "cpu", "bigram", data=names).step == 1


# --- kind 3: text too short, lines too long, another text than the checkpoint's ------------------------------


def test_text_shorter_than_the_context_says_the_minimum(tmp_path, capsys):
    window = MODELS["gpt"].load_presets()["smoke"].context_length
    minimum = min_text_length(window)
    for length in (1, 20, minimum - 1):
        corpus = tmp_path / f"{length}.txt"
        corpus.write_text(("abcdefghij" * 10)[:length], encoding="utf-8")
        refused(capsys, train(tmp_path / "run", "gpt", "--data", corpus), str(corpus), f"at least {minimum} characters")
    assert not (tmp_path / "run").exists()
    enough = tmp_path / "enough.txt"
    enough.write_text(("abcdefghij" * 10)[:minimum], encoding="utf-8")
    assert train(tmp_path / "run", "gpt", "--data", enough, "--max-steps", 1) == 0  # the minimum trains and scores
    assert main(["eval", "gpt", "--out", str(tmp_path / "run"), "--device", "cpu"]) == 0


def test_absurd_names_lines_are_refused(tmp_path, capsys):
    long_line = tmp_path / "long_line.txt"
    long_line.write_text("\n".join(["x" * 10_000, *NAMES]), encoding="utf-8")
    refused(capsys, train(tmp_path / "run", "mlp", "--data", long_line), "10,000 characters", f"at most {MAX_NAME_LENGTH}")
    context = MODELS["gpt_names"].load_presets()["smoke"].context_length
    long_name = tmp_path / "long_name.txt"
    long_name.write_text("\n".join(["y" * context, *NAMES * 5]), encoding="utf-8")
    refused(capsys, train(tmp_path / "run", "gpt_names", "--data", long_name), f"a name of {context} characters",
            f"at most {context - 1}")
    batch_size = MODELS["gpt_names"].load_presets()["smoke"].batch_size
    few = tmp_path / "few.txt"
    few.write_text("\n".join(NAMES), encoding="utf-8")
    refused(capsys, train(tmp_path / "run", "gpt_names", "--data", few), f"too small for batches of {batch_size} names")
    assert not (tmp_path / "run").exists()


def test_resume_on_an_edited_text_names_the_new_characters(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 10, encoding="utf-8")
    out = tmp_path / "run"
    assert train(out, "gpt", "--data", corpus, "--max-steps", 1) == 0
    corpus.write_text(corpus.read_text().replace("q", "Z"), encoding="utf-8")  # same length, one new character
    before = snapshot(out)
    capsys.readouterr()
    refused(capsys, train(out, "gpt", "--data", corpus, "--resume", "--max-steps", 2), "another text",
            "new characters: 'Z'", "characters gone: 'q'")
    assert snapshot(out) == before


# --- kind 4: MNIST folders that are valid IDX but not MNIST -----------------------------------------------------


@pytest.mark.parametrize(
    "change, fragments",
    ids=["fewer_labels", "32x32", "more_test_labels", "label_12"],
    argvalues=[
        ({"train-labels-idx1-ubyte": lambda d: d["train_labels"][:300]}, ["400 images", "300 labels"]),
        ({"train-images-idx3-ubyte": lambda d: torch.zeros(400, 32, 32)}, ["32x32 images", "28x28"]),
        ({"t10k-labels-idx1-ubyte": lambda d: d["test_labels"].repeat(2)}, ["100 images", "200 labels"]),
        ({"t10k-labels-idx1-ubyte": lambda d: d["test_labels"] + 10}, ["labels up to", "0 to 9"]),
    ],
)
def test_mnist_folder_with_wrong_counts_shapes_or_labels(change, fragments, tmp_path, capsys):
    train_split, test_split = load_mnist("train", verbose=False), load_mnist("test", verbose=False)
    arrays = {
        "train-images-idx3-ubyte": train_split.images[:400], "train-labels-idx1-ubyte": train_split.labels[:400],
        "t10k-images-idx3-ubyte": test_split.images[:100], "t10k-labels-idx1-ubyte": test_split.labels[:100],
    }
    originals = {"train_labels": arrays["train-labels-idx1-ubyte"], "test_labels": arrays["t10k-labels-idx1-ubyte"]}
    arrays.update({name: make(originals) for name, make in change.items()})
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, array in arrays.items():
        write_idx(raw / name, array)
    (bad_file,) = change
    refused(capsys, train(tmp_path / "run", "vae", "--data", tmp_path / "mnist"), str(raw / bad_file), *fragments)
    assert not (tmp_path / "run").exists()


# --- kinds 11 and 12: the vocabulary lives in the checkpoint; --prompt ------------------------------------------


def test_text_checkpoint_samples_without_its_text_and_eval_says_why_it_needs_it(tmp_path, capsys):
    corpus = tmp_path / "no_newlines.txt"
    text = "the quick brown fox jumps over the lazy dog " * 10
    corpus.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    assert train(out, "gpt", "--data", corpus, "--max-steps", 1) == 0
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["state"]["trainer"]["corpus"]
    assert saved["tokenizer"]["vocab"] == sorted(set(text))

    sample = ["sample", "gpt", "--out", str(out), "--device", "cpu", "--num-samples", "2", "--length", "10"]
    corpus.write_text(text.replace("dog", "cat"), encoding="utf-8")  # edited: sampling does not read it
    capsys.readouterr()
    assert main(sample) == 0  # a corpus without newlines samples by default
    samples = (out / "samples.txt").read_bytes()
    capsys.readouterr()
    assert main([*sample, "--prompt", "the fox"]) == 0
    printed = capsys.readouterr().out.rstrip("\n").split(StreamCorpus.sample_separator)
    assert len(printed) == 2 and all(text.startswith("the fox") and len(text) == 17 for text in printed)
    err = refused(capsys, main(["eval", "gpt", "--out", str(out), "--device", "cpu"]), str(corpus), "has changed")

    corpus.unlink()
    assert main(sample) == 0 and (out / "samples.txt").read_bytes() == samples  # same seed, same samples, no text
    before = snapshot(tmp_path)
    capsys.readouterr()
    err += refused(capsys, main(["eval", "gpt", "--out", str(out), "--device", "cpu"]), str(corpus), "no longer exists")
    assert not re.search(r"--[a-z]", err)  # eval takes no option that could fix it
    refused(capsys, main([*sample, "--prompt", "The\n"]), "not in the vocabulary", "'\\n'", "'T'")
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    """An mlp trained one step on a small names file: its checkpoint carries the vocabulary."""
    folder = tmp_path_factory.mktemp("names_run")
    (folder / "names.txt").write_text("\n".join(NAMES * 4), encoding="utf-8")
    assert train(folder / "run", "mlp", "--data", folder / "names.txt", "--max-steps", 1) == 0
    return folder / "run" / "checkpoint.pt"


def edited_checkpoint(names_run, folder: Path, edit) -> list[str]:
    """A copy of ``names_run`` with ``edit`` applied to its saved corpus; the sample command for it."""
    checkpoint = torch.load(names_run, weights_only=True)
    edit(checkpoint["state"]["trainer"])
    folder.mkdir()
    torch.save(checkpoint, folder / "checkpoint.pt")
    return ["sample", "mlp", "--out", str(folder), "--device", "cpu", "--num-samples", "3"]


def test_checkpoint_without_a_vocabulary_rebuilds_it_from_the_data(names_run, tmp_path, capsys):
    sample = edited_checkpoint(names_run, tmp_path / "old", lambda state: state.pop("corpus"))  # as before the change
    capsys.readouterr()
    assert main(sample) == 0
    assert set(capsys.readouterr().out) <= set("".join(NAMES)) | {"\n"}


@pytest.mark.parametrize(
    "edit, fragment",
    ids=["kind", "duplicates", "no_boundary", "huge_length", "count_as_text", "tokenizer_as_int", "one_character_less"],
    argvalues=[
        (lambda corpus: corpus.update(kind="poems"), "damaged vocabulary"),
        (lambda corpus: corpus["tokenizer"].update(vocab=[".", "a", "a"]), "damaged vocabulary"),
        (lambda corpus: corpus["tokenizer"].update(specials=[]), "damaged vocabulary"),
        (lambda corpus: corpus.update(sequence_length=10**9), "damaged vocabulary"),
        (lambda corpus: corpus.update(num_names="many"), "damaged vocabulary"),
        (lambda corpus: corpus.update(tokenizer=5), "damaged vocabulary"),
        (lambda corpus: corpus["tokenizer"]["vocab"].pop(), "do not fit"),
    ],
)
def test_damaged_vocabulary_in_a_checkpoint(edit, fragment, names_run, tmp_path, capsys):
    sample = edited_checkpoint(names_run, tmp_path / "run", lambda state: edit(state["corpus"]))
    before = snapshot(tmp_path)
    capsys.readouterr()
    refused(capsys, main(sample), str(tmp_path / "run" / "checkpoint.pt"), fragment)
    assert snapshot(tmp_path) == before


def test_prompts_for_names_and_for_images(tmp_path, capsys):
    out = tmp_path / "out"
    sample = ["sample", "mlp", "--pretrained", "--out", str(out), "--device", "cpu", "--num-samples", "4"]
    assert main([*sample, "--prompt", "em"]) == 0
    assert all(name.startswith("em") for name in capsys.readouterr().out.split())
    before = snapshot(out)
    refused(capsys, main([*sample, "--prompt", "e.m"]), "boundary token '.'")
    refused(capsys, main([*sample, "--prompt", "EM"]), "not in the vocabulary", "'E', 'M'")
    refused(capsys, main(["sample", "gan", "--pretrained", "--out", str(out), "--device", "cpu", "--prompt", "7"]),
            "not from a prompt")
    assert snapshot(out) == before


# --- kind 13: GENLEARN_DATA_DIR names a folder that is not there ---------------------------------------------


def test_missing_data_dir_names_the_variable_and_the_folder(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "no_such_folder"
    monkeypatch.setenv("GENLEARN_DATA_DIR", str(missing))
    refused(capsys, train(tmp_path / "run", "mlp"), "GENLEARN_DATA_DIR", str(missing), "not a folder")
    code = main(["sample", "mlp", "--pretrained", "--out", str(tmp_path / "run"), "--device", "cpu"])
    refused(capsys, code, "GENLEARN_DATA_DIR", str(missing))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("GENLEARN_DATA_DIR", str(tmp_path / "empty"))
    err = refused(capsys, train(tmp_path / "run", "mlp"), "GENLEARN_DATA_DIR", str(tmp_path / "empty"))
    assert "git checkout" not in err
    assert not (tmp_path / "run").exists()
