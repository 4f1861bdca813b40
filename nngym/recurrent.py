"""What RNN and LSTM share: the sequence API, state handling and episode-start masks.

A recurrent layer maps a sequence ``x`` of shape (T, N, D) (time first, torch's default
``batch_first=False``) or (N, T, D) (``batch_first=True``) to hidden states ``y`` of
shape (T, N, H) or (N, T, H), carrying a state from step to step: ``(h,)`` for an RNN,
``(h, c)`` for an LSTM, each (N, H) whatever the layout. ``backward`` runs
backpropagation through time over the whole sequence and also leaves the gradient
with respect to the initial state in ``dstate0``, so an agent can train on chunks
of episodes and carry gradients (or just states) across chunks.

The layers follow the protocol of every nngym layer, ``forward(x, train=True) -> y`` and
``backward(dy) -> dx``, so they work inside a ``Sequential`` (which starts every sequence from
the zero state); the state is keyword-only: ``forward(x, train, state=..., episode_start=...,
return_state=True)`` starts from a given state and also returns the final one, and
``step(x_t, state)`` advances one time step for acting in an environment.

Episode boundaries inside a sequence are given by ``episode_start``, (T, N) or (N, T) like the
first two axes of ``x``: where it is true the state is reset to zero *before* step t, i.e. step t
sees ``h_{t-1} ⊙ (1 − start_t)`` (recurrent PPO's rollouts hold several episodes per row).

Weights are stored exactly as torch's single-layer ``nn.RNN`` / ``nn.LSTM`` store them
(``W_ih`` ↔ ``weight_ih_l0``, ``W_hh`` ↔ ``weight_hh_l0``, ``b_ih`` ↔ ``bias_ih_l0``,
``b_hh`` ↔ ``bias_hh_l0``), so copying weights either way is a plain assignment.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, overload

import numpy as np

from nngym.checks import check_rng, is_int, shown
from nngym.layer import Layer

State = tuple[np.ndarray, ...]


def uniform_init(shape: tuple[int, ...], hidden_size: int, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """torch's default for recurrent layers: U(−k, k), k = 1/sqrt(hidden_size), for weights and biases."""
    k = 1.0 / np.sqrt(hidden_size)
    return rng.uniform(-k, k, shape).astype(dtype)


