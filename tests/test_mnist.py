"""The bundled MNIST: parsed, verified, clear errors for broken files, and a quick learning test."""

import gzip
import re
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest

from nngym import SGD, SoftmaxCrossEntropy
from nngym.builders import mlp
from nngym.datasets.mnist import FILES, MNISTError, load_mnist, load_mnist_float, mnist_dir, parse_idx
from nngym.network import Sequential
from nngym.train import accuracy, fit


def test_bundled_mnist_shapes_and_known_values():
    x, y = load_mnist("train")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.uint8
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    xt, yt = load_mnist("test")
    assert xt.shape == (10000, 28, 28) and yt[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert load_mnist("test")[0] is xt  # loaded once per process
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("validation")


def _copy_bundled(tmp_path):
    for name, _, _ in FILES.values():
        shutil.copy(mnist_dir() / name, tmp_path / name)
    return tmp_path


def test_missing_file_named(tmp_path):
    _copy_bundled(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTError, match="MNIST file missing: .*t10k-labels-idx1-ubyte.gz"):
        load_mnist("test", data_dir=tmp_path)


def test_truncated_and_corrupt_files_named(tmp_path):
    _copy_bundled(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(path.read_bytes()[:1000])  # truncated gzip stream
    with pytest.raises(MNISTError, match="t10k-labels-idx1-ubyte.gz: cannot decompress"):
        load_mnist("test", data_dir=tmp_path)
    corrupt = bytearray(raw)
    corrupt[100] ^= 0xFF  # one flipped label byte
    path.write_bytes(gzip.compress(bytes(corrupt)))
    with pytest.raises(MNISTError, match="t10k-labels-idx1-ubyte.gz: sha256 .* expected ff7bcfd4"):
        load_mnist("test", data_dir=tmp_path)


def test_idx_parser_checks_magic_and_size():
    header = (0x801).to_bytes(4, "big") + (3).to_bytes(4, "big")
    np.testing.assert_array_equal(parse_idx(header + bytes([1, 2, 3]), 0x801, "x"), [1, 2, 3])
    with pytest.raises(MNISTError, match="magic number 0x00000801, expected 0x00000803"):
        parse_idx(header + bytes([1, 2, 3]), 0x803, "x")
    with pytest.raises(MNISTError, match="truncated or corrupt"):
        parse_idx(header + bytes([1, 2]), 0x801, "x")


def test_env_var_points_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("NNGYM_MNIST_DIR", str(tmp_path))
    assert mnist_dir() == tmp_path
    with pytest.raises(MNISTError, match="MNIST file missing"):
        load_mnist("test")


@pytest.mark.slow
def test_quick_mlp_learns_mnist_subset():
    """A few seconds of training on 20,000 images must beat 90% on 2,000 held-out test images (chance: 10%)."""
    x, y = load_mnist_float("train")
    xt, yt = load_mnist_float("test")
    rng = np.random.default_rng(0)
    net = mlp([784, 64, 10], rng, activation="sigmoid")
    fit(net, SoftmaxCrossEntropy(), SGD(net, lr=1.0), x[:20000], y[:20000], epochs=3, batch_size=20, rng=rng)
    # seeds 0-4 x 3 OpenBLAS kernels: min 93.5%, median 94.4% (10,000 images, 4 epochs at lr 0.5: min 90.5%)
    assert accuracy(net, xt[:2000], yt[:2000]) > 0.90


def _mnist_script():
    """``main`` and ``parse_args`` of scripts/mnist.py (a script, not a module of the packages)."""
    return runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "mnist.py"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got 0"),
        (["--epochs", "-1"], "argument --epochs: expected an integer >= 1, got -1"),
        (["--batch", "0"], "argument --batch: expected an integer >= 1, got 0"),
        (["--sizes", "a,b"], "argument --sizes: expected comma-separated integers, e.g. 784,30,10, got 'a,b'"),
        (["--sizes", "700,30,10"], "argument --sizes: expected layer sizes >= 1 that start with 784 .*'700,30,10'"),
        (["--sizes", "784,0,10"], "argument --sizes: expected layer sizes >= 1 .*'784,0,10'"),
        (["--eta", "-1"], "argument --eta: expected a number > 0, got -1"),
        (["--lmbda", "-1"], "argument --lmbda: expected a number >= 0, got -1"),
        (["--init", "foo"], "argument --init: unknown initializer 'foo'; expected one of"),
        (["--init", "orthogonal:x"], "argument --init: .*'orthogonal:x'"),
        (["--save", "/proc/x.npz"], "argument --save: cannot write /proc/x.npz: "),
        (["--dropout", "0.5"], "--dropout 0.5 applies to --net cnn .*the MLP has no dropout"),
        (["--spec", "conv:8x5"], "--spec conv:8x5 applies to --net cnn; the MLP's layers are --sizes$"),
        (["--pool", "l2"], "--pool l2 applies to --net cnn; the MLP's layers are --sizes$"),
        (
            ["--net", "cnn", "--sizes", "784,16,10"],
            "--sizes 784,16,10 applies to --net mlp; the CNN's layers are --spec$",
        ),
        (["--net", "cnn", "--dropout", "1"], r"argument --dropout: expected a probability in \[0, 1\), got 1"),
        (["--activation", "softmax"], "argument --activation: invalid choice: 'softmax'"),
    ],
)
def test_mnist_script_refuses_bad_arguments_in_one_error_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        _mnist_script()["parse_args"](argv)
    assert info.value.code == 2
    text = capsys.readouterr().err  # argparse: the usage, then one error line
    assert text.startswith("usage:") and "Traceback" not in text
    assert re.search(f": error: {message}", text.strip().splitlines()[-1]), text


def test_mnist_script_defaults_of_each_network_kind():
    parse = _mnist_script()["parse_args"]
    mlp = parse([])
    assert (mlp.sizes, mlp.spec, mlp.pool) == ([784, 30, 10], "conv:20x5,pool:2,conv:40x5,pool:2,dense:100", "max")
    cnn = parse(["--net", "cnn", "--spec", "conv:8x5,pool:2,dense:16", "--pool", "l2"])
    assert (cnn.spec, cnn.pool) == ("conv:8x5,pool:2,dense:16", "l2")
    assert parse(["--sizes", "784,100,10"]).sizes == [784, 100, 10]


def test_mnist_script_bad_spec_is_an_error_line_and_gelu_trains(tmp_path, capsys):
    script = _mnist_script()
    with pytest.raises(SystemExit, match=r"^error: bad CNN spec item 'conv:8'; comma-separated items"):
        script["main"](["--net", "cnn", "--spec", "conv:8"])
    out = tmp_path / "gelu.npz"
    argv = ["--sizes", "784,16,10", "--activation", "gelu", "--cost", "softmax-cross-entropy", "--eta", "0.1"]
    history = script["main"]([*argv, "--epochs", "1", "--train-size", "200", "--no-progress", "--save", str(out)])
    assert len(history.eval_accuracy) == 1 and 0.0 <= history.eval_accuracy[0] <= 1.0
    assert [type(layer).__name__ for layer in Sequential.load(out).layers] == ["Dense", "GELU", "Dense"]
    assert "gelu" in script["HIDDEN_ACTIVATIONS"] and "softmax" not in script["HIDDEN_ACTIVATIONS"]
