"""Optimisers: the seed's SGD rule by hand, momentum/RMSprop/Adam/weight decay/clipping against torch."""

import numpy as np
import pytest

from nngym import SGD, Adam, Dense, Momentum, QuadraticCost, RMSprop, Sequential, Sigmoid, clip_grad_norm
from nngym.schedules import constant, linear, parse_schedule


def test_sgd_step_is_the_seeds_formula_by_hand():
    # One sigmoid neuron, w = [0.5, −1], b = 0.2, two examples, quadratic cost, η = 3.
    rng = np.random.default_rng(0)
    dense = Dense(2, 1, rng, dtype=np.float64)
    dense.params["W"][:] = [[0.5, -1.0]]
    dense.params["b"][:] = [0.2]
    net = Sequential([dense, Sigmoid(dtype=np.float64)])
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[1.0], [0.0]])

    # by hand: z = w·x + b, a = σ(z), ∂C_x/∂w = (a − y) σ'(z) x, update w' = w − η/m Σ_x ∂C_x/∂w
    eta, m = 3.0, 2
    z = np.array([0.5 * 1 - 1.0 * 2 + 0.2, 0.5 * 0 - 1.0 * -1 + 0.2])  # [-1.3, 1.2]
    a = 1 / (1 + np.exp(-z))
    delta = (a - y[:, 0]) * a * (1 - a)
    w_expected = np.array([0.5, -1.0]) - eta / m * (delta[:, None] * x).sum(0)
    b_expected = 0.2 - eta / m * delta.sum()

    out = net.forward(x)
    net.backward(QuadraticCost().delta(out, y))
    SGD(net, lr=eta).step()
    np.testing.assert_allclose(dense.params["W"][0], w_expected, rtol=1e-13)
    np.testing.assert_allclose(dense.params["b"], [b_expected], rtol=1e-13)


def test_weight_decay_is_the_seeds_l2_rule():
    # w → (1 − ηλ/n) w − η ∂C_0/∂w with weight_decay = λ/n; biases are not decayed.
    rng = np.random.default_rng(1)
    dense = Dense(3, 2, rng, b_init="standard_normal", dtype=np.float64)
    w0, b0 = dense.params["W"].copy(), dense.params["b"].copy()
    g_w, g_b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    dense.grads["W"][:], dense.grads["b"][:] = g_w, g_b
    eta, lmbda, n = 0.5, 5.0, 50_000
    SGD(Sequential([dense]), lr=eta, weight_decay=lmbda / n).step()
    np.testing.assert_allclose(dense.params["W"], (1 - eta * lmbda / n) * w0 - eta * g_w, rtol=1e-13)
    np.testing.assert_allclose(dense.params["b"], b0 - eta * g_b, rtol=1e-13)


