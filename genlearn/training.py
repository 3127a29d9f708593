"""The protocol a model family follows, ``Trainer``, with the loop and callbacks it trains with (``genlearn.loop``).

A model family is a subclass of ``Trainer``. It says how to build its networks from a config, how to take
one optimizer step, how to sample, save samples and evaluate. ``genlearn.run.Run`` owns everything around
the steps (checkpoints, resume, logs, stopping), so the command line, the notebooks and the benchmarks
train every family the same way.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.nn.parallel import DistributedDataParallel

from genlearn.checkpoint import (
    AllocationLimit,
    Checkpoint,
    CheckpointError,
    config_from_dict,
    load_checkpoint,
    load_module_state,
)
from genlearn.data import DataFileError
from genlearn.device import device_memory
from genlearn.loop import Callback, LossHistory, StopTraining, train_loop
from genlearn.precision import Precision
from genlearn.run import Run
from genlearn.seeding import fresh_rng_state, rng_state, set_rng_state

__all__ = ["Callback", "DataError", "LossHistory", "StopTraining", "Trainer", "evaluating", "train_loop", "unwrap"]

@contextlib.contextmanager
def evaluating(*modules: torch.nn.Module) -> Iterator[None]:
    """Eval mode (BatchNorm uses running stats, dropout is off) and no grad; restores each module's mode after."""
    modes = [module.training for module in modules]
    for module in modules:
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in zip(modules, modes):
            module.train(mode)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside any DistributedDataParallel and ``torch.compile`` wrappers, in whatever order they nest."""
    while True:
        if isinstance(module, DistributedDataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):  # torch.compile's OptimizedModule
            module = module._orig_mod
        else:
            return module


class DataError(ValueError):
    """A user's data that a model family cannot learn from; the message names the file and the problem."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


@contextlib.contextmanager
def building_from(checkpoint: Checkpoint, device: torch.device | str) -> Iterator[None]:
    """Building a trainer from a checkpoint's config, which may be hostile: a config asking for more memory than
    the device has is refused before allocating, and what a bad value makes the build raise names the file."""
    try:
        with AllocationLimit(device_memory(torch.device(device)), "its config"):
            yield
    except (CheckpointError, DataError, DataFileError):
        raise
    except Exception as error:  # a value of the right type that the family's build cannot use
        raise CheckpointError(
            f"{checkpoint.path} holds a config that cannot build its {checkpoint.model} model "
            f"({_first_line(error)}); point to another checkpoint."
        ) from None


