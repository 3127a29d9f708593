"""The cosine learning-rate decay, shared by the text trainers and the VAE's ``learning_rate_decay="cosine"``.

It stays near ``start`` for longer than an exponential decay (which multiplies the rate by the same factor every
step, so most steps run near ``end``), then falls to ``end``: on a short budget it reaches a lower loss
(``benchmarks/vae.py``'s same-loss race chooses between the two on a validation split).
"""

from __future__ import annotations

import math


def cosine_decay(progress: float, start: float, end: float) -> float:
    """The rate at ``progress`` (0 at the first step, 1 at the last and after) of a cosine from ``start`` to ``end``."""
    progress = min(1.0, max(0.0, progress))
    return end + 0.5 * (1 + math.cos(math.pi * progress)) * (start - end)
