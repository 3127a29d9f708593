"""What every text model shares: the next-token loss on its logits, and the one sampler."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlearn.text.generation import generate


class LanguageModel(nn.Module):
    """Base of the bigram, MLP and GPT models; each returns ``(logits, loss)`` from ``forward(idx, targets=None)``."""

    @staticmethod
    def next_token_loss(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
        """Mean cross-entropy over the positions whose target is not -1 (padding); None without targets."""
        if targets is None:
            return None
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)

    def generate(self, idx: torch.Tensor, max_new_tokens: int, **sampling) -> torch.Tensor:
        return generate(self, idx, max_new_tokens, **sampling)
