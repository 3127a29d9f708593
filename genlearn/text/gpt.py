"""A GPT in the shape of nanoGPT: token + position embeddings, pre-norm blocks of causal self-attention and MLP.

Read top to bottom: config, attention, MLP, block, the model, and the KV cache used for generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlearn.text.language_model import LanguageModel

ATTENTION_PATHS = ("auto", "matmul", "sdpa")


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

    def __post_init__(self):
        if self.embedding_dim % self.num_heads:
            raise ValueError(f"embedding_dim={self.embedding_dim} must be divisible by num_heads={self.num_heads}")
        if self.attention not in ATTENTION_PATHS:
            raise ValueError(f"attention must be one of {ATTENTION_PATHS}, got {self.attention!r}")


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

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        batch, length, channels = x.shape
        q, k, v = self.qkv(x).split(self.embedding_dim, dim=2)
        # (B, T, C) -> (B, heads, T, head_dim): each head attends independently.
        q, k, v = (t.view(batch, length, self.num_heads, channels // self.num_heads).transpose(1, 2) for t in (q, k, v))
        offset = 0
        if kv_cache is not None:
            offset = kv_cache.length
            k, v = kv_cache.update(layer, k, v)
        # Query i sits at absolute position offset + i and may see keys 0 .. offset + i.
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

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        x = x + self.attention(self.norm_1(x), kv_cache, layer)
        return x + self.mlp(self.norm_2(x))


class GPT(LanguageModel):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.context_length = config.context_length
        self.token_embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.position_embedding = nn.Embedding(config.context_length, config.embedding_dim)
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

        With ``kv_cache``, ``idx`` continues the sequence whose keys and values the cache holds.
        """
        length = idx.size(1)
        offset = kv_cache.length if kv_cache is not None else 0
        if offset + length > self.context_length:
            raise ValueError(
                f"sequence of {offset + length} tokens is longer than context_length={self.context_length}; "
                "crop it (generation.generate does)"
            )
        positions = torch.arange(offset, offset + length, device=idx.device)
        x = self.dropout(self.token_embedding(idx) + self.position_embedding(positions))
        for layer, block in enumerate(self.blocks):
            x = block(x, kv_cache, layer)
        if kv_cache is not None:
            kv_cache.advance(length)
        logits = self.lm_head(self.norm_final(x))
        return logits, self.next_token_loss(logits, targets)

    def new_kv_cache(self, batch_size: int) -> KVCache:
        parameter = self.token_embedding.weight
        return KVCache(self.config, batch_size, parameter.device, parameter.dtype)


class KVCache:
    """Keys and values of the tokens seen so far, per layer, so each new token costs one position, not T.

    Preallocated for ``context_length`` positions; ``length`` is how many are filled.
    """

    def __init__(self, config: GPTConfig, batch_size: int, device: torch.device, dtype: torch.dtype):
        head_dim = config.embedding_dim // config.num_heads
        shape = (config.num_layers, 2, batch_size, config.num_heads, config.context_length, head_dim)
        self.tensors = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's new keys and values; return all of them so far."""
        end = self.length + k.size(2)
        self.tensors[layer, 0, :, :, self.length : end] = k
        self.tensors[layer, 1, :, :, self.length : end] = v
        return self.tensors[layer, 0, :, :, :end], self.tensors[layer, 1, :, :, :end]

    def advance(self, num_tokens: int) -> None:
        self.length += num_tokens

    def reset(self) -> None:
        self.length = 0
