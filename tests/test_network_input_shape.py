"""``Sequential.save`` / ``load`` keep ``input_shape``, so a loaded CNN reports an input of another image shape in
the network's terms, and files written without it still load."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nngym import ModelFileError, Sequential
from nngym.builders import cnn, mlp
from nngym.serialization import load_npz, save_npz

EXPECTED = "the network expected input of shape (N, 1, 28, 28), got (2, 1, 20, 20)"


@pytest.fixture
def net() -> Sequential:
    return cnn("conv:4x5,pool:2,dense:16", (1, 28, 28), np.random.default_rng(0), n_out=10)


def test_a_loaded_cnn_keeps_its_input_shape(tmp_path, net):
    loaded = Sequential.load(net.save(tmp_path / "cnn"))
    assert loaded.input_shape == net.input_shape == (1, 28, 28)
    with pytest.raises(ValueError, match=re.escape(EXPECTED)):  # before: only the Conv2D layer's message
        loaded.forward(np.zeros((2, 1, 20, 20), np.float32), train=False)
    x = np.random.default_rng(1).random((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x, train=False), net.forward(x, train=False))


def test_files_without_input_shape_still_load(tmp_path, net):
    path = net.save(tmp_path / "cnn")
    arrays, meta = load_npz(path)
    assert meta["input_shape"] == [1, 28, 28]
    old = {k: v for k, v in meta.items() if k != "input_shape"}  # what files written before it hold
    save_npz(path, arrays, old)
    loaded = Sequential.load(path)
    assert loaded.input_shape is None
    x = np.random.default_rng(2).random((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x, train=False), net.forward(x, train=False))
    plain = mlp([4, 3, 2], np.random.default_rng(0))  # no input_shape: none saved
    assert "input_shape" not in load_npz(plain.save(tmp_path / "mlp"))[1]
    assert Sequential.load(tmp_path / "mlp.npz").input_shape is None


@pytest.mark.parametrize("bad", [[1, 28.5, 28], "1x28x28", [], [1, 0, 28], [1, True, 28]])
def test_a_malformed_input_shape_is_a_model_file_error(tmp_path, net, bad):
    path = net.save(tmp_path / "cnn")
    arrays, meta = load_npz(path)
    save_npz(path, arrays, {**meta, "input_shape": bad})
    message = f"{path}: input_shape must be a list of integers >= 1 (one input's shape), got {bad!r}"
    with pytest.raises(ModelFileError, match=re.escape(message)):
        Sequential.load(path)
