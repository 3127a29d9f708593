"""Training a VAE on MNIST: configs with presets, and ``VAETrainer``.

The recipe (``VAE_PRESETS["cpu"]``): an MLP 784-512-512 -> 50-d latent -> 512-512-784 with a Bernoulli
decoder, trained on dynamically binarized digits (a fresh binary image per visit) with Adam decayed
from 1e-3 to 1e-4, batch 128, data kept on the device, and the KL weight warmed up from 0 over the first
quarter of the steps (``kl_warmup_steps``).

Options, off in the presets: free bits (``free_bits``) against posterior collapse; a Gaussian decoder with a
learned sigma per pixel on [0, 1] intensities (``decoder="gaussian"``); the IWAE bound as the training
objective (``objective="iwae"``); and a cosine decay of the learning rate (``learning_rate_decay="cosine"``),
which the same-loss race against pytorch/examples chooses for its short run (``benchmarks/vae.py``).
``evaluate`` reports nats per image and bits per pixel, and the number of active latent units.

Randomness: the trainer draws batches, binarizations and reparameterization noise from its own
generators, saved in ``extra_state``. ``evaluate`` uses a fresh generator of its own, so evaluating
mid-training never touches the training's random stream (reseeding the global generator there would
silently turn dynamic binarization into static binarization, which overfits and scores a worse test NLL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genlearn.budget import Presets
from genlearn.data import ImageData, InMemoryBatches, dynamic_binarize, load_mnist
from genlearn.image_samples import MNISTImages
from genlearn.precision import adam
from genlearn.schedules import cosine_decay
from genlearn.training import Trainer, evaluating
from genlearn.vae.latent import active_units, encode_dataset
from genlearn.vae.losses import bits_per_dim, iwae_bound
from genlearn.vae.model import OBJECTIVES, VAE
from genlearn.vae.networks import DECODER_LIKELIHOODS, build_encoder_decoder

LEARNING_RATE_DECAYS = ("exponential", "cosine")
# Images per evaluation batch: the IWAE bound then decodes k of them in chunks.
EVAL_BATCH_SIZE = 100


@dataclass
class VAEConfig:
    architecture: str = "mlp"  # "mlp" or "conv"
    latent_dim: int = 50
    hidden_dim: int = 512
    num_layers: int = 2
    beta: float = 1.0  # weight of the KL term; 1 is the ELBO, other values a beta-VAE
    pixel_reduction: str = "sum"  # "mean" reproduces the pixel-averaging bug
    binarize: bool = True  # dynamic binarization; False trains on [0, 1] intensities (pytorch/examples' loss)
    decoder: str = "bernoulli"  # or "gaussian": a learned sigma per pixel, on [0, 1] intensities (binarize=False)
    kl_warmup_steps: int = 0  # the KL weight climbs linearly from 0 to beta over this many steps
    free_bits: float = 0.0  # nats per latent dimension: see ``losses.elbo``
    objective: str = "elbo"  # or "iwae": train on the IWAE bound with iwae_train_k samples
    iwae_train_k: int = 5
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4  # the rate decays to this over num_steps
    learning_rate_decay: str = "exponential"  # or "cosine" (genlearn.schedules), both down to min_learning_rate
    num_steps: int = 45_000
    batch_size: int = 128
    seed: int = 0
    eval_num_images: int = 1000  # the fixed test subset: see ``fixed_test_subset``
    eval_iwae_k: int = 5000
    eval_seed: int = 0  # picks the test subset, its binarization and the IWAE samples
    eval_every: int = 0  # steps between evaluations logged by a run; 0 = none

    def __post_init__(self):
        if self.decoder not in DECODER_LIKELIHOODS:
            raise ValueError(f"decoder must be one of {DECODER_LIKELIHOODS}, got {self.decoder!r}")
        if self.decoder == "gaussian" and self.binarize:
            raise ValueError("decoder='gaussian' models [0, 1] intensities: set binarize=False")
        if self.learning_rate_decay not in LEARNING_RATE_DECAYS:
            raise ValueError(
                f"learning_rate_decay must be one of {LEARNING_RATE_DECAYS}, got {self.learning_rate_decay!r}"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.kl_warmup_steps < 0:
            raise ValueError(f"kl_warmup_steps must be 0 (no warm-up) or more, got {self.kl_warmup_steps}")
        if self.kl_warmup_steps > self.num_steps:
            raise ValueError(
                f"kl_warmup_steps ({self.kl_warmup_steps}) is longer than the run (num_steps={self.num_steps}): the KL "
                "weight would never reach beta. Shorten the warm-up with the run, for example to a quarter of it."
            )
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be 0 (none) or more nats per latent dimension, got {self.free_bits}")
        if self.iwae_train_k < 1:
            raise ValueError(f"iwae_train_k must be at least 1, got {self.iwae_train_k}")
        elbo_only = {"beta": 1.0, "pixel_reduction": "sum", "kl_warmup_steps": 0, "free_bits": 0.0}
        changed = [name for name, default in elbo_only.items() if getattr(self, name) != default]
        if self.objective == "iwae" and changed:
            raise ValueError(
                f"objective='iwae' has no KL term for {', '.join(changed)} to change: "
                f"keep {', '.join(f'{name}={elbo_only[name]!r}' for name in changed)}, or use objective='elbo'"
            )


def kl_warmup_weight(step: int, beta: float, warmup_steps: int) -> float:
    """The KL weight at training step ``step`` (from 0): beta * step / warmup_steps until it reaches beta."""
    return beta * min(1.0, step / warmup_steps) if warmup_steps else beta


# Smoke presets (the test suite) train a few hundred steps at a higher learning rate, enough for digit-like samples.
VAE_PRESETS = Presets(
    smoke=VAEConfig(hidden_dim=256, learning_rate=2e-3, min_learning_rate=1e-3, num_steps=500, batch_size=64,
                    eval_num_images=200, eval_iwae_k=30),
    # At most 15 minutes on the 2-core reference CPU; its IWAE NLL (k = 5000) is in benchmarks/results/vae.json.
    # The KL warm-up over the first quarter scored best of three remedies (benchmarks/results/vae_objectives.json).
    cpu=VAEConfig(num_steps=80_000, kl_warmup_steps=20_000),
    gpu=VAEConfig(num_steps=300_000, min_learning_rate=3e-5),
)

# A VAE with a 2-D latent, whose whole latent space can be drawn (course notebook 05).
LATENT_2D_PRESETS = Presets(
    smoke=VAEConfig(latent_dim=2, hidden_dim=256, learning_rate=2e-3, min_learning_rate=1e-3, num_steps=400,
                    batch_size=64, eval_num_images=200, eval_iwae_k=30),
    cpu=VAEConfig(latent_dim=2, num_steps=8_000, eval_iwae_k=500),
    gpu=VAEConfig(latent_dim=2, num_steps=50_000, eval_iwae_k=5000),
)

# Short runs for comparisons of many trainings (the beta sweep, the pixel-averaging bug).
SWEEP_PRESETS = Presets(
    smoke=VAEConfig(latent_dim=10, hidden_dim=128, learning_rate=2e-3, min_learning_rate=1e-3, num_steps=200,
                    batch_size=64, eval_num_images=200, eval_iwae_k=10),
    cpu=VAEConfig(latent_dim=10, hidden_dim=256, num_steps=2_000, eval_num_images=500, eval_iwae_k=100),
    gpu=VAEConfig(latent_dim=10, num_steps=20_000, eval_iwae_k=1000),
)


def fixed_test_subset(test: ImageData, num_images: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed evaluation subset: indices, [0, 1] images and their binarization, all from ``seed``.

    Indices are the first ``num_images`` of ``torch.randperm(len(test), generator seeded with seed)``,
    sorted; the binary images are one Bernoulli draw per pixel from a CPU generator seeded with ``seed``,
    so every device and every run scores the same images.
    """
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(test), generator=generator)[: min(num_images, len(test))].sort().values
    images = test.images[indices].unsqueeze(1).float().div(255)
    return indices, images, dynamic_binarize(images, torch.Generator().manual_seed(seed))


