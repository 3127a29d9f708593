"""Several processes, one training run: ``torchrun --nproc_per_node=N -m genlearn train ...``.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE. Every rank builds the same trainer from the same
seed and draws the same global batch; ``Trainer.shard`` gives each rank its slice, and
DistributedDataParallel averages the gradients, so N processes take the same steps as one process
with the whole batch (exactly so for losses that are means over the batch). NCCL joins GPUs and
gloo joins CPU processes. Losses are averaged over the ranks for the logs; only rank 0 writes
checkpoints, logs and the progress bar.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


class DistributedSetupError(RuntimeError):
    """torchrun asked for something this machine cannot do (more GPUs than it has, an unsupported device)."""


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group torchrun described (a no-op for a single process); return this rank's device."""
    if not launched_by_torchrun():
        return Context(), device
    context = Context(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if device.type == "cuda":
        if context.local_rank >= torch.cuda.device_count():
            raise DistributedSetupError(
                f"local rank {context.local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                "use --nproc_per_node at most that."
            )
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise DistributedSetupError(f"multi-process training supports cuda (NCCL) and cpu (gloo), not {device.type}.")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return context, device


def wrap_trainer(trainer, context: Context) -> None:
    """Give the trainer its rank and wrap every module that learns in DistributedDataParallel."""
    trainer.rank, trainer.world_size = context.rank, context.world_size
    learning = [
        name
        for name, module in trainer.modules.items()
        if any(parameter.requires_grad for parameter in module.parameters())
    ]
    device_ids = [trainer.device.index] if trainer.device.type == "cuda" else None

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        if trainer.device.type == "cuda":
            # BatchNorm statistics over the global batch, as one process would compute them.
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return DistributedDataParallel(module, device_ids=device_ids)

    trainer.wrap_modules(wrap, names=learning)


def any_rank(flag: bool, context: Context, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on any rank (so all ranks stop at the same step)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def average_terms(terms: dict, context: Context, device: torch.device) -> dict:
    """The mean of each loss term over the ranks: the global batch's value, as one process would log it."""
    if not context.enabled:
        return terms
    names = list(terms)
    values = torch.stack([torch.as_tensor(terms[name], device=device).detach().float() for name in names])
    dist.all_reduce(values)
    return dict(zip(names, values / context.world_size))


def teardown(context: Context, trainer=None) -> None:
    """Leave the process group. The DDP wrappers hold it too: drop them and collect first, so that gloo's
    threads stop while the interpreter is alive (else a rank can abort at exit with
    "terminate called without an active exception")."""
    if context.enabled and dist.is_initialized():
        if trainer is not None:
            for name in list(trainer.modules):
                trainer.modules[name] = trainer.unwrapped(name)
        gc.collect()
        dist.destroy_process_group()
