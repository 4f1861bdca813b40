"""im2col and col2im: a convolution as one matrix product over local receptive fields.

Every local receptive field of an NCHW batch (the seed's 5×5 window sliding over a
28×28 image) becomes one row of a matrix, so that sharing one kernel over all fields
is a single product ``W @ cols``. ``im2col`` copies one strided slice per kernel offset;
``col2im`` is its adjoint: it adds each field's gradient back onto the pixels it came
from, one kernel offset at a time (kh·kw slices, never a loop over pixels or examples).

Internally images are laid out (C, H, W, N) in memory (batch innermost, as in
cuda-convnet) while the arrays stay (N, C, H, W) to the caller, a transposed view;
the slices then move long contiguous runs, which makes both copies several times
faster than in the NCHW layout.
"""

from __future__ import annotations

import numpy as np

from nngym.checks import is_int, shown

Pair = tuple[int, int]


def pair(v: int | tuple[int, int] | list[int], name: str = "value") -> Pair:
    """``3`` → ``(3, 3)``; a pair is returned as a tuple of ints.

    Raises:
        ValueError: If ``v`` is neither an int nor a pair of ints (bools are not ints: ``True`` is no size).
    """
    if is_int(v):
        return int(v), int(v)
    if isinstance(v, tuple | list) and len(v) == 2 and all(is_int(e) for e in v):
        return int(v[0]), int(v[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {shown(v)}")


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: ``⌊(n + 2p − k) / s⌋ + 1`` (≤ 0 when the kernel does not fit)."""
    return (n + 2 * padding - k) // stride + 1


def im2col(x: np.ndarray, kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> np.ndarray:
    """Lays every local receptive field of ``x`` out as one column.

    The columns are ordered (Ho, Wo, N), batch innermost: the copy then moves runs of
    ``Wo·N`` contiguous numbers (``x`` is first laid out (C, H, W, N), free when it already is),
    and the product ``W @ cols`` comes out laid out (O, Ho, Wo, N), ready for the next layer.

    Args:
        x: Batch of images, shape (N, C, H, W) (any memory layout).
        kernel: ``(kh, kw)``.
        stride: ``(sh, sw)``.
        padding: Zeros added on each side, ``(ph, pw)``.

    Returns:
        ``cols`` of shape (C·kh·kw, Ho·Wo·N): column ``(i, j, n)`` holds the field whose output is
        pixel ``(i, j)`` of example ``n``, its rows ordered (C, kh, kw) like a torch kernel ``W[o]``.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    x_chwn = x.transpose(1, 2, 3, 0)
    if ph or pw:
        x_chwn = np.pad(x_chwn, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    else:
        x_chwn = np.ascontiguousarray(x_chwn)
    cols = np.empty((c, kh, kw, ho, wo, n), dtype=x.dtype)
    for i in range(kh):  # one strided slice per kernel offset: kh·kw copies, no loop over pixels
        for j in range(kw):
            cols[:, i, j] = x_chwn[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw]
    return cols.reshape(c * kh * kw, ho * wo * n)


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel: Pair,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
) -> np.ndarray:
    """Adjoint of ``im2col``: adds each column's entries back onto the pixels of its receptive field.

    Args:
        cols: Gradient with respect to the ``im2col`` columns, shape (C·kh·kw, Ho·Wo·N).
        x_shape: Shape (N, C, H, W) of the original, unpadded input.
        kernel: ``(kh, kw)``.
        stride: ``(sh, sw)``.
        padding: ``(ph, pw)``.

    Returns:
        Gradient with respect to ``x``, shape (N, C, H, W), laid out (C, H, W, N) in memory;
        pixels shared by overlapping fields get the sum.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    d = cols.reshape(c, kh, kw, ho, wo, n)
    dx = np.zeros((c, h + 2 * ph, w + 2 * pw, n), dtype=cols.dtype)
    for i in range(kh):  # one slice per kernel offset: the loop is over kh·kw, not over pixels
        for j in range(kw):
            dx[:, i : i + (ho - 1) * sh + 1 : sh, j : j + (wo - 1) * sw + 1 : sw] += d[:, i, j]
    return dx[:, ph : ph + h, pw : pw + w].transpose(3, 0, 1, 2)
