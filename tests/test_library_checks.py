"""What the library refuses, keeps or restores where a user would otherwise get wrong numbers or a puzzling error:
fused costs after their own non-linearity, layer-name clashes, mixed dtypes, float16 moments, caches across an
inference forward, bad constructor values, empty batches, optimiser states, schedules and small helpers."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest

from nngym import (
    DBN,
    LSTM,
    RBM,
    RNN,
    SGD,
    Adam,
    Conv2D,
    CrossEntropyCost,
    Dense,
    Dropout,
    Flatten,
    HuberCost,
    L2Pool2D,
    Layer,
    MaxPool2D,
    ModelFileError,
    Momentum,
    ReLU,
    RMSprop,
    Sequential,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
)
from nngym.builders import cnn, mlp
from nngym.datasets.augment import random_shifts
from nngym.dropout import with_dropout
from nngym.layer import LAYER_REGISTRY
from nngym.optim import Optimizer
from nngym.serialization import load_npz, save_npz
from nngym.stacked_optim import StackedOptimizer
from nngym.train import fit


def _data(n: int = 12, d: int = 4, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, k, n)


def _edit_meta(path, edit) -> None:
    """Rewrites a model file's metadata with ``edit(meta)`` (a hand-edited file)."""
    arrays, meta = load_npz(path)
    edit(meta)
    save_npz(path, arrays, meta)


@pytest.fixture
def registry():
    """Removes the Layer classes a test defines from ``LAYER_REGISTRY`` afterwards."""
    before = dict(LAYER_REGISTRY)
    yield LAYER_REGISTRY
    LAYER_REGISTRY.clear()
    LAYER_REGISTRY.update(before)


# --- fused costs take logits -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "output_activation,cost,name",
    [("sigmoid", CrossEntropyCost(), "sigmoid"), ("softmax", SoftmaxCrossEntropy(), "softmax")],
)
def test_fit_refuses_the_output_activation_a_fused_cost_applies_itself(output_activation, cost, name):
    x, labels = _data()
    y = np.eye(3, dtype=np.float32)[labels]
    rng = np.random.default_rng(0)
    net = mlp([4, 5, 3], rng, output_activation=output_activation)
    before = [p.copy() for _, p, _ in net.named_params()]
    message = f"{type(cost).__name__} takes logits and applies the {name} itself, but the network ends in a"
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        fit(net, cost, SGD(net, lr=0.5), x, y, epochs=1, batch_size=4, rng=rng)
    assert "drop the output activation (mlp(..., output_activation=None)" in str(info.value)
    assert all(np.array_equal(b, p) for b, (_, p, _) in zip(before, net.named_params(), strict=True))  # untouched
    logits = mlp([4, 5, 3], rng)  # the same network without its output activation trains
    assert len(fit(logits, cost, SGD(logits, lr=0.5), x, y, epochs=1, batch_size=4, rng=rng).train_cost) == 1
    quadratic = mlp([4, 5, 3], rng, output_activation=output_activation)  # a cost on activations takes them
    fit(quadratic, HuberCost(), SGD(quadratic, lr=0.5), x, y, epochs=1, batch_size=4, rng=rng)
    assert "takes logits" in (type(cost).__doc__ or "").lower()


