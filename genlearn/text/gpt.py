"""A GPT in the shape of nanoGPT: token + position embeddings, pre-norm blocks of causal self-attention and MLP.

Read top to bottom: config, rotary position embeddings, attention, MLP, block, the model, and the KV cache used
for generation.

Positions enter in one of two ways (``GPTConfig.position_encoding``):

- "learned" (GPT-2): a table of ``context_length`` vectors added to the token embeddings. A token's vector,
  and every key computed from it, depends on its absolute position in the window.
- "rope" (rotary, Su et al. 2021; Llama): no table; each query and key is rotated, pair of channels by pair,
  by an angle proportional to its position. A score q_m . k_n then depends only on m - n, so keys cached at
  their absolute positions stay valid however far generation runs, and the cache can roll past the context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlearn.text.language_model import LanguageModel

ATTENTION_PATHS = ("auto", "matmul", "sdpa")
POSITION_ENCODINGS = ("learned", "rope")
ROPE_BASE = 10000.0  # the wavelengths of the channel pairs run from 2*pi to about 2*pi*base


@dataclass
class GPTConfig:
    """nanoGPT's config in the course's vocabulary: its n_layer, n_head and n_embd are num_layers, num_heads, embedding_dim."""

    vocab_size: int
    context_length: int = 64  # nanoGPT's block_size: the longest sequence the model sees
    num_layers: int = 4
    num_heads: int = 4
    embedding_dim: int = 128
    dropout: float = 0.0
    bias: bool = False  # biases in Linear and LayerNorm layers
    # "sdpa": F.scaled_dot_product_attention, fused flash / memory-efficient kernels on a GPU. "matmul": the
    # explicit path, which measured as fast on this course's 2-core CPU (benchmarks/text.py, "attention path").
    # "auto": sdpa on GPUs, matmul on the CPU.
    attention: str = "auto"
    position_encoding: str = "learned"  # "learned": a position table, as GPT-2; "rope": rotary, as Llama

    def __post_init__(self):
        if self.embedding_dim % self.num_heads:
            raise ValueError(f"embedding_dim={self.embedding_dim} must be divisible by num_heads={self.num_heads}")
        if self.attention not in ATTENTION_PATHS:
            raise ValueError(f"attention must be one of {ATTENTION_PATHS}, got {self.attention!r}")
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.position_encoding == "rope" and (self.embedding_dim // self.num_heads) % 2:
            raise ValueError(
                f"rope rotates pairs of channels, so the head size embedding_dim / num_heads = "
                f"{self.embedding_dim // self.num_heads} must be even"
            )


class RotaryEmbedding(nn.Module):
    """The cos and sin of each position's rotation angles: channel pair i of a head turns by position * base^(-2i/d).

    A table of them, grown (doubled) when generation passes its end, so a step looks its row up.
    """

    def __init__(self, head_dim: int, num_positions: int, base: float = ROPE_BASE):
        super().__init__()
        self.frequencies = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        self.register_buffer("cos", torch.empty(0), persistent=False)
        self.register_buffer("sin", torch.empty(0), persistent=False)
        self._fill(num_positions, torch.device("cpu"))

    def _fill(self, num_positions: int, device: torch.device) -> None:
        # In float64, so that far positions keep their angles exact to float32's precision.
        angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * self.frequencies[None, :]
        self.cos = angles.cos().to(device, torch.float32)
        self.sin = angles.sin().to(device, torch.float32)

    def forward(self, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each (length, head_dim / 2), for positions start .. start + length - 1."""
        end = start + length
        if end > len(self.cos):
            self._fill(2 * end, self.cos.device)
        return self.cos[start:end], self.sin[start:end]


