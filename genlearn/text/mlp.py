"""An MLP language model in the style of Bengio et al. (2003): embed the last few tokens, concatenate, tanh layer.

p(x_t | x_{t-k}, ..., x_{t-1}) = softmax(W2 tanh(W1 [e(x_{t-k}); ...; e(x_{t-1})] + b1) + b2).
Positions before the start of the sequence are filled with an extra <blank> token (id = vocab_size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlearn.text.language_model import LanguageModel


@dataclass
class MLPConfig:
    vocab_size: int
    context_length: int = 8  # k: how many previous tokens the model sees
    embedding_dim: int = 24
    hidden_dim: int = 256


class MLPLanguageModel(LanguageModel):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        self.context_length = config.context_length
        self.blank = config.vocab_size
        self.token_embedding = nn.Embedding(config.vocab_size + 1, config.embedding_dim)
        self.hidden = nn.Linear(config.context_length * config.embedding_dim, config.hidden_dim)
        self.output = nn.Linear(config.hidden_dim, config.vocab_size)
        with torch.no_grad():  # a near-uniform first guess instead of confidently wrong logits
            self.output.weight.mul_(0.1)
            self.output.bias.zero_()

    def contexts(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T, k): for every position t, the tokens t-k+1 .. t (blank before the start)."""
        k = self.context_length
        padded = F.pad(idx, (k - 1, 0), value=self.blank)
        return padded.unfold(1, k, 1)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        embedded = self.token_embedding(self.contexts(idx))  # (B, T, k, embedding_dim)
        hidden = torch.tanh(self.hidden(embedded.flatten(2)))
        logits = self.output(hidden)
        return logits, self.next_token_loss(logits, targets)
