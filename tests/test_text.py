"""Text models: causality, the KV cache, the tokenizer, the sampler, evaluation and resume."""

import dataclasses

import pytest
import torch

from genlearn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genlearn.data import CharTokenizer, load_shakespeare
from genlearn.pretrained import load_pretrained
from genlearn.text import (
    BIGRAM_PRESETS,
    GPT,
    GPT_NAMES_PRESETS,
    GPT_PRESETS,
    MLP_PRESETS,
    BigramCounts,
    BigramLanguageModel,
    BigramTrainer,
    GPTConfig,
    GPTTrainer,
    MLPConfig,
    MLPLanguageModel,
    MLPTrainer,
    evaluate_nll,
    filter_logits,
    generate,
    sequential_windows,
)
from genlearn.training import Callback

VOCAB = 11
PRESETS = {"bigram": BIGRAM_PRESETS, "mlp": MLP_PRESETS, "gpt_names": GPT_NAMES_PRESETS, "gpt": GPT_PRESETS}


def tiny_gpt(context_length=8, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=VOCAB, context_length=context_length, num_layers=2, num_heads=2, embedding_dim=16))


def tiny_models():
    torch.manual_seed(0)
    bigram = BigramLanguageModel(VOCAB)
    torch.nn.init.normal_(bigram.logits_table.weight)
    return {"bigram": bigram, "mlp": MLPLanguageModel(MLPConfig(VOCAB, 3, 4, 8)), "gpt": tiny_gpt()}


@pytest.mark.parametrize("name", ["bigram", "mlp", "gpt"])
def test_changing_a_future_token_leaves_earlier_logits_unchanged(name):
    model = tiny_models()[name].eval()
    idx = torch.randint(0, VOCAB, (3, 8), generator=torch.Generator().manual_seed(1))
    changed = idx.clone()
    changed[:, 5] = (changed[:, 5] + 1) % VOCAB
    logits, _ = model(idx)
    changed_logits, _ = model(changed)
    torch.testing.assert_close(changed_logits[:, :5], logits[:, :5], rtol=0, atol=0)
    assert not torch.allclose(changed_logits[:, 5:], logits[:, 5:]), "the changed token must influence later positions"


def test_attention_paths_agree():
    """The config's attention path changes the kernel, not the function: matmul and SDPA give the same logits."""
    model = tiny_gpt().eval()
    idx = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(2))
    reference, _ = model(idx)
    for path in ("matmul", "sdpa"):
        other = GPT(dataclasses.replace(model.config, attention=path)).eval()
        other.load_state_dict(model.state_dict())
        assert all(block.attention.attention_path == path for block in other.blocks)
        logits, _ = other(idx)
        torch.testing.assert_close(logits, reference)
    with pytest.raises(ValueError, match="attention must be one of"):
        dataclasses.replace(model.config, attention="flash")


@pytest.mark.parametrize("prompt_length", [1, 5, 12])
def test_kv_cache_generates_the_same_tokens(prompt_length):
    model = tiny_gpt()
    prompt = torch.randint(0, VOCAB, (3, prompt_length), generator=torch.Generator().manual_seed(4))
    options = dict(temperature=1.3, top_k=8, top_p=0.95)
    uncached = generate(model, prompt, 20, generator=torch.Generator().manual_seed(5), **options)
    cached = generate(model, prompt, 20, generator=torch.Generator().manual_seed(5), use_kv_cache=True, **options)
    assert torch.equal(cached, uncached)  # 20 new tokens also run past the context of 8


def test_prompt_longer_than_context_is_cropped():
    model = tiny_gpt(context_length=8)
    prompt = torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(6))
    out = generate(model, prompt, 5, generator=torch.Generator().manual_seed(7))
    assert out.shape == (2, 25) and torch.equal(out[:, :20], prompt)
    cropped = generate(model, prompt[:, -8:], 5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(out[:, 20:], cropped[:, 8:])
    with pytest.raises(ValueError, match="context_length"):
        model(prompt)


def test_generation_uses_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, context_length=8, num_layers=1, num_heads=1, embedding_dim=8, dropout=0.5))
    model.train()
    prompt = torch.zeros((1, 1), dtype=torch.int64)
    first = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    second = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, second), "dropout must be off while sampling"
    assert model.training


def test_filter_logits():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.1)).tolist() == [[True, False, False, False]]
    torch.testing.assert_close(filter_logits(logits, temperature=2.0), logits / 2)
    with pytest.raises(ValueError):
        filter_logits(logits, temperature=0.0)


def test_tokenizer_round_trip_and_unseen_character():
    text = load_shakespeare()
    tokenizer = CharTokenizer.from_text(text)
    passage = text[1000:3000]
    assert tokenizer.decode(tokenizer.encode(passage)) == passage
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tokenizer.encode("caf\u00e9 \u2603")
    assert CharTokenizer.from_state_dict(tokenizer.state_dict()) == tokenizer


def test_bigram_network_reaches_the_count_loss():
    trainer = BigramTrainer(PRESETS["bigram"]["smoke"], "cpu")
    trainer.fit(progress=False)
    network = trainer.evaluate_split("train")["nll"]
    counted = trainer.evaluate_split("train", trainer.count_model())["nll"]
    maximum_likelihood = trainer.evaluate_split("train", trainer.count_model(smoothing=0.0))["nll"]
    assert network >= maximum_likelihood - 1e-4, "no bigram can beat the unsmoothed counts on their own data"
    assert network <= counted + 0.005, f"network {network:.4f} vs counts {counted:.4f}"


