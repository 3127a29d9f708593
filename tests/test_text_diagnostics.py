"""genlearn.text.diagnostics: the tanh statistics that notebook 07 uses to compare a bad and a good initialisation."""

import math

import pytest
import torch

from genlearn.text.diagnostics import SATURATED, tanh_layer_statistics
from genlearn.text.mlp import MLPConfig, MLPLanguageModel

VOCAB = 11


def batch():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, VOCAB, (16, 9), generator=generator)
    targets = torch.randint(0, VOCAB, (16, 9), generator=generator)
    targets[:, -3:] = -1  # padding, which the statistics must skip
    return inputs, targets


def model(weight_scale=None):
    torch.manual_seed(0)
    mlp = MLPLanguageModel(MLPConfig(VOCAB, context_length=4, embedding_dim=6, hidden_dim=32))
    if weight_scale is not None:
        with torch.no_grad():
            for parameter in mlp.parameters():
                parameter.normal_(0, weight_scale)
    return mlp


def test_statistics_match_a_hand_computed_forward_and_backward():
    mlp, (inputs, targets) = model(weight_scale=1.0), batch()
    stats = tanh_layer_statistics(mlp, mlp.hidden, mlp.output, inputs, targets)

    a = mlp.hidden(mlp.token_embedding(mlp.contexts(inputs)).flatten(2))
    a.retain_grad()
    h = torch.tanh(a)
    h.retain_grad()
    _, loss = mlp(inputs, targets)
    torch.nn.functional.cross_entropy(mlp.output(h).view(-1, VOCAB), targets.reshape(-1), ignore_index=-1).backward()
    scored = targets >= 0
    assert stats.loss == pytest.approx(loss.item(), rel=1e-6)
    assert stats.preactivation_std == pytest.approx(a[scored].std().item(), rel=1e-5)
    assert stats.saturated_fraction == pytest.approx((h[scored].abs() > SATURATED).float().mean().item())
    assert stats.gradient_std_at_h == pytest.approx(h.grad[scored].std().item(), rel=1e-5)
    assert stats.gradient_std_at_a == pytest.approx(a.grad[scored].std().item(), rel=1e-5)
    assert stats.hidden.shape == (int(scored.sum()), 32)


def test_large_weights_saturate_and_the_library_init_does_not():
    inputs, targets = batch()
    bad, good = model(weight_scale=1.0), model()
    bad_stats = tanh_layer_statistics(bad, bad.hidden, bad.output, inputs, targets)
    good_stats = tanh_layer_statistics(good, good.hidden, good.output, inputs, targets)
    assert bad_stats.saturated_fraction > 0.5 > 0.05 > good_stats.saturated_fraction
    assert bad_stats.gradient_std_at_a / bad_stats.gradient_std_at_h < 0.5
    assert good_stats.gradient_std_at_a / good_stats.gradient_std_at_h > 0.5
    assert bad_stats.loss > 2 * math.log(VOCAB)
    assert good_stats.loss == pytest.approx(math.log(VOCAB), abs=0.05)


def test_leaves_the_parameters_gradients_alone():
    mlp, (inputs, targets) = model(), batch()
    tanh_layer_statistics(mlp, mlp.hidden, mlp.output, inputs, targets)
    assert all(parameter.grad is None for parameter in mlp.parameters())


def test_refuses_layers_that_do_not_run_once():
    mlp, (inputs, targets) = model(), batch()
    unused = torch.nn.Linear(3, 3)
    with pytest.raises(ValueError, match="run once"):
        tanh_layer_statistics(mlp, mlp.hidden, unused, inputs, targets)
