"""gSDE (use_sde): StateDependentNoise by hand, central differences, SB3's distribution; PPO and A2C with it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gradients import assert_all_float64, assert_gradient_matches

from agents import A2C, PPO
from agents.common.distributions import LOG_2PI, StateDependentNoise
from agents.common.policies import ActorCriticPolicy, backward_policy_loss

OBS = gym.spaces.Box(-2.0, 2.0, (3,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def _numbers(seed: int = 0, n: int = 5, j: int = 4, k: int = 2) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mean, log_std = rng.normal(size=(n, k)), rng.normal(scale=0.5, size=(j, k))
    latent, actions, theta = rng.normal(size=(n, j)), rng.normal(size=(n, k)), rng.normal(size=(n, j, k))
    return mean, log_std, latent, actions, theta


def test_state_dependent_noise_by_hand() -> None:
    z, log_std = np.array([[1.0, 2.0]]), np.log(np.array([[1.0], [0.5]]))
    dist = StateDependentNoise(np.array([[0.3]]), log_std, z, np.array([[[0.2], [-0.1]]]))
    v = 1.0 * 1.0 + 4.0 * 0.25 + 1e-6  # Σ_j z_j² σ_j² + ε
    assert dist.variance[0, 0] == pytest.approx(v, abs=1e-15)
    assert dist.log_prob(np.array([[1.3]]))[0] == pytest.approx(-0.5 * (1.0 / v + np.log(v) + LOG_2PI), abs=1e-12)
    assert dist.entropy()[0] == pytest.approx(0.5 + 0.5 * LOG_2PI + 0.5 * np.log(v), abs=1e-12)
    assert dist.sample()[0, 0] == pytest.approx(0.3 + 1.0 * 0.2 + 2.0 * -0.1)  # μ + z θ_ε
    assert dist.mode()[0, 0] == 0.3
    with pytest.raises(ValueError, match=r"latent \(N, J\) = \(1, 2\)"):
        StateDependentNoise(np.zeros((1, 1)), log_std, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="noise weights"):
        StateDependentNoise(np.zeros((1, 1)), log_std, z).sample()


def test_state_dependent_noise_equals_sb3() -> None:
    torch = pytest.importorskip("torch")
    from stable_baselines3.common.distributions import StateDependentNoiseDistribution

    mean, log_std, latent, actions, theta = _numbers()
    ours = StateDependentNoise(mean, log_std, latent, theta)
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in dict(mean=mean, latent=latent, a=actions).items()}
    t_log_std = torch.tensor(log_std, dtype=torch.float64, requires_grad=True)
    sb3 = StateDependentNoiseDistribution(2).proba_distribution(t["mean"], t_log_std, t["latent"])
    log_prob, entropy = sb3.log_prob(t["a"]), sb3.entropy()
    np.testing.assert_allclose(ours.log_prob(actions), log_prob.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.entropy(), entropy.detach().numpy(), rtol=1e-12)
    sb3.exploration_matrices = torch.tensor(theta)  # one θ_ε per row
    np.testing.assert_allclose(ours.noise(), sb3.get_noise(t["latent"]).numpy(), rtol=1e-12)
    sb3.exploration_mat, sb3.exploration_matrices = torch.tensor(theta[0]), torch.tensor(theta[:2])
    np.testing.assert_allclose(  # fewer matrices than rows: SB3 and nngym use the one matrix for every row
        StateDependentNoise(mean, log_std, latent, theta[:2]).noise(), sb3.get_noise(t["latent"]).numpy(), rtol=1e-12
    )
    w = np.random.default_rng(1).normal(size=len(mean))
    (torch.tensor(w) @ log_prob + 0.3 * entropy.sum()).backward()
    g_var = w[:, None] * ours.grad_log_prob(actions)[1] + 0.3 * ours.grad_entropy()[1]
    np.testing.assert_allclose(ours.log_std_grad(g_var), t_log_std.grad.numpy(), rtol=1e-10)


def test_state_dependent_noise_gradients_central_differences() -> None:
    mean, log_std, latent, actions, _ = _numbers(2)
    w, c, h = np.random.default_rng(3).normal(size=len(mean)), 0.7, 1e-6

    def loss(m: np.ndarray, s: np.ndarray) -> float:
        d = StateDependentNoise(m, s, latent)
        return float(w @ d.log_prob(actions) + c * d.entropy().sum())

    dist = StateDependentNoise(mean, log_std, latent)
    g_mean = w[:, None] * dist.grad_log_prob(actions)[0] + c * dist.grad_entropy()[0]
    g_log_std = dist.log_std_grad(w[:, None] * dist.grad_log_prob(actions)[1] + c * dist.grad_entropy()[1])
    for name, x, g in (("mean", mean, g_mean), ("log_std", log_std, g_log_std)):
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i], down[i] = x[i] + h, x[i] - h
            args = (up, log_std) if name == "mean" else (mean, up)
            args_down = (down, log_std) if name == "mean" else (mean, down)
            num[i] = (loss(*args) - loss(*args_down)) / (2 * h)
        assert_gradient_matches(g, num, name, loss_scale=loss(mean, log_std))


@pytest.mark.parametrize(("net", "net_arch", "latent"), [("mlp", (5, 4), 4), ("dense:6", (), 6), ("dense:6", (5,), 5)])
def test_policy_gradient_through_the_network_central_differences(net: str, net_arch: tuple, latent: int) -> None:
    """L = Σ w_i log π(a_i|s_i) + c Σ H_i + Σ (V_i − R_i)², the latent features z(s) held constant (SB3's
    learn_features=False): backward_policy_loss vs central differences of every parameter, float64. z(s) is the
    MLP's last hidden layer, the trunk's features under linear heads, or the last hidden layer of the heads on it."""
    rng = np.random.default_rng(4)
    policy = ActorCriticPolicy(OBS, ACT, rng, net=net, net_arch=net_arch, use_sde=True, log_std_init=-0.5)
    policy.astype(np.float64)
    policy.log_std += rng.normal(scale=0.3, size=policy.log_std.shape)
    assert policy.log_std.shape == (latent, 2)
    obs, actions = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    w, c, returns = rng.normal(size=6), 0.4, rng.normal(size=6)
    latent = policy.forward(obs)[0].latent.copy()

    def loss() -> float:
        dist, values = policy.forward(obs)
        d = StateDependentNoise(dist.mean, policy.log_std, latent)
        return float(w @ d.log_prob(actions) + c * d.entropy().sum() + ((values - returns) ** 2).sum())

    dist, values = policy.forward(obs, train=True)
    backward_policy_loss(policy, dist, actions, w, c, 2.0 * (values - returns))
    assert_all_float64(policy.named_params())
    l0 = loss()
    for name, p, g in policy.named_params():
        analytic, num = g.copy(), np.zeros_like(p)
        for i in np.ndindex(p.shape):
            keep = p[i]
            p[i] = keep + 1e-6
            up = loss()
            p[i] = keep - 1e-6
            num[i] = (up - loss()) / 2e-6
            p[i] = keep
        assert_gradient_matches(analytic, num, name, loss_scale=l0)


def test_policy_refuses_sde_without_box_actions() -> None:
    with pytest.raises(ValueError, match="use_sde .* needs a Box action space, got Discrete"):
        ActorCriticPolicy(OBS, gym.spaces.Discrete(3), np.random.default_rng(0), use_sde=True)


def _params(agent) -> list[np.ndarray]:
    return [p.copy() for _, p, _ in agent.policy.named_params()]


@pytest.mark.parametrize(
    "cls,kw",
    [
        (PPO, {"n_steps": 32, "batch_size": 32, "n_epochs": 2, "sde_sample_freq": 4}),
        (A2C, {"n_steps": 8, "sde_sample_freq": -1}),
    ],
)
def test_agents_with_sde_same_seed_same_parameters_and_save_load(cls, kw, tmp_path, monkeypatch) -> None:
    draws = []
    original = ActorCriticPolicy.reset_noise
    monkeypatch.setattr(
        ActorCriticPolicy, "reset_noise", lambda self, n, rng: (draws.append(n), original(self, n, rng))
    )
    make = lambda: cls("Pendulum-v1", seed=3, n_envs=2, use_sde=True, log_std_init=-1.0, **kw)  # noqa: E731
    a, b = make().learn(128), make().learn(128)
    for x, y in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(x, y)
    rollouts = 128 // (2 * kw["n_steps"])
    per_rollout = kw["n_steps"] // kw["sde_sample_freq"] if kw["sde_sample_freq"] > 0 else 1
    assert draws == ([1] + [2] * rollouts * per_rollout) * 2  # construction, then in each rollout one per env
    assert a.policy.log_std.shape == (64, 1) and not np.allclose(a.policy.log_std, -1.0)  # learned
    path = a.save(tmp_path / "sde.npz")
    loaded = cls.load(path)
    np.testing.assert_array_equal(loaded.policy.log_std, a.policy.log_std)
    assert loaded.config.use_sde and loaded.config.sde_sample_freq == kw["sde_sample_freq"]
    obs = np.random.default_rng(0).uniform(-1, 1, (4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], a.predict(obs, deterministic=True)[0])
    stochastic = loaded.predict(obs, deterministic=False)[0]
    assert stochastic.shape == (4, 1) and not np.allclose(stochastic, loaded.predict(obs, deterministic=True)[0])
