"""Hyperparameter files in rl-baselines3-zoo's layout: ``<algo>.yml`` maps env ids to entries.

The package's own files (``agents/hyperparams/*.yml``) and the zoo's (``hyperparams/{ppo,a2c,dqn,
ppo_lstm}.yml``, read unchanged) go through the same translation into an agent's keyword arguments:

- ``policy``: ``MlpPolicy`` / ``MlpLstmPolicy`` → ``net="mlp"``, ``CnnPolicy`` / ``CnnLstmPolicy`` → ``"cnn"``;
- ``policy_kwargs``: a mapping, or the zoo's Python-literal string (``"dict(net_arch=[256, 256],
  activation_fn=nn.ReLU, ortho_init=False)"``), parsed by ``parse_policy_kwargs`` with ``ast`` —
  literals, ``dict(...)`` and the names of ``ACTIVATION_NAMES`` only, never ``eval``;
- ``normalize``: ``true``, ``false`` or the zoo's dict string (``"{'norm_obs': False, 'norm_reward': True}"``,
  ``"dict(norm_obs=True, clip_obs=5.0)"``) → ``normalize_obs`` / ``normalize_reward``, and VecNormalize's other
  settings (``clip_obs``, ``clip_reward``, ``epsilon``, ``gamma``) as ``normalize_kwargs`` (``_normalize``);
- ``net_arch`` (nngym's key, also inside ``policy_kwargs``): a list of layer sizes as a tuple, SB3's
  ``dict(pi=[...], vf=[...])`` as one tuple when both are the same, else as ``{"pi": ..., "vf": ...}`` (the agent
  checks it: a DQN's ``net_arch`` is one list);
- ``n_timesteps`` → an int; ``env_wrapper`` and ``frame_stack`` are passed on for whoever builds the env
  (``envs.wrappers.zoo_wrappers``); everything else must be a field of the algorithm's ``Config``. ``frame_stack``
  with normalised observations is refused (``check_frame_stack``).

An env id without an entry of its own gets the file's ``atari`` entry if it is an Atari env (``is_atari``), else its
``default`` entry, as rl-baselines3-zoo's ``read_hyperparameters`` does (its files have both; nngym's own have
neither, so an env id they do not name is refused); a line on stdout says which entry was used.

Command-line overrides (``train.py -p KEY=VALUE``) are merged into the entry first (``merge_overrides``) and
translated with it, so ``-p "policy_kwargs=dict(net_arch=[32])"`` and ``-p normalize=true`` mean what they mean in
a file.

``policy_kwargs``' ``optimizer_kwargs`` are taken when the optimiser SB3 would build with them is the one the agent
steps with (``check_optimizer_kwargs``: PPO's ``dict(eps=1e-5)``, say) and refused otherwise, naming that optimiser.

What nngym cannot honour (``optimizer_class``, a callback, an activation other than those names, ``use_sde:
true`` for an algorithm other than PPO and A2C ...) raises one ``ValueError`` naming the key, the file and the env id.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

from agents.common.config import check_net_arch

#: The files that come with the package, one per algorithm.
HYPERPARAMS_DIR = Path(__file__).resolve().parents[1] / "hyperparams"

#: torch activation names the zoo writes in ``policy_kwargs`` -> nngym's activation names.
ACTIVATION_NAMES = {"nn.Tanh": "tanh", "nn.ReLU": "relu", "nn.Sigmoid": "sigmoid", "nn.GELU": "gelu"}
#: SB3 policy classes -> nngym's ``net``; the LSTM ones only for recurrent PPO.
#: "multi_input" (SB3's MultiInputPolicy, for Dict / Tuple observations) is "cnn" when they have image parts, else
#: "mlp" (the agent decides, ``BaseAgent``).
POLICIES = {
    "MlpPolicy": "mlp",
    "CnnPolicy": "cnn",
    "MultiInputPolicy": "multi_input",
    "MlpLstmPolicy": "mlp",
    "CnnLstmPolicy": "cnn",
    "MultiInputLstmPolicy": "multi_input",
}
RECURRENT_POLICIES = ("MlpLstmPolicy", "CnnLstmPolicy", "MultiInputLstmPolicy")
#: SB3 policy arguments nngym has no counterpart for
ZOO_ONLY_POLICY_KWARGS = (
    "optimizer_class",
    "optimizer_kwargs",
    "features_extractor_class",
    "features_extractor_kwargs",
    "share_features_extractor",
    "normalize_images",
    "full_std",
    "use_expln",
    "squash_output",
    "shared_lstm",
    "n_lstm_layers",
    "lstm_kwargs",
    "net_arch_vf",
    "dueling",
    "n_quantiles",
)
#: SB3 policy arguments whose value here is what nngym does (SB3's defaults): accepted with it and dropped
POLICY_KWARGS_AS_NNGYM: dict[str, Any] = {
    "n_lstm_layers": 1,
    "shared_lstm": False,
    "lstm_kwargs": None,
    "normalize_images": True,
    "share_features_extractor": True,
    "squash_output": False,
    "use_expln": False,
}
#: torch's defaults of the optimisers nngym's agents step with (``nngym.optim``'s Adam and RMSprop are torch's rules),
#: besides the step size: what SB3 builds with ``optimizer_kwargs`` updating them
TORCH_OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "maximize": False},
    "RMSprop": {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False, "maximize": False},
}
#: the agents whose Adam has SB3's ActorCriticPolicy ε of 1e-5 (DQN, REINFORCE and RAM: torch's 1e-8)
ADAM_EPS_1E5 = ("ppo", "recurrent_ppo", "a2c")
#: agent arguments besides the Config's fields that an entry (or ``-p``) may hold: the DBN trunk's pretraining and
#: SB3's episode window
AGENT_KEYS = ("dbn_kwargs", "stats_window_size")
#: keys passed on to whoever builds the env (not agent arguments)
ENV_KEYS = ("env_wrapper", "frame_stack")
#: keys whose value changes nothing when it is this one (SB3's defaults), so they are accepted and dropped
NO_OP_VALUES: dict[str, Any] = {"use_sde": False, "optimize_memory_usage": False}
#: what each unsupported key would need, for the error message
UNSUPPORTED = {
    "use_sde": "generalised state-dependent exploration (gSDE) is implemented for PPO and A2C only",
    "sde_sample_freq": "it belongs to gSDE (use_sde), implemented for PPO and A2C only",
    "optimize_memory_usage": "the replay buffer always stores next observations",
    "callback": "pass callbacks to learn() instead",
    "vec_env_wrapper": "only per-env wrappers (env_wrapper) and frame_stack are applied",
    "replay_buffer_class": "nngym's DQN has one replay buffer",
    "replay_buffer_kwargs": "nngym's DQN has one replay buffer",
}


#: the entries rl-baselines3-zoo's files give the env ids without one of their own: Atari envs' and the others'
ATARI_ENTRY, DEFAULT_ENTRY = "atari", "default"
#: the output key of VecNormalize's settings besides norm_obs / norm_reward (a file's ``normalize`` dict gives them)
NORMALIZE_KWARGS = "normalize_kwargs"
#: VecNormalize's settings nngym's ``Normalizer`` honours, with the values it uses when none is given (SB3's defaults;
#: ``gamma`` is the agent's discount, 0.99 unless an entry sets it)
NORMALIZE_SETTINGS: dict[str, float] = {"clip_obs": 10.0, "clip_reward": 10.0, "epsilon": 1e-8, "gamma": 0.99}
#: VecNormalize's arguments nngym honours only at their default value (accepted with it and dropped), and why
NORMALIZE_ONLY_DEFAULT: dict[str, tuple[Any, str]] = {
    "norm_obs_keys": (None, "nngym's Normalizer normalises the whole observation, every part of a Dict one"),
    "training": (True, "the statistics are updated while learning and frozen in predict and evaluation"),
}


class HyperparamsError(ValueError):
    """An entry of a hyperparameter file that cannot be honoured; the message names key, file and env id."""


def load_hyperparams(
    algo: str,
    env_id: str,
    path: str | Path | None = None,
    config_fields: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The entry for ``env_id`` of ``<algo>.yml`` as agent keyword arguments (plus ``n_timesteps``, env keys).

    Args:
        algo: Algorithm name (``ppo``, ``a2c``, ``dqn``, ``reinforce``, ``recurrent_ppo``).
        env_id: Env id, a top-level key of the file. ``my_envs:MyEnv-v0`` (gymnasium's form for an env its module
            registers on import) finds ``MyEnv-v0``'s entry, and a namespaced id such as ``nngym/CartPoleNoVel-v1``
            the entry of its bare name, ``CartPoleNoVel-v1``, as rl-baselines3-zoo's files name it.
        path: Another file in the same layout: one of rl-baselines3-zoo's, or the best configuration a Ray
            Tune search wrote.
        config_fields: The names of the algorithm's ``Config`` fields; when given, any other key raises.
        overrides: Keys in the file's form (``train.py -p``: ``policy_kwargs="dict(net_arch=[32])"``,
            ``normalize=true``, ``gamma=0.98`` ...) merged into the entry before it is translated
            (``merge_overrides``), so they go through the same translation and checks as the entry's own keys.

    An env id without an entry of its own gets the file's ``atari`` entry if it is an Atari env, else its
    ``default`` entry, as in rl-baselines3-zoo (``entry_key``, which prints the entry used).

    Returns:
        ``Config`` fields, ``net``, ``n_timesteps`` (an int, if the entry has it), ``env_wrapper`` /
        ``frame_stack`` (if it has them); the agent's ``normalize_kwargs`` among the fields if its ``normalize``
        dict sets VecNormalize's ``clip_obs``, ``clip_reward``, ``epsilon`` or ``gamma`` to other values than nngym's
        ``Normalizer`` uses.

    Raises:
        HyperparamsError: For an algorithm without a file here, an env id without an entry (and no fallback
            entry), or a key that nngym cannot honour (named with the file and env id).
    """
    if path is None:
        known = sorted(p.stem for p in HYPERPARAMS_DIR.glob("*.yml"))
        if algo not in known:
            raise HyperparamsError(f"unknown algo {algo!r}; expected one of {known}")
        path = HYPERPARAMS_DIR / f"{algo}.yml"
    path = Path(path)
    try:
        table = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise HyperparamsError(f"cannot read hyperparameter file {path}: {e}") from e
    key = entry_key(table, algo, env_id, path)
    entry = table[key]
    where = f"{path}: {key}" + ("" if key in _own_keys(env_id) else f" (used for {env_id!r}, which has no entry)")
    if not isinstance(entry, dict):
        raise HyperparamsError(f"{where}: an entry is a mapping of hyperparameters, got {entry!r}")
    if overrides:
        entry = merge_overrides(entry, overrides)
        where += f" with the overrides {overrides}"
    return translate(entry, algo, where, config_fields)