def test_count_model_is_a_distribution():
    inputs = torch.tensor([[0, 1, 2, 0]])
    targets = torch.tensor([[1, 2, 0, -1]])
    model = BigramCounts.fit(inputs, targets, vocab_size=3, smoothing=0.0)
    torch.testing.assert_close(model.log_probs.exp().sum(dim=1), torch.ones(3))
    assert model.counts.sum() == 3


def test_evaluation_covers_the_whole_split_deterministically():
    trainer = MLPTrainer(PRESETS["mlp"]["smoke"], "cpu")
    inputs, targets = trainer.split("val")
    names_in_split = len(inputs)
    result = trainer.evaluate_split("val")
    assert result["num_targets"] == int((targets >= 0).sum())
    assert result["num_targets"] == sum(int((row >= 0).sum()) for row in targets) >= names_in_split
    rebatched = evaluate_nll(trainer.model, inputs, targets, batch_size=7, token_bytes=trainer.corpus.token_bytes)
    assert rebatched == pytest.approx(result, rel=1e-6)
    assert trainer.evaluate_split("val") == result
    assert result["bits_per_char"] == pytest.approx(result["nll"] / 0.6931471805599453)
    # Names are ASCII, one byte per character; the end-of-name token stands for the line's newline.
    assert result["num_bytes"] == result["num_targets"] and result["bits_per_byte"] == pytest.approx(result["bits_per_char"])


def test_sequential_windows_score_every_token_once():
    ids = torch.arange(23)
    x, y = sequential_windows(ids, 5)
    assert x.shape == (5, 5)
    kept = y[y >= 0]
    assert torch.equal(kept, ids[1:]) and torch.equal(x[y >= 0], ids[:-1])


def make_trainer(trainer_class, preset, data=None, **changes):
    return trainer_class(dataclasses.replace(PRESETS[preset]["smoke"], num_steps=6, **changes), "cpu", data=data)


@pytest.mark.parametrize("preset", ["gpt_names", "gpt"])
def test_resume_continues_exactly(preset, tmp_path):
    trainer = make_trainer(GPTTrainer, preset, eval_every=0)
    trainer.fit(3, progress=False)
    path = save_checkpoint(
        tmp_path / "text.pt", model="gpt", config=trainer.config, state=trainer.state_dict(), step=trainer.step
    )
    trainer.fit(progress=False)
    resumed = make_trainer(GPTTrainer, preset, eval_every=0, seed=1)
    resumed.load_state_dict(load_checkpoint(path, expected_model="gpt").state)
    resumed.fit(progress=False)
    assert resumed.history["loss"] == trainer.history["loss"]


def test_user_corpus_and_sampling():
    corpus = "to be or not to be, that is the question.\n" * 50
    trainer = make_trainer(GPTTrainer, "gpt", data=corpus, eval_every=2)
    snapshots = []
    trainer.fit(progress=False, callbacks=[Callback(3, lambda step, history: snapshots.append(step))])
    assert trainer.val_curve["step"] == [2, 4, 6], "a caller's callback must not replace the val curve"
    assert snapshots == [3, 6]
    assert trainer.metrics_recorded_at(6) == trainer.evaluate() and trainer.metrics_recorded_at(5) is None
    samples = trainer.sample(2, length=30, prompt="to be")
    assert len(samples) == 2 and all(s.startswith("to be") and len(s) == 35 for s in samples)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        trainer.sample(1, prompt="XYZ")
    names = make_trainer(MLPTrainer, "mlp", data="\n".join(["anna", "bob", "carl", "dina"] * 10), batch_size=8)
    assert all(set(name) <= set("abcdilnortk") for name in names.sample(5))


@pytest.mark.parametrize("name", ["bigram", "mlp", "gpt_names", "gpt"])
def test_config_round_trips_for_checkpoints(name):
    config = PRESETS[name]["cpu"]
    trainer_class = {"bigram": BigramTrainer, "mlp": MLPTrainer}.get(name, GPTTrainer)
    assert trainer_class.config_class(**dataclasses.asdict(config)) == config


@pytest.mark.parametrize(
    "name,trainer_class", [("bigram", BigramTrainer), ("mlp", MLPTrainer), ("gpt_names", GPTTrainer), ("gpt", GPTTrainer)]
)
def test_shipped_weights_load_and_sample(name, trainer_class):
    trainer = load_pretrained(trainer_class, "cpu", name)
    preset = PRESETS[name]["cpu"]  # eval_every only sets how often training scores val (the benchmark times without)
    assert dataclasses.replace(trainer.config, eval_every=preset.eval_every) == preset, (
        "the shipped weights come from an older preset: retrain them (benchmarks/text.py)"
    )
    samples = trainer.sample(3, length=40)
    assert len(samples) == 3 and all(isinstance(s, str) for s in samples)


def test_missing_pretrained_weights_say_how_to_get_them():
    with pytest.raises(CheckpointError, match=r"git checkout -- data/pretrained/no_such\.pt.*benchmarks/pretrain\.py"):
        load_pretrained(GPTTrainer, "cpu", "no_such")
