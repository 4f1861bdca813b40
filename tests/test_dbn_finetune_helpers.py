"""The DBN fine-tuning helpers: random ±s-pixel shifts (nngym.datasets.augment) and dropout around the DBN's layers."""

from __future__ import annotations

import numpy as np

from nngym.datasets.augment import random_shifts
from nngym.dbn import DBN
from nngym.dropout import Dropout, with_dropout


def _naive_shift(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """image (28, 28) moved by (dy, dx): out[r, c] = image[r - dy, c - dx], zero outside."""
    out = np.zeros_like(image)
    for r in range(28):
        for c in range(28):
            if 0 <= r - dy < 28 and 0 <= c - dx < 28:
                out[r, c] = image[r - dy, c - dx]
    return out


def test_shifted_translates_each_image_by_at_most_s_pixels():
    rng = np.random.default_rng(0)
    x = rng.random((40, 784)).astype(np.float32)
    out = random_shifts(x, np.random.default_rng(1), 1)
    assert out.shape == x.shape
    seen = set()
    for image, moved in zip(x.reshape(-1, 28, 28), out.reshape(-1, 28, 28), strict=True):
        shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        matches = [(dy, dx) for dy, dx in shifts if np.array_equal(moved, _naive_shift(image, dy, dx))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) >= 7  # the 40 shifts are drawn from all nine
    np.testing.assert_array_equal(random_shifts(x, rng, 0), x)


def test_with_dropout_wraps_the_dbn_layers_and_is_the_identity_at_test_time():
    rng = np.random.default_rng(0)
    dbn = DBN([20, 8, 6], rng)
    for rbm in dbn.rbms:
        rbm.params["W"][...] = rng.normal(0.0, 0.5, rbm.params["W"].shape)
    plain = dbn.to_network()
    wrapped = with_dropout(dbn.to_network(), 0.2, 0.5, rng)
    kinds = [type(layer).__name__ for layer in wrapped.layers]
    assert kinds == ["Dropout", "Dense", "Sigmoid", "Dropout", "Dense", "Sigmoid"]  # none after the output layer
    assert [layer.p for layer in wrapped.layers if isinstance(layer, Dropout)] == [0.2, 0.5]
    v = rng.random((5, 20)).astype(np.float32)
    np.testing.assert_allclose(wrapped.forward(v, train=False), plain.forward(v, train=False), rtol=1e-6)
    assert not np.allclose(wrapped.forward(v, train=True), plain.forward(v, train=False))
    assert with_dropout(plain, 0.0, 0.0, rng) is plain