def _own_keys(env_id: str) -> tuple[str, str, str]:
    """The keys that name ``env_id`` itself, in order of preference: the id as given, without gymnasium's ``module:``
    prefix, and without its namespace as well."""
    registered = env_id.split(":", 1)[-1]
    return env_id, registered, registered.split("/", 1)[-1]


def entry_key(table: Any, algo: str, env_id: str, path: str | Path) -> str:
    """The key of ``table`` (a hyperparameter file's content) whose entry ``env_id`` trains with.

    The first of: the id as given, the id without gymnasium's ``module:`` prefix (an env registered on import,
    ``gym.make("my_envs:MyEnv-v0")``) and without its namespace (``nngym/CartPoleNoVel-v1``: the zoo's files name it
    ``CartPoleNoVel-v1``). Without any, rl-baselines3-zoo's fallback: ``atari`` for an Atari env (``is_atari``),
    ``default`` for any other, each announced on stdout (the zoo prints "Using 'default' hyperparameters").

    Raises:
        HyperparamsError: When the file has no entry for ``env_id`` and no fallback for it (an Atari env without an
            ``atari`` entry, another without a ``default`` one), naming the file, the env id and the entries it has.
    """
    if isinstance(table, dict):
        for candidate in _own_keys(env_id):
            if candidate in table:
                return candidate
        fallback = ATARI_ENTRY if is_atari(env_id) else DEFAULT_ENTRY
        if fallback in table:
            print(f"Using {fallback!r} hyperparameters ({path} has no entry for {env_id})", flush=True)
            return fallback
    have = sorted(map(str, table)) if isinstance(table, dict) else []
    if is_atari(env_id):  # the zoo gives an Atari env the 'atari' entry, never 'default'
        why = f"an Atari env, nor an {ATARI_ENTRY!r} entry (rl-baselines3-zoo's fallback for Atari envs)"
    else:
        why = f"nor a {DEFAULT_ENTRY!r} entry (rl-baselines3-zoo's fallback for env ids without their own)"
    raise HyperparamsError(
        f"{path}: no {algo} hyperparameters for {env_id!r}, {why}; have {have}. To train it, add an entry for it to "
        f"a yml file (an empty one, '{env_id}: {{}}', means the agent's defaults) and pass the file as the "
        "hyperparameters file"
    )


