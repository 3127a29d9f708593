"""Variational autoencoders: the ELBO, its terms, the IWAE bound, and a trainer for MNIST.

- ``distributions``: q(z|x), p(x|z) and p(z), each with ``log_prob`` and ``sample``; the closed-form KL.
- ``networks``: encoders and decoders (Bernoulli or Gaussian pixels), as MLPs and as conv nets.
- ``model``: ``VAE``, whose forward returns the named terms of the ELBO (or of the IWAE objective).
- ``losses``: ``elbo``, ``iwae_objective`` and ``iwae_bound``; ``bits_per_dim``; ``squared_error_as_gaussian``.
- ``training``: ``VAEConfig``, its presets, ``kl_warmup_weight`` and ``VAETrainer``.
- ``latent``: latent grids, interpolations, encoding a dataset.
- ``sweep``: notebook 05's short runs (the β sweep, the pixel-averaging bug), trained or loaded as shipped.
- ``linear_gaussian``: a model with an exact posterior, to measure the ELBO's gap.
"""

from genlearn.vae.distributions import Bernoulli, DiagonalGaussian, StandardNormal, kl_divergence, kl_to_standard_normal
from genlearn.vae.latent import active_units, encode_dataset, interpolate, latent_grid
from genlearn.vae.linear_gaussian import LinearGaussian
from genlearn.vae.losses import (
    bits_per_dim,
    elbo,
    iwae_bound,
    iwae_log_weights,
    iwae_objective,
    squared_error_as_gaussian,
)
from genlearn.vae.model import VAE
from genlearn.vae.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, build_encoder_decoder
from genlearn.vae.training import (
    LATENT_2D_PRESETS,
    SWEEP_PRESETS,
    VAE_PRESETS,
    VAEConfig,
    VAETrainer,
    fixed_test_subset,
    kl_warmup_weight,
)

__all__ = [
    "LATENT_2D_PRESETS",
    "SWEEP_PRESETS",
    "VAE_PRESETS",
    "VAE",
    "Bernoulli",
    "ConvDecoder",
    "ConvEncoder",
    "DiagonalGaussian",
    "LinearGaussian",
    "MLPDecoder",
    "MLPEncoder",
    "StandardNormal",
    "VAEConfig",
    "VAETrainer",
    "active_units",
    "bits_per_dim",
    "build_encoder_decoder",
    "elbo",
    "encode_dataset",
    "interpolate",
    "iwae_bound",
    "iwae_log_weights",
    "iwae_objective",
    "kl_divergence",
    "kl_to_standard_normal",
    "kl_warmup_weight",
    "latent_grid",
    "fixed_test_subset",
    "squared_error_as_gaussian",
]
