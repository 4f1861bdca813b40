"""RNN and LSTM: BPTT gradient checks, torch equivalence, masks, step API, shapes, optimisers, files,
and recurrent layers inside Sequential (batch_first layout, fit, predict, save/load)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gradients import assert_all_float64, assert_gradcheck_passes, assert_gradient_matches

from nngym.activations import Tanh
from nngym.costs import QuadraticCost, SoftmaxCrossEntropy
from nngym.dense import Dense
from nngym.gradcheck import gradcheck, numerical_gradient
from nngym.lstm import LSTM
from nngym.network import Sequential
from nngym.optim import Adam, clip_grad_norm, global_grad_norm
from nngym.recurrent import Recurrent
from nngym.rnn import RNN
from nngym.train import fit

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
        y, final = layer.forward(x, False, state=state, episode_start=starts, return_state=True)
        return float(np.sum(G * y) + sum(np.sum(g * s) for g, s in zip(G_state, final, strict=True)))

    layer.forward(x, state=state, episode_start=starts)
    dx = layer.backward(G, dstate_final=G_state)
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
    layer.forward(rng.standard_normal((T, N, D)), state=random_state(layer, rng), episode_start=starts)
    layer.backward(rng.standard_normal((T, N, H)), dstate_final=random_state(layer, rng))
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

    y, final = layer.forward(x, state=state, return_state=True)
    dx = layer.backward(G, dstate_final=G_state)

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
    y, final = layer.forward(x, state=state, episode_start=starts, return_state=True)
    y_head = layer.forward(x[:3], state=state)
    y_tail, final_tail = layer.forward(x[3:], return_state=True)  # zero initial state
    np.testing.assert_allclose(y[:3], y_head, rtol=1e-12)
    np.testing.assert_allclose(y[3:], y_tail, rtol=1e-12)
    for a, b in zip(final, final_tail, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    y_plain = layer.forward(x, state=state)
    assert np.abs(y_plain[3:] - y[3:]).max() > 1e-3  # the reset changed something


@pytest.mark.parametrize("cls", CLASSES)
def test_step_api_equals_sequence_api(cls: type[Recurrent]) -> None:
    rng = np.random.default_rng(5)
    layer = make(cls, dtype=np.float32)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    starts = episode_starts()
    y, final = layer.forward(x, False, episode_start=starts, return_state=True)
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
        layer.forward(x, state=bad_state)
    with pytest.raises(ValueError, match="tuple"):
        layer.forward(x, state=tuple(np.zeros((N, H)) for _ in range(3)))
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
        layer.backward(np.zeros((T, N, H)), dstate_final=tuple(np.zeros((1, H)) for _ in layer.state_names))
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


@pytest.mark.slow
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
        y = layer.forward(x)
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
    # loss / first, seeds 0-4 x 3 OpenBLAS kernels: RNN max 0.0024, median 0.0004; LSTM max 0.0095, median 0.0002
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
    np.testing.assert_array_equal(loaded.forward(x), layer.forward(x))


# --- inside Sequential ------------------------------------------------------------------------
def delayed_copy(n: int, steps: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of ±1 inputs (n, steps, 1); the target at step t is the input at t − k (0 for t < k)."""
    x = rng.choice(np.array([-1.0, 1.0], np.float32), (n, steps, 1))
    y = np.zeros_like(x)
    y[:, k:] = x[:, :-k]
    return x, y


