"""MaxPool2D and L2Pool2D: gradient checks, naive-loop and torch oracles, tie and zero handling."""

from __future__ import annotations

import numpy as np
import pytest
from gradients import assert_gradcheck_passes

from nngym.gradcheck import gradcheck
from nngym.pooling import L2Pool2D, MaxPool2D


def pool_naive(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int], kind: str) -> np.ndarray:
    """Block by block: the slow oracle."""
    n, c, h, w = x.shape
    ho, wo = (h - size[0]) // stride[0] + 1, (w - size[1]) // stride[1] + 1
    y = np.zeros((n, c, ho, wo))
    for e in range(n):
        for k in range(c):
            for i in range(ho):
                for j in range(wo):
                    block = x[e, k, i * stride[0] : i * stride[0] + size[0], j * stride[1] : j * stride[1] + size[1]]
                    y[e, k, i, j] = block.max() if kind == "max" else np.sqrt(np.sum(block**2))
    return y


def no_ties(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct values at least 0.01 apart (a random permutation), so ±1e-6 never changes an arg-max."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.01 - 1.0).astype(np.float64)


POOL_CASES = [((2, 2), None, (2, 3, 6, 8)), ((2, 2), (1, 1), (1, 2, 5, 4)), ((3, 2), (2, 2), (2, 2, 7, 7))]


@pytest.mark.parametrize(("size", "stride", "shape"), POOL_CASES)
@pytest.mark.parametrize("cls", [MaxPool2D, L2Pool2D])
def test_pool_gradcheck_and_naive(cls: type, size: tuple[int, int], stride, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    layer = cls(size, stride)
    x = no_ties(rng, shape)
    errors = gradcheck(layer, x, rng)
    assert_gradcheck_passes(errors)
    kind = "max" if cls is MaxPool2D else "l2"
    np.testing.assert_allclose(layer.forward(x), pool_naive(x, size, stride or size, kind), rtol=1e-12)


def test_maxpool_gradient_goes_to_the_argmax_only() -> None:
    x = np.array([[[[1.0, 5.0, 2.0, 2.0], [3.0, 4.0, 2.0, 2.0]]]])  # second block: all tied
    layer = MaxPool2D(2, dtype=np.float64)
    np.testing.assert_array_equal(layer.forward(x), [[[[5.0, 2.0]]]])
    dx = layer.backward(np.array([[[[10.0, 7.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0, 10.0, 7.0, 0], [0, 0, 0, 0]]]])  # ties: first maximum, as torch


def test_l2pool_all_zero_block_passes_zero_gradient() -> None:
    layer = L2Pool2D(2, dtype=np.float64)
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, :, 2:] = [[3.0, 0.0], [0.0, 4.0]]
    np.testing.assert_allclose(layer.forward(x), [[[[0.0, 5.0]]]])
    dx = layer.backward(np.ones((1, 1, 1, 2)))
    assert np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx, [[[[0, 0, 0.6, 0], [0, 0, 0, 0.8]]]])


@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 2), ((2, 3), (2, 1))])
def test_pools_match_torch(size, stride) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 9, 10)).astype(np.float32)
    s = size if stride is None else stride
    for layer, fn in [
        (MaxPool2D(size, stride), lambda t: torch.nn.functional.max_pool2d(t, size, s)),
        (L2Pool2D(size, stride), lambda t: torch.nn.functional.lp_pool2d(t, 2, size, s)),
    ]:
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        yt = fn(xt)
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_pool_on_conv_layout_and_errors() -> None:
    """Inputs laid out (C, H, W, N) in memory, as Conv2D leaves them, give the same results."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    x_chwn = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    for layer in (MaxPool2D(2), L2Pool2D(2)):
        y, dx = layer.forward(x), layer.backward(np.ones((3, 2, 3, 3), np.float32))
        np.testing.assert_array_equal(layer.forward(x_chwn), y)
        np.testing.assert_array_equal(layer.backward(np.ones((3, 2, 3, 3), np.float32)), dx)
        with pytest.raises(ValueError, match=r"input \(N, 2, 1, 6\) is smaller than one \(2, 2\) block"):
            layer.forward(np.zeros((1, 2, 1, 6)))
        with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\), got \(2, 6, 6\)"):
            layer.forward(np.zeros((2, 6, 6)))