# --- the layer registry --------------------------------------------------------------------------------------------
def test_a_user_layer_cannot_take_the_name_of_nngyms_own(tmp_path, registry):
    rng = np.random.default_rng(0)
    net = mlp([4, 3, 2], rng, activation="relu")
    path = net.save(tmp_path / "relu_mlp")
    x = rng.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(TypeError, match=re.escape("has the name 'ReLU' of nngym.activations.ReLU (nngym's own")):

        class ReLU(Layer):  # a leaky ReLU written in a notebook, say
            def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
                return np.where(x > 0, x, 0.1 * x)

    assert registry["ReLU"] is type(net.layers[1])
    loaded = Sequential.load(path)
    assert type(loaded.layers[1]).__module__ == "nngym.activations"
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_a_user_layer_class_defined_again_replaces_the_earlier_and_custom_layers_round_trip(tmp_path, registry):
    def define(factor_default: float) -> type[Layer]:
        class LibraryChecksScale(Layer):  # the same module and qualified name each time: a cell run again
            def __init__(self, factor: float = factor_default, dtype=np.float32) -> None:
                super().__init__(dtype)
                self.factor = factor

            def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
                return self._as_input(x) * self.factor

            def backward(self, dy: np.ndarray) -> np.ndarray:
                return dy * self.factor

            def config(self) -> dict:
                return {"factor": self.factor}

        return LibraryChecksScale

    define(2.0)
    scale = define(3.0)
    assert registry["LibraryChecksScale"] is scale
    rng = np.random.default_rng(0)
    net = Sequential([scale(), Dense(4, 2, rng)])
    loaded = Sequential.load(net.save(tmp_path / "custom"))
    assert type(loaded.layers[0]) is scale and loaded.layers[0].factor == 3.0
    x = rng.random((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))

    class LibraryChecksScale(Layer):  # another user class of that name (a script also imported as a module): latest
        pass

    assert registry["LibraryChecksScale"] is LibraryChecksScale


def test_the_unknown_layer_message_lists_buildable_layers_only(tmp_path):
    path = mlp([4, 3, 2], np.random.default_rng(0)).save(tmp_path / "m")
    _edit_meta(path, lambda meta: meta["architecture"][1].update(type="Sigmoidd"))
    with pytest.raises(ModelFileError, match="unknown layer type 'Sigmoidd'; known: ") as info:
        Sequential.load(path)
    known = str(info.value).split("known: ")[1]
    assert "'LSTM'" in known and "'MaxPool2D'" in known
    assert "'Recurrent'" not in known and "'_Pool2D'" not in known


# --- dtypes --------------------------------------------------------------------------------------------------------
def test_a_network_of_mixed_dtypes_is_named_and_each_layer_keeps_its_dtype_in_files(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match=re.escape("layers of mixed dtypes (0 Flatten float32, 1 Dense float64)")):
        net = Sequential([Flatten(), Dense(8, 3, rng, dtype=np.float64)])
    path = net.save(tmp_path / "mixed")
    meta = load_npz(path)[1]
    assert meta["dtype"] == "float64" and meta["layer_dtypes"] == ["float32", "float64"]
    with pytest.warns(UserWarning, match="mixed dtypes"):
        loaded = Sequential.load(path)
    assert [layer.dtype for layer in loaded.layers] == [np.float32, np.float64]
    x = rng.random((3, 8))
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one dtype: no warning, no layer_dtypes
        uniform = Sequential([Flatten(dtype=np.float64), Dense(8, 3, rng, dtype=np.float64)])
        meta = load_npz(uniform.save(tmp_path / "uniform"))[1]
        assert meta["dtype"] == "float64" and "layer_dtypes" not in meta
        assert Sequential.load(tmp_path / "uniform.npz").layers[0].dtype == np.float64


@pytest.mark.parametrize("bad", [["float32"], "float64", ["float32", "int32"]])
def test_malformed_layer_dtypes_are_a_model_file_error(tmp_path, bad):
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning):
        path = Sequential([Flatten(), Dense(8, 3, rng, dtype=np.float64)]).save(tmp_path / "mixed")
    _edit_meta(path, lambda meta: meta.update(layer_dtypes=bad))
    with pytest.raises(ModelFileError, match="layer_dtypes"):
        Sequential.load(path)


