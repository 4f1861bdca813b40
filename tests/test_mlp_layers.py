"""Dense, activations and costs: central-difference gradient checks (float64) and agreement with torch."""

import numpy as np
import pytest
from gradients import GRAD_RTOL, assert_gradcheck_passes

from nngym import (
    GELU,
    CrossEntropyCost,
    Dense,
    HuberCost,
    QuadraticCost,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    gradcheck,
    gradcheck_cost,
)
from nngym.builders import mlp


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("n_in,n_out,batch", [(3, 4, 5), (7, 2, 1), (1, 6, 3)])
def test_dense_gradcheck(rng, n_in, n_out, batch):
    errors = gradcheck(Dense(n_in, n_out, rng, b_init="standard_normal"), rng.standard_normal((batch, n_in)), rng)
    assert set(errors) == {"x", "W", "b"}
    assert_gradcheck_passes(errors)


@pytest.mark.parametrize("layer_cls", [Sigmoid, Tanh, Softmax, GELU])
def test_activation_gradcheck(rng, layer_cls):
    errors = gradcheck(layer_cls(), rng.standard_normal((4, 5)) * 2, rng)
    assert_gradcheck_passes(errors)


def test_gelu_matches_torch_in_float64_and_by_hand(rng):
    """GELU(z) = z Φ(z) and its derivative Φ(z) + z φ(z) against torch's exact nn.GELU, and at z = 0 and 1 by hand."""
    torch = pytest.importorskip("torch")
    z, dy = rng.standard_normal((5, 7)) * 3, rng.standard_normal((5, 7))
    layer = GELU(dtype=np.float64)
    a = layer.forward(z)
    dz = layer.backward(dy)
    zt = torch.from_numpy(z).requires_grad_(True)
    at = torch.nn.GELU()(zt)
    at.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(a, at.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-12, atol=1e-15)
    # Φ(0) = 1/2, Φ(1) = 0.8413447460685429, φ(1) = e^{-1/2} / √(2π) = 0.24197072451914337
    np.testing.assert_allclose(layer.forward(np.array([[0.0, 1.0]])), [[0.0, 0.8413447460685429]], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.ones((1, 2))), [[0.5, 0.8413447460685429 + 0.24197072451914337]])
    layer32 = GELU()
    assert layer32.forward(np.ones((2, 2), np.float32)).dtype == np.float32
    assert layer32.backward(np.ones((2, 2), np.float32)).dtype == np.float32


def test_relu_gradcheck_away_from_kink(rng):
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 0.05] = 0.5  # central differences are wrong within eps of the kink
    assert_gradcheck_passes(gradcheck(ReLU(), x, rng))


def test_network_gradcheck_through_all_layers(rng):
    net = Sequential([Dense(5, 8, rng), Tanh(), Dense(8, 6, rng), ReLU(), Dense(6, 4, rng), Sigmoid()])
    errors = gradcheck(net, rng.standard_normal((3, 5)), rng)
    assert_gradcheck_passes(errors)


@pytest.mark.parametrize(
    "cost,make_y",
    [
        (QuadraticCost(), lambda rng, shape: rng.random(shape)),
        (CrossEntropyCost(), lambda rng, shape: (rng.random(shape) > 0.5).astype(float)),
        (SoftmaxCrossEntropy(), lambda rng, shape: np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]),
        (HuberCost(1.0), lambda rng, shape: rng.standard_normal(shape) * 2),
        (HuberCost(0.3), lambda rng, shape: rng.standard_normal(shape) * 2),
    ],
)
def test_cost_gradcheck(rng, cost, make_y):
    out = rng.standard_normal((6, 4))
    assert gradcheck_cost(cost, out, make_y(rng, out.shape)) < GRAD_RTOL


