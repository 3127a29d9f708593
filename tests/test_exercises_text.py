"""The text track's exercises (notebooks 07 and 08) reject hard-coded answers, classic mistakes and calls to the answer.

The generic checks (every reference passes, calling it is refused) are in tests/test_exercises.py.
"""

import collections
import math

import pytest
import torch
import torch.nn.functional as F

import genlearn.data
import genlearn.text
from genlearn import budget
from genlearn.exercises import passes
from genlearn.text import exercises
from genlearn.text.bpe import learn_merges
from genlearn.text.gpt import GPT, GPTConfig, KVCache
from genlearn.text.mlp import MLPConfig, MLPLanguageModel

# --- 07: smoothed bigram probabilities -----------------------------------------------------------------


def test_bigram_probabilities_accepts_a_loop_and_rejects_the_usual_mistakes():
    def with_a_loop(counts, smoothing):
        rows = [(row.float() + smoothing) / (row.float() + smoothing).sum() for row in counts]
        return torch.stack(rows)

    def normalises_columns(counts, smoothing):
        smoothed = counts + smoothing
        return smoothed / smoothed.sum(dim=0, keepdim=True)

    def smooths_only_the_numerator(counts, smoothing):
        return (counts + smoothing) / counts.sum(dim=1, keepdim=True).clamp(min=1)

    def adds_in_place(counts, smoothing):
        counts += smoothing
        return counts / counts.sum(dim=1, keepdim=True)

    exercise = exercises.BIGRAM_PROBABILITIES
    assert passes(exercise, with_a_loop)
    assert not passes(exercise, lambda counts, smoothing: torch.full((5, 5), 0.2))
    for wrong in (normalises_columns, smooths_only_the_numerator, adds_in_place):
        assert not passes(exercise, wrong), wrong.__name__
    assert not passes(exercise, lambda counts, smoothing: genlearn.text.BigramCounts(counts, smoothing).log_probs.exp())


# --- 07: average NLL -----------------------------------------------------------------------------------


def test_average_nll_rejects_padding_sums_and_the_wrong_log():
    def counts_the_padding(probs, inputs, targets):
        return -probs[inputs, targets.clamp(min=0)].log().mean()

    def sums(probs, inputs, targets):
        keep = targets >= 0
        return -probs[inputs[keep], targets[keep]].log().sum()

    def in_bits(probs, inputs, targets):
        keep = targets >= 0
        return -probs[inputs[keep], targets[keep]].log2().mean()

    def transposed(probs, inputs, targets):
        keep = targets >= 0
        return -probs[targets[keep], inputs[keep]].log().mean()

    def with_cross_entropy(probs, inputs, targets):
        return F.cross_entropy(probs.log()[inputs].flatten(0, 1), targets.flatten(), ignore_index=-1)

    exercise = exercises.AVERAGE_NLL
    assert not passes(exercise, lambda probs, inputs, targets: 2.3)
    for wrong in (counts_the_padding, sums, in_bits, transposed, with_cross_entropy):
        assert not passes(exercise, wrong), wrong.__name__


# --- 07: log p(name) by the chain rule -----------------------------------------------------------------


def _chain(name, probs, stoi, start=True, end=True, boundary=None):
    boundary = stoi["."] if boundary is None else boundary
    ids = ([boundary] if start else []) + [stoi[c] for c in name] + ([boundary] if end else [])
    return sum(math.log(probs[a, b]) for a, b in zip(ids, ids[1:]))


def test_name_log_probability_needs_both_boundaries_and_the_real_boundary_id():
    exercise = exercises.NAME_LOG_PROBABILITY
    assert passes(exercise, _chain)  # a float from a Python loop is fine
    assert not passes(exercise, lambda name, probs, stoi: -5.0)
    assert not passes(exercise, lambda name, probs, stoi: _chain(name, probs, stoi, end=False))
    assert not passes(exercise, lambda name, probs, stoi: _chain(name, probs, stoi, start=False))
    assert not passes(exercise, lambda name, probs, stoi: _chain(name, probs, stoi, boundary=0))
    assert not passes(exercise, lambda name, probs, stoi: math.exp(_chain(name, probs, stoi)))


def test_name_log_probability_refuses_the_librarys_encoding():
    def with_encode_names(name, probs, stoi):
        tokenizer = genlearn.data.CharTokenizer(sorted(stoi, key=stoi.get))
        x, y = genlearn.data.encode_names([name], tokenizer)
        return probs[x[0], y[0]].log().sum()

    assert not passes(exercises.NAME_LOG_PROBABILITY, with_encode_names)


# --- 07: the MLP's forward pass ------------------------------------------------------------------------


