"""Pooling layers (Nielsen's "pooling layer"): each block of a feature map condensed to one number.

Max-pooling keeps the largest activation of each block; L2 pooling keeps the square
root of the sum of squares. Both read the blocks as kh·kw strided slices of the input
(one per offset inside the block) so forward and backward loop over offsets only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from nngym.checks import is_real, shown
from nngym.im2col import conv_output_size, pair
from nngym.layer import Layer


class _Pool2D(Layer, register=False):
    """Shared shape logic: ``size`` × ``size`` blocks every ``stride`` pixels (default: non-overlapping)."""

    def __init__(
        self,
        size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(dtype)
        kind = type(self).__name__
        self.size = pair(size, f"{kind} size")
        self.stride = self.size if stride is None else pair(stride, f"{kind} stride")
        if min(self.size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{type(self).__name__} needs size >= 1 and stride >= 1, got {size} and {stride}")
        self._name = f"{type(self).__name__}({self.size[0]}x{self.size[1]}, s={self.stride})"
        self._init_grads()

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) → (C, Ho, Wo), ``Ho = ⌊(H − kh) / s⌋ + 1`` (a ragged edge is dropped, as in torch).

        Raises:
            ValueError: If the input is smaller than one block.
        """
        c, h, w = input_shape
        ho, wo = conv_output_size(h, self.size[0], self.stride[0]), conv_output_size(w, self.size[1], self.stride[1])
        if ho < 1 or wo < 1:
            raise ValueError(f"{self._name}: input (N, {c}, {h}, {w}) is smaller than one {self.size} block")
        return c, ho, wo

    def _check(self, x: np.ndarray) -> tuple[int, int]:
        if x.ndim != 4:
            raise ValueError(f"{self._name} expected input of shape (N, C, H, W), got {x.shape}")
        _, ho, wo = self.output_shape(x.shape[1:])
        return ho, wo

    def _offsets(self, x: np.ndarray, out: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
        """``(o, view)`` for each offset ``o = i·kw + j`` inside a block; ``view`` (N, C, Ho, Wo) is
        the input at that offset of every block (a strided view, no copy)."""
        (kh, kw), (sh, sw), (ho, wo) = self.size, self.stride, out
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, x[:, :, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw]

    def _tiles(self, x_shape: tuple[int, ...], out: tuple[int, int]) -> bool:
        """Whether the blocks cover every input pixel exactly once (no gap, no ragged edge, no overlap)."""
        return self.stride == self.size and x_shape[2:] == (out[0] * self.size[0], out[1] * self.size[1])

    def config(self) -> dict[str, Any]:
        return {"size": list(self.size), "stride": list(self.stride)}


class MaxPool2D(_Pool2D):
    """Max-pooling: ``y = max`` of each block; the gradient flows only to the block's arg-max.

    Ties go to the first maximum in row-major order within the block, as in torch.

    Args:
        size: Block size ``k`` or ``(kh, kw)``.
        stride: Step between blocks (default ``size``: non-overlapping blocks, the seed's 2×2).
        dtype: Dtype of the output.

    Shapes:
        input (N, C, H, W), output (N, C, Ho, Wo) with ``Ho = ⌊(H − kh) / s⌋ + 1``.
    """

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = self._as_input(x)
        out = self._check(x)
        views = self._offsets(x, out)
        _, first = next(views)
        y = first.copy(order="K")  # keeps the input's memory layout
        for _, v in views:
            np.maximum(y, v, out=y)
        if train:
            self._cache = (x, y, out)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Routes each block's ∂C/∂y (N, C, Ho, Wo) to its arg-max pixel; returns ∂C/∂x (N, C, H, W)."""
        x, y, out = self._need_cache()
        dy = np.asarray(dy, dtype=self.dtype)
        if dy.shape != y.shape:
            raise ValueError(f"{self._name} expected upstream gradient of shape {y.shape}, got {dy.shape}")
        overlapping = self.stride[0] < self.size[0] or self.stride[1] < self.size[1]
        dx = _zeros_like_layout(y, x.shape, self.dtype, empty=not overlapping and self._tiles(x.shape, out))
        left = np.empty_like(y)  # gradient not yet given to a pixel: the first maximum takes it all
        left[...] = dy  # in y's memory layout (a conv's (C, H, W, N)) whatever dy's, so every loop below is one
        last = self.size[0] * self.size[1] - 1
        for (o, view), (_, v) in zip(self._offsets(dx, out), self._offsets(x, out), strict=True):
            hit = v == y
            if overlapping:
                share = hit * left
                view += share  # blocks may share this pixel
            else:
                share = np.multiply(hit, left, out=view)
            if o < last:
                left -= share  # zero where this offset took the gradient, so later ties get none
        return dx


class L2Pool2D(_Pool2D):
    """L2 pooling: ``y = sqrt(Σ_block x²)``; backward ``∂y/∂x = x / y`` (0 where the block is all zeros).

    Equal to torch's ``lp_pool2d(x, norm_type=2, ...)``.

    Args:
        size: Block size ``k`` or ``(kh, kw)``.
        stride: Step between blocks (default ``size``).
        eps: Floor on ``y`` in the backward division, so an all-zero block passes no gradient and no NaN; a
            finite number > 0.
        dtype: Dtype of the output.

    Raises:
        ValueError: For a ``size`` or ``stride`` that is not an integer >= 1 or a pair of them, or an ``eps`` that
            is not a finite number > 0 (0 or less divides an all-zero block's gradient by zero: NaN).

    Shapes:
        input (N, C, H, W), output (N, C, Ho, Wo).
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        eps: float = 1e-12,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(size, stride, dtype)
        if not is_real(eps) or not 0.0 < eps < math.inf:
            raise ValueError(f"L2Pool2D eps must be a finite number > 0, got {shown(eps)}")
        self.eps = float(eps)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = self._as_input(x)
        out = self._check(x)
        views = self._offsets(x, out)
        _, first = next(views)
        y = np.square(first)
        for _, v in views:
            y += v * v
        np.sqrt(y, out=y)
        if train:
            self._cache = (x, y, out)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """∂C/∂x = ∂C/∂y · x / ||x||_block, for dy (N, C, Ho, Wo); returns (N, C, H, W)."""
        x, y, out = self._need_cache()
        dy = np.asarray(dy, dtype=self.dtype)
        if dy.shape != y.shape:
            raise ValueError(f"{self._name} expected upstream gradient of shape {y.shape}, got {dy.shape}")
        g = np.maximum(y, self.eps)  # in y's memory layout, whatever dy's
        np.divide(dy, g, out=g)
        overlapping = self.stride[0] < self.size[0] or self.stride[1] < self.size[1]
        dx = _zeros_like_layout(y, x.shape, self.dtype, empty=not overlapping and self._tiles(x.shape, out))
        for (_, view), (_, xv) in zip(self._offsets(dx, out), self._offsets(x, out), strict=True):
            if overlapping:
                view += g * xv  # blocks may share this pixel
            else:
                np.multiply(g, xv, out=view)
        return dx

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eps": self.eps}


def _zeros_like_layout(like: np.ndarray, shape: tuple[int, ...], dtype: np.dtype, empty: bool = False) -> np.ndarray:
    """Zeros of ``shape`` (N, C, H, W), laid out in memory (C, H, W, N) when ``like`` is (as conv outputs are).

    With ``empty`` the array is left unfilled, for a caller that writes every element (blocks that tile the input).
    """
    new = np.empty if empty else np.zeros
    s = like.strides
    if like.ndim == 4 and s[0] < s[3] < s[2] < s[1]:  # batch innermost: (C, H, W, N)
        n, c, h, w = shape
        return new((c, h, w, n), dtype).transpose(3, 0, 1, 2)
    return new(shape, dtype)
