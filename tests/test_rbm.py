"""RBM: CD statistics by hand, exact likelihoods by enumeration, training, checkpoints, input checks."""

import itertools

import numpy as np
import pytest

from nngym.optim import SGD
from nngym.rbm import RBM, CDConfig, CDTrainer
from nngym.serialization import ModelFileError


def states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def random_rbm(n_visible, n_hidden, seed=0, visible="bernoulli", scale=1.0):
    rng = np.random.default_rng(seed)
    rbm = RBM(n_visible, n_hidden, rng, visible=visible, dtype=np.float64)
    rbm.params["W"][...] = scale * rng.standard_normal((n_hidden, n_visible))
    rbm.params["a"][...] = 0.5 * rng.standard_normal(n_visible)
    rbm.params["b"][...] = 0.5 * rng.standard_normal(n_hidden)
    return rbm


def prototype_data(n=400, seed=1):
    """Binary 6-pixel data from two noisy prototypes: structure an RBM can learn."""
    rng = np.random.default_rng(seed)
    protos = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1]], dtype=float)
    x = protos[rng.integers(0, 2, n)]
    flip = rng.random(x.shape) < 0.05
    return np.where(flip, 1 - x, x)


def brute_log_z(rbm):
    """log Σ_v Σ_h e^{−E(v,h)} over every joint state (Bernoulli)."""
    v, h = states(rbm.n_visible), states(rbm.n_hidden)
    vv = np.repeat(v, len(h), axis=0)
    hh = np.tile(h, (len(v), 1))
    neg_e = -rbm.energy(vv, hh)
    return np.log(np.exp(neg_e - neg_e.max()).sum()) + neg_e.max()


# --- CD statistics --------------------------------------------------------------------------
def test_cd1_update_equals_hand_computed_statistics():
    # W = [[ln 3, 0]] so p(h=1 | v=(1,0)) = σ(ln 3) = 3/4 and p(h=1 | v=(0,1)) = σ(0) = 1/2.
    rbm = RBM(2, 1, np.random.default_rng(0), dtype=np.float64)
    rbm.params["W"][...] = [[np.log(3.0), 0.0]]
    v_data, v_model = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    grads = rbm.statistics_gradient(v_data, v_model)
    # ⟨v h⟩_data = (3/4, 0), ⟨v h⟩_model = (0, 1/2); the stored gradient is for minimisation (sign flipped)
    np.testing.assert_allclose(grads["W"], -np.array([[0.75, -0.5]]))
    np.testing.assert_allclose(grads["a"], -np.array([1.0, -1.0]))
    np.testing.assert_allclose(grads["b"], -np.array([0.25]))
    # one SGD step with η = 0.1 moves W by +η (⟨v h⟩_data − ⟨v h⟩_model)
    SGD(rbm, lr=0.1).step()
    np.testing.assert_allclose(rbm.params["W"], [[np.log(3.0) + 0.075, -0.05]])


def test_contrastive_divergence_uses_its_own_gibbs_sample():
    rbm = random_rbm(4, 3)
    v0 = np.array([[1.0, 0, 1, 0], [0, 1, 1, 1]])
    v1 = rbm.contrastive_divergence(v0, 1, np.random.default_rng(5))
    # replay the chain: h0 ~ p(h|v0), v1 ~ p(v|h0), drawn in that order from the same stream
    rng = np.random.default_rng(5)
    h0 = (rng.random((2, 3), dtype=np.float32) < rbm.hidden_probs(v0)).astype(float)
    np.testing.assert_array_equal(v1, (rng.random((2, 4), dtype=np.float32) < rbm.visible_mean(h0)).astype(float))
    ph0, ph1 = rbm.hidden_probs(v0), rbm.hidden_probs(v1)
    np.testing.assert_allclose(rbm.grads["W"], -(ph0.T @ v0 - ph1.T @ v1) / 2)
    with pytest.raises(ValueError, match=r"CD k \(Gibbs steps\) must be an integer >= 1, got int 0"):
        rbm.contrastive_divergence(v0, 0, rng)


# --- exact quantities by enumeration ---------------------------------------------------------
@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_matches_enumeration_over_h(visible):
    rbm = random_rbm(5, 4, visible=visible)
    v = (
        np.random.default_rng(2).random((7, 5))
        if visible == "bernoulli"
        else np.random.default_rng(2).normal(size=(7, 5))
    )
    h = states(4)
    neg_e = np.stack([-rbm.energy(np.repeat(row[None], len(h), 0), h) for row in v])  # (7, 16)
    np.testing.assert_allclose(rbm.free_energy(v), -np.log(np.exp(neg_e).sum(axis=1)), rtol=1e-10)