def env_entry_point(env_id: str) -> str:
    """The entry point gymnasium registered ``env_id`` with, as text (rl-baselines3-zoo's
    ``ExperimentManager.entry_point``); a ``module:`` prefix is dropped, and an unregistered id gives ``""``."""
    spec = gym.envs.registry.get(env_id.split(":", 1)[-1])
    return "" if spec is None else str(spec.entry_point)


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is an Atari env, by rl-baselines3-zoo's rule: ``AtariEnv`` in its entry point (ale_py's
    envs; with ale_py not installed, no id is registered as one)."""
    return "AtariEnv" in env_entry_point(env_id)


def is_minigrid(env_id: str) -> bool:
    """Whether ``env_id`` is a MiniGrid env, by rl-baselines3-zoo's rule: ``minigrid`` in its entry point."""
    return "minigrid" in env_entry_point(env_id)


def deterministic_by_default(env_id: str) -> bool:
    """Whether rl-baselines3-zoo evaluates (and its enjoy.py plays) ``env_id`` with deterministic actions: every env
    but Atari and MiniGrid ones, whose policies it samples (``ExperimentManager.deterministic_eval``)."""
    return not (is_atari(env_id) or is_minigrid(env_id))


def merge_overrides(entry: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A file entry with ``overrides`` merged in, as rl-baselines3-zoo merges its ``--hyperparams`` into an entry
    before translating it.

    An override replaces the entry's key of the same name (a whole ``policy_kwargs`` string, say) and comes after
    the entry's keys, so what it translates to wins over what they translate to (``net_arch=[32]`` over the
    entry's ``policy_kwargs`` net_arch, ``normalize=false`` over its ``normalize_obs``); a ``policy`` override
    also replaces the entry's ``net``, which would otherwise win over it.
    """
    replaced = set(overrides) | ({"net"} if "policy" in overrides else set())
    return {**{k: v for k, v in entry.items() if k not in replaced}, **overrides}


def translate(
    entry: dict[str, Any], algo: str, where: str, config_fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """One file entry as agent keyword arguments (see the module docstring); ``where`` prefixes every error."""
    fields = None if config_fields is None else set(config_fields)
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key in NO_OP_VALUES and value == NO_OP_VALUES[key]:
            continue
        if key in UNSUPPORTED and (fields is None or key not in fields):  # unless the algorithm honours it
            raise HyperparamsError(f"{where}: {key}={value!r} is not supported by nngym: {UNSUPPORTED[key]}")
        if key == "n_timesteps":
            out[key] = _n_timesteps(value, where)
        elif key == "policy":
            out.setdefault("net", _policy(str(value), algo, where))  # an explicit net: key wins
        elif key == "policy_kwargs":
            kwargs = parse_policy_kwargs(value, where) if isinstance(value, str) else dict(value or {})
            out.update(_policy_kwargs(kwargs, algo, where, entry))
        elif key == "normalize":
            settings = _normalize(value, entry, where)
            if NORMALIZE_KWARGS in settings and NORMALIZE_KWARGS in out:
                raise HyperparamsError(
                    f"{where}: VecNormalize's settings given twice, in normalize and as {NORMALIZE_KWARGS}; give them "
                    "in one place"
                )
            out.update(settings)
        elif key == NORMALIZE_KWARGS and NORMALIZE_KWARGS in out:
            raise HyperparamsError(
                f"{where}: VecNormalize's settings given twice, in normalize and as {key}; give them in one place"
            )
        elif key == "net":
            out[key] = value
        elif key in ENV_KEYS:
            out[key] = value
        elif key == "net_arch":
            out[key] = _net_arch(value)
        else:
            out[key] = value
    check_frame_stack(entry, out, where)
    if fields is not None:
        unknown = sorted(set(out) - fields - {"n_timesteps", "net", *ENV_KEYS, *AGENT_KEYS})
        if unknown:
            raise HyperparamsError(f"{where}: {unknown} not hyperparameters of nngym's {algo}; it has {sorted(fields)}")
    return out


def _n_timesteps(value: Any, where: str) -> int:
    """``n_timesteps`` as an int: a whole number >= 0, also written as a float (the zoo's ``!!float 1e6``) or a string
    of one (``"1e6"``, which YAML reads as a string).

    Raises:
        HyperparamsError: For anything else (a bool, a fraction, a negative or infinite number, text), naming it.
    """
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    whole = not isinstance(number, bool) and isinstance(number, int | float) and math.isfinite(number)
    if not whole or number < 0 or not float(number).is_integer():
        raise HyperparamsError(f"{where}: n_timesteps must be a whole number of env steps >= 0, got {value!r}")
    return int(number)


def _policy(name: str, algo: str, where: str) -> str:
    if name not in POLICIES:
        raise HyperparamsError(f"{where}: policy={name!r} is not supported; expected one of {sorted(POLICIES)}")
    if (name in RECURRENT_POLICIES) != (algo == "recurrent_ppo"):
        raise HyperparamsError(
            f"{where}: policy={name!r} does not fit {algo}: the LSTM policies {list(RECURRENT_POLICIES)} are "
            "recurrent_ppo's, the others the feedforward agents'"
        )
    return POLICIES[name]


def nngym_optimizer(algo: str, arguments: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The optimiser the agent ``algo`` steps with, as torch's class name and settings besides the step size.

    Adam for every agent but A2C (betas 0.9, 0.999, no weight decay), with SB3's ActorCriticPolicy ε = 1e-5 for PPO,
    recurrent PPO and A2C, torch's 1e-8 for DQN (as SB3's DQN), REINFORCE and RAM (RAM's ``weight_decay``
    hyperparameter is nngym's decay of the weight matrices, not torch's). A2C steps with RMSprop (α = 0.99, ε =
    ``rms_prop_eps``) unless ``use_rms_prop`` is False, as SB3's A2C.

    Args:
        algo: ``"ppo"``, ``"a2c"``, ``"dqn"``, ``"reinforce"``, ``"recurrent_ppo"``, ``"ram"``.
        arguments: The agent's other arguments (A2C's ``use_rms_prop`` and ``rms_prop_eps``); their defaults where
            absent.
    """
    arguments = arguments or {}
    use_rms_prop = arguments.get("use_rms_prop", True)
    if algo == "a2c" and (use_rms_prop if isinstance(use_rms_prop, bool | np.bool_) else True):
        return "RMSprop", {**TORCH_OPTIMIZER_DEFAULTS["RMSprop"], "eps": arguments.get("rms_prop_eps", 1e-5)}
    return "Adam", {**TORCH_OPTIMIZER_DEFAULTS["Adam"], "eps": 1e-5 if algo in ADAM_EPS_1E5 else 1e-8}


def check_optimizer_kwargs(value: Any, algo: str, where: str, arguments: Mapping[str, Any] | None = None) -> None:
    """SB3's ``policy_kwargs["optimizer_kwargs"]``: taken (and dropped) when the optimiser SB3 would build with them
    is the one ``algo`` steps with (``nngym_optimizer``).

    SB3 builds ``optimizer_class(params, lr, **optimizer_kwargs)``: torch's defaults where they set nothing (its
    ActorCriticPolicy adds ε = 1e-5 for Adam only when ``optimizer_kwargs`` is None), so PPO's ``dict(eps=1e-5)``
    is nngym's optimiser and ``{}`` is not (ε = 1e-8). SB3's A2C with ``use_rms_prop=True`` replaces them by
    ``dict(alpha=0.99, eps=rms_prop_eps, weight_decay=0)``: the values given must be those.

    Raises:
        HyperparamsError: For anything but None or a dict of the optimiser's settings with nngym's values, naming
            the optimiser nngym uses and the settings that differ.
    """
    if value is None:
        return
    name, used = nngym_optimizer(algo, arguments)
    shown = f"{name}({', '.join(f'{k}={v!r}' for k, v in used.items())})"
    head = f"{where}: policy_kwargs optimizer_kwargs={value!r} is not supported by nngym's {algo}, which steps with"
    if not isinstance(value, dict):
        raise HyperparamsError(f"{head} {shown}: optimizer_kwargs must be a dict of its settings (or None)")
    unknown = sorted(str(k) for k in value if k not in used)
    if unknown:
        raise HyperparamsError(
            f"{head} {shown}: {unknown} {'is' if len(unknown) == 1 else 'are'} not among its settings"
        )
    replaced = algo == "a2c" and name == "RMSprop"  # SB3's A2C puts its own optimizer_kwargs in their place
    sb3 = dict(value) if replaced else {**TORCH_OPTIMIZER_DEFAULTS[name], **value}
    differ = [k for k in sb3 if not _same_setting(sb3[k], used[k])]
    if not differ:
        return
    if replaced:
        raise HyperparamsError(
            f"{head} {shown}, as SB3's A2C with use_rms_prop=True, which puts dict(alpha=0.99, eps=rms_prop_eps, "
            "weight_decay=0) in place of optimizer_kwargs: give rms_prop_eps for another eps, use_rms_prop=False for "
            "Adam"
        )
    got = ", ".join(f"{k}={sb3[k]!r}" + ("" if k in value else " (torch's default)") for k in differ)
    add = "eps" in differ and "eps" not in value and used["eps"] == 1e-5  # SB3's 1e-5 is lost with optimizer_kwargs
    raise HyperparamsError(
        f"{head} {shown}; with these optimizer_kwargs SB3 would step with {got}"
        + ("; SB3 sets Adam's eps=1e-5 only when optimizer_kwargs is None, so add eps=1e-5" if add else "")
    )


def _same_setting(given: Any, used: Any) -> bool:
    """Whether an optimiser setting given (a yml's list for betas, an int for a float) is the value nngym uses."""
    if isinstance(used, bool):
        return isinstance(given, bool | np.bool_) and bool(given) == used
    if isinstance(used, tuple):
        return (
            isinstance(given, list | tuple)
            and len(given) == len(used)
            and all(_same_setting(g, u) for g, u in zip(given, used, strict=True))
        )
    number = isinstance(given, int | float | np.integer | np.floating) and not isinstance(given, bool | np.bool_)
    return number and isinstance(used, int | float | np.integer | np.floating) and float(given) == float(used)


def _policy_kwargs(
    kwargs: dict[str, Any], algo: str, where: str, arguments: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """SB3's ``policy_kwargs`` as agent arguments; ``arguments`` are the agent's others (for ``optimizer_kwargs``)."""
    out: dict[str, Any] = {}
    if "optimizer_class" in kwargs:  # refused before its optimizer_kwargs, whose meaning it sets
        name, used = nngym_optimizer(algo, arguments)
        shown = f"{name}({', '.join(f'{k}={v!r}' for k, v in used.items())})"
        choice = " (use_rms_prop=False: Adam with eps=1e-5)" if algo == "a2c" else ""
        raise HyperparamsError(
            f"{where}: policy_kwargs optimizer_class={kwargs['optimizer_class']!r} is not supported by nngym's "
            f"{algo}, which steps with {shown}{choice}"
        )
    for key, value in kwargs.items():
        if key == "net_arch":
            out["net_arch"] = _net_arch(value)
        elif key == "activation_fn":
            if value not in ACTIVATION_NAMES.values():
                raise HyperparamsError(
                    f"{where}: policy_kwargs activation_fn={value} is not supported; nngym has "
                    f"{sorted(ACTIVATION_NAMES)}"
                )
            out["activation"] = value
        elif key in ("ortho_init", "log_std_init", "lstm_hidden_size"):
            out[key] = value
        elif key == "enable_critic_lstm" and algo == "recurrent_ppo":
            if value is not True:
                raise HyperparamsError(
                    f"{where}: policy_kwargs enable_critic_lstm={value!r} is not supported: nngym's recurrent PPO "
                    "always gives the critic its own LSTM (enable_critic_lstm=True)"
                )
        elif key in POLICY_KWARGS_AS_NNGYM and value == POLICY_KWARGS_AS_NNGYM[key]:
            continue  # what nngym does anyway
        elif key == "optimizer_kwargs":
            check_optimizer_kwargs(value, algo, where, arguments)  # what nngym does, or refused
        elif key in ZOO_ONLY_POLICY_KWARGS:
            default = POLICY_KWARGS_AS_NNGYM.get(key, ...)
            same = f" (only {key}={default!r}, what it does)" if default is not ... else ""
            if key.startswith("features_extractor") and algo == "recurrent_ppo":  # net is mlp / cnn / multi_input
                same = (
                    " (the encoder before each LSTM is nngym's: cnn_spec, a spec such as "
                    "'conv:16x3,pool:2,conv:32x3,pool:2,dense:128' whose last dense size is the features' "
                    "(CnnLstmPolicy), or encoder_arch, the hidden sizes of an MLP (MlpLstmPolicy))"
                )
            elif key.startswith("features_extractor"):  # nngym's trunks are numpy networks, given as net
                same = " (give nngym's agent its trunk as net=: a spec such as 'conv:16x5,dense:128' or a Sequential)"
            raise HyperparamsError(f"{where}: policy_kwargs {key}={value!r} is not supported by nngym's {algo}{same}")
        else:  # nngym's own names (activation, encoder_arch ...): checked against the Config with the rest
            out[key] = value
    return out


def _net_arch(value: Any) -> Any:
    """SB3's forms of ``net_arch`` in the form nngym's agents keep: a list of sizes as a tuple, ``dict(pi=...,
    vf=...)`` as one tuple when both are the same (``[64, 64]`` and ``dict(pi=[64, 64], vf=[64, 64])`` are one
    configuration), else as ``{"pi": tuple, "vf": tuple}`` (a missing key: no hidden layer, as in SB3). Anything
    else is passed on as it came, for the agent's own check to refuse, naming the forms it accepts (a DQN's
    ``net_arch`` is one list, say): ``agents.common.config.check_net_arch``'s canonical form."""
    try:
        return check_net_arch("", value)
    except ValueError:
        return value


def _normalize(value: Any, entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The zoo's ``normalize`` as agent arguments: ``normalize_obs`` / ``normalize_reward``, plus ``normalize_kwargs``.

    ``true`` / ``false`` (also as strings) set both flags. A dict, or its string (``"{'norm_obs': False}"``,
    ``"dict(norm_obs=False, norm_reward=True)"``, parsed as ``parse_policy_kwargs`` parses, never ``eval``), holds
    VecNormalize's arguments, as the zoo passes them to it: ``norm_obs`` and ``norm_reward`` (booleans, default True),
    ``clip_obs`` and ``clip_reward`` (> 0), ``epsilon`` (>= 0) and ``gamma`` (in [0, 1]; as in the zoo, an entry's
    own ``gamma`` replaces it, so VecNormalize discounts as the agent does). Those of the last four that differ from
    what nngym's ``Normalizer`` uses anyway (``NORMALIZE_SETTINGS``: SB3's defaults, the agent's gamma) are returned as
    the agent's ``normalize_kwargs``.
    ``norm_obs_keys`` and ``training`` are taken at their defaults only (``NORMALIZE_ONLY_DEFAULT``).

    Raises:
        HyperparamsError: For another form, another key, or a value of the wrong type or range, naming it.
    """
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if isinstance(value, bool):
        return {"normalize_obs": value, "normalize_reward": value}
    if isinstance(value, str):
        text = value
        try:
            value = _literal(ast.parse(text.strip(), mode="eval").body, where, text)
        except (SyntaxError, HyperparamsError):
            value = None
        if not isinstance(value, dict):
            raise HyperparamsError(
                f"{where}: normalize={text!r} is neither a bool nor a dict of literals such as "
                '"{\'norm_obs\': True}" or "dict(norm_obs=True)"'
            )
    if not isinstance(value, dict):
        raise HyperparamsError(f"{where}: normalize must be true, false or a dict, got {value!r}")
    taken = ("norm_obs", "norm_reward", *NORMALIZE_SETTINGS)
    unknown = sorted(str(k) for k in value if k not in taken and k not in NORMALIZE_ONLY_DEFAULT)
    if unknown:
        raise HyperparamsError(
            f"{where}: normalize {unknown} not supported; nngym takes VecNormalize's {list(taken)} (and "
            f"{list(NORMALIZE_ONLY_DEFAULT)} at their defaults)"
        )
    for key, (default, why) in NORMALIZE_ONLY_DEFAULT.items():
        if key in value and value[key] != default:
            raise HyperparamsError(
                f"{where}: normalize {key}={value[key]!r} is not supported by nngym ({why}); only {key}={default!r}"
            )
    flags = {}
    for key in ("norm_obs", "norm_reward"):
        flag = value.get(key, True)
        if not isinstance(flag, bool):
            raise HyperparamsError(f"{where}: normalize {key} must be true or false, got {flag!r}")
        flags[key] = flag
    settings = {}
    for key, default in NORMALIZE_SETTINGS.items():
        if key not in value:
            continue
        number = _normalize_setting(key, value[key], where)
        replaced = key == "gamma" and "gamma" in entry  # the zoo sets VecNormalize's gamma to the agent's
        if number != default and not replaced:
            settings[key] = number
    out: dict[str, Any] = {"normalize_obs": flags["norm_obs"], "normalize_reward": flags["norm_reward"]}
    if settings:
        out[NORMALIZE_KWARGS] = settings
    return out


def _normalize_setting(key: str, value: Any, where: str) -> float:
    """One of VecNormalize's ``NORMALIZE_SETTINGS`` as a float, checked: ``clip_obs`` and ``clip_reward`` > 0,
    ``epsilon`` >= 0, ``gamma`` in [0, 1].

    Raises:
        HyperparamsError: For anything else, naming the key, what it must be and what came.
    """
    expected = {"clip_obs": "> 0", "clip_reward": "> 0", "epsilon": ">= 0", "gamma": "in [0, 1]"}[key]
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    low_ok = number > 0 if expected == "> 0" else number >= 0
    if not (math.isfinite(number) and low_ok and (key != "gamma" or number <= 1)):
        raise HyperparamsError(f"{where}: normalize {key} must be a number {expected}, got {value!r}")
    return number


def check_frame_stack(entry: dict[str, Any], out: dict[str, Any], where: str) -> None:
    """Refuses ``frame_stack`` with normalised observations (``normalize`` or ``normalize_obs``).

    The zoo wraps its vector env in VecNormalize and then in VecFrameStack: the statistics are those of one frame,
    each frame is normalised with them, and the stack's padding frames are 0 after normalisation. nngym stacks the
    frames inside each env (``envs.wrappers.FrameStack``) and the agent normalises the stacked observation: statistics
    per stacked position, padding frames 0 before normalisation, so the same entry would train on other inputs.
    Reward normalisation alone (``"{'norm_obs': False, 'norm_reward': True}"``) is the same in both and is taken.

    Raises:
        HyperparamsError: Naming both keys with their values, the file, the env id and why.
    """
    if out.get("frame_stack") is None or not out.get("normalize_obs"):
        return
    given = " and ".join(f"{k}={entry[k]!r}" for k in ("normalize", "normalize_obs") if k in entry)
    raise HyperparamsError(
        f"{where}: frame_stack={out['frame_stack']!r} with {given} is not supported by nngym: rl-baselines3-zoo "
        "normalises each frame (VecNormalize, statistics of one frame) and then stacks the normalised frames "
        "(VecFrameStack), while nngym stacks the frames in each env and normalises the stacked observation "
        "(statistics per stacked position, padding frames 0 before normalisation), which trains on other inputs; "
        "drop one of the two, or normalise rewards only (normalize: \"{'norm_obs': False, 'norm_reward': True}\")"
    )


def parse_policy_kwargs(text: str, where: str = "policy_kwargs") -> dict[str, Any]:
    """The zoo's ``policy_kwargs`` string as a dict, parsed safely (``ast``, no ``eval``).

    Accepted: ``dict(key=value, ...)`` and ``{...}`` with values that are literals (numbers, strings,
    booleans, None, lists, tuples), nested ``dict(...)``, and the names in ``ACTIVATION_NAMES`` (returned
    as nngym's activation names). Any other name or call raises, naming it.

    Raises:
        HyperparamsError: For text that is not such an expression.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise HyperparamsError(f"{where}: policy_kwargs {text!r} is not a Python expression: {e.msg}") from None
    value = _literal(tree.body, where, text)
    if not isinstance(value, dict):
        raise HyperparamsError(f"{where}: policy_kwargs must be a dict, got {text!r}")
    return value


def _literal(node: ast.AST, where: str, text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _literal(node.operand, where, text)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.List | ast.Tuple):
        items = [_literal(e, where, text) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {_literal(k, where, text): _literal(v, where, text) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        if all(kw.arg is not None for kw in node.keywords):
            return {kw.arg: _literal(kw.value, where, text) for kw in node.keywords}
    name = ast.unparse(node)
    if name in ACTIVATION_NAMES:
        return ACTIVATION_NAMES[name]
    raise HyperparamsError(
        f"{where}: policy_kwargs {' '.join(text.split())!r}: {name!r} is not supported (literals, dict(...) and "
        f"{sorted(ACTIVATION_NAMES)} are)"
    )
