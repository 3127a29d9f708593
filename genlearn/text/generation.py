"""One sampler for every text model: the bigram, the MLP and the GPT.

Each step feeds the last ``model.context_length`` tokens, takes the logits of the last position,
reshapes them (temperature, top-k, top-p) and draws the next token. Models that offer a KV cache
(``new_kv_cache``) can reuse the keys and values of earlier positions instead of recomputing them.

Past the context, the two paths differ for a GPT with rotary positions: without the cache every step reads
the last ``context_length`` tokens afresh, while the cache rolls, dropping its oldest keys and values and
keeping the others, which layers past the first computed from an older, longer context. A one-layer model
gives the same logits either way; a deeper one a different, cheaper approximation (sliding-window attention,
as StreamingLLM and Mistral use it), whose speed-up holds however long generation runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def filter_logits(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Logits (B, V) after temperature, top-k and top-p (nucleus) filtering; removed tokens get -inf."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (got {temperature}); for greedy decoding use top_k=1")
    logits = logits / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        kth_largest = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, [-1]]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = F.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens ranked above it already hold top_p of the mass; the top one always stays.
        mass_before = probs.cumsum(dim=-1) - probs
        drop_sorted = mass_before >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_kv_cache: bool = False,
) -> torch.Tensor:
    """Extend ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; returns (B, T + max_new_tokens).

    A prompt longer than the model's context is cropped to its last ``context_length`` tokens for the
    model (the returned sequence still starts with the whole prompt). The model runs in eval mode
    (dropout off) and is put back in the mode it was in. ``use_kv_cache``, for models that have ``new_kv_cache``,
    is faster and gives the same tokens as the uncached path within the context, and past it with learned
    positions; past it with rotary positions, a rolling cache (see the module's docstring).
    """
    if idx.dim() != 2 or idx.size(1) == 0:
        raise ValueError(f"idx must be (batch, length) with length >= 1, got shape {tuple(idx.shape)}")
    if use_kv_cache and not hasattr(model, "new_kv_cache"):
        raise ValueError(f"{type(model).__name__} has no KV cache; call generate with use_kv_cache=False")
    context = model.context_length
    was_training = model.training
    model.eval()
    try:
        cache = model.new_kv_cache(idx.size(0)) if use_kv_cache else None
        for _ in range(max_new_tokens):
            if cache is None:
                logits, _ = model(idx[:, -context:])
            elif cache.length == 0 or (idx.size(1) > context and not cache.rolls):
                # Learned positions: past the context every token moves to the position before, and its keys,
                # computed from its old position's embedding, no longer apply: refill, at no speed-up.
                cache.reset()
                logits, _ = model(idx[:, -context:], kv_cache=cache)
            else:
                logits, _ = model(idx[:, -1:], kv_cache=cache)
            probs = F.softmax(filter_logits(logits[:, -1, :], temperature, top_k, top_p), dim=-1)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat([idx, next_token], dim=1)
    finally:
        model.train(was_training)
    return idx
