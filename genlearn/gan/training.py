"""Training a GAN on the shared core: configs, presets per lesson, and ``GANTrainer``.

One step (``adversarial_step``): the discriminator learns on *detached* fakes (so its loss does not
reach G); then the generator learns through a fresh pass of D with the non-saturating loss, whose
label is "real". An optional exponential moving average of G's weights gives the samples.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from genlearn.budget import Presets
from genlearn.data import GaussianMixture2D, ImageData, InMemoryBatches, load_mnist, mode_coverage, ring_of_gaussians
from genlearn.gan.losses import discriminator_loss, generator_loss
from genlearn.gan.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, dcgan_init
from genlearn.gan.sampling import generate, sample_latents, to_unit_interval
from genlearn.precision import Precision, adam
from genlearn.training import Trainer

ARCHITECTURES = ("mlp", "dcgan")


@dataclass
class GANConfig:
    architecture: str = "dcgan"  # "mlp": 2-D ring of Gaussians; "dcgan": 28x28 MNIST
    num_steps: int = 6000
    batch_size: int = 64
    seed: int = 0
    latent_dim: int = 64
    width: int = 32  # DCGAN: channels of the first conv (the second has 2x); MLP: hidden units
    num_layers: int = 3  # MLP hidden layers
    pack: int = 1  # PacGAN: how many samples the MLP discriminator judges together
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "non_saturating"  # generator loss: "non_saturating", "saturating", or "hinge" (both nets)
    ema_decay: float = 0.0  # 0: sample from G itself; else from an EMA of G's weights
    num_data: int = 20_000  # ring: points drawn once from the mixture
    ring_modes: int = 8
    ring_radius: float = 2.0
    ring_std: float = 0.02
    eval_samples: int = 10_000


# The 2-D ring of 8 Gaussians (notebook 01).
TOY_PRESETS = Presets(
    smoke=GANConfig(architecture="mlp", num_steps=300, batch_size=128, latent_dim=2, width=64, num_layers=3,
                    generator_lr=2e-3, discriminator_lr=2e-3, num_data=4096, eval_samples=2000),
    cpu=GANConfig(architecture="mlp", num_steps=3000, batch_size=256, latent_dim=2, width=128, num_layers=3,
                  generator_lr=1e-3, discriminator_lr=1e-3, eval_samples=2000),
    gpu=GANConfig(architecture="mlp", num_steps=10_000, batch_size=512, latent_dim=2, width=256, num_layers=3,
                  generator_lr=1e-3, discriminator_lr=1e-3, eval_samples=5000),
)

# DCGAN on MNIST (notebook 02, benchmarks/gan.py): the cpu preset is the one the benchmark measures.
DCGAN_PRESETS = Presets(
    smoke=GANConfig(num_steps=200, batch_size=32, width=16, generator_lr=1e-3, discriminator_lr=1e-3,
                    ema_decay=0.9, eval_samples=500),
    cpu=GANConfig(num_steps=12_000, batch_size=64, width=32, generator_lr=5e-4, discriminator_lr=5e-4,
                  ema_decay=0.999),
    gpu=GANConfig(num_steps=30_000, batch_size=128, width=64, generator_lr=5e-4, discriminator_lr=5e-4,
                  ema_decay=0.999),
)

PRESETS = DCGAN_PRESETS


def adversarial_step(
    generator: torch.nn.Module,
    discriminator: torch.nn.Module,
    generator_optimizer: torch.optim.Optimizer,
    discriminator_optimizer: torch.optim.Optimizer,
    real: torch.Tensor,
    z: torch.Tensor,
    loss: str = "non_saturating",
    precision: Precision | None = None,
    freeze_discriminator: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """One GAN step: a discriminator step on detached fakes, then a generator step through the updated D.

    ``freeze_discriminator`` (the unwrapped D) skips D's weight gradients during the G step, which G does not need.
    Returns the detached terms ``d_loss``, ``g_loss``, ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)).
    """
    precision = precision or Precision(real.device, "fp32")
    d_kind = "hinge" if loss == "hinge" else "bce"

    # 1. Discriminator: reals labelled 1, fakes labelled 0. Detaching stops d_loss from reaching G.
    with precision.autocast():
        fake = generator(z)
        d_terms = discriminator_loss(discriminator(real), discriminator(fake.detach()), d_kind)
    discriminator_optimizer.zero_grad(set_to_none=True)
    precision.backward(d_terms["d_loss"])
    precision.step(discriminator_optimizer)

    # 2. Generator: a fresh pass through the updated D; the non-saturating loss is BCE with the *real* label.
    if freeze_discriminator is not None:
        freeze_discriminator.requires_grad_(False)
    try:
        with precision.autocast():
            g_terms = generator_loss(discriminator(fake), loss)
        generator_optimizer.zero_grad(set_to_none=True)
        precision.backward(g_terms["g_loss"])
        precision.step(generator_optimizer)
    finally:
        if freeze_discriminator is not None:
            freeze_discriminator.requires_grad_(True)
    return {
        "d_loss": d_terms["d_loss"].detach(),
        "g_loss": g_terms["g_loss"].detach(),
        "d_real": d_terms["d_real"],
        "d_fake": d_terms["d_fake"],
    }


class GANTrainer(Trainer):
    """Generator, discriminator, their Adam optimizers, the data batches, and (optionally) an EMA generator.

    ``data``: for ``dcgan``, an ``ImageData`` or (N, 1, 28, 28) floats in [0, 1] (default: ``load_mnist("train")``);
    for ``mlp``, a ``GaussianMixture2D`` or (N, 2) points (default: the ring from the config).
    """

    model_name = "gan"
    config_class = GANConfig

    def __init__(self, config: GANConfig, device, precision: str = "auto", data=None):
        super().__init__(config, device, precision)
        if config.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {config.architecture!r}; choose one of {ARCHITECTURES}")
        torch.manual_seed(config.seed)
        self.mixture: GaussianMixture2D | None = None
        if config.architecture == "mlp":
            generator = MLPGenerator(config.latent_dim, config.width, config.num_layers)
            discriminator = MLPDiscriminator(config.width, config.num_layers, pack=config.pack)
            data_tensor = self._toy_data(data)
        else:
            generator, discriminator = DCGANGenerator(config.latent_dim, config.width), DCGANDiscriminator(config.width)
            generator.apply(dcgan_init)
            discriminator.apply(dcgan_init)
            data_tensor = self._image_data(data)
        self.modules["generator"] = generator.to(self.device)
        self.modules["discriminator"] = discriminator.to(self.device)
        if config.ema_decay > 0:
            self.modules["generator_ema"] = copy.deepcopy(self.modules["generator"]).requires_grad_(False)
        betas = (config.beta1, config.beta2)
        self.optimizers["generator"] = adam(generator.parameters(), self.device, lr=config.generator_lr, betas=betas)
        self.optimizers["discriminator"] = adam(
            discriminator.parameters(), self.device, lr=config.discriminator_lr, betas=betas
        )
        self.batches = InMemoryBatches(data_tensor, config.batch_size, device=self.device, seed=config.seed)
        self.latent_rng = torch.Generator(device=self.device).manual_seed(config.seed + 1)

    def _toy_data(self, data) -> torch.Tensor:
        config = self.config
        if data is None or isinstance(data, GaussianMixture2D):
            self.mixture = data or self.configured_ring()
            return self.mixture.sample(config.num_data, torch.Generator().manual_seed(config.seed))
        return torch.as_tensor(data, dtype=torch.float32)

    def configured_ring(self) -> GaussianMixture2D:
        """The ring of Gaussians the config describes: the toy data, unless the caller passed other data."""
        return ring_of_gaussians(self.config.ring_modes, self.config.ring_radius, self.config.ring_std)

    @staticmethod
    def _image_data(data) -> torch.Tensor:
        if data is None:
            data = load_mnist("train")
        images01 = data.to_float() if isinstance(data, ImageData) else data
        if images01.ndim != 4 or images01.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected MNIST images of shape (N, 1, 28, 28), got {tuple(images01.shape)}")
        return images01 * 2 - 1  # the generator's tanh range

    @property
    def sampler(self) -> torch.nn.Module:
        """The network that makes samples: the EMA generator if there is one."""
        return self.unwrapped("generator_ema" if "generator_ema" in self.modules else "generator")

    def training_step(self, step: int) -> dict[str, torch.Tensor]:
        config = self.config
        (real,) = self.shard(next(self.batches))
        (z,) = self.shard(
            torch.randn(config.batch_size, config.latent_dim, generator=self.latent_rng, device=self.device)
        )
        terms = adversarial_step(
            self.modules["generator"],
            self.modules["discriminator"],
            self.optimizers["generator"],
            self.optimizers["discriminator"],
            real,
            z,
            loss=config.loss,
            precision=self.precision,
            # Under DDP every parameter must get a gradient each pass, so D is not frozen there.
            freeze_discriminator=self.unwrapped("discriminator") if self.world_size == 1 else None,
        )
        if "generator_ema" in self.modules:
            self._update_ema()
        return terms

    @torch.no_grad()
    def _update_ema(self) -> None:
        source, target = self.unwrapped("generator"), self.unwrapped("generator_ema")
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), 1 - self.config.ema_decay)
        for target_buffer, source_buffer in zip(target.buffers(), source.buffers()):
            target_buffer.copy_(source_buffer)

    def sample(self, num_samples: int, seed: int | None = None, use_ema: bool = True) -> torch.Tensor:
        """Samples in eval mode: images (N, 1, 28, 28) in [0, 1] for DCGAN, points (N, 2) for the MLP.

        ``seed`` fixes the latents (same samples on any device); ``use_ema=False`` samples from G itself.
        """
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        z = sample_latents(num_samples, self.config.latent_dim, self.device, rng)
        model = self.sampler if use_ema else self.unwrapped("generator")
        samples = generate(model, z)
        return to_unit_interval(samples) if self.config.architecture == "dcgan" else samples

    def evaluate(self, num_samples: int | None = None) -> dict[str, float]:
        """DCGAN: classifier metrics of samples; MLP: mode coverage of the ring."""
        num_samples = num_samples or self.config.eval_samples
        samples = self.sample(num_samples, seed=self.config.seed)
        if self.config.architecture == "mlp":
            coverage = mode_coverage(samples, self.mixture or self.configured_ring())
            return {"modes_covered": float(coverage["modes_covered"]), "fraction_high_quality": coverage["fraction_high_quality"]}
        from genlearn.evaluation import classifier_metrics

        metrics = classifier_metrics(samples, device=self.device)
        return {
            "fid": metrics["fid"],
            "inception_score": metrics["inception_score"],
            "max_min_ratio": metrics["max_min_ratio"],
            "classes_present": float(metrics["classes_present"]),
        }

    def extra_state(self) -> dict:
        return {"batches": self.batches.state_dict(), "latent_rng": self.latent_rng.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.latent_rng.set_state(state["latent_rng"])