@pytest.mark.parametrize("flat_limit", [Optimizer.FLAT_LIMIT, 10])  # one flat vector / parameter by parameter
@pytest.mark.parametrize("make", [lambda net: Adam(net, lr=0.01), lambda net: Momentum(net, lr=0.1)])
def test_the_optimisers_state_follows_a_cast_of_the_network(monkeypatch, flat_limit, make):
    monkeypatch.setattr(Optimizer, "FLAT_LIMIT", flat_limit)
    x, y = _data(seed=1)
    cost = SoftmaxCrossEntropy()

    def step(net, opt, xb, yb):
        net.backward(cost.delta(net.forward(xb), yb))
        opt.step()

    net = mlp([4, 5, 3], np.random.default_rng(0))
    opt = make(net)
    for i in range(3):
        step(net, opt, x[4 * i : 4 * i + 4], y[4 * i : 4 * i + 4])
    twin = copy.deepcopy(net).astype(np.float64)  # a fresh optimiser given the state, in float64 from the start
    twin_opt = make(twin)
    twin_opt.load_state_dict(opt.state_dict())
    net.astype(np.float64)
    for i in range(3):
        step(net, opt, x[4 * i : 4 * i + 4], y[4 * i : 4 * i + 4])
        step(twin, twin_opt, x[4 * i : 4 * i + 4], y[4 * i : 4 * i + 4])
    for (name, p, _), (_, q, _) in zip(net.named_params(), twin.named_params(), strict=True):
        assert p.dtype == np.float64
        np.testing.assert_array_equal(p, q, err_msg=name)  # moments kept in float32 would round differently
    for key in opt.slot_keys:
        slots = opt.state[key]
        assert all(s.dtype == np.float64 for s in (slots.values() if isinstance(slots, dict) else [slots])), key


# --- float16 and the adaptive optimisers ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Adam, RMSprop])
def test_adam_and_rmsprop_refuse_float16_parameters_with_an_eps_float16_cannot_hold(cls):
    net = mlp([4, 5, 3], np.random.default_rng(0), dtype=np.float16)
    message = f"{cls.__name__} cannot update float16 parameters with eps=1e-08: float16 holds no positive number below"
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(net, lr=1e-3)
    x, y = _data()
    x[:, 0] = 0  # an input that never fires: v and ε there are 0 with eps=1e-8, and the step 0/0
    opt = cls(net, lr=1e-3, eps=1e-4)  # an ε float16 holds: finite steps
    net.backward(SoftmaxCrossEntropy().delta(net.forward(x), y))
    opt.step()
    assert all(np.isfinite(p).all() and p.dtype == np.float16 for _, p, _ in net.named_params())
    net = mlp([4, 5, 3], np.random.default_rng(0))
    opt = cls(net, lr=1e-3)
    net.astype(np.float16)
    x, y = _data()
    net.backward(SoftmaxCrossEntropy().delta(net.forward(x), y))
    with pytest.raises(ValueError, match="cannot update float16 parameters"):
        opt.step()


def test_sgd_still_steps_float16_parameters():
    net = mlp([4, 5, 3], np.random.default_rng(0), dtype=np.float16)
    x, y = _data()
    x[:, 0] = 0  # an input that never fires: Adam's ε and v underflowed to 0 there, and 0/0 gave NaN
    net.backward(SoftmaxCrossEntropy().delta(net.forward(x), y))
    SGD(net, lr=1e-3).step()
    assert all(np.isfinite(p).all() and p.dtype == np.float16 for _, p, _ in net.named_params())


# --- an inference forward between a training forward and its backward ----------------------------------------------
def _nets(rng: np.random.Generator) -> list[tuple[Sequential, np.ndarray]]:
    """One network per kind of layer, float64, and an input for it."""
    image = rng.random((5, 2, 6, 6))
    return [
        (Sequential([Dense(4, 6, rng), ReLU(), Dropout(0.5, rng), Dense(6, 3, rng)]).astype(np.float64), None),
        (Sequential([Dense(4, 6, rng), Sigmoid(), Tanh(), Softmax()]).astype(np.float64), None),
        (cnn("conv:3x3p1,maxpool:2,dropout:0.3,dense:5", (2, 6, 6), rng, n_out=3).astype(np.float64), image),
        (cnn("conv:3x3,l2pool:2,dense:5", (2, 6, 6), rng, n_out=3).astype(np.float64), image),
        (Sequential([LSTM(4, 5, rng, batch_first=True), Dense(5, 3, rng)]).astype(np.float64), None),
        (Sequential([RNN(4, 5, rng), Dense(5, 3, rng)]).astype(np.float64), None),
    ]


