"""MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0), bundled in IDX format and verified on load.

The IDX format: a big-endian header — magic number ``0x00000803`` for images or
``0x00000801`` for labels, then one 32-bit size per dimension — followed by uint8 data.
Each file's *decompressed* bytes are checked against a known sha256.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from nngym.checks import float_dtype

#: Environment variable naming a directory with the four files, used instead of the bundled copy.
ENV_VAR = "NNGYM_MNIST_DIR"

_BUNDLED = Path(__file__).parent / "data" / "mnist"

#: (file name, magic, sha256 of the decompressed bytes)
FILES = {
    ("train", "images"): (
        "train-images-idx3-ubyte.gz",
        0x803,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    ("train", "labels"): (
        "train-labels-idx1-ubyte.gz",
        0x801,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    ("test", "images"): (
        "t10k-images-idx3-ubyte.gz",
        0x803,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    ("test", "labels"): (
        "t10k-labels-idx1-ubyte.gz",
        0x801,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}


class MNISTError(ValueError):
    """An MNIST file is missing, truncated, corrupt or not in IDX format."""


def mnist_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory to read: ``data_dir`` if given, else ``$NNGYM_MNIST_DIR``, else the bundled copy."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else _BUNDLED


def parse_idx(raw: bytes, magic: int, name: str) -> np.ndarray:
    """Parses IDX bytes into a uint8 array, checking magic number and size.

    Args:
        raw: Decompressed file content.
        magic: Expected magic number (0x803 images, 0x801 labels).
        name: File name for error messages.

    Raises:
        MNISTError: On a wrong magic number or a size that does not match the header.
    """
    if len(raw) < 8:
        raise MNISTError(f"{name}: {len(raw)} bytes is too short for an IDX header")
    (got_magic,) = struct.unpack(">I", raw[:4])
    if got_magic != magic:
        raise MNISTError(f"{name}: magic number 0x{got_magic:08x}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise MNISTError(f"{name}: {len(raw)} bytes, header {dims} implies {expected} (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read(directory: Path, split: str, kind: str, verify: bool) -> np.ndarray:
    fname, magic, sha = FILES[(split, kind)]
    path = directory / fname
    if not path.exists():
        plain = path.with_suffix("")  # also accept the uncompressed file
        if not plain.exists():
            raise MNISTError(f"MNIST file missing: {path} (set {ENV_VAR} or pass data_dir to point elsewhere)")
        path = plain
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise MNISTError(f"{path}: cannot decompress ({e}); the file is truncated or corrupt") from e
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha:
            raise MNISTError(f"{path}: sha256 of the decompressed bytes is {digest}, expected {sha} (corrupt file)")
    return parse_idx(raw, magic, str(path))


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str, split: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    images = _read(Path(directory), split, "images", verify)
    labels = _read(Path(directory), split, "labels", verify)
    if len(images) != len(labels):
        raise MNISTError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_mnist(
    split: str = "train", data_dir: str | os.PathLike | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Loads MNIST images and labels, once per process (later calls return the same read-only arrays).

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        data_dir: Directory holding the four ``*-ubyte.gz`` (or uncompressed) files; default
            ``$NNGYM_MNIST_DIR`` or the copy bundled with the package.
        verify: Check each file's sha256 (of the decompressed bytes) against the published value.

    Returns:
        ``(images, labels)``: uint8 arrays of shapes (N, 28, 28) and (N,). Read-only; copy to modify.

    Raises:
        ValueError: For an unknown split.
        MNISTError: If a file is missing, truncated or corrupt, naming the file.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return _load_cached(str(mnist_dir(data_dir).resolve()), split, verify)


def load_mnist_float(
    split: str = "train", data_dir: str | os.PathLike | None = None, dtype: np.dtype | type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as the seed's network sees it: images flattened to (N, 784) in [0, 1], labels (N,) int64.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: As for ``load_mnist``.
        dtype: The images' dtype, a floating one (float16, float32, float64): an integer dtype would round
            the grey levels in [0, 1] to 0 or 1.

    Raises:
        ValueError: For an unknown split or a dtype that is not floating.
        MNISTError: If a file is missing, truncated or corrupt.
    """
    dtype = float_dtype(dtype, "load_mnist_float dtype")
    images, labels = load_mnist(split, data_dir)
    return (images.reshape(len(images), -1) / np.asarray(255.0, dtype)).astype(dtype), labels.astype(np.int64)
