"""Recurrent PPO (LSTM) next to memoryless PPO-MLP on the tasks that need memory (RESULTS.md, "Agents that remember").

    python scripts/recurrent_ppo_figures.py cartpole --seed 0     # CartPoleNoVel-v1, 100k steps each
    python scripts/recurrent_ppo_figures.py tmaze --seed 0        # T-maze, gated curriculum 10 -> 100
    python scripts/recurrent_ppo_figures.py glimpse --seed 0      # DigitGlimpse-v0, test accuracy
    python scripts/recurrent_ppo_figures.py glimpse --seed 0 --agents rppo --steps 4000000 --max-shift 2
    python scripts/recurrent_ppo_figures.py plot                  # PNGs from the runs so far

Each task writes ``<out>/<task>_<agent>_s<seed>/`` (monitor.csv, progress.csv, model.npz) and
``<out>/<task>_s<seed>.json`` with the evaluation; ``plot`` draws ``docs/figures/rppo_<task>.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the nngym/ env ids
from agents import PPO, RecurrentPPO, load_hyperparams, run_episodes
from agents.common.vec_env import make_vec_env

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"

#: T-maze curriculum: corridor lengths in order. The recurrent agent moves to the next length once its greedy
#: success on TMAZE_GATE_EPISODES gate mazes (seeds apart from the evaluation's) reaches TMAZE_GATE and at least
#: TMAZE_GATE of its training episodes at this length end in the goal; after the last length passes the gate it
#: trains TMAZE_HOLD_STEPS more there at learning rate TMAZE_HOLD_LR (so the figure is not a lucky stopping
#: point), at most TMAZE_MAX_STEPS in all. PPO-MLP, which cannot pass the gate, gets the same steps per length.
TMAZE_LENGTHS = (10, 20, 30, 50, 75, 100)
TMAZE_CHUNK = 8_192
"""Env steps between gate checks (one rollout of the recurrent agent)."""
TMAZE_HOLD_STEPS, TMAZE_HOLD_LR = 100_000, 1e-4
TMAZE_MAX_STEPS = 800_000
TMAZE_GATE, TMAZE_GATE_EPISODES, TMAZE_GATE_SEED = 0.95, 100, 20_000
TMAZE_EVAL_EPISODES = 1_000
#: 1024-step training sequences (seq_len = n_steps), one per minibatch: a 100-cell episode (>= 101 steps) then
#: straddles a sequence boundary ~10% of the time, and only then loses the gradient from the turn back to the
#: cue. Measured (seed 2, training on at L = 100 from a solved agent): 512-step sequences lost the memory
#: within 16k steps (lr 1e-3) or 80k steps (lr 3e-4); 1024-step sequences held 100% for 131k steps at either lr.
#: Forget bias 5 (σ(5)^100 ≈ 0.51) keeps the cue over 100 steps at initialisation. Raw advantages (no
#: per-minibatch normalisation): normalised ones made the greedy policy fall back to one arm every few rollouts
#: at L = 10. Entropy bonus 0.003: with raw advantages 0.01 let the walk itself decay at L = 100. Training on
#: at L = 100 with lr 1e-3 still lost the greedy policy's memory on seed 0 (100% -> 57% in 100k steps) while
#: the sampled policy kept ~99%; lr 1e-4 held seed 2 (512-step sequences) at 100% for 131k steps: TMAZE_HOLD_LR.
TMAZE_RPPO = dict(
    n_envs=8,
    n_steps=1024,
    batch_size=1024,
    n_epochs=10,
    learning_rate=1e-3,
    ent_coef=0.003,
    gamma=0.99,
    gae_lambda=0.95,
    normalize_advantage=False,
    lstm_hidden_size=32,
    lstm_forget_bias=5.0,
    net_arch=(32,),
)
TMAZE_PPO = dict(n_envs=8, n_steps=128, batch_size=256, n_epochs=10, learning_rate=1e-3, ent_coef=0.01, gamma=0.99)


def tmaze_env(length: int, n_envs: int | None = None):
    """The T-maze with room for the walk: truncation after 2 L + 20 steps."""
    kwargs = {"corridor_length": length, "max_episode_steps": 2 * length + 20}
    return make_vec_env("nngym/TMaze-v0", n_envs, **kwargs) if n_envs else gym.make("nngym/TMaze-v0", **kwargs)


def success_rate(agent, length: int, n: int = 100, seed: int = 10_000) -> float:
    """Fraction of n greedy episodes (first reset seeded with ``seed``) that end in the goal arm (+4)."""
    last = run_episodes(agent, tmaze_env(length), n, deterministic=True, seed=seed).last_rewards
    return float(np.mean(np.array(last) == 4.0))


def tmaze_summary(agent, stages: list[dict], t0: float, run_dir: Path, name: str) -> dict:
    """Stages, greedy success at L = 10, 50, 100 on the evaluation mazes, minutes since t0; saves the model."""
    summary = {
        "stages": stages,
        "final_success": {str(L): success_rate(agent, L, TMAZE_EVAL_EPISODES) for L in (10, 50, 100)},
        "minutes": round((time.perf_counter() - t0) / 60, 2),
    }
    agent.save(run_dir / "model.npz")
    print(name, summary, flush=True)
    return summary


def run_tmaze(out: Path, seed: int) -> dict:
    """Recurrent PPO through the gated curriculum, then PPO-MLP with the same steps per corridor length."""
    result: dict = {"task": "tmaze", "seed": seed, "lengths": list(TMAZE_LENGTHS), "gate": TMAZE_GATE}
    # --- recurrent PPO: next length once the gate is passed ---
    t0 = time.perf_counter()
    agent, rows = None, []
    for length in TMAZE_LENGTHS:
        env = tmaze_env(length, TMAZE_RPPO["n_envs"])
        if agent is None:
            agent = RecurrentPPO(env, seed=seed, log_dir=out / f"tmaze_rppo_s{seed}", **TMAZE_RPPO)
        else:
            agent.set_env(env)  # the next learn resets it
        agent.ep_info_buffer.clear()  # training episodes of this length only
        start, gate, passed = agent.num_timesteps, 0.0, False
        while agent.num_timesteps < TMAZE_MAX_STEPS and not passed:
            agent.learn(TMAZE_CHUNK, reset_num_timesteps=agent.num_timesteps == 0)
            train_success = float(np.mean([e["r"] > 2.0 for e in agent.ep_info_buffer]))  # +4 minus a few bumps
            gate = success_rate(agent, length, TMAZE_GATE_EPISODES, TMAZE_GATE_SEED)
            passed = gate >= TMAZE_GATE and train_success >= TMAZE_GATE
        passed_at = agent.num_timesteps
        row = {"length": length, "start": start, "passed": passed, "gate_success": gate, "passed_at": passed_at}
        if passed and length == TMAZE_LENGTHS[-1]:
            row["success_at_gate"] = {str(L): success_rate(agent, L, TMAZE_EVAL_EPISODES) for L in (10, 50, 100)}
            print("rppo at the last gate", row, flush=True)
            agent.lr_schedule = lambda _progress: TMAZE_HOLD_LR  # constant, replaces config.learning_rate
            agent.learn(min(TMAZE_HOLD_STEPS, TMAZE_MAX_STEPS - agent.num_timesteps), reset_num_timesteps=False)
        rows.append(row | {"steps": agent.num_timesteps, "success": success_rate(agent, length)})
        print("rppo", rows[-1], flush=True)
        if not passed:
            break
    result["rppo"] = tmaze_summary(agent, rows, t0, out / f"tmaze_rppo_s{seed}", "rppo")
    # --- PPO-MLP: the same steps at each length ---
    t0 = time.perf_counter()
    agent, ppo_rows = None, []
    for row in rows:
        env = tmaze_env(row["length"], TMAZE_PPO["n_envs"])
        if agent is None:
            agent = PPO(env, seed=seed, log_dir=out / f"tmaze_ppo_s{seed}", **TMAZE_PPO)
            agent.learn(row["steps"] - row["start"])
        else:
            agent.set_env(env)  # the next learn resets it
            agent.learn(row["steps"] - row["start"], reset_num_timesteps=False)
        success = success_rate(agent, row["length"])
        ppo_rows.append({"length": row["length"], "steps": agent.num_timesteps, "success": success})
        print("ppo", ppo_rows[-1], flush=True)
    result["ppo"] = tmaze_summary(agent, ppo_rows, t0, out / f"tmaze_ppo_s{seed}", "ppo")
    return result


def run_cartpole(out: Path, seed: int) -> dict:
    env_id = "nngym/CartPoleNoVel-v1"
    result: dict = {"task": "cartpole", "seed": seed}
    hp_r = load_hyperparams("recurrent_ppo", env_id)
    hp_p = load_hyperparams("ppo", "CartPole-v1")  # the zoo's PPO values for CartPole-v1
    for name, cls, hp in (("rppo", RecurrentPPO, hp_r), ("ppo", PPO, hp_p)):
        steps = int(hp.pop("n_timesteps"))
        t0 = time.perf_counter()
        agent = cls(env_id, seed=seed, log_dir=out / f"cartpole_{name}_s{seed}", **hp).learn(steps)
        minutes = (time.perf_counter() - t0) / 60
        returns = run_episodes(agent, env_id, 20, deterministic=True, seed=10_000 + seed).returns
        result[name] = {"steps": steps, "eval_mean": float(np.mean(returns)), "eval_std": float(np.std(returns))}
        result[name]["minutes"] = round(minutes, 2)
        agent.save(out / f"cartpole_{name}_s{seed}" / "model.npz")
        print(name, result[name], flush=True)
    return result


GLIMPSE_STEPS = 2_000_000
GLIMPSE_RPPO = dict(
    n_envs=16,
    n_steps=32,
    seq_len=16,
    batch_size=512,
    n_epochs=4,
    learning_rate="lin_1e-3",
    ent_coef=0.1,
    gamma=1.0,
    gae_lambda=0.95,
    encoder_arch=(128,),
    activation="relu",
    lstm_hidden_size=128,
    net_arch=(128,),
)
GLIMPSE_PPO = dict(
    n_envs=16,
    n_steps=32,
    batch_size=512,
    n_epochs=4,
    learning_rate="lin_1e-3",
    ent_coef=0.1,
    gamma=1.0,
    activation="relu",
    net_arch=(128, 128),
)


def glimpse_accuracy(agent, n_test: int, split: str = "test") -> float:
    """Greedy accuracy on the first ``n_test`` images of ``split`` (one episode each, ``options={"index": i}``)."""
    env = gym.make("nngym/DigitGlimpse-v0", split=split)
    correct = 0
    for i in range(n_test):
        obs, _ = env.reset(seed=i, options={"index": i})
        state, start, done, info = None, True, False, {}
        while not done:
            action, state = agent.predict(obs, state, episode_start=start, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            start, done = False, terminated or truncated
        correct += bool(info.get("correct", False))
    return correct / n_test


def run_glimpse(
    out: Path, seed: int, steps: int, n_test: int, max_shift: int = 0, agents: tuple[str, ...] = ("rppo", "ppo")
) -> dict:
    """Trains the agents named in ``agents`` on DigitGlimpse's training digits, shifted by up to ``max_shift``
    pixels at every reset (the env's data augmentation, 0: none), then reports the greedy accuracy on the first
    ``n_test`` test images and on as many (unshifted) training images."""
    env_id = "nngym/DigitGlimpse-v0"
    result: dict = {"task": "glimpse", "seed": seed, "n_test": n_test, "max_shift": max_shift}
    for name, cls, hp in (("rppo", RecurrentPPO, GLIMPSE_RPPO), ("ppo", PPO, GLIMPSE_PPO)):
        if name not in agents:
            continue
        env = make_vec_env(env_id, hp["n_envs"], max_shift=max_shift) if max_shift else env_id
        t0 = time.perf_counter()
        agent = cls(env, seed=seed, log_dir=out / f"glimpse_{name}_s{seed}", **hp).learn(steps)
        minutes = (time.perf_counter() - t0) / 60
        acc = glimpse_accuracy(agent, n_test)
        train_acc = glimpse_accuracy(agent, n_test, split="train")
        result[name] = {"steps": steps, "test_accuracy": acc, "train_accuracy": train_acc, "minutes": round(minutes, 2)}
        agent.save(out / f"glimpse_{name}_s{seed}" / "model.npz")
        print(name, result[name], flush=True)
    return result


def plot(out: Path) -> None:
    """One PNG per task: rolling mean of episode returns against env steps, LSTM and MLP, every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    titles = {
        "cartpole": "CartPoleNoVel-v1: episode return",
        "tmaze": "T-maze, L = 10 -> 100 (dotted: next length), then 100k steps at 100",
        "glimpse": "DigitGlimpse-v0: episode return (= training accuracy)",
    }
    for task, title in titles.items():
        runs = sorted(out.glob(f"{task}_*_s*/monitor.csv"))
        if not runs:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for path in runs:
            rows = np.loadtxt(path, delimiter=",", skiprows=2, ndmin=2)
            if not len(rows):
                continue
            name = path.parent.name.split("_")[1]
            r, steps = rows[:, 0], np.cumsum(rows[:, 1])
            k = {"cartpole": 50, "tmaze": 200}.get(task, max(200, len(r) // 100))  # glimpse: ~10^6 short episodes
            k = min(k, len(r))
            label = {"rppo": "recurrent PPO (LSTM)", "ppo": "PPO-MLP"}[name] + " " + path.parent.name.split("_")[-1]
            (line,) = ax.plot(steps[k - 1 :], np.convolve(r, np.ones(k) / k, mode="valid"), lw=1.2, label=label)
            summary = out / f"tmaze_{path.parent.name.split('_')[-1]}.json"
            if task == "tmaze" and name == "rppo" and summary.exists():  # where this seed moved to a longer corridor
                for stage in json.loads(summary.read_text())["rppo"]["stages"]:
                    ax.axvline(stage["passed_at"], color=line.get_color(), lw=0.6, ls=":")
        ax.set_xlabel("env steps (episodes in finishing order)")
        ax.set_ylabel("return (moving mean)")
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(FIGURES / f"rppo_{task}.png", dpi=100)
        plt.close(fig)
        print("wrote", FIGURES / f"rppo_{task}.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=["cartpole", "tmaze", "glimpse", "plot"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/rppo")
    p.add_argument("--steps", type=int, default=GLIMPSE_STEPS, help="glimpse: env steps per agent")
    p.add_argument("--n-test", type=int, default=10_000, help="glimpse: test images to evaluate")
    p.add_argument("--max-shift", type=int, default=0, help="glimpse: shift training digits by up to this many pixels")
    p.add_argument(
        "--agents", nargs="+", choices=["rppo", "ppo"], default=["rppo", "ppo"], help="glimpse: the agents to train"
    )
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.task == "plot":
        plot(out)
        return
    run = {"cartpole": run_cartpole, "tmaze": run_tmaze}.get(args.task)
    if run:
        result = run(out, args.seed)
    else:
        result = run_glimpse(out, args.seed, args.steps, args.n_test, args.max_shift, tuple(args.agents))
    (out / f"{args.task}_s{args.seed}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
