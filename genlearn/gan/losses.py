"""GAN losses with named terms, written on the discriminator's logits (D(x) = sigmoid(logit)).

Working on logits, ``softplus`` gives -log D = softplus(-logit) and -log(1 - D) = softplus(logit)
exactly and stably, where log(sigmoid(...)) would underflow.

The losses: BCE (the minimax game, with the saturating or non-saturating generator), hinge, and the
Wasserstein critic (which needs a penalty from ``genlearn.gan.penalties`` or spectral norm).

Also the minimax value V(D, G), and, for densities known in closed form, the optimal discriminator
D* = p_data / (p_data + p_g) and the Jensen-Shannon divergence, with V(D*, G) = -log 4 + 2 JSD; the game
without logs, whose best D is a 0/1 step with value 1 + TV; and the 1-D Wasserstein distance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GENERATOR_LOSSES = ("non_saturating", "saturating", "hinge", "wasserstein")
DISCRIMINATOR_LOSSES = ("bce", "hinge", "wasserstein")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "bce") -> dict[str, torch.Tensor]:
    """D's loss: real images labelled 1, fakes labelled 0 (pass ``fake_logits`` of *detached* fakes).

    Returns ``d_loss``, and ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) (detached, for monitoring).
    ``kind="hinge"`` uses max(0, 1 - logit_real) + max(0, 1 + logit_fake) instead of binary cross-entropy;
    ``kind="wasserstein"`` is the WGAN critic's E[D(G(z))] - E[D(x)] (the logit is then a score, not a
    probability: it needs a Lipschitz constraint such as the gradient penalty, or it grows without bound).
    """
    if kind == "bce":
        # BCE with label 1 on reals and 0 on fakes: -log D(x) - log(1 - D(G(z))).
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    elif kind == "hinge":
        loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    elif kind == "wasserstein":
        loss = fake_logits.mean() - real_logits.mean()
    else:
        raise ValueError(f"unknown discriminator loss {kind!r}; choose one of {DISCRIMINATOR_LOSSES}")
    return {
        "d_loss": loss,
        "d_real": torch.sigmoid(real_logits.detach()).mean(),
        "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
    }


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> dict[str, torch.Tensor]:
    """G's loss on D's logits for fresh (not detached) fakes.

    - ``non_saturating``: -log D(G(z)), i.e. BCE with the *real* label 1 (what practice uses);
    - ``saturating``: log(1 - D(G(z))), the minimax game's own term, which stalls when D wins;
    - ``hinge`` and ``wasserstein``: -logit (with the hinge or the critic's loss for D).
    Returns ``g_loss`` and ``d_fake`` = mean D(G(z)).
    """
    if kind == "non_saturating":
        loss = F.softplus(-fake_logits).mean()
    elif kind == "saturating":
        loss = -F.softplus(fake_logits).mean()  # log(1 - sigmoid(a)) = -softplus(a)
    elif kind in ("hinge", "wasserstein"):
        loss = -fake_logits.mean()
    else:
        raise ValueError(f"unknown generator loss {kind!r}; choose one of {GENERATOR_LOSSES}")
    return {"g_loss": loss, "d_fake": torch.sigmoid(fake_logits.detach()).mean()}


def minimax_value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))], estimated on a batch (D maximises it, G minimises it)."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def saturating_loss_of_probability(d_fake: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))) as a function of D(G(z)) in (0, 1), elementwise (for plots)."""
    return torch.log1p(-d_fake)


def non_saturating_loss_of_probability(d_fake: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) as a function of D(G(z)) in (0, 1), elementwise (for plots)."""
    return -torch.log(d_fake)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) from the two densities evaluated at the same points."""
    return p_data / (p_data + p_g)


def value_at_optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    """V(D*, G) = ∫ p_data log D* + p_g log(1 - D*) dx, by quadrature on a grid of spacing ``dx`` (dx=1: discrete)."""
    total = p_data + p_g
    # log D* = log p_data - log(p_data + p_g) and log(1 - D*) = log p_g - log(p_data + p_g): no 1 - D* that rounds to 0.
    return (_xlogy(p_data, p_data) - _xlogy(p_data, total) + _xlogy(p_g, p_g) - _xlogy(p_g, total)).sum() * dx


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """KL(p || q) = ∫ p log(p / q) dx on a grid (0 log 0 = 0)."""
    return (_xlogy(p, p) - _xlogy(p, q)).sum() * dx


def jensen_shannon_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, in nats (between 0 and log 2)."""
    mixture = (p + q) / 2
    return (kl_divergence(p, mixture, dx) + kl_divergence(q, mixture, dx)) / 2


def minimax_value_from_jsd(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    """-log 4 + 2 JSD(p_data || p_g): what V(D*, G) must equal."""
    return -math.log(4) + 2 * jensen_shannon_divergence(p_data, p_g, dx)


def total_variation(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """TV(p, q) = ∫ |p - q| dx / 2 on a grid (dx=1: discrete): 0 for equal densities, 1 for disjoint supports."""
    return (p - q).abs().sum() * dx / 2


def optimal_discriminator_without_logs(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """1 where p_data > p_g, else 0: the D in [0, 1] that maximises ``value_without_logs``, a step function of x."""
    return (p_data > p_g).to(p_data.dtype)


def value_without_logs(
    p_data: torch.Tensor, p_g: torch.Tensor, discriminator: torch.Tensor, dx: float
) -> torch.Tensor:
    """V(D, G) = E_p_data[D(x)] + E_p_g[1 - D(x)], from D's values at the grid's points (dx=1: discrete).

    Its maximum over D is 1 + TV(p_data, p_g), reached by ``optimal_discriminator_without_logs``.
    """
    return (p_data * discriminator + p_g * (1 - discriminator)).sum() * dx


def wasserstein_1d(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """W1(p, q) = ∫ |CDF_p(x) - CDF_q(x)| dx for two densities on one 1-D grid of spacing ``dx``.

    The cost of moving p's mass onto q's: unlike the JSD, it keeps growing with the distance between
    them after their supports stop overlapping.
    """
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(
            "wasserstein_1d needs two densities on the same 1-D grid; "
            f"got shapes {tuple(p.shape)} and {tuple(q.shape)}"
        )
    cdf_gap = (p - q).cumsum(0) * dx
    return cdf_gap.abs().sum() * dx


def _xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.special.xlogy(x, y)
