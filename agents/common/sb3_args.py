"""SB3's constructor form for nngym's agents: ``PPO("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]))``.

Stable-Baselines3 builds an agent as ``Algo(policy, env, <hyperparameters>, policy_kwargs=..., device=..., ...)``;
nngym's own form is ``Algo(env, net="mlp", <hyperparameters>)``. ``sb3_arguments`` turns the first into the second,
so code written for SB3 runs unchanged where nngym has the same thing, and says clearly where it has not:

- ``policy`` (first positional argument or keyword): ``"MlpPolicy"`` → ``net="mlp"``, ``"CnnPolicy"`` → ``"cnn"``,
  ``"MultiInputPolicy"`` → ``"multi_input"`` (the agent picks ``"cnn"`` when its Dict / Tuple observations have
  image parts, as SB3's CombinedExtractor sends them through a CNN, else ``"mlp"``), ``"MlpLstmPolicy"`` /
  ``"CnnLstmPolicy"`` for ``RecurrentPPO``. A policy class (SB3's ``ActorCriticPolicy`` and kin) is refused:
  nngym builds its own numpy networks.
- ``policy_kwargs``: a dict, or the zoo's string form, read as the hyperparameter files' ``policy_kwargs``
  (``agents.common.hyperparams``); ``activation_fn`` may be torch's class itself (``torch.nn.ReLU``), which is
  recognised by name without importing torch. ``optimizer_kwargs`` are taken when SB3 would build the optimiser the
  agent steps with from them (``dict(eps=1e-5)`` for PPO's Adam; ``agents.common.hyperparams.check_optimizer_kwargs``),
  refused otherwise, naming it.
- ``device``: ``"auto"`` and ``"cpu"`` are accepted (nngym computes with numpy on the CPU); anything else is refused.
- ``_init_setup_model=True``, ``rollout_buffer_class=None``, ``replay_buffer_class=None``, their ``*_kwargs=None`` and
  ``optimize_memory_usage=False`` (SB3's defaults) are accepted and dropped; other values are refused, naming why.
- ``train_freq=(n, "step")`` (SB3's tuple, also a yml list) is ``n``; ``(n, "episode")`` is refused.
- ``stats_window_size`` is passed on (the agents keep that many episodes for ``rollout/ep_rew_mean``).

Arguments already in nngym's form pass through unchanged, so the translation can run on every construction.
"""

from __future__ import annotations

from typing import Any

from agents.common.hyperparams import (
    ACTIVATION_NAMES,
    POLICIES,
    RECURRENT_POLICIES,
    UNSUPPORTED,
    _policy_kwargs,
    parse_policy_kwargs,
)

#: SB3's policy names nngym's agents take, and the ``net`` each stands for ("multi_input": decided by the spaces).
SB3_POLICIES: dict[str, str] = POLICIES

#: SB3 constructor arguments whose SB3 default changes nothing in nngym: accepted with that value and dropped.
SB3_DEFAULTS: dict[str, Any] = {
    "_init_setup_model": True,
    "rollout_buffer_class": None,
    "rollout_buffer_kwargs": None,
    "replay_buffer_class": None,
    "replay_buffer_kwargs": None,
    "optimize_memory_usage": False,
}

#: Why each of those is refused with another value.
SB3_REFUSED: dict[str, str] = {
    "_init_setup_model": "nngym builds the networks when the agent is made",
    "rollout_buffer_class": "nngym's on-policy agents have one rollout buffer",
    "rollout_buffer_kwargs": "nngym's on-policy agents have one rollout buffer",
    "replay_buffer_class": UNSUPPORTED["replay_buffer_class"],
    "replay_buffer_kwargs": UNSUPPORTED["replay_buffer_kwargs"],
    "optimize_memory_usage": UNSUPPORTED["optimize_memory_usage"],
}


