"""The recurrent attention model agent: gradients of its hybrid loss, its REINFORCE and baseline terms by hand,
acting with a carried LSTM state, seeding, files, bad spaces, and a short learning run on DigitGlimpse."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gradients import assert_all_float64, assert_gradient_matches

import envs  # noqa: F401  (registers the ids)
from agents import ALGOS
from agents.common.attention_model import RecurrentAttentionModel
from agents.common.callbacks import BaseCallback
from agents.common.vec_env import make_vec_env
from agents.experiments import glimpse
from agents.experiments.glimpse import accuracy_and_trajectories
from agents.ram import RAM

RAM_ENV = {"action_mode": "location", "reveal_label": "end"}


def small_batch(rng: np.random.Generator, T: int = 3, N: int = 4, P: int = 6, L: int = 2, K: int = 3):
    obs = np.concatenate([rng.uniform(0, 1, (T, N, P)), rng.uniform(-1, 1, (T, N, L))], axis=2)
    actions = rng.uniform(-1, 1, (T, N, L))
    rewards = rng.choice([0.0, 1.0], N)
    labels = rng.integers(K, size=N)
    return obs, actions, rewards, labels


@pytest.mark.parametrize("detach_heads", [True, False])
def test_loss_gradients_match_central_differences_in_float64(detach_heads):
    rng = np.random.default_rng(3)
    model = RecurrentAttentionModel(
        6, 2, 3, rng, glimpse_hidden=5, glimpse_features=4, hidden_size=3, location_std=0.3, detach_heads=detach_heads
    ).astype(np.float64)
    assert_all_float64(model.named_params())
    obs, actions, rewards, labels = small_batch(rng)
    coefs = (0.7, 1.3)
    _, adv = model.loss_and_grads(obs, actions, rewards, labels, *coefs)  # adv: the constants R − b
    analytic = {name: g.copy() for name, _, g in model.named_params()}
    heads = {"location": "reinforce", "baseline": "baseline", "classifier": "cross_entropy"}

    def terms():
        mu, b, logits = model.forward(obs, train=False)
        return model.loss(mu, b, logits, actions, rewards, labels, adv, *coefs)[0]

    eps = 1e-6
    for name, p, _ in model.named_params():
        net = name.split(".")[0]
        # what each parameter's gradient is of: its head's own term; the glimpse net and core get the
        # cross-entropy alone with detached heads, every term without
        if net in heads:
            wanted = [heads[net]]
        else:
            wanted = ["cross_entropy"] if detach_heads else ["cross_entropy", "reinforce", "baseline"]
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = terms()
            p[i] = old - eps
            down = terms()
            p[i] = old
            numeric[i] = sum(getattr(up, w) - getattr(down, w) for w in wanted) / (2 * eps)
        assert_gradient_matches(analytic[name], numeric, name, loss_scale=abs(terms().total), eps=eps)


def test_reinforce_and_baseline_terms_by_hand():
    model = RecurrentAttentionModel(4, 2, 3, np.random.default_rng(0), location_std=0.5).astype(np.float64)
    T, N = 2, 2
    mu = np.array([[[0.1, -0.2], [0.0, 0.5]], [[9.0, 9.0], [9.0, 9.0]]])  # row T-1 (the answer step) is not used
    actions = np.array([[[0.3, -0.2], [-0.5, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])
    b = np.array([[0.25, 0.5], [7.0, 7.0]])
    rewards = np.array([1.0, 0.0])
    adv = rewards[None] - b
    logits = np.zeros((T, N, 3))
    terms, (d_mu, d_b, d_logits) = model.loss(mu, b, logits, actions, rewards, np.array([0, 2]), adv, 2.0, 3.0)
    # log π = −|a − μ|²/(2·0.25) − 2 log 0.5 − log 2π:  episode 0: |a − μ|² = 0.04, episode 1: 0.25
    log_pi = np.array([-0.08, -0.5]) - 2 * np.log(0.5) - np.log(2 * np.pi)
    assert terms.reinforce == pytest.approx(-2.0 * (0.75 * log_pi[0] + (-0.5) * log_pi[1]) / 2)
    assert terms.baseline == pytest.approx(3.0 * (0.75**2 + 0.5**2) / 2)
    assert terms.cross_entropy == pytest.approx(np.log(3.0))  # uniform logits
    # ∂/∂μ = −λ_R Â (a − μ) / (σ² N), σ² N = 0.5:
    # episode 0: −2 · 0.75 · (0.2, 0) / 0.5;  episode 1: −2 · −0.5 · (−0.5, 0) / 0.5
    np.testing.assert_allclose(d_mu[0], [[-0.6, 0.0], [-1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(d_b[0], [2 * 3.0 * -0.75 / 2, 2 * 3.0 * 0.5 / 2])
    assert not d_mu[1].any() and not d_b[1].any() and not d_logits[0].any()
    np.testing.assert_allclose(d_logits[1], [[(1 / 3 - 1) / 2, 1 / 6, 1 / 6], [1 / 6, 1 / 6, (1 / 3 - 1) / 2]])


def ram_env(n_envs: int = 8, **kwargs):
    return make_vec_env("nngym/DigitGlimpse-v0", n_envs, "gym-sync", **RAM_ENV, **kwargs)


def small_agent(seed: int = 0, **config) -> RAM:
    sizes = {"glimpse_hidden": 16, "glimpse_features": 32, "lstm_hidden_size": 32}
    return RAM(ram_env(max_glimpses=3), seed=seed, n_envs=8, **{**sizes, **config})


def test_predict_with_the_carried_state_is_the_sequence_forward():
    agent = small_agent()
    env = gym.make("nngym/DigitGlimpse-v0", **RAM_ENV, max_glimpses=3)
    obs, _ = env.reset(seed=1)
    seen, locations, state = [], [], None
    for t in range(3):
        seen.append(obs)
        action, state = agent.predict(obs, state, episode_start=t == 0, deterministic=True)
        locations.append(action["location"])
        obs, *_ = env.step(action)
    mu, _, logits = agent.model.forward(np.stack(seen)[:, None], train=False)
    np.testing.assert_allclose(np.stack(locations), mu[:, 0], rtol=1e-5, atol=1e-6)
    assert action["label"] == int(np.argmax(logits[-1, 0])) and isinstance(action["label"], int)
    fresh, _ = agent.predict(seen[0], state, episode_start=True, deterministic=True)  # a start resets the carried state
    np.testing.assert_allclose(fresh["location"], locations[0], rtol=1e-6)


def test_same_seed_same_parameters_and_save_load_same_actions(tmp_path):
    a, b = small_agent(seed=5).learn(8 * 3 * 4), small_agent(seed=5).learn(8 * 3 * 4)
    assert a._n_updates == 4
    for (name, p, _), (_, q, _) in zip(a.model.named_params(), b.model.named_params(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=name)
    c = small_agent(seed=6).learn(8 * 3 * 4)
    assert not np.array_equal(a.model.core.params["W_ih"], c.model.core.params["W_ih"])
    path = a.save(tmp_path / "ram.npz")
    loaded = RAM.load(path)
    obs = gym.make("nngym/DigitGlimpse-v0", **RAM_ENV).observation_space.sample()
    batch = np.stack([obs, obs * 0.5])
    (x, sx), (y, sy) = a.predict(batch, deterministic=True), loaded.predict(batch, deterministic=True)
    np.testing.assert_array_equal(x["location"], y["location"])
    np.testing.assert_array_equal(x["label"], y["label"])
    np.testing.assert_array_equal(sx[0], sy[0])
    assert loaded.num_timesteps == a.num_timesteps and loaded.optimizer.t == a.optimizer.t
    loaded.env = None  # sampling continues from the saved generator state
    assert np.array_equal(loaded.rng.standard_normal(3), a.rng.standard_normal(3))
    assert ALGOS["ram"] is RAM


def test_weight_decay_shrinks_the_weight_matrices_only():
    plain, decayed = small_agent(seed=5), small_agent(seed=5, weight_decay=0.5)
    assert decayed.optimizer.weight_decay == 0.5
    plain.learn(8 * 3 * 2)
    decayed.learn(8 * 3 * 2)
    p = {n: w for n, w, _ in plain.model.named_params()}
    q = {n: w for n, w, _ in decayed.model.named_params()}
    weights = [n for n in p if p[n].ndim >= 2]
    assert sum(np.abs(q[n]).sum() for n in weights) < sum(np.abs(p[n]).sum() for n in weights)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RAM(make_vec_env("nngym/DigitGlimpse-v0", 2, "gym-sync")), "Dict action space of 'label'"),
        (lambda: RAM("nngym/DigitClassify-v0"), "Dict action space of 'label'"),
        (lambda: RAM(ram_env(2), vectorization="sync"), "vectorization='gym-sync'"),
        (lambda: RAM(ram_env(2), net="cnn"), "net must be 'mlp'"),
        (lambda: RAM(ram_env(2), location_std=0.0), "location_std must be a positive number"),
        (lambda: RAM(ram_env(2), n_envs=0), "n_envs"),
        (lambda: RAM(ram_env(2), weight_decay=-1e-4), "weight_decay must be >= 0, got 1.0, 1.0, -0.0001"),
    ],
)
def test_bad_spaces_and_settings_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_the_project_sync_vector_env_is_refused_and_the_label_must_come_in_the_last_info():
    with pytest.raises(ValueError, match="gym-sync"):
        RAM(make_vec_env("nngym/DigitGlimpse-v0", 2, "sync", **RAM_ENV), n_envs=2)
    no_label = make_vec_env("nngym/DigitGlimpse-v0", 2, "gym-sync", action_mode="location")
    agent = RAM(no_label, n_envs=2)
    for env in no_label.envs:  # an env that never reveals the label
        env.unwrapped._get_info = lambda last=False, e=env.unwrapped: {"index": e._index}
    with pytest.raises(RuntimeError, match="label"):
        agent.learn(12)


def test_learns_to_classify_well_above_chance_in_seconds():
    sizes = {"glimpse_hidden": 64, "glimpse_features": 64, "lstm_hidden_size": 64}
    agent = RAM(ram_env(32, max_glimpses=4), seed=0, n_envs=32, **sizes)
    agent.learn(32 * 4 * 25)  # 800 training episodes, 25 updates
    accuracy, results = accuracy_and_trajectories(agent, {**RAM_ENV, "max_glimpses": 4}, n_images=300)
    assert accuracy > 0.25, accuracy  # chance is 0.1; seeds 0-2 gave 0.36, 0.31, 0.40
    assert len(results) == 300 and all(len(r["locations"]) == 4 for r in results)


def test_callback_hooks_fire_in_sb3_order_once_per_batch_of_episodes():
    class Recorder(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[tuple[str, int, int]] = []

        def _on_step(self) -> bool:
            self.events.append(("step", self.agent.num_timesteps, self.agent._n_updates))
            return True

        def on_rollout_end(self) -> None:
            self.events.append(("rollout_end", self.agent.num_timesteps, self.agent._n_updates))

    rec = Recorder()
    small_agent(seed=0).learn(8 * 3 * 2, callback=rec)  # 8 envs, 3 glimpses: 2 batches of 8 episodes
    ends = [e for e in rec.events if e[0] == "rollout_end"]
    # after each batch's 3 env steps and before its update, as SB3 calls it after collect_rollouts
    assert ends == [("rollout_end", 24, 0), ("rollout_end", 48, 1)]
    assert [e[0] for e in rec.events] == ["step"] * 3 + ["rollout_end"] + ["step"] * 3 + ["rollout_end"]


class TickingClock:
    """Stands in for the ``time`` module of ``agents.experiments.glimpse``: every ``perf_counter()`` call is one
    second later, so the curve's training seconds do not depend on how fast the machine runs the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