def rotate(x: torch.Tensor, rotation: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``x`` (..., T, head_dim) with channel pair (i, i + head_dim/2) at time t turned by ``rotation``'s row t."""
    cos, sin = (part.to(x.dtype) for part in rotation)
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, dropout: float = 0.0
) -> torch.Tensor:
    """softmax(q k^T / sqrt(head_dim)) v, where ``mask`` (True = may attend) removes the forbidden keys."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    if dropout:
        weights = F.dropout(weights, dropout)
    return weights @ v


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends only to positions <= t."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.embedding_dim = config.embedding_dim
        self.attention_path = config.attention
        self.qkv = nn.Linear(config.embedding_dim, 3 * config.embedding_dim, bias=config.bias)
        self.proj = nn.Linear(config.embedding_dim, config.embedding_dim, bias=config.bias)
        self.dropout = config.dropout
        self.residual_dropout = nn.Dropout(config.dropout)
        causal = torch.tril(torch.ones(config.context_length, config.context_length, dtype=torch.bool))
        self.register_buffer("causal_mask", causal, persistent=False)

    def forward(
        self,
        x: torch.Tensor,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        rotation: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``rotation``: RoPE's (cos, sin) at the positions of ``x``; None with learned positions."""
        batch, length, channels = x.shape
        q, k, v = self.qkv(x).split(self.embedding_dim, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim): each head attends independently.
        q, k, v = (t.view(batch, length, self.num_heads, channels // self.num_heads).transpose(1, 2) for t in (q, k, v))
        if rotation is not None:
            q, k = rotate(q, rotation), rotate(k, rotation)  # keys are cached already rotated
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)
        # The new queries are the last `length` of the keys: query i sees the keys up to its own, at offset + i.
        offset = k.size(2) - length
        mask = self.causal_mask[offset : offset + length, : offset + length]
        dropout = self.dropout if self.training else 0.0
        if self.attention_path == "sdpa" or (self.attention_path == "auto" and x.device.type != "cpu"):
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if offset == 0 else mask, dropout_p=dropout, is_causal=offset == 0
            )
        else:
            y = attention(q, k, v, mask, dropout)
        y = y.transpose(1, 2).contiguous().view(batch, length, channels)  # concatenate the heads
        return self.residual_dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.embedding_dim, 4 * config.embedding_dim, bias=config.bias)
        self.proj = nn.Linear(4 * config.embedding_dim, config.embedding_dim, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-norm residual block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm_1 = nn.LayerNorm(config.embedding_dim, bias=config.bias)
        self.attention = CausalSelfAttention(config)
        self.norm_2 = nn.LayerNorm(config.embedding_dim, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        kv_cache: KVCache | None = None,
        layer: int = 0,
        rotation: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        x = x + self.attention(self.norm_1(x), kv_cache, layer, rotation)
        return x + self.mlp(self.norm_2(x))


class GPT(LanguageModel):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.context_length = config.context_length
        self.token_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        if config.position_encoding == "learned":
            self.position_embedding = nn.Embedding(config.context_length, config.embedding_dim)
        else:
            self.rotary = RotaryEmbedding(config.embedding_dim // config.num_heads, config.context_length)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.norm_final = nn.LayerNorm(config.embedding_dim, bias=config.bias)
        self.lm_head = nn.Linear(config.embedding_dim, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # weight tying, as in GPT-2
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight"):  # GPT-2: residual projections scaled by 1/sqrt(2 * num_layers)
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.num_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, kv_cache: KVCache | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) for every position; the mean cross-entropy if ``targets`` (-1 = ignore) are given.

        With ``kv_cache``, ``idx`` continues the sequence whose keys and values the cache holds. With RoPE the
        cache may already hold ``context_length`` tokens: it then drops its oldest (``KVCache``).
        """
        length = idx.size(1)
        x = self.token_embedding(idx)
        rotation = None
        if self.config.position_encoding == "learned":
            offset = kv_cache.length if kv_cache is not None else 0
            if offset + length > self.context_length:
                raise ValueError(
                    f"sequence of {offset + length} tokens is longer than context_length={self.context_length}; "
                    "crop it (generation.generate does)"
                )
            x = x + self.position_embedding(torch.arange(offset, offset + length, device=idx.device))
        else:
            if length > self.context_length:
                raise ValueError(
                    f"{length} tokens at once is more than context_length={self.context_length}; "
                    "crop it (generation.generate does)"
                )
            rotation = self.rotary(kv_cache.position if kv_cache is not None else 0, length)
        x = self.dropout(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, kv_cache, layer, rotation)
        if kv_cache is not None:
            kv_cache.advance(length)
        logits = self.lm_head(self.norm_final(x))
        return logits, self.next_token_loss(logits, targets)

    def new_kv_cache(self, batch_size: int) -> KVCache:
        parameter = self.token_embedding.weight
        return KVCache(self.config, batch_size, parameter.device, parameter.dtype)


class KVCache:
    """Keys and values of the tokens seen so far, per layer, so each new token costs one position, not T.

    ``length`` is how many are kept (at most ``context_length``), ``position`` how many tokens the sequence has
    had (the absolute position of the next one). With RoPE (``rolls``) a full cache drops its oldest keys and
    values to make room: the keys were rotated at their absolute positions, so the rest stay valid. With
    learned positions it never rolls: generation refills it past the context (``generation.generate``).
    """

    def __init__(self, config: GPTConfig, batch_size: int, device: torch.device, dtype: torch.dtype):
        head_dim = config.embedding_dim // config.num_heads
        self.capacity = config.context_length
        self.rolls = config.position_encoding == "rope"
        # A rolling cache writes on into a buffer of twice the window and moves the window back to the front when
        # it reaches the end: one copy per context_length tokens, not one per token.
        slots = 2 * self.capacity if self.rolls else self.capacity
        shape = (config.num_layers, 2, batch_size, config.num_heads, slots, head_dim)
        self.tensors = torch.zeros(shape, device=device, dtype=dtype)
        self.start = 0  # the slot of the oldest key kept
        self.length = 0
        self.position = 0

    def _placement(self, num_new: int) -> tuple[int, int]:
        """Where the keys kept start, and how many are kept, once ``num_new`` more are stored."""
        if num_new > self.capacity or (self.length + num_new > self.capacity and not self.rolls):
            raise ValueError(f"{self.length + num_new} tokens do not fit a KV cache of context_length={self.capacity}")
        kept = min(self.length, self.capacity - num_new)
        first = self.start + self.length - kept
        if first + kept + num_new > self.tensors.size(-2):
            first = 0
        return first, kept

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's new keys and values; return all those kept (the last ``context_length`` if it rolls)."""
        first, kept = self._placement(k.size(2))
        previous_first = self.start + self.length - kept
        if first != previous_first:  # back to the front; the two ranges never overlap (the window is half the buffer)
            kept_before = self.tensors[layer, ..., previous_first : previous_first + kept, :]
            self.tensors[layer, ..., first : first + kept, :] = kept_before
        end = first + kept + k.size(2)
        self.tensors[layer, 0, :, :, first + kept : end] = k
        self.tensors[layer, 1, :, :, first + kept : end] = v
        return self.tensors[layer, 0, :, :, first:end], self.tensors[layer, 1, :, :, first:end]

    def advance(self, num_tokens: int) -> None:
        self.start, kept = self._placement(num_tokens)
        self.length = kept + num_tokens
        self.position += num_tokens

    def reset(self) -> None:
        self.start = self.length = self.position = 0
