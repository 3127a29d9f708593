"""Negative log-likelihood over a whole split: nats per token, perplexity, bits per character and per byte.

One function scores every text model, deterministically: every target of the split is predicted
exactly once, in a fixed order, with dropout off.

Per token, a loss depends on the tokenizer: a BPE token holds about two characters, so its loss is larger
for the same model quality. Bits per byte divides the split's whole code length, -sum log2 p(token), by
the UTF-8 bytes those tokens spell, a quantity that does not depend on how the text was cut: models with
different tokenizers compare on it. (Bits per character likewise; on ASCII text the two are equal.)
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
    model: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int = 256,
    token_bytes: list[bytes] | None = None,
) -> dict[str, float]:
    """Mean NLL of ``targets`` given ``inputs`` (both (N, T); targets -1 are skipped) over ALL rows.

    Returns ``nll`` (nats per token), ``perplexity`` (e^nll), ``bits_per_char`` and ``num_targets``. With
    ``token_bytes`` (the UTF-8 bytes each token id stands for, ``genlearn.text.tokenizer.token_bytes``) it
    adds ``bits_per_byte`` and ``num_bytes``, and counts characters in those bytes; without, every token is one
    character, and ``bits_per_char`` is nll / ln 2.
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
    return nll_metrics(total / count, count_units(targets, token_bytes))


def count_units(targets: torch.Tensor, token_bytes: list[bytes] | None = None) -> dict[str, int]:
    """How many targets (not -1) ``targets`` holds; with ``token_bytes``, also the characters and bytes they spell.

    A character is counted at its first UTF-8 byte (any byte not of the form 10xxxxxx), so a token that holds
    part of a character counts right when its tokens are summed.
    """
    kept = targets[targets >= 0].cpu()
    units = {"num_targets": len(kept)}
    if token_bytes is not None:
        num_bytes = torch.tensor([len(token) for token in token_bytes])
        num_characters = torch.tensor([sum(byte & 0xC0 != 0x80 for byte in token) for token in token_bytes])
        units.update(num_characters=int(num_characters[kept].sum()), num_bytes=int(num_bytes[kept].sum()))
    return units


def nll_metrics(nll: float, units: dict[str, int]) -> dict[str, float]:
    """``nll`` (nats per token) as ``perplexity`` (e^nll), ``bits_per_char`` and, given the bytes, ``bits_per_byte``.

    ``units``: ``count_units``'s counts of the targets that ``nll`` averages over.
    """
    total_bits = nll * units["num_targets"] / math.log(2)
    num_characters = units.get("num_characters", units["num_targets"])
    metrics = {"nll": nll, "perplexity": math.exp(nll), "num_targets": units["num_targets"]}
    # A split whose targets are all parts of one character spells no whole character.
    metrics["bits_per_char"] = total_bits / num_characters if num_characters else math.nan
    if "num_bytes" in units:
        metrics.update(bits_per_byte=total_bits / units["num_bytes"], num_bytes=units["num_bytes"])
    return metrics