@pytest.mark.parametrize("index", range(6))
def test_an_inference_forward_keeps_every_layers_training_cache(index):
    rng = np.random.default_rng(0)
    net, x = _nets(rng)[index]
    if x is None:
        x = rng.random((5, 7, 4)) if isinstance(net.layers[0], LSTM | RNN) else rng.random((5, 4))
    state = [layer.rng.bit_generator.state for layer in net.layers if isinstance(layer, Dropout)]
    out = net.forward(x)
    dy = rng.standard_normal(out.shape)
    dx = net.backward(dy)
    grads = [g.copy() for _, _, g in net.named_params()]
    for layer, s in zip([la for la in net.layers if isinstance(la, Dropout)], state, strict=True):
        layer.rng.bit_generator.state = s  # the same masks again
    np.testing.assert_array_equal(net.forward(x), out)
    other = x[:2] if not isinstance(net.layers[0], RNN) else x[:, :2]
    net.predict(other)  # e.g. a validation prediction logged in the middle of a step
    np.testing.assert_array_equal(net.backward(dy), dx)
    for (name, _, g), before in zip(net.named_params(), grads, strict=True):
        np.testing.assert_array_equal(g, before, err_msg=name)


# --- initialisers and constructor values ----------------------------------------------------------------------------
def test_a_bad_w_init_names_the_accepted_initialisers(tmp_path):
    rng = np.random.default_rng(0)
    accepted = "expected one of ['glorot_uniform', 'he_normal', 'nielsen', 'orthogonal', 'standard_normal', 'zeros']"
    with pytest.raises(
        ValueError, match=re.escape(f"Dense w_init must be an initializer's name or a callable, got int 7; {accepted}")
    ):
        Dense(3, 4, rng, w_init=7)
    with pytest.raises(
        ValueError, match=re.escape("Conv2D b_init must be an initializer's name or a callable, got NoneType")
    ):
        Conv2D(1, 2, 3, rng, b_init=None)
    with pytest.raises(
        ValueError, match=re.escape("Dense w_init 'orthogonal:x': the gain after 'orthogonal:' must be")
    ):
        Dense(3, 4, rng, w_init="orthogonal:x")
    path = mlp([4, 3, 2], rng).save(tmp_path / "m")
    _edit_meta(path, lambda meta: meta["architecture"][0]["config"].update(w_init=7))
    with pytest.raises(ModelFileError, match=re.escape("architecture entry 0 (Dense): cannot build the layer")) as info:
        Sequential.load(path)
    assert "Dense w_init must be an initializer's name or a callable, got int 7" in str(info.value)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda rng: LSTM(3, 4, rng, batch_first="no"), "LSTM batch_first must be True or False, got str 'no'"),
        (lambda rng: RNN(3, 4, rng, batch_first=1), "RNN batch_first must be True or False, got int 1"),
        (lambda rng: LSTM(3, 4, rng, forget_bias=float("nan")), "LSTM forget_bias must be None or a finite number"),
        (lambda rng: LSTM(3, 4, rng, forget_bias="1.0"), "LSTM forget_bias must be None or a finite number, got str"),
        (lambda rng: LSTM(3, 4, rng, w_init=7), "LSTM w_init must be 'uniform' or 'orthogonal', got int 7"),
        (lambda rng: L2Pool2D(2, eps=-1.0), "L2Pool2D eps must be a finite number > 0, got float -1.0"),
        (lambda rng: L2Pool2D(2, eps=float("nan")), "L2Pool2D eps must be a finite number > 0, got float nan"),
        (lambda rng: L2Pool2D(2, eps=0.0), "L2Pool2D eps must be a finite number > 0, got float 0.0"),
        (lambda rng: MaxPool2D(True), "MaxPool2D size must be an int or a pair of ints, got bool True"),
        (lambda rng: MaxPool2D(2, stride=[1, False]), "MaxPool2D stride must be an int or a pair of ints"),
        (lambda rng: Conv2D(1, 2, True, rng), "Conv2D kernel_size must be an int or a pair of ints, got bool True"),
        (lambda rng: HuberCost(float("nan")), "HuberCost kappa must be a finite number > 0, got float nan"),
        (lambda rng: HuberCost("1"), "HuberCost kappa must be a finite number > 0, got str '1'"),
        (lambda rng: HuberCost(0.0), "HuberCost kappa must be a finite number > 0, got float 0.0"),
    ],
)
def test_constructor_values_are_checked(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build(np.random.default_rng(0))


def test_a_hand_edited_bool_or_number_in_a_file_is_a_model_file_error(tmp_path):
    rng = np.random.default_rng(0)
    net = Sequential([LSTM(4, 8, rng, batch_first=True), Dense(8, 2, rng)])
    path = net.save(tmp_path / "lstm")
    _edit_meta(path, lambda meta: meta["architecture"][0]["config"].update(batch_first="false"))
    with pytest.raises(ModelFileError, match="LSTM batch_first must be True or False, got str 'false'"):
        Sequential.load(path)
    path = net.save(tmp_path / "lstm")
    _edit_meta(path, lambda meta: meta["architecture"][0]["config"].update(forget_bias="nan"))
    with pytest.raises(ModelFileError, match="LSTM forget_bias must be None or a finite number, got str 'nan'"):
        Sequential.load(path)
    path = cnn("conv:2x3,l2pool:2,dense:4", (1, 8, 8), rng).save(tmp_path / "cnn")
    _edit_meta(path, lambda meta: [e["config"].update(eps=-5) for e in meta["architecture"] if e["type"] == "L2Pool2D"])
    with pytest.raises(ModelFileError, match=re.escape("(L2Pool2D): cannot build the layer from config")):
        Sequential.load(path)
    loaded = Sequential.load(net.save(tmp_path / "again"))  # the file as saved: True is a bool
    assert loaded.layers[0].batch_first is True


# --- empty batches and sequences ------------------------------------------------------------------------------------
def test_an_empty_batch_goes_through_flatten_and_a_cnn():
    assert Flatten().forward(np.zeros((0, 2, 3, 4))).shape == (0, 24)
    rng = np.random.default_rng(0)
    net = cnn("conv:2x3,pool:2,dense:4", (1, 8, 8), rng, n_out=3)
    out = net.predict(np.zeros((0, 1, 8, 8), np.float32))
    assert out.shape == (0, 3) and out.dtype == np.float32
    assert net.forward(np.zeros((0, 1, 8, 8), np.float32)).shape == (0, 3)
    assert net.backward(np.zeros((0, 3), np.float32)).shape == (0, 1, 8, 8)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cls", [LSTM, RNN])
def test_a_sequence_of_no_steps_is_refused(cls, batch_first):
    layer = cls(3, 4, np.random.default_rng(0), batch_first=batch_first)
    x = np.zeros((2, 0, 3) if batch_first else (0, 2, 3))
    message = f"{cls.__name__}(3->4) expected sequences of at least one step, got input x of shape {x.shape} (T = 0)"
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.forward(x)
    assert layer.forward(np.zeros((2, 1, 3))).shape[-1] == 4  # one step is fine


# --- optimiser states ----------------------------------------------------------------------------------------------
def test_loading_an_optimiser_state_names_what_does_not_fit():
    net = mlp([8, 5, 3], np.random.default_rng(0))
    adam = Adam(net)
    x, y = _data(d=8)
    net.backward(SoftmaxCrossEntropy().delta(net.forward(x), y))
    adam.step()
    state = adam.state_dict()
    with pytest.raises(
        ValueError, match=re.escape("Adam.load_state_dict: the state lacks the entries 't', 'lr', 'slots'")
    ):
        adam.load_state_dict({})
    with pytest.raises(ValueError, match=re.escape("the state lacks the entry 'slots' (a state_dict() has")):
        adam.load_state_dict({"t": 1, "lr": 0.1})
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Momentum.load_state_dict: the state has slots ['m', 'v'], but Momentum keeps ['v'] (not ['m'])"
        ),
    ):
        Momentum(net, lr=0.1).load_state_dict(state)
    bad = copy.deepcopy(state)
    bad["slots"]["9.W"] = {"m": np.zeros((5, 8))}
    message = "slots of parameters this optimizer does not have: ['9.W'] (its parameters: ['0.W', '0.b', '2.W', '2.b'])"
    with pytest.raises(ValueError, match=re.escape(message)):
        adam.load_state_dict(bad)
    bad = copy.deepcopy(state)
    bad["slots"]["0.W"]["m"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=re.escape("slot 0.W/m has shape (3, 3), but parameter 0.W has (5, 8)")):
        adam.load_state_dict(bad)
    for key, value in (("t", -1), ("t", 1.5), ("lr", float("nan")), ("lr", "0.1")):
        with pytest.raises(ValueError, match=f"'{key}' must be"):
            adam.load_state_dict({**state, key: value})
    adam.load_state_dict(state)  # what state_dict gave loads, and so does a 0-d array step count (an agent file's)
    adam.load_state_dict({**state, "t": np.array(1, np.int64)})
    assert adam.t == 1


