"""Safe model files: one ``.npz`` of arrays plus a JSON metadata string, never pickle.

``np.load(..., allow_pickle=False)`` refuses object arrays, so loading a model
file cannot execute code. The JSON is stored as a 0-d unicode array under the key
``__meta__.json``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

META_KEY = "__meta__.json"


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or does not match what it is loaded into."""


def save_npz(
    path: str | os.PathLike | BinaryIO, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path | BinaryIO:
    """Writes ``arrays`` and JSON ``meta`` to ``path`` atomically (write to a temp file, then rename), or into a
    binary file object opened for writing (``io.BytesIO``, as SB3's ``save`` takes one).

    Returns:
        The path written (``.npz`` appended if missing), or the file object.

    Raises:
        TypeError: For something that is neither a path nor a writable binary file object.
    """
    if META_KEY in arrays:
        raise ValueError(f"array name {META_KEY!r} is reserved")
    if hasattr(path, "write"):
        np.savez(path, **{META_KEY: np.array(json.dumps(meta))}, **arrays)
        return path
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"a model file is saved to a path or a binary file object, got {type(path).__name__}")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **{META_KEY: np.array(json.dumps(meta))}, **arrays)
    os.replace(tmp, path)
    return path


def load_npz(path: str | os.PathLike | BinaryIO) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a file written by ``save_npz``: a path, or a binary file object opened for reading (``io.BytesIO``).

    Raises:
        FileNotFoundError: If the file does not exist.
        ModelFileError: If it is not a valid model file (not a zip, no metadata, metadata not a JSON object,
            object arrays).
        TypeError: For something that is neither a path nor a readable binary file object.
    """
    if hasattr(path, "read"):
        content = path.read()
        if not isinstance(content, bytes):
            raise TypeError(f"a model file object must be opened in binary mode, got {type(content).__name__} data")
        return _read_npz(io.BytesIO(content), getattr(path, "name", "<file object>"), content[:4])
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"a model file is loaded from a path or a binary file object, got {type(path).__name__}")
    path = Path(path)
    if not path.exists() and path.suffix != ".npz" and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    if not path.exists():
        npz = path.with_suffix(".npz")
        hint = f" (nngym's model files are .npz: {npz} exists)" if path.suffix == ".zip" and npz.exists() else ""
        raise FileNotFoundError(f"model file not found: {path}{hint}")
    head = b"PK"
    if path.is_file():
        with path.open("rb") as f:
            head = f.read(4)
    return _read_npz(path, path, head)


def _read_npz(source: Path | io.BytesIO, path: Any, head: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and metadata of the npz ``source`` (``path`` names it in messages, ``head`` its first bytes)."""
    if head[:2] != b"PK":  # every zip, hence every npz, starts so; np.load would guess a pickle
        raise ModelFileError(
            f"{path} is not a valid nngym model file: expected an npz (zip) archive, it starts with {head!r}"
        )
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as e:
        raise ModelFileError(f"{path} is not a valid nngym model file (npz): {e}") from e
    if META_KEY not in arrays:
        raise ModelFileError(f"{path} has no {META_KEY} entry: not an nngym model file{_sb3_hint(source)}")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: metadata is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: metadata must be a JSON object, got {type(meta).__name__} {meta!r:.80}")
    return arrays, meta


def _sb3_hint(source: Path | io.BytesIO) -> str:
    """For an SB3 model zip (its ``data`` and ``policy.pth`` entries), what reads it; "" for anything else."""
    try:
        with zipfile.ZipFile(source) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return ""
    if {"data", "policy.pth"} <= names:
        return (
            ": it is a Stable-Baselines3 model zip; load it with agents.baselines.sb3_zip.load_sb3 (or convert it with "
            "scripts/convert_sb3.py)"
        )
    return ""