def _mlp_logits(idx, weights, context_length, blank=None, oldest_first=True):
    embedding = weights["token_embedding.weight"]
    blank = embedding.size(0) - 1 if blank is None else blank
    padded = F.pad(idx, (context_length - 1, 0), value=blank)
    windows = padded.unfold(1, context_length, 1)
    if not oldest_first:
        windows = windows.flip(-1)
    hidden = torch.tanh(embedding[windows].flatten(2) @ weights["hidden.weight"].T + weights["hidden.bias"])
    return hidden @ weights["output.weight"].T + weights["output.bias"]


def test_mlp_logits_rejects_the_wrong_padding_order_and_the_library():
    def with_the_library(idx, weights, context_length):
        embedding = weights["token_embedding.weight"]
        config = MLPConfig(embedding.size(0) - 1, context_length, embedding.size(1), weights["hidden.bias"].numel())
        model = MLPLanguageModel(config)
        model.load_state_dict(weights)
        return model(idx)[0]

    exercise = exercises.MLP_LOGITS
    assert passes(exercise, _mlp_logits)
    assert not passes(exercise, lambda idx, weights, context_length: torch.zeros(*idx.shape, 5))
    assert not passes(exercise, lambda idx, weights, context_length: _mlp_logits(idx, weights, context_length, blank=0))
    assert not passes(exercise, lambda idx, weights, k: _mlp_logits(idx, weights, k, oldest_first=False))
    assert not passes(exercise, lambda idx, weights, k: _mlp_logits(idx, weights, k).detach())
    assert not passes(exercise, with_the_library)


# --- 07: the open exercise -----------------------------------------------------------------------------


def test_context_length_must_be_a_length_other_than_3_that_beats_it(monkeypatch):
    monkeypatch.setenv(budget.BUDGET_ENV, "smoke")
    exercise = exercises.MLP_CONTEXT_LENGTH
    assert not passes(exercise, lambda: 3)
    assert not passes(exercise, lambda: "8")
    assert not passes(exercise, lambda: 1)  # trains: one character of context loses to three


# --- 08: causal attention ------------------------------------------------------------------------------


def _attention(q, k, v, scale=True, mask="causal"):
    length = q.size(-2)
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.size(-1)) if scale else 1.0)
    if mask == "causal":
        scores = scores.masked_fill(torch.ones(length, length).triu(1).bool(), float("-inf"))
    elif mask == "reversed":
        scores = scores.masked_fill(torch.ones(length, length).tril(-1).bool(), float("-inf"))
    return F.softmax(scores, dim=-1) @ v


def test_causal_attention_rejects_missing_mask_scale_and_the_fused_kernel():
    exercise = exercises.CAUSAL_ATTENTION
    assert passes(exercise, _attention)
    assert not passes(exercise, lambda q, k, v: torch.zeros_like(v))
    assert not passes(exercise, lambda q, k, v: _attention(q, k, v, mask=None))
    assert not passes(exercise, lambda q, k, v: _attention(q, k, v, mask="reversed"))
    assert not passes(exercise, lambda q, k, v: _attention(q, k, v, scale=False))

    def with_the_library(q, k, v):
        return genlearn.text.attention(q, k, v, torch.ones(q.size(-2), q.size(-2)).tril().bool())

    assert not passes(exercise, with_the_library)


def test_causal_attention_refuses_the_fused_kernel():
    def with_the_fused_kernel(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    assert not passes(exercises.CAUSAL_ATTENTION, with_the_fused_kernel)


# --- 08: top-k and top-p -------------------------------------------------------------------------------


def test_top_k_keeps_ties_and_rejects_the_smallest_a_global_cut_and_in_place_edits():
    def exactly_k(logits, k):  # drops a token tied with the k-th
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, logits.topk(k, dim=-1).indices, True)
        return logits.masked_fill(~keep, float("-inf"))

    def smallest(logits, k):
        kth_smallest = torch.topk(logits, k, dim=-1, largest=False).values[:, [-1]]
        return logits.masked_fill(logits > kth_smallest, float("-inf"))

    def over_the_whole_batch(logits, k):
        return logits.masked_fill(logits < logits.flatten().topk(k).values[-1], float("-inf"))

    def in_place(logits, k):
        return logits.masked_fill_(logits < logits.topk(k, dim=-1).values[:, [-1]], float("-inf"))

    def by_sorting(logits, k):
        return logits.masked_fill(logits < logits.sort(-1, descending=True).values[:, [k - 1]], -math.inf)

    exercise = exercises.TOP_K_FILTER
    assert passes(exercise, by_sorting)
    assert not passes(exercise, lambda logits, k: torch.zeros(3, 10))
    for wrong in (exactly_k, smallest, over_the_whole_batch, in_place):
        assert not passes(exercise, wrong), wrong.__name__
    assert not passes(exercise, lambda logits, k: genlearn.text.filter_logits(logits, top_k=k))


