"""Shuffled minibatches from tensors that already sit on the training device: the fast path, no DataLoader."""

from __future__ import annotations

import torch


class InMemoryBatches:
    """An endless iterator over shuffled minibatches of ``tensors`` (moved to ``device`` once).

    Each epoch draws a new permutation with a generator on ``device`` seeded by ``seed``. With
    ``drop_last=True`` every batch has exactly ``batch_size`` rows. Pass one tensor to get tensors back,
    or a tuple of tensors (same first dimension) to get tuples back. ``state_dict`` /
    ``load_state_dict`` save and restore the position, so a resumed run sees exactly the same batches.
    """

    def __init__(
        self,
        tensors: torch.Tensor | tuple[torch.Tensor, ...],
        batch_size: int,
        device: torch.device | str = "cpu",
        seed: int = 0,
        drop_last: bool = True,
    ):
        self.single = isinstance(tensors, torch.Tensor)
        tensors = (tensors,) if self.single else tuple(tensors)
        self.device = torch.device(device)
        self.tensors = tuple(t.to(self.device) for t in tensors)
        self.num_rows = len(self.tensors[0])
        if any(len(t) != self.num_rows for t in self.tensors):
            raise ValueError(f"all tensors need the same first dimension, got {[len(t) for t in self.tensors]}")
        if batch_size < 1 or (drop_last and batch_size > self.num_rows):
            raise ValueError(f"batch_size must be between 1 and the number of rows ({self.num_rows}), got {batch_size}")
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.permutation = self._new_permutation()

    @property
    def steps_per_epoch(self) -> int:
        if self.drop_last:
            return self.num_rows // self.batch_size
        return -(-self.num_rows // self.batch_size)

    def _new_permutation(self) -> torch.Tensor:
        return torch.randperm(self.num_rows, generator=self.generator, device=self.device)

    def __iter__(self) -> InMemoryBatches:
        return self

    def __next__(self) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.position >= self.steps_per_epoch * self.batch_size:
            self.epoch += 1
            self.position = 0
            self.permutation = self._new_permutation()
        rows = self.permutation[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        batch = tuple(t[rows] for t in self.tensors)
        return batch[0] if self.single else batch

    def state_dict(self) -> dict:
        """Tensors and ints only, so it fits in a ``weights_only`` checkpoint."""
        return {
            "generator": self.generator.get_state(),
            "permutation": self.permutation.cpu(),
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state["permutation"]) != self.num_rows:
            raise ValueError(
                f"this state is for {len(state['permutation'])} rows but the data has {self.num_rows}"
            )
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].to(self.device)
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
