"""Rotary position embeddings: relative positions, cached = uncached within the window, and the rolling cache past it.

Past the window the rolling cache is exact for one layer only: deeper layers' cached keys were computed from a
longer, older context than an uncached forward over the last ``context_length`` tokens sees.
"""

import dataclasses

import pytest
import torch

from genlearn.text import GPT, GPT_PRESETS, GPTConfig, GPTTrainer, RotaryEmbedding, generate
from genlearn.text.gpt import rotate

VOCAB = 11
ENCODINGS = ["learned", "rope"]


def tiny_gpt(position_encoding="rope", num_layers=2, context_length=8, seed=0):
    """A GPT whose attention is sharp: at GPT-2's initial scale the scores are about 1e-4, so attention would be
    nearly uniform, and a wrong position could hide under the tolerance."""
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=VOCAB, context_length=context_length, num_layers=num_layers, num_heads=2,
                       embedding_dim=16, position_encoding=position_encoding)
    model = GPT(config).eval()
    with torch.no_grad():
        for block in model.blocks:
            block.attention.qkv.weight.normal_(std=0.5)
    return model


def test_rotary_scores_depend_only_on_relative_position():
    rotary = RotaryEmbedding(head_dim=8, num_positions=16)
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 5, 8, generator=generator)
    scores = rotate(q, rotary(0, 5)) @ rotate(k, rotary(0, 5)).T
    shifted = rotate(q, rotary(1000, 5)) @ rotate(k, rotary(1000, 5)).T  # past the table: it grows
    torch.testing.assert_close(shifted, scores, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(rotate(q, rotary(0, 5)).norm(dim=-1), q.norm(dim=-1))  # a rotation keeps lengths
    assert not torch.allclose(scores, q @ k.T, atol=1e-3), "the rotation must change the scores"
    # Position 0 is not turned; position t turns channel pair 0 by t radians.
    torch.testing.assert_close(rotate(q[:1], rotary(0, 1)), q[:1])
    turned = rotate(torch.tensor([[1.0, 0, 0, 0, 0, 0, 0, 0]]), rotary(3, 1))
    angle = torch.tensor(3.0)
    torch.testing.assert_close(turned, torch.tensor([[angle.cos(), 0, 0, 0, angle.sin(), 0, 0, 0]]))


def test_rope_has_no_position_table_and_needs_an_even_head_size():
    model = tiny_gpt("rope")
    assert not hasattr(model, "position_embedding")
    assert model.num_parameters() == tiny_gpt("learned").num_parameters() - 8 * 16
    with pytest.raises(ValueError, match="must be even"):
        GPTConfig(vocab_size=VOCAB, num_heads=2, embedding_dim=6, position_encoding="rope")
    with pytest.raises(ValueError, match="position_encoding must be one of"):
        GPTConfig(vocab_size=VOCAB, position_encoding="alibi")


def test_rope_is_causal():
    model = tiny_gpt("rope")
    idx = torch.randint(0, VOCAB, (3, 8), generator=torch.Generator().manual_seed(1))
    changed = idx.clone()
    changed[:, 5] = (changed[:, 5] + 1) % VOCAB
    logits, changed_logits = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(changed_logits[:, :5], logits[:, :5], rtol=0, atol=0)
    assert not torch.allclose(changed_logits[:, 5:], logits[:, 5:])


@pytest.mark.parametrize("position_encoding", ENCODINGS)
def test_cached_logits_match_the_full_forward_within_the_window(position_encoding):
    model = tiny_gpt(position_encoding)
    idx = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(3))
    full, _ = model(idx)
    cache = model.new_kv_cache(2)
    prefix, _ = model(idx[:, :3], kv_cache=cache)
    steps = [model(idx[:, t : t + 1], kv_cache=cache)[0] for t in range(3, 8)]
    torch.testing.assert_close(torch.cat([prefix, *steps], dim=1), full)


@pytest.mark.parametrize("position_encoding", ENCODINGS)
@pytest.mark.parametrize("sampling", [dict(top_k=1), dict(temperature=1.3, top_k=8, top_p=0.95)],
                         ids=["greedy", "sampled"])
