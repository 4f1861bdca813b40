"""``Sequential.backward(delta, input_grad=False)``: the same parameter gradients as the full backward, without
∂C/∂input (Dense and Conv2D skip their BP2 in the first layer with parameters)."""

import numpy as np
import pytest

from nngym.activations import ReLU, Tanh
from nngym.conv import Conv2D
from nngym.dense import Dense
from nngym.network import Sequential
from nngym.pooling import MaxPool2D
from nngym.reshape import Flatten


def _nets(seed: int) -> dict[str, Sequential]:
    rng = np.random.default_rng(seed)
    return {
        "mlp": Sequential([Dense(4, 16, rng), Tanh(), Dense(16, 16, rng), ReLU(), Dense(16, 3, rng)]),
        "cnn": Sequential(
            [Conv2D(1, 4, 3, rng), ReLU(), MaxPool2D(2), Conv2D(4, 6, 3, rng), ReLU(), Flatten(), Dense(6, 3, rng)]
        ),
        "leading_no_params": Sequential([ReLU(), Dense(4, 8, rng), Tanh(), Dense(8, 3, rng)]),
    }


INPUTS = {"mlp": (7, 4), "cnn": (5, 1, 8, 8), "leading_no_params": (7, 4)}


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_input_grad_false_gives_the_same_parameter_gradients(kind):
    x = np.random.default_rng(1).standard_normal(INPUTS[kind]).astype(np.float32)
    a, b = _nets(0)[kind], _nets(0)[kind]
    dy = np.random.default_rng(2).standard_normal(a.forward(x).shape).astype(np.float32)
    b.forward(x)
    dx = a.backward(dy)
    assert dx.shape == x.shape
    assert b.backward(dy, input_grad=False) is None
    for (name, _, ga), (_, _, gb) in zip(a.named_params(), b.named_params(), strict=True):
        np.testing.assert_array_equal(ga, gb, err_msg=name)
        assert np.abs(ga).sum() > 0, name


def test_backward_params_of_dense_and_conv_match_their_backward():
    rng = np.random.default_rng(3)
    for layer, shape in ((Dense(5, 4, rng), (6, 5)), (Conv2D(2, 3, 3, rng, padding=1), (4, 2, 6, 6))):
        x = rng.standard_normal(shape).astype(np.float32)
        dy = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
        layer.backward(dy)
        full = {k: g.copy() for k, g in layer.grads.items()}
        for g in layer.grads.values():
            g[...] = 0
        layer.backward_params(dy)
        for k in full:
            np.testing.assert_array_equal(layer.grads[k], full[k], err_msg=k)
