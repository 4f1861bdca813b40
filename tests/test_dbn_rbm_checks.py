"""DBN, RBM, CDConfig and CDTrainer refuse bad arguments where they are passed, with a ValueError naming the
argument, what it must be and what came (sizes as integers, as ``mlp`` and ``Dense`` take them)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from nngym.dbn import DBN
from nngym.rbm import RBM, CDConfig, CDTrainer
from nngym.serialization import ModelFileError, load_npz, save_npz


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _raises(message: str):
    return pytest.raises(ValueError, match=re.escape(message))


SIZES = (
    "DBN needs at least two positive layer sizes, a list of integers >= 1 with the visible layer first "
    "(e.g. [784, 500]), got"
)


@pytest.mark.parametrize(
    ("sizes", "shown"),
    [
        ("784", "str '784'"),  # read as [7, 8, 4] before
        ([784.7, 100.2], "list [784.7, 100.2]"),  # truncated to [784, 100] before
        ([784.0, 100], "list [784.0, 100]"),  # floats are no sizes, as in mlp
        ([784, True], "list [784, True]"),
        ([784, 0], "list [784, 0]"),
        ([784], "list [784]"),
        (784, "int 784"),
    ],
)
def test_dbn_sizes_must_be_integers(rng, sizes, shown):
    with _raises(f"{SIZES} {shown}"):
        DBN(sizes, rng)


def test_dbn_takes_numpy_integers_as_sizes(rng):
    dbn = DBN(np.array([8, 4, 3]), rng)
    assert dbn.sizes == [8, 4, 3] and all(type(n) is int for n in dbn.sizes)
    assert [(r.n_visible, r.n_hidden) for r in dbn.rbms] == [(8, 4), (4, 3)]
    assert DBN([np.int64(8), 4], rng).sizes == [8, 4]


def test_dbn_constructor_arguments(rng):
    with _raises("DBN n_labels must be 0 (no top RBM) or an integer >= 2 (the classes), got NoneType None"):
        DBN([8, 4], rng, n_labels=None, n_top=5)  # TypeError before
    with _raises("DBN n_labels must be 0 (no top RBM) or an integer >= 2 (the classes), got float 3.0"):
        DBN([8, 4], rng, n_labels=3.0, n_top=5)
    with _raises("DBN n_labels must be 0 (no top RBM) or an integer >= 2 (the classes), got int 1"):
        DBN([8, 4], rng, n_labels=1, n_top=5)
    with _raises("DBN n_top (0: no top RBM) must be an integer >= 0, got float 5.5"):
        DBN([8, 4], rng, n_labels=3, n_top=5.5)
    with _raises("DBN rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got int 0"):
        DBN([8, 4], 0)
    with _raises("DBN visible must be one of ('bernoulli', 'gaussian'), got 'binary'"):
        DBN([8, 4], rng, visible="binary")
    with _raises("DBN dtype must be a floating dtype (float16, float32, float64), got int64"):
        DBN([8, 4], rng, dtype=np.int64)


def test_dbn_labels_must_be_integers_in_range(rng):
    dbn = DBN([8, 4], rng, n_labels=3, n_top=5)
    x = np.zeros((2, 8))
    expected = "labels must be integers in [0, 3) of shape (2,), got"
    with _raises(f"{expected} float64 labels of shape (2,)"):
        dbn.labelled_features(x, np.array([0.0, 2.0]))  # IndexError before
    with _raises(f"{expected} values from 0 to 3"):
        dbn.labelled_features(x, [0, 3])
    with _raises(f"{expected} labels of shape (3,)"):
        dbn.pretrain_top(x, np.array([0, 1, 2]), CDConfig(epochs=1), rng)
    with _raises(f"{expected} bool labels of shape (2,)"):
        dbn.labelled_features(x, np.array([True, False]))
    features = dbn.labelled_features(x, np.array([2, 0], np.uint8))
    np.testing.assert_array_equal(features[:, 4:], [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(features[:, :4], np.full((2, 4), 0.5))  # σ(0): zero-initial biases, x = 0
    generate = "labels must be integers in [0, 3) of shape (N,), N >= 1, got"
    with _raises(f"{generate} float64 labels of shape (2,)"):
        dbn.generate(np.array([1.0, 2.0]), rng)  # IndexError before
    with _raises(f"{generate} labels of shape (0,)"):
        dbn.generate(np.array([], np.int64), rng)
    with _raises(f"{generate} values from -1 to 1"):
        dbn.generate([-1, 1], rng)


def test_dbn_generate_and_passes_check_their_arguments(rng):
    dbn = DBN([8, 4], rng, n_labels=3, n_top=5)
    with _raises("generate n_gibbs must be an integer >= 0, got float 2.5"):
        dbn.generate([0, 1], rng, n_gibbs=2.5)
    with _raises("generate rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got int 1"):
        dbn.generate([0, 1], 1)
    with _raises("generate start must have shape (2, 4), got (2, 3)"):
        dbn.generate([0, 1], rng, start=np.zeros((2, 3)))
    with _raises("generate start must be binary units' values in [0, 1], got values from 0 to 2"):
        dbn.generate([0, 1], rng, start=np.array([[0, 0, 0, 2], [0, 0, 0, 0]]))
    start = np.full((2, 4), 0.5)
    out = dbn.generate([0, 1], np.random.default_rng(1), n_gibbs=0, start=start)  # no Gibbs step: one up-down
    visible = np.hstack([start, np.eye(3)[[0, 1]]]).astype(np.float32)
    np.testing.assert_array_equal(out, dbn.down(dbn.top.visible_mean(dbn.top.hidden_probs(visible))[:, :4]))
    with _raises("up n_layers must be None (all) or an integer in [0, 1], got int 2"):
        dbn.up(np.zeros((1, 8)), n_layers=2)
    with _raises("up n_layers must be None (all) or an integer in [0, 1], got int -1"):
        dbn.up(np.zeros((1, 8)), n_layers=-1)
    np.testing.assert_array_equal(dbn.up(np.ones((1, 8)), n_layers=0), np.ones((1, 8)))
    with _raises("down features must have shape (N, 4), got (1, 8)"):
        dbn.down(np.zeros((1, 8)))
    with _raises("down features must be real numbers of shape (N, 4), got an array of dtype <U1"):
        dbn.down([["a"] * 4])


def test_dbn_pretrain_checks_configs_rng_and_log(rng):
    dbn = DBN([8, 4, 3], rng, n_labels=3, n_top=5)
    x = np.zeros((4, 8))
    with _raises("pretrain needs one CDConfig or a list of 2 (one per RBM), got dict {'k': 1}"):
        dbn.pretrain(x, {"k": 1}, rng)  # type: ignore[arg-type]
    with _raises("pretrain rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got NoneType None"):
        dbn.pretrain(x, CDConfig(epochs=1), None)  # type: ignore[arg-type]
    with _raises("log must be None or a function of (layer, history entry), got str 'print'"):
        dbn.pretrain(x, CDConfig(epochs=1), rng, log="print")  # type: ignore[arg-type]
    with _raises("pretrain_top config must be a CDConfig, got dict {'epochs': 1}"):
        dbn.pretrain_top(x, [0, 1, 2, 0], {"epochs": 1}, rng)  # type: ignore[arg-type]
    with _raises("RBM(8->4, bernoulli) expected visible data of real numbers, got an array of dtype object"):
        dbn.pretrain(np.array([[None] * 8]), CDConfig(epochs=1), rng)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("k", 1.5, "CDConfig k must be an integer >= 1, got float 1.5"),  # TypeError in range() before
        ("k", 0, "CDConfig k must be an integer >= 1, got int 0"),
        ("batch_size", 10.5, "CDConfig batch_size must be an integer >= 1, got float 10.5"),  # TypeError before
        ("batch_size", 100.0, "CDConfig batch_size must be an integer >= 1, got float 100.0"),
        ("epochs", 0, "CDConfig epochs must be an integer >= 1, got int 0"),
        ("n_chains", True, "CDConfig n_chains must be an integer >= 1, got bool True"),
        ("momentum_epochs", -1, "CDConfig momentum_epochs must be an integer >= 0, got int -1"),
        ("persistent", "false", "CDConfig persistent must be a bool, got str 'false'"),
        ("lr", -0.1, "CDConfig lr must be a finite number >= 0, got float -0.1"),
        ("lr", float("nan"), "CDConfig lr must be a finite number >= 0, got float nan"),
        ("lr", "0.1", "CDConfig lr must be a finite number >= 0, got str '0.1'"),
        ("lr_final", -1.0, "CDConfig lr_final (None for a constant rate) must be a finite number >= 0, got float -1.0"),
        ("weight_decay", None, "CDConfig weight_decay must be a finite number >= 0, got NoneType None"),
        ("momentum", 1.5, "CDConfig momentum must be a number in [0, 1], got float 1.5"),
        ("final_momentum", "0.9", "CDConfig final_momentum must be a number in [0, 1], got str '0.9'"),
    ],
)
def test_cd_config_fields_are_checked(rng, field, value, message):
    with _raises(message):
        CDConfig(**{field: value})
    config = CDConfig()
    setattr(config, field, value)  # a field set after the config was made is checked when training starts
    with _raises(message):
        CDTrainer(RBM(4, 3, rng), config, rng)
    with _raises(message):
        replace(CDConfig(), **{field: value})


def test_cd_config_keeps_good_values():
    config = CDConfig(k=np.int64(3), lr=1, lr_final=0, momentum=np.float32(0.5), persistent=np.bool_(True))
    assert (config.k, config.lr, config.lr_final, config.momentum) == (3, 1, 0, 0.5)


def test_rbm_and_trainer_arguments(rng):
    with _raises("RBM needs integers n_visible >= 1 and n_hidden >= 1, got float 784.0, int 3"):
        RBM(784.0, 3, rng)
    with _raises("RBM w_std must be a finite number >= 0, got float -0.01"):
        RBM(4, 3, rng, w_std=-0.01)
    with _raises("RBM n_softmax must be 0 or an integer in [2, n_visible=4] with Bernoulli units, got float 2.5"):
        RBM(4, 3, rng, n_softmax=2.5)  # truncated to 2 before
    with _raises("RBM n_softmax must be 0 or an integer in [2, n_visible=4] with Bernoulli units, got NoneType None"):
        RBM(4, 3, rng, n_softmax=None)
    rbm = RBM(4, 3, rng)
    with _raises("CDTrainer trains an RBM, got str 'rbm'"):
        CDTrainer("rbm", CDConfig(), rng)  # type: ignore[arg-type]
    with _raises("CDTrainer config must be a CDConfig, got dict {}"):
        CDTrainer(rbm, {}, rng)  # type: ignore[arg-type]
    with _raises("CDTrainer rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got int 0"):
        CDTrainer(rbm, CDConfig(), 0)  # type: ignore[arg-type]
    trainer = CDTrainer(rbm, CDConfig(epochs=2, batch_size=2), rng)
    x = np.array([[0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0, 0]], np.float64)
    with _raises("CDTrainer.train epochs (None for the rest of config.epochs) must be an integer >= 0, got float 1.5"):
        trainer.train(x, epochs=1.5)
    with _raises("CDTrainer.train needs at least one example in x and in monitor, got shapes (0, 4), (0, 4)"):
        trainer.train(x[:0])
    with _raises("RBM(4->3, bernoulli) expected visible data of real numbers, got an array of dtype complex128"):
        trainer.train(x + 0j)
    assert trainer.epoch == 0 and not trainer.history  # nothing trained by the refused calls
    assert [h["epoch"] for h in trainer.train(x.astype(bool), epochs=1)] == [1]  # bools are 0/1 data
    with _raises("gibbs k must be an integer >= 0, got float 1.5"):
        rbm.gibbs(x, 1.5, rng)
    with _raises("gibbs rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got int 3"):
        rbm.gibbs(x, 1, 3)  # type: ignore[arg-type]
    np.testing.assert_array_equal(rbm.gibbs(x, 0, rng), x)
    with _raises("CD k (Gibbs steps) must be an integer >= 1, got float 1.5"):
        rbm.contrastive_divergence(x, 1.5, rng)
    with _raises("pseudo_log_likelihood rng (None for the exact sum) must be a np.random.Generator"):
        rbm.pseudo_log_likelihood(x, rng=0)  # type: ignore[arg-type]


def test_model_files_with_bad_metadata_are_model_file_errors(rng, tmp_path):
    path = DBN([8, 4], rng).save(tmp_path / "dbn")
    arrays, meta = load_npz(path)
    save_npz(path, arrays, {**meta, "sizes": "84"})
    with pytest.raises(ModelFileError, match=re.escape(f"{path}: metadata does not describe a DBN ({SIZES} str '84')")):
        DBN.load(path)
    trainer_path = CDTrainer(RBM(4, 3, rng), CDConfig(), rng).save(tmp_path / "trainer")
    arrays, meta = load_npz(trainer_path)
    save_npz(trainer_path, arrays, {**meta, "cd_config": {**meta["cd_config"], "k": 1.5}})
    with pytest.raises(ModelFileError, match=re.escape("is not a valid CDConfig: CDConfig k must be an integer >= 1")):
        CDTrainer.load(trainer_path)
    rbm_path = RBM(4, 3, rng).save(tmp_path / "rbm")
    arrays, meta = load_npz(rbm_path)
    save_npz(rbm_path, arrays, {**meta, "n_hidden": 3.0})
    with pytest.raises(ModelFileError, match=re.escape("metadata does not describe an RBM (RBM needs integers")):
        RBM.load(rbm_path)
