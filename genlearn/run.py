"""A training run, owned by the library: a trainer, an output folder, a target step, and what happens around the steps.

    Run(trainer, "runs/gpt").fit()                  # checkpoints, loss log and TensorBoard in runs/gpt
    Run(trainer, "runs/gpt", resume=True).fit()     # continue exactly where the saved run stopped
    Run(trainer, max_seconds=600).fit()             # a benchmark's wall-clock budget, no files

Around every step: periodic checkpoints (atomic, so a kill never leaves a broken file), loss lines and
TensorBoard scalars, evaluation every ``config.eval_every`` steps, a clean stop on SIGINT/SIGTERM (which
saves a whole step), a wall-clock limit, and loss averaging across DDP ranks. The command line, the
notebooks (``Trainer.fit``), the benchmarks and ``benchmarks/pretrain.py`` all train through it.

A run with a folder claims it from construction to the end of ``fit`` (or ``close``): it holds a lock
(``.lock``, holding the process id), so a second run into the same folder is refused, and it has written
that file, so a folder it cannot write to is refused before training, not at the first save.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlearn import distributed
from genlearn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genlearn.loss_log import LossLogger
from genlearn.folder_lock import try_lock
from genlearn.stopping import StopRequest
from genlearn.loop import Callback, StopTraining, train_loop

CHECKPOINT_NAME = "checkpoint.pt"
LOCK_NAME = ".lock"
# What save_checkpoint leaves behind when killed mid-save.
STALE_TEMPORARY_FILES = f".{CHECKPOINT_NAME}.*.tmp"
TIME_LIMIT = "time limit"  # RunResult.stopped_by when max_seconds ran out
# Under DDP, ranks agree every this many steps on whether one of them must stop (a signal, the time limit).
STOP_CHECK_EVERY = 10


class RunError(Exception):
    """A run that cannot start or save as asked (its folder is a file, unwritable, or holds another run).

    The message says what was kept: a refused start writes nothing, a failed save leaves the last checkpoint.
    """


@dataclass(frozen=True)
class RunResult:
    steps: int  # steps taken by this call
    seconds: float
    stopped_by: str | None = None  # "SIGINT", "SIGTERM" or TIME_LIMIT; None when it reached its target
    signal_number: int = 0


class Run:
    """Train ``trainer`` up to ``num_steps`` (default: its config's), continuing from ``trainer.step``.

    ``out``: a folder for ``checkpoint.pt`` and TensorBoard logs; None writes nothing. ``resume``: True
    continues the run saved in ``out``; "auto" does so when there is one; False refuses to overwrite it.
    ``data_label`` names the training data in the checkpoint ("bundled", or the user's path), so a resume
    on other data is refused. ``callbacks`` run after the trainer's own, each on its own period.
    """

    def __init__(
        self,
        trainer: Any,  # a genlearn.training.Trainer; that module sits above this one (Trainer.fit makes a Run)
        out: str | Path | None = None,
        *,
        num_steps: int | None = None,
        resume: bool | str = False,
        data_label: str = "bundled",
        preset: str | None = None,
        callbacks: Sequence[Callback] = (),
        log_every: int | None = None,
        save_every: int | None = None,
        max_seconds: float | None = None,
        progress: bool = True,
        description: str | None = None,
        context: distributed.Context | None = None,
        say: Callable[..., None] = print,
    ):
        self.trainer = trainer
        self.out = Path(out) if out is not None else None
        self.num_steps = num_steps if num_steps is not None else trainer.config.num_steps
        self.data_label = data_label
        self.preset = preset
        self.callbacks = list(callbacks)
        run_length = trainer.config.num_steps
        self.log_every = log_every if log_every is not None else (max(1, run_length // 20) if self.out else 0)
        self.save_every = save_every if save_every is not None else max(1, run_length // 10)
        self.max_seconds = max_seconds
        self.progress = progress
        self.description = description or trainer.model_name
        self.context = context or distributed.Context()
        self.say = say if self.context.is_main else (lambda *args, **kwargs: None)
        self._lock = None  # the open lock file while this run holds its folder
        self._saved_step: int | None = None  # the step in out/checkpoint.pt, once there is one
        if self.out is not None:
            try:
                self._open_folder(resume)
            except OSError as error:  # a read-only folder or disk, a full disk, a name too long, a path below a file
                self.close()
                raise RunError(
                    f"cannot write to the run folder {self.out} ({error.strerror or error}); "
                    "choose a folder you can write to, with free space."
                ) from None
            except BaseException:
                self.close()
                raise
        if self.context.enabled:
            distributed.wrap_trainer(trainer, self.context)

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out / CHECKPOINT_NAME if self.out is not None else None

    def _open_folder(self, resume: bool | str) -> None:
        """Check the folder, and load the saved run when resuming; anything wrong raises before a file is written."""
        path = self.checkpoint_path
        if self.out.exists() and not self.out.is_dir():
            raise RunError(f"{self.out} is a file; give a folder for the run's checkpoint and logs.")
        if resume == "auto":
            resume = path.is_file()
        if resume and not path.is_file():
            raise RunError(f"there is no checkpoint at {path} to resume; train without resuming first.")
        if self.context.is_main:
            self._claim_folder()
        if not resume:
            if path.exists():  # checked under the lock too: another run may have saved here since
                raise RunError(
                    f"{path} already exists; resume that run (--resume, or resume=True) "
                    "or choose another output folder (nothing was overwritten)."
                )
            return
        checkpoint = load_checkpoint(
            path, expected_model=self.trainer.model_name, expected_config=self.trainer.config, map_location="cpu"
        )
        trained_on = (checkpoint.extra.get("data", "bundled"), checkpoint.extra.get("data_summary"))
        here = (self.data_label, self.trainer.describe_data())
        if trained_on[0] != here[0] or trained_on[1] not in (None, here[1]):
            raise CheckpointError(
                f"{path} was trained on data {' = '.join(filter(None, trained_on))!r}, not {' = '.join(here)!r}; "
                "resume with the same data, or start a new run in another folder."
            )
        self.trainer.restore(checkpoint)
        self._saved_step = checkpoint.step

    def _claim_folder(self) -> None:
        """Create the folder, lock it against other runs, prove it writable, and clear a killed save's leftovers."""
        lock_path = self.out / LOCK_NAME
        self.out.mkdir(parents=True, exist_ok=True)
        while self._lock is None:
            lock = open(lock_path, "a+b", buffering=0)  # unbuffered: a full disk fails at the write, not at close
            if not try_lock(lock):
                lock.seek(0)
                holder = lock.read().decode(errors="replace").strip()
                lock.close()
                raise RunError(
                    f"another run{f' (process {holder})' if holder else ''} is training in {self.out}; "
                    "wait for it to finish, or choose another output folder (nothing was written)."
                ) from None
            # A run that just finished removed the file we opened: lock the one now at that path.
            if lock_path.exists() and os.stat(lock_path).st_ino == os.fstat(lock.fileno()).st_ino:
                self._lock = lock
            else:
                lock.close()
        self._lock.truncate(0)
        self._lock.write(f"{os.getpid()}\n".encode())  # proves the folder writable, and names this run to another
        os.fsync(self._lock.fileno())
        for leftover in self.out.glob(STALE_TEMPORARY_FILES):
            leftover.unlink()

    def close(self) -> None:
        """Release the folder for other runs (``fit`` does this when it ends)."""
        if self._lock is not None:
            (self.out / LOCK_NAME).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def save(self) -> None:
        """Write the whole run to ``out/checkpoint.pt`` (rank 0 only; nothing without ``out``)."""
        if self.out is None or not self.context.is_main:
            return
        trainer = self.trainer
        extra = {"data": self.data_label, "data_summary": trainer.describe_data()}
        if self.preset:
            extra["preset"] = self.preset
        try:
            save_checkpoint(
                self.checkpoint_path,
                model=trainer.model_name,
                config=trainer.config,
                state=trainer.state_dict(),
                step=trainer.step,
                extra=extra,
            )
        except OSError as error:
            kept = (
                f"{self.checkpoint_path} still holds step {self._saved_step}, intact; free space or fix the folder, "
                "then continue with --resume (resume=True)"
                if self._saved_step is not None
                else "no checkpoint was written; free space or fix the folder, then train again"
            )
            raise RunError(f"saving step {trainer.step} failed ({error.strerror or error}); {kept}.") from None
        self._saved_step = trainer.step

    def evaluation(self, step: int) -> dict:
        """``trainer.evaluate()`` at ``step``, unless the trainer's own callbacks computed it there already."""
        return self.trainer.metrics_recorded_at(step) or self.trainer.evaluate()

    def _periodic_save(self, done: int, history) -> None:
        if done < self.num_steps:  # the last step's save comes after the loop, with a stop's
            self.save()

    def fit(self) -> RunResult:
        """Train up to ``num_steps``; the folder is released when this ends, however it ends."""
        if self.out is not None and self.context.is_main and self._lock is None:
            raise RunError(f"this run into {self.out} has ended; make a new Run (resume=True) to train on.")
        try:
            if self.trainer.step >= self.num_steps:
                return RunResult(steps=0, seconds=0.0)
            enabled = self.context.is_main and self.log_every > 0
            logger = LossLogger(self.out, self.num_steps, self.trainer.history, enabled=enabled)
            try:
                return self._train(logger)
            finally:
                logger.close()
        finally:
            self.close()

    def _train(self, logger: LossLogger) -> RunResult:
        trainer, context = self.trainer, self.context
        callbacks = [*trainer.periodic_callbacks(), *self.callbacks]
        if self.log_every:
            callbacks.append(Callback(self.log_every, logger.log))
        if trainer.config.eval_every and logger.enabled:
            log_evaluation = lambda done, history: logger.log_metrics(done, self.evaluation(done))  # noqa: E731
            callbacks.append(Callback(trainer.config.eval_every, log_evaluation))
        if self.out is not None:
            callbacks.append(Callback(self.save_every, self._periodic_save))

        started, first_step = time.perf_counter(), trainer.step
        # Signals stop a run that saves; without a folder, Ctrl-C interrupts as usual.
        with StopRequest(enabled=self.out is not None) as stop:

            def must_stop(step: int) -> bool:
                out_of_time = self.max_seconds is not None and time.perf_counter() - started >= self.max_seconds
                local = stop.requested or out_of_time
                if not context.enabled:
                    return local
                return step % STOP_CHECK_EVERY == 0 and distributed.any_rank(local, context, trainer.device)

            def step_fn(step: int):
                if step > first_step and must_stop(step):
                    raise StopTraining
                with trainer.own_rng():
                    terms = trainer.training_step(step)
                terms = distributed.average_terms(terms, context, trainer.device)
                trainer.step = step + 1
                return terms

            stopped_by = None
            try:
                train_loop(
                    step_fn,
                    self.num_steps,
                    start_step=trainer.step,
                    history=trainer.history,
                    progress=self.progress and context.is_main,
                    description=self.description,
                    callbacks=callbacks,
                )
            except StopTraining:
                stopped_by = stop.signal_name or TIME_LIMIT
        self.save()
        return RunResult(
            steps=trainer.step - first_step,
            seconds=time.perf_counter() - started,
            stopped_by=stopped_by,
            signal_number=stop.signal_number,
        )
