"""Benchmarks of nngym layers against torch on the CPU, in the same process and with the same threads.

Each case times one training step (forward + backward + optimiser step, or what the
section says) for nngym and for torch, interleaving the two over several rounds so
that drift on a shared machine hits both alike, and reports medians and the ratio.

    python scripts/bench_nn.py                 # all sections
    python scripts/bench_nn.py --only mlp      # one section
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from agents.experiments.cli import positive_int

Case = tuple[str, Callable[[], None], Callable[[], None]]  # (label, nngym step, torch step)


def time_call(fn: Callable[[], None], min_seconds: float = 0.2) -> float:
    """Seconds per call of ``fn``: calls it in a loop for at least ``min_seconds`` (after one warm-up call)."""
    fn()
    n, elapsed = 0, 0.0
    start = time.perf_counter()
    while elapsed < min_seconds:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
    return elapsed / n


def compare(cases: list[Case], rounds: int = 5, min_seconds: float = 0.2) -> list[dict[str, float | str]]:
    """Times every case for nngym and torch, interleaved over ``rounds``; prints and returns a table."""
    rows = []
    for label, ours, theirs in cases:
        t_ours, t_theirs = [], []
        for _ in range(rounds):
            t_ours.append(time_call(ours, min_seconds))
            t_theirs.append(time_call(theirs, min_seconds))
        a, b = statistics.median(t_ours), statistics.median(t_theirs)
        rows.append({"case": label, "nngym_us": a * 1e6, "torch_us": b * 1e6, "ratio": a / b})
        print(f"| {label} | {a * 1e6:,.1f} | {b * 1e6:,.1f} | {a / b:.2f} |", flush=True)
    return rows


def table_header(title: str) -> None:
    print(f"\n### {title}\n\n| case | nngym µs | torch µs | nngym/torch |\n|---|---:|---:|---:|", flush=True)


# --- MLP -------------------------------------------------------------------------------------------
def _mlp_case(sizes: list[int], batch: int, activation: str, classify: bool) -> Case:
    import torch

    from nngym.builders import mlp
    from nngym.costs import QuadraticCost, SoftmaxCrossEntropy
    from nngym.optim import Adam

    rng = np.random.default_rng(0)
    net = mlp(sizes, rng, activation=activation, w_init="glorot_uniform")
    opt = Adam(net, lr=1e-3)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    if classify:
        y_np: np.ndarray = rng.integers(0, sizes[-1], batch)
        cost = SoftmaxCrossEntropy()
    else:
        y_np = rng.standard_normal((batch, sizes[-1])).astype(np.float32)
        cost = QuadraticCost()

    def ours() -> None:
        out = net.forward(x)
        net.backward(cost.delta(out, y_np))
        opt.step()

    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[activation]
    modules: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        modules.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            modules.append(act())
    tnet = torch.nn.Sequential(*modules)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y_np)
    loss_fn = torch.nn.functional.cross_entropy if classify else (lambda o, t: 0.5 * ((o - t) ** 2).sum() / len(o))

    def theirs() -> None:
        topt.zero_grad()
        loss_fn(tnet(xt), yt).backward()
        topt.step()

    return f"MLP {'-'.join(map(str, sizes))} {activation}, batch {batch}", ours, theirs


def bench_mlp(rounds: int) -> list[dict[str, float | str]]:
    """Forward + backward + Adam step of small and MNIST-sized MLPs."""
    table_header("MLP training step (forward + backward + Adam)")
    cases = [_mlp_case([4, 64, 64, 2], b, "tanh", classify=False) for b in (1, 64, 2048)]
    cases += [_mlp_case([784, 100, 10], b, "sigmoid", classify=True) for b in (10, 256)]
    return compare(cases, rounds)


# --- LSTM ------------------------------------------------------------------------------------------
def _lstm_case(T: int, N: int, D: int, H: int) -> Case:
    import torch

    from nngym.lstm import LSTM

    rng = np.random.default_rng(0)
    layer = LSTM(D, H, rng)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)

    def ours() -> None:
        layer.forward(x)
        layer.backward(dy)  # parameter gradients, dx and the initial-state gradient

    module = torch.nn.LSTM(D, H)
    xt = torch.from_numpy(x).requires_grad_(True)  # so torch computes dx too
    dyt = torch.from_numpy(dy)

    def theirs() -> None:
        module.zero_grad(set_to_none=True)
        xt.grad = None
        y, _ = module(xt)
        y.backward(dyt)

    return f"LSTM T={T} N={N} D={D} H={H}", ours, theirs


def bench_lstm(rounds: int) -> list[dict[str, float | str]]:
    """Forward + backward through time of one LSTM layer over T=32 steps (no optimiser step)."""
    table_header("LSTM forward + backward (BPTT), T=32")
    cases = [_lstm_case(32, n, 64, h) for h in (64, 256) for n in (8, 64)]
    return compare(cases, rounds)


# --- CNN -------------------------------------------------------------------------------------------
#: The MNIST CNN of RESULTS.md ("CNN on MNIST"), as an nngym spec; the torch twin is built layer for layer.
MNIST_CNN_SPEC = "conv:32x5,pool:2,conv:64x5,pool:2,dense:256,dropout:0.5"


def _conv_case(n: int, c: int, hw: int, o: int, k: int) -> Case:
    import torch

    from nngym.conv import Conv2D

    rng = np.random.default_rng(0)
    layer = Conv2D(c, o, k, rng)
    x = rng.random((n, c, hw, hw), dtype=np.float32)
    dy = rng.standard_normal((n, o, hw - k + 1, hw - k + 1)).astype(np.float32)

    def ours() -> None:
        layer.forward(x)
        layer.backward(dy)  # dW, db and dx

    wt = torch.from_numpy(layer.params["W"].copy()).requires_grad_(True)
    bt = torch.zeros(o, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_(True)  # so torch computes dx too
    dyt = torch.from_numpy(dy)

    def theirs() -> None:
        wt.grad = bt.grad = xt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt).backward(dyt)

    return f"Conv2D {c}x{hw}x{hw} -> {o}x{hw - k + 1}x{hw - k + 1}, {k}x{k}, batch {n}", ours, theirs


def _mnist_cnn_epoch(batch: int = 64) -> tuple[Callable[[], None], Callable[[], None]]:
    """One training epoch (60,000 images, forward + backward + Adam) of the MNIST CNN, nngym and torch."""
    import torch

    from nngym.builders import cnn
    from nngym.costs import SoftmaxCrossEntropy
    from nngym.datasets.mnist import load_mnist_float
    from nngym.optim import Adam

    x, labels = load_mnist_float("train")
    x = x.reshape(-1, 1, 28, 28)
    order = np.random.default_rng(0).permutation(len(x))
    rng = np.random.default_rng(0)
    net = cnn(MNIST_CNN_SPEC, (1, 28, 28), rng, n_out=10)
    opt, cost = Adam(net, lr=1e-3), SoftmaxCrossEntropy()

    def ours() -> None:
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            out = net.forward(x[idx])
            net.backward(cost.delta(out, labels[idx]))
            opt.step()

    tnet = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 5),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 5),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 4 * 4, 256),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(256, 10),
    )
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    xt, yt, ot = torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(order)

    def theirs() -> None:
        for start in range(0, len(x), batch):
            idx = ot[start : start + batch]
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tnet(xt[idx]), yt[idx]).backward()
            topt.step()

    return ours, theirs


def bench_conv(rounds: int) -> list[dict[str, float | str]]:
    """Forward + backward of the seed's conv layers, and one whole MNIST CNN training epoch."""
    table_header("Conv2D forward + backward (dW, db and dx)")
    rows = compare([_conv_case(64, 1, 28, 20, 5), _conv_case(64, 20, 12, 40, 5), _conv_case(64, 32, 12, 64, 5)], rounds)
    print(f"\n### MNIST CNN training epoch ({MNIST_CNN_SPEC}, Adam, batch 64, 60,000 images)\n", flush=True)
    print("| round | nngym s | torch s | nngym/torch |\n|---|---:|---:|---:|", flush=True)
    ours, theirs = _mnist_cnn_epoch()
    t_ours, t_theirs = [], []
    for r in range(max(1, min(rounds, 2))):  # an epoch takes tens of seconds: at most two rounds
        for fn, times in ((ours, t_ours), (theirs, t_theirs)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        print(f"| {r + 1} | {t_ours[-1]:.1f} | {t_theirs[-1]:.1f} | {t_ours[-1] / t_theirs[-1]:.2f} |", flush=True)
    a, b = min(t_ours), min(t_theirs)
    rows.append({"case": "MNIST CNN epoch", "nngym_us": a * 1e6, "torch_us": b * 1e6, "ratio": a / b})
    return rows


#: Sections by name; each takes the number of rounds and prints a Markdown table.
SECTIONS: dict[str, Callable[[int], list[dict[str, float | str]]]] = {
    "mlp": bench_mlp,
    "lstm": bench_lstm,
    "conv": bench_conv,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="sections to run (default: all)")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved timing rounds per case")
    args = p.parse_args(argv)

    import torch

    try:
        from threadpoolctl import threadpool_info

        blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"numpy {np.__version__} BLAS threads {blas}; torch {torch.__version__} threads {torch.get_num_threads()}")
    for name in args.only or SECTIONS:
        SECTIONS[name](args.rounds)


if __name__ == "__main__":
    main()
