"""GANs: the minimax game's losses, MLP and DCGAN networks, a trainer on the shared core, and sampling."""

from genlearn.gan.losses import (
    discriminator_loss,
    generator_loss,
    jensen_shannon_divergence,
    minimax_value,
    minimax_value_from_jsd,
    optimal_discriminator,
    optimal_discriminator_without_logs,
    total_variation,
    value_at_optimal_discriminator,
    value_without_logs,
    wasserstein_1d,
)
from genlearn.gan.networks import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from genlearn.gan.sampling import generate, interpolate_latents, sample_latents, to_unit_interval
from genlearn.gan.training import (
    DCGAN_PRESETS,
    TOY_PRESETS,
    DCGANConfig,
    DCGANTrainer,
    GANConfig,
    GANTrainer,
    ToyGANConfig,
    ToyGANTrainer,
    adversarial_step,
)

__all__ = [
    "DCGAN_PRESETS",
    "DCGANDiscriminator",
    "DCGANConfig",
    "DCGANGenerator",
    "DCGANTrainer",
    "GANConfig",
    "GANTrainer",
    "MLPDiscriminator",
    "MLPGenerator",
    "TOY_PRESETS",
    "ToyGANConfig",
    "ToyGANTrainer",
    "adversarial_step",
    "discriminator_loss",
    "generate",
    "generator_loss",
    "interpolate_latents",
    "jensen_shannon_divergence",
    "minimax_value",
    "minimax_value_from_jsd",
    "optimal_discriminator",
    "optimal_discriminator_without_logs",
    "sample_latents",
    "to_unit_interval",
    "total_variation",
    "value_at_optimal_discriminator",
    "value_without_logs",
    "wasserstein_1d",
]