def test_a_resumed_training_run_appends_its_curve_and_continues_its_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(glimpse, "time", TickingClock())
    small = {"n_envs": 16, "glimpse_hidden": 8, "glimpse_features": 8, "lstm_hidden_size": 8}
    with pytest.raises(FileNotFoundError, match="no saved model"):
        glimpse.train(0, 0.01, tmp_path, resume=True, **small)
    first = glimpse.train(0, 0.01, tmp_path, eval_epochs=0.005, n_test_images=50, learning_rate="lin_1e-3", **small)
    # the threshold the last episodes cross is evaluated once, after the last update
    assert [row[1] for row in first["curve"]] == [1808, 3648]  # 38 updates of 16 episodes x 6 glimpses
    t_first = RAM.load(tmp_path / "ram_s0" / "model.npz").optimizer.t
    with pytest.raises(ValueError, match="learning_rate='lin_5e-4' vs 'lin_1e-3'"):
        glimpse.train(0, 0.01, tmp_path, resume=True, learning_rate="lin_5e-4", **small)
    second = glimpse.train(0, 0.01, tmp_path, eval_epochs=0.005, n_test_images=50, resume=True, **small)
    rows = glimpse.read_curve(tmp_path / "ram_s0" / "curve.csv")
    assert [int(r["steps"]) for r in rows] == [1808, 3648, 5456, 7296]
    assert [r["epoch"] for r in rows] == [0.01, 0.01, 0.02, 0.02]
    # training seconds continue from the first run's: each row adds its own tick, evaluations not counted
    assert [r["seconds"] for r in rows] == [1.0, 2.0, 3.0, 4.0]
    assert second["curve"][:2] == [tuple(r.values()) for r in rows[:2]] and second["epochs"] == 0.02
    resumed = RAM.load(tmp_path / "ram_s0" / "model.npz")
    assert t_first == 38 and resumed.optimizer.t == 76