def _nucleus(logits, p, keep_crossing=True, keep_ties=True):
    probs = logits.softmax(-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    keep_sorted = before < p if keep_crossing else before + sorted_probs <= p
    keep = keep_sorted.scatter(-1, order, keep_sorted)
    if keep_ties:
        keep = probs >= probs.masked_fill(~keep, math.inf).min(-1, keepdim=True).values
    return logits.masked_fill(~keep, float("-inf"))


def test_top_p_keeps_the_crossing_token_and_its_ties():
    exercise = exercises.TOP_P_FILTER
    assert passes(exercise, _nucleus)
    assert not passes(exercise, lambda logits, p: logits)
    assert not passes(exercise, lambda logits, p: _nucleus(logits, p, keep_crossing=False))
    assert not passes(exercise, lambda logits, p: _nucleus(logits, p, keep_ties=False))
    assert not passes(exercise, lambda logits, p: logits.masked_fill(~_nucleus(-logits, p).isfinite(), -math.inf))
    assert not passes(exercise, lambda logits, p: genlearn.text.filter_logits(logits, top_p=p))


# --- 08: a GPT with a tied head ------------------------------------------------------------------------


def _gpt(idx, weights, num_heads, positions=True, head_scale=True, pre_norm=True, final_norm=True, tied=True):
    embedding = weights["token_embedding.weight"]
    batch, length = idx.shape
    x = embedding[idx] + (weights["position_embedding.weight"][:length] if positions else 0)
    channels = x.size(-1)
    head_dim = channels // num_heads
    norm = lambda x, name: F.layer_norm(x, (channels,), weights[name])  # noqa: E731
    layer = 0
    while f"blocks.{layer}.norm_1.weight" in weights:
        w = {name[len(f"blocks.{layer}."):]: t for name, t in weights.items() if name.startswith(f"blocks.{layer}.")}
        h = norm(x, f"blocks.{layer}.norm_1.weight") if pre_norm else x
        q, k, v = (h @ w["attention.qkv.weight"].T).split(channels, dim=-1)
        q, k, v = (t.view(batch, length, num_heads, head_dim).transpose(1, 2) for t in (q, k, v))
        y = _attention(q if head_scale else q / math.sqrt(num_heads), k, v)  # without: 1/sqrt(C), not 1/sqrt(C/h)
        x = x + y.transpose(1, 2).reshape(batch, length, channels) @ w["attention.proj.weight"].T
        if not pre_norm:
            x = norm(x, f"blocks.{layer}.norm_1.weight")
        h = norm(x, f"blocks.{layer}.norm_2.weight") if pre_norm else x
        x = x + F.gelu(h @ w["mlp.fc.weight"].T) @ w["mlp.proj.weight"].T
        if not pre_norm:
            x = norm(x, f"blocks.{layer}.norm_2.weight")
        layer += 1
    x = norm(x, "norm_final.weight") if final_norm else x
    return x @ (embedding if tied else embedding.detach()).T


def test_gpt_logits_rejects_missing_positions_scale_norms_and_an_untied_head():
    def with_the_library(idx, weights, num_heads):
        embedding = weights["token_embedding.weight"]
        num_layers = len({name.split(".")[1] for name in weights if name.startswith("blocks.")})
        config = GPTConfig(embedding.size(0), weights["position_embedding.weight"].size(0), num_layers, num_heads,
                           embedding.size(1), attention="matmul")
        model = GPT(config)
        model.load_state_dict({**weights, "lm_head.weight": embedding})
        return model(idx)[0]

    exercise = exercises.GPT_LOGITS
    assert passes(exercise, _gpt)
    assert not passes(exercise, lambda idx, weights, num_heads: torch.zeros(*idx.shape, 3))
    for mistake in ("positions", "head_scale", "pre_norm", "final_norm", "tied"):
        wrong = {mistake: False}
        assert not passes(exercise, lambda idx, weights, num_heads: _gpt(idx, weights, num_heads, **wrong)), mistake
    assert not passes(exercise, with_the_library)


# --- 08: the KV cache ----------------------------------------------------------------------------------


class ConcatenatingCache:
    def __init__(self, num_layers):
        self.keys = [None] * num_layers
        self.values = [None] * num_layers
        self.length = 0

    def update(self, layer, k, v):
        if self.keys[layer] is not None:
            k, v = torch.cat([self.keys[layer], k], dim=2), torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    def advance(self, num_tokens):
        self.length += num_tokens


class ChunkListCache(ConcatenatingCache):
    def __init__(self, num_layers):
        super().__init__(num_layers)
        self.chunks = [[] for _ in range(num_layers)]

    def update(self, layer, k, v):
        self.chunks[layer].append((k, v))
        return tuple(torch.cat([chunk[i] for chunk in self.chunks[layer]], dim=2) for i in range(2))


class OnlyTheNewKeys(ConcatenatingCache):
    def update(self, layer, k, v):
        return k, v


class AdvancesInUpdate(ConcatenatingCache):
    def update(self, layer, k, v):
        k, v = super().update(layer, k, v)
        self.length += k.size(2) - self.length
        return k, v


class ConcatenatesHeads(ConcatenatingCache):
    def update(self, layer, k, v):
        if self.keys[layer] is not None:
            k, v = torch.cat([self.keys[layer], k], dim=1), torch.cat([self.values[layer], v], dim=1)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class OneListForAllLayers(ConcatenatingCache):
    def update(self, layer, k, v):
        return super().update(0, k, v)


class CallsTheLibrary(ConcatenatingCache):
    def update(self, layer, k, v):
        return KVCache.update(self, layer, k, v)


def test_kv_cache_update_is_checked_against_the_uncached_logits():
    exercise = exercises.KV_CACHE_UPDATE
    assert passes(exercise, ConcatenatingCache) and passes(exercise, ChunkListCache)
    assert not passes(exercise, lambda num_layers: None)
    for wrong in (OnlyTheNewKeys, AdvancesInUpdate, ConcatenatesHeads, OneListForAllLayers, CallsTheLibrary):
        assert not passes(exercise, wrong), wrong.__name__


@pytest.mark.parametrize("name", ["CAUSAL_ATTENTION", "TOP_K_FILTER", "TOP_P_FILTER", "GPT_LOGITS", "KV_CACHE_UPDATE",
                                  "BIGRAM_PROBABILITIES", "AVERAGE_NLL", "NAME_LOG_PROBABILITY", "MLP_LOGITS"])
def test_a_hint_never_shows_the_expected_tensor(name, capsys, monkeypatch):
    """A wrong answer gets a sentence, not the numbers it should have returned."""
    from genlearn.exercises import check

    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)

    def wrong(*args):
        return torch.zeros(2) if name != "KV_CACHE_UPDATE" else OnlyTheNewKeys(*args)

    check(getattr(exercises, name), wrong)
    out = capsys.readouterr().out
    assert "not yet right" in out and "tensor(" not in out


