"""Wrong arguments to nngym's constructors, builders, training loop, files and checks fail early with a
ValueError (or ModelFileError) naming what was expected and what came, never deep inside numpy or silently."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from nngym import (
    LSTM,
    SGD,
    Adam,
    Conv2D,
    Dense,
    Dropout,
    ModelFileError,
    Momentum,
    QuadraticCost,
    ReLU,
    RMSprop,
    Sequential,
    SoftmaxCrossEntropy,
    clip_grad_norm,
    gradcheck,
    gradcheck_cost,
    parse_schedule,
)
from nngym.builders import cnn, mlp
from nngym.datasets.mnist import load_mnist_float
from nngym.gradcheck import numerical_gradient
from nngym.rbm import RBM
from nngym.schedules import ScheduleRateError, constant, linear
from nngym.serialization import META_KEY
from nngym.train import fit


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _data(rng: np.random.Generator, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 2, n)


_DEFAULT_RNG = object()


def _fit(net: Sequential, x, y, epochs=1, batch_size=4, rng=_DEFAULT_RNG, **kw):
    rng = np.random.default_rng(1) if rng is _DEFAULT_RNG else rng
    return fit(net, SoftmaxCrossEntropy(), SGD(net, 0.1), x, y, epochs, batch_size, rng, **kw)


# --- 1. clip_grad_norm -------------------------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [0.0, -1.0, float("nan"), float("inf"), True, "1"])
def test_clip_grad_norm_refuses_a_bound_that_is_not_a_positive_number(rng, max_norm):
    net = mlp([4, 3, 2], rng)
    for _, _, g in net.named_params():
        g[...] = 1.0
    with pytest.raises(ValueError, match=r"clip_grad_norm max_norm must be a finite number > 0, got"):
        clip_grad_norm(net, max_norm)
    assert all((g == 1.0).all() for _, _, g in net.named_params())  # nothing reversed or zeroed
    with pytest.raises(ValueError, match=r"max_grad_norm \(None for no clipping\) must be a finite number > 0"):
        Adam(net, max_grad_norm=float("nan"))


# --- 2. epochs, batch_size, predict ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("epochs", "batch_size", "message"),
    [
        (1, -1, "fit batch_size must be an integer >= 1, got int -1"),
        (1, 0, "fit batch_size must be an integer >= 1, got int 0"),
        (1, 2.5, "fit batch_size must be an integer >= 1, got float 2.5"),
        (1, True, "fit batch_size must be an integer >= 1, got bool True"),
        (1.5, 4, "fit epochs must be an integer >= 0, got float 1.5"),
        (-1, 4, "fit epochs must be an integer >= 0, got int -1"),
        (True, 4, "fit epochs must be an integer >= 0, got bool True"),
    ],
)
def test_fit_refuses_bad_epochs_and_batch_sizes(rng, epochs, batch_size, message):
    x, y = _data(rng)
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(mlp([4, 3, 2], rng), x, y, epochs, batch_size)


def test_fit_with_zero_epochs_trains_nothing(rng):
    net = mlp([4, 3, 2], rng)
    before = {k: p.copy() for k, p in net.state_dict().items()}
    history = _fit(net, *_data(rng), epochs=0, batch_size=np.int64(4))
    assert history.train_cost == [] and history.eval_accuracy == []
    assert all((net.state_dict()[k] == p).all() for k, p in before.items())


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, None])
def test_predict_refuses_bad_batch_sizes(rng, batch_size):
    with pytest.raises(ValueError, match="predict batch_size must be an integer >= 1, got"):
        mlp([4, 3, 2], rng).predict(np.zeros((5, 4), np.float32), batch_size)


# --- 3. learning rates and schedules -----------------------------------------------------------------
def test_fit_refuses_a_schedule_that_gives_a_negative_or_nan_rate(rng):
    x, y = _data(rng)
    net = mlp([4, 3, 2], rng)
    before = net.state_dict()["0.W"].copy()
    with pytest.raises(ValueError, match=r"lr_schedule gave learning rate -0.1 at epoch 1, batch 0; it must be"):
        _fit(net, x, y, lr_schedule=lambda progress: -0.1)
    np.testing.assert_array_equal(net.state_dict()["0.W"], before)  # no step of gradient ascent was taken
    with pytest.raises(ValueError, match="lr_schedule gave learning rate nan"):
        _fit(net, x, y, lr_schedule=lambda progress: float("nan"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lin_-1", "schedule 'lin_-1': the rate must be a finite number >= 0"),
        ("nan", "schedule 'nan': the rate must be a finite number >= 0"),
        ("inf", "schedule 'inf': the rate must be a finite number >= 0"),
        (-0.1, "schedule -0.1: the rate must be a finite number >= 0"),
        (True, "schedule must be a number, 'lin_<number>' or a callable of progress_remaining, got bool True"),
        (None, "schedule must be a number, 'lin_<number>' or a callable of progress_remaining, got NoneType None"),
    ],
)
def test_parse_schedule_refuses_rates_that_are_not_finite_and_non_negative(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_schedule(spec)
    # a number out of range is told apart from a malformed spec (the agents' config checks name the range)
    assert isinstance(info.value, ScheduleRateError) == ("rate" in message)


def test_schedule_constructors_check_their_values():
    with pytest.raises(ValueError, match="linear schedule start must be a finite number >= 0, got float -0.1"):
        linear(-0.1)
    with pytest.raises(ValueError, match="linear schedule end must be a finite number >= 0, got float nan"):
        linear(0.1, float("nan"))
    with pytest.raises(ValueError, match="constant schedule value must be a finite number >= 0, got str '0.1'"):
        constant("0.1")
    assert parse_schedule(np.float32(0.5))(0.3) == 0.5
    assert parse_schedule("lin_0.2")(0.5) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("lr", "shown"),
    [(float("nan"), "float nan"), (float("inf"), "float inf"), ("0.1", "str '0.1'"), (None, "NoneType None")],
)
def test_optimizer_learning_rate_must_be_a_finite_number(rng, lr, shown):
    with pytest.raises(ValueError, match=re.escape(f"SGD lr must be a finite number >= 0, got {shown}")):
        SGD(mlp([4, 3, 2], rng), lr)
    with pytest.raises(ValueError, match="Adam lr must be a finite number >= 0, got bool True"):
        Adam(mlp([4, 3, 2], rng), True)


def test_fit_reads_a_number_as_a_constant_schedule(rng):
    net = mlp([4, 3, 2], rng)
    opt = SGD(net, 0.5)
    seen = []
    record = lambda epoch, history: seen.append(opt.lr)  # noqa: E731
    fit(net, SoftmaxCrossEntropy(), opt, *_data(rng), 1, 4, rng, lr_schedule=0.01, on_epoch=record)
    assert seen == [0.01] and opt.lr == 0.5  # the schedule's rate while fitting, the optimiser's own after
    with pytest.raises(
        ValueError, match="schedule must be a number, 'lin_<number>' or a callable of progress_remaining, got 'fast'"
    ):
        fit(net, SoftmaxCrossEntropy(), opt, *_data(rng), 1, 4, rng, lr_schedule="fast")


# --- 4. optimiser hyperparameters (torch's checks) ---------------------------------------------------
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda n: Momentum(n, 0.1, mu=-1), "Momentum: invalid momentum value mu=-1 (need 0 <= mu <= 1)"),
        (lambda n: Momentum(n, 0.1, mu=2), "Momentum: invalid momentum value mu=2 (need 0 <= mu <= 1)"),
        (lambda n: Adam(n, betas=(1.5, 0.9)), "Adam: invalid beta parameter at index 0: 1.5 (need 0 <= beta < 1)"),
        (lambda n: Adam(n, betas=(1.0, 1.0)), "Adam: invalid beta parameter at index 0: 1.0 (need 0 <= beta < 1)"),
        (lambda n: Adam(n, betas=(0.9, -0.1)), "Adam: invalid beta parameter at index 1: -0.1"),
        (lambda n: Adam(n, betas=(0.9, 0.9, 0.9)), "Adam: betas must be a pair (beta1, beta2), got (0.9, 0.9, 0.9)"),
        (lambda n: Adam(n, eps=-1), "Adam eps must be a finite number >= 0, got int -1"),
        (lambda n: RMSprop(n, 0.1, alpha=2), "RMSprop: invalid alpha value 2 (need 0 <= alpha <= 1)"),
        (lambda n: RMSprop(n, 0.1, eps=float("nan")), "RMSprop eps must be a finite number >= 0, got float nan"),
        (lambda n: Adam(n, weight_decay=-1), "Adam weight_decay must be a finite number >= 0, got int -1"),
    ],
)
def test_optimizer_hyperparameters_are_checked_when_built(rng, make, message):
    net = mlp([4, 3, 2], rng)
    with pytest.raises(ValueError, match=re.escape(message)):
        make(net)
    assert Adam(net, betas=[0.5, 0.0], eps=0).beta2 == 0.0  # the edges torch allows


# --- 5. floating dtypes ------------------------------------------------------------------------------
def test_parameters_must_have_a_floating_dtype(rng):
    with pytest.raises(ValueError, match="mlp dtype must be a floating dtype .*got int32"):
        mlp([784, 2, 10], rng, dtype=np.int32)
    net = mlp([4, 3, 2], rng)
    with pytest.raises(ValueError, match="Sequential dtype must be a floating dtype .*got int32"):
        net.astype(np.int32)
    assert all(layer.dtype == np.float32 for layer in net.layers)  # nothing was cast
    with pytest.raises(ValueError, match="Dense dtype must be a floating dtype .*got uint8"):
        Dense(2, 3, rng, dtype=np.uint8)
    with pytest.raises(ValueError, match="Dense dtype must be a floating dtype .*got 'bogus'"):
        Dense(2, 3, rng, dtype="bogus")
    with pytest.raises(ValueError, match="RBM dtype must be a floating dtype .*got int64"):
        RBM(4, 3, rng, dtype=np.int64)
    assert mlp([4, 3, 2], rng, dtype=np.float16).layers[0].params["W"].dtype == np.float16
    # integer inputs stay valid: they are cast to the layer's dtype
    out = Dense(2, 1, rng, dtype=np.float64).forward(np.array([[1, 2]], np.uint8))
    assert out.dtype == np.float64


def test_load_mnist_float_needs_a_floating_dtype():
    with pytest.raises(ValueError, match="load_mnist_float dtype must be a floating dtype .*got uint8"):
        load_mnist_float("test", dtype=np.uint8)


# --- 6. malformed model files ------------------------------------------------------------------------
def _write(path: Path, meta, arrays: dict[str, np.ndarray]) -> Path:
    """A model file with any metadata at all (``save_npz`` would refuse some)."""
    with open(path, "wb") as f:
        np.savez(f, **{META_KEY: np.array(json.dumps(meta))}, **arrays)
    return path


def _good(rng) -> tuple[Sequential, dict]:
    net = Sequential([Dense(4, 3, rng), ReLU()])
    return net, {"format": "nngym.Sequential", "dtype": "float32", "architecture": net.architecture()}


def _arch(config: dict) -> list[dict]:
    return [{"type": "Dense", "config": config}, {"type": "ReLU", "config": {}}]


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ([1, 2], "metadata must be a JSON object, got list [1, 2]"),
        ("weights", "metadata must be a JSON object, got str 'weights'"),
        ({"format": "nngym.Sequential"}, "metadata has no 'architecture' entry (keys: ['format'])"),
        ({"architecture": 5}, "architecture must be a list of {'type': ..., 'config': {...}} entries, got int 5"),
        ({"architecture": [[1]]}, "architecture entry 0 must be {'type': <layer name>, 'config': {...}}, got [1]"),
        ({"architecture": [{"type": "Dense", "config": 3}]}, "architecture entry 0 must be {'type'"),
        ({"architecture": [{"type": 7}]}, "architecture entry 0: unknown layer type 7; known:"),
        (
            {"architecture": _arch({"n_in": 4, "n_out": 3, "zz": 1})},
            "architecture entry 0 (Dense): config {'n_in': 4, 'n_out': 3, 'zz': 1} does not fit the layer: "
            "unexpected ['zz'] (it takes ['n_in', 'n_out', 'w_init', 'b_init'])",
        ),
        (
            {"architecture": _arch({"n_in": 4})},
            "architecture entry 0 (Dense): config {'n_in': 4} does not fit the layer: missing ['n_out']",
        ),
        (
            {"architecture": _arch({"n_in": "4", "n_out": 3})},
            "architecture entry 0 (Dense): cannot build the layer from config {'n_in': '4', 'n_out': 3}: "
            "Dense needs integers n_in >= 1 and n_out >= 1, got n_in='4'",
        ),
        ({"dtype": "bogus"}, "dtype must be a floating dtype (float16, float32, float64), got 'bogus'"),
        ({"dtype": "int8"}, "dtype must be a floating dtype (float16, float32, float64), got int8"),
    ],
)
def test_load_reports_malformed_metadata_as_a_model_file_error(rng, tmp_path, meta, message):
    net, good = _good(rng)
    if isinstance(meta, dict):
        meta = {**good, **meta} if "format" not in meta else meta
    path = _write(tmp_path / "m.npz", meta, net.state_dict())
    with pytest.raises(ModelFileError, match=re.escape(f"{path}: {message}")):
        Sequential.load(path)


@pytest.mark.parametrize(("kind", "shown"), [(str, "<U32"), (complex, "complex128")])
def test_load_refuses_weights_that_are_not_real_numbers(rng, tmp_path, kind, shown):
    net, meta = _good(rng)
    arrays = {k: v.astype(kind) for k, v in net.state_dict().items()}
    path = _write(tmp_path / "m.npz", meta, arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: refused, not cast
        with pytest.raises(ModelFileError, match=re.escape(f"{path}: parameter 0.W: expected an array of real")):
            Sequential.load(path)
    assert Sequential.load(_write(tmp_path / "ok.npz", meta, net.state_dict())).n_params == net.n_params


def test_load_params_and_from_architecture_report_malformed_architectures(rng, tmp_path):
    net, meta = _good(rng)
    with pytest.raises(ModelFileError, match="metadata must be a JSON object"):
        net.load_params(_write(tmp_path / "a.npz", [1], net.state_dict()))
    with pytest.raises(ModelFileError, match=r"saved architecture \[5\] does not match this network"):
        net.load_params(_write(tmp_path / "b.npz", {**meta, "architecture": [5]}, net.state_dict()))
    with pytest.raises(ModelFileError, match="architecture must be a list of .* got int 5"):
        Sequential.from_architecture(5)  # type: ignore[arg-type]


# --- 7. what an optimiser optimises ------------------------------------------------------------------
def test_an_optimizer_takes_a_single_layer(rng):
    dense = Dense(2, 3, rng, dtype=np.float64)
    before = dense.params["W"].copy()
    dense.grads["W"][...] = 1.0
    opt = Adam(dense, lr=0.1)
    opt.step()
    np.testing.assert_allclose(dense.params["W"], before - 0.1, rtol=1e-6)  # Adam's first step is lr·sign(g)
    assert [name for name, _ in opt._layout] == ["W", "b"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (5, "Adam optimises a parameter source: a Sequential, a Layer, an object with named_params() "
         "(e.g. a policy), or a list of them; got int 5"),
        (Sequential, "got type <class 'nngym.network.Sequential'>"),
        ([], "got list []"),
        (Sequential([ReLU()]), "Adam: the Sequential given has no parameters to optimise"),
    ],
)  # fmt: skip
def test_an_optimizer_refuses_what_is_not_a_parameter_source(source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Adam(source)


# --- 8. argument types of fit, mlp, gradcheck --------------------------------------------------------
def test_fit_takes_python_lists(rng):
    x, y = _data(rng)
    a, b = mlp([4, 3, 2], np.random.default_rng(5)), mlp([4, 3, 2], np.random.default_rng(5))
    cost_lists = _fit(a, x.tolist(), y.tolist()).train_cost
    cost_arrays = _fit(b, x, y).train_cost
    assert cost_lists == pytest.approx(cost_arrays, rel=1e-6)


@pytest.mark.parametrize("bad_rng", [0, None, np.random])
def test_rng_must_be_a_generator(rng, bad_rng):
    x, y = _data(rng)
    expected = "rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got"
    with pytest.raises(ValueError, match=re.escape(f"fit {expected}")):
        _fit(mlp([4, 3, 2], rng), x, y, rng=bad_rng)
    with pytest.raises(ValueError, match=re.escape(f"mlp {expected}")):
        mlp([4, 3, 2], bad_rng)
    with pytest.raises(ValueError, match=re.escape(f"cnn {expected}")):
        cnn("conv:2x3", (1, 6, 6), bad_rng)
    with pytest.raises(ValueError, match=re.escape(f"gradcheck {expected}")):
        gradcheck(Dense(2, 3, rng), np.zeros((2, 2)), bad_rng)
    for make in (lambda: Dense(2, 3, bad_rng), lambda: Conv2D(1, 2, 3, bad_rng), lambda: LSTM(2, 3, bad_rng)):
        with pytest.raises(ValueError, match=re.escape(expected)):
            make()


def test_fit_refuses_a_cost_class_and_a_bare_eval_array(rng):
    x, y = _data(rng)
    net = mlp([4, 3, 2], rng)
    with pytest.raises(ValueError, match=r"fit needs a cost instance with value\(\) and delta\(\), e.g. Softmax"):
        fit(net, SoftmaxCrossEntropy, SGD(net, 0.1), x, y, 1, 4, rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"fit needs an optimizer instance, e.g. Adam\(net\)"):
        fit(net, SoftmaxCrossEntropy(), SGD, x, y, 1, 4, rng)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"eval_data must be a pair \(x_eval, labels\), got ndarray of shape \(10, 4\)"
    ):
        _fit(net, x, y, eval_data=x)
    with pytest.raises(ValueError, match="eval_data has 10 inputs but 3 labels"):
        _fit(net, x, y, eval_data=(x, y[:3]))
    with pytest.raises(ValueError, match="fit needs at least one example, got an empty x"):
        _fit(net, x[:0], y[:0])


# --- 9. float labels --------------------------------------------------------------------------------
def test_float_labels_get_a_message_naming_both_target_forms():
    expected = (
        "SoftmaxCrossEntropy: targets must have the output's shape (3, 2) (one-hot) or be integer class labels "
        "of shape (3,); got float32 targets of shape (3,) (labels must have an integer dtype"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        SoftmaxCrossEntropy().value(np.zeros((3, 2)), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=re.escape("got int64 targets of shape (3, 5)")):
        SoftmaxCrossEntropy().delta(np.zeros((3, 2)), np.zeros((3, 5), np.int64))


# --- 10. gradcheck ----------------------------------------------------------------------------------
def test_gradcheck_refuses_train_kwarg_zero_eps_and_random_layers(rng):
    x = rng.standard_normal((3, 2))
    with pytest.raises(ValueError, match=r"gradcheck runs forward\(train=True\), the mode backward needs"):
        gradcheck(Dense(2, 3, rng), x, rng, forward_kwargs={"train": False})
    for eps in (0, -1e-6, float("nan")):
        with pytest.raises(ValueError, match="gradcheck eps must be a finite number > 0, got"):
            gradcheck(Dense(2, 3, rng), x, rng, eps=eps)
        with pytest.raises(ValueError, match="gradcheck eps must be a finite number > 0"):
            gradcheck_cost(QuadraticCost(), x, x, eps=eps)
        with pytest.raises(ValueError, match="gradcheck eps must be a finite number > 0"):
            numerical_gradient(lambda: 0.0, x, eps)
    net = Sequential([Dense(2, 3, rng), Dropout(0.5, rng), Dense(3, 1, rng)])
    with pytest.raises(ValueError, match=r"gradcheck cannot check Dropout\(p=0.5\): random in training mode"):
        gradcheck(net, x, rng)
    errors = gradcheck(Sequential([Dense(2, 3, rng), Dropout(0.0, rng), Dense(3, 1, rng)]), x, rng)
    assert max(errors.values()) < 1e-6  # p = 0 is deterministic


# --- 11. sizes and image shapes ---------------------------------------------------------------------
def test_sizes_must_be_positive_integers(rng):
    with pytest.raises(ValueError, match=re.escape("mlp sizes must be integers >= 1, got [784, 2.5, 10]")):
        mlp([784, 2.5, 10], rng)
    with pytest.raises(ValueError, match="mlp needs a list of at least input and output sizes, got 784"):
        mlp(784, rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Dense needs integers n_in >= 1 and n_out >= 1, got n_in='3', n_out=2"):
        Dense("3", 2, rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Conv2D needs integer channels >= 1"):
        Conv2D(1.0, 2, 3, rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="LSTM needs integers input_size >= 1 and hidden_size >= 1, got 2, 3.5"):
        LSTM(2, 3.5, rng)  # type: ignore[arg-type]
    assert mlp(np.array([4, 3, 2]), rng).n_params == 4 * 3 + 3 + 3 * 2 + 2


def test_a_cnn_reports_inputs_of_another_image_shape(rng):
    net = cnn("conv:4x3,pool:2,dense:8", (1, 12, 12), rng, n_out=2)
    assert net.input_shape == (1, 12, 12)
    with pytest.raises(
        ValueError, match=re.escape("the network expected input of shape (N, 1, 12, 12), got (2, 1, 8, 8)")
    ):
        net.forward(np.zeros((2, 1, 8, 8), np.float32))
    assert net.forward(np.zeros((2, 1, 12, 12), np.float32)).shape == (2, 2)
    with pytest.raises(ValueError, match=re.escape("input_shape must be (C, H, W), three integers >= 1, got (1, 12)")):
        cnn("conv:4x3", (1, 12), rng)  # type: ignore[arg-type]


def test_predict_names_the_reset_pair_that_code_for_sb3s_vec_env_passes():
    from agents import PPO

    agent = PPO("CartPole-v1", n_steps=16, batch_size=16)
    pair = agent.get_env().reset(seed=0)  # Gymnasium's (obs, info); SB3's VecEnv.reset gives obs alone
    with pytest.raises(ValueError, match=r"got a tuple \(obs, info\) .*pass its obs \(obs, info = env.reset\(\)\)"):
        agent.predict(pair)
    action, _ = agent.predict(pair[0], deterministic=True)
    assert action.shape == (1,)
