"""DCGAN's stride-2, 4x4 convolutions computed as stride-1 convolutions, which oneDNN runs faster on a CPU.

Both classes keep the parameters of the layer they replace (same names and shapes, so checkpoints load
either way) and compute the same function up to float rounding; only the arithmetic's layout changes:

- ``SpaceToDepthConv2d``: a stride-2 convolution over a padded image is a 2x2 stride-1 convolution over
  its 2x2 blocks stacked as channels (``pixel_unshuffle``). It helps most where the input has few channels.
- ``SubPixelConvTranspose2d``: a stride-2 transposed convolution is four 3x3 stride-1 convolutions, one per
  output phase (even/odd row, even/odd column), interleaved by ``pixel_shuffle`` (Shi et al. 2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# TAPS[phase, r, k] = 1 where output phase ``phase`` reads the 3x3 window's tap ``r`` through kernel index ``k``:
# output row 2m + phase sums input rows i with kernel index k = 2(m - i) + phase + 1 (padding 1), and the 3x3
# window's tap r reads input row m + r - 1.
_TAPS = torch.zeros(2, 3, 4)
_TAPS[0, 0, 3] = _TAPS[0, 1, 1] = _TAPS[1, 1, 2] = _TAPS[1, 2, 0] = 1.0


def _check_shape(layer: nn.Module, kind: str) -> None:
    if (layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.groups) != ((4, 4), (2, 2), (1, 1), (1, 1), 1):
        raise ValueError(f"{kind} computes only kernel 4, stride 2, padding 1, no dilation or groups")


class SpaceToDepthConv2d(nn.Conv2d):
    """``nn.Conv2d(in, out, 4, stride=2, padding=1)`` on even-sized inputs, as a 2x2 convolution over 2x2 blocks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check_shape(self, "SpaceToDepthConv2d")
        if self.padding_mode != "zeros":
            raise ValueError("SpaceToDepthConv2d computes only zero padding")

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"SpaceToDepthConv2d needs an even height and width, got {tuple(x.shape[-2:])}")
        blocks = F.pixel_unshuffle(F.pad(x, (1, 1, 1, 1)), 2)  # channel c*4 + 2*dy + dx holds pixel (2a+dy, 2b+dx)
        out_channels, in_channels = weight.shape[:2]
        # weight[o, c, 2a+dy, 2b+dx] -> block_weight[o, c*4 + 2*dy + dx, a, b]
        block_weight = weight.reshape(out_channels, in_channels, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4)
        return F.conv2d(blocks, block_weight.reshape(out_channels, 4 * in_channels, 2, 2), bias)


class SubPixelConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(in, out, 4, stride=2, padding=1)``, as a 3x3 convolution to 4x the channels + pixel_shuffle."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check_shape(self, "SubPixelConvTranspose2d")
        if self.output_padding != (0, 0):
            raise ValueError("SubPixelConvTranspose2d computes only output_padding 0")

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            raise ValueError("SubPixelConvTranspose2d always doubles the size; leave out output_size")
        taps = _TAPS.to(self.weight)
        in_channels, out_channels = self.weight.shape[:2]
        # weight[c, o, ky, kx] -> phase_weight[o, a, b, c, r, s] for output phase (a, b) and 3x3 tap (r, s)
        phase_weight = torch.einsum("cokl,ark,bsl->oabcrs", self.weight, taps, taps)
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        phases = F.conv2d(x, phase_weight.reshape(4 * out_channels, in_channels, 3, 3), bias, padding=1)
        return F.pixel_shuffle(phases, 2)
