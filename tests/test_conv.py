"""Conv2D, im2col/col2im, Flatten, Dropout and the cnn() builder: gradient checks, naive-loop and torch oracles."""

from __future__ import annotations

import numpy as np
import pytest
from gradients import assert_gradcheck_passes

from nngym.builders import cnn
from nngym.conv import Conv2D
from nngym.dropout import Dropout
from nngym.gradcheck import gradcheck
from nngym.im2col import col2im, im2col
from nngym.network import Sequential
from nngym.reshape import Flatten


def conv2d_naive(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """The seed's definition, one output pixel at a time: the slow oracle."""
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for e in range(n):
        for k in range(o):
            for i in range(ho):
                for j in range(wo):
                    field = xp[e, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    y[e, k, i, j] = b[k] + np.sum(W[k] * field)
    return y


def conv2d_backward_naive(
    x: np.ndarray, W: np.ndarray, dy: np.ndarray, stride: int, padding: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dW, db) by looping over output pixels and adding each field's share."""
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for e in range(n):
        for k in range(o):
            for i in range(dy.shape[2]):
                for j in range(dy.shape[3]):
                    rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
                    dW[k] += dy[e, k, i, j] * xp[e, :, rows, cols]
                    dxp[e, :, rows, cols] += dy[e, k, i, j] * W[k]
    return dxp[:, :, padding : padding + h, padding : padding + w], dW, dy.sum(axis=(0, 2, 3))


CONV_CASES = [  # (N, C, H, W, out, k, stride, padding)
    (2, 1, 6, 6, 2, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 2, 0),
    (2, 2, 5, 8, 3, 3, 1, 1),
    (1, 3, 8, 7, 2, (3, 2), 2, 1),
]


@pytest.mark.parametrize(("n", "c", "h", "w", "o", "k", "s", "p"), CONV_CASES)
def test_conv_gradcheck(n: int, c: int, h: int, w: int, o: int, k: int, s: int, p: int) -> None:
    rng = np.random.default_rng(0)
    layer = Conv2D(c, o, k, rng, stride=s, padding=p, b_init="standard_normal")
    errors = gradcheck(layer, rng.standard_normal((n, c, h, w)), rng)
    assert_gradcheck_passes(errors)
    assert set(errors) == {"x", "W", "b"}


@pytest.mark.parametrize(("n", "c", "h", "w", "o", "k", "s", "p"), CONV_CASES[:3])
def test_conv_matches_naive_loops(n: int, c: int, h: int, w: int, o: int, k: int, s: int, p: int) -> None:
    rng = np.random.default_rng(1)
    layer = Conv2D(c, o, k, rng, stride=s, padding=p, b_init="standard_normal", dtype=np.float64)
    x = rng.standard_normal((n, c, h, w))
    y = layer.forward(x)
    W, b = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(y, conv2d_naive(x, W, b, s, p), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = conv2d_backward_naive(x, W, dy, s, p)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], dW_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-12, atol=1e-12)


def test_seed_layer_shape_and_float32() -> None:
    layer = Conv2D(1, 20, 5, np.random.default_rng(0))
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    y = layer.forward(x)
    assert y.shape == (3, 20, 24, 24) and y.dtype == np.float32
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert layer.grads["W"].shape == (20, 1, 5, 5) and layer.grads["b"].dtype == np.float32


def test_im2col_col2im_are_adjoint() -> None:
    """<im2col(x), C> = <x, col2im(C)> for every x, C: col2im is exactly the transpose."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 7, 9))
    for kernel, stride, padding in [((3, 3), (1, 1), (0, 0)), ((2, 3), (2, 1), (1, 2)), ((3, 3), (3, 3), (1, 1))]:
        cols = im2col(x, kernel, stride, padding)
        C = rng.standard_normal(cols.shape)
        back = col2im(C, x.shape, kernel, stride, padding)
        assert back.shape == x.shape
        np.testing.assert_allclose(np.vdot(cols, C), np.vdot(x, back), rtol=1e-12)


def test_conv_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for c, o, k, s, p, hw in [(1, 20, 5, 1, 0, (28, 28)), (3, 8, 3, 2, 1, (11, 9)), (4, 6, (5, 3), 1, 2, (10, 12))]:
        layer = Conv2D(c, o, k, rng, stride=s, padding=p, b_init="standard_normal")
        x = rng.standard_normal((5, c, *hw)).astype(np.float32)
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        Wt = torch.tensor(layer.params["W"], requires_grad=True)
        bt = torch.tensor(layer.params["b"], requires_grad=True)
        yt = torch.nn.functional.conv2d(xt, Wt, bt, stride=s, padding=p)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(layer.grads["W"], Wt.grad.numpy(), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_conv_bad_input_names_shapes() -> None:
    layer = Conv2D(3, 4, 5, np.random.default_rng(0), padding=1)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\), got \(N, 2, 9, 9\)"):
        layer.forward(np.zeros((1, 2, 9, 9)))
    with pytest.raises(ValueError, match=r"\(N, 3, 2, 9\).*smaller than the 5x5 kernel"):
        layer.forward(np.zeros((1, 3, 2, 9)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\), got \(3, 9, 9\)"):
        layer.forward(np.zeros((3, 9, 9)))
    with pytest.raises(ValueError, match="stride >= 1"):
        Conv2D(3, 4, 5, np.random.default_rng(0), stride=0)
    layer.forward(np.zeros((2, 3, 9, 9)))
    with pytest.raises(ValueError, match=r"upstream gradient of shape \(2, 4, 7, 7\), got \(2, 4, 6, 6\)"):
        layer.backward(np.zeros((2, 4, 6, 6)))


def test_backward_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2D(1, 2, 3, np.random.default_rng(0)).backward(np.zeros((1, 2, 2, 2)))


def test_flatten_round_trip() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    layer = Flatten()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x.reshape(2, 60))
    np.testing.assert_array_equal(layer.backward(y * 2), x * 2)


def test_dropout_inverted_scaling_and_mask() -> None:
    layer = Dropout(0.25, np.random.default_rng(0))
    x = np.ones((400, 500), np.float32)
    y = layer.forward(x, train=True)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01  # 200,000 draws: standard error ~0.001
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    dy = np.full_like(x, 3.0)
    np.testing.assert_allclose(layer.backward(dy), 3.0 * y)  # gradient through the same mask
    np.testing.assert_array_equal(layer.forward(x, train=False), x)  # identity at test time
    with pytest.raises(ValueError, match="0 <= p < 1"):
        Dropout(1.0, np.random.default_rng(0))


def test_dropout_same_seed_same_mask() -> None:
    x = np.ones((10, 10), np.float32)
    a = Dropout(0.5, np.random.default_rng(7)).forward(x)
    b = Dropout(0.5, np.random.default_rng(7)).forward(x)
    np.testing.assert_array_equal(a, b)


def test_cnn_spec_builds_the_seed_network_and_checks_gradients() -> None:
    rng = np.random.default_rng(0)
    net = cnn("conv:3x3,pool:2,conv:4x2p1,l2pool:2,dense:5", (2, 9, 8), rng, n_out=3, activation="tanh")
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Conv2D", "Tanh", "MaxPool2D", "Conv2D", "Tanh", "L2Pool2D", "Flatten", "Dense", "Tanh", "Dense"]
    assert net.layers[7].n_in == 4 * 2 * 2
    assert_gradcheck_passes(gradcheck(net, rng.standard_normal((2, 2, 9, 8)), rng))


def test_cnn_spec_pools_before_relu_with_the_same_outputs_and_gradients() -> None:
    """Max-pooling commutes with ReLU: the builder's conv → pool → ReLU equals conv → ReLU → pool exactly."""
    rng = np.random.default_rng(3)
    net = cnn("conv:6x3,pool:2,conv:4x3,maxpool:2s1,dense:5", (2, 12, 12), rng, n_out=3)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds[:6] == ["Conv2D", "MaxPool2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU"]
    naive = [net.layers[i] for i in (0, 2, 1, 3, 5, 4)] + net.layers[6:]  # the same layers, ReLU before pool
    reference = Sequential(naive)
    x = rng.standard_normal((7, 2, 12, 12)).astype(np.float32)
    x[:, :, :4, :4] = 0.0  # whole blocks of zeros and negatives: ReLU's ties
    delta = rng.standard_normal((7, 3)).astype(np.float32)
    y = net.forward(x)
    net.backward(delta)
    grads = [{k: g.copy() for k, g in layer.grads.items()} for layer in net.layers]
    np.testing.assert_array_equal(reference.forward(x), y)
    reference.backward(delta)  # the same layer objects: their grads are overwritten with the reference's
    for layer, before in zip(net.layers, grads, strict=True):
        for k, g in layer.grads.items():
            np.testing.assert_array_equal(g, before[k], err_msg=f"{layer}: {k}")
    assert type(cnn("conv:4x3,l2pool:2", (1, 8, 8), rng).layers[1]).__name__ == "ReLU"  # L2 pooling: not commuting
    assert type(cnn("conv:4x3,pool:2", (1, 8, 8), rng, activation="tanh").layers[1]).__name__ == "Tanh"


def test_cnn_spec_shapes_and_errors() -> None:
    rng = np.random.default_rng(0)
    net = cnn("conv:32x8s4,conv:64x4s2,conv:64x3,dense:512", (4, 84, 84), rng)  # the DQN Atari torso
    assert net.forward(np.zeros((2, 4, 84, 84), np.float32)).shape == (2, 512)
    assert net.layers[7].n_in == 64 * 7 * 7
    seed = cnn("conv:20x5,pool:2,conv:40x5,pool:2,dense:100", (1, 28, 28), rng, n_out=10, pool="l2")
    assert seed.layers[7].n_in == 40 * 4 * 4 and type(seed.layers[2]).__name__ == "L2Pool2D"
    with pytest.raises(ValueError, match="bad CNN spec item 'conv:20'"):
        cnn("conv:20", (1, 28, 28), rng)
    with pytest.raises(ValueError, match="unknown pool kind"):
        cnn("pool:2", (1, 28, 28), rng, pool="avg")
    with pytest.raises(ValueError, match=r"input \(N, 8, 2, 2\) padded by \(0, 0\) is smaller than the 5x5 kernel"):
        cnn("conv:8x5,pool:2,conv:8x5,conv:8x5", (1, 16, 16), rng)


def test_cnn_save_load_same_outputs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    net = cnn("conv:4x3s2p1,pool:2,dense:8,dropout:0.5", (3, 10, 12), rng, n_out=2)
    x = rng.random((3, 3, 10, 12), dtype=np.float32)
    loaded = Sequential.load(net.save(tmp_path / "cnn.npz"))
    np.testing.assert_array_equal(loaded.forward(x, train=False), net.forward(x, train=False))
    assert loaded.architecture() == net.architecture()


@pytest.mark.slow
def test_small_cnn_learns_mnist() -> None:
    """A few seconds of training on 2,000 digits must beat 85% on 1,000 held-out ones (chance: 10%)."""
    from nngym.costs import SoftmaxCrossEntropy
    from nngym.datasets.mnist import load_mnist_float
    from nngym.optim import Adam
    from nngym.train import accuracy, fit

    x, y = load_mnist_float("train")
    x = x.reshape(-1, 1, 28, 28)
    rng = np.random.default_rng(0)
    net = cnn("conv:8x5,pool:2", (1, 28, 28), rng, n_out=10)
    fit(net, SoftmaxCrossEntropy(), Adam(net, lr=2e-3), x[:2000], y[:2000], epochs=3, batch_size=32, rng=rng)
    # seeds 0-4 x 3 OpenBLAS kernels: min 88.9%, median 89.9%
    assert accuracy(net, x[50_000:51_000], y[50_000:51_000]) > 0.85