def sb3_arguments(algo: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``Algo(*args, **kwargs)`` in SB3's form as the same call in nngym's form (unchanged if already nngym's).

    Args:
        algo: The agent class's ``algo`` (``"PPO"``, ``"A2C"``, ``"DQN"``, ``"RecurrentPPO"``, ...), for the
            messages and the policies it takes.
        args: The positional arguments: ``(policy, env)`` in SB3's form, ``(env, ...)`` in nngym's.
        kwargs: The keyword arguments.

    Returns:
        ``(args, kwargs)`` for nngym's constructor: ``(env, *rest)`` and ``net`` from the policy.

    Raises:
        ValueError: For a policy nngym has no counterpart for, a policy given with a ``net`` that disagrees,
            hyperparameters passed by position after SB3's ``(policy, env)``, or an SB3 argument with a value
            nngym cannot honour, naming the argument and what is accepted.
    """
    kwargs = dict(kwargs)
    policy = kwargs.pop("policy", None)
    if args and _is_policy(args[0]):
        if policy is not None:
            raise ValueError(f"{algo} got the policy twice: {args[0]!r} by position and policy={policy!r}")
        policy, args = args[0], args[1:]
        if len(args) > 1:
            raise ValueError(
                f"{algo}(policy, env, ...): pass the hyperparameters after policy and env by keyword (as "
                f"learning_rate=...), got {len(args) - 1} more positional arguments"
            )
    if policy is not None:
        net = _net_of(algo, policy)
        given = kwargs.get("net", args[1] if len(args) > 1 else None)
        if given is not None and given != net:
            raise ValueError(f"{algo}: policy={policy!r} stands for net={net!r}, but net={given!r} was given too")
        if len(args) < 2:
            kwargs["net"] = net
    if isinstance(kwargs.get("train_freq"), list | tuple):
        kwargs["train_freq"] = _train_freq(algo, kwargs["train_freq"])
    if "policy_kwargs" in kwargs:
        kwargs.update(_translate_policy_kwargs(algo, kwargs.pop("policy_kwargs"), kwargs))
    if "device" in kwargs:
        check_device(algo, kwargs.pop("device"))
    for key, default in SB3_DEFAULTS.items():
        if key in kwargs:
            value = kwargs.pop(key)
            if value is not default and value != default:
                raise ValueError(f"{algo}: {key}={value!r} is not supported: {SB3_REFUSED[key]} ({key}={default!r})")
    return args, kwargs


def _train_freq(algo: str, value: list[Any] | tuple[Any, ...]) -> Any:
    """SB3's ``train_freq=(n, "step")`` as nngym's ``n`` (env steps between training calls); ``(n, "episode")`` is
    refused: nngym's DQN trains every n env steps."""
    if len(value) != 2 or value[1] not in ("step", "episode"):
        raise ValueError(f"{algo}: train_freq must be an int or SB3's (n, 'step'), got {value!r}")
    if value[1] == "episode":
        raise ValueError(
            f"{algo}: train_freq={value!r} is not supported: nngym's {algo} trains every n env steps, "
            "train_freq=n or (n, 'step')"
        )
    return value[0]


def _is_policy(value: Any) -> bool:
    """Whether a first positional argument is SB3's policy (a policy name or class) rather than an env."""
    if isinstance(value, str):  # SB3's names all end so; an env id does not (a typo is named, not looked up as env)
        return value.endswith("Policy")
    return isinstance(value, type) and value.__name__.endswith("Policy")


def _net_of(algo: str, policy: Any) -> str:
    """nngym's ``net`` for SB3's ``policy``; raises ValueError for a class or a name that does not fit ``algo``."""
    recurrent = algo == "RecurrentPPO"
    fits = sorted(name for name in SB3_POLICIES if (name in RECURRENT_POLICIES) == recurrent)
    if not isinstance(policy, str):
        name = getattr(policy, "__name__", type(policy).__name__)
        raise ValueError(
            f"{algo}: policy={name} (a policy class) is not supported: nngym builds its own numpy networks; pass one "
            f"of {fits} and the network's shape in policy_kwargs (net_arch, activation_fn)"
        )
    if policy not in fits:
        raise ValueError(f"{algo}: policy={policy!r} is not supported by {algo}; expected one of {fits}")
    return SB3_POLICIES[policy]


def _translate_policy_kwargs(algo: str, value: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """SB3's ``policy_kwargs`` (None, a dict or the zoo's string form) as nngym's agent arguments; ``arguments`` are
    the call's others (A2C's ``use_rms_prop`` and ``rms_prop_eps`` set the optimiser ``optimizer_kwargs`` must be)."""
    where = f"{algo}(policy_kwargs=...)"
    if value is None:
        return {}
    if isinstance(value, str):
        value = parse_policy_kwargs(value, where)
    if not isinstance(value, dict):
        raise ValueError(f"{where}: policy_kwargs must be a dict (or None), got {type(value).__name__} {value!r}")
    value = dict(value)
    if "activation_fn" in value:
        value["activation_fn"] = _activation_name(where, value["activation_fn"])
    key = "recurrent_ppo" if algo == "RecurrentPPO" else algo.lower()
    return _policy_kwargs(value, key, where, arguments)


def _activation_name(where: str, fn: Any) -> Any:
    """nngym's activation name for ``activation_fn``: torch's class (``torch.nn.ReLU``), the zoo's ``"nn.ReLU"``
    or nngym's ``"relu"``; anything else is returned for ``_policy_kwargs`` to refuse, naming what it takes."""
    if isinstance(fn, type) and fn.__module__.startswith("torch.nn"):
        fn = f"nn.{fn.__name__}"
    if isinstance(fn, str) and fn in ACTIVATION_NAMES:
        return ACTIVATION_NAMES[fn]
    return fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))


def check_device(where: str, device: Any) -> None:
    """SB3's ``device`` argument: "auto" or "cpu" (a ``torch.device("cpu")`` too) are taken; nngym computes with numpy
    on the CPU.

    Raises:
        ValueError: For any other device, naming ``where``.
    """
    if str(device) not in ("auto", "cpu"):
        raise ValueError(
            f"{where}: device={str(device)!r} is not supported: nngym computes with numpy on the CPU "
            "(device='auto' or 'cpu')"
        )


def check_save_arguments(algo: str, exclude: Any, include: Any) -> None:
    """SB3's ``save(path, exclude, include)``: lists of attributes its pickle leaves out or adds. An nngym model file
    holds the arrays and settings that load and resume the agent, not its Python attributes: only None or empty
    lists are taken.

    Raises:
        TypeError: For a bool where SB3 has ``exclude`` (nngym's old ``save(path, include_replay_buffer)`` order).
        ValueError: For an ``exclude`` or ``include`` that names something.
    """
    if isinstance(exclude, bool):
        raise TypeError(
            f"{algo}.save(path, exclude, include): exclude is SB3's list of attributes, got {exclude!r}; for the "
            "replay buffer pass include_replay_buffer=True"
        )
    for name, given in (("exclude", exclude), ("include", include)):
        if given is not None and list(given):
            raise ValueError(
                f"{algo}.save: {name}={list(given)!r} is not supported: an nngym model file holds the arrays and "
                "settings to load and resume the agent, not its Python attributes"
            )
