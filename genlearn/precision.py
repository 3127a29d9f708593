"""Mixed precision: bf16 autocast on GPUs that support it, fp16 with a gradient scaler on older ones, fp32 elsewhere.

bf16 autocast on a CPU without AVX-512 is many times slower than fp32, so ``auto`` never enables it there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch

PRECISION_MODES = ("auto", "fp32", "bf16", "fp16")


class Precision:
    """Autocast context plus the matching backward/step, so a training step reads the same at any precision."""

    def __init__(self, device: torch.device | str, mode: str = "auto"):
        if mode not in PRECISION_MODES:
            raise ValueError(f"unknown precision {mode!r}; choose one of {', '.join(PRECISION_MODES)}.")
        self.device = torch.device(device)
        if mode == "auto":
            mode = self._auto_mode(self.device)
        if mode == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 training needs a CUDA device (it relies on a gradient scaler); use fp32 or bf16.")
        self.mode = mode
        self.dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]
        self.scaler = torch.amp.GradScaler("cuda") if mode == "fp16" else None

    @staticmethod
    def _auto_mode(device: torch.device) -> str:
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def step(
        self,
        optimizer: torch.optim.Optimizer,
        clip_grad_norm: float | None = None,
        parameters: Iterable[torch.nn.Parameter] | None = None,
    ) -> None:
        """Unscale (fp16), optionally clip, and step ``optimizer``."""
        if self.scaler:
            self.scaler.unscale_(optimizer)
        if clip_grad_norm is not None:
            if parameters is None:
                parameters = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(parameters, clip_grad_norm)
        if self.scaler:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict:
        return {"mode": self.mode, "scaler": self.scaler.state_dict() if self.scaler else {}}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    def __repr__(self) -> str:
        return f"Precision({self.device.type}, {self.mode})"


def adamw(parameters, device: torch.device, **kwargs) -> torch.optim.AdamW:
    """AdamW, fused on CUDA where the kernel exists."""
    return torch.optim.AdamW(parameters, fused=torch.device(device).type == "cuda", **kwargs)


def adam(parameters, device: torch.device, **kwargs) -> torch.optim.Adam:
    """Adam, fused on CUDA where the kernel exists."""
    return torch.optim.Adam(parameters, fused=torch.device(device).type == "cuda", **kwargs)
