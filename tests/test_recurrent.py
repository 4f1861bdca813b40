"""RNN and LSTM: BPTT gradient checks, torch equivalence, masks, step API, shapes, optimisers, files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gradients import assert_gradient_matches

from nngym.dense import Dense
from nngym.gradcheck import numerical_gradient
from nngym.lstm import LSTM
from nngym.network import Sequential
from nngym.optim import Adam, clip_grad_norm, global_grad_norm
from nngym.recurrent import Recurrent
from nngym.rnn import RNN

T, N, D, H = 6, 3, 4, 5
CLASSES = [RNN, LSTM]
TORCH_NAMES = {"W_ih": "weight_ih_l0", "W_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0"}


def make(cls: type[Recurrent], seed: int = 0, dtype: type = np.float64, **kw: object) -> Recurrent:
    return cls(D, H, np.random.default_rng(seed), dtype=dtype, **kw)


def random_state(layer: Recurrent, rng: np.random.Generator, n: int = N) -> tuple[np.ndarray, ...]:
    return tuple(rng.standard_normal((n, H)) for _ in layer.state_names)


def episode_starts() -> np.ndarray:
    starts = np.zeros((T, N), bool)
    starts[2, 0] = True  # row 0: a new episode begins at step 2
    starts[4, 1] = True  # row 1: at step 4; row 2 never resets
    return starts


# --- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("masked", [False, True])
def test_bptt_gradcheck(cls: type[Recurrent], masked: bool) -> None:
    """∂L/∂x, ∂L/∂θ and ∂L/∂(initial state) against central differences, L = Σ G⊙y + Σ G_s⊙final state."""
    rng = np.random.default_rng(1)
    layer = make(cls, w_init="uniform")
    x = rng.standard_normal((T, N, D))
    state = random_state(layer, rng)
    starts = episode_starts() if masked else None
    G = rng.standard_normal((T, N, H))
    G_state = random_state(layer, rng)

    def loss() -> float:
        y, final = layer.forward(x, state, starts, train=False)
        return float(np.sum(G * y) + sum(np.sum(g * s) for g, s in zip(G_state, final, strict=True)))

    layer.forward(x, state, starts)
    dx = layer.backward(G, G_state)
    assert_gradient_matches(dx, numerical_gradient(loss, x), "x")
    for k, p in layer.params.items():
        assert_gradient_matches(layer.grads[k], numerical_gradient(loss, p), k)
    for name, s, ds in zip(layer.state_names, state, layer.dstate0, strict=True):
        assert_gradient_matches(ds, numerical_gradient(loss, s), name)
    assert np.abs(dx).max() > 1e-3  # the check compared something non-trivial


@pytest.mark.parametrize("cls", CLASSES)
def test_initial_state_gradient_is_zero_where_episode_starts_at_step_0(cls: type[Recurrent]) -> None:
    rng = np.random.default_rng(2)
    layer = make(cls)
    starts = np.zeros((T, N), bool)
    starts[0, 1] = True
    layer.forward(rng.standard_normal((T, N, D)), random_state(layer, rng), starts)
    layer.backward(rng.standard_normal((T, N, H)), random_state(layer, rng))
    for ds in layer.dstate0:
        assert np.all(ds[1] == 0)
        assert np.abs(ds[0]).min() > 0 and np.abs(ds[2]).min() > 0


# --- torch ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch(cls: type[Recurrent], dtype: type) -> None:
    """Outputs, final state and all gradients equal torch.nn.RNN / nn.LSTM with copied weights."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = make(cls, dtype=dtype, w_init="orthogonal")
    tt = torch.float64 if dtype == np.float64 else torch.float32
    module = (torch.nn.LSTM if cls is LSTM else torch.nn.RNN)(D, H).to(tt)
    with torch.no_grad():
        for k, p in layer.params.items():
            getattr(module, TORCH_NAMES[k]).copy_(torch.from_numpy(p))
    x = rng.standard_normal((T, N, D)).astype(dtype)
    state = tuple(s.astype(dtype) for s in random_state(layer, rng))
    G = rng.standard_normal((T, N, H)).astype(dtype)
    G_state = tuple(s.astype(dtype) for s in random_state(layer, rng))

    y, final = layer.forward(x, state)
    dx = layer.backward(G, G_state)

    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s[None], requires_grad=True) for s in state]
    yt, final_t = module(xt, tuple(st) if cls is LSTM else st[0])
    final_t = final_t if cls is LSTM else (final_t,)
    loss = (yt * torch.from_numpy(G)).sum()
    loss = loss + sum((f[0] * torch.from_numpy(g)).sum() for f, g in zip(final_t, G_state, strict=True))
    loss.backward()

    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    for ours, theirs in zip(final, final_t, strict=True):
        np.testing.assert_allclose(ours, theirs[0].detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for ours, theirs in zip(layer.dstate0, st, strict=True):
        np.testing.assert_allclose(ours, theirs.grad[0].numpy(), **tol)
    for k in layer.params:
        np.testing.assert_allclose(layer.grads[k], getattr(module, TORCH_NAMES[k]).grad.numpy(), **tol, err_msg=k)
    assert y.dtype == dtype and dx.dtype == dtype


# --- masks and the step API ---------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
def test_episode_start_equals_restart_from_zero(cls: type[Recurrent]) -> None:
    """A reset at step k gives what a fresh sequence from the zero state gives from step k on."""
    rng = np.random.default_rng(4)
    layer = make(cls)
    x = rng.standard_normal((T, N, D))
    state = random_state(layer, rng)
    starts = np.zeros((T, N), bool)
    starts[3] = True
    y, final = layer.forward(x, state, starts)
    y_head, _ = layer.forward(x[:3], state)
    y_tail, final_tail = layer.forward(x[3:])  # zero initial state
    np.testing.assert_allclose(y[:3], y_head, rtol=1e-12)
    np.testing.assert_allclose(y[3:], y_tail, rtol=1e-12)
    for a, b in zip(final, final_tail, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    y_plain, _ = layer.forward(x, state)
    assert np.abs(y_plain[3:] - y[3:]).max() > 1e-3  # the reset changed something


@pytest.mark.parametrize("cls", CLASSES)
def test_step_api_equals_sequence_api(cls: type[Recurrent]) -> None:
    rng = np.random.default_rng(5)
    layer = make(cls, dtype=np.float32)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    starts = episode_starts()
    y, final = layer.forward(x, None, starts, train=False)
    state = layer.initial_state(N)
    assert all(s.shape == (N, H) and s.dtype == np.float32 and not s.any() for s in state)
    for t in range(T):
        y_t, state = layer.step(x[t], state, episode_start=starts[t])
        np.testing.assert_allclose(y_t, y[t], rtol=1e-6, atol=1e-7)
    for a, b in zip(state, final, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
def test_bad_shapes_raise_naming_shapes(cls: type[Recurrent]) -> None:
    layer = make(cls)
    name = re.escape(f"{cls.__name__}({D}->{H})")
    x = np.zeros((T, N, D))
    with pytest.raises(ValueError, match=rf"{name} expected input x of shape \(T, N, {D}\), got \({T}, {N}, {D + 1}\)"):
        layer.forward(np.zeros((T, N, D + 1)))
    with pytest.raises(ValueError, match=rf"\(T, N, {D}\), got \({N}, {D}\)"):
        layer.forward(np.zeros((N, D)))
    bad_state = tuple(np.zeros((N + 1, H)) for _ in layer.state_names)
    with pytest.raises(ValueError, match=rf"state h of shape \({N}, {H}\), got \({N + 1}, {H}\)"):
        layer.forward(x, bad_state)
    with pytest.raises(ValueError, match="tuple"):
        layer.forward(x, tuple(np.zeros((N, H)) for _ in range(3)))
    with pytest.raises(ValueError, match=rf"episode_start of shape \({T}, {N}\), got \({N}, {T}\)"):
        layer.forward(x, episode_start=np.zeros((N, T), bool))
    with pytest.raises(ValueError, match=rf"step input x of shape \(N, {D}\), got \({N}, {D + 2}\)"):
        layer.step(np.zeros((N, D + 2)))
    with pytest.raises(ValueError, match=rf"\({N}, {H}\), got \(2, {H}\)"):
        layer.step(np.zeros((N, D)), tuple(np.zeros((2, H)) for _ in layer.state_names))
    with pytest.raises(RuntimeError, match="before forward"):
        make(cls).backward(np.zeros((T, N, H)))
    layer.forward(x)
    with pytest.raises(ValueError, match=rf"dy of shape \({T}, {N}, {H}\), got \({T}, {N}, {H + 1}\)"):
        layer.backward(np.zeros((T, N, H + 1)))
    with pytest.raises(ValueError, match=rf"dstate_final h of shape \({N}, {H}\)"):
        layer.backward(np.zeros((T, N, H)), tuple(np.zeros((1, H)) for _ in layer.state_names))
    with pytest.raises(ValueError, match="input_size >= 1"):
        cls(0, H, np.random.default_rng(0))
    with pytest.raises(ValueError, match="w_init"):
        cls(D, H, np.random.default_rng(0), w_init="nielsen")


# --- initialisation, optimisers, files --------------------------------------------------------------
def test_lstm_forget_bias_and_torch_default_init() -> None:
    layer = LSTM(D, H, np.random.default_rng(0), forget_bias=1.0)
    b = layer.params["b_ih"] + layer.params["b_hh"]
    np.testing.assert_array_equal(b[H : 2 * H], 1.0)
    assert np.abs(b[:H]).max() < 2 / np.sqrt(H) and np.abs(b[:H]).max() > 0
    default = LSTM(D, H, np.random.default_rng(0), forget_bias=None)
    assert np.abs(default.params["W_hh"]).max() <= 1 / np.sqrt(H)
    assert np.abs(default.params["b_ih"][H : 2 * H]).max() < 1 / np.sqrt(H)
    assert default.params["W_hh"].shape == (4 * H, H) and default.params["W_ih"].shape == (4 * H, D)
    assert default.params["W_ih"].dtype == np.float32


@pytest.mark.parametrize("cls", CLASSES)
def test_optimiser_and_clipping_learn_a_sequence_target(cls: type[Recurrent]) -> None:
    """Adam with global-norm clipping over a recurrent layer and a Dense readout lowers the loss."""
    rng = np.random.default_rng(6)
    layer = cls(2, 16, rng)
    readout = Sequential([Dense(16, 1, rng)])
    x = rng.standard_normal((8, 32, 2)).astype(np.float32)
    target = x[:3, :, 0].sum(0, keepdims=True).T  # (32, 1): needs memory of the first inputs
    opt = Adam([layer, readout], lr=1e-2, max_grad_norm=1.0)
    assert {n for n, _, _ in layer.named_params()} == {"W_ih", "W_hh", "b_ih", "b_hh"}

    def loss_and_grads() -> float:
        y, _ = layer.forward(x)
        out = readout.forward(y[-1])
        err = out - target
        dy = np.zeros_like(y)
        dy[-1] = readout.backward(err / len(err))
        layer.backward(dy)
        return float(0.5 * np.mean(err**2))

    first = loss_and_grads()
    before = layer.params["W_hh"].copy()
    norm = opt.step()
    assert norm is not None and norm > 0
    assert np.abs(layer.params["W_hh"] - before).max() > 0
    for _ in range(150):
        loss = loss_and_grads()
        opt.step()
    assert loss < 0.3 * first
    loss_and_grads()
    clip_grad_norm([layer, readout], 1e-3)
    assert global_grad_norm(g for _, _, g in layer.named_params() + readout.named_params()) <= 1e-3 + 1e-9


@pytest.mark.parametrize("cls", CLASSES)
def test_save_load_round_trip(cls: type[Recurrent], tmp_path: object) -> None:
    rng = np.random.default_rng(7)
    layer = cls(D, H, rng, w_init="orthogonal")
    layer.params["b_hh"][...] = rng.standard_normal(layer.params["b_hh"].shape)
    path = Sequential([layer]).save(tmp_path / "rec")  # type: ignore[operator]
    loaded = Sequential.load(path).layers[0]
    assert type(loaded) is cls and loaded.config() == layer.config()
    for k, p in layer.params.items():
        np.testing.assert_array_equal(loaded.params[k], p)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x)[0], layer.forward(x)[0])
