"""Recurrent PPO: sequence minibatches reproduce the rollout, predict carries the LSTM state,
save/load, the loss gradients, and a short T-maze that needs memory."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gradients import assert_all_float64, assert_gradient_matches

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import ALGOS, RecurrentPPO, run_episodes
from agents.common.policies import backward_policy_loss
from agents.common.recurrent_buffer import RecurrentRolloutBuffer
from agents.common.vec_env import make_vec_env
from agents.ppo import ppo_loss


def rollout_agent(seq_len: int = 8, **kw) -> RecurrentPPO:
    """A fresh agent with one collected rollout (32 steps of 4 CartPoleNoVel envs, several episode starts)."""
    agent = RecurrentPPO(
        "nngym/CartPoleNoVel-v1",
        seed=0,
        n_envs=4,
        n_steps=32,
        seq_len=seq_len,
        batch_size=64,
        lstm_hidden_size=8,
        net_arch=(8,),
        **kw,
    )
    agent._setup_learn(128, None, True, False)
    agent._state = agent.policy.initial_state(4)
    assert agent._collect_rollout(None)
    return agent


def assert_same_actions_and_states(agent: RecurrentPPO, loaded: RecurrentPPO, obs: np.ndarray) -> None:
    """Both agents act alike and carry the same LSTM state over the sequence obs (T, N, ...), N envs starting at 0."""
    s1 = s2 = None
    for t in range(len(obs)):
        start = np.full(obs.shape[1], t == 0)
        a1, s1 = agent.predict(obs[t], s1, episode_start=start, deterministic=True)
        a2, s2 = loaded.predict(obs[t], s2, episode_start=start, deterministic=True)
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(s1[0], s2[0])
        np.testing.assert_array_equal(s1[1], s2[1])


def test_sequence_minibatches_reproduce_rollout_log_probs():
    agent = rollout_agent(seq_len=8)
    buf = agent.buffer
    assert buf.episode_starts[1:].sum() >= 2  # episodes end inside the rollout, so the masks matter
    seqs = buf.sequences(8)
    perm = np.random.default_rng(1).permutation(16)
    for idx in (perm[:8], perm[8:]):  # two minibatches of 8 sequences, in shuffled order
        mb = buf.batch(seqs, idx)
        assert mb.episode_starts[1:].any() or mb.episode_starts[0].any()
        dist, values, _ = agent.policy.forward(mb.obs, mb.state, mb.episode_starts, train=True)
        np.testing.assert_allclose(dist.log_prob(mb.actions), mb.old_log_prob, rtol=0, atol=1e-6)
        np.testing.assert_allclose(values, mb.old_values, rtol=0, atol=1e-5)
    # without the masks (or without the stored states) the log-probabilities differ: the test can fail
    mb = buf.batch(seqs, np.arange(16))
    dist, _, _ = agent.policy.forward(mb.obs, mb.state, np.zeros_like(mb.episode_starts), train=True)
    assert np.abs(dist.log_prob(mb.actions) - mb.old_log_prob).max() > 1e-4


def test_sequences_layout_and_bad_seq_len():
    buf = RecurrentRolloutBuffer(6, 2, (3,), (), np.int64, 4)
    buf.obs[...] = np.arange(12).reshape(6, 2, 1)  # obs value = 2 t + n
    buf.states[0][...] = np.arange(12).reshape(6, 2, 1)
    seqs = buf.sequences(3)
    assert seqs["obs"].shape == (3, 4, 3)
    np.testing.assert_array_equal(seqs["obs"][:, :, 0].T, [[0, 2, 4], [1, 3, 5], [6, 8, 10], [7, 9, 11]])
    np.testing.assert_array_equal(seqs["state0"][:, 0], [0, 1, 6, 7])  # state entering t = 0 and t = 3
    with pytest.raises(ValueError, match="seq_len must divide n_steps = 6"):
        buf.sequences(4)
    with pytest.raises(ValueError, match="seq_len must divide"):
        RecurrentPPO("nngym/CartPoleNoVel-v1", n_steps=10, seq_len=3)


def test_predict_state_equals_step_by_step_lstm():
    agent = RecurrentPPO("nngym/TMaze-v0", seed=3, lstm_hidden_size=5, net_arch=(4,), encoder_arch=(6,))
    rng = np.random.default_rng(0)
    T = 7
    obs = rng.random((T, 2, 3), dtype=np.float32)
    starts = np.zeros((T, 2), np.float32)
    starts[0] = 1
    starts[4, 1] = 1  # the second sequence restarts at step 4
    branch = agent.policy.actor
    W_ih, W_hh = branch.lstm.params["W_ih"], branch.lstm.params["W_hh"]
    b = branch.lstm.params["b_ih"] + branch.lstm.params["b_hh"]
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    state, h, c = None, np.zeros((2, 5)), np.zeros((2, 5))
    for t in range(T):
        action, state = agent.predict(obs[t], state, episode_start=starts[t], deterministic=True)
        # the LSTM equations by hand, one step: a = W_ih e + W_hh h + b; i, f, g, o; c, h
        keep = 1.0 - starts[t][:, None]
        h, c = h * keep, c * keep
        e = branch.encoder.forward(obs[t], train=False)
        a = e @ W_ih.T + h @ W_hh.T + b
        i, f, g, o = sigmoid(a[:, :5]), sigmoid(a[:, 5:10]), np.tanh(a[:, 10:15]), sigmoid(a[:, 15:])
        c = f * c + i * g
        h = o * np.tanh(c)
        assert state[0].shape == state[1].shape == (1, 2, 5)  # sb3-contrib's (n_lstm_layers, n_envs, H)
        np.testing.assert_allclose(state[0][0], h, atol=1e-5)
        np.testing.assert_allclose(state[1][0], c, atol=1e-5)
        np.testing.assert_array_equal(action, branch.head.forward(h.astype(np.float32), train=False).argmax(1))
    # the same sequence in one call gives the same final state
    _, final = branch.forward(obs, (np.zeros((2, 5), np.float32),) * 2, starts)
    np.testing.assert_allclose(final[0], state[0][0], atol=1e-6)
    # a single observation: action of shape (), state (1, 1, H), as sb3-contrib's
    action, state1 = agent.predict(obs[0, 0], None, episode_start=True, deterministic=True)
    assert np.shape(action) == () and state1[0].shape == state1[1].shape == (1, 1, 5)
    with pytest.raises(ValueError, match="expected obs of shape"):
        agent.predict(np.zeros((2, 4), np.float32))


def test_save_load_identical_actions_and_state(tmp_path):
    agent = RecurrentPPO(
        "nngym/CartPoleNoVel-v1",
        seed=1,
        n_envs=2,
        n_steps=16,
        lstm_hidden_size=8,
        normalize_obs=True,
        normalize_reward=True,
    )
    agent.learn(64)
    path = agent.save(tmp_path / "rppo.npz")
    loaded = RecurrentPPO.load(path)
    obs = np.random.default_rng(2).random((10, 3, 2), dtype=np.float32)
    assert_same_actions_and_states(agent, loaded, obs)
    assert loaded.num_timesteps == agent.num_timesteps == 64
    np.testing.assert_array_equal(loaded.obs_rms.mean, agent.obs_rms.mean)
    assert agent.obs_rms.count > 64  # the statistics were updated in the rollouts
    np.testing.assert_array_equal(loaded.ret_rms.var, agent.ret_rms.var)
    assert agent.ret_rms.count > 64
    assert "recurrent_ppo" in ALGOS


def test_recurrent_ppo_loss_gradients_numerically():
    """∂loss/∂θ from backward_policy_loss (BPTT through both LSTMs) against central differences, float64."""
    agent = rollout_agent(seq_len=8, encoder_arch=(3,))
    policy = agent.policy.astype(np.float64)
    mb = agent.buffer.batch(agent.buffer.sequences(8), np.array([0, 5, 9, 14]))
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731 - every input, state and buffer entry in float64
    obs, starts, returns, old_values = f64(mb.obs), f64(mb.episode_starts), f64(mb.returns), f64(mb.old_values)
    state = tuple(f64(s) for s in mb.state)
    rng = np.random.default_rng(0)
    old_log_prob = f64(mb.old_log_prob) + rng.normal(0, 0.05, mb.old_log_prob.shape)  # ratios inside the clip
    adv = rng.normal(size=mb.advantages.shape)

    def loss(train: bool = False):
        dist, values, _ = policy.forward(obs, state, starts, train=train)
        terms, d_lp, d_ent, d_v = ppo_loss(
            dist.log_prob(mb.actions),
            dist.entropy(),
            values,
            old_log_prob,
            adv,
            returns,
            old_values,
            clip=0.2,
            clip_range_vf=None,
            ent_coef=0.01,
            vf_coef=0.5,
        )
        return terms, dist, d_lp, d_ent, d_v

    terms, dist, d_lp, d_ent, d_v = loss(train=True)
    assert terms["clip_frac"] == 0.0
    backward_policy_loss(policy, dist, mb.actions, d_lp, d_ent, d_v)
    assert_all_float64(policy.named_params())
    eps, n_big = 1e-6, 0
    for name, p, g in policy.named_params():
        flat, gflat = p.reshape(-1), g.reshape(-1)
        picked = rng.choice(flat.size, size=min(6, flat.size), replace=False)  # a few entries of each tensor
        numeric = np.zeros(len(picked))
        for i, j in enumerate(picked):
            old = flat[j]
            flat[j] = old + eps
            up = loss()[0]["loss"]
            flat[j] = old - eps
            down = loss()[0]["loss"]
            flat[j] = old
            numeric[i] = (up - down) / (2 * eps)
        assert_gradient_matches(gflat[picked], numeric, name, scale=np.abs(g).max(), loss_scale=terms["loss"])
        n_big += int((np.abs(gflat[picked]) > 1e-6).sum())
    assert n_big > 60  # most checked entries carry a real gradient (encoder, LSTM and head of both branches)


@pytest.mark.slow
def test_learns_length5_tmaze_in_seconds():
    """A memoryless policy succeeds half the time at best; the LSTM must carry the cue over 5 cells.

    Trains in chunks of 2,048 steps until the greedy policy solves 20 probe episodes, at most 24,576 steps
    (seeds 0-4: 4,096-8,192). Raw advantages: normalised per minibatch, the near-zero advantages of a solved maze
    become unit-variance noise and the policy can forget the cue (seeds 0-4 x 3 OpenBLAS kernels, 16,000 steps:
    5 of 15 runs ended memoryless, success 0.46-0.56).
    """
    env = make_vec_env("nngym/TMaze-v0", 8, corridor_length=5, max_episode_steps=20)
    agent = RecurrentPPO(
        env,
        seed=0,
        n_envs=8,
        n_steps=32,
        batch_size=128,
        n_epochs=8,
        lstm_hidden_size=16,
        net_arch=(16,),
        learning_rate=3e-3,
        ent_coef=0.01,
        gamma=0.95,
        lstm_forget_bias=3.0,
        normalize_advantage=False,
    )
    probe = gym.make("nngym/TMaze-v0", corridor_length=5, max_episode_steps=20)
    for _ in range(12):
        agent.learn(2048, reset_num_timesteps=False)
        if np.all(np.array(run_episodes(agent, probe, 20, seed=0).last_rewards) == 4.0):
            break
    test_env = gym.make("nngym/TMaze-v0", corridor_length=5, max_episode_steps=20)
    last = run_episodes(agent, test_env, 50, deterministic=True, seed=1).last_rewards
    success = np.mean(np.array(last) == 4.0)
    # seeds 0-4 x 3 OpenBLAS kernels: min 1.0, median 1.0; a memoryless policy <= 0.5 (0.36-0.6 seen on 50 episodes)
    assert success >= 0.9, success


@pytest.mark.parametrize("shape", [(1, 10, 10), (2, 8, 6)])
def test_cnn_lstm_policy_sequence_equals_steps_and_backprops(shape):
    """CNN encoder (after ImageScale) + LSTM on uint8 (C, H, W) images: one sequence call = T single steps."""
    from agents.common.recurrent_policy import RecurrentActorCriticPolicy

    space = gym.spaces.Box(0, 255, shape, np.uint8)
    policy = RecurrentActorCriticPolicy(
        space, gym.spaces.Discrete(3), np.random.default_rng(0), 8, cnn_spec="conv:4x3,pool:2,dense:16", net="cnn"
    )
    T, B = 5, 2
    obs = np.random.default_rng(1).integers(0, 256, (T, B, *shape)).astype(np.uint8)
    starts = np.zeros((T, B), np.float32)
    starts[0], starts[3, 0] = 1, 1
    dist, values, final = policy.forward(obs, policy.initial_state(B), starts, train=True)
    state = policy.initial_state(B)
    for t in range(T):
        d_t, v_t, state = policy.step(obs[t], state, starts[t])
        np.testing.assert_allclose(d_t.logits, dist.logits[t * B : (t + 1) * B], atol=1e-5)
        np.testing.assert_allclose(v_t, values[t * B : (t + 1) * B], atol=1e-5)
    np.testing.assert_allclose(state[0], final[0], atol=1e-6)
    dist, values, _ = policy.forward(obs, policy.initial_state(B), starts, train=True)
    policy.backward(np.ones((T * B, 3), np.float32), np.ones(T * B, np.float32))
    grads = dict((n, g) for n, _, g in policy.named_params())
    assert np.abs(grads["pi.enc.1.W"]).sum() > 0 and np.abs(grads["vf.enc.1.W"]).sum() > 0


def test_net_other_than_mlp_or_cnn_is_rejected_before_anything_is_built():
    """``net`` chooses the encoder as for the other agents: "mlp" flattens, "cnn" is a CNN for images; any other
    ``net`` raises, naming it and the accepted ones (for "dbn" before pretraining, which would otherwise spend 10,000
    env steps first)."""
    from nngym import Dense, Sequential

    trunk = Sequential([Dense(2, 4, np.random.default_rng(0))])
    for net, shown in [
        ("dbn", "'dbn'"),
        ("dense:64", "'dense:64'"),
        (["dense:64"], r"\['dense:64'\]"),
        (trunk, "a Sequential"),
        ({"trunk": trunk}, "a dict"),
    ]:
        with pytest.raises(
            ValueError, match=rf"RecurrentPPO: net must be one of \['mlp', 'cnn', 'multi_input'\], got {shown}"
        ):
            RecurrentPPO("nngym/CartPoleNoVel-v1", net=net)
    with pytest.raises(ValueError, match="net='cnn' needs an image Box observation space"):
        RecurrentPPO("nngym/CartPoleNoVel-v1", net="cnn")
    small = {"lstm_hidden_size": 4, "net_arch": (4,), "cnn_spec": "conv:2x3,pool:2,dense:8"}
    for net, second in (("mlp", "Flatten"), ("cnn", "Conv2D")):  # as PPO: "mlp" flattens images, "cnn" convolves
        agent = RecurrentPPO("nngym/Catch-v0", net=net, **small)
        scale, layer = agent.policy.actor.encoder.layers[:2]
        assert (type(scale).__name__, type(layer).__name__) == ("ImageScale", second)
        assert scale.scale == 1 / 255 and not scale.channels_last  # uint8 pixels in [0, 1] either way
    assert agent.policy.actor.lstm.params["W_ih"].shape[1] == 8  # the CNN's features
    flat = RecurrentPPO("nngym/Catch-v0", **small)
    assert flat.policy.actor.lstm.params["W_ih"].shape[1] == 50  # the LSTM takes the 1 x 10 x 5 pixels


def test_non_image_3d_box_is_flattened_trains_and_reloads(tmp_path):
    """A 3-D float Box of no image size: flattened into the MLP encoder (the CNN's pools would not fit it)."""
    from gymnasium import spaces
    from test_spaces import FAST, SpaceEnv

    box = spaces.Box(0, 1, (2, 3, 4), np.float32)
    agent = RecurrentPPO(SpaceEnv(box, spaces.Discrete(2)), seed=0, encoder_arch=(6,), **FAST[RecurrentPPO])
    layers = agent.policy.actor.encoder.layers  # no image by SB3's rule: its flat encoding, as PPO's MLP takes it
    assert [type(layer).__name__ for layer in layers] == ["Dense", "Tanh"]
    assert layers[0].params["W"].shape == (6, 24)  # the encoder takes the 24 values
    assert agent.learn(64).num_timesteps == 64
    loaded = RecurrentPPO.load(agent.save(tmp_path / "box"))
    obs = np.random.default_rng(1).random((10, 3, 2, 3, 4), dtype=np.float32)
    assert_same_actions_and_states(agent, loaded, obs)
    no_encoder = RecurrentPPO(SpaceEnv(box, spaces.Discrete(2)), **FAST[RecurrentPPO])
    assert no_encoder.policy.actor.lstm.params["W_ih"].shape[1] == 24
    with pytest.raises(ValueError, match=r"cnn_spec '.*' does not fit images of shape \(2, 3, 4\): MaxPool2D"):
        RecurrentPPO(
            SpaceEnv(box, spaces.Discrete(2)), net="cnn", cnn_spec="conv:16x3,pool:2,conv:32x3,pool:2,dense:128"
        )


def test_predict_names_episode_start_and_state_of_the_wrong_shape():
    agent = RecurrentPPO("CartPole-v1", seed=0, n_steps=8, lstm_hidden_size=5)
    obs = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"RecurrentPPO.predict expected episode_start of shape \(3,\), got \(2,\)"):
        agent.predict(obs, episode_start=np.ones(2))
    with pytest.raises(ValueError, match=r"expected episode_start of shape \(3,\), got \(\)"):
        agent.predict(obs, episode_start=True)
    with pytest.raises(ValueError, match=r"expected episode_start of shape \(1,\) or a bool, got str 'yes'"):
        agent.predict(obs[0], episode_start="yes")
    state = (np.zeros((1, 2, 5), np.float32), np.zeros((1, 2, 5), np.float32))
    message = (
        r"RecurrentPPO.predict expected state as \(h, c\), each of shape \(1, 3, 5\): sb3-contrib's \(n_lstm_layers, "
        r"n_envs, lstm_hidden_size\), as the previous call returned it \(\(3, 5\) is taken too\), got shapes "
        r"\[\(1, 2, 5\), \(1, 2, 5\)\]"
    )
    with pytest.raises(ValueError, match=message):
        agent.predict(obs, state=state)
    with pytest.raises(
        ValueError, match=r"each of shape \(1, 3, 5\): sb3-contrib's .*, got shapes \[\(2, 5\), \(2, 5\)\]"
    ):
        agent.predict(obs, state=(np.zeros((2, 5)), np.zeros((2, 5))))
    with pytest.raises(ValueError, match=r"got shapes \[\(1, 3, 5\), \(3, 5\)\]"):  # one layout for both
        agent.predict(obs, state=(np.zeros((1, 3, 5)), np.zeros((3, 5))))
    with pytest.raises(ValueError, match=r"expected state as \(h, c\), each of shape \(1, 3, 5\).*, got ndarray"):
        agent.predict(obs, state=np.zeros((1, 3, 5)))
    actions, (h, c) = agent.predict(obs, episode_start=np.array([1, 0, 1]))
    assert actions.shape == (3,) and h.shape == c.shape == (1, 3, 5)
    assert agent.predict(obs, state=(h, c), episode_start=np.zeros(3, bool))[0].shape == (3,)
    # nngym's earlier layout, (N, H) each, is the same state
    a_new, s_new = agent.predict(obs, state=(h, c), deterministic=True)
    a_old, s_old = agent.predict(obs, state=(h[0], c[0]), deterministic=True)
    np.testing.assert_array_equal(a_new, a_old)
    np.testing.assert_array_equal(s_new[0], s_old[0])
    assert s_old[0].shape == (1, 3, 5)
    assert np.shape(agent.predict(obs[0], episode_start=True)[0]) == ()


