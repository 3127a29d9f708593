"""Negative log-likelihood over a whole split, in nats and bits per character, and perplexity.

One function scores every text model, deterministically: every target of the split is predicted
exactly once, in a fixed order, with dropout off.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from genlearn.training import evaluating


def sequential_windows(ids: torch.Tensor, context_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a 1-D token stream into consecutive windows so that every token after the first is a target once.

    Returns (x, y) of shape (N, context_length); the last window is padded (x with 0, y with -1 = ignore).
    """
    num_targets = len(ids) - 1
    if num_targets < 1:
        raise ValueError("a split needs at least two tokens to score")
    num_windows = -(-num_targets // context_length)
    x = torch.zeros(num_windows * context_length, dtype=torch.int64, device=ids.device)
    y = torch.full_like(x, -1)
    x[:num_targets] = ids[:-1]
    y[:num_targets] = ids[1:]
    return x.view(num_windows, context_length), y.view(num_windows, context_length)


def evaluate_nll(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int = 256
) -> dict[str, float]:
    """Mean NLL of ``targets`` given ``inputs`` (both (N, T); targets -1 are skipped) over ALL rows.

    Returns ``nll`` (nats per character), ``bits_per_char`` (nll / ln 2), ``perplexity`` (e^nll)
    and ``num_targets``.
    """
    device = next(itertools.chain(model.parameters(), model.buffers())).device
    total, count = 0.0, 0
    with evaluating(model):
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].to(device)
            y = targets[start : start + batch_size].to(device)
            logits, _ = model(x)
            losses = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1), ignore_index=-1, reduction="sum"
            )
            total += losses.item()  # float64 accumulation, so the order of batches cannot drift the sum
            count += int((y >= 0).sum())
    if count == 0:
        raise ValueError("no targets to score (every target is -1)")
    return {**nll_metrics(total / count), "num_targets": count}


def nll_metrics(nll: float) -> dict[str, float]:
    """``nll`` (nats per character) with the same figure as ``bits_per_char`` (nll / ln 2) and ``perplexity`` (e^nll)."""
    return {"nll": nll, "bits_per_char": nll / math.log(2), "perplexity": math.exp(nll)}
