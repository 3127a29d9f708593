"""Activation and gradient statistics of a tanh hidden layer, to judge an initialisation before training.

Too-large weights give large pre-activations; tanh then sits near ±1, where its slope 1 - h² is almost 0,
so the backward pass lets almost no gradient through it (Karpathy's makemore, lectures 3-4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SATURATED = 0.97  # |tanh| above this: slope below 1 - 0.97² ≈ 0.06


@dataclass
class TanhStatistics:
    loss: float  # the model's loss on the batch
    preactivation_std: float  # of a = layer(x), the tanh's input
    saturated_fraction: float  # of activations h = tanh(a) with |h| > SATURATED
    gradient_std_at_h: float  # of d loss / d h, the gradient arriving at the tanh from above
    gradient_std_at_a: float  # of d loss / d a = (1 - h²) d loss / d h, what passes on to the layer's weights
    hidden: torch.Tensor  # h, one row per scored position, for a histogram


def tanh_layer_statistics(
    model: nn.Module, layer: nn.Linear, next_layer: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> TanhStatistics:
    """One forward and backward pass of ``model`` on a batch, measured around h = tanh(layer(x)), which feeds ``next_layer``.

    Statistics cover the positions with a target (not -1). The parameters' ``.grad`` are left untouched.
    """
    captured = {}
    handles = [
        layer.register_forward_hook(lambda module, args, output: captured.setdefault("a", []).append(output)),
        next_layer.register_forward_pre_hook(lambda module, args: captured.setdefault("h", []).append(args[0])),
    ]
    try:
        _, loss = model(inputs, targets)
    finally:
        for handle in handles:
            handle.remove()
    if [len(captured.get(name, [])) for name in ("a", "h")] != [1, 1]:
        raise ValueError("each layer must run once in the forward pass: pass the tanh layer and the layer it feeds")
    (a,), (h,) = captured["a"], captured["h"]
    gradient_at_a, gradient_at_h = torch.autograd.grad(loss, [a, h])
    scored = targets >= 0
    a, h = a.detach()[scored], h.detach()[scored]
    return TanhStatistics(
        loss=loss.item(),
        preactivation_std=a.std().item(),
        saturated_fraction=(h.abs() > SATURATED).float().mean().item(),
        gradient_std_at_h=gradient_at_h[scored].std().item(),
        gradient_std_at_a=gradient_at_a[scored].std().item(),
        hidden=h.cpu(),
    )