def test_a_stacked_optimisers_member_state_names_what_does_not_fit():
    source = Dense(3, 2, np.random.default_rng(0))
    source.params = {k: np.stack([v, v]) for k, v in source.params.items()}  # two members stacked on axis 0
    source._init_grads()
    stacked = StackedOptimizer(Adam(source, lr=0.01), 2)
    member = {"t": 1, "lr": 0.01, "slots": {"W": {"v": np.zeros((2, 3)), "s": np.zeros((2, 3))}}}
    with pytest.raises(
        ValueError,
        match=re.escape("the state has slots ['s', 'v'], but StackedOptimizer(Adam) keeps ['m', 'v'] (not ['s'])"),
    ):
        stacked.load_member_state_dict(0, member)
    member["slots"]["W"] = {"m": np.zeros((3, 2))}
    with pytest.raises(ValueError, match=re.escape("slot W/m has shape (3, 2), but parameter W has (2, 3)")):
        stacked.load_member_state_dict(0, member)


# --- fit's schedule, random_shifts, RBM inputs, with_dropout, mlp's input shape -------------------------------------
def test_fit_sets_the_optimisers_learning_rate_back_after_a_schedule():
    x, y = _data()
    rng = np.random.default_rng(0)
    net = mlp([4, 5, 3], rng)
    opt = SGD(net, lr=0.3)
    seen = []
    fit(
        net,
        SoftmaxCrossEntropy(),
        opt,
        x,
        y,
        epochs=2,
        batch_size=4,
        rng=rng,
        lr_schedule="lin_0.1",
        on_epoch=lambda e, h: seen.append(opt.lr),
    )
    assert seen[0] == pytest.approx(0.1 * 4 / 6) and seen[-1] == pytest.approx(0.1 / 6)  # the schedule ran
    assert opt.lr == 0.3
    with pytest.raises(ValueError, match="lr_schedule gave learning rate"):
        fit(net, SoftmaxCrossEntropy(), opt, x, y, epochs=1, batch_size=4, rng=rng, lr_schedule=lambda p: -1.0)
    assert opt.lr == 0.3  # also after a run that failed


