"""Training a GAN on the shared core: configs, presets per lesson, and the trainers.

One step (``adversarial_step``): the discriminator learns on *detached* fakes (so its loss does not
reach G); then the generator learns through a fresh pass of D with the non-saturating loss, whose
label is "real". An optional exponential moving average of G's weights gives the samples.

``GANTrainer`` holds what every GAN shares; ``ToyGANTrainer`` learns 2-D points (the ring of Gaussians of
notebook 01) with MLPs, ``DCGANTrainer`` learns 28x28 MNIST digits with convolutional nets.
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from genlearn.budget import Presets
from genlearn.data import GaussianMixture2D, ImageData, InMemoryBatches, load_mnist, mode_coverage, ring_of_gaussians
from genlearn.evaluation import classifier_metrics, describe_reference
from genlearn.gan.losses import discriminator_loss, generator_loss
from genlearn.gan.networks import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, dcgan_init
from genlearn.gan.penalties import gradient_penalty, r1_penalty
from genlearn.gan.sampling import generate, recompute_batchnorm_statistics, sample_latents, to_unit_interval
from genlearn.image_samples import MNISTImages
from genlearn.precision import Precision, adam
from genlearn.training import Trainer


@dataclass
class GANConfig:
    """What every GAN trains with."""

    num_steps: int = 6000
    batch_size: int = 64
    seed: int = 0
    latent_dim: int = 64
    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    final_learning_rate_scale: float = 1.0  # both rates fall linearly to this fraction of their start by num_steps
    loss: str = "non_saturating"  # "non_saturating", "saturating", "hinge" or "wasserstein" (the last two for both nets)
    discriminator_normalization: str = "batch"  # "batch", "spectral" or "none"
    gradient_penalty: float = 0.0  # WGAN-GP's lambda; 0 = none
    r1_penalty: float = 0.0  # R1's gamma on real samples; 0 = none
    ema_decay: float = 0.0  # 0: sample from G itself; else from an EMA of G's weights (BatchNorm statistics re-measured)
    eval_samples: int = 10_000
    eval_every: int = 0  # steps between evaluations logged by a run; 0 = none


@dataclass
class ToyGANConfig(GANConfig):
    """MLPs on 2-D points: by default the ring of Gaussians of notebook 01."""

    latent_dim: int = 2
    discriminator_normalization: str = "none"  # "none" or "spectral"
    hidden_dim: int = 128
    num_layers: int = 3
    pack: int = 1  # PacGAN: how many samples the discriminator judges together
    num_data: int = 20_000  # points drawn once from the ring
    ring_modes: int = 8
    ring_radius: float = 2.0
    ring_std: float = 0.02


@dataclass
class DCGANConfig(GANConfig):
    """Convolutional nets on 28x28 MNIST; ``channels`` is G's last hidden width (its first has twice that).

    ``discriminator_channels`` is D's first convolution's width (its second has twice that); 0 = ``channels``.
    """

    channels: int = 32
    discriminator_channels: int = 0


# The 2-D ring of 8 Gaussians (notebooks 01 and 03).
TOY_PRESETS = Presets(
    smoke=ToyGANConfig(num_steps=300, batch_size=128, hidden_dim=64, generator_learning_rate=2e-3,
                       discriminator_learning_rate=2e-3, num_data=4096, eval_samples=2000),
    cpu=ToyGANConfig(num_steps=3000, batch_size=256, hidden_dim=128, generator_learning_rate=1e-3,
                     discriminator_learning_rate=1e-3, eval_samples=2000),
    gpu=ToyGANConfig(num_steps=10_000, batch_size=512, hidden_dim=256, generator_learning_rate=1e-3,
                     discriminator_learning_rate=1e-3, eval_samples=5000),
)

# DCGAN on MNIST (notebook 02, benchmarks/gan.py): the cpu preset is the one the benchmark measures.
DCGAN_PRESETS = Presets(
    smoke=DCGANConfig(num_steps=200, batch_size=32, channels=16, generator_learning_rate=1e-3,
                      discriminator_learning_rate=1e-3, ema_decay=0.9, eval_samples=500),
    # A G twice as wide as D (channels 64, D 32) scored better than 12,000 or 22,000 steps of the 32/32 networks,
    # and better than 27,000 steps with the rates decaying to 0 (benchmarks/results/gan_tuning.json). Its steps
    # took 28-37 ms on the 2-core reference CPU: 16,000 of them stay under 10 minutes (benchmarks/results/gan.json).
    cpu=DCGANConfig(num_steps=16_000, batch_size=64, channels=64, discriminator_channels=32,
                    generator_learning_rate=5e-4, discriminator_learning_rate=5e-4, ema_decay=0.999),
    gpu=DCGANConfig(num_steps=30_000, batch_size=128, channels=64, generator_learning_rate=5e-4,
                    discriminator_learning_rate=5e-4, ema_decay=0.999),
)


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
    gradient_penalty_weight: float = 0.0,
    r1_weight: float = 0.0,
    rng: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One GAN step: a discriminator step on detached fakes, then a generator step through the updated D.

    ``freeze_discriminator`` (the unwrapped D) skips D's weight gradients during the G step, which G does not need.
    ``gradient_penalty_weight`` (WGAN-GP's lambda) and ``r1_weight`` (R1's gamma) add penalties to D's loss;
    ``rng`` draws WGAN-GP's interpolation points.
    Returns the detached terms ``d_loss`` (with penalties), ``g_loss``, ``d_real`` = mean D(x),
    ``d_fake`` = mean D(G(z)), and ``penalty`` when there is one.
    """
    precision = precision or Precision(real.device, "fp32")
    d_kind = loss if loss in ("hinge", "wasserstein") else "bce"

    # 1. Discriminator: reals labelled 1, fakes labelled 0. Detaching stops d_loss from reaching G.
    with precision.autocast():
        fake = generator(z)
        d_terms = discriminator_loss(discriminator(real), discriminator(fake.detach()), d_kind)
        penalty = torch.zeros((), device=real.device)
        if gradient_penalty_weight:
            penalty = penalty + gradient_penalty_weight * gradient_penalty(discriminator, real, fake, rng)
        if r1_weight:
            penalty = penalty + r1_weight / 2 * r1_penalty(discriminator, real)
        d_terms["d_loss"] = d_terms["d_loss"] + penalty
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
    terms = {
        "d_loss": d_terms["d_loss"].detach(),
        "g_loss": g_terms["g_loss"].detach(),
        "d_real": d_terms["d_real"],
        "d_fake": d_terms["d_fake"],
    }
    if gradient_penalty_weight or r1_weight:
        terms["penalty"] = penalty.detach()
    return terms