class ColourEnv(gym.Env):
    """Noisy 16 x 16 RGB images, channels last (H, W, 3) as SB3 takes them (or first, (3, H, W)): one colour
    channel is lit and naming it (action 0, 1 or 2) earns 1. Truncated after ``length`` steps."""

    def __init__(self, channels_last: bool = True, side: int = 16, length: int = 8) -> None:
        self.channels_last, self.length = channels_last, length
        shape = (side, side, 3) if channels_last else (3, side, side)
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self.t = self.colour = 0

    def _get_obs(self) -> np.ndarray:
        side = self.observation_space.shape[1]
        chw = self.np_random.integers(0, 64, (3, side, side)).astype(np.uint8)
        chw[self.colour] += 160
        return chw.transpose(1, 2, 0) if self.channels_last else chw

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t, self.colour = 0, int(self.np_random.integers(3))
        return self._get_obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(int(action) == self.colour)
        self.t, self.colour = self.t + 1, int(self.np_random.integers(3))
        return self._get_obs(), reward, False, self.t >= self.length, {}


def test_cnn_takes_channels_last_images_as_channels_first_trains_and_reloads(tmp_path):
    """net="cnn" on (H, W, 3) uint8 images, as PPO's and sb3-contrib's CnnLstmPolicy (VecTransposeImage): the CNN
    sees (3, H, W), so an agent on channels-last images acts, step by step and state by state, exactly as the same
    agent on the channels-first images; it trains, reloads, and refuses images of the other layout by their shape.
    net="mlp" flattens the same (3, H, W) pixels."""
    kw = {"net": "cnn", "seed": 0, "n_steps": 32, "batch_size": 32, "n_epochs": 2, "seq_len": 8}
    kw |= {"lstm_hidden_size": 8, "net_arch": (8,), "learning_rate": 1e-3}
    hwc, chw = RecurrentPPO(ColourEnv(), **kw), RecurrentPPO(ColourEnv(channels_last=False), **kw)
    scale = hwc.policy.actor.encoder.layers[0]
    assert type(scale).__name__ == "ImageScale" and scale.channels_last and scale.scale == 1 / 255
    assert hwc.policy.actor.encoder.layers[1].params["W"].shape == (16, 3, 3, 3)  # the default spec on 3 channels
    for (name, p_hwc, _), (_, p_chw, _) in zip(hwc.policy.named_params(), chw.policy.named_params(), strict=True):
        np.testing.assert_array_equal(p_hwc, p_chw, err_msg=name)  # the same weights from the same seed
    images = np.random.default_rng(1).integers(0, 256, (6, 2, 16, 16, 3)).astype(np.uint8)  # (T, N, H, W, C)
    transposed = images.transpose(0, 1, 4, 2, 3)  # (T, N, C, H, W)
    features = hwc.policy.actor.encoder.forward(images[0], train=False)
    np.testing.assert_array_equal(features, chw.policy.actor.encoder.forward(transposed[0], train=False))
    s1 = s2 = None
    for t in range(len(images)):
        start = np.full(2, t == 0)
        a1, s1 = hwc.predict(images[t], s1, episode_start=start, deterministic=False)
        a2, s2 = chw.predict(transposed[t], s2, episode_start=start, deterministic=False)
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(s1[0], s2[0])
        np.testing.assert_array_equal(s1[1], s2[1])

    before = [p.copy() for _, p, _ in hwc.policy.named_params()]
    assert hwc.learn(320).num_timesteps == 320
    changed = [not np.array_equal(p, q) for (_, p, _), q in zip(hwc.policy.named_params(), before, strict=True)]
    assert all(changed[:2])  # the CNN's first convolution trained (weights and biases)
    loaded = RecurrentPPO.load(hwc.save(tmp_path / "rgb"))
    assert loaded.policy.actor.encoder.layers[0].channels_last
    assert_same_actions_and_states(hwc, loaded, images)

    wrong = r"expected obs of shape \(16, 16, 3\) or \(N, 16, 16, 3\), got \(2, 3, 16, 16\)"
    with pytest.raises(ValueError, match=wrong):
        hwc.predict(transposed[0])
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 16, 16, 3\), got \(2, 3, 16, 16\)"):
        hwc.policy.step(transposed[0], hwc.policy.initial_state(2), np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"images of shape \(4, 4, 3\), channels last, so \(C, H, W\) = \(3, 4, 4\)"):
        RecurrentPPO(ColourEnv(side=4), net="cnn", cnn_spec="conv:16x3,pool:2,conv:32x3,pool:2,dense:128")
    flat = RecurrentPPO(ColourEnv(), lstm_hidden_size=4).policy.actor.encoder  # "mlp" flattens (C, H, W), as PPO's
    assert [type(layer).__name__ for layer in flat.layers] == ["ImageScale", "Flatten"]
    pixels = transposed[0].reshape(2, 3 * 16 * 16) / 255
    np.testing.assert_allclose(flat.forward(images[0], train=False), pixels, rtol=1e-6)


