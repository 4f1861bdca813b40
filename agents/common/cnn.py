"""Image observations for the agents: the [0, 1] scaling layer, image-space tests and CNN trunks.

A policy sees pixels through a ``Sequential`` whose first layer is ``ImageScale``: uint8 grey
levels 0..255 become floats in [0, 1], and (H, W, C) images are turned to NCHW, what nngym's
``Conv2D`` takes. Because the scaling is a layer, it is part of the saved architecture, so a
loaded agent sees pixels exactly as the trained one did.

Images inside a ``Dict`` or ``Tuple`` observation arrive flattened among the other parts' columns
(``agents.common.spaces``); ``CombinedInput`` takes each one back out, runs its own network on it
(a CNN trunk, or just ``ImageScale`` + ``Flatten``) and concatenates the results with the other columns.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from nngym.builders import cnn
from nngym.layer import Layer, check_shape
from nngym.network import Sequential


class ImageScale(Layer):
    """Pixels to network inputs: ``x · scale``, and (N, H, W, C) → (N, C, H, W) when ``channels_last``.

    Args:
        scale: Factor, 1/255 for uint8 images.
        channels_last: Whether observations are (H, W, C) (transposed to NCHW here).
        dtype: Output dtype.

    Shapes:
        input (N, C, H, W) or (N, H, W, C) (any numeric dtype), output (N, C, H, W) float.
    """

    def __init__(self, scale: float = 1.0 / 255.0, channels_last: bool = False, dtype: np.dtype | type = np.float32):
        super().__init__(dtype)
        self.scale, self.channels_last = float(scale), bool(channels_last)
        self._init_grads()

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(
                f"ImageScale expected a batch of images of shape (N, C, H, W) or (N, H, W, C), got {x.shape}"
            )
        if self.channels_last:
            x = x.transpose(0, 3, 1, 2)
        if train:
            self._cache = True
        return np.multiply(x, self.scale, dtype=self.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """∂C/∂x = scale · ∂C/∂y, transposed back to the input layout."""
        self._need_cache()
        dx = np.asarray(dy, dtype=self.dtype) * self.dtype.type(self.scale)
        return dx.transpose(0, 2, 3, 1) if self.channels_last else dx

    def config(self) -> dict[str, Any]:
        return {"scale": self.scale, "channels_last": self.channels_last}


class CombinedInput(Layer):
    """Encoded ``Dict`` / ``Tuple`` observations with image parts to features, like SB3's ``CombinedExtractor``.

    Each image part's columns are reshaped to the image (its space's layout) and fed to that part's own
    network; the networks' features, in the parts' order, are followed by the remaining columns (the other
    parts' encodings, in their order). The part networks' parameters are this layer's, named
    ``"<part>.<layer>.<key>"``, so optimisers, files and gradient checks see them.

    Args:
        n_in: D, the width of the encoded observations.
        images: One entry per image part, in the encoding's order: ``{"offset": int, "shape": [d0, d1, d2]}``,
            the part's first column and its image shape; rebuilding from a file, also ``"architecture"``
            (its network's, as ``config()`` writes it).
        nets: The parts' networks, (M, *shape) → (M, F_j); None rebuilds them from the architectures
            (weights to be loaded next).
        dtype: Parameter and output dtype.

    Shapes:
        input (N, D), output (N, Σ_j F_j + D − Σ_j prod(shape_j)).
    """

    flat_bindable = False  # its params are the part networks' arrays

    def __init__(
        self,
        n_in: int,
        images: list[dict[str, Any]],
        nets: list[Sequential] | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(dtype)
        self.n_in = int(n_in)
        self.images = [{"offset": int(p["offset"]), "shape": [int(d) for d in p["shape"]]} for p in images]
        if nets is None:
            nets = [Sequential.from_architecture(p["architecture"], dtype=str(self.dtype)) for p in images]
        if len(nets) != len(self.images):
            raise ValueError(f"CombinedInput needs one network per image part, got {len(nets)} for {len(images)}")
        self.nets = nets
        self._slices = [slice(p["offset"], p["offset"] + int(np.prod(p["shape"]))) for p in self.images]
        rest = np.ones(self.n_in, dtype=bool)
        for s in self._slices:
            if s.stop > self.n_in or not rest[s].all():
                raise ValueError(f"CombinedInput: image parts {self.images} overlap or exceed the {self.n_in} columns")
            rest[s] = False
        self._rest = np.flatnonzero(rest)
        self._name = f"CombinedInput({self.n_in}, {len(self.images)} images)"
        self._link()

    def _link(self) -> None:
        """``params`` / ``grads``: the part networks' own arrays (updated in place by backward and optimisers)."""
        named = [(f"{j}.{name}", p, g) for j, net in enumerate(self.nets) for name, p, g in net.named_params()]
        self.params = {name: p for name, p, _ in named}
        self.grads = {name: g for name, _, g in named}

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """(N, D) → (N, features): each image part through its network, then the other columns."""
        x = self._as_input(x)
        check_shape(self._name, x, (None, self.n_in))
        n = len(x)
        feats = [
            net.forward(x[:, s].reshape(n, *p["shape"]), train)
            for net, s, p in zip(self.nets, self._slices, self.images, strict=True)
        ]
        if train:
            self._cache = (n, [f.shape[1] for f in feats])
        return np.concatenate([*feats, x[:, self._rest]], axis=1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Splits ∂C/∂y among the part networks (their backward fills the grads) and the passed-through
        columns; returns ∂C/∂x (N, D)."""
        n, widths = self._need_cache()
        dy = np.asarray(dy, dtype=self.dtype)
        dx = np.zeros((n, self.n_in), dtype=self.dtype)
        start = 0
        for net, s, w in zip(self.nets, self._slices, widths, strict=True):
            dx[:, s] = net.backward(dy[:, start : start + w]).reshape(n, -1)
            start += w
        dx[:, self._rest] = dy[:, start:]
        return dx

    def astype(self, dtype: np.dtype | type) -> CombinedInput:
        for net in self.nets:
            net.astype(dtype)
        self.dtype = np.dtype(dtype)
        self._link()
        self._cache = None
        return self

    def config(self) -> dict[str, Any]:
        images = [{**p, "architecture": net.architecture()} for p, net in zip(self.images, self.nets, strict=True)]
        return {"n_in": self.n_in, "images": images}


def is_image_space(space: gym.Space) -> bool:
    """A 3-D Box: (C, H, W) or (H, W, C) pixels (uint8 0..255, or floats already scaled)."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


def image_layout(space: gym.spaces.Box) -> tuple[tuple[int, int, int], bool, float]:
    """((C, H, W), channels_last, scale) of an image space.

    Channels first unless the last axis is strictly the smallest (SB3's rule: the channel axis is the
    smallest one), so (1, 28, 28) and (1, 10, 5) are channels first and (84, 84, 3) channels last.
    uint8 pixels of bounds 0..255 are scaled by 1/255 (SB3's ``normalize_images`` applies to those only); other
    observations, floats or uint8 levels of other bounds (0..1 masks, say), are taken as they are.
    """
    shape = tuple(int(d) for d in space.shape)
    channels_last = shape[2] < min(shape[0], shape[1])
    chw = (shape[2], shape[0], shape[1]) if channels_last else shape
    pixels = space.dtype == np.uint8 and np.all(space.low == 0) and np.all(space.high == 255)
    scale = 1.0 / 255.0 if pixels else 1.0
    return chw, channels_last, scale


def image_input(space: gym.spaces.Box, dtype: np.dtype | type = np.float32) -> ImageScale:
    """The ``ImageScale`` layer for observations of ``space``."""
    _, channels_last, scale = image_layout(space)
    return ImageScale(scale, channels_last, dtype=dtype)


def cnn_trunk(space: gym.spaces.Box, spec: str, rng: np.random.Generator, activation: str = "relu") -> Sequential:
    """``ImageScale`` then ``nngym.builders.cnn(spec)``: images of ``space`` to features (N, F).

    The network's ``input_shape`` is ``space.shape``, (H, W, C) for channels last, so an image of the other layout
    is refused naming the shape expected and the one received.

    Raises:
        ValueError: If ``space`` is not an image space or a spec item does not fit the image.
    """
    if not is_image_space(space):
        raise ValueError(f"a CNN needs an image Box observation space (C, H, W) or (H, W, C), got {space}")
    chw, _, _ = image_layout(space)
    net = cnn(spec, chw, rng, activation=activation)
    net.layers.insert(0, image_input(space))
    net.input_shape = tuple(int(d) for d in space.shape)  # what ImageScale takes, named when an input has another
    return net


def n_features(net: Sequential, space: gym.Space) -> int:
    """Width F of ``net``'s output (N, F) for one observation of ``space``, a Box of what the network takes
    (``agents.common.spaces.encoded_space`` of an agent's observation space), by one forward pass of zeros.

    Raises:
        ValueError: If the output is not (1, F).
    """
    out = net.forward(np.zeros((1, *space.shape), dtype=np.float32), train=False)
    if out.ndim != 2:
        raise ValueError(f"a trunk must output features (N, F), got shape {out.shape} for one observation")
    return int(out.shape[1])


def copy_net(net: Sequential) -> Sequential:
    """A new ``Sequential`` with ``net``'s architecture, weights (no shared arrays) and ``input_shape``."""
    dtype = str(net.layers[0].dtype) if net.layers else "float32"
    twin = Sequential.from_architecture(net.architecture(), dtype=dtype, input_shape=net.input_shape)
    twin.load_state_dict({k: v.copy() for k, v in net.state_dict().items()})
    return twin
