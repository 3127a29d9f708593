"""Train the evaluation classifier on full MNIST and write ``data/pretrained/mnist_classifier.pt``.

    python -m genlearn.evaluation.train_classifier

The 5,000 bundled-subset digits come from MNIST's training split, so they are left out of training:
the subset then stays a held-out check that the unit tests can run without full MNIST.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genlearn.checkpoint import save_checkpoint
from genlearn.data import InMemoryBatches, load_mnist, load_mnist_subset
from genlearn.data.mnist import has_full_mnist
from genlearn.device import configure_threads, pick_device
from genlearn.evaluation.classifier import MODEL_NAME, MNISTClassifier, classifier_path
from genlearn.seeding import seed_everything
from genlearn.loop import train_loop
from genlearn.training import evaluating


@dataclass
class ClassifierConfig:
    epochs: float = 3.0
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    max_shift: int = 2  # random translation in pixels: cheap augmentation that buys the last few tenths of a percent
    seed: int = 0
    model: dict = dataclasses.field(default_factory=lambda: {"width": 32, "feature_dim": 128, "dropout": 0.3})


def subset_keys() -> set[bytes]:
    """Byte strings of the bundled subset's images (both its splits)."""
    return {image.numpy().tobytes() for split in ("train", "test") for image in load_mnist_subset(split).images}


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero padding)."""
    if max_shift == 0:
        return images
    n = len(images)
    padded = F.pad(images, (max_shift,) * 4)
    dx, dy = (torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator, device=images.device))
    rows = torch.arange(28, device=images.device)
    index_y = (dy[:, None] + rows[None]).view(n, 1, 28, 1).expand(n, 1, 28, 28 + 2 * max_shift)
    shifted = padded.gather(2, index_y)
    index_x = (dx[:, None] + rows[None]).view(n, 1, 1, 28).expand(n, 1, 28, 28)
    return shifted.gather(3, index_x)


@torch.no_grad()
def accuracy(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size])
            correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train(config: ClassifierConfig, device: torch.device) -> tuple[MNISTClassifier, dict]:
    seed_everything(config.seed)
    if not has_full_mnist():
        raise SystemExit("the evaluation classifier trains on full MNIST; build data/full first (see data/README.md).")
    train_data = load_mnist("train")
    held_out = subset_keys()
    keep = torch.tensor([image.numpy().tobytes() not in held_out for image in train_data.images])
    images, labels = train_data.to_float()[keep], train_data.labels[keep]
    print(f"training on {len(images):,} digits ({int((~keep).sum()):,} bundled-subset digits held out)")
    batches = InMemoryBatches((images, labels), batch_size=config.batch_size, device=device, seed=config.seed)
    num_steps = int(config.epochs * batches.steps_per_epoch)

    model = MNISTClassifier(**config.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate, total_steps=num_steps)
    generator = torch.Generator(device=device).manual_seed(config.seed)

    def step_fn(step: int) -> dict:
        batch_images, batch_labels = next(batches)
        loss = F.cross_entropy(model(random_shift(batch_images, config.max_shift, generator)), batch_labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return {"loss": loss.detach()}

    started = time.perf_counter()
    train_loop(step_fn, num_steps, description="classifier")
    seconds = time.perf_counter() - started

    test = load_mnist("test")
    subset = load_mnist_subset("test")
    results = {
        "test_accuracy": accuracy(model, test.to_float().to(device), test.labels.to(device)),
        "subset_test_accuracy": accuracy(model, subset.to_float().to(device), subset.labels.to(device)),
        "train_seconds": round(seconds, 1),
        "num_steps": num_steps,
    }
    return model.eval(), results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=ClassifierConfig.epochs)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    configure_threads(args.threads)
    config = ClassifierConfig(epochs=args.epochs)
    device = pick_device(args.device)
    model, results = train(config, device)
    path = save_checkpoint(
        classifier_path(),
        model=MODEL_NAME,
        config=config,
        state={"module.classifier": model.cpu().state_dict()},
        step=results["num_steps"],
        extra=results,
    )
    print(
        f"test accuracy {results['test_accuracy']:.4f} on full MNIST test (10,000), "
        f"{results['subset_test_accuracy']:.4f} on the held-out bundled subset (1,000); "
        f"{results['train_seconds']:.0f} s of training; wrote {path}"
    )


if __name__ == "__main__":
    main()
