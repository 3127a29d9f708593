"""Plots the notebooks share: image grids and loss curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from genlearn.loop import LossHistory


def image_grid(images: torch.Tensor, nrow: int = 10, padding: int = 2) -> torch.Tensor:
    """(N, 1 or 3, H, W) images in [0, 1] to one (H', W', C) grid on the CPU, ready for imshow."""
    from torchvision.utils import make_grid  # here, not at the top: torchvision costs every notebook 2 s of torch._dynamo

    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0)
    return grid.permute(1, 2, 0)


def show_images(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None):
    """Show a grid of images; returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.6, (len(images) + nrow - 1) // nrow * 0.6 + 0.4))
    ax.imshow(image_grid(images, nrow), cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def moving_average(values: list[float], window: int) -> list[float]:
    window = max(1, min(window, len(values)))
    cumulative = [0.0]
    for value in values:
        cumulative.append(cumulative[-1] + value)
    return [(cumulative[i] - cumulative[max(0, i - window)]) / (i - max(0, i - window)) for i in range(1, len(cumulative))]


def plot_history(history: LossHistory, names: list[str] | None = None, smooth: int = 20, ax=None, title: str | None = None):
    """Plot named loss terms against the step, smoothed by a moving average."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name in names or history.names:
        ax.plot(history.steps, moving_average(history[name], smooth), label=name)
    ax.set_xlabel("step")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax
