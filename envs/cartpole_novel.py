"""CartPole-v1 without the velocities: a partially observable control task for recurrent agents."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from envs.actions import check_action

OBSERVED = [0, 2]  # cart position, pole angle (of x, x_dot, theta, theta_dot)


class CartPoleNoVelEnv(CartPoleEnv):
    """CartPole-v1 whose observation keeps positions only.

    ## Description

    Gymnasium's CartPole-v1 (Barto, Sutton & Anderson 1983) with the cart velocity and the pole's
    angular velocity removed from the observation, as rl-baselines3-zoo's `CartPoleNoVel-v1` (there
    by a wrapper that zeroes them; here they are dropped). The dynamics, rewards and episode ends
    are CartPole-v1's. An agent must infer the velocities from successive observations: a
    recurrent policy (RecurrentPPO with an LSTM reaches 500 within 100k steps in the zoo's
    benchmark) or frame stacking.

    ## Action Space

    `Discrete(2)`: 0 = push the cart left, 1 = push it right.

    ## Observation Space

    `Box(float32)` of shape `(2,)`:

    | Num | Observation    | Min                 | Max               |
    |-----|----------------|---------------------|-------------------|
    | 0   | Cart Position  | -4.8                | 4.8               |
    | 1   | Pole Angle     | ~ -0.418 rad (-24°) | ~ 0.418 rad (24°) |

    ## Rewards

    +1 per step, including the terminating one (CartPole-v1's).

    | Policy          | Expected return                                                         |
    |-----------------|-------------------------------------------------------------------------|
    | uniform random  | about 22.2 (empirical: 22.18, std 11.9, over 10,000 episodes)          |
    | optimal         | 500 (the time limit)                                                    |

    ## Starting State

    All four state variables uniform in (-0.05, 0.05), drawn from `self.np_random` by CartPole's
    `reset` (whose `options` `low` / `high` are honoured).

    ## Episode End

    1. Termination: pole angle beyond ±12° or cart position beyond ±2.4.
    2. Truncation: after 500 steps (`max_episode_steps` at registration; reward threshold 475).

    ## Arguments

    `sutton_barto_reward` as in CartPole-v1 (a bool).

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("nngym/CartPoleNoVel-v1", render_mode="rgb_array")
    >>> env.observation_space.shape
    (2,)

    ```

    `render_mode="rgb_array"` draws the cart and pole with numpy (600x400, like CartPole's view), so
    no pygame is needed; `"human"` is not offered.

    ## Version History
    * v1: Initial version, numbered after CartPole-v1.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, sutton_barto_reward: bool = False, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        if not isinstance(sutton_barto_reward, bool | np.bool_):
            raise ValueError(f"sutton_barto_reward must be a bool (True or False), got {sutton_barto_reward!r}")
        super().__init__(sutton_barto_reward=bool(sutton_barto_reward), render_mode=render_mode)
        full = self.observation_space
        self.observation_space = spaces.Box(full.low[OBSERVED], full.high[OBSERVED], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        return obs[OBSERVED], info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        action = check_action(self.action_space, action, "0 left, 1 right")
        obs, reward, terminated, truncated, info = super().step(action)
        return obs[OBSERVED], reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The cart (black) and pole (brown) on a white 600x400 field, as CartPole draws them; (400, 600, 3) uint8."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        W, H = self.screen_width, self.screen_height
        x, _, theta, _ = self.state
        scale = W / (2 * self.x_threshold)
        rgb = np.full((H, W, 3), 255, dtype=np.uint8)
        cart_x, cart_y = x * scale + W / 2, H - 100  # image rows grow downward
        rgb[cart_y, :] = 0  # track
        c0, c1 = int(round(cart_x - 25)), int(round(cart_x + 25))
        rgb[cart_y - 15 : cart_y + 15, max(c0, 0) : max(min(c1, W), 0)] = 0  # cart, 50 x 30, centred on cart_y
        # pole: every pixel within half its width (5) of the segment from the axle to the tip
        axle = np.array([cart_y - 30 / 4, cart_x])
        length = scale * 2 * self.length
        tip = axle + length * np.array([-np.cos(theta), np.sin(theta)])
        rows, cols = np.mgrid[0:H, 0:W]
        d = tip - axle
        t = np.clip(((rows - axle[0]) * d[0] + (cols - axle[1]) * d[1]) / (d @ d), 0.0, 1.0)
        dist2 = (rows - axle[0] - t * d[0]) ** 2 + (cols - axle[1] - t * d[1]) ** 2
        rgb[dist2 <= 25.0] = (202, 152, 101)
        rr, cc = int(round(axle[0])), int(round(axle[1]))
        rgb[max(rr - 4, 0) : rr + 5, max(cc - 4, 0) : max(cc + 5, 0)] = (129, 132, 203)  # axle
        return rgb
