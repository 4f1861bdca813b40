"""DBN: greedy stacking, conversion to a Sequential, label-clamped generation, checkpoints, files."""

import numpy as np
import pytest

from nngym.dbn import DBN
from nngym.network import Sequential
from nngym.rbm import CDConfig
from nngym.serialization import ModelFileError

PROTOS = np.array([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], dtype=float)


def toy_data(n=600, seed=0):
    """Three 8-pixel prototypes with 5% flipped bits; labels are the prototype index."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = PROTOS[labels]
    return np.where(rng.random(x.shape) < 0.05, 1 - x, x), labels


def trained_dbn(seed=0, epochs=15):
    x, labels = toy_data()
    rng = np.random.default_rng(seed)
    dbn = DBN([8, 12, 10], rng, n_labels=3, n_top=16, dtype=np.float64)
    dbn.pretrain(x, CDConfig(lr=0.1, epochs=epochs, batch_size=20), rng)
    dbn.pretrain_top(x, labels, CDConfig(lr=0.05, epochs=epochs, batch_size=20), rng)
    return dbn, x, labels


def test_to_network_equals_upward_mean_field_pass():
    dbn, x, _ = trained_dbn(epochs=3)
    net = dbn.to_network()
    assert isinstance(net, Sequential)
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Sigmoid", "Dense", "Sigmoid"]
    np.testing.assert_allclose(net.predict(x), dbn.up(x), rtol=1e-12, atol=1e-12)
    # by hand: σ(W2 σ(W1 x + b1) + b2)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    r0, r1 = dbn.rbms
    expected = sig(sig(x @ r0.params["W"].T + r0.params["b"]) @ r1.params["W"].T + r1.params["b"])
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-10)
    net.layers[0].params["W"] += 1.0  # the network holds copies, not views
    assert not np.allclose(net.layers[0].params["W"], r0.params["W"])


@pytest.mark.slow
def test_greedy_layers_learn_and_top_rbm_knows_the_labels():
    dbn, x, labels = trained_dbn()
    first = dbn.rbms[0]
    untrained = DBN([8, 12, 10], np.random.default_rng(0), dtype=np.float64).rbms[0]
    # seeds 0-4 x 3 OpenBLAS kernels: error ratio max 0.20, median 0.17; labels right min 98.7%, median 99.0%
    # (chance: 33%)
    assert first.reconstruction_error(x) < 0.5 * untrained.reconstruction_error(x)
    assert (dbn.classify_top(x) == labels).mean() > 0.95


@pytest.mark.slow
def test_clamped_label_generates_that_class():
    dbn, _, _ = trained_dbn()
    labels = np.repeat(np.arange(3), 100)
    samples = dbn.generate(labels, np.random.default_rng(1), n_gibbs=200)
    assert samples.shape == (300, 8) and samples.min() >= 0 and samples.max() <= 1
    nearest = np.argmin(((samples[:, None, :] - PROTOS[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == labels).mean() > 0.9  # seeds 0-4 x 3 OpenBLAS kernels: min 96.3%, median 99.0%; chance 33%
    again = dbn.generate(labels, np.random.default_rng(1), n_gibbs=200)
    np.testing.assert_array_equal(samples, again)


def test_seeded_pretraining_is_reproducible_and_resumes_after_interruption(tmp_path):
    x, _ = toy_data()
    cfg = CDConfig(persistent=True, n_chains=20, lr=0.1, lr_final=0.01, epochs=3, batch_size=50)
    straight = DBN([8, 6, 5], np.random.default_rng(3))
    straight.pretrain(x, cfg, np.random.default_rng(3))
    same = DBN([8, 6, 5], np.random.default_rng(3))
    same.pretrain(x, cfg, np.random.default_rng(3))

    def interrupt(layer, entry):
        if layer == 1 and entry["epoch"] == 1:
            raise KeyboardInterrupt

    first = DBN([8, 6, 5], np.random.default_rng(3))
    with pytest.raises(KeyboardInterrupt):
        first.pretrain(x, cfg, np.random.default_rng(3), checkpoint_dir=tmp_path, log=interrupt)
    resumed = DBN([8, 6, 5], np.random.default_rng(3))
    histories = resumed.pretrain(x, cfg, np.random.default_rng(3), checkpoint_dir=tmp_path)
    assert [len(h) for h in histories] == [3, 3]
    for a, b, c in zip(straight.rbms, same.rbms, resumed.rbms, strict=True):
        for k in ("W", "a", "b"):
            np.testing.assert_array_equal(a.params[k], b.params[k])
            np.testing.assert_array_equal(a.params[k], c.params[k])
    with pytest.raises(ModelFileError, match="expected RBM"):
        DBN([8, 7, 5], np.random.default_rng(3)).pretrain(x, cfg, np.random.default_rng(3), checkpoint_dir=tmp_path)


def test_save_load_roundtrip(tmp_path):
    dbn, x, _ = trained_dbn(epochs=2)
    loaded = DBN.load(dbn.save(tmp_path / "dbn"))
    assert loaded.config() == dbn.config()
    np.testing.assert_array_equal(loaded.up(x), dbn.up(x))
    np.testing.assert_array_equal(loaded.top.params["W"], dbn.top.params["W"])
    with pytest.raises(ModelFileError, match="expected 'nngym.DBN'"):
        DBN.load(dbn.rbms[0].save(tmp_path / "rbm"))


def test_bad_arguments_raise_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least two positive layer sizes"):
        DBN([784], rng)
    with pytest.raises(ValueError, match="n_labels and n_top go together"):
        DBN([8, 4], rng, n_labels=3)
    dbn = DBN([8, 4], rng, n_labels=3, n_top=5)
    with pytest.raises(ValueError, match=r"shape \(N, 8\), got \(2, 7\)"):
        dbn.up(np.zeros((2, 7)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dbn.pretrain(np.full((4, 8), 255.0), CDConfig(epochs=1), rng)
    with pytest.raises(ValueError, match=r"labels must be .* in \[0, 3\)"):
        dbn.generate(np.array([0, 3]), rng)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 3\)"):
        dbn.pretrain_top(np.zeros((2, 8)), np.array([0, 5]), CDConfig(epochs=1), rng)
    with pytest.raises(ValueError, match="one CDConfig or 1"):
        dbn.pretrain(np.zeros((2, 8)), [CDConfig(), CDConfig()], rng)
    with pytest.raises(ValueError, match="no label-joined top RBM"):
        DBN([8, 4], rng).generate(np.array([0]), rng)