class VAETrainer(MNISTImages, Trainer):
    """``data`` is (train, test) ``ImageData``; ``None`` loads MNIST (full if on disk, else the bundled subset)."""

    model_name = "vae"
    config_class = VAEConfig
    mnist_splits = ("train", "test")

    def build(self, data: tuple[ImageData, ImageData] | None) -> None:
        config = self.config
        if data is None:
            data = (load_mnist("train", verbose=False), load_mnist("test", verbose=False))
        self.train_data, self.test_data = data
        encoder, decoder = build_encoder_decoder(
            config.architecture, config.latent_dim, config.hidden_dim, config.num_layers, config.decoder
        )
        vae = VAE(encoder, decoder)
        self.modules["vae"] = vae.to(self.device)
        optimizer = adam(vae.parameters(), self.device, lr=config.learning_rate)
        self.optimizers["vae"] = optimizer
        if config.learning_rate_decay == "cosine":
            self.schedulers["vae"] = torch.optim.lr_scheduler.LambdaLR(optimizer, self.cosine_scale)
        else:
            decay = (config.min_learning_rate / config.learning_rate) ** (1 / max(1, config.num_steps))
            self.schedulers["vae"] = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
        # uint8 on the device (47 MB for full MNIST); each batch becomes [0, 1] floats when drawn.
        self.batches = InMemoryBatches(
            self.train_data.images.unsqueeze(1), batch_size=config.batch_size, device=self.device, seed=config.seed
        )
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)

    @property
    def vae(self) -> VAE:
        return self.unwrapped("vae")

    def describe_data(self) -> str:
        return f"{self.train_data.source}: {len(self.train_data):,} train and {len(self.test_data):,} test images"

    def cosine_scale(self, step: int) -> float:
        """The factor on the learning rate at ``step`` under ``learning_rate_decay="cosine"``."""
        config = self.config
        rate = cosine_decay(step / max(1, config.num_steps), config.learning_rate, config.min_learning_rate)
        return rate / config.learning_rate

    def training_step(self, step: int) -> dict[str, torch.Tensor]:
        config = self.config
        x = next(self.batches).float().div_(255)
        if config.binarize:
            x = dynamic_binarize(x, self.generator)
        (x,) = self.shard(x)
        optimizer = self.optimizers["vae"]
        with self.precision.autocast():
            terms = self.modules["vae"](
                x, beta=kl_warmup_weight(step, config.beta, config.kl_warmup_steps),
                pixel_reduction=config.pixel_reduction, generator=self.generator, free_bits=config.free_bits,
                objective=config.objective, iwae_k=config.iwae_train_k,
            )
        optimizer.zero_grad(set_to_none=True)
        self.precision.backward(terms["loss"])
        self.precision.step(optimizer)
        self.schedulers["vae"].step()
        logged = {"loss": terms["loss"].detach(), "neg_elbo": -terms["elbo"].detach()}
        if "kl" in terms:  # the ELBO's closed-form terms; the IWAE objective has none
            logged.update(recon_loss=-terms["recon"].detach(), kl=terms["kl"].detach())
        return logged

    def extra_state(self) -> dict:
        return {"batches": self.batches.state_dict(), "generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.generator.set_state(state["generator"])

    def sample(
        self, num_samples: int, *, seed: int = 0, length: int | None = None, prompt: str | None = None,
        binary: bool = False,
    ) -> torch.Tensor:
        """(num_samples, 1, 28, 28) in [0, 1]: decoder means for z ~ N(0, I), or binary draws."""
        if length is not None:
            raise ValueError("a VAE draws images of a fixed size; leave out the length.")
        if prompt is not None:
            raise ValueError("a VAE draws images from random latents, not from a prompt; leave out the prompt.")
        generator = torch.Generator(device=self.device).manual_seed(seed)
        with evaluating(self.vae):
            return self.vae.sample(num_samples, generator=generator, binary=binary).float()

    def evaluation_images(self, num_images: int | None = None) -> torch.Tensor:
        """The fixed test subset as the model sees it: binarized (or [0, 1] if the config trains on intensities)."""
        _, images, binary = fixed_test_subset(self.test_data, num_images or self.config.eval_num_images, self.config.eval_seed)
        return (binary if self.config.binarize else images).to(self.device)

    def evaluation_labels(self, num_images: int | None = None) -> torch.Tensor:
        """The labels of ``evaluation_images(num_images)``, in the same order (on the CPU)."""
        indices, _, _ = fixed_test_subset(self.test_data, num_images or self.config.eval_num_images, self.config.eval_seed)
        return self.test_data.labels[indices]

    def evaluate(self, num_images: int | None = None, iwae_k: int | None = None) -> dict[str, float]:
        """-ELBO, its terms and the IWAE bound on -log p(x) (0 skips it) over the fixed test subset, nats per image.

        Also both bounds in bits per pixel (``*_bits_per_dim``) and ``active_units``, the latent dimensions whose
        posterior mean varies over the subset (``latent.active_units``). With the Gaussian decoder the numbers
        are a density on [0, 1] intensities, comparable only with other densities on the same intensities.
        """
        config = self.config
        iwae_k = config.eval_iwae_k if iwae_k is None else iwae_k
        images = self.evaluation_images(num_images)
        generator = torch.Generator(device=self.device).manual_seed(config.eval_seed)
        totals = {"neg_elbo": 0.0, "recon_loss": 0.0, "kl": 0.0}
        iwae = []
        with evaluating(self.vae):
            for x in images.split(EVAL_BATCH_SIZE):
                terms = self.vae(x, generator=generator)
                totals["neg_elbo"] -= terms["elbo"].item() * len(x)
                totals["recon_loss"] -= terms["recon"].item() * len(x)
                totals["kl"] += terms["kl"].item() * len(x)
                if iwae_k:
                    iwae.append(iwae_bound(self.vae, x, iwae_k, generator=generator).double().cpu())
        metrics = {name: total / len(images) for name, total in totals.items()}
        metrics["neg_elbo_bits_per_dim"] = bits_per_dim(metrics["neg_elbo"])
        posterior_means, _ = encode_dataset(self.vae.encoder, images)
        metrics["active_units"] = int(active_units(posterior_means).sum())
        metrics["num_images"] = len(images)
        metrics["data"] = f"{len(images):,} fixed MNIST test digits (seed {config.eval_seed}) from the {self.test_data.source}"
        if iwae_k:
            nll = -torch.cat(iwae)
            metrics.update(
                iwae_nll=nll.mean().item(), iwae_nll_stderr=(nll.std() / math.sqrt(len(nll))).item(), iwae_k=iwae_k,
                iwae_bits_per_dim=bits_per_dim(nll.mean().item()),
            )
        return metrics
