"""Training under a wall-clock limit, timed per chunk of steps: how the track benchmarks measure speed.

    result, seconds_per_step = train_timed(trainer, max_seconds=600, chunk=100)

The steps run through ``genlearn.run.Run`` (no files, no progress bar), which stops at ``max_seconds``;
a ``Callback`` every ``chunk`` steps records the mean step time of the chunk just finished, so a
benchmark can quote the median chunk, which one slow moment on a shared machine does not move.

``timed_process`` times a whole command instead (start-up included), as a user runs it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from genlearn.run import Run, RunResult
from genlearn.training import Callback, LossHistory, Trainer

ROOT = Path(__file__).resolve().parents[1]


def timed_process(command: list[str]) -> tuple[float, str]:
    """Wall seconds of ``command`` as a whole process run from the repository root, start-up included, and its
    standard output; its output is shown, and the benchmark stops, only if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds, result.stdout


class ChunkTimer:
    """A callback function: seconds per step over the steps since its previous call."""

    def __init__(self, step: int):
        self.seconds_per_step: list[float] = []
        self.step, self.time = step, time.perf_counter()

    def __call__(self, step: int, history: LossHistory) -> None:
        now = time.perf_counter()
        if step > self.step:
            self.seconds_per_step.append((now - self.time) / (step - self.step))
        self.step, self.time = step, now


def train_timed(trainer: Trainer, max_seconds: float, chunk: int = 100) -> tuple[RunResult, list[float]]:
    """Train up to the config's ``num_steps``, or until ``max_seconds``; the run and the seconds per step of each chunk."""
    timer = ChunkTimer(trainer.step)
    result = Run(trainer, max_seconds=max_seconds, progress=False, callbacks=[Callback(chunk, timer)]).fit()
    timer(trainer.step, trainer.history)  # the steps after the last whole chunk, when the time limit cut it short
    return result, timer.seconds_per_step


def steps_that_fit(trainer: Trainer, seconds: float, probe_steps: int = 50, warmup_steps: int = 10) -> int:
    """Steps of ``trainer``'s recipe that fit in ``seconds``, from its speed over ``probe_steps`` (a throwaway trainer:
    it is trained by the probe). A recipe whose learning rate decays over ``num_steps`` sets them from this."""
    trainer.fit(trainer.step + warmup_steps, progress=False)
    start = time.perf_counter()
    trainer.fit(trainer.step + probe_steps, progress=False)
    return max(100, int(0.97 * seconds * probe_steps / (time.perf_counter() - start)))