class Trainer(abc.ABC):
    """The protocol of a model family: what the command line, ``Run``, the benchmarks and the notebooks rely on.

    A family sets the class attributes and implements the abstract methods. ``__init__`` is the same for every
    family: it seeds the trainer's own random state from ``config.seed`` and calls ``build(data)`` under it.
    The caller's global random state is never touched: training steps draw from the trainer's own state
    (``own_rng``), which checkpoints save for exact resume.

    Losses must be computed by calling the registered modules (``self.modules[name](...)``), so that the
    DistributedDataParallel or ``torch.compile`` wrappers installed by ``wrap_modules`` take effect.
    """

    model_name: ClassVar[str]  # what checkpoints record and check
    config_class: ClassVar[type]  # the config dataclass, so a checkpoint's config dict rebuilds the trainer
    unit: ClassVar[str]  # what one step learns from: "images" or "tokens" (see ``items_per_step``)

    def __init__(self, config, device: torch.device | str, precision: str = "auto", data: Any = None):
        """``data``: what ``load_data`` returns for a user's path; None means the bundled data."""
        self.config = config
        self.device = torch.device(device)
        self.precision = Precision(self.device, precision)
        self.modules: dict[str, torch.nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.history = LossHistory()
        self.step = 0
        self.rank, self.world_size = 0, 1
        self.rng = fresh_rng_state(config.seed, self.device)
        with self.own_rng():
            self.build(data)
        if self.device.type == "cuda":
            self.use_channels_last()

    # --- what a family implements ---------------------------------------------------------------------------

    @abc.abstractmethod
    def build(self, data: Any) -> None:
        """Register modules, optimizers and schedulers, and prepare the batches (``data=None``: the bundled data)."""

    @classmethod
    @abc.abstractmethod
    def load_data(cls, path: Path) -> Any:
        """Read a user's data at ``path`` into the form ``__init__`` takes; ``ValueError`` says what is wrong with it."""

    @abc.abstractmethod
    def training_step(self, step: int) -> Mapping[str, torch.Tensor]:
        """One optimizer step on one batch; the named loss terms, detached."""

    @abc.abstractmethod
    def items_per_step(self) -> float:
        """How many ``unit`` (images, or predicted tokens) one step learns from."""

    @abc.abstractmethod
    def sample(self, num_samples: int, *, seed: int = 0, length: int | None = None, prompt: str | None = None) -> Any:
        """``num_samples`` samples in eval mode, from generators seeded with ``seed`` (the same on every call).

        ``length``: tokens per sample, for families that draw sequences; the others raise ``ValueError``.
        ``prompt``: the text every sample starts with, for families that write text; the others raise ``ValueError``.
        """

    @property
    @abc.abstractmethod
    def default_num_samples(self) -> int:
        """How many samples ``genlearn sample`` draws when not told."""

    @property
    @abc.abstractmethod
    def samples_file(self) -> str:
        """The default file name for ``save_samples``, whose suffix says the format."""

    @abc.abstractmethod
    def save_samples(self, samples: Any, path: Path) -> str | None:
        """Write ``samples`` to ``path``; return them as text for a terminal when they are text, else None."""

    @abc.abstractmethod
    def describe_data(self) -> str:
        """What the trainer learns from, precisely enough that resuming a run on other data is refused."""

    @abc.abstractmethod
    def evaluate(self) -> dict[str, Any]:
        """The family's metrics on held-out data, deterministic. The ``"data"`` entry names the data they used."""

    # --- what every family shares ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def own_rng(self) -> Iterator[None]:
        """Within ``with``, torch's global generators hold this trainer's random state; the caller's is restored."""
        saved = rng_state(self.device)
        set_rng_state(self.rng, self.device)
        try:
            yield
        finally:
            self.rng = rng_state(self.device)
            set_rng_state(saved, self.device)

    def shard(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's slice of a global batch (the whole batch unless distributed)."""
        if self.world_size == 1:
            return tensors
        return tuple(t.chunk(self.world_size)[self.rank] for t in tensors)

    def wrap_modules(self, wrap: Callable[[torch.nn.Module], torch.nn.Module], names: list[str] | None = None) -> None:
        """Replace registered modules by wrapped ones (DDP, torch.compile); state_dicts stay unwrapped."""
        for name in names or list(self.modules):
            self.modules[name] = wrap(self.modules[name])

    def unwrapped(self, name: str) -> torch.nn.Module:
        return unwrap(self.modules[name])

    def use_channels_last(self) -> None:
        """NHWC weights for convolutional networks: faster convolutions on tensor cores."""
        convolutions = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
        for module in self.modules.values():
            if any(isinstance(layer, convolutions) for layer in module.modules()):
                module.to(memory_format=torch.channels_last)

    def periodic_callbacks(self) -> list[Callback]:
        """Callbacks that every run of this trainer needs (a val curve, say); ``Run`` and ``fit`` add them first."""
        return []

    def metrics_recorded_at(self, step: int) -> dict[str, Any] | None:
        """What ``evaluate()`` would return at ``step``, if the trainer's own callbacks already computed it there."""
        return None

    def fit(self, num_steps: int | None = None, **run_options) -> LossHistory:
        """Train up to step ``num_steps`` (default: the config's), continuing from ``self.step``.

        ``run_options`` go to ``genlearn.run.Run``: ``out=`` a folder checkpoints the run there, and
        ``resume=True`` continues it after a restart; ``callbacks``, ``max_seconds`` and ``progress`` as there.
        With a folder, an interrupt (Ctrl-C, or the notebook's stop button) saves after the current step,
        then raises ``KeyboardInterrupt``.
        """
        run = Run(self, num_steps=num_steps, **run_options)
        result = run.fit()
        if result.signal_number:  # an interrupted notebook cell stops there, not with a half-trained model below
            raise KeyboardInterrupt(f"stopped by {result.stopped_by} after step {self.step}; saved {run.checkpoint_path}")
        return self.history

    # --- checkpoints ----------------------------------------------------------------------------------------

    def extra_state(self) -> dict:
        """Subclasses add their data iterators and anything else a resumed run needs."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        state = {f"module.{n}": self.unwrapped(n).state_dict() for n in self.modules}
        state.update({f"optimizer.{n}": o.state_dict() for n, o in self.optimizers.items()})
        state.update({f"scheduler.{n}": s.state_dict() for n, s in self.schedulers.items()})
        state["precision"] = self.precision.state_dict()
        state["history"] = self.history.state_dict()
        state["rng"] = self.rng
        state["trainer"] = self.extra_state()
        state["step"] = self.step
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False, source: str = "checkpoint") -> None:
        """Restore everything (exact resume), or with ``weights_only`` just the modules."""
        for name in self.modules:
            if f"module.{name}" not in state:
                raise CheckpointError(f"{source} has no weights for the {name} of {self.model_name}.")
            load_module_state(self.unwrapped(name), state[f"module.{name}"], source=source)
        if weights_only:
            return
        needed = [f"{kind}.{name}" for kind, named in (("optimizer", self.optimizers), ("scheduler", self.schedulers))
                  for name in named] + ["precision", "history", "rng", "trainer", "step"]
        missing = [key for key in needed if key not in state]
        if missing:
            raise CheckpointError(
                f"{source} cannot continue a run: it has no {missing[0]!r} state (it holds weights only, or is "
                "damaged); sample or evaluate it instead, or start a new run in another folder."
            )
        try:
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state[f"optimizer.{name}"])
            for name, scheduler in self.schedulers.items():
                scheduler.load_state_dict(state[f"scheduler.{name}"])
            self.precision.load_state_dict(state["precision"])
            self.history.load_state_dict(state["history"])
            self.rng = state["rng"]
            with self.own_rng():  # a damaged random state fails here, not at the first step
                pass
            self.load_extra_state(state["trainer"])
        except Exception as error:  # whatever a damaged entry makes torch or the family raise
            raise CheckpointError(
                f"{source} is damaged: its training state does not load ({_first_line(error)}); "
                "resume from another checkpoint, or start a new run in another folder."
            ) from None
        self.step = state["step"]

    def restore(self, checkpoint: Checkpoint, weights_only: bool = False) -> None:
        """Load ``checkpoint`` (from ``load_checkpoint``) into this trainer: all of it, or its weights and step."""
        self.load_state_dict(checkpoint.state, weights_only=weights_only, source=str(checkpoint.path))
        self.step = checkpoint.step

    @classmethod
    def config_from(cls, checkpoint: Checkpoint):
        """The config a checkpoint was written with, as this version's config class."""
        try:
            return config_from_dict(cls.config_class, checkpoint.config)
        except ValueError as error:
            raise CheckpointError(
                f"{checkpoint.path} holds a config this version of {cls.model_name} does not know ({error})."
            ) from None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str, *, precision: str = "auto", data: Any = None):
        """A trainer rebuilt from the config in ``path``, with its weights and step: for sampling and evaluation.

        ``data`` defaults to what the run trained on: the bundled data, or the user's path it recorded.
        """
        checkpoint = load_checkpoint(path, expected_model=cls.model_name, map_location=device)
        config = cls.config_from(checkpoint)
        with building_from(checkpoint, device):
            if data is None:
                data = cls.data_in_checkpoint(checkpoint)
            if data is None:
                trained_on = checkpoint.extra.get("data", "bundled")
                trainer = cls.on_data(config, device, precision, None if trained_on == "bundled" else Path(trained_on))
            else:
                trainer = cls(config, device, precision, data)
        trainer.restore(checkpoint, weights_only=True)
        return trainer

    @classmethod
    def data_in_checkpoint(cls, checkpoint: Checkpoint) -> Any:
        """What ``from_checkpoint`` builds on when the checkpoint itself holds it (a text model's vocabulary), or
        None (the default) to load the data the run trained on."""
        return None

    @classmethod
    def on_data(cls, config, device: torch.device | str, precision: str = "auto", path: Path | None = None):
        """A trainer on the data at ``path`` (None: the bundled data).

        ``DataError`` says what is wrong with the user's data, whether ``load_data`` or the trainer refused it.
        """
        if path is None:
            return cls(config, device, precision)
        try:
            return cls(config, device, precision, cls.load_data(path))
        except ValueError as error:
            raise DataError(f"{path} cannot train {cls.model_name}: {error}") from None