def test_cached_and_uncached_generation_agree_within_the_window(position_encoding, sampling):
    model = tiny_gpt(position_encoding)
    prompt = torch.randint(0, VOCAB, (3, 2), generator=torch.Generator().manual_seed(4))
    new_tokens = 6  # 2 + 6 = the context of 8
    uncached = generate(model, prompt, new_tokens, generator=torch.Generator().manual_seed(5), **sampling)
    cached = generate(model, prompt, new_tokens, generator=torch.Generator().manual_seed(5), use_kv_cache=True,
                      **sampling)
    assert torch.equal(cached, uncached)


def rolling_logits(model, idx):
    """Last-position logits of every step of a cached pass, one token at a time, far past the window."""
    cache = model.new_kv_cache(idx.size(0))
    return torch.stack([model(idx[:, t : t + 1], kv_cache=cache)[0][:, -1] for t in range(idx.size(1))], dim=1)


def windowed_logits(model, idx):
    """Last-position logits of an uncached forward over the last ``context_length`` tokens, at every step."""
    context = model.context_length
    return torch.stack([model(idx[:, max(0, t + 1 - context) : t + 1])[0][:, -1] for t in range(idx.size(1))], dim=1)


def test_one_layer_rolling_cache_equals_the_uncached_window_past_the_context():
    model = tiny_gpt("rope", num_layers=1)
    idx = torch.randint(0, VOCAB, (2, 40), generator=torch.Generator().manual_seed(6))  # 5 windows long
    torch.testing.assert_close(rolling_logits(model, idx), windowed_logits(model, idx), atol=1e-4, rtol=1e-4)


def test_deeper_rolling_cache_is_an_approximation_past_the_context():
    model = tiny_gpt("rope", num_layers=2)
    idx = torch.randint(0, VOCAB, (2, 40), generator=torch.Generator().manual_seed(7))
    rolling, windowed = rolling_logits(model, idx), windowed_logits(model, idx)
    torch.testing.assert_close(rolling[:, :8], windowed[:, :8])  # within the window, exact
    # Past it, layer 2's cached keys were computed from tokens that have left the window: the logits differ.
    assert not torch.allclose(rolling[:, 8:], windowed[:, 8:], atol=1e-3)


@pytest.mark.parametrize("position_encoding", ENCODINGS)
def test_past_the_context_rope_feeds_one_token_per_step_and_learned_refills(position_encoding, monkeypatch):
    model = tiny_gpt(position_encoding)
    lengths = []
    forward = model.forward

    def recording_forward(idx, *args, **kwargs):
        lengths.append(idx.size(1))
        return forward(idx, *args, **kwargs)

    monkeypatch.setattr(model, "forward", recording_forward)
    out = generate(model, torch.zeros((2, 3), dtype=torch.int64), 30, generator=torch.Generator().manual_seed(8),
                   use_kv_cache=True)
    assert out.shape == (2, 33) and int(out.min()) >= 0 and int(out.max()) < VOCAB
    past_the_context = lengths[6:]  # 3 + 5 tokens fill the window of 8
    assert past_the_context == ([1] * 24 if position_encoding == "rope" else [8] * 24)


def test_learned_positions_cache_does_not_roll():
    model = tiny_gpt("learned")
    cache = model.new_kv_cache(1)
    model(torch.zeros((1, 8), dtype=torch.int64), kv_cache=cache)
    assert not cache.rolls
    with pytest.raises(ValueError, match="longer than context_length"):
        model(torch.zeros((1, 1), dtype=torch.int64), kv_cache=cache)


def test_gpt_trains_with_rope():
    config = dataclasses.replace(GPT_PRESETS["smoke"], position_encoding="rope", num_steps=3, eval_every=0)
    trainer = GPTTrainer(config, "cpu")
    assert trainer.model.config.position_encoding == "rope"
    trainer.fit(progress=False)
    assert len(trainer.sample(1, length=3 * config.context_length)[0]) > 3 * config.context_length  # past the window


def test_attention_paths_agree_with_rope_past_the_window():
    model = tiny_gpt("rope", context_length=8)
    idx = torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(9))
    other = GPT(dataclasses.replace(model.config, attention="sdpa")).eval()
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(rolling_logits(other, idx), rolling_logits(model, idx))
