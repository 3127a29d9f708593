"""The training core shared by every model: a loop with a progress bar and a loss history.

A model family supplies ``step_fn(step) -> {name: loss}``, which draws its batch, runs
forward and backward, and steps its optimizers. The loop owns everything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence

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


Callback = Callable[[int, LossHistory], None]


def train_loop(
    step_fn: StepFn,
    num_steps: int,
    *,
    start_step: int = 0,
    history: LossHistory | None = None,
    progress: bool = True,
    description: str = "training",
    sync_every: int = 50,
    callback: Callback | None = None,
    callback_every: int = 0,
    callbacks: Sequence[tuple[int, Callback]] = (),
) -> LossHistory:
    """Run ``step_fn`` for steps ``start_step .. num_steps-1`` and record what it returns.

    ``callback(step, history)`` runs after every ``callback_every`` steps (for snapshots,
    evaluation or checkpoints) and after the last step. ``callbacks`` adds more such
    ``(every, callback)`` pairs, each on its own period; they run in the order given, before ``callback``.
    """
    scheduled = list(callbacks) + ([(callback_every, callback)] if callback is not None else [])
    history = history if history is not None else LossHistory()
    bar = tqdm(range(start_step, num_steps), desc=description, disable=not progress, initial=start_step, total=num_steps)
    step = start_step
    for step in bar:
        history.append(step, step_fn(step))
        done = step + 1
        if done % sync_every == 0 or done == num_steps:
            history.flush()
            bar.set_postfix({name: f"{values[-1]:.3f}" for name, values in history.values.items()}, refresh=False)
        due = [fn for every, fn in scheduled if (every and done % every == 0) or done == num_steps]
        if due:
            history.flush()
        for fn in due:
            fn(done, history)
    bar.close()
    history.flush()
    return history


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


class Trainer:
    """One object that owns a model family's modules, optimizers, batches and history.

    Subclasses set ``model_name``, build their modules and optimizers in ``__init__``
    (registering them with ``self.modules`` and ``self.optimizers``) and implement
    ``training_step``. Losses must be computed by calling the modules themselves
    (``self.modules[name](...)``), so that DistributedDataParallel or ``torch.compile``
    wrappers installed by ``wrap_modules`` take effect.
    """

    model_name: str = ""
    config_class: type = object  # the config dataclass, so checkpoints can rebuild the trainer

    def __init__(self, config, device: torch.device | str, precision: str = "auto"):
        from genlearn.precision import Precision

        self.config = config
        self.device = torch.device(device)
        self.precision = Precision(self.device, precision)
        self.modules: dict[str, torch.nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.history = LossHistory()
        self.step = 0
        self.rank, self.world_size = 0, 1

    def training_step(self, step: int) -> Mapping[str, torch.Tensor]:
        raise NotImplementedError

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
        module = self.modules[name]
        module = getattr(module, "module", module)  # DistributedDataParallel
        return getattr(module, "_orig_mod", module)  # torch.compile

    def periodic_callbacks(self) -> list[tuple[int, Callback]]:
        """``(every, callback)`` pairs that every run of this trainer needs (a val curve, say); see ``train_loop``."""
        return []

    def metrics_recorded_at(self, step: int) -> dict[str, float] | None:
        """What ``evaluate()`` would return at ``step``, if the trainer's own callbacks already computed it there."""
        return None

    def fit(self, num_steps: int | None = None, **loop_options) -> LossHistory:
        """Train up to step ``num_steps`` (default: the config's), continuing from ``self.step``.

        ``loop_options`` go to ``train_loop``; ``periodic_callbacks()`` run first, then any given here.
        """
        num_steps = num_steps if num_steps is not None else self.config.num_steps
        loop_options.setdefault("description", self.model_name)
        loop_options["callbacks"] = [*self.periodic_callbacks(), *loop_options.get("callbacks", ())]

        def step_fn(step: int):
            terms = self.training_step(step)
            self.step = step + 1
            return terms

        train_loop(step_fn, num_steps, start_step=self.step, history=self.history, **loop_options)
        return self.history

    def extra_state(self) -> dict:
        """Subclasses add their data iterators and anything else a resumed run needs."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        from genlearn.seeding import rng_state

        state = {f"module.{n}": self.unwrapped(n).state_dict() for n in self.modules}
        state.update({f"optimizer.{n}": o.state_dict() for n, o in self.optimizers.items()})
        state.update({f"scheduler.{n}": s.state_dict() for n, s in self.schedulers.items()})
        state["precision"] = self.precision.state_dict()
        state["history"] = self.history.state_dict()
        state["rng"] = rng_state()
        state["trainer"] = self.extra_state()
        state["step"] = self.step
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        """Restore everything (exact resume), or with ``weights_only`` just the modules."""
        from genlearn.checkpoint import load_module_state
        from genlearn.seeding import set_rng_state

        for name in self.modules:
            load_module_state(self.unwrapped(name), state[f"module.{name}"])
        if weights_only:
            return
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[f"optimizer.{name}"])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state[f"scheduler.{name}"])
        self.precision.load_state_dict(state["precision"])
        self.history.load_state_dict(state["history"])
        set_rng_state(state["rng"])
        self.load_extra_state(state["trainer"])
        self.step = state["step"]
