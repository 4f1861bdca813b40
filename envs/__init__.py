"""nngym's Gymnasium environments; importing this package registers them under the namespace ``nngym``.

- ``digit_classify``: ``nngym/DigitClassify-v0``, label an MNIST digit (a contextual bandit by default)
- ``digit_glimpse``: ``nngym/DigitGlimpse-v0``, label a digit seen only through a few small glimpses
- ``tmaze``: ``nngym/TMaze-v0``, remember a cue shown at the start of a corridor
- ``catch``: ``nngym/Catch-v0``, catch a falling ball, from pixels
- ``cartpole_novel``: ``nngym/CartPoleNoVel-v1``, CartPole without the velocities (position and angle only)
- ``actions``, ``render``: action checks and numpy-only ``rgb_array`` drawing shared by the envs

The environments use ``nngym`` only for its MNIST loader, and nothing in ``agents``.

```python
>>> import gymnasium as gym
>>> env = gym.make("envs:nngym/DigitClassify-v0")  # imports envs, then makes the env

```

Entry points are strings, so no environment module (nor MNIST) is loaded until an env is made.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

#: (id, entry point, registration keywords)
ENVS = [
    ("nngym/DigitClassify-v0", "envs.digit_classify:DigitClassifyEnv", {}),
    ("nngym/DigitGlimpse-v0", "envs.digit_glimpse:DigitGlimpseEnv", {}),
    ("nngym/TMaze-v0", "envs.tmaze:TMazeEnv", {"max_episode_steps": 100}),
    ("nngym/Catch-v0", "envs.catch:CatchEnv", {}),
    (
        "nngym/CartPoleNoVel-v1",
        "envs.cartpole_novel:CartPoleNoVelEnv",
        {"max_episode_steps": 500, "reward_threshold": 475.0},
    ),
]

ENV_IDS = [env_id for env_id, _, _ in ENVS]

for _env_id, _entry_point, _kwargs in ENVS:
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, **_kwargs)

__all__ = ["ENV_IDS"]