class GANTrainer(Trainer):
    """Generator, discriminator, their Adam optimizers, the data batches, and (optionally) an EMA generator.

    Subclasses say which networks (``build_networks``), what the data is (``prepare_data``: a tensor of
    examples in the generator's output range), and how samples are shown and scored.
    """

    def build(self, data) -> None:
        config = self.config
        self.check_objective()
        generator, discriminator = self.build_networks()
        data_tensor = self.prepare_data(data)
        self.modules["generator"] = generator.to(self.device)
        self.modules["discriminator"] = discriminator.to(self.device)
        if config.ema_decay > 0:
            self.modules["generator_ema"] = copy.deepcopy(self.modules["generator"]).requires_grad_(False)
        betas = (config.beta1, config.beta2)
        self.optimizers["generator"] = adam(
            generator.parameters(), self.device, lr=config.generator_learning_rate, betas=betas
        )
        self.optimizers["discriminator"] = adam(
            discriminator.parameters(), self.device, lr=config.discriminator_learning_rate, betas=betas
        )
        if config.final_learning_rate_scale != 1.0:
            for name, optimizer in self.optimizers.items():
                self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(optimizer, self.learning_rate_scale)
        self.batches = InMemoryBatches(data_tensor, config.batch_size, device=self.device, seed=config.seed)
        self.latent_rng = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.ema_statistics_step: int | None = None  # the step the EMA generator's BatchNorm statistics fit

    def learning_rate_scale(self, step: int) -> float:
        """The factor on both learning rates at ``step``: 1, falling linearly to ``final_learning_rate_scale``."""
        progress = min(1.0, step / max(1, self.config.num_steps))
        return 1 - progress * (1 - self.config.final_learning_rate_scale)

    def check_objective(self) -> None:
        """Refuse the combinations that cannot train, before anything is built."""
        config = self.config
        penalised = config.gradient_penalty > 0 or config.r1_penalty > 0
        if not 0 <= config.final_learning_rate_scale <= 1:
            raise ValueError("final_learning_rate_scale is a fraction of the starting rates: use a number from 0 to 1.")
        if config.gradient_penalty < 0 or config.r1_penalty < 0:
            raise ValueError("gradient_penalty and r1_penalty are weights: use 0 (off) or a positive number.")
        if penalised and config.discriminator_normalization == "batch":
            raise ValueError(
                "gradient penalties need a per-sample input gradient, which BatchNorm in D does not have; "
                "set discriminator_normalization to 'spectral' or 'none'."
            )
        if config.loss == "wasserstein" and not (config.gradient_penalty > 0 or config.discriminator_normalization == "spectral"):
            raise ValueError(
                "the Wasserstein loss needs a Lipschitz critic, or its scores grow without bound; "
                "set gradient_penalty (10 in WGAN-GP) or discriminator_normalization='spectral'."
            )

    def wrap_modules(self, wrap, names=None) -> None:
        if self.config.gradient_penalty > 0 or self.config.r1_penalty > 0:
            # DistributedDataParallel does not support torch.autograd.grad, which the penalties need.
            raise ValueError("gradient penalties do not run under torchrun yet; train on one device, or set them to 0.")
        super().wrap_modules(wrap, names)

    @abc.abstractmethod
    def build_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(generator, discriminator), initialised."""

    @abc.abstractmethod
    def prepare_data(self, data) -> torch.Tensor:
        """The training examples as one tensor, from ``data`` (None: the bundled data); sets ``data_source``."""

    def describe_data(self) -> str:
        return f"{self.data_source}: {self.batches.num_rows:,} examples"

    def postprocess(self, samples: torch.Tensor) -> torch.Tensor:
        """The generator's outputs as the family shows them."""
        return samples

    @property
    def sampler(self) -> torch.nn.Module:
        """The network that makes samples: the EMA generator, with BatchNorm statistics of its own, if there is one."""
        if "generator_ema" not in self.modules:
            return self.unwrapped("generator")
        ema = self.unwrapped("generator_ema")
        if self.ema_statistics_step != self.step:
            recompute_batchnorm_statistics(ema, self.config.latent_dim, self.device, seed=self.config.seed + 2)
            self.ema_statistics_step = self.step
        return ema

    def items_per_step(self) -> float:
        return float(self.config.batch_size)

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
            gradient_penalty_weight=config.gradient_penalty,
            r1_weight=config.r1_penalty,
            rng=self.latent_rng,
        )
        for scheduler in self.schedulers.values():
            scheduler.step()
        if "generator_ema" in self.modules:
            self._update_ema()
        return terms

    @torch.no_grad()
    def _update_ema(self) -> None:
        """Average the weights only: the BatchNorm statistics are re-measured for the average when it samples."""
        source, target = self.unwrapped("generator"), self.unwrapped("generator_ema")
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), 1 - self.config.ema_decay)

    def sample(
        self, num_samples: int, *, seed: int = 0, length: int | None = None, prompt: str | None = None,
        use_ema: bool = True,
    ) -> torch.Tensor:
        """Samples in eval mode. ``seed`` fixes the latents (the same samples on any device);
        ``use_ema=False`` samples from G itself."""
        if length is not None:
            raise ValueError("a GAN draws samples of a fixed size; leave out the length.")
        if prompt is not None:
            raise ValueError("a GAN draws from random noise, not from a prompt; leave out the prompt.")
        z = sample_latents(num_samples, self.config.latent_dim, self.device, torch.Generator().manual_seed(seed))
        model = self.sampler if use_ema else self.unwrapped("generator")
        return self.postprocess(generate(model, z))

    def extra_state(self) -> dict:
        return {"batches": self.batches.state_dict(), "latent_rng": self.latent_rng.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.latent_rng.set_state(state["latent_rng"])


class ToyGANTrainer(GANTrainer):
    """MLPs on 2-D points. ``data``: a ``GaussianMixture2D`` or (N, 2) points (default: the config's ring)."""

    model_name = "toy_gan"
    config_class = ToyGANConfig
    unit = "points"
    default_num_samples = 2000
    samples_file = "samples.png"

    def build_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        config = self.config
        return (
            MLPGenerator(config.latent_dim, config.hidden_dim, config.num_layers),
            MLPDiscriminator(config.hidden_dim, config.num_layers, pack=config.pack,
                             normalization=config.discriminator_normalization),
        )

    def prepare_data(self, data) -> torch.Tensor:
        config = self.config
        self.mixture: GaussianMixture2D | None = None
        if data is None or isinstance(data, GaussianMixture2D):
            self.mixture = data or self.configured_ring()
            self.data_source = f"a mixture of {self.mixture.num_modes} Gaussians"
            return self.mixture.sample(config.num_data, torch.Generator().manual_seed(config.seed))
        self.data_source = "points passed in Python"
        return torch.as_tensor(data, dtype=torch.float32)

    def configured_ring(self) -> GaussianMixture2D:
        """The ring of Gaussians the config describes: the toy data, unless the caller passed other data."""
        return ring_of_gaussians(self.config.ring_modes, self.config.ring_radius, self.config.ring_std)

    @classmethod
    def load_data(cls, path: Path) -> torch.Tensor:
        raise ValueError("the toy GAN trains on its ring of Gaussians, or on points passed in Python; not on files.")

    def save_samples(self, samples: torch.Tensor, path: Path) -> None:
        figure = Figure(figsize=(4, 4))
        ax = figure.subplots()
        points = samples.detach().cpu()
        ax.scatter(points[:, 0], points[:, 1], s=2)
        ax.set_aspect("equal")
        figure.savefig(path)

    def evaluate(self) -> dict:
        """Mode coverage of the ring by ``eval_samples`` samples."""
        mixture = self.mixture or self.configured_ring()
        coverage = mode_coverage(self.sample(self.config.eval_samples, seed=self.config.seed), mixture)
        return {
            "modes_covered": float(coverage["modes_covered"]),
            "fraction_high_quality": coverage["fraction_high_quality"],
            "data": f"{self.config.eval_samples:,} samples against a mixture of {mixture.num_modes} Gaussians",
        }


class DCGANTrainer(MNISTImages, GANTrainer):
    """A DCGAN on 28x28 MNIST. ``data``: an ``ImageData`` or (N, 1, 28, 28) floats in [0, 1] (default: MNIST train)."""

    model_name = "gan"
    config_class = DCGANConfig

    def check_objective(self) -> None:
        super().check_objective()
        if self.config.channels < 1 or self.config.discriminator_channels < 0:
            raise ValueError("channels must be at least 1, and discriminator_channels at least 0 (0 = channels).")

    def build_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        generator = DCGANGenerator(self.config.latent_dim, self.config.channels)
        discriminator = DCGANDiscriminator(self.config.discriminator_channels or self.config.channels,
                                           self.config.discriminator_normalization)
        generator.apply(dcgan_init)
        discriminator.apply(dcgan_init)
        return generator, discriminator

    def prepare_data(self, data) -> torch.Tensor:
        if data is None:
            data = load_mnist("train")
        self.data_source = data.source if isinstance(data, ImageData) else "images passed in Python"
        images01 = data.to_float() if isinstance(data, ImageData) else data
        if images01.ndim != 4 or images01.shape[1:] != (1, 28, 28):
            raise ValueError(f"expected MNIST images of shape (N, 1, 28, 28), got {tuple(images01.shape)}")
        return images01 * 2 - 1  # the generator's tanh range

    def postprocess(self, samples: torch.Tensor) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1]."""
        return to_unit_interval(samples)

    def evaluate(self) -> dict:
        """Classifier metrics of ``eval_samples`` samples: FID, precision and recall against the MNIST test split."""
        metrics = classifier_metrics(self.sample(self.config.eval_samples, seed=self.config.seed), device=self.device)
        return {
            "fid": metrics["fid"],
            "inception_score": metrics["inception_score"],
            "precision": metrics["precision"],
            "recall": metrics["recall"],
            "max_min_ratio": metrics["max_min_ratio"],
            "classes_present": float(metrics["classes_present"]),
            "data": f"{self.config.eval_samples:,} samples; FID against {describe_reference('test')}",
        }