def test_fit_learns_a_task_that_needs_memory_then_save_load(tmp_path: object) -> None:
    """fit trains Sequential([LSTM(batch_first=True), Dense]) on a delayed copy; the file gives identical outputs.

    With ±1 inputs, the target x_{t−k} is independent of x_t, so a memoryless model (any function f
    of x_t alone) has expected squared error E[(x_{t−k} − f(x_t))²] = 1 + E[f²] at each of the T − k
    steps with a target and E[f²] at the first k: QuadraticCost (½ Σ over steps, mean over sequences)
    is at least ½(T − k) = 3.5 for T = 10, k = 3, reached by f = 0. The LSTM has to remember 3 steps.
    """
    steps, k = 10, 3
    memoryless_floor = 0.5 * (steps - k)
    rng = np.random.default_rng(0)
    x, y = delayed_copy(256, steps, k, rng)
    x_test, y_test = delayed_copy(256, steps, k, np.random.default_rng(1))
    cost = QuadraticCost()

    net = Sequential([LSTM(1, 16, rng, batch_first=True), Dense(16, 1, rng)])
    history = fit(net, cost, Adam(net, lr=1e-2), x, y, epochs=30, batch_size=32, rng=rng)
    test_loss = cost.value(net.predict(x_test), y_test)
    assert history.train_cost[0] > 0.5 * memoryless_floor  # it starts where a memoryless model stays
    assert test_loss < 0.03 * memoryless_floor, test_loss

    # the same training on a memoryless network (Dense layers on each step's input) stays at the floor
    memoryless = Sequential([Dense(1, 16, rng), Tanh(), Dense(16, 1, rng)])
    fit(memoryless, cost, Adam(memoryless, lr=1e-2), x, y, epochs=30, batch_size=32, rng=rng)
    assert cost.value(memoryless.predict(x_test), y_test) > 0.9 * memoryless_floor

    path = net.save(tmp_path / "delayed_copy")  # type: ignore[operator]
    loaded = Sequential.load(path)
    assert loaded.architecture() == net.architecture() and loaded.layers[0].batch_first
    np.testing.assert_array_equal(loaded.predict(x_test), net.predict(x_test))
    np.testing.assert_array_equal(loaded.forward(x_test, train=False), net.forward(x_test, train=False))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_sequential_gradcheck(cls: type[Recurrent], batch_first: bool) -> None:
    """Sequential([recurrent, Dense]) through nngym.gradcheck, everything in float64 (the zero initial state too)."""
    rng = np.random.default_rng(8)
    net = Sequential([cls(D, H, rng, batch_first=batch_first), Dense(H, 2, rng, b_init="standard_normal")])
    x = rng.standard_normal((N, T, D) if batch_first else (T, N, D))
    errors = gradcheck(net, x, rng)
    assert set(errors) == {"x", "0.W_ih", "0.W_hh", "0.b_ih", "0.b_hh", "1.W", "1.b"}
    assert_gradcheck_passes(errors)
    assert_all_float64(net.named_params())
    layer = net.layers[0]
    net.backward(np.ones_like(net.forward(x)))  # gradcheck's last forward passes reset dstate0
    assert all(s.dtype == np.float64 for s in (*layer.initial_state(N), *layer.dstate0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sequential_lstm_dense_matches_torch(dtype: type) -> None:
    """Sequential([LSTM(batch_first=True), Dense]) with SoftmaxCrossEntropy over (N, T, K) equals torch's
    nn.LSTM(batch_first=True) + nn.Linear with the summed cross-entropy / N: outputs, loss, ∂/∂x, ∂/∂θ
    and ∂/∂(initial state)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    K = 3
    lstm = LSTM(D, H, rng, w_init="orthogonal", batch_first=True, dtype=dtype)
    dense = Dense(H, K, rng, b_init="standard_normal", dtype=dtype)
    net = Sequential([lstm, dense])
    tt = torch.float64 if dtype == np.float64 else torch.float32
    module = torch.nn.LSTM(D, H, batch_first=True).to(tt)
    linear = torch.nn.Linear(H, K).to(tt)
    with torch.no_grad():
        for k, p in lstm.params.items():
            getattr(module, TORCH_NAMES[k]).copy_(torch.from_numpy(p))
        linear.weight.copy_(torch.from_numpy(dense.params["W"]))
        linear.bias.copy_(torch.from_numpy(dense.params["b"]))
    x = rng.standard_normal((N, T, D)).astype(dtype)
    labels = rng.integers(0, K, (N, T))
    cost = SoftmaxCrossEntropy()

    out = net.forward(x)
    loss = cost.value(out, labels)
    dx = net.backward(cost.delta(out, labels))

    xt = torch.tensor(x, requires_grad=True)
    h0 = torch.zeros((1, N, H), dtype=tt, requires_grad=True)
    c0 = torch.zeros((1, N, H), dtype=tt, requires_grad=True)
    out_t = linear(module(xt, (h0, c0))[0])
    flat_labels = torch.from_numpy(labels.reshape(-1))
    loss_t = torch.nn.functional.cross_entropy(out_t.reshape(N * T, K), flat_labels, reduction="sum") / N
    loss_t.backward()

    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    assert out.shape == (N, T, K) and out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(out, out_t.detach().numpy(), **tol)
    assert loss == pytest.approx(loss_t.item(), rel=tol["rtol"])
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for k in lstm.params:
        np.testing.assert_allclose(lstm.grads[k], getattr(module, TORCH_NAMES[k]).grad.numpy(), **tol, err_msg=k)
    np.testing.assert_allclose(dense.grads["W"], linear.weight.grad.numpy(), **tol)
    np.testing.assert_allclose(dense.grads["b"], linear.bias.grad.numpy(), **tol)
    for ours, theirs in zip(lstm.dstate0, (h0, c0), strict=True):
        np.testing.assert_allclose(ours, theirs.grad[0].numpy(), **tol)


@pytest.mark.parametrize("cls", CLASSES)
def test_batch_first_is_the_transposed_time_major_layer(cls: type[Recurrent]) -> None:
    """Same weights, (N, T, ·) instead of (T, N, ·) for x, y, dy, dx and episode_start; states are (N, H) in both."""
    rng = np.random.default_rng(10)
    tm, bf = make(cls), make(cls, batch_first=True)
    x = rng.standard_normal((T, N, D))
    state = random_state(tm, rng)
    starts = episode_starts()
    G = rng.standard_normal((T, N, H))
    G_state = random_state(tm, rng)
    y, final = tm.forward(x, state=state, episode_start=starts, return_state=True)
    dx = tm.backward(G, dstate_final=G_state)
    y_bf, final_bf = bf.forward(x.swapaxes(0, 1), state=state, episode_start=starts.T, return_state=True)
    dx_bf = bf.backward(G.swapaxes(0, 1), dstate_final=G_state)
    np.testing.assert_allclose(y_bf, y.swapaxes(0, 1), rtol=1e-13)
    np.testing.assert_allclose(dx_bf, dx.swapaxes(0, 1), rtol=1e-12, atol=1e-15)
    for a, b in zip((*final_bf, *bf.dstate0), (*final, *tm.dstate0), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    for k in tm.grads:
        np.testing.assert_allclose(bf.grads[k], tm.grads[k], rtol=1e-12, err_msg=k)
    y_t, _ = bf.step(x[0], state)  # one step takes (N, D) in either layout
    np.testing.assert_allclose(y_t, tm.forward(x[:1], state=state)[0], rtol=1e-13)
    name = re.escape(f"{cls.__name__}({D}->{H})")
    with pytest.raises(ValueError, match=rf"{name} expected input x of shape \(N, T, {D}\), got \(2, 3, {D + 1}\)"):
        bf.forward(np.zeros((2, 3, D + 1)))
    with pytest.raises(ValueError, match=rf"episode_start of shape \({N}, {T}\), got \({T}, {N}\)"):
        bf.forward(x.swapaxes(0, 1), episode_start=starts)
    with pytest.raises(ValueError, match=rf"dy of shape \({N}, {T}, {H}\), got \({T}, {N}, {H}\)"):
        bf.backward(G)
    with pytest.raises(ValueError, match=rf"step episode_start of shape \({N},\), got \({N + 1},\)"):
        bf.step(x[0], episode_start=np.zeros(N + 1, bool))


def test_time_major_sequential_forward_predict_and_fit() -> None:
    """Sequential([LSTM(4, 8), Dense(8, 2)]) on (T, N, 4): forward, backward, predict chunked by sequence
    (never by time step), and fit refusing a layout it would shuffle by time step."""
    rng = np.random.default_rng(11)
    net = Sequential([LSTM(4, 8, rng), Dense(8, 2, rng)])
    assert net.batch_axis == 1 and Sequential([Dense(4, 2, rng)]).batch_axis == 0
    x = rng.standard_normal((T, 7, 4)).astype(np.float32)
    y = net.forward(x)
    assert y.shape == (T, 7, 2)
    assert net.backward(np.ones_like(y)).shape == x.shape
    np.testing.assert_allclose(net.predict(x, batch_size=3), net.forward(x, train=False), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="batch_first=True"):
        fit(net, QuadraticCost(), Adam(net), x, np.zeros((T, 7, 2)), epochs=1, batch_size=2, rng=rng)
