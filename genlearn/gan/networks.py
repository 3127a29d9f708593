"""Generators and discriminators: MLPs for 2-D toy data, and a DCGAN for native 28x28 MNIST.

Discriminators return one logit per sample, shape (N,); the losses apply the sigmoid.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from genlearn.gan.fast_convolutions import SpaceToDepthConv2d, SubPixelConvTranspose2d

NORMALIZATIONS = ("batch", "spectral", "none")


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> points (N, data_dim)."""

    def __init__(self, latent_dim: int = 2, hidden_dim: int = 128, num_layers: int = 3, data_dim: int = 2):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = mlp([latent_dim, *[hidden_dim] * num_layers, data_dim], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def with_spectral_norm(module: nn.Module) -> nn.Module:
    """Every linear and convolution of ``module`` divided by its largest singular value (Miyato et al. 2018).

    Each layer is then 1-Lipschitz, so D cannot grow its logits by scaling weights up; one power
    iteration per training forward keeps the estimate current.
    """
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            spectral_norm(layer)
    return module


def check_normalization(normalization: str, allowed: tuple[str, ...] = NORMALIZATIONS) -> None:
    if normalization not in allowed:
        raise ValueError(f"unknown discriminator normalization {normalization!r}; choose one of {allowed}")


class MLPDiscriminator(nn.Module):
    """Points (N, data_dim) -> logits (N,).

    With ``pack`` > 1 (PacGAN) it judges ``pack`` samples at once, concatenated: a collapsed
    generator's packs look alike, which a real pack does not, so D can penalise missing modes.
    ``normalization``: "none" or "spectral".
    """

    def __init__(
        self, hidden_dim: int = 128, num_layers: int = 3, data_dim: int = 2, pack: int = 1, normalization: str = "none"
    ):
        super().__init__()
        check_normalization(normalization, ("none", "spectral"))
        self.pack = pack
        self.net = mlp([data_dim * pack, *[hidden_dim] * num_layers, 1], lambda: nn.LeakyReLU(0.2))
        if normalization == "spectral":
            with_spectral_norm(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) % self.pack:
            raise ValueError(f"batch of {len(x)} is not a multiple of pack={self.pack}")
        return self.net(x.reshape(len(x) // self.pack, -1)).squeeze(-1)


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1] (tanh).

    A linear layer reshapes z to (2 * channels, 7, 7); two stride-2 transposed convolutions give 14x14, then 28x28.
    BatchNorm after every layer but the last, as in DCGAN. The last layer runs as a sub-pixel convolution
    (``fast_convolutions``): the same function, faster on a CPU.
    """

    def __init__(self, latent_dim: int = 64, channels: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * channels * 7 * 7, bias=False),
            nn.Unflatten(1, (2 * channels, 7, 7)),
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            SubPixelConvTranspose2d(channels, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latents of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.upsample(self.project(z))


class DCGANDiscriminator(nn.Module):
    """Images (N, 1, 28, 28) in [-1, 1] -> logits (N,).

    Two stride-2 convolutions (28 -> 14 -> 7) with LeakyReLU, then a linear layer to one logit. The first runs
    on 2x2 blocks of pixels (``fast_convolutions``): the same function, faster on a CPU.
    ``normalization``: "batch" puts BatchNorm on the second convolution (not on the input layer, as in
    DCGAN); "spectral" divides every layer by its spectral norm instead; "none" has neither. Gradient
    penalties need "spectral" or "none": BatchNorm mixes the samples of a batch.
    """

    def __init__(self, channels: int = 32, normalization: str = "batch"):
        super().__init__()
        check_normalization(normalization)
        batch_norm = normalization == "batch"
        self.net = nn.Sequential(
            SpaceToDepthConv2d(1, channels, 4, stride=2, padding=1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1, bias=not batch_norm),  # 14 -> 7
            nn.BatchNorm2d(2 * channels) if batch_norm else nn.Identity(),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * channels * 7 * 7, 1),
        )
        if normalization == "spectral":
            with_spectral_norm(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) weights for convolutions and linears, N(1, 0.02) for BatchNorm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        # Under spectral norm, ``weight`` is computed from the stored ``original``: initialise that.
        spectral = parametrize.is_parametrized(module, "weight")
        nn.init.normal_(module.parametrizations.weight.original if spectral else module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
