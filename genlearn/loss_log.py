"""A run's log: periodic loss lines above the progress bar, and TensorBoard scalars when tensorboard is installed."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from genlearn.loop import LossHistory


class LossLogger:
    """Means of the loss terms since the last line, and evaluation metrics; scalars under ``out/tensorboard``."""

    def __init__(self, out: Path | None, target: int, history: LossHistory, enabled: bool):
        self.target = target
        self.enabled = enabled
        self.logged = len(history.steps)
        self.writer = None
        if not enabled or out is None:
            return
        try:  # optional, and seconds to import: only runs that write logs pay for it
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print(
                "TensorBoard logging is off: the optional `tensorboard` package is not installed "
                "(pip install tensorboard)."
            )
        else:
            self.writer = SummaryWriter(log_dir=str(out / "tensorboard"))

    def log(self, done: int, history: LossHistory) -> None:
        if not self.enabled or len(history.steps) <= self.logged:
            return
        new = slice(self.logged, len(history.steps))
        means = {name: sum(values[new]) / len(values[new]) for name, values in history.values.items()}
        tqdm.write(f"step {done}/{self.target}  " + "  ".join(f"{name} {value:.4f}" for name, value in means.items()))
        if self.writer is not None:
            for name, values in history.values.items():
                for step, value in zip(history.steps[new], values[new]):
                    self.writer.add_scalar(f"train/{name}", value, step + 1)
            self.writer.flush()
        self.logged = len(history.steps)

    def log_metrics(self, done: int, metrics: dict) -> None:
        if not self.enabled:
            return
        numbers = {name: float(value) for name, value in metrics.items() if isinstance(value, (int, float))}
        tqdm.write(f"eval at step {done}  " + "  ".join(f"{name} {value:.4f}" for name, value in numbers.items()))
        if self.writer is not None:
            for name, value in numbers.items():
                self.writer.add_scalar(f"eval/{name}", value, done)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
