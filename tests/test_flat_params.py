"""Parameters bound to an optimiser's flat vector: the same numbers as gathering them, and safe when broken."""

import numpy as np
import pytest

import nngym.optim
from nngym import SGD, Adam, Dense, Momentum, RMSprop, Sequential, Tanh
from nngym.flat_params import FlatBinding, source_slots
from nngym.stacked import StackedDense


def _net(seed: int = 0, dtype: type = np.float32) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential([Dense(3, 5, rng, dtype=dtype), Tanh(dtype=dtype), Dense(5, 2, rng, dtype=dtype)])


def _train(net: Sequential, opt: nngym.optim.Optimizer, steps: int = 5) -> None:
    """``steps`` forward / backward / step rounds on fixed random data (the same for every call)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 3)).astype(net.layers[0].dtype)
    for _ in range(steps):
        out = net.forward(x)
        net.backward(out - 1.0)
        opt.step()


@pytest.mark.parametrize("opt_cls", [SGD, Momentum, RMSprop, Adam])
def test_bound_steps_are_the_gathered_steps_bit_for_bit(opt_cls, monkeypatch):
    results = []
    for bind in (True, False):
        if not bind:
            monkeypatch.setattr(nngym.optim, "source_slots", lambda source: None)
        net = _net()
        opt = opt_cls(net, lr=0.05, weight_decay=0.01, max_grad_norm=0.5)
        assert opt.bound == bind
        _train(net, opt)
        results.append([p.copy() for _, p, _ in net.named_params()])
    for bound, gathered in zip(*results, strict=True):
        np.testing.assert_array_equal(bound, gathered)


def test_parameters_and_gradients_become_views_of_the_flat_vectors():
    net = _net()
    before = [(p.copy(), g.copy()) for _, p, g in net.named_params()]
    opt = Adam(net, lr=1e-3)
    offset = 0
    for (_, p, g), (p0, g0) in zip(net.named_params(), before, strict=True):
        assert p.base is opt._P and g.base is opt._G
        np.testing.assert_array_equal(p, p0)  # values kept
        np.testing.assert_array_equal(opt._P[offset : offset + p.size], p0.ravel())
        np.testing.assert_array_equal(g, g0)
        offset += p.size


def test_weight_decay_leaves_the_layers_gradients_alone():
    net = _net()
    opt = Adam(net, lr=1e-3, weight_decay=0.1)
    x = np.ones((4, 3), np.float32)
    net.backward(net.forward(x) - 1.0)
    grads = [g.copy() for _, _, g in net.named_params()]
    opt.step()
    for (_, _, g), g0 in zip(net.named_params(), grads, strict=True):
        np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize(
    "algo, kwargs, steps",
    [
        # PPO with Box actions: the actor, the critic and log σ in one flat vector
        ("PPO", {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 2}, 128),
        # RecurrentPPO (two LSTM branches, Box actions): bound when small enough
        ("RecurrentPPO", {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 2, "lstm_hidden_size": 16}, 64),
    ],
)
def test_a_policy_is_bound_and_learns_the_numbers_of_the_gathering_run(algo, kwargs, steps, monkeypatch):
    import agents

    params = []
    for bind in (True, False):
        if not bind:
            monkeypatch.setattr(nngym.optim, "source_slots", lambda source: None)
        agent = getattr(agents, algo)("Pendulum-v1", seed=0, **kwargs)
        assert agent.optimizer.bound == bind
        if algo == "PPO":
            assert agent.policy.log_std.base is (agent.optimizer._P if bind else None)
        agent.learn(steps)
        params.append([p.copy() for _, p, _ in agent.policy.named_params()])
    for bound, gathered in zip(*params, strict=True):
        np.testing.assert_array_equal(bound, gathered)


def test_a_cast_breaks_the_binding_and_the_optimiser_gathers_again():
    net, ref = _net(dtype=np.float32), _net(dtype=np.float32)
    opt = Adam(net, lr=0.01)
    ref_opt = Adam(ref, lr=0.01)
    ref_opt._unbind()  # the reference gathers from the start
    net.astype(np.float64)
    ref.astype(np.float64)
    _train(net, opt)
    _train(ref, ref_opt)
    assert not opt.bound
    for (_, p, _), (_, q, _) in zip(net.named_params(), ref.named_params(), strict=True):
        assert p.dtype == np.float64
        np.testing.assert_array_equal(p, q)


def test_a_second_optimiser_takes_the_binding_and_the_first_still_updates_correctly():
    net, ref = _net(), _net()
    first, second = SGD(net, lr=0.1), SGD(net, lr=0.1)
    assert second.bound
    ref_opt = SGD(ref, lr=0.1)
    _train(net, first, steps=1)  # the first finds its views replaced: it gathers
    _train(ref, ref_opt, steps=1)
    assert not first.bound and second.bound
    for (_, p, _), (_, q, _) in zip(net.named_params(), ref.named_params(), strict=True):
        np.testing.assert_array_equal(p, q)
    _train(net, second, steps=1)  # and the second, still bound, steps from those values
    _train(ref, ref_opt, steps=1)
    for (_, p, _), (_, q, _) in zip(net.named_params(), ref.named_params(), strict=True):
        np.testing.assert_array_equal(p, q)


def test_shared_arrays_are_never_bound():
    """A population's member layers are views of the stacked rows: an optimiser of a member must leave them so."""
    rng = np.random.default_rng(0)
    layers = [Dense(3, 2, rng), Dense(3, 2, rng)]
    stacked = StackedDense.from_layers(layers, share=True)
    member = Sequential([layers[1]])
    opt = SGD(member, lr=1.0)
    assert not opt.bound
    layers[1].grads["W"][...] = 1.0
    opt.step()
    np.testing.assert_array_equal(stacked.params["W"][1], layers[1].params["W"])  # still the stack's row
    assert source_slots(Sequential([stacked])) is None  # the stacked layer itself is not bindable either
    assert not FlatBinding.bindable([(np.zeros(2), np.zeros(2, np.float64)), (np.zeros(3, np.float32), np.zeros(3))])


def test_a_deep_copy_of_a_network_and_its_optimiser_still_learns():
    """deepcopy makes the views and the flat vectors separate arrays: the copy's optimiser must notice, gather, and
    update the copy's parameters (not a vector nothing looks at)."""
    import copy

    net = _net()
    opt = Adam(net, lr=0.01)
    net_copy, opt_copy = copy.deepcopy((net, opt))
    _train(net, opt)
    _train(net_copy, opt_copy)
    assert opt.bound and not opt_copy.bound
    for (_, p, _), (_, q, _) in zip(net.named_params(), net_copy.named_params(), strict=True):
        np.testing.assert_array_equal(p, q)