def test_random_shifts_checks_its_arguments_and_keeps_the_inputs_shape():
    rng = np.random.default_rng(0)
    images = rng.random((4, 28, 28)).astype(np.float32)
    flat = random_shifts(images.reshape(4, 784), np.random.default_rng(1), 2)
    for shape in ((4, 28, 28), (4, 1, 28, 28)):
        out = random_shifts(images.reshape(shape), np.random.default_rng(1), 2)
        assert out.shape == shape and out.dtype == np.float32
        np.testing.assert_array_equal(out.reshape(4, 784), flat)
    for args, message in (
        ((images, 0, 1), "random_shifts rng must be a np.random.Generator"),
        ((images, rng, -1), "random_shifts max_shift must be an integer >= 0, got int -1"),
        ((images, rng, 1.5), "random_shifts max_shift must be an integer >= 0, got float 1.5"),
        ((images[:, :20], rng, 1), "random_shifts expected one 28x28 image per example"),
        ((images.reshape(4, 2, 392), rng, 1), "random_shifts expected one 28x28 image per example"),
        ((images[0, 0], rng, 1), "random_shifts expected one 28x28 image per example"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            random_shifts(*args)


def test_rbm_conditionals_check_their_inputs():
    rng = np.random.default_rng(0)
    rbm = RBM(6, 3, rng)
    v = rng.random((2, 6))
    with pytest.raises(ValueError, match=re.escape("expected visible data of shape (N, 6), got (6,)")):
        rbm.hidden_probs(v[0])
    with pytest.raises(ValueError, match=re.escape("expected visible data of shape (N, 6), got (2, 5)")):
        rbm.sample_hidden(v[:, :5], rng)
    with pytest.raises(ValueError, match="sample_hidden rng must be a np.random.Generator"):
        rbm.sample_hidden(v, 0)
    with pytest.raises(ValueError, match=re.escape("expected hidden states of shape (N, 3), got (2, 4)")):
        rbm.visible_mean(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="sample_visible rng must be a np.random.Generator"):
        rbm.sample_visible(np.zeros((2, 3)), None)
    assert rbm.sample_hidden(v, rng).shape == (2, 3) and rbm.hidden_probs(v).shape == (2, 3)


#: A two-layer sigmoid network with Dropout before each Dense (with_dropout's layers)
TWO_DROPOUT_SIGMOID_LAYERS = ["Dropout", "Dense", "Sigmoid", "Dropout", "Dense", "Sigmoid"]


def test_with_dropout_puts_none_after_the_output_layer():
    rng = np.random.default_rng(0)
    base = mlp([4, 3, 2], rng, output_activation="sigmoid")
    wrapped = with_dropout(base, 0.2, 0.5, rng)
    assert [type(layer).__name__ for layer in wrapped.layers] == TWO_DROPOUT_SIGMOID_LAYERS
    assert wrapped.layers[1] is base.layers[0] and wrapped.input_shape == (4,)  # its layers are net's (documented)
    out = wrapped.forward(np.ones((50, 4), np.float32))
    assert ((out > 0) & (out < 1)).all()  # sigmoid outputs, never zeroed or scaled past 1
    with pytest.raises(ValueError, match="with_dropout p_hidden must be a number 0 <= p < 1, got str '0.5'"):
        with_dropout(base, 0.2, "0.5", rng)


def test_with_dropout_on_a_dbn_trunk_and_its_head():
    """A DBN's network ends in its top features: with the head put on first, those get their Dropout too."""
    rng = np.random.default_rng(0)
    dbn = DBN([6, 4, 3], rng)
    trunk = dbn.to_network()
    assert trunk.input_shape == (6,)
    alone = with_dropout(trunk, 0.2, 0.5, rng)
    assert [type(layer).__name__ for layer in alone.layers] == TWO_DROPOUT_SIGMOID_LAYERS
    head = with_dropout(Sequential([*trunk.layers, Dense(3, 10, rng)], input_shape=trunk.input_shape), 0.2, 0.5, rng)
    kinds = [type(layer).__name__ for layer in head.layers]
    assert kinds == ["Dropout", "Dense", "Sigmoid", "Dropout", "Dense", "Sigmoid", "Dropout", "Dense"]


def test_the_agents_own_views_of_a_float64_network_give_no_mixed_dtype_warning():
    import warnings

    from agents import DQN, PPO

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the views joining it to float32 heads are the agent's
        PPO("CartPole-v1", net={"trunk": mlp([4, 64], rng, "tanh", dtype=np.float64)}, n_steps=16, batch_size=16)
        DQN("CartPole-v1", net={"trunk": mlp([4, 64], rng, "relu", dtype=np.float64)})
    with pytest.warns(UserWarning, match="Sequential: layers of mixed dtypes"):  # a user's own network still warns
        Sequential([Dense(4, 3, rng, dtype=np.float64), Dense(3, 2, rng)])