@pytest.mark.parametrize(("n_visible", "n_hidden"), [(4, 3), (3, 5), (20, 3), (3, 20)])
def test_log_partition_matches_brute_force(n_visible, n_hidden):
    rbm = random_rbm(n_visible, n_hidden)
    if n_visible * n_hidden <= 20:
        assert rbm.log_partition() == pytest.approx(brute_log_z(rbm), rel=1e-10)
    # enumerating either side gives the same Z (the RBM's transpose has the same partition function)
    t = RBM(n_hidden, n_visible, np.random.default_rng(0), dtype=np.float64)
    t.params = {"W": rbm.params["W"].T.copy(), "a": rbm.params["b"].copy(), "b": rbm.params["a"].copy()}
    assert rbm.log_partition() == pytest.approx(t.log_partition(), rel=1e-10)


def test_gaussian_log_partition_matches_numerical_integral():
    rbm = random_rbm(1, 2, visible="gaussian")
    grid = np.linspace(-30, 30, 200_001)[:, None]
    z = np.trapezoid(np.exp(-rbm.free_energy(grid)), grid[:, 0])
    assert rbm.log_partition() == pytest.approx(np.log(z), rel=1e-8)


@pytest.mark.parametrize(("n_visible", "n_hidden"), [(5, 3), (5, 7)])
def test_softmax_group_partition_and_sampling(n_visible, n_hidden):
    rng = np.random.default_rng(0)
    rbm = RBM(n_visible, n_hidden, rng, n_softmax=3, dtype=np.float64)
    for p in rbm.params.values():
        p[...] = rng.standard_normal(p.shape)
    # brute force over the allowed joint states: 2 binary units × one of 3 group units, every h
    v = np.array([[*bits, *onehot] for bits in states(2) for onehot in np.eye(3)])
    h = states(n_hidden)
    neg_e = -rbm.energy(np.repeat(v, len(h), axis=0), np.tile(h, (len(v), 1)))
    assert rbm.log_partition() == pytest.approx(np.log(np.exp(neg_e).sum()), rel=1e-10)
    assert np.exp(-rbm.free_energy(v) - rbm.log_partition()).sum() == pytest.approx(1.0, rel=1e-10)
    # group draws are one-hot with softmax frequencies; the binary units stay independent Bernoulli
    hs = np.tile(h[[5]], (20000, 1))
    samples = rbm.sample_visible(hs, np.random.default_rng(1))
    np.testing.assert_array_equal(samples[:, 2:].sum(axis=1), 1)
    np.testing.assert_allclose(samples.mean(axis=0), rbm.visible_mean(h[[5]])[0], atol=0.015)
    np.testing.assert_allclose(rbm.visible_mean(h[[5]])[0, 2:].sum(), 1.0)
    with pytest.raises(ValueError, match="n_softmax must be 0 or an integer in"):
        RBM(4, 3, rng, n_softmax=1)
    with pytest.raises(ValueError, match="n_softmax must be 0 or an integer in"):
        RBM(4, 3, rng, visible="gaussian", n_softmax=2)


def test_log_partition_refuses_large_rbms():
    with pytest.raises(ValueError, match="<= 12"):
        random_rbm(13, 13).log_partition()


def test_pseudo_log_likelihood_exact_and_stochastic():
    rbm = random_rbm(5, 3)
    v = states(5)
    log_p = -rbm.free_energy(v) - rbm.log_partition()  # exact log p(v) of all 32 states
    index = {tuple(row): i for i, row in enumerate(v)}
    data = v[[3, 17, 30]]
    expected = 0.0
    for row in data:  # Σ_i log p(v_i | v_−i) from the joint
        for i in range(5):
            flipped = row.copy()
            flipped[i] = 1 - flipped[i]
            lp, lq = log_p[index[tuple(row)]], log_p[index[tuple(flipped)]]
            expected += lp - np.logaddexp(lp, lq)
    expected /= len(data)
    assert rbm.pseudo_log_likelihood(data) == pytest.approx(expected, rel=1e-10)
    rng = np.random.default_rng(0)
    estimate = np.mean([rbm.pseudo_log_likelihood(np.repeat(data, 200, 0), rng) for _ in range(20)])
    assert estimate == pytest.approx(expected, rel=0.03)


