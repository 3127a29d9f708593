"""Byte-level BPE: it round-trips any text, compresses, trains deterministically (and as a full recount would),
survives a checkpoint, and lets models with different tokenizers compare in bits per byte."""

import collections
import dataclasses
import math
import random

import pytest
import torch

from genlearn.checkpoint import save_checkpoint
from genlearn.data import CharTokenizer, load_shakespeare
from genlearn.text import GPT_BPE_PRESETS, GPT_PRESETS, BigramLanguageModel, BytePairTokenizer, GPTTrainer, evaluate_nll
from genlearn.text.bpe import NUM_BYTES, learn_merges, merge_pair, split_into_chunks
from genlearn.text.corpus import load_corpus, restore_corpus, split_text
from genlearn.text.training import GPTTrainingConfig

# Code point ranges a round trip must survive: ASCII, Latin-1, combining marks, Greek and Cyrillic, CJK, emoji and
# their skin-tone modifiers, and the astral planes. Surrogates (U+D800-DFFF) are not characters and have no UTF-8.
RANGES = [(0x20, 0x7E), (0xA0, 0xFF), (0x300, 0x36F), (0x370, 0x4FF), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF),
          (0x1F3FB, 0x1F3FF), (0x10000, 0x10FFFF)]


def random_text(rng: random.Random, length: int) -> str:
    characters = []
    for _ in range(length):
        if rng.random() < 0.2:  # anywhere in Unicode but the surrogates
            code = rng.choice([rng.randrange(0, 0xD800), rng.randrange(0xE000, 0x110000)])
        else:
            low, high = rng.choice(RANGES)
            code = rng.randint(low, high)
        characters.append(chr(code) if rng.random() < 0.9 else rng.choice(" \n\t'"))
    return "".join(characters)


@pytest.fixture(scope="module")
def shakespeare():
    return load_shakespeare()


@pytest.fixture(scope="module")
def small_tokenizer(shakespeare):
    """Trained on a slice of the corpus, for the tests that only need some merges (fast)."""
    return BytePairTokenizer.train(shakespeare[:100_000], 400)


@pytest.fixture(scope="module")
def corpus_bpe():
    """The bundled text with the course's BPE (train split only, 512 tokens): what the GPT trains on."""
    return load_corpus("text", tokenizer="bpe")


def test_random_unicode_round_trips(small_tokenizer):
    rng = random.Random(0)
    for length in (0, 1, 2, 5, 50, 500):
        for _ in range(20):
            text = random_text(rng, length)
            ids = small_tokenizer.encode(text)
            assert all(0 <= i < small_tokenizer.vocab_size for i in ids)
            assert small_tokenizer.decode(ids) == text
            assert small_tokenizer.decode(torch.tensor(ids)) == text


def test_characters_never_seen_in_training_round_trip(small_tokenizer, shakespeare):
    text = ("Caf\u00e9 na\u0131\u0308ve \u2603 \u65e5\u672c\u8a9e \U0001F44D\U0001F3FD e\u0301 "
            "\U0001F468\u200d\U0001F469 \u00a0\r\n")
    assert set(text) - set(shakespeare), "the sample must hold characters the corpus lacks"
    ids = small_tokenizer.encode(text)
    assert small_tokenizer.decode(ids) == text
    # An unseen character is spelled in its UTF-8 bytes, ids below 256.
    assert small_tokenizer.encode("\u2603") == list("\u2603".encode("utf-8"))


def test_lone_surrogates_are_refused_with_a_message(small_tokenizer):
    with pytest.raises(ValueError, match="lone surrogate"):
        small_tokenizer.encode("ab\ud800c")


def test_corpus_round_trips_and_compresses(corpus_bpe, shakespeare):
    tokenizer = corpus_bpe.tokenizer
    assert tokenizer.vocab_size == 512 and len(tokenizer.merges) == 512 - NUM_BYTES
    ids = tokenizer.encode(shakespeare)
    assert tokenizer.decode(ids) == shakespeare
    bytes_per_token = len(shakespeare.encode("utf-8")) / len(ids)
    assert bytes_per_token > 1.5, f"{bytes_per_token:.3f} bytes per token"
    # On the val split it never trained on, it compresses too, a little less than on train.
    train_text, val_text = split_text(shakespeare)
    val_ratio = len(val_text.encode()) / len(tokenizer.encode(val_text))
    train_ratio = len(train_text.encode()) / len(tokenizer.encode(train_text))
    assert 1.5 < val_ratio <= train_ratio + 0.05
    # Each merge spares tokens: fewer merges, more tokens.
    fewer = BytePairTokenizer(tokenizer.merges[:64])
    assert len(ids) < len(fewer.encode(shakespeare)) < len(shakespeare.encode("utf-8"))


