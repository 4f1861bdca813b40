"""Image observations for the agents: the [0, 1] scaling layer, the image rule and CNN trunks.

What an image is follows Stable-Baselines3 (``stable_baselines3.common.preprocessing.is_image_space`` with its
defaults): a 3-D Box of dtype uint8 whose bounds are all 0 and 255 (``is_image_space``). Only those are images:
an agent picks a CNN for them by default (``MultiInputPolicy``'s image parts), scales their pixels to [0, 1] and
keeps their shape. Every other 3-D Box (floats, uint8 levels of other bounds) is feature data, flattened like any
other Box (``agents.common.spaces``); a CNN asked for explicitly (``net="cnn"``, ``CnnPolicy``, a conv spec)
still takes it (``is_cnn_space``), unscaled, as SB3's ``CnnPolicy`` does with ``normalize_images=False``.

A policy sees pixels through a ``Sequential`` whose first layer is ``ImageScale``: uint8 grey
levels 0..255 become floats in [0, 1], and (H, W, C) images are turned to NCHW, what nngym's
``Conv2D`` takes. Because the scaling is a layer, it is part of the saved architecture, so a
loaded agent sees pixels exactly as the trained one did. A CNN on a 3-D Box that is no image starts with
``Unflatten``, which gives the flattened observations their shape back, then ``ImageScale`` with scale 1.

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


class Unflatten(Layer):
    """Flat observations back in their shape: (N, prod(shape)) → (N, *shape), the C order of ``shape``.

    The first layer of a CNN on a 3-D Box that is no image (``is_image_space``): such observations reach the
    networks flattened (``agents.common.spaces``), and the CNN takes them as ``shape`` again.

    Args:
        shape: One observation's shape, e.g. the Box's (C, H, W) or (H, W, C).
        dtype: Output dtype.

    Shapes:
        input (N, prod(shape)), output (N, *shape).
    """

    def __init__(self, shape: tuple[int, ...] | list[int], dtype: np.dtype | type = np.float32) -> None:
        super().__init__(dtype)
        self.shape = tuple(int(d) for d in shape)
        self.size = int(np.prod(self.shape))
        self._init_grads()

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = self._as_input(x)
        check_shape(f"Unflatten({self.size} -> {self.shape})", x, (None, self.size))
        if train:
            self._cache = True
        return x.reshape(len(x), *self.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """∂C/∂x: ∂C/∂y flattened back to (N, prod(shape))."""
        self._need_cache()
        dy = np.asarray(dy, dtype=self.dtype)
        return dy.reshape(len(dy), self.size)

    def config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}


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
    """Whether ``space`` is an image by SB3's rule: a 3-D Box, (C, H, W) or (H, W, C), of dtype uint8 whose bounds
    are all 0 and 255 (``stable_baselines3.common.preprocessing.is_image_space`` with its defaults; SB3's optional
    channels check aside, nngym reads the layout itself, ``image_layout``).

    Images keep their shape on the way to the networks, get a CNN by default where the agents pick one (the image
    parts of a ``Dict`` / ``Tuple`` under ``MultiInputPolicy``) and are scaled to [0, 1] by ``ImageScale``. Any other
    3-D Box (floats, uint8 of other bounds) is no image: it is flattened (``agents.common.spaces``), and only a CNN
    asked for explicitly takes it (``is_cnn_space``).
    """
    return (
        isinstance(space, gym.spaces.Box)
        and len(space.shape) == 3
        and space.dtype == np.uint8
        and bool(np.all(space.low == 0))
        and bool(np.all(space.high == 255))
    )


def is_cnn_space(space: gym.Space) -> bool:
    """Whether a CNN can take observations of ``space``: any 3-D Box, (C, H, W) or (H, W, C).

    That is wider than ``is_image_space``: a CNN asked for explicitly (``net="cnn"``, ``CnnPolicy``,
    ``CnnLstmPolicy``, a spec with conv items) also takes a 3-D Box that is no image, its values unscaled (as SB3's
    ``CnnPolicy`` with ``normalize_images=False``), reshaped from the flattened observations (``Unflatten``).
    """
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


def image_layout(space: gym.spaces.Box) -> tuple[tuple[int, int, int], bool, float]:
    """((C, H, W), channels_last, scale) of a 3-D Box (``is_cnn_space``), as a CNN takes it.

    Channels first unless the last axis is strictly the smallest (SB3's rule: the channel axis is the
    smallest one), so (1, 28, 28) and (1, 10, 5) are channels first and (84, 84, 3) channels last.
    Images (``is_image_space``: uint8 pixels of bounds 0..255) are scaled by 1/255 (SB3's ``normalize_images``
    applies to those only); other 3-D Boxes, floats or uint8 levels of other bounds (0..1 masks, say), are taken as
    they are.
    """
    shape = tuple(int(d) for d in space.shape)
    channels_last = shape[2] < min(shape[0], shape[1])
    chw = (shape[2], shape[0], shape[1]) if channels_last else shape
    scale = 1.0 / 255.0 if is_image_space(space) else 1.0
    return chw, channels_last, scale


def image_input(space: gym.spaces.Box, dtype: np.dtype | type = np.float32) -> ImageScale:
    """The ``ImageScale`` layer for observations of the 3-D Box ``space`` (``image_layout``'s layout and scale)."""
    _, channels_last, scale = image_layout(space)
    return ImageScale(scale, channels_last, dtype=dtype)


def cnn_input(space: gym.spaces.Box) -> tuple[list[Layer], tuple[int, ...]]:
    """(the input layers a CNN on the 3-D Box ``space`` starts with, the shape of one observation they take).

    An image (``is_image_space``) reaches the networks as it is: ``[ImageScale]``, taking ``space.shape``. Any other
    3-D Box reaches them flattened (``agents.common.spaces``): ``[Unflatten, ImageScale]`` (scale 1), taking
    (prod(shape),). Either way the CNN after them gets (N, C, H, W).
    """
    shape = tuple(int(d) for d in space.shape)
    if is_image_space(space):
        return [image_input(space)], shape
    return [Unflatten(shape), image_input(space)], (int(np.prod(shape)),)


def cnn_trunk(space: gym.spaces.Box, spec: str, rng: np.random.Generator, activation: str = "relu") -> Sequential:
    """``cnn_input``'s layers then ``nngym.builders.cnn(spec)``: observations of the 3-D Box ``space``, as they reach
    the networks, to features (N, F).

    The network's ``input_shape`` is what its input layers take: ``space.shape`` for an image, (H, W, C) for channels
    last, so an image of the other layout is refused naming the shape expected and the one received; (prod(shape),)
    for a 3-D Box that is no image (its observations arrive flattened).

    Raises:
        ValueError: If ``space`` is not a 3-D Box or a spec item does not fit the observations.
    """
    if not is_cnn_space(space):
        raise ValueError(f"a CNN needs a 3-D Box observation space, (C, H, W) or (H, W, C), got {space}")
    chw, _, _ = image_layout(space)
    net = cnn(spec, chw, rng, activation=activation)
    layers, net.input_shape = cnn_input(space)  # input_shape: named when an input has another shape
    net.layers[:0] = layers
    return net


def image_input_mismatch(space: gym.Space, first_layer: Layer | str | None) -> str | None:
    """Why a network whose first layer is ``first_layer`` (a layer, or its type's name as an architecture holds it)
    cannot take the observations of ``space``, or None if nothing is wrong with its input layer.

    An ``ImageScale`` first takes images, (N, C, H, W) or (N, H, W, C); a 3-D Box reaches the networks so only when
    it is an image by SB3's rule (``is_image_space``), any other one arrives flattened. Model files of nngym versions
    that took every 3-D Box for an image hold such networks for 3-D Boxes that are no image. An ``Unflatten`` first
    takes flattened observations, which an image never is.
    """
    kind = first_layer if isinstance(first_layer, str | None) else type(first_layer).__name__
    if kind == "Unflatten" and is_image_space(space):
        return (
            f"its first layer is Unflatten, which takes flattened observations, but {space} is an image by SB3's "
            "rule (a 3-D Box of dtype uint8 with bounds 0 and 255): its observations reach the networks in their "
            "shape, through ImageScale"
        )
    if kind != "ImageScale" or not is_cnn_space(space) or is_image_space(space):
        return None
    size = int(np.prod(space.shape))
    return (
        f"its first layer is ImageScale, which takes images, but {space} is no image by SB3's rule (a 3-D Box of "
        f"dtype uint8 with bounds 0 and 255): its observations reach the networks flattened, (N, {size}). A model file "
        "of an nngym version that took every 3-D Box for an image has ImageScale in front of it and cannot take them: "
        "train the agent again; a network of your own is given without its "
        "ImageScale layer (one that starts with a convolution gets Unflatten and ImageScale(scale 1) put in front)"
    )


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
