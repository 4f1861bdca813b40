"""Data augmentation for image datasets."""

from __future__ import annotations

import math

import numpy as np

from nngym.checks import check_int, check_rng


def random_shifts(x: np.ndarray, rng: np.random.Generator, max_shift: int, size: int = 28) -> np.ndarray:
    """Each image translated by its own random (dy, dx) in [-max_shift, max_shift]², zero-filled.

    One fancy-indexing gather for the whole batch, no loop over images.

    Args:
        x: One square image per example: flattened (N, size·size), or (N, size, size), or (N, 1, size, size).
        rng: Generator drawing the shifts.
        max_shift: s, the largest shift in pixels along each axis, an integer >= 0 (0: the images unchanged).
        size: Side of the images (28 for MNIST), an integer >= 1.

    Returns:
        The shifted images, of ``x``'s shape and dtype.

    Raises:
        ValueError: For an ``x`` that is not a batch of one size × size image per example, a ``max_shift`` that is
            not an integer >= 0 (1.5 is not read as 1), a ``size`` that is not an integer >= 1, or an ``rng`` that is
            not a ``np.random.Generator``.
    """
    check_rng(rng, "random_shifts rng")
    s = check_int(max_shift, "random_shifts max_shift", minimum=0)
    size = check_int(size, "random_shifts size")
    x = np.asarray(x)
    if x.ndim < 2 or math.prod(x.shape[1:]) != size * size or (x.ndim > 2 and x.shape[-2:] != (size, size)):
        raise ValueError(
            f"random_shifts expected one {size}x{size} image per example, (N, {size * size}), (N, {size}, {size}) "
            f"or (N, 1, {size}, {size}), got an array of shape {x.shape}"
        )
    n = len(x)
    padded = np.pad(x.reshape(n, size, size), ((0, 0), (s, s), (s, s)))
    dy, dx = rng.integers(0, 2 * s + 1, n), rng.integers(0, 2 * s + 1, n)
    rows = dy[:, None] + np.arange(size)  # (N, size)
    cols = dx[:, None] + np.arange(size)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(x.shape)
