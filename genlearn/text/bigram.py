"""Bigram models: p(x_t | x_<t) = p(x_t | x_{t-1}), first by counting, then as a one-layer neural network.

Both share the text-model interface ``forward(idx, targets=None) -> (logits, loss)``; the count
model's logits are its smoothed log-probabilities, so the same loss, evaluation and sampler apply.
"""

from __future__ import annotations

import torch
from torch import nn

from genlearn.text.language_model import LanguageModel


def count_bigrams(inputs: torch.Tensor, targets: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """counts[a, b] = how often token b follows token a; targets of -1 (padding) are skipped."""
    keep = targets >= 0
    pairs = inputs[keep] * vocab_size + targets[keep]
    return torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size).float()


class BigramCounts(LanguageModel):
    """The counting model: p(b | a) = (counts[a, b] + smoothing) / sum_b' (counts[a, b'] + smoothing)."""

    context_length = 1

    def __init__(self, counts: torch.Tensor, smoothing: float = 1.0):
        super().__init__()
        self.smoothing = smoothing
        self.register_buffer("counts", counts.float())
        smoothed = self.counts + smoothing
        self.register_buffer("log_probs", (smoothed / smoothed.sum(dim=1, keepdim=True)).log())

    @classmethod
    def fit(cls, inputs: torch.Tensor, targets: torch.Tensor, vocab_size: int, smoothing: float = 1.0) -> BigramCounts:
        return cls(count_bigrams(inputs, targets, vocab_size), smoothing)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.log_probs[idx]  # log-probabilities are logits whose softmax is the table's row
        return logits, self.next_token_loss(logits, targets)


class BigramLanguageModel(LanguageModel):
    """The same bigram as a network: logits = one_hot(x_{t-1}) @ W, i.e. row x_{t-1} of a (vocab, vocab) table."""

    context_length = 1

    def __init__(self, vocab_size: int):
        super().__init__()
        self.logits_table = nn.Embedding(vocab_size, vocab_size)
        nn.init.zeros_(self.logits_table.weight)  # start from the uniform distribution

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.logits_table(idx)  # an embedding lookup is the one-hot matmul without the zeros
        return logits, self.next_token_loss(logits, targets)
