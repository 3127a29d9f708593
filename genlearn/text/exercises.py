"""Exercises for the text notebooks, each with a checker that catches the usual mistakes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genlearn.exercises import Exercise
from genlearn.text.generation import filter_logits
from genlearn.text.gpt import attention


def _reference_bigram_probabilities(counts: torch.Tensor, smoothing: float) -> torch.Tensor:
    smoothed = counts.float() + smoothing
    return smoothed / smoothed.sum(dim=1, keepdim=True)


def _check_bigram_probabilities(candidate) -> None:
    generator = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 20, (5, 5), generator=generator).float()
    counts[2, 3] = 0
    for smoothing in (0.0, 1.0):
        probs = candidate(counts.clone(), smoothing)
        assert probs.shape == counts.shape, f"expected shape {tuple(counts.shape)}, got {tuple(probs.shape)}"
        assert torch.allclose(probs.sum(dim=1), torch.ones(5)), "each ROW (the previous character) must sum to 1"
        expected = _reference_bigram_probabilities(counts, smoothing)
        assert torch.allclose(probs, expected, atol=1e-6), (
            f"with smoothing={smoothing}, p(b | a) should be (counts[a, b] + smoothing) / sum over b' of the same"
        )


BIGRAM_PROBABILITIES = Exercise(
    title="Smoothed bigram probabilities",
    checker=_check_bigram_probabilities,
    reference=_reference_bigram_probabilities,
)


def _reference_average_nll(probs: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    keep = targets >= 0
    return -probs[inputs[keep], targets[keep]].log().mean().item()


def _check_average_nll(candidate) -> None:
    generator = torch.Generator().manual_seed(1)
    probs = F.softmax(torch.randn(6, 6, generator=generator), dim=1)
    inputs = torch.randint(0, 6, (4, 7), generator=generator)
    targets = torch.randint(0, 6, (4, 7), generator=generator)
    targets[:, 5:] = -1  # padding after the end of each sequence
    value = float(candidate(probs, inputs, targets))
    expected = _reference_average_nll(probs, inputs, targets)
    assert math.isfinite(value), "the NLL must be finite: skip the targets equal to -1 (padding)"
    assert value > 0, "an NLL is minus a log-probability, so it is positive: did you forget the minus sign?"
    assert abs(value - expected) < 1e-5, (
        f"got {value:.4f}, expected {expected:.4f}: average -log p(target | input) over the non-padding targets only"
    )


AVERAGE_NLL = Exercise(title="Average negative log-likelihood", checker=_check_average_nll, reference=_reference_average_nll)


def _reference_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    length = q.size(-2)
    mask = torch.tril(torch.ones(length, length, dtype=torch.bool))
    return attention(q, k, v, mask)


def _check_causal_attention(candidate) -> None:
    generator = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 6, 8, generator=generator) * 3 for _ in range(3))
    out = candidate(q, k, v)
    assert out.shape == v.shape, f"expected shape {tuple(v.shape)}, got {tuple(out.shape)}"
    unscaled = F.softmax((q @ k.transpose(-2, -1)).masked_fill(~torch.ones(6, 6).tril().bool(), float("-inf")), -1) @ v
    assert not torch.allclose(out, unscaled, atol=1e-4), "scale the scores by 1/sqrt(head_dim) before the softmax"
    changed = v.clone()
    changed[:, :, -1] += 10.0
    assert torch.allclose(candidate(q, k, changed)[:, :, :-1], out[:, :, :-1], atol=1e-5), (
        "an earlier position changed when only the last value changed: mask out the future (keys after the query)"
    )
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(out, expected, atol=1e-5), "does not match F.scaled_dot_product_attention(..., is_causal=True)"


CAUSAL_ATTENTION = Exercise(
    title="Causal scaled dot-product attention", checker=_check_causal_attention, reference=_reference_causal_attention
)


def _reference_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth_largest = torch.topk(logits, k, dim=-1).values[:, [-1]]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def _check_top_k(candidate) -> None:
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 10, generator=generator)
    for k in (1, 3, 10):
        out = candidate(logits.clone(), k)
        assert out.shape == logits.shape, f"expected shape {tuple(logits.shape)}, got {tuple(out.shape)}"
        kept = torch.isfinite(out)
        assert (kept.sum(dim=1) == k).all(), f"with k={k} keep exactly k tokens per row (set the others to -inf)"
        expected = filter_logits(logits, top_k=k)
        assert torch.equal(kept, torch.isfinite(expected)), "keep the k LARGEST logits of each row"
        assert torch.allclose(out[kept], logits[kept]), "leave the kept logits unchanged"


TOP_K_FILTER = Exercise(title="Top-k filtering", checker=_check_top_k, reference=_reference_top_k)

