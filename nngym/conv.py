"""The convolutional layer: local receptive fields, shared weights and biases, k feature maps."""

from __future__ import annotations

from typing import Any

import numpy as np

from nngym.checks import check_rng, is_int
from nngym.im2col import col2im, conv_output_size, im2col, pair
from nngym.init import Initializer, get_initializer
from nngym.layer import Layer, check_shape


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as torch): every output map shares one kernel and one bias.

    The seed's form for map ``o``: ``z[o, j, k] = b[o] + Σ_c Σ_{l,m} W[o, c, l, m] · a[c, j·s + l, k·s + m]``.
    With the receptive fields laid out as columns (``im2col``) it is one product per batch,
    ``Z = W_mat @ cols + b``; backprop is Dense's (BP2–BP4) on those columns, then ``col2im``.

    Args:
        in_channels: Input feature maps C.
        out_channels: Output feature maps k (one shared kernel and bias each).
        kernel_size: ``kh`` (square) or ``(kh, kw)``.
        rng: Generator for the initial weights.
        stride: ``s`` or ``(sh, sw)``.
        padding: Zeros added on each side, ``p`` or ``(ph, pw)``.
        w_init: Weight initialiser (default ``"nielsen"``: N(0, 1/fan_in), fan_in = C·kh·kw;
            ``"he_normal"`` suits ReLU).
        b_init: Bias initialiser.
        dtype: Parameter dtype.

    Raises:
        ValueError: For channels, kernel, stride or padding that are not integers in their ranges (bools are not
            integers), an ``rng`` that is not a Generator, a ``w_init`` or ``b_init`` that is neither an
            initialiser's name nor a callable, or a dtype that is not floating.

    Shapes:
        ``W``: (out_channels, in_channels, kh, kw) like torch, ``b``: (out_channels,),
        input (N, C, H, W), output (N, out_channels, Ho, Wo) with ``Ho = ⌊(H + 2p − kh) / s⌋ + 1``.
        The output is laid out (out_channels, Ho, Wo, N) in memory (see ``nngym.im2col``).

    Example:
        The seed's first layer, 20 feature maps of 24×24 from a 28×28 image through 5×5 fields:

        >>> conv = Conv2D(1, 20, 5, np.random.default_rng(0))
        >>> conv.forward(np.zeros((64, 1, 28, 28), np.float32)).shape
        (64, 20, 24, 24)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        rng: np.random.Generator,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        w_init: str | Initializer = "nielsen",
        b_init: str | Initializer = "zeros",
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(dtype)
        self.kernel = pair(kernel_size, "Conv2D kernel_size")
        self.stride = pair(stride, "Conv2D stride")
        self.padding = pair(padding, "Conv2D padding")
        check_rng(rng, "Conv2D rng")
        channels_ok = is_int(in_channels) and is_int(out_channels)
        if (
            not channels_ok
            or in_channels < 1
            or out_channels < 1
            or min(self.kernel) < 1
            or min(self.stride) < 1
            or min(self.padding) < 0
        ):
            raise ValueError(
                f"Conv2D needs integer channels >= 1, kernel >= 1, stride >= 1, padding >= 0; got "
                f"in_channels={in_channels!r}, out_channels={out_channels!r}, kernel_size={kernel_size}, "
                f"stride={stride}, padding={padding}"
            )
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.w_init = w_init if isinstance(w_init, str) else "custom"
        self.b_init = b_init if isinstance(b_init, str) else "custom"
        self.params = {
            "W": get_initializer(w_init, "Conv2D w_init")(
                (self.out_channels, self.in_channels, *self.kernel), rng, self.dtype
            ),
            "b": get_initializer(b_init, "Conv2D b_init")((self.out_channels,), rng, self.dtype),
        }
        self._init_grads()
        kh, kw = self.kernel
        self._name = f"Conv2D({self.in_channels}->{self.out_channels}, {kh}x{kw}, s={self.stride}, p={self.padding})"

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(C, H, W) → (out_channels, Ho, Wo).

        Raises:
            ValueError: If the channel count is wrong or the (padded) input is smaller than the kernel.
        """
        c, h, w = input_shape
        if c != self.in_channels:
            raise ValueError(
                f"{self._name} expected input of shape (N, {self.in_channels}, H, W), got (N, {c}, {h}, {w})"
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
        if ho < 1 or wo < 1:
            raise ValueError(
                f"{self._name}: input (N, {c}, {h}, {w}) padded by {self.padding} is smaller than the "
                f"{self.kernel[0]}x{self.kernel[1]} kernel"
            )
        return self.out_channels, ho, wo

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """Computes every feature map over every local receptive field.

        Args:
            x: Input activations, shape (N, C, H, W).
            train: Whether to keep the columns for ``backward``.

        Returns:
            Weighted inputs ``z``, shape (N, out_channels, Ho, Wo).
        """
        x = self._as_input(x)
        if x.ndim != 4:
            raise ValueError(f"{self._name} expected input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        o, ho, wo = self.output_shape(x.shape[1:])
        cols = im2col(x, self.kernel, self.stride, self.padding)  # (C·kh·kw, Ho·Wo·N)
        z = self.params["W"].reshape(o, -1) @ cols  # shared weights: one kernel per map, all fields at once
        z += self.params["b"][:, None]  # shared bias
        if train:
            self._cache = (cols, x.shape)
        return z.reshape(o, ho, wo, len(x)).transpose(3, 0, 1, 2)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Given δ = ∂C/∂z (N, out_channels, Ho, Wo), fills ``grads`` and returns ∂C/∂x (N, C, H, W)."""
        delta, x_shape = self._param_grads(dy)
        dcols = self.params["W"].reshape(self.out_channels, -1).T @ delta  # (BP2) back through the shared weights
        return col2im(dcols, x_shape, self.kernel, self.stride, self.padding)

    def backward_params(self, dy: np.ndarray) -> None:
        """BP3 and BP4 only (``grads``): no columns' gradient and no col2im (a first layer's input is data)."""
        self._param_grads(dy)

    def _param_grads(self, dy: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """Fills ``grads`` (BP3, BP4); returns δ as (O, Ho·Wo·N) and the input's shape."""
        cols, x_shape = self._need_cache()
        o = self.out_channels
        _, ho, wo = self.output_shape(x_shape[1:])
        delta = np.asarray(dy, dtype=self.dtype)
        check_shape(self._name, delta, (x_shape[0], o, ho, wo), "upstream gradient")
        delta = delta.transpose(1, 2, 3, 0).reshape(o, -1)  # (O, Ho·Wo·N): free when laid out as forward left it
        delta.sum(axis=1, out=self.grads["b"])  # (BP3) ∂C/∂b = Σ over the map's positions of δ
        np.matmul(delta, cols.T, out=self.grads["W"].reshape(o, -1))  # (BP4) ∂C/∂W = Σ δ · a over fields
        return delta, x_shape

    def config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "w_init": self.w_init,
            "b_init": self.b_init,
        }
