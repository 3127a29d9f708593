"""A throwaway model family: the least a new family writes to follow ``genlearn.training.Trainer``.

A linear net learns to output the mean of some numbers from random inputs. Its steps draw those inputs from
torch's global generator, so exact resume depends on the trainer's own random state. The tests use it for
the core (``test_core``, ``test_run``) and register it to drive the real command line (``test_model_family``).
Its bundled data is one fixed number: a test fixture, not a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from genlearn.budget import Presets
from genlearn.training import Trainer


@dataclass
class TinyConfig:
    num_steps: int = 12
    batch_size: int = 8
    seed: int = 0
    width: int = 4
    learning_rate: float = 0.1
    eval_every: int = 0


TINY_PRESETS = Presets(smoke=TinyConfig(), cpu=TinyConfig(num_steps=24), gpu=TinyConfig(num_steps=48, width=8))


class TinyTrainer(Trainer):
    model_name = "tiny"
    config_class = TinyConfig
    unit = "numbers"
    default_num_samples = 3
    samples_file = "samples.txt"

    def build(self, data: torch.Tensor | None) -> None:
        self.target = float(data.mean()) if data is not None else 1.0
        self.modules["net"] = torch.nn.Linear(3, self.config.width).to(self.device)
        self.optimizers["net"] = torch.optim.Adam(self.modules["net"].parameters(), lr=self.config.learning_rate)

    @classmethod
    def load_data(cls, path: Path) -> torch.Tensor:
        try:
            numbers = [float(word) for word in Path(path).read_text().split()]
        except ValueError as error:
            raise ValueError(f"expected whitespace-separated numbers ({error})") from None
        if not numbers:
            raise ValueError("the file holds no numbers")
        return torch.tensor(numbers)

    def training_step(self, step: int) -> dict[str, torch.Tensor]:
        x = torch.randn(self.config.batch_size, 3, device=self.device)
        loss = (self.modules["net"](x) - self.target).pow(2).mean()
        self.optimizers["net"].zero_grad()
        self.precision.backward(loss)
        self.precision.step(self.optimizers["net"])
        return {"loss": loss.detach()}

    def describe_data(self) -> str:
        return f"numbers with mean {self.target}"

    def items_per_step(self) -> float:
        return float(self.config.batch_size)

    def sample(self, num_samples: int, *, seed: int = 0, length: int | None = None, prompt: str | None = None):
        if length is not None or prompt is not None:
            raise ValueError("tiny samples have a fixed size and no prompt; leave out the length and the prompt.")
        x = torch.randn(num_samples, 3, generator=torch.Generator().manual_seed(seed)).to(self.device)
        with torch.no_grad():
            return self.unwrapped("net")(x)

    def save_samples(self, samples: torch.Tensor, path: Path) -> str:
        text = "\n".join(" ".join(f"{value:.4f}" for value in row) for row in samples.tolist())
        path.write_text(text + "\n")
        return text

    def evaluate(self) -> dict:
        samples = self.sample(256, seed=self.config.seed)
        return {"mse": float((samples - self.target).pow(2).mean()), "data": f"256 random inputs, target {self.target}"}
