"""Data augmentation for image datasets."""

from __future__ import annotations

import numpy as np


def random_shifts(x: np.ndarray, rng: np.random.Generator, max_shift: int, size: int = 28) -> np.ndarray:
    """Each image translated by its own random (dy, dx) in [-max_shift, max_shift]², zero-filled.

    One fancy-indexing gather for the whole batch, no loop over images.

    Args:
        x: Flattened square images, (N, size·size).
        rng: Generator drawing the shifts.
        max_shift: s, the largest shift in pixels along each axis (0: the images unchanged).
        size: Side of the images (28 for MNIST).

    Returns:
        The shifted images, (N, size·size), the dtype of ``x``.
    """
    n, s = len(x), int(max_shift)
    padded = np.pad(x.reshape(n, size, size), ((0, 0), (s, s), (s, s)))
    dy, dx = rng.integers(0, 2 * s + 1, n), rng.integers(0, 2 * s + 1, n)
    rows = dy[:, None] + np.arange(size)  # (N, size)
    cols = dx[:, None] + np.arange(size)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(n, size * size)