def test_costs_values_by_hand():
    a = np.array([[0.5, 0.2], [0.1, 0.9]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    # C = 1/2n Σ ||y − a||², n = 2
    assert QuadraticCost().value(a, y) == pytest.approx((0.25 + 0.04 + 0.01 + 0.01) / 4)
    z = np.array([[0.0, np.log(3.0)]])
    # softmax([0, ln 3]) = [1/4, 3/4]; C = −ln(3/4) for label 1
    assert SoftmaxCrossEntropy().value(z, np.array([1])) == pytest.approx(-np.log(0.75))
    np.testing.assert_allclose(SoftmaxCrossEntropy().delta(z, np.array([1])), [[0.25, -0.25]])
    # Huber with κ = 1: r = 0.5 → 0.125, r = 3 → 2.5; mean over 2 elements
    assert HuberCost().value(np.array([[0.5, 3.0]]), np.zeros((1, 2))) == pytest.approx((0.125 + 2.5) / 2)


def test_integer_labels_equal_one_hot(rng):
    z = rng.standard_normal((5, 3))
    labels = rng.integers(0, 3, 5)
    cost = SoftmaxCrossEntropy()
    np.testing.assert_allclose(cost.delta(z, labels), cost.delta(z, np.eye(3)[labels]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        cost.value(z, np.array([0, 1, 2, 3, 0]))


def test_dense_shape_errors_name_shapes(rng):
    layer = Dense(784, 30, rng)
    expected = r"Dense\(784->30\) expected input of shape \(N, \.\.\., 784\), got \(5, 28, 28\)"
    with pytest.raises(ValueError, match=expected):
        layer.forward(np.zeros((5, 28, 28)))
    with pytest.raises(ValueError, match=r"got \(5, 783\)"):
        layer.forward(np.zeros((5, 783)))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Dense(3, 2, rng).backward(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="n_in >= 1"):
        Dense(0, 3, rng)
    with pytest.raises(ValueError, match="targets must have the output's shape"):
        QuadraticCost().value(np.zeros((2, 10)), np.zeros((2, 9)))


def test_dense_on_leading_axes_equals_flattened_rows(rng):
    """(N, T, n_in) -> (N, T, n_out) like torch's nn.Linear: the same rows as a flat (N·T, n_in) batch;
    BP3/BP4 sum over both leading axes, BP2 keeps the input's shape."""
    layer = Dense(4, 3, rng, b_init="standard_normal").astype(np.float64)
    x = rng.standard_normal((2, 5, 4))
    dy = rng.standard_normal((2, 5, 3))
    z = layer.forward(x)
    dx = layer.backward(dy)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    z_flat = layer.forward(x.reshape(10, 4))
    dx_flat = layer.backward(dy.reshape(10, 3))
    assert z.shape == (2, 5, 3) and dx.shape == (2, 5, 4)
    np.testing.assert_allclose(z.reshape(10, 3), z_flat, rtol=1e-14)
    np.testing.assert_allclose(dx.reshape(10, 4), dx_flat, rtol=1e-14)
    for k, g in layer.grads.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-13, err_msg=k)
    assert_gradcheck_passes(
        gradcheck(Sequential([layer, Tanh(np.float64), Dense(3, 2, rng, dtype=np.float64)]), x, rng)
    )
    with pytest.raises(ValueError, match=r"Dense\(4->3\) expected input of shape \(N, \.\.\., 4\), got \(2, 5, 3\)"):
        layer.forward(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"got \(4,\)"):
        layer.forward(np.zeros(4))
    layer.forward(x)
    with pytest.raises(ValueError, match=r"upstream gradient of shape \(2, 5, 3\), got \(10, 3\)"):
        layer.backward(dy.reshape(10, 3))


def test_costs_on_sequence_outputs(rng):
    """(N, T, K) outputs: the cost of a sequence is the sum over its steps, averaged over the N sequences;
    SoftmaxCrossEntropy takes labels (N, T); accuracy counts every step."""
    N, T, K = 3, 4, 5
    out = rng.standard_normal((N, T, K))
    labels = rng.integers(0, K, (N, T))
    onehot = np.eye(K)[labels]
    flat_out, flat_onehot = out.reshape(N * T, K), onehot.reshape(N * T, K)
    for cost, y, flat_y in [
        (SoftmaxCrossEntropy(), labels, labels.reshape(-1)),
        (SoftmaxCrossEntropy(), onehot, flat_onehot),
        (QuadraticCost(), onehot, flat_onehot),
        (CrossEntropyCost(), onehot, flat_onehot),
    ]:
        # the flat batch averages over N·T rows, the sequence batch over N sequences: a factor T apart
        assert cost.value(out, y) == pytest.approx(T * cost.value(flat_out, flat_y), rel=1e-12)
        np.testing.assert_allclose(cost.delta(out, y).reshape(N * T, K), T * cost.delta(flat_out, flat_y), rtol=1e-12)
        assert gradcheck_cost(cost, out, y) < GRAD_RTOL
    with pytest.raises(ValueError, match=r"labels must be in \[0, 5\)"):
        SoftmaxCrossEntropy().value(out, np.full((N, T), 5))
    with pytest.raises(ValueError, match="targets must have the output's shape"):
        SoftmaxCrossEntropy().value(out, labels[:, :2])

    from nngym.train import accuracy

    net = Sequential([Dense(K, K, rng, w_init="zeros")])
    net.layers[0].params["W"][...] = np.eye(K)  # the identity: outputs = inputs
    expected = float((out.argmax(-1) == labels).mean())
    assert accuracy(net, out, labels) == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"labels must have shape \(3, 4\)"):
        accuracy(net, out, labels.reshape(-1))


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    dense = [Dense(6, 8, rng, b_init="standard_normal"), Dense(8, 7, rng), Dense(7, 3, rng, b_init="standard_normal")]
    net = Sequential([dense[0], Tanh(), dense[1], Sigmoid(), dense[2]]).astype(np.float64)
    x = rng.standard_normal((5, 6))
    labels = rng.integers(0, 3, 5)

    tnet = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 7), torch.nn.Sigmoid(), torch.nn.Linear(7, 3)
    ).double()
    for layer, tl in zip(dense, [tnet[0], tnet[2], tnet[4]], strict=True):
        tl.weight.data = torch.from_numpy(layer.params["W"].copy())
        tl.bias.data = torch.from_numpy(layer.params["b"].copy())
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = tnet(xt)
    loss_t = torch.nn.functional.cross_entropy(out_t, torch.from_numpy(labels))
    loss_t.backward()

    out = net.forward(x)
    cost = SoftmaxCrossEntropy()
    assert cost.value(out, labels) == pytest.approx(loss_t.item(), rel=1e-12)
    dx = net.backward(cost.delta(out, labels))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for layer, tl in zip(dense, [tnet[0], tnet[2], tnet[4]], strict=True):
        np.testing.assert_allclose(layer.grads["W"], tl.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.grads["b"], tl.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_costs_match_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    out = rng.standard_normal((4, 3))
    y_bin = (rng.random((4, 3)) > 0.5).astype(float)
    y_real = rng.standard_normal((4, 3)) * 2
    for cost, y, ref in [
        (CrossEntropyCost(), y_bin, lambda o, t: F.binary_cross_entropy_with_logits(o, t, reduction="sum") / 4),
        (QuadraticCost(), y_real, lambda o, t: 0.5 * ((o - t) ** 2).sum() / 4),
        (HuberCost(1.0), y_real, lambda o, t: F.smooth_l1_loss(o, t)),
        (HuberCost(0.5), y_real, lambda o, t: F.huber_loss(o, t, delta=0.5)),
    ]:
        ot = torch.from_numpy(out.copy()).requires_grad_(True)
        loss = ref(ot, torch.from_numpy(y))
        loss.backward()
        assert cost.value(out, y) == pytest.approx(loss.item(), rel=1e-12)
        np.testing.assert_allclose(cost.delta(out, y), ot.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_float32_default_and_input_cast(rng):
    net = mlp([4, 3, 2], rng)
    out = net.forward(np.ones((2, 4), dtype=np.float64))
    assert out.dtype == np.float32