class SB3StyleList(BaseCallback):
    """Forwards every hook to ``child`` as SB3's own ``CallbackList`` does: ``on_training_start(locals, globals)``."""

    def __init__(self, child: BaseCallback) -> None:
        super().__init__()
        self.child = child

    def _init_callback(self) -> None:
        self.child.init_callback(self.model)

    def _on_training_start(self) -> None:
        self.child.on_training_start(self.locals, self.globals)

    def _on_step(self) -> bool:
        return self.child.on_step()

    def _on_training_end(self) -> None:
        self.child.on_training_end()

    def update_child_locals(self, locals_: dict) -> None:
        self.child.update_locals(locals_)


def test_the_test_accuracy_callback_runs_on_sb3s_hooks(tmp_path, monkeypatch):
    """``TestAccuracyCallback`` overrides SB3's underscored hooks, so a callback that calls it as SB3 calls its children
    gets the curve ``learn`` gets calling it itself (with nngym's earlier hooks, on_training_start(locals, globals)
    was a TypeError)."""
    assert not {"on_training_start", "on_step", "on_training_end"} & set(vars(glimpse.TestAccuracyCallback))
    env_kwargs = {**RAM_ENV, "max_glimpses": 3}
    curves = []
    for name, wrap in (("direct", lambda cb: cb), ("sb3", SB3StyleList)):
        monkeypatch.setattr(glimpse, "time", TickingClock())
        cb = glimpse.TestAccuracyCallback(24, env_kwargs, tmp_path / name, steps_per_epoch=240, n_images=8)
        small_agent(seed=0).learn(48, callback=wrap(cb))  # 2 batches of 8 episodes of 3 glimpses
        curves.append(glimpse.read_curve(tmp_path / name / "curve.csv"))
        assert [h[1] for h in cb.history] == [24, 48] and cb.locals["total_timesteps"] == 48
        assert (tmp_path / name / "model.npz").exists()
    assert curves[0] == curves[1] and [r["seconds"] for r in curves[0]] == [1.0, 2.0]
