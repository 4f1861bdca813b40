"""Stacked layers and the stacked optimiser: gradient checks in float64, torch on the same weights, and member k
of every stacked computation equal to the ordinary layer / optimiser of member k alone."""

from __future__ import annotations

import numpy as np
import pytest
from gradients import assert_gradcheck_passes

from nngym import Dense, ReLU, Sequential, Tanh, gradcheck, stacked_optim
from nngym.builders import mlp
from nngym.optim import SGD, Adam, RMSprop
from nngym.stacked import StackedDense, infer_stacked, stack_networks, unstack_network
from nngym.stacked_optim import StackedOptimizer


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("k,n_in,n_out,batch", [(3, 4, 5, 6), (1, 2, 3, 1), (4, 1, 2, 3)])
def test_stacked_dense_gradcheck(rng, k, n_in, n_out, batch):
    layer = StackedDense(k, n_in, n_out, rng, b_init="standard_normal")
    assert_gradcheck_passes(gradcheck(layer, rng.standard_normal((k, batch, n_in)), rng))


def test_stacked_mlp_gradcheck(rng):
    nets = [mlp([3, 5, 4, 2], rng, activation="tanh") for _ in range(3)]
    stacked = stack_networks(nets)
    assert_gradcheck_passes(gradcheck(stacked, rng.standard_normal((3, 4, 3)), rng))