def blockwise_orthogonal(
    shape: tuple[int, int], n_blocks: int, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """One (semi-)orthogonal matrix per gate block of rows, stacked: shape (n_blocks·H, n_in)."""
    from nngym.init import orthogonal

    rows, cols = shape
    block = rows // n_blocks
    return np.concatenate([orthogonal((block, cols), rng, dtype) for _ in range(n_blocks)], axis=0)


class Recurrent(Layer, register=False):
    """Base class of RNN and LSTM: parameters ``W_ih`` (G·H, D), ``W_hh`` (G·H, H), ``b_ih``, ``b_hh`` (G·H,).

    G is the number of gate blocks (1 for the RNN, 4 for the LSTM). Subclasses implement
    ``_forward_seq`` and ``_backward_seq`` on time-major arrays; this class checks shapes, converts
    the ``batch_first`` layout, builds masks and exposes ``step``, ``initial_state`` and
    ``named_params`` (for the optimisers).

    Args:
        input_size: D, features per time step.
        hidden_size: H, size of the hidden state.
        rng: Generator for the initial weights.
        w_init: ``"uniform"`` (torch's default, U(±1/sqrt(H)) for all weights and biases) or
            ``"orthogonal"`` (each gate block of ``W_ih`` and ``W_hh`` orthogonal, biases zero).
        batch_first: If True, sequences are (N, T, D) in and (N, T, H) out, and ``episode_start`` is
            (N, T): the layout ``nngym.train.fit`` needs, since it shuffles and batches along axis 0.
            If False (torch's default), time comes first: (T, N, D), (T, N, H), (T, N). A bool.
        dtype: Parameter dtype.

    Raises:
        ValueError: For sizes that are not integers >= 1, an ``rng`` that is not a Generator, an unknown
            ``w_init``, a ``batch_first`` that is not a bool, or a dtype that is not floating.
    """

    n_gates: ClassVar[int] = 1
    state_names: ClassVar[tuple[str, ...]] = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        w_init: str = "uniform",
        batch_first: bool = False,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        super().__init__(dtype)
        if not (is_int(input_size) and is_int(hidden_size)) or input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"{type(self).__name__} needs integers input_size >= 1 and hidden_size >= 1, "
                f"got {input_size!r}, {hidden_size!r}"
            )
        check_rng(rng, f"{type(self).__name__} rng")
        if not isinstance(w_init, str) or w_init not in ("uniform", "orthogonal"):
            raise ValueError(f"{type(self).__name__} w_init must be 'uniform' or 'orthogonal', got {shown(w_init)}")
        if not isinstance(batch_first, bool | np.bool_):  # the string "false" would read as True
            raise ValueError(f"{type(self).__name__} batch_first must be True or False, got {shown(batch_first)}")
        self.input_size, self.hidden_size, self.w_init = int(input_size), int(hidden_size), w_init
        self.batch_first = bool(batch_first)
        D, H, G = self.input_size, self.hidden_size, self.n_gates
        if w_init == "uniform":
            self.params = {
                "W_ih": uniform_init((G * H, D), H, rng, self.dtype),
                "W_hh": uniform_init((G * H, H), H, rng, self.dtype),
                "b_ih": uniform_init((G * H,), H, rng, self.dtype),
                "b_hh": uniform_init((G * H,), H, rng, self.dtype),
            }
        else:
            self.params = {
                "W_ih": blockwise_orthogonal((G * H, D), G, rng, self.dtype),
                "W_hh": blockwise_orthogonal((G * H, H), G, rng, self.dtype),
                "b_ih": np.zeros(G * H, self.dtype),
                "b_hh": np.zeros(G * H, self.dtype),
            }
        self._init_grads()
        self.dstate0: State | None = None
        self._name = f"{type(self).__name__}({D}->{H})"

    @property
    def batch_axis(self) -> int:
        """The axis of ``x`` that indexes sequences: 0 with ``batch_first``, else 1 (``Sequential.predict``
        chunks along it)."""
        return 0 if self.batch_first else 1

    # --- public API -------------------------------------------------------------------
    def initial_state(self, n: int) -> State:
        """The zero state for a batch of ``n`` sequences: a tuple of (n, H) arrays (``(h,)`` or ``(h, c)``)."""
        return tuple(np.zeros((n, self.hidden_size), self.dtype) for _ in self.state_names)

    @overload
    def forward(
        self,
        x: np.ndarray,
        train: bool = ...,
        *,
        state: State | None = ...,
        episode_start: np.ndarray | None = ...,
        return_state: Literal[False] = ...,
    ) -> np.ndarray: ...

    @overload
    def forward(
        self,
        x: np.ndarray,
        train: bool = ...,
        *,
        state: State | None = ...,
        episode_start: np.ndarray | None = ...,
        return_state: Literal[True],
    ) -> tuple[np.ndarray, State]: ...

    def forward(
        self,
        x: np.ndarray,
        train: bool = True,
        *,
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        return_state: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, State]:
        """Runs the layer over a whole sequence.

        Args:
            x: Inputs, shape (T, N, D), or (N, T, D) with ``batch_first``.
            train: Whether to keep what ``backward`` needs.
            state: Initial state, a tuple of (N, H) arrays (``(h,)`` or ``(h, c)``); ``None`` for zeros
                (what a ``Sequential`` uses).
            episode_start: Optional booleans laid out like the first two axes of ``x``, (T, N) or (N, T);
                where true the state is reset to zero before step t.
            return_state: Also return the state after the last step.

        Returns:
            The hidden states h_1..h_T, shape (T, N, H) or (N, T, H) with ``batch_first``; with
            ``return_state`` the pair ``(y, final_state)``, the final state a tuple like ``state``.

        Raises:
            ValueError: For inputs, states or ``episode_start`` of other shapes, or sequences of no steps (T = 0:
                there is no final state to return, as torch refuses them too).
        """
        x = self._as_input(x)
        check_dims(self._name, x, (*self._layout("T", "N"), self.input_size), "input x")
        if x.shape[self.batch_axis ^ 1] == 0:
            raise ValueError(
                f"{self._name} expected sequences of at least one step, got input x of shape {tuple(x.shape)} (T = 0)"
            )
        starts = None
        if episode_start is not None:
            starts = np.asarray(episode_start)
            check_dims(self._name, starts, x.shape[:2], "episode_start")
        if self.batch_first:
            x = x.swapaxes(0, 1)
            starts = None if starts is None else starts.swapaxes(0, 1)
        y, final = self._run(x, state, starts, train)
        if self.batch_first:
            y = y.swapaxes(0, 1)
        return (y, final) if return_state else y

    __call__ = forward

    def backward(self, dy: np.ndarray, *, dstate_final: State | None = None) -> np.ndarray:
        """Backpropagation through time over the sequence of the last ``forward(train=True)``.

        Fills ``grads`` (same keys as ``params``; BP3 and BP4 summed over all steps) and sets
        ``dstate0``, the gradient with respect to the initial state passed to ``forward`` (a tuple
        like the state, each (N, H)).

        Args:
            dy: ∂C/∂y, shape (T, N, H), or (N, T, H) with ``batch_first``.
            dstate_final: Optional ∂C/∂(final state), a tuple of (N, H) arrays (e.g. from the next chunk).

        Returns:
            ∂C/∂x (BP2 through time), shape (T, N, D), or (N, T, D) with ``batch_first``.
        """
        cache = self._need_cache()
        T, N = cache["x"].shape[:2]
        dy = np.asarray(dy, dtype=self.dtype)
        check_dims(self._name, dy, (*self._layout(T, N), self.hidden_size), "upstream gradient dy")
        if self.batch_first:
            dy = dy.swapaxes(0, 1)
        if dstate_final is None:
            dstate_final = self.initial_state(N)
        else:
            dstate_final = self._check_state(dstate_final, N, what="dstate_final")
        dx, self.dstate0 = self._backward_seq(dy, dstate_final)
        return dx.swapaxes(0, 1) if self.batch_first else dx

    def step(
        self, x: np.ndarray, state: State | None = None, episode_start: np.ndarray | None = None
    ) -> tuple[np.ndarray, State]:
        """One time step for acting in an environment (nothing is cached; the same for either layout).

        Args:
            x: Inputs at this step, shape (N, D).
            state: Current state (tuple of (N, H) arrays); ``None`` for zeros.
            episode_start: Optional (N,) booleans; where true the state is reset to zero first.

        Returns:
            ``(y, new_state)``: the new hidden state h of shape (N, H) and the full new state.
        """
        x = self._as_input(x)
        check_dims(self._name, x, ("N", self.input_size), "step input x")
        starts = None
        if episode_start is not None:
            starts = np.asarray(episode_start)
            check_dims(self._name, starts, x.shape[:1], "step episode_start")
            starts = starts[None]
        y, new_state = self._run(x[None], state, starts, train=False)
        return y[0], new_state

    def zero_grads(self) -> None:
        for g in self.grads.values():
            g[...] = 0

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"input_size": self.input_size, "hidden_size": self.hidden_size, "w_init": self.w_init}
        if self.batch_first:  # only when set, so architectures saved before the option compare equal
            cfg["batch_first"] = True
        return cfg

    def astype(self, dtype: np.dtype | type) -> Recurrent:
        super().astype(dtype)
        self.dstate0 = None
        return self

    # --- helpers ----------------------------------------------------------------------
    def _layout(self, time: int | str, batch: int | str) -> tuple[int | str, int | str]:
        """The first two axes of ``x`` in this layer's layout: (time, batch), or (batch, time) with ``batch_first``."""
        return (batch, time) if self.batch_first else (time, batch)

    def _run(
        self, x: np.ndarray, state: State | None, starts: np.ndarray | None, train: bool
    ) -> tuple[np.ndarray, State]:
        """The time-major core of ``forward`` and ``step``: x (T, N, D), starts (T, N) checked by the caller."""
        T, N = x.shape[:2]
        state = self._check_state(state, N)
        keep = self._keep_mask(starts)
        y, final = self._forward_seq(x, state, keep, train)
        if train:
            self.dstate0 = None
        return y, final

    def _check_state(self, state: State | None, N: int, what: str = "state") -> State:
        if state is None:
            return self.initial_state(N)
        if isinstance(state, np.ndarray):
            state = (state,)
        if len(state) != len(self.state_names):
            names = ", ".join(self.state_names)
            raise ValueError(f"{self._name} expected {what} as a tuple ({names}), got {len(state)} arrays")
        out = []
        for name, s in zip(self.state_names, state, strict=True):
            s = self._as_input(s)
            check_dims(self._name, s, (N, self.hidden_size), f"{what} {name}")
            out.append(s)
        return tuple(out)

    def _keep_mask(self, starts: np.ndarray | None) -> np.ndarray | None:
        """(T, N, 1) multipliers 1 − start_t from time-major (T, N) starts, or None when no state is ever reset."""
        if starts is None:
            return None
        starts = starts.astype(bool)
        if not starts.any():
            return None
        return (~starts).astype(self.dtype)[:, :, None]

    def _forward_seq(
        self, x: np.ndarray, state: State, keep: np.ndarray | None, train: bool
    ) -> tuple[np.ndarray, State]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward_seq(self, dy: np.ndarray, dstate: State) -> tuple[np.ndarray, State]:  # pragma: no cover
        raise NotImplementedError


def check_dims(layer: str, x: np.ndarray, expected: tuple[int | str, ...], what: str) -> None:
    """Raises a ValueError naming expected and actual shapes; a string entry (``"T"``, ``"N"``) matches any size."""
    if x.ndim != len(expected) or any(isinstance(e, int) and e != s for e, s in zip(expected, x.shape, strict=True)):
        shown = "(" + ", ".join(str(e) for e in expected) + (",)" if len(expected) == 1 else ")")
        raise ValueError(f"{layer} expected {what} of shape {shown}, got {tuple(x.shape)}")


def previous(hs: np.ndarray, h0: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """The (masked) states each step saw: out[t] = hs[t−1] ⊙ keep[t], out[0] = h0 ⊙ keep[0]. Shape (T, N, H)."""
    out = np.empty_like(hs)
    out[0] = h0
    out[1:] = hs[:-1]
    if keep is not None:
        out *= keep
    return out
