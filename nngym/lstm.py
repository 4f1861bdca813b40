"""Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

Gates decide what the cell c forgets (f), what it writes (i ⊙ g) and what it shows (o):

    i = σ(a_i),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o),   a = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh
    c_t = f ⊙ c_{t−1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nngym.checks import is_real, shown
from nngym.recurrent import Recurrent, State, previous


class LSTM(Recurrent):
    """LSTM layer with torch's parameter layout; the state is ``(h, c)``, each (N, H).

    The pre-activations ``a`` (4H per example) are stacked in torch's gate order
    **i, f, g, o**, so the parameters map one to one onto a one-layer ``torch.nn.LSTM(D, H)``:

    ==========  ==========  ================
    nngym       shape       torch.nn.LSTM
    ==========  ==========  ================
    ``W_ih``    (4H, D)     ``weight_ih_l0``
    ``W_hh``    (4H, H)     ``weight_hh_l0``
    ``b_ih``    (4H,)       ``bias_ih_l0``
    ``b_hh``    (4H,)       ``bias_hh_l0``
    ==========  ==========  ================

    Rows ``k·H:(k+1)·H`` belong to gate k of (i, f, g, o). torch's state ``(h_0, c_0)`` has a
    leading layer axis of size 1: ``h_0 = torch.from_numpy(h)[None]``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> net = Sequential([LSTM(4, 8, rng, batch_first=True), Dense(8, 2, rng)])
        >>> net.forward(np.zeros((16, 10, 4))).shape  # (N, T, D) -> (N, T, 2), from the zero state
        (16, 10, 2)
        >>> lstm = net.layers[0]
        >>> h0, c0 = lstm.initial_state(16)  # or a state carried over from an earlier chunk
        >>> y, (h, c) = lstm.forward(np.zeros((16, 10, 4)), state=(h0, c0), return_state=True)
        >>> h_t, (h, c) = lstm.step(np.zeros((16, 4)), (h, c))  # one step while acting

    Args:
        input_size: D.
        hidden_size: H.
        rng: Generator for the initial weights.
        w_init: ``"uniform"`` (torch's default) or ``"orthogonal"``.
        forget_bias: If not None, the forget gate's total bias ``b_ih[f] + b_hh[f]`` starts at this
            value (``b_ih[f] = forget_bias``, ``b_hh[f] = 0``); 1 makes the cell remember by default
            (Gers et al. 2000; Jozefowicz et al. 2015). None keeps the ``w_init`` biases.
        batch_first: Sequences (N, T, D) → (N, T, H) instead of time-major (T, N, D) → (T, N, H)
            (torch's ``batch_first``); needed to train with ``nngym.train.fit``. A bool.
        dtype: Parameter dtype.

    Raises:
        ValueError: For a ``forget_bias`` that is neither None nor a finite number, besides ``Recurrent``'s checks.
    """

    n_gates = 4
    state_names = ("h", "c")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        w_init: str = "uniform",
        forget_bias: float | None = 1.0,
        batch_first: bool = False,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if forget_bias is not None and (not is_real(forget_bias) or not math.isfinite(forget_bias)):
            raise ValueError(f"LSTM forget_bias must be None or a finite number, got {shown(forget_bias)}")
        super().__init__(input_size, hidden_size, rng, w_init, batch_first=batch_first, dtype=dtype)
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        if self.forget_bias is not None:
            H = self.hidden_size
            self.params["b_ih"][H : 2 * H] = self.forget_bias
            self.params["b_hh"][H : 2 * H] = 0.0

    def config(self) -> dict[str, Any]:
        return {**super().config(), "forget_bias": self.forget_bias}

    def _forward_seq(
        self, x: np.ndarray, state: State, keep: np.ndarray | None, train: bool
    ) -> tuple[np.ndarray, State]:
        T, N, D = x.shape
        H = self.hidden_size
        # σ(a) = (1 + tanh(a/2)) / 2: halving the rows of i, f, o lets one tanh serve all four gates
        scale = np.array([0.5, 0.5, 1.0, 0.5], self.dtype)[:, None]  # (4, 1), broadcast over (N, 4, H)
        shift = np.array([0.5, 0.5, 0.0, 0.5], self.dtype)[:, None]
        rows = np.repeat(scale[:, 0], H)[:, None]  # (4H, 1)
        W_hh_T = (self.params["W_hh"] * rows).T
        # input part of every gate at every step: one (T·N, D) @ (D, 4H) product outside the time loop
        gates = x.reshape(T * N, D) @ (self.params["W_ih"] * rows).T
        gates += (self.params["b_ih"] + self.params["b_hh"]) * rows[:, 0]
        gates = gates.reshape(T, N, 4, H)  # overwritten in place with i, f, g, o
        cs = np.empty((T, N, H), self.dtype)
        hs = np.empty((T, N, H), self.dtype)
        h, c = state
        for t in range(T):
            if keep is not None:
                h, c = h * keep[t], c * keep[t]  # reset at episode starts
            a = gates[t]
            a += (h @ W_hh_T).reshape(N, 4, H)
            np.tanh(a, out=a)
            a *= scale
            a += shift  # a = [i, f, g, o]
            c = np.multiply(a[:, 1], c, out=cs[t])
            c += a[:, 0] * a[:, 2]  # c_t = f ⊙ c_{t−1} + i ⊙ g
            h = np.tanh(c, out=hs[t])
            h *= a[:, 3]  # h_t = o ⊙ tanh(c_t)
        if train:
            self._cache = {"x": x, "gates": gates, "cs": cs, "hs": hs, "h0": state[0], "c0": state[1], "keep": keep}
        return hs, (h.copy(), c.copy())

    def _backward_seq(self, dy: np.ndarray, dstate: State) -> tuple[np.ndarray, State]:
        cache = self._cache
        x, gates, cs, hs, keep = cache["x"], cache["gates"], cache["cs"], cache["hs"], cache["keep"]
        T, N, D = x.shape
        H = self.hidden_size
        W_hh = self.params["W_hh"]
        i, f, g, o = gates[:, :, 0], gates[:, :, 1], gates[:, :, 2], gates[:, :, 3]
        c_prev = previous(cs, cache["c0"], keep)
        tc = np.tanh(cs)
        # everything that does not depend on the recursion, for all steps at once:
        #   ∂C/∂a_o = ∂C/∂h ⊙ tanh(c) ⊙ σ'(a_o);   ∂C/∂c += ∂C/∂h ⊙ o ⊙ tanh'(c)
        #   ∂C/∂a_{i,f,g} = ∂C/∂c ⊙ [g ⊙ σ'(a_i), c_{t−1} ⊙ σ'(a_f), i ⊙ tanh'(a_g)]
        k_o = tc * o * (1.0 - o)
        k_c = o * (1.0 - tc * tc)
        k_ifg = np.empty((T, N, 3, H), self.dtype)
        np.multiply(g, i * (1.0 - i), out=k_ifg[:, :, 0])
        np.multiply(c_prev, f * (1.0 - f), out=k_ifg[:, :, 1])
        np.multiply(i, 1.0 - g * g, out=k_ifg[:, :, 2])
        da = np.empty((T, N, 4, H), self.dtype)  # δ_t = ∂C/∂a_t for every gate
        dh, dc = dstate  # ∂C/∂h_t, ∂C/∂c_t coming from later steps
        for t in range(T - 1, -1, -1):
            dh = dy[t] + dh
            dc = dh * k_c[t] + dc  # through h_t = o ⊙ tanh(c_t)
            np.multiply(dh, k_o[t], out=da[t, :, 3])
            np.multiply(dc[:, None, :], k_ifg[t], out=da[t, :, :3])
            dh = da[t].reshape(N, 4 * H) @ W_hh  # (BP2) into h_{t−1}
            dc = dc * f[t]  # into c_{t−1} through the forget gate
            if keep is not None:
                dh *= keep[t]  # no gradient flows across an episode start
                dc *= keep[t]
        da2 = da.reshape(T * N, 4 * H)
        h_prev = previous(hs, cache["h0"], keep).reshape(T * N, H)
        np.matmul(da2.T, x.reshape(T * N, D), out=self.grads["W_ih"])  # (BP4) Σ_t δ_t x_t^T
        np.matmul(da2.T, h_prev, out=self.grads["W_hh"])  # (BP4) Σ_t δ_t h_{t−1}^T
        da2.sum(axis=0, out=self.grads["b_ih"])  # (BP3)
        self.grads["b_hh"][...] = self.grads["b_ih"]
        dx = (da2 @ self.params["W_ih"]).reshape(T, N, D)
        return dx, (dh, dc)
