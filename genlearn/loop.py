"""The training loop itself: it runs a step function, records the named loss terms and calls callbacks.

Everything around the loop (checkpoints, resume, logs, stopping) is ``genlearn.run.Run``; what a model
family provides is ``genlearn.training.Trainer``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

StepFn = Callable[[int], Mapping[str, torch.Tensor | float]]


class LossHistory:
    """Named loss terms per step, for plotting. Values arrive as tensors and are synced to floats in batches."""

    def __init__(self):
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}
        self._pending: list[tuple[int, Mapping[str, torch.Tensor | float]]] = []

    def append(self, step: int, terms: Mapping[str, torch.Tensor | float]) -> None:
        self._pending.append((step, {k: v.detach() if torch.is_tensor(v) else v for k, v in terms.items()}))

    def flush(self) -> None:
        """Move pending values to floats: one device sync for many steps."""
        if not self._pending:
            return
        names = list(self._pending[0][1])
        for name in names:
            column = [terms[name] for _, terms in self._pending]
            if torch.is_tensor(column[0]):
                column = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in column]).float().cpu().tolist()
            self.values.setdefault(name, []).extend(float(v) for v in column)
        self.steps.extend(step for step, _ in self._pending)
        self._pending.clear()

    @property
    def names(self) -> list[str]:
        self.flush()
        return list(self.values)

    def __getitem__(self, name: str) -> list[float]:
        self.flush()
        return self.values[name]

    def __len__(self) -> int:
        return len(self.steps) + len(self._pending)

    def mean(self, name: str, first: int | None = None, last: int | None = None) -> float:
        """Mean of the first or last few values of ``name`` (all values when neither is given)."""
        values = self[name]
        if first is not None:
            values = values[:first]
        if last is not None:
            values = values[-last:]
        return sum(values) / len(values)

    def state_dict(self) -> dict:
        self.flush()
        return {"steps": list(self.steps), "values": {k: list(v) for k, v in self.values.items()}}

    def load_state_dict(self, state: dict) -> None:
        self._pending.clear()
        self.steps = list(state["steps"])
        self.values = {k: list(v) for k, v in state["values"].items()}


@dataclass(frozen=True)
class Callback:
    """``fn(step, history)`` after every ``every`` steps (0: never periodically) and after the last step."""

    every: int
    fn: Callable[[int, LossHistory], None]

    def due(self, done: int, num_steps: int) -> bool:
        return (self.every > 0 and done % self.every == 0) or done == num_steps


class StopTraining(Exception):
    """Raised by a step function or a callback to end ``train_loop`` after a whole step."""


def train_loop(
    step_fn: StepFn,
    num_steps: int,
    *,
    start_step: int = 0,
    history: LossHistory | None = None,
    progress: bool = True,
    description: str = "training",
    sync_every: int = 50,
    callbacks: Sequence[Callback] = (),
) -> LossHistory:
    """Run ``step_fn`` for steps ``start_step .. num_steps-1`` and record the named terms it returns.

    ``callbacks`` run in the order given, each on its own period. ``StopTraining`` from either ends the
    loop with the history flushed, and propagates to the caller.
    """
    history = history if history is not None else LossHistory()
    bar = tqdm(range(start_step, num_steps), desc=description, disable=not progress, initial=start_step, total=num_steps)
    try:
        for step in bar:
            history.append(step, step_fn(step))
            done = step + 1
            if done % sync_every == 0 or done == num_steps:
                history.flush()
                bar.set_postfix({name: f"{values[-1]:.3f}" for name, values in history.values.items()}, refresh=False)
            due = [callback for callback in callbacks if callback.due(done, num_steps)]
            if due:
                history.flush()
            for callback in due:
                callback.fn(done, history)
    finally:
        bar.close()
        history.flush()
    return history
