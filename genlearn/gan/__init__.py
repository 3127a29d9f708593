"""GANs: the minimax game's losses, MLP and DCGAN models, a trainer on the shared core, and sampling."""

from genlearn.gan.losses import (
    discriminator_loss,
    generator_loss,
    jensen_shannon_divergence,
    minimax_value,
    minimax_value_from_jsd,
    optimal_discriminator,
    value_at_optimal_discriminator,
)
from genlearn.gan.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from genlearn.gan.sampling import generate, interpolate_latents, sample_latents, to_unit_interval
from genlearn.gan.training import DCGAN_PRESETS, PRESETS, TOY_PRESETS, GANConfig, GANTrainer, adversarial_step

__all__ = [
    "DCGAN_PRESETS",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANConfig",
    "GANTrainer",
    "MLPDiscriminator",
    "MLPGenerator",
    "PRESETS",
    "TOY_PRESETS",
    "adversarial_step",
    "discriminator_loss",
    "generate",
    "generator_loss",
    "interpolate_latents",
    "jensen_shannon_divergence",
    "minimax_value",
    "minimax_value_from_jsd",
    "optimal_discriminator",
    "sample_latents",
    "to_unit_interval",
    "value_at_optimal_discriminator",
]