def _merges(ids, num_merges, first_new_id, *, tie=min, stop_below=2, recount=True, left_to_right=True):
    """Plain BPE with one knob per classic mistake (written here: the guard refuses the reference during a check)."""
    ids, merges, original = list(ids), [], list(ids)
    for new_id in range(first_new_id, first_new_id + num_merges):
        counts = collections.Counter(zip(ids if recount else original, (ids if recount else original)[1:]))
        if not counts or max(counts.values()) < stop_below:
            break
        pair = tie(p for p, c in counts.items() if c == max(counts.values()))
        merges.append(pair)
        if not left_to_right:
            ids = ids[::-1]
            pair = pair[::-1]
        merged, index = [], 0
        while index < len(ids):
            if index + 1 < len(ids) and (ids[index], ids[index + 1]) == pair:
                merged.append(new_id)
                index += 2
            else:
                merged.append(ids[index])
                index += 1
        ids = merged if left_to_right else merged[::-1]
    return merges


def test_byte_pair_merges_teach_the_librarys_algorithm_and_reject_the_usual_mistakes():
    exercise = exercises.BYTE_PAIR_MERGES
    # One chunk (no spaces, digits or punctuation): the library's tokenizer learns the same merges.
    text = "abababcabcabdabdabcabcaaaabbbb"
    assert exercise.reference(list(text.encode()), 12, 256) == learn_merges(text, 256 + 12) == _merges(
        list(text.encode()), 12, 256)
    assert passes(exercise, _merges)
    mistakes = {
        "the largest pair on a tie": dict(tie=max),
        "never stopping": dict(stop_below=1),
        "counting only once": dict(recount=False),
        "merging right to left": dict(left_to_right=False),
    }
    for name, knobs in mistakes.items():
        assert not passes(exercise, lambda ids, n, first, knobs=knobs: _merges(ids, n, first, **knobs)), name
    assert not passes(exercise, lambda ids, n, first: learn_merges(bytes(ids).decode("latin-1"), 256 + n))
