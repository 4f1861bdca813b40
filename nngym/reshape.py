"""Flatten: the bridge from feature maps (N, C, H, W) to a fully connected layer (N, C·H·W)."""

from __future__ import annotations

import math

import numpy as np

from nngym.layer import Layer


class Flatten(Layer):
    """Reshapes (N, d1, d2, ...) to (N, d1·d2·...) in C order (as torch's ``flatten(1)``); no parameters.

    An empty batch (N = 0) gives (0, d1·d2·...).
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = self._as_input(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten expected input of shape (N, ...), got {x.shape}")
        if train:
            self._cache = x.shape
        return x.reshape(len(x), math.prod(x.shape[1:]))  # not -1: an empty batch (N = 0) gives (0, F) too

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Reshapes ∂C/∂y (N, d1·d2·...) back to the input's shape."""
        shape = self._need_cache()
        return np.asarray(dy, dtype=self.dtype).reshape(shape)
