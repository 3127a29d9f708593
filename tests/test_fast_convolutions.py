"""The stride-1 forms of DCGAN's stride-2 convolutions compute what the layers they replace compute."""

import pytest
import torch
from torch import nn

from genlearn.gan.fast_convolutions import SpaceToDepthConv2d, SubPixelConvTranspose2d


@pytest.mark.parametrize(("reference_class", "fast_class", "in_channels", "out_channels", "size"), [
    (nn.Conv2d, SpaceToDepthConv2d, 1, 8, 28),
    (nn.Conv2d, SpaceToDepthConv2d, 3, 5, 10),
    (nn.ConvTranspose2d, SubPixelConvTranspose2d, 6, 1, 14),
    (nn.ConvTranspose2d, SubPixelConvTranspose2d, 4, 3, 7),
])
def test_same_outputs_and_gradients(reference_class, fast_class, in_channels, out_channels, size):
    torch.manual_seed(0)
    reference = reference_class(in_channels, out_channels, 4, stride=2, padding=1)
    fast = fast_class(in_channels, out_channels, 4, stride=2, padding=1)
    fast.load_state_dict(reference.state_dict())  # same parameter names and shapes
    x = torch.randn(3, in_channels, size, size, dtype=torch.float64, requires_grad=True)
    reference.double(), fast.double()

    expected = reference(x)
    torch.testing.assert_close(fast(x), expected)
    upstream = torch.randn_like(expected)
    want = torch.autograd.grad(expected, [x, reference.weight, reference.bias], upstream)
    got = torch.autograd.grad(fast(x), [x, fast.weight, fast.bias], upstream)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_spectral_norm_parametrization_is_used():
    from genlearn.gan.networks import with_spectral_norm

    torch.manual_seed(0)
    layer = with_spectral_norm(nn.Sequential(SpaceToDepthConv2d(1, 4, 4, stride=2, padding=1)))[0]
    layer.eval()
    x = torch.randn(2, 1, 8, 8)
    expected = nn.functional.conv2d(x, layer.weight, layer.bias, stride=2, padding=1)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("fast_class", [SpaceToDepthConv2d, SubPixelConvTranspose2d])
def test_refuses_other_shapes(fast_class):
    with pytest.raises(ValueError, match="kernel 4, stride 2, padding 1"):
        fast_class(1, 4, 3, stride=2, padding=1)


def test_refuses_odd_input():
    with pytest.raises(ValueError, match="even height and width"):
        SpaceToDepthConv2d(1, 4, 4, stride=2, padding=1)(torch.randn(1, 1, 7, 8))