def test_the_default_cnn_encoder_fits_small_images_too():
    import gymnasium as gym
    from toy_envs import SpacesEnv

    from agents.common.policies import CNN_SPEC_SMALL
    from agents.common.recurrent_policy import DEFAULT_CNN_SPEC, default_recurrent_cnn_spec

    small = gym.spaces.Box(0, 255, (7, 9, 3), np.uint8)
    agent = RecurrentPPO(SpacesEnv(small, gym.spaces.Discrete(2)), net="cnn", n_steps=8, lstm_hidden_size=4)
    agent.learn(16)
    assert agent.config.cnn_spec is None and default_recurrent_cnn_spec(small) == CNN_SPEC_SMALL
    assert default_recurrent_cnn_spec(gym.spaces.Box(0, 255, (1, 28, 28), np.uint8)) == DEFAULT_CNN_SPEC
    assert default_recurrent_cnn_spec(gym.spaces.Box(0, 255, (10, 10, 1), np.uint8)) == DEFAULT_CNN_SPEC
    nature = "conv:32x8s4,conv:64x4s2,conv:64x3,dense:512"  # sb3-contrib's CnnLstmPolicy: NatureCNN
    assert default_recurrent_cnn_spec(gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)) == nature


def test_default_architecture_is_sb3_contribs():
    """No net_arch: sb3-contrib's RecurrentPPO defaults (LSTM 256 then 64, 64 for MlpLstmPolicy; the heads straight on
    the LSTM after a CNN), layer by layer against sb3-contrib's own policy where it is installed."""

    def head_sizes(agent) -> list[tuple[int, int]]:
        return [layer.params["W"].shape[::-1] for layer in agent.policy.actor.head.layers if "W" in layer.params]

    mlp = RecurrentPPO("CartPole-v1", seed=0, n_steps=8, batch_size=8)
    assert mlp.config.net_arch == (64, 64)
    assert mlp.policy.actor.lstm.params["W_ih"].shape == (4 * 256, 4)
    assert head_sizes(mlp) == [(256, 64), (64, 64), (64, 2)]
    cnn = RecurrentPPO("CnnLstmPolicy", "nngym/Catch-v0", seed=0, n_steps=8, batch_size=8)
    assert cnn.config.net_arch == () and head_sizes(cnn) == [(256, 3)]
    assert RecurrentPPO("CartPole-v1", net_arch=[32], n_steps=8, batch_size=8).config.net_arch == (32,)  # as given
    sb3_contrib = pytest.importorskip("sb3_contrib")
    from toy_envs import SpacesEnv

    images = SpacesEnv(gym.spaces.Box(0, 255, (64, 48, 3), np.uint8), gym.spaces.Discrete(3))
    nature = sb3_contrib.RecurrentPPO("CnnLstmPolicy", images, device="cpu", n_steps=8, batch_size=8).policy
    ours = RecurrentPPO("CnnLstmPolicy", images, seed=0, n_steps=8, batch_size=8).policy.actor.encoder
    shapes = [p.shape for layer in ours.layers for p in layer.params.values()]
    assert shapes == [tuple(p.shape) for p in nature.features_extractor.parameters()]  # NatureCNN, 512 features
    theirs = sb3_contrib.RecurrentPPO("MlpLstmPolicy", "CartPole-v1", device="cpu").policy
    linears = [m for m in [*theirs.mlp_extractor.policy_net, theirs.action_net] if hasattr(m, "weight")]
    assert [tuple(m.weight.shape[::-1]) for m in linears] == head_sizes(mlp)
    assert theirs.lstm_actor.hidden_size == mlp.policy.actor.lstm.params["W_ih"].shape[0] // 4