def test_stacked_dense_rows_are_the_members(rng):
    """Forward, BP2, BP3 and BP4 of member k are those of member k's Dense layer on member k's rows."""
    layers = [Dense(4, 3, rng, b_init="standard_normal") for _ in range(3)]
    stacked = StackedDense.from_layers(layers)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    dy = rng.standard_normal((3, 5, 3)).astype(np.float32)
    z = stacked.forward(x)
    dx = stacked.backward(dy)
    for k, layer in enumerate(layers):
        np.testing.assert_allclose(z[k], layer.forward(x[k]), rtol=1e-6)
        np.testing.assert_allclose(dx[k], layer.backward(dy[k]), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(stacked.grads["W"][k], layer.grads["W"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(stacked.grads["b"][k], layer.grads["b"], rtol=1e-6, atol=1e-7)


def test_stacked_mlp_matches_torch(rng):
    torch = pytest.importorskip("torch")
    nets = [mlp([6, 8, 3], rng, activation="tanh").astype(np.float64) for _ in range(2)]
    stacked = stack_networks(nets).astype(np.float64)
    x = rng.standard_normal((2, 5, 6))
    out = stacked.forward(x)
    dy = rng.standard_normal(out.shape)
    dx = stacked.backward(dy)
    w1 = torch.tensor(np.stack([n.layers[0].params["W"] for n in nets]), requires_grad=True)
    b1 = torch.tensor(np.stack([n.layers[0].params["b"] for n in nets]), requires_grad=True)
    w2 = torch.tensor(np.stack([n.layers[2].params["W"] for n in nets]), requires_grad=True)
    b2 = torch.tensor(np.stack([n.layers[2].params["b"] for n in nets]), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    h = torch.tanh(torch.bmm(xt, w1.transpose(1, 2)) + b1[:, None])
    out_t = torch.bmm(h, w2.transpose(1, 2)) + b2[:, None]
    (out_t * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for t, name in [(w1, "0.W"), (b1, "0.b"), (w2, "2.W"), (b2, "2.b")]:
        np.testing.assert_allclose(dict((n, g) for n, _, g in stacked.named_params())[name], t.grad.numpy(), rtol=1e-10)


def test_share_makes_member_parameters_views(rng):
    nets = [mlp([3, 4, 2], rng, activation="relu") for _ in range(2)]
    stacked = stack_networks(nets, share=True)
    stacked.layers[0].params["W"][1, 0, 0] = 42.0
    assert nets[1].layers[0].params["W"][0, 0] == 42.0
    x = rng.standard_normal((2, 3, 3)).astype(np.float32)
    y = infer_stacked(stacked, x)
    np.testing.assert_allclose(y, stacked.forward(x, train=False), rtol=1e-6)
    for k in range(2):
        np.testing.assert_allclose(y[k], nets[k].forward(x[k], train=False), rtol=1e-6)
        copy = unstack_network(stacked, k)
        np.testing.assert_array_equal(copy.forward(x[k], train=False), nets[k].forward(x[k], train=False))
        copy.layers[0].params["b"][0] = -1.0
        assert nets[k].layers[0].params["b"][0] != -1.0  # unstack copies


def test_stack_networks_refuses_other_layers(rng):
    from nngym.reshape import Flatten

    with pytest.raises(ValueError, match="Flatten"):
        stack_networks([Sequential([Flatten(), Dense(4, 2, rng)])] * 2)
    with pytest.raises(ValueError, match="one architecture"):
        stack_networks([Sequential([Dense(4, 2, rng)]), Sequential([Dense(4, 2, rng), Tanh()])])
    with pytest.raises(ValueError, match="input of shape"):
        StackedDense(2, 3, 4, rng).forward(np.zeros((3, 5, 3)))


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("rule", [SGD, Adam, RMSprop])
def test_stacked_optimizer_is_each_member_alone(rng, rule, in_place, monkeypatch):
    """Three steps with per-member clipping (member 0 clipped, member 1 not): each member's parameters and slots
    are those of an ordinary optimiser of its own network, whether the members are gathered or updated in place."""
    monkeypatch.setattr(stacked_optim, "IN_PLACE_MIN", 0 if in_place else 10**9)
    nets = [mlp([3, 4, 2], rng, activation="relu") for _ in range(2)]
    singles = [unstack_network(stack_networks([n]), 0) for n in nets]  # independent copies of the members
    stacked = stack_networks(nets)
    kw = {"max_grad_norm": 1.0, "weight_decay": 0.01}
    opt = StackedOptimizer(rule(stacked, 0.05, **kw), 2)
    single_opts = [rule(s, 0.05, **kw) for s in singles]
    for _ in range(3):
        x = rng.standard_normal((2, 6, 3)).astype(np.float32)
        dy = rng.standard_normal((2, 6, 2)).astype(np.float32)
        dy[0] *= 50.0  # member 0's gradient norm far above the clip, member 1's below
        dy[1] *= 0.01
        stacked.forward(x)
        stacked.backward(dy)
        norms = opt.step()
        for k in range(2):
            singles[k].forward(x[k])
            singles[k].backward(dy[k])
            norm = single_opts[k].step()
            np.testing.assert_allclose(norms[k], norm, rtol=1e-5)
    assert norms[0] > 1.0 > norms[1]
    for k in range(2):
        for (name, p, _), (_, q, _) in zip(stacked.named_params(), singles[k].named_params(), strict=True):
            np.testing.assert_allclose(p[k], q, rtol=1e-5, atol=1e-7, err_msg=name)
        state, expected = opt.member_state_dict(k), single_opts[k].state_dict()
        assert state["t"] == expected["t"] == 3
        for name, slots in expected["slots"].items():
            for key, arr in slots.items():
                np.testing.assert_allclose(state["slots"][name][key], arr, rtol=1e-5, atol=1e-9)


def test_stacked_optimizer_member_state_round_trip(rng):
    stacked = stack_networks([mlp([2, 3, 1], rng) for _ in range(3)])
    opt = StackedOptimizer(Adam(stacked, 0.01), 3)
    stacked.forward(rng.standard_normal((3, 4, 2)))
    stacked.backward(rng.standard_normal((3, 4, 1)))
    opt.step()
    other = StackedOptimizer(Adam(stacked, 0.01), 3)
    for k in range(3):
        other.load_member_state_dict(k, opt.member_state_dict(k))
    for key in ("m", "v"):
        np.testing.assert_array_equal(other.slots[key], opt.slots[key])
    with pytest.raises(ValueError, match="shape"):
        bad = opt.member_state_dict(0)
        bad["slots"]["0.W"]["m"] = np.zeros((9, 9))
        other.load_member_state_dict(0, bad)
    with pytest.raises(ValueError, match="members on axis 0"):
        StackedOptimizer(Adam(Sequential([ReLU(), Dense(2, 5, rng)]), 0.1), 3)
