"""The simple (Elman) recurrent layer, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)."""

from __future__ import annotations

import numpy as np

from nngym.recurrent import Recurrent, State, previous


class RNN(Recurrent):
    """Recurrent layer with tanh units: each output depends on all earlier inputs through h.

    ``h_t = tanh(z_t)``, ``z_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh``; the state is ``(h,)``.
    Same parameters, shapes and equations as a one-layer ``torch.nn.RNN(D, H, nonlinearity="tanh")``:
    ``W_ih`` (H, D) = ``weight_ih_l0``, ``W_hh`` (H, H) = ``weight_hh_l0``, ``b_ih``/``b_hh`` (H,) =
    ``bias_ih_l0``/``bias_hh_l0``. See ``nngym.recurrent.Recurrent`` for the sequence and step API.

    Args:
        input_size: D.
        hidden_size: H.
        rng: Generator for the initial weights.
        w_init: ``"uniform"`` (torch's default) or ``"orthogonal"``.
        batch_first: Sequences (N, T, D) → (N, T, H) instead of time-major (T, N, D) → (T, N, H)
            (torch's ``batch_first``); needed to train with ``nngym.train.fit``.
        dtype: Parameter dtype.
    """

    n_gates = 1
    state_names = ("h",)

    def _forward_seq(
        self, x: np.ndarray, state: State, keep: np.ndarray | None, train: bool
    ) -> tuple[np.ndarray, State]:
        T, N, D = x.shape
        H = self.hidden_size
        W_hh_T = self.params["W_hh"].T
        # the input part of every z_t at once: one (T·N, D) @ (D, H) product outside the time loop
        zs = (x.reshape(T * N, D) @ self.params["W_ih"].T).reshape(T, N, H)
        zs += self.params["b_ih"] + self.params["b_hh"]
        hs = zs  # overwritten in place, step by step: hs[t] = tanh(zs[t] + h_{t−1} W_hh^T)
        h = state[0]
        for t in range(T):
            if keep is not None:
                h = h * keep[t]  # reset at episode starts
            hs[t] += h @ W_hh_T
            h = np.tanh(hs[t], out=hs[t])
        if train:
            self._cache = {"x": x, "hs": hs, "h0": state[0], "keep": keep}
        return hs, (h.copy(),)

    def _backward_seq(self, dy: np.ndarray, dstate: State) -> tuple[np.ndarray, State]:
        c = self._cache
        x, hs, keep = c["x"], c["hs"], c["keep"]
        T, N, D = x.shape
        H = self.hidden_size
        W_hh = self.params["W_hh"]
        dz = 1.0 - hs * hs  # tanh'(z_t), then overwritten by δ_t = ∂C/∂z_t
        dh = dstate[0]  # ∂C/∂h_t coming from later steps
        for t in range(T - 1, -1, -1):
            dz[t] *= dy[t] + dh  # backprop through tanh: δ_t = (∂C/∂y_t + ∂C/∂h_t from t+1) ⊙ tanh'(z_t)
            dh = dz[t] @ W_hh  # (BP2) into h_{t−1}
            if keep is not None:
                dh *= keep[t]  # no gradient flows across an episode start
        dz2 = dz.reshape(T * N, H)
        h_prev = previous(hs, c["h0"], keep).reshape(T * N, H)
        np.matmul(dz2.T, x.reshape(T * N, D), out=self.grads["W_ih"])  # (BP4) Σ_t δ_t x_t^T
        np.matmul(dz2.T, h_prev, out=self.grads["W_hh"])  # (BP4) Σ_t δ_t h_{t−1}^T
        dz2.sum(axis=0, out=self.grads["b_ih"])  # (BP3)
        self.grads["b_hh"][...] = self.grads["b_ih"]
        dx = (dz2 @ self.params["W_ih"]).reshape(T, N, D)
        return dx, (dh,)