# --- training ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("persistent", [False, True])
def test_training_raises_exact_log_likelihood(persistent):
    x = prototype_data()
    rng = np.random.default_rng(0)
    rbm = RBM(6, 4, rng, dtype=np.float64)
    before = rbm.log_likelihood(x)
    # momentum 0.5 throughout, as CDConfig.persistent advises: with the default final 0.9, PCD's log-likelihood
    # fell by about 4 nats on 3 of seeds 0-4
    cfg = CDConfig(
        persistent=persistent, n_chains=50, lr=0.1, epochs=30, batch_size=20, weight_decay=1e-4, final_momentum=0.5
    )
    CDTrainer(rbm, cfg, rng).train(x)
    after = rbm.log_likelihood(x)
    # untrained: ≈ 6 ln ½ = −4.16 nats; the data's own distribution (two prototypes, 5% of bits flipped): −1.88
    assert before == pytest.approx(6 * np.log(0.5), abs=0.05)
    # rise, seeds 0-4 x 3 OpenBLAS kernels: CD min 1.98, median 2.17; PCD min 1.46, median 2.00
    assert after > before + 1.0, (before, after)


@pytest.mark.slow
def test_gaussian_rbm_training_raises_log_likelihood():
    rng = np.random.default_rng(0)
    centres = np.array([[1.5, -1.5, 1.0], [-1.5, 1.5, -1.0]])
    x = centres[rng.integers(0, 2, 500)] + 0.3 * rng.standard_normal((500, 3))
    x = (x - x.mean(0)) / x.std(0)
    rbm = RBM(3, 4, rng, visible="gaussian", dtype=np.float64)
    before = rbm.log_likelihood(x)
    CDTrainer(rbm, CDConfig(lr=0.01, epochs=20, batch_size=25, weight_decay=0.0), rng).train(x)
    assert rbm.log_likelihood(x) > before + 0.3  # seeds 0-4 x 3 OpenBLAS kernels: min 0.56, median 0.60


def test_seeded_training_is_reproducible_and_resumes_exactly(tmp_path):
    x = prototype_data()
    cfg = CDConfig(persistent=True, n_chains=10, epochs=4, batch_size=40)

    def run():
        rng = np.random.default_rng(7)
        return CDTrainer(RBM(6, 5, rng), cfg, rng)

    straight = run()
    straight.train(x)
    again = run()
    again.train(x)
    for k in ("W", "a", "b"):
        np.testing.assert_array_equal(straight.rbm.params[k], again.rbm.params[k])
    half = run()
    half.train(x, epochs=2)
    half.save(tmp_path / "ckpt")
    resumed = CDTrainer.load(tmp_path / "ckpt.npz")
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.train(x)
    assert resumed.epoch == 4
    for k in ("W", "a", "b"):
        np.testing.assert_array_equal(straight.rbm.params[k], resumed.rbm.params[k])
    np.testing.assert_array_equal(straight.chain, resumed.chain)


def test_rbm_save_load_roundtrip(tmp_path):
    rbm = random_rbm(5, 3, visible="gaussian")
    loaded = RBM.load(rbm.save(tmp_path / "rbm"))
    assert loaded.config() == rbm.config()
    for k in ("W", "a", "b"):
        np.testing.assert_array_equal(loaded.params[k], rbm.params[k])
    with pytest.raises(ModelFileError, match="expected 'nngym.RBM'"):
        RBM.load(CDTrainer(rbm, CDConfig(), np.random.default_rng(0)).save(tmp_path / "trainer"))


# --- input checks --------------------------------------------------------------------------
def test_bad_shapes_and_non_binary_data_raise_clear_errors():
    rbm = RBM(4, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shape \(N, 4\), got \(2, 5\)"):
        rbm.free_energy(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"shape \(N, 4\), got \(4,\)"):
        rbm.reconstruction_error(np.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 1\].*range \[-1, 2\]"):
        CDTrainer(rbm, CDConfig(), np.random.default_rng(0)).train(np.array([[0, 1, 2, -1.0]]))
    grey = np.full((2, 4), 0.5)
    assert np.isfinite(rbm.free_energy(grey)).all()  # grey levels are accepted as probabilities ...
    with pytest.raises(ValueError, match=r"binary data in \{0, 1\}, got values like 0.5"):
        rbm.log_likelihood(grey)  # ... but a likelihood needs binary data
    with pytest.raises(ValueError, match="NaN"):
        rbm.free_energy(np.full((1, 4), np.nan))
    with pytest.raises(ValueError, match="visible must be one of"):
        RBM(4, 3, np.random.default_rng(0), visible="poisson")
    with pytest.raises(ValueError, match="n_visible >= 1"):
        RBM(0, 3, np.random.default_rng(0))
    gauss = RBM(4, 3, np.random.default_rng(0), visible="gaussian")
    assert np.isfinite(gauss.free_energy(np.array([[-3.0, 0.2, 5.0, 1.0]]))).all()  # real values are fine
