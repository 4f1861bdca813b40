"""Restricted Boltzmann machines trained by contrastive divergence (Hinton 2002; Tieleman 2008 for PCD).

Notation follows Hinton's *A Practical Guide to Training RBMs* (2010): visible units v (D,),
hidden units h (H,), weights ``W`` (H, D) — shaped like a Dense layer's, so a trained RBM's
``(W, b)`` is the Dense layer v → σ(W v + b) directly — visible biases ``a`` (D,), hidden biases ``b`` (H,).

- Bernoulli visible: E(v, h) = −a·v − b·h − hᵀ W v,  p(h_j=1 | v) = σ(b_j + W_j v),  p(v_i=1 | h) = σ(a_i + (hᵀW)_i).
- Gaussian visible (unit variance; standardise the data first):
  E(v, h) = ½||v − a||² − b·h − hᵀ W v,  p(v | h) = N(a + Wᵀh, I).

Free energy F(v) = −log Σ_h e^{−E(v,h)}: Bernoulli −a·v − Σ_j softplus(b_j + W_j v);
Gaussian ½||v − a||² − Σ_j softplus(b_j + W_j v).

Bernoulli RBMs accept data in [0, 1]: grey levels are used as probabilities of a unit being on
(Hinton's convention for MNIST). Values outside [0, 1] raise ValueError. The exact log-likelihood
needs strictly binary data.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nngym.activations import sigmoid, softmax
from nngym.checks import check_int, check_rate, check_rng, float_dtype, is_int, is_real, shown
from nngym.optim import Momentum
from nngym.serialization import ModelFileError, load_npz, save_npz

#: Largest side (hidden or visible) the exact partition function will enumerate: 2^12 states.
MAX_ENUMERABLE = 12

VISIBLE_TYPES = ("bernoulli", "gaussian")


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), without overflow."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _logsumexp(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out.squeeze(axis) if axis is not None else out.reshape(())


def all_binary_states(n: int) -> np.ndarray:
    """Every vector of {0,1}^n, shape (2^n, n), in binary counting order."""
    return np.array(list(itertools.product((0.0, 1.0), repeat=n))).reshape(2**n, n)


class RBM:
    """A restricted Boltzmann machine with binary hidden units and Bernoulli or Gaussian visible units.

    Args:
        n_visible: Number of visible units D.
        n_hidden: Number of hidden units H.
        rng: Generator for the initial weights, N(0, w_std²) (biases start at zero).
        visible: ``"bernoulli"`` (binary or [0, 1] data) or ``"gaussian"`` (real data, unit variance).
        w_std: Standard deviation of the initial weights (Hinton's guide: 0.01).
        n_softmax: If K > 0, the last K visible units form one softmax (one-of-K) group, e.g. the label
            units of a DBN's top RBM (Hinton et al. 2006): p(v_k = 1 | h) = softmax_k(a + hᵀW), exactly one on.
            Bernoulli RBMs only. E(v, h) and F(v) keep their form; only the set of visible states shrinks.
        dtype: Parameter dtype.

    Shapes:
        ``W``: (H, D), ``a``: (D,), ``b``: (H,); batches are rows, v (N, D), h (N, H).

    Raises:
        ValueError: For sizes that are not integers >= 1 (bools and floats such as 784.0 are not integers), an
            ``rng`` that is not a ``np.random.Generator``, an unknown ``visible``, a ``w_std`` that is not a finite
            number >= 0, an ``n_softmax`` that is not 0 or an integer in [2, n_visible] with Bernoulli units, or a
            dtype that is not floating.
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        rng: np.random.Generator,
        visible: str = "bernoulli",
        w_std: float = 0.01,
        n_softmax: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        if not (is_int(n_visible) and is_int(n_hidden)) or n_visible < 1 or n_hidden < 1:
            raise ValueError(
                f"RBM needs integers n_visible >= 1 and n_hidden >= 1, got {shown(n_visible)}, {shown(n_hidden)}"
            )
        check_rng(rng, "RBM rng")
        if not isinstance(visible, str) or visible not in VISIBLE_TYPES:
            raise ValueError(f"RBM visible must be one of {VISIBLE_TYPES}, got {visible!r}")
        check_rate(w_std, "RBM w_std")
        self.n_visible, self.n_hidden = int(n_visible), int(n_hidden)
        self.visible = visible
        if not is_int(n_softmax) or (n_softmax and (visible != "bernoulli" or not 2 <= n_softmax <= n_visible)):
            raise ValueError(
                f"RBM n_softmax must be 0 or an integer in [2, n_visible={n_visible}] with Bernoulli units, got "
                f"{shown(n_softmax)} with {visible} units"
            )
        self.n_softmax = int(n_softmax)
        self.dtype = float_dtype(dtype, "RBM dtype")
        self.params = {
            "W": (w_std * rng.standard_normal((self.n_hidden, self.n_visible))).astype(self.dtype),
            "a": np.zeros(self.n_visible, self.dtype),
            "b": np.zeros(self.n_hidden, self.dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    # --- checks ---------------------------------------------------------------------
    def check_visible(self, v: np.ndarray, binary: bool = False) -> np.ndarray:
        """Returns ``v`` (N, D) as this RBM's dtype after checking shape and, for Bernoulli units, range.

        Raises:
            ValueError: Data that are not real numbers (bools count as 0/1); wrong shape; NaN or infinite values;
                Bernoulli data outside [0, 1] (or not in {0, 1} if ``binary``).
        """
        v = np.asarray(v)
        if v.dtype.kind not in "biuf":
            raise ValueError(f"{self!r} expected visible data of real numbers, got an array of dtype {v.dtype}")
        if v.ndim != 2 or v.shape[1] != self.n_visible:
            raise ValueError(f"{self!r} expected visible data of shape (N, {self.n_visible}), got {tuple(v.shape)}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{self!r}: visible data contains NaN or infinite values")
        if self.visible == "bernoulli":
            if binary and not np.all((v == 0) | (v == 1)):
                raise ValueError(f"{self!r}: expected binary data in {{0, 1}}, got values like {_non_binary(v)}")
            if v.size and (v.min() < 0 or v.max() > 1):
                raise ValueError(
                    f"{self!r}: Bernoulli visible units need data in [0, 1] (grey levels are read as "
                    f"probabilities), got range [{v.min():g}, {v.max():g}]; rescale, or use visible='gaussian'"
                )
        return v.astype(self.dtype, copy=False)

    # --- conditionals and sampling ----------------------------------------------------
    def _check_units(self, x: np.ndarray, width: int, what: str) -> np.ndarray:
        """``x`` as an array, refused unless it is (N, ``width``): the shape only, O(1) (``check_visible`` checks
        values too)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"{self!r} expected {what} of shape (N, {width}), got {tuple(x.shape)}")
        return x

    def hidden_probs(self, v: np.ndarray) -> np.ndarray:
        """p(h_j = 1 | v) = σ(b_j + W_j v), shape (N, H), for v (N, D).

        Raises:
            ValueError: For a ``v`` that is not (N, D) (one example is (1, D)).
        """
        v = self._check_units(v, self.n_visible, "visible data")
        return sigmoid(v @ self.params["W"].T + self.params["b"])

    def visible_mean(self, h: np.ndarray) -> np.ndarray:
        """E[v | h], shape (N, D): σ(a + hᵀW) for Bernoulli units (softmax over the group), a + hᵀW for Gaussian.

        Raises:
            ValueError: For an ``h`` that is not (N, H).
        """
        h = self._check_units(h, self.n_hidden, "hidden states")
        x = h @ self.params["W"] + self.params["a"]
        if self.visible == "gaussian":
            return x
        mean = sigmoid(x)
        if self.n_softmax:
            mean[:, -self.n_softmax :] = softmax(x[:, -self.n_softmax :])
        return mean

    def sample_hidden(self, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """h ~ p(h | v), binary (N, H), for v (N, D).

        Raises:
            ValueError: For a ``v`` that is not (N, D), or an ``rng`` that is not a ``np.random.Generator``.
        """
        check_rng(rng, "sample_hidden rng")
        p = self.hidden_probs(v)
        return (rng.random(p.shape, dtype=np.float32) < p).astype(self.dtype)

    def sample_visible(self, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """v ~ p(v | h), shape (N, D), for h (N, H): Bernoulli draws, or mean plus N(0, 1) noise for Gaussian units.

        Raises:
            ValueError: For an ``h`` that is not (N, H), or an ``rng`` that is not a ``np.random.Generator``.
        """
        check_rng(rng, "sample_visible rng")
        mean = self.visible_mean(h)
        if self.visible == "gaussian":
            return mean + rng.standard_normal(mean.shape, dtype=np.float32).astype(self.dtype)
        v = (rng.random(mean.shape, dtype=np.float32) < mean).astype(self.dtype)
        if self.n_softmax:  # one draw per row from the group's categorical distribution
            k = self.n_softmax
            u = rng.random((len(mean), 1), dtype=np.float32)
            chosen = np.minimum((np.cumsum(mean[:, -k:], axis=1) < u).sum(axis=1), k - 1)
            v[:, -k:] = np.eye(k, dtype=self.dtype)[chosen]
        return v

    def gibbs(self, v: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """Runs k steps of block Gibbs sampling v → h → v from ``v`` (N, D); returns the last v sample.

        Raises:
            ValueError: For data ``check_visible`` refuses, a ``k`` that is not an integer >= 0 or an ``rng`` that
                is not a ``np.random.Generator``.
        """
        k = check_int(k, "gibbs k", minimum=0)
        check_rng(rng, "gibbs rng")
        v = self.check_visible(v)
        for _ in range(k):
            v = self.sample_visible(self.sample_hidden(v, rng), rng)
        return v

    # --- learning ---------------------------------------------------------------------
    def statistics_gradient(self, v_data: np.ndarray, v_model: np.ndarray) -> dict[str, np.ndarray]:
        """Fills ``grads`` with the negative log-likelihood gradient estimated from two batches.

        ∂(−log L)/∂W = −(⟨v hᵀ⟩_data − ⟨v hᵀ⟩_model), with h replaced by p(h | v) (Rao-Blackwellised),
        ∂/∂a = −(⟨v⟩_data − ⟨v⟩_model), ∂/∂b = −(⟨h⟩_data − ⟨h⟩_model); averages over each batch.
        Signs are for minimisation, so any nngym optimiser ascends the likelihood.

        Args:
            v_data: Data batch (N, D) (positive phase).
            v_model: Samples of the model (M, D) (negative phase: CD reconstructions or PCD chains).

        Returns:
            ``grads`` (the same dict, filled).
        """
        h_data, h_model = self.hidden_probs(v_data), self.hidden_probs(v_model)
        n, m = len(v_data), len(v_model)
        self.grads["W"][...] = -(h_data.T @ v_data / n - h_model.T @ v_model / m)
        self.grads["a"][...] = -(v_data.mean(axis=0) - v_model.mean(axis=0))
        self.grads["b"][...] = -(h_data.mean(axis=0) - h_model.mean(axis=0))
        return self.grads

    def contrastive_divergence(
        self, v_data: np.ndarray, k: int, rng: np.random.Generator, chain: np.ndarray | None = None
    ) -> np.ndarray:
        """One CD-k (or PCD-k) gradient: ``k`` Gibbs steps, then ``statistics_gradient``.

        Args:
            v_data: Data batch (N, D).
            k: Gibbs steps in the negative phase.
            rng: Generator for the samples.
            chain: For PCD, the persistent chains' visible state (M, D); ``None`` starts at ``v_data`` (CD).

        Returns:
            The negative-phase visible samples v_k (the new persistent chain state).

        Raises:
            ValueError: If ``k`` is not an integer >= 1 (the batches are not checked here: ``CDTrainer.train``
                checks its data once).
        """
        check_int(k, "CD k (Gibbs steps)")
        v = v_data if chain is None else chain
        for _ in range(k):
            v = self.sample_visible(self.sample_hidden(v, rng), rng)
        self.statistics_gradient(v_data, v)
        return v

    def named_params(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """``[(key, param, grad), ...]``, so nngym optimisers can update the RBM."""
        return [(k, p, self.grads[k]) for k, p in self.params.items()]

    # --- monitoring ---------------------------------------------------------------------
    def energy(self, v: np.ndarray, h: np.ndarray) -> np.ndarray:
        """E(v, h) per row, shape (N,), for v (N, D), h (N, H)."""
        W, a, b = self.params["W"], self.params["a"], self.params["b"]
        interaction = ((h @ W) * v).sum(axis=1)
        visible = 0.5 * ((v - a) ** 2).sum(axis=1) if self.visible == "gaussian" else v @ a * -1.0
        return visible - h @ b - interaction

    def free_energy(self, v: np.ndarray) -> np.ndarray:
        """F(v) = −log Σ_h e^{−E(v,h)}, shape (N,), for v (N, D)."""
        v = self.check_visible(v)
        return self._free_energy(v)

    def _free_energy(self, v: np.ndarray) -> np.ndarray:
        hidden = softplus(v @ self.params["W"].T + self.params["b"]).sum(axis=1)
        if self.visible == "gaussian":
            return 0.5 * ((v - self.params["a"]) ** 2).sum(axis=1) - hidden
        return -(v @ self.params["a"]) - hidden

    def reconstruction_error(self, v: np.ndarray) -> float:
        """Mean over the batch of ||v − E[v | p(h|v)]||², a mean-field up-down pass (a rough training monitor)."""
        v = self.check_visible(v)
        return float(((v - self.visible_mean(self.hidden_probs(v))) ** 2).sum(axis=1).mean())

    def pseudo_log_likelihood(self, v: np.ndarray, rng: np.random.Generator | None = None) -> float:
        """Mean pseudo-log-likelihood Σ_i log p(v_i | v_{−i}) of binary data (Besag 1975), Bernoulli units only.

        p(v_i | v_{−i}) = σ(F(ṽ) − F(v)), ṽ = v with bit i flipped. With ``rng`` the sum is estimated
        from one random bit per example (times D); without it, all D bits are flipped (N·D·H memory,
        processed in chunks of examples).

        Args:
            v: Binary data (N, D).
            rng: Generator choosing the bit, or ``None`` for the exact sum.

        Raises:
            ValueError: For Gaussian units or a softmax group, data that are not binary (N, D), or an ``rng`` that
                is neither None nor a ``np.random.Generator``.
        """
        if self.visible != "bernoulli" or self.n_softmax:
            raise ValueError(
                "pseudo_log_likelihood is defined here for Bernoulli visible units only (no softmax group)"
            )
        if rng is not None:
            check_rng(rng, "pseudo_log_likelihood rng (None for the exact sum)")
        v = self.check_visible(v, binary=True).astype(np.float64)
        W, a, b = (self.params[k].astype(np.float64) for k in ("W", "a", "b"))
        z = v @ W.T + b  # (N, H)
        s = 1.0 - 2.0 * v  # +1 where a bit turns on, −1 where it turns off
        if rng is not None:
            i = rng.integers(0, self.n_visible, len(v))
            rows = np.arange(len(v))
            z_flip = z + s[rows, i, None] * W[:, i].T  # (N, H)
            delta_f = -a[i] * s[rows, i] - (softplus(z_flip) - softplus(z)).sum(axis=1)  # F(ṽ) − F(v)
            return float(self.n_visible * np.mean(-softplus(-delta_f)))  # log σ(x) = −softplus(−x)
        chunk = max(1, 4_000_000 // (self.n_visible * self.n_hidden))
        total = 0.0
        for start in range(0, len(v), chunk):
            zc, sc = z[start : start + chunk], s[start : start + chunk]
            z_flip = zc[:, None, :] + sc[:, :, None] * W.T[None]  # (n, D, H)
            delta_f = -a * sc - (softplus(z_flip) - softplus(zc)[:, None, :]).sum(axis=2)  # (n, D)
            total += float(-softplus(-delta_f).sum())
        return total / len(v)

    def log_partition(self) -> float:
        """Exact log Z by enumerating the smaller side (≤ 12 units); float64.

        Bernoulli: over h, log Z = logsumexp_h [b·h + Σ_i softplus(a_i + (hᵀW)_i)], or over v, logsumexp_v −F(v).
        Gaussian (hidden side only): log Z = D/2 log 2π + logsumexp_h [b·h + a·(hᵀW) + ½||hᵀW||²].

        Raises:
            ValueError: If neither side is small enough (or, for Gaussian units, the hidden side is not).
        """
        W, a, b = (self.params[k].astype(np.float64) for k in ("W", "a", "b"))
        if self.visible == "gaussian":
            if self.n_hidden > MAX_ENUMERABLE:
                raise ValueError(f"exact log Z needs n_hidden <= {MAX_ENUMERABLE} for Gaussian units, got {self}")
            h = all_binary_states(self.n_hidden)
            u = h @ W  # (2^H, D)
            log_terms = h @ b + u @ a + 0.5 * (u**2).sum(axis=1)
            return float(0.5 * self.n_visible * np.log(2 * np.pi) + _logsumexp(log_terms))
        k = self.n_softmax
        n_binary = self.n_visible - k
        if min(self.n_hidden, n_binary) > MAX_ENUMERABLE:
            raise ValueError(f"exact log Z needs n_hidden or n_visible <= {MAX_ENUMERABLE}, got {self}")
        if self.n_hidden <= n_binary or n_binary > MAX_ENUMERABLE:
            h = all_binary_states(self.n_hidden)
            x = h @ W + a  # (2^H, D)
            log_terms = h @ b + softplus(x[:, :n_binary]).sum(axis=1)
            if k:  # Σ over the one-hot states of the group: logsumexp_k x_k
                log_terms = log_terms + _logsumexp(x[:, n_binary:], axis=1)
            return float(_logsumexp(log_terms))
        v = all_binary_states(n_binary)
        if k:  # every binary part with every one-hot group state
            v = np.hstack([np.repeat(v, k, axis=0), np.tile(np.eye(k), (len(v), 1))])
        return float(_logsumexp(v @ a + softplus(v @ W.T + b).sum(axis=1)))

    def log_likelihood(self, v: np.ndarray) -> float:
        """Exact mean log p(v) = −F(v) − log Z over binary data v (N, D), for an enumerable RBM; float64."""
        v = self.check_visible(v, binary=self.visible == "bernoulli").astype(np.float64)
        saved = self.params
        self.params = {k: p.astype(np.float64) for k, p in saved.items()}
        try:
            return float(np.mean(-self._free_energy(v)) - self.log_partition())
        finally:
            self.params = saved

    # --- files --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg = {"n_visible": self.n_visible, "n_hidden": self.n_hidden, "visible": self.visible}
        return cfg | ({"n_softmax": self.n_softmax} if self.n_softmax else {})

    def save(self, path: str | os.PathLike) -> Path:
        """Saves the parameters (npz) and configuration (JSON). Returns the path written."""
        return save_npz(path, dict(self.params), {"format": "nngym.RBM", "dtype": str(self.dtype), **self.config()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> RBM:
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.RBM":
            raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected 'nngym.RBM'")
        return cls._from_file(arrays, meta, str(path))

    @classmethod
    def _from_file(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], where: str, prefix: str = "") -> RBM:
        try:
            rbm = cls(
                meta["n_visible"],
                meta["n_hidden"],
                np.random.default_rng(0),
                meta["visible"],
                n_softmax=meta.get("n_softmax", 0),
                dtype=meta["dtype"],
            )
        except (KeyError, ValueError) as e:
            raise ModelFileError(f"{where}: metadata does not describe an RBM ({e})") from e
        for k, p in rbm.params.items():
            arr = arrays.get(prefix + k)
            if arr is None or arr.shape != p.shape:
                got = None if arr is None else arr.shape
                raise ModelFileError(f"{where}: parameter {prefix + k} should have shape {p.shape}, file has {got}")
            p[...] = arr
        return rbm

    def __repr__(self) -> str:
        group = f", softmax {self.n_softmax}" if self.n_softmax else ""
        return f"RBM({self.n_visible}->{self.n_hidden}, {self.visible}{group})"


def _non_binary(v: np.ndarray) -> str:
    bad = v[(v != 0) & (v != 1)]
    return ", ".join(f"{x:g}" for x in bad[:3])


@dataclass
class CDConfig:
    """Hyper-parameters of contrastive-divergence training (defaults after Hinton's practical guide).

    Raises:
        ValueError: For a field ``check`` refuses, naming it.
    """

    k: int = 1
    """Gibbs steps per gradient estimate (CD-k)."""
    persistent: bool = False
    """Persistent CD (Tieleman 2008): the negative chains continue across updates instead of restarting at the data.
    PCD wants a small effective step η/(1 − μ): with μ = 0.9 the chains fall behind the weights and the likelihood
    drops (seen on the tests' toy data), so use momentum ≤ 0.5 with it."""
    n_chains: int = 100
    """Number of persistent chains (PCD only)."""
    lr: float = 0.05
    """Learning rate η at the start."""
    lr_final: float | None = None
    """If set, η decays linearly to this value over ``epochs`` (the run's planned length)."""
    epochs: int = 10
    """Planned number of epochs (used by the learning-rate schedule)."""
    batch_size: int = 100
    """Mini-batch size."""
    momentum: float = 0.5
    """Momentum μ for the first ``momentum_epochs`` epochs."""
    final_momentum: float = 0.9
    """Momentum μ afterwards."""
    momentum_epochs: int = 5
    """Epochs with the initial momentum."""
    weight_decay: float = 2e-4
    """L2 coefficient on W (not biases)."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Checks every field (run when the config is made, and again by ``CDTrainer`` for fields set later).

        Raises:
            ValueError: Naming the field, what it must be and what it is: ``k``, ``n_chains``, ``epochs`` and
                ``batch_size`` integers >= 1 and ``momentum_epochs`` >= 0 (bools and floats such as 10.0 are not
                integers), ``persistent`` a bool (the string ``"false"`` would read as true), ``lr`` and
                ``weight_decay`` finite numbers >= 0, ``lr_final`` None or such a number, the momenta in [0, 1].
        """
        for name, minimum in (("k", 1), ("n_chains", 1), ("epochs", 1), ("batch_size", 1), ("momentum_epochs", 0)):
            check_int(getattr(self, name), f"CDConfig {name}", minimum)
        if not isinstance(self.persistent, bool | np.bool_):
            raise ValueError(f"CDConfig persistent must be a bool, got {shown(self.persistent)}")
        check_rate(self.lr, "CDConfig lr")
        if self.lr_final is not None:
            check_rate(self.lr_final, "CDConfig lr_final (None for a constant rate)")
        check_rate(self.weight_decay, "CDConfig weight_decay")
        for name in ("momentum", "final_momentum"):
            mu = getattr(self, name)
            if not is_real(mu) or not 0.0 <= mu <= 1.0:
                raise ValueError(f"CDConfig {name} must be a number in [0, 1], got {shown(mu)}")


class CDTrainer:
    """Trains an ``RBM`` by CD-k or PCD with momentum, weight decay and a linear learning-rate decay.

    All state needed to resume — parameters, momentum velocities, persistent chains, epoch count and
    the generator's state — saves to one npz + JSON file, so a long pretraining can stop and continue
    with bit-identical results.

    Args:
        rbm: The machine to train (updated in place).
        config: Hyper-parameters.
        rng: Generator for mini-batch order, Gibbs samples and chain initialisation.

    Raises:
        ValueError: For an ``rbm`` that is not an ``RBM``, a ``config`` that is not a ``CDConfig`` or has a field
            ``CDConfig.check`` refuses, or an ``rng`` that is not a ``np.random.Generator``.
    """

    def __init__(self, rbm: RBM, config: CDConfig, rng: np.random.Generator) -> None:
        if not isinstance(rbm, RBM):
            raise ValueError(f"CDTrainer trains an RBM, got {shown(rbm)}")
        check_cd_config(config, "CDTrainer config")
        check_rng(rng, "CDTrainer rng")
        self.rbm, self.config, self.rng = rbm, config, rng
        self.optimizer = Momentum(rbm, lr=config.lr, mu=config.momentum, weight_decay=config.weight_decay)
        self.epoch = 0
        self.chain: np.ndarray | None = None
        self.history: list[dict[str, float]] = []

    def lr_at(self, epoch: float) -> float:
        c = self.config
        if c.lr_final is None:
            return c.lr
        frac = min(max(epoch / c.epochs, 0.0), 1.0)
        return c.lr + frac * (c.lr_final - c.lr)

    def train(self, x: np.ndarray, epochs: int | None = None, monitor: np.ndarray | None = None) -> list[dict]:
        """Runs ``epochs`` more epochs (default: up to ``config.epochs`` in total).

        Args:
            x: Training data (N, D) (checked once: shape and, for Bernoulli units, the [0, 1] range).
            epochs: Epochs to run now; ``None`` continues until ``config.epochs``.
            monitor: Data (M, D) on which reconstruction error and mean free energy are logged each epoch
                (default: the first 1000 training rows).

        Returns:
            The history: one dict per epoch (``epoch``, ``recon_error``, ``free_energy``, ``lr``).

        Raises:
            ValueError: For data ``RBM.check_visible`` refuses or no rows of data (in ``x`` or ``monitor``), an
                ``epochs`` that is not None or an integer >= 0, or a config field ``CDConfig.check`` refuses.
        """
        check_cd_config(self.config, "CDTrainer config")
        c, rbm = self.config, self.rbm
        if epochs is not None:
            check_int(epochs, "CDTrainer.train epochs (None for the rest of config.epochs)", minimum=0)
        x = rbm.check_visible(x)
        monitor = x[:1000] if monitor is None else rbm.check_visible(monitor)
        if len(x) == 0 or len(monitor) == 0:
            raise ValueError(
                f"CDTrainer.train needs at least one example in x and in monitor, got shapes {x.shape}, {monitor.shape}"
            )
        epochs = max(c.epochs - self.epoch, 0) if epochs is None else epochs
        n = len(x)
        n_batches = (n + c.batch_size - 1) // c.batch_size
        if c.persistent and self.chain is None:
            start = x[self.rng.integers(0, n, c.n_chains)]
            self.chain = rbm.sample_visible(rbm.sample_hidden(start, self.rng), self.rng)
        for _ in range(epochs):
            self.optimizer.mu = c.momentum if self.epoch < c.momentum_epochs else c.final_momentum
            order = self.rng.permutation(n)
            for i in range(n_batches):
                self.optimizer.lr = self.lr_at(self.epoch + i / n_batches)
                v0 = x[order[i * c.batch_size : (i + 1) * c.batch_size]]
                vk = rbm.contrastive_divergence(v0, c.k, self.rng, self.chain if c.persistent else None)
                if c.persistent:
                    self.chain = vk
                self.optimizer.step()
            self.epoch += 1
            self.history.append(
                {
                    "epoch": self.epoch,
                    "recon_error": rbm.reconstruction_error(monitor),
                    "free_energy": float(rbm.free_energy(monitor).mean()),
                    "lr": self.optimizer.lr,
                }
            )
        return self.history

    # --- checkpoints ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Writes parameters, velocities, chains, epoch, history, config and generator state (npz + JSON)."""
        arrays = {f"param/{k}": p for k, p in self.rbm.params.items()}
        opt_state = self.optimizer.state_dict()
        arrays |= {
            f"slot/{name}/{key}": arr for name, slots in opt_state["slots"].items() for key, arr in slots.items()
        }
        if self.chain is not None:
            arrays["chain"] = self.chain
        meta = {
            "format": "nngym.CDTrainer",
            "dtype": str(self.rbm.dtype),
            **self.rbm.config(),
            "cd_config": asdict(self.config),
            "epoch": self.epoch,
            "history": self.history,
            "optimizer_t": self.optimizer.t,
            "rng": self.rng.bit_generator.state,
        }
        return save_npz(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CDTrainer:
        """Restores a trainer written by ``save``, including its generator, ready to ``train`` further."""
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.CDTrainer":
            raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected 'nngym.CDTrainer'")
        rbm = RBM._from_file(arrays, meta, str(path), prefix="param/")
        state = meta["rng"]
        rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        rng.bit_generator.state = state
        try:
            config = CDConfig(**meta["cd_config"])
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: cd_config {meta['cd_config']!r} is not a valid CDConfig: {e}") from e
        trainer = cls(rbm, config, rng)
        trainer.epoch, trainer.history = int(meta["epoch"]), list(meta["history"])
        slots: dict[str, dict[str, np.ndarray]] = {}
        for k, arr in arrays.items():
            if k.startswith("slot/"):
                _, name, key = k.split("/")
                slots.setdefault(name, {})[key] = arr
        trainer.optimizer.load_state_dict({"t": meta["optimizer_t"], "lr": trainer.optimizer.lr, "slots": slots})
        trainer.chain = arrays.get("chain")
        return trainer


def check_cd_config(config: Any, what: str) -> None:
    """Raises a ValueError unless ``config`` is a ``CDConfig`` whose fields pass ``CDConfig.check``."""
    if not isinstance(config, CDConfig):
        raise ValueError(f"{what} must be a CDConfig, got {shown(config)}")
    config.check()