@pytest.mark.parametrize(
    "make_ours,make_theirs",
    [
        (lambda net: Momentum(net, lr=0.1, mu=0.9), lambda p, torch: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        (
            lambda net: RMSprop(net, lr=0.01, alpha=0.99, eps=1e-5),
            lambda p, torch: torch.optim.RMSprop(p, lr=0.01, eps=1e-5),
        ),
        (lambda net: Adam(net, lr=0.01), lambda p, torch: torch.optim.Adam(p, lr=0.01)),
        (
            lambda net: Adam(net, lr=0.01, weight_decay=0.1),
            lambda p, torch: torch.optim.Adam(
                [
                    {"params": [q for q in p if q.ndim > 1], "weight_decay": 0.1},
                    {"params": [q for q in p if q.ndim == 1]},
                ],
                lr=0.01,
            ),
        ),
        (lambda net: SGD(net, lr=0.1, max_grad_norm=0.5), None),
    ],
)
def test_optimizers_match_torch(make_ours, make_theirs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    dense = Dense(4, 3, rng, b_init="standard_normal", dtype=np.float64)
    net = Sequential([dense])
    W = torch.tensor(dense.params["W"].copy(), requires_grad=True)
    b = torch.tensor(dense.params["b"].copy(), requires_grad=True)
    opt = make_ours(net)
    topt = make_theirs([W, b], torch) if make_theirs else torch.optim.SGD([W, b], lr=0.1)
    for _ in range(5):
        x = rng.standard_normal((6, 4))
        y = rng.standard_normal((6, 3))
        out = net.forward(x)
        net.backward(QuadraticCost().delta(out, y))
        opt.step()
        topt.zero_grad()
        out_t = torch.from_numpy(x) @ W.T + b
        (0.5 * ((out_t - torch.from_numpy(y)) ** 2).sum() / 6).backward()
        if opt.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([W, b], opt.max_grad_norm)
        topt.step()
    np.testing.assert_allclose(dense.params["W"], W.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dense.params["b"], b.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_clip_grad_norm_scales_to_max_norm():
    rng = np.random.default_rng(3)
    net = Sequential([Dense(3, 4, rng, dtype=np.float64)])
    net.layers[0].grads["W"][:] = 3.0
    net.layers[0].grads["b"][:] = 4.0
    before = np.sqrt(12 * 9 + 4 * 16)
    assert clip_grad_norm(net, 1.0) == pytest.approx(before)
    after = np.sqrt(sum(float((g**2).sum()) for _, _, g in net.named_params()))
    assert after == pytest.approx(1.0, rel=1e-5)
    assert clip_grad_norm(net, 10.0) == pytest.approx(after)  # below the limit: unchanged


def test_adam_state_round_trip_continues_identically():
    rng = np.random.default_rng(4)
    nets = [Sequential([Dense(3, 2, np.random.default_rng(9), dtype=np.float64)]) for _ in range(2)]
    opts = [Adam(n, lr=0.05) for n in nets]
    grads = [rng.standard_normal((2, 3)) for _ in range(6)]
    for g in grads[:3]:
        nets[0].layers[0].grads["W"][:] = g
        opts[0].step()
    nets[1].load_state_dict({k: v.copy() for k, v in nets[0].state_dict().items()})
    opts[1].load_state_dict(opts[0].state_dict())
    for g in grads[3:]:
        for net, opt in zip(nets, opts, strict=True):
            net.layers[0].grads["W"][:] = g
            opt.step()
    np.testing.assert_array_equal(nets[0].layers[0].params["W"], nets[1].layers[0].params["W"])
    assert opts[1].t == 6


def test_bad_optimizer_arguments():
    net = Sequential([Dense(2, 2, np.random.default_rng(0))])
    with pytest.raises(ValueError, match="SGD lr must be a finite number >= 0, got float -1.0"):
        SGD(net, lr=-1.0)
    with pytest.raises(ValueError, match=r"SGD max_grad_norm \(None for no clipping\) must be a finite number > 0"):
        SGD(net, lr=0.1, max_grad_norm=0.0)


def test_schedules():
    assert constant(0.3)(0.2) == 0.3
    assert linear(1e-3)(1.0) == pytest.approx(1e-3)
    assert linear(1e-3)(0.25) == pytest.approx(2.5e-4)
    assert linear(1.0, 0.5)(0.0) == pytest.approx(0.5)
    assert parse_schedule("lin_0.2")(0.5) == pytest.approx(0.1)
    assert parse_schedule(7e-4)(0.1) == pytest.approx(7e-4)
    with pytest.raises(ValueError, match="lin_<number>"):
        parse_schedule("cosine_1e-3")


@pytest.mark.parametrize("opt_cls", [SGD, Momentum, RMSprop, Adam])
def test_flat_and_per_parameter_updates_agree(opt_cls, monkeypatch):
    """Small networks are updated as one flat vector, large ones per parameter: both must agree."""
    results = []
    for limit in (10**9, 0):
        monkeypatch.setattr(opt_cls, "FLAT_LIMIT", limit)
        rng = np.random.default_rng(5)
        net = Sequential([Dense(3, 4, np.random.default_rng(0), dtype=np.float64), Dense(4, 2, rng, dtype=np.float64)])
        opt = opt_cls(net, lr=0.05, weight_decay=0.01, max_grad_norm=0.7)
        assert opt._flat == (limit > 0)
        for _ in range(4):
            for _, _, g in net.named_params():
                g[...] = rng.standard_normal(g.shape)
            opt.step()
        state = opt.state_dict()
        results.append(([p.copy() for _, p, _ in net.named_params()], state))
    for a, b in zip(results[0][0], results[1][0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for name, slots in results[0][1]["slots"].items():
        for key, arr in slots.items():
            np.testing.assert_allclose(arr, results[1][1]["slots"][name][key], rtol=1e-12)


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_non_contiguous_parameters_are_updated(opt_cls):
    """Regression: the flat path once wrote updates into a copy of an F-ordered weight (orthogonal init)."""
    dense = Dense(3, 5, np.random.default_rng(0), w_init="orthogonal", dtype=np.float64)
    dense.params["W"] = np.asfortranarray(dense.params["W"])
    net = Sequential([dense])
    before = dense.params["W"].copy()
    opt = opt_cls(net, lr=0.1)
    dense.grads["W"][...] = 1.0
    opt.step()
    assert np.all(dense.params["W"] < before)
