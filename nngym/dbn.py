"""Deep belief networks (Hinton, Osindero & Teh 2006): RBMs stacked greedily, run up to classify, down to generate.

Each RBM is trained on the hidden probabilities of the one below, without labels. ``to_network``
turns the stack into a ``Sequential`` of Dense + Sigmoid layers — the mean-field upward pass
a_l = σ(W_l a_{l−1} + b_l) — to fine-tune by backprop or by RL. For generation, an optional top RBM
joins the last features with a one-hot label (the paper's 500+10 ↔ 2000 associative memory):
clamp a label, run Gibbs sampling in that RBM, then propagate down through the generative weights
(p(v | h) of each RBM, mean-field) to pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nngym.activations import Sigmoid
from nngym.checks import check_int, check_rng, float_dtype, is_int, shown
from nngym.dense import Dense
from nngym.network import Sequential
from nngym.rbm import RBM, VISIBLE_TYPES, CDConfig, CDTrainer, check_cd_config
from nngym.serialization import ModelFileError, load_npz, save_npz


class DBN:
    """A stack of RBMs ``sizes[0] -> sizes[1] -> ...``, plus an optional label-joined top RBM.

    Args:
        sizes: Units per layer, visible first, e.g. ``[784, 500, 500]``.
        rng: Generator for the initial weights.
        visible: Unit type of the bottom RBM's visible layer (``"bernoulli"`` or ``"gaussian"``).
        n_labels: Classes of the label-joined top RBM (0: no top RBM).
        n_top: Hidden units of the top RBM, whose visible layer is [features (sizes[-1]), one-hot label];
            the label units form a softmax group, as in the paper.
            Hinton et al.'s 784-500-500-2000 network is ``sizes=[784, 500, 500], n_labels=10, n_top=2000``.
        dtype: Parameter dtype.

    Raises:
        ValueError: For ``sizes`` that are not a list (or 1-d array) of at least two integers >= 1 (bools and floats
            such as 784.0 are not integers), an ``rng`` that is not a ``np.random.Generator``, an unknown
            ``visible``, ``n_labels`` that is not 0 or an integer >= 2, ``n_top`` that is not an integer >= 0,
            ``n_labels`` and ``n_top`` not both 0 or both > 0, or a dtype that is not floating.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        rng: np.random.Generator,
        visible: str = "bernoulli",
        n_labels: int = 0,
        n_top: int = 0,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        given = sizes.tolist() if isinstance(sizes, np.ndarray) and sizes.ndim == 1 else sizes
        if (
            isinstance(given, str)
            or not isinstance(given, Sequence)
            or len(given) < 2
            or not all(is_int(n) and n >= 1 for n in given)
        ):
            raise ValueError(
                "DBN needs at least two positive layer sizes, a list of integers >= 1 with the visible layer first "
                f"(e.g. [784, 500]), got {shown(sizes)}"
            )
        check_rng(rng, "DBN rng")
        if not isinstance(visible, str) or visible not in VISIBLE_TYPES:
            raise ValueError(f"DBN visible must be one of {VISIBLE_TYPES}, got {visible!r}")
        if not is_int(n_labels) or n_labels < 0 or n_labels == 1:
            raise ValueError(
                f"DBN n_labels must be 0 (no top RBM) or an integer >= 2 (the classes), got {shown(n_labels)}"
            )
        check_int(n_top, "DBN n_top (0: no top RBM)", minimum=0)
        if (n_labels > 0) != (n_top > 0):
            raise ValueError(f"n_labels and n_top go together (both 0 or both > 0), got {n_labels}, {n_top}")
        float_dtype(dtype, "DBN dtype")
        sizes = [int(n) for n in given]
        self.sizes, self.visible, self.n_labels, self.n_top = sizes, visible, int(n_labels), int(n_top)
        self.rbms = [
            RBM(n_in, n_out, rng, visible=visible if i == 0 else "bernoulli", dtype=dtype)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        ]
        self.top = RBM(sizes[-1] + n_labels, n_top, rng, n_softmax=n_labels, dtype=dtype) if n_labels else None

    # --- passes ---------------------------------------------------------------------
    def up(self, x: np.ndarray, n_layers: int | None = None) -> np.ndarray:
        """Mean-field upward pass: a_l = p(h_l = 1 | a_{l−1}) through the first ``n_layers`` RBMs (default all).

        Args:
            x: Inputs (N, sizes[0]).
            n_layers: RBMs to pass through, an integer in [0, len(rbms)], or None for all.

        Returns:
            Features (N, sizes[n_layers]).

        Raises:
            ValueError: For inputs ``RBM.check_visible`` refuses, or an ``n_layers`` out of its range.
        """
        if n_layers is not None and not (is_int(n_layers) and 0 <= n_layers <= len(self.rbms)):
            raise ValueError(
                f"up n_layers must be None (all) or an integer in [0, {len(self.rbms)}], got {shown(n_layers)}"
            )
        a = self.rbms[0].check_visible(x)
        for rbm in self.rbms[: len(self.rbms) if n_layers is None else n_layers]:
            a = rbm.hidden_probs(a)
        return a

    def down(self, h: np.ndarray) -> np.ndarray:
        """Mean-field generative pass from the top features (N, sizes[-1]) to E[v] (N, sizes[0]).

        Raises:
            ValueError: For features that are not binary units' values, [0, 1], of shape (N, sizes[-1]).
        """
        h = _check_features(h, self.sizes[-1], "down features")
        for rbm in reversed(self.rbms):
            h = rbm.visible_mean(h)
        return h

    def to_network(self) -> Sequential:
        """A Sequential [Dense(sizes[0]→sizes[1]), Sigmoid, ...] whose weights are copies of the RBMs' (W, b).

        Its output equals ``up(x)``. Add a head (e.g. Dense(sizes[-1], 10)) to fine-tune as a classifier. Its
        ``input_shape`` is ``(sizes[0],)``: inputs (N, sizes[0]), outputs (N, sizes[-1]).
        """
        layers = []
        rng = np.random.default_rng(0)  # weights are overwritten below
        for rbm in self.rbms:
            dense = Dense(rbm.n_visible, rbm.n_hidden, rng, w_init="zeros", dtype=rbm.dtype)
            dense.params["W"][...] = rbm.params["W"]
            dense.params["b"][...] = rbm.params["b"]
            layers += [dense, Sigmoid(dtype=rbm.dtype)]
        return Sequential(layers, input_shape=(int(self.sizes[0]),))

    # --- greedy pretraining -----------------------------------------------------------
    def pretrain(
        self,
        x: np.ndarray,
        configs: CDConfig | Sequence[CDConfig],
        rng: np.random.Generator,
        checkpoint_dir: str | os.PathLike | None = None,
        log: Callable[[int, dict], None] | None = None,
    ) -> list[list[dict]]:
        """Greedy layer-wise pretraining without labels: RBM l learns from p(h_{l−1} | data).

        Args:
            x: Unlabelled data (N, sizes[0]).
            configs: One CDConfig for all layers, or one per RBM.
            rng: Generator for the training of every layer.
            checkpoint_dir: If given, each layer's trainer is saved there after every epoch
                (``rbm<l>.npz``); a rerun with the same arguments skips finished layers and resumes the
                interrupted one, giving the same weights as an uninterrupted run.
            log: Called with ``(layer, history entry)`` after each epoch.

        Returns:
            Each layer's training history.

        Raises:
            ValueError: For data ``RBM.check_visible`` refuses, configs that are not one ``CDConfig`` or one per RBM,
                an ``rng`` that is not a ``np.random.Generator``, or a ``log`` that is not callable.
        """
        configs = _per_layer(configs, len(self.rbms))
        check_rng(rng, "pretrain rng")
        _check_log(log)
        histories, a = [], self.rbms[0].check_visible(x)
        for layer, (rbm, config) in enumerate(zip(self.rbms, configs, strict=True)):
            trainer = self._trainer(rbm, config, rng, checkpoint_dir, f"rbm{layer}")
            histories.append(self._run(trainer, a, layer, checkpoint_dir, f"rbm{layer}", log))
            self.rbms[layer] = trainer.rbm
            rng = trainer.rng  # a layer restored from a checkpoint carries the stream on
            a = trainer.rbm.hidden_probs(a)
        return histories

    def labelled_features(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """[up(x), one-hot(labels)], the top RBM's visible data, shape (N, sizes[-1] + n_labels).

        Args:
            x: Inputs (N, sizes[0]).
            labels: Classes, integers in [0, n_labels), shape (N,).

        Raises:
            ValueError: Without a top RBM, for inputs ``RBM.check_visible`` refuses, or labels that are not
                integers in [0, n_labels) of shape (N,).
        """
        if self.top is None:
            raise ValueError("this DBN has no label-joined top RBM (construct it with n_labels and n_top)")
        x = self.rbms[0].check_visible(x)
        labels = self._check_labels(labels, (len(x),))
        return np.hstack([self.up(x), np.eye(self.n_labels, dtype=self.top.dtype)[labels]])

    def _check_labels(self, labels: Any, shape: tuple[int, ...] | None) -> np.ndarray:
        """``labels`` as an integer array of ``shape`` (None: any non-empty 1-d shape) in [0, n_labels).

        Raises:
            ValueError: Naming the expected dtype, range and shape and what came.
        """
        labels = np.asarray(labels)
        n = self.n_labels
        expected = f"labels must be integers in [0, {n}) of shape {'(N,), N >= 1' if shape is None else shape}"
        if labels.dtype.kind not in "iu":
            raise ValueError(f"{expected}, got {labels.dtype} labels of shape {labels.shape}")
        if (labels.ndim != 1 or labels.size == 0) if shape is None else labels.shape != shape:
            raise ValueError(f"{expected}, got labels of shape {labels.shape}")
        if labels.min() < 0 or labels.max() >= n:
            raise ValueError(f"{expected}, got values from {labels.min()} to {labels.max()}")
        return labels

    def pretrain_top(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        config: CDConfig,
        rng: np.random.Generator,
        checkpoint_dir: str | os.PathLike | None = None,
        log: Callable[[int, dict], None] | None = None,
    ) -> list[dict]:
        """Trains the top RBM on [up(x), one-hot(labels)] (after ``pretrain``). Returns its history.

        Raises:
            ValueError: For what ``labelled_features`` refuses, a ``config`` that is not a ``CDConfig``, an ``rng``
                that is not a ``np.random.Generator``, or a ``log`` that is not callable.
        """
        check_cd_config(config, "pretrain_top config")
        check_rng(rng, "pretrain_top rng")
        _check_log(log)
        data = self.labelled_features(x, labels)
        trainer = self._trainer(self.top, config, rng, checkpoint_dir, "top")
        history = self._run(trainer, data, len(self.rbms), checkpoint_dir, "top", log)
        self.top = trainer.rbm
        return history

    @staticmethod
    def _trainer(rbm: RBM, config: CDConfig, rng: np.random.Generator, checkpoint_dir: Any, name: str) -> CDTrainer:
        if checkpoint_dir is not None and (path := Path(checkpoint_dir) / f"{name}.npz").exists():
            trainer = CDTrainer.load(path)
            if trainer.rbm.config() != rbm.config():
                raise ModelFileError(f"{path} holds {trainer.rbm}, expected {rbm}")
            trainer.config = replace(config)  # a rerun may extend the planned epochs
            return trainer
        return CDTrainer(rbm, config, rng)

    @staticmethod
    def _run(
        trainer: CDTrainer, data: np.ndarray, layer: int, checkpoint_dir: Any, name: str, log: Callable | None
    ) -> list[dict]:
        while trainer.epoch < trainer.config.epochs:
            trainer.train(data, epochs=1)
            if checkpoint_dir is not None:
                trainer.save(Path(checkpoint_dir) / f"{name}.npz")
            if log is not None:
                log(layer, trainer.history[-1])
        return trainer.history

    # --- generation ---------------------------------------------------------------------
    def generate(
        self,
        labels: np.ndarray,
        rng: np.random.Generator,
        n_gibbs: int = 1000,
        start: np.ndarray | None = None,
    ) -> np.ndarray:
        """Class-conditional samples: clamp one-hot labels in the top RBM, Gibbs-sample, propagate down.

        Args:
            labels: Class of each sample, ints (N,).
            rng: Generator for the Gibbs chain.
            n_gibbs: Alternating Gibbs steps in the top RBM with the label clamped.
            start: Initial features (N, sizes[-1]); default: fair coin flips (a label-neutral start). On MNIST
                a start at the mean training feature vector, ``up(x).mean(0)``, also label-neutral, gave samples
                of the clamped class far more often (93.7% vs 46.7%, RESULTS.md).

        Returns:
            Mean-field visible probabilities / means, shape (N, sizes[0]).

        Raises:
            ValueError: Without a top RBM, for labels that are not integers in [0, n_labels) of a non-empty shape
                (N,), an ``rng`` that is not a ``np.random.Generator``, an ``n_gibbs`` that is not an integer >= 0,
                or a ``start`` that is not features in [0, 1] of shape (N, sizes[-1]).
        """
        top = self.top
        if top is None:
            raise ValueError("this DBN has no label-joined top RBM (construct it with n_labels and n_top)")
        labels = self._check_labels(labels, None)
        check_rng(rng, "generate rng")
        check_int(n_gibbs, "generate n_gibbs", minimum=0)
        n_f = self.sizes[-1]
        onehot = np.eye(self.n_labels, dtype=top.dtype)[labels]
        if start is None:
            f = (rng.random((len(labels), n_f), dtype=np.float32) < 0.5).astype(top.dtype)
        else:
            f = _check_features(start, n_f, "generate start", len(labels)).astype(top.dtype, copy=False)
        for _ in range(n_gibbs):
            h = top.sample_hidden(np.hstack([f, onehot]), rng)
            f = top.sample_visible(h, rng)[:, :n_f]  # the label units stay clamped
        h = top.hidden_probs(np.hstack([f, onehot]))
        return self.down(top.visible_mean(h)[:, :n_f])

    def classify_top(self, x: np.ndarray) -> np.ndarray:
        """Labels that minimise the top RBM's free energy F([up(x), one-hot(l)]), shape (N,)."""
        if self.top is None:
            raise ValueError("this DBN has no label-joined top RBM")
        f = self.up(x)
        energies = [
            self.top.free_energy(np.hstack([f, np.tile(np.eye(self.n_labels, dtype=f.dtype)[l], (len(f), 1))]))
            for l in range(self.n_labels)
        ]
        return np.argmin(np.stack(energies, axis=1), axis=1)

    # --- files --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"sizes": self.sizes, "visible": self.visible, "n_labels": self.n_labels, "n_top": self.n_top}

    def save(self, path: str | os.PathLike) -> Path:
        """Saves every RBM's parameters (npz) and the configuration (JSON)."""
        arrays = {f"rbm{i}/{k}": p for i, rbm in enumerate(self.rbms) for k, p in rbm.params.items()}
        if self.top is not None:
            arrays |= {f"top/{k}": p for k, p in self.top.params.items()}
        dtype = str(self.rbms[0].dtype)
        return save_npz(path, arrays, {"format": "nngym.DBN", "dtype": dtype, **self.config()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> DBN:
        """Rebuilds a DBN saved by ``save``.

        Raises:
            FileNotFoundError: If there is no such file.
            ModelFileError: Naming the file and what is wrong: not a DBN file, metadata missing or describing no
                valid DBN, parameters missing or mis-shaped.
        """
        arrays, meta = load_npz(path)
        if meta.get("format") != "nngym.DBN":
            raise ModelFileError(f"{path}: format is {meta.get('format')!r}, expected 'nngym.DBN'")
        try:
            cfg = {k: meta[k] for k in ("sizes", "visible", "n_labels", "n_top")}
            dbn = cls(**cfg, rng=np.random.default_rng(0), dtype=meta["dtype"])
        except (KeyError, ValueError) as e:
            raise ModelFileError(f"{path}: metadata does not describe a DBN ({e})") from e
        named = [(f"rbm{i}/", rbm) for i, rbm in enumerate(dbn.rbms)] + ([("top/", dbn.top)] if dbn.top else [])
        for prefix, rbm in named:
            for k, p in rbm.params.items():
                arr = arrays.get(prefix + k)
                if arr is None or arr.shape != p.shape:
                    got = None if arr is None else arr.shape
                    raise ModelFileError(f"{path}: {prefix}{k} should have shape {p.shape}, file has {got}")
                p[...] = arr
        return dbn

    def __repr__(self) -> str:
        top = f", top=[{self.sizes[-1]}+{self.n_labels}<->{self.n_top}]" if self.top else ""
        return f"DBN({self.sizes}{top})"


def _per_layer(configs: CDConfig | Sequence[CDConfig], n: int) -> list[CDConfig]:
    """``configs`` as one ``CDConfig`` per RBM, each checked (``CDConfig.check``)."""
    if isinstance(configs, CDConfig):
        configs.check()
        return [configs] * n
    if not isinstance(configs, Sequence) or not all(isinstance(c, CDConfig) for c in configs):
        raise ValueError(f"pretrain needs one CDConfig or a list of {n} (one per RBM), got {shown(configs)}")
    if len(configs) != n:
        raise ValueError(f"need one CDConfig or {n} (one per RBM), got {len(configs)}")
    for config in configs:
        config.check()
    return list(configs)


def _check_log(log: Any) -> None:
    if log is not None and not callable(log):
        raise ValueError(f"log must be None or a function of (layer, history entry), got {shown(log)}")


def _check_features(h: Any, n_features: int, what: str, n: int | None = None) -> np.ndarray:
    """``h`` as an array of (N, ``n_features``) real numbers in [0, 1] (N = ``n`` if given).

    Raises:
        ValueError: Naming ``what``, the expected shape and range, and what came.
    """
    h = np.asarray(h)
    shape = f"({'N' if n is None else n}, {n_features})"
    if h.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be real numbers of shape {shape}, got an array of dtype {h.dtype}")
    if h.ndim != 2 or h.shape[1] != n_features or (n is not None and len(h) != n):
        raise ValueError(f"{what} must have shape {shape}, got {h.shape}")
    if h.size and not (np.all(np.isfinite(h)) and h.min() >= 0 and h.max() <= 1):
        raise ValueError(
            f"{what} must be binary units' values in [0, 1], got values from {np.min(h):g} to {np.max(h):g}"
        )
    return h
