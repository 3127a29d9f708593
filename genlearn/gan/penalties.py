"""Gradient penalties on the discriminator, added to its loss.

- WGAN-GP (Gulrajani et al. 2017): lambda * E[(||grad_x D(x_hat)||_2 - 1)^2] at random points x_hat on
  the lines between real and fake samples, a soft form of the critic's 1-Lipschitz constraint;
- R1 (Mescheder et al. 2018): gamma / 2 * E[||grad_x D(x)||^2] on real samples only, which stops D from
  pushing back where G already matches the data.

Both differentiate D's logits with respect to its *input* (``create_graph=True``, so the penalty itself
is trained through). A discriminator with BatchNorm mixes the samples of a batch, so a per-sample input
gradient is not defined for it: use spectral or no normalisation with these penalties.
"""

from __future__ import annotations

import torch


def input_gradient_norms(discriminator: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    """||grad_x D(x)||_2 for each sample, shape (N,), kept in the graph."""
    points = points.detach().requires_grad_(True)
    logits = discriminator(points)
    (gradient,) = torch.autograd.grad(logits.sum(), points, create_graph=True)
    return gradient.flatten(1).norm(dim=1)


def gradient_penalty(
    discriminator: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP's E[(||grad D(x_hat)||_2 - 1)^2], x_hat = t x + (1 - t) G(z) with t ~ U(0, 1) per sample.

    Multiply by lambda (10 in the paper). ``generator`` draws t (for repeatable runs).
    """
    shape = (len(real),) + (1,) * (real.ndim - 1)
    t = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    between = t * real.detach() + (1 - t) * fake.detach()
    return (input_gradient_norms(discriminator, between) - 1).pow(2).mean()


def r1_penalty(discriminator: torch.nn.Module, real: torch.Tensor) -> torch.Tensor:
    """R1's E[||grad_x D(x)||^2] on real samples; multiply by gamma / 2."""
    return input_gradient_norms(discriminator, real).pow(2).mean()