def test_tokens_never_cross_a_chunk(small_tokenizer):
    text = "Hello, world! It's 2024: don't   stop\n\nnow."
    chunks = split_into_chunks(text)
    assert "".join(chunks) == text and chunks[:4] == ["Hello", ",", " world", "!"]
    assert small_tokenizer.encode(text) == [i for chunk in chunks for i in small_tokenizer.encode(chunk)]


def test_chunks_cover_every_character():
    rng = random.Random(1)
    for _ in range(50):
        text = random_text(rng, 200) + "_x__1_ a_b"
        assert "".join(split_into_chunks(text)) == text


def recounted_merges(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """The reference: recount every pair of every chunk before each merge."""
    words = [list(chunk.encode("utf-8")) for chunk in split_into_chunks(text)]
    merges = []
    while len(merges) < vocab_size - NUM_BYTES:
        counts = collections.Counter(pair for word in words for pair in zip(word, word[1:]))
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        if counts[best] < 2:
            break
        merges.append(best)
        words = [merge_pair(word, best, NUM_BYTES + len(merges) - 1) for word in words]
    return merges


def test_incremental_training_matches_a_full_recount(shakespeare):
    rng = random.Random(2)
    texts = [shakespeare[:6_000], "aaabdaaabac aaaa aaaaa", random_text(rng, 500) * 2]
    for text in texts:
        assert learn_merges(text, NUM_BYTES + 100) == recounted_merges(text, NUM_BYTES + 100)


def test_training_is_deterministic_and_stops_when_no_pair_repeats(shakespeare):
    assert learn_merges(shakespeare[:30_000], 300) == learn_merges(shakespeare[:30_000], 300)
    # Ties go to the smallest pair: "ab" and "cd" occur twice each, "ab" comes first.
    assert learn_merges("abab cdcd", NUM_BYTES + 1) == [(ord("a"), ord("b"))]
    assert learn_merges("abcdefg", 1000) == []  # no pair occurs twice
    with pytest.raises(ValueError, match="at least the 256 bytes"):
        learn_merges("abc", 100)


def test_state_dict_round_trips_and_damage_is_refused(small_tokenizer, tmp_path):
    torch.save({"tokenizer": small_tokenizer.state_dict()}, tmp_path / "t.pt")
    restored = BytePairTokenizer.from_state_dict(torch.load(tmp_path / "t.pt", weights_only=True)["tokenizer"])
    assert restored == small_tokenizer and restored.vocab == small_tokenizer.vocab
    for damaged in ({"merges": "ab"}, {"merges": [[1, 2, 3]]}, {"merges": [[1, 256]]}, {"merges": [[1, True]]},
                    {"merges": [[1, 2], [1, 2]]}):
        with pytest.raises(ValueError):
            BytePairTokenizer.from_state_dict(damaged)


def bpe_trainer(**changes) -> GPTTrainer:
    return GPTTrainer(dataclasses.replace(GPT_BPE_PRESETS["smoke"], num_steps=4, eval_every=0, **changes), "cpu")


def test_gpt_trains_on_bpe_and_its_checkpoint_keeps_the_tokenizer(tmp_path):
    trainer = bpe_trainer()
    assert trainer.model.config.vocab_size == trainer.corpus.tokenizer.vocab_size == 512
    trainer.fit(progress=False)
    path = save_checkpoint(tmp_path / "checkpoint.pt", model="gpt", config=trainer.config, state=trainer.state_dict(),
                           step=trainer.step)
    loaded = GPTTrainer.from_checkpoint(path, "cpu")
    assert loaded.corpus.tokenizer == trainer.corpus.tokenizer
    assert loaded.corpus.num_train_tokens == trainer.corpus.num_train_tokens
    prompt = "Caf\u00e9 \u2603"  # characters Shakespeare never wrote still make a prompt
    assert loaded.sample(2, length=12, prompt=prompt) == trainer.sample(2, length=12, prompt=prompt)
    assert all(sample.startswith(prompt) for sample in loaded.sample(2, length=12, prompt=prompt))
    assert loaded.evaluate() == pytest.approx(trainer.evaluate())


def test_resuming_with_another_tokenizer_is_refused(tmp_path):
    from genlearn.checkpoint import CheckpointError

    trainer = bpe_trainer()
    other = bpe_trainer(bpe_vocab_size=300)
    with pytest.raises(CheckpointError, match="another tokenizer"):
        other.load_state_dict(trainer.state_dict())


def test_bits_per_byte_compares_tokenizers_on_the_same_val_text(corpus_bpe, shakespeare):
    corpus_char = load_corpus("text")
    val_text = split_text(shakespeare)[1]
    for corpus in (corpus_char, corpus_bpe):
        assert corpus.tokenizer.decode(corpus.splits["val"]) == val_text
    # A uniform model spends log2(V) bits on each token: per byte, log2(V) * tokens / bytes of the scored tokens.
    for corpus in (corpus_char, corpus_bpe):
        vocab_size = corpus.tokenizer.vocab_size
        model = BigramLanguageModel(vocab_size)
        torch.nn.init.zeros_(model.logits_table.weight)
        inputs, targets = corpus.split("val", 64)
        result = evaluate_nll(model, inputs, targets, token_bytes=corpus.token_bytes)
        first_token_bytes = len(corpus.token_bytes[corpus.splits["val"][0]])  # the first token is context, not a target
        assert result["num_bytes"] == len(val_text.encode("utf-8")) - first_token_bytes
        assert result["nll"] == pytest.approx(math.log(vocab_size))
        expected = math.log2(vocab_size) * result["num_targets"] / result["num_bytes"]
        assert result["bits_per_byte"] == pytest.approx(expected)
        assert result["bits_per_char"] == pytest.approx(result["bits_per_byte"])  # Shakespeare is ASCII


def test_bits_per_char_counts_characters_not_bytes():
    tokenizer = BytePairTokenizer([])  # bytes only: "é" is two tokens, one character
    token_bytes = tokenizer.vocab
    targets = torch.tensor([tokenizer.encode("\u00e9a\u00e9")])
    model = BigramLanguageModel(NUM_BYTES)
    torch.nn.init.zeros_(model.logits_table.weight)
    result = evaluate_nll(model, torch.zeros_like(targets), targets, token_bytes=token_bytes)
    assert result["num_bytes"] == 5 and result["num_targets"] == 5
    assert result["bits_per_byte"] == pytest.approx(8.0)
    assert result["bits_per_char"] == pytest.approx(8.0 * 5 / 3)


def test_evaluate_reports_bits_per_byte_for_both_tokenizers():
    for config in (GPT_PRESETS["smoke"], GPT_BPE_PRESETS["smoke"]):
        trainer = GPTTrainer(dataclasses.replace(config, num_steps=2, eval_every=2), "cpu")
        trainer.fit(progress=False)
        metrics = trainer.evaluate()
        assert {"val_nll", "val_perplexity", "val_bits_per_char", "val_bits_per_byte"} <= set(metrics)
        assert trainer.metrics_recorded_at(2) == pytest.approx(metrics)  # the val curve's point, with the same units


def test_old_text_checkpoints_restore_as_characters():
    corpus = load_corpus("text", "to be or not to be, that is the question. " * 20)
    state = corpus.state_dict()
    del state["tokenizer_kind"], state["num_train_tokens"]  # as saved before BPE
    restored = restore_corpus(state, lambda c: corpus.splits)
    assert isinstance(restored.tokenizer, CharTokenizer) and restored.tokenizer == corpus.tokenizer
    assert restored.num_train_tokens == corpus.num_train_tokens


def test_config_refuses_bpe_for_names_and_unknown_tokenizers():
    with pytest.raises(ValueError, match="names are tokenized by characters"):
        GPTTrainingConfig(tokenizer="bpe")
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        GPTTrainingConfig(dataset="text", tokenizer="words")
    with pytest.raises(ValueError, match="bpe_vocab_size"):
        GPTTrainingConfig(dataset="text", tokenizer="bpe", bpe_vocab_size=100)
