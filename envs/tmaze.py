"""Bakker's T-maze (Bakker 2002, "Reinforcement Learning with Long Short-Term Memory", NIPS 14)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.actions import check_action
from envs.checks import is_whole

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3

#: Bakker's three observation bits: the two cues at the start, the corridor, the junction.
OBS_CUE_NORTH = (0.0, 1.0, 1.0)
OBS_CUE_SOUTH = (1.0, 1.0, 0.0)
OBS_CORRIDOR = (1.0, 0.0, 1.0)
OBS_JUNCTION = (0.0, 1.0, 0.0)

GOAL_REWARD = 4.0
PENALTY = -0.1


class TMazeEnv(gym.Env[np.ndarray, int]):
    """Remember a cue seen at the start to turn the right way at the end of a corridor.

    ## Description

    The agent starts at the west end (position 0) of a corridor; the junction of the T is at
    position `corridor_length`. Only at the start does the observation show a cue saying whether
    the goal is in the north or the south arm; in the corridor every cell looks the same, and at
    the junction the agent must turn toward the goal. A memoryless policy can only guess (its
    best return is 0.5 * 4 + 0.5 * -0.1 = 1.95); a policy with memory can reach 4.

    ## Action Space

    `Discrete(4)`: 0 = north, 1 = east, 2 = south, 3 = west.

    ## Observation Space

    Bakker's three bits, `Box(0, 1, (3,), float32)`:

    | Where                    | Observation       |
    |--------------------------|-------------------|
    | start, goal in the north | `[0, 1, 1]`       |
    | start, goal in the south | `[1, 1, 0]`       |
    | corridor                 | `[1, 0, 1]`       |
    | junction                 | `[0, 1, 0]`       |

    ## Rewards

    +4 for turning toward the goal at the junction, -0.1 for turning the other way, -0.1 for a
    move that leaves the agent where it is (into a wall: west at the start, north or south in the
    corridor, east at the junction), 0 for every other move.

    | Policy                 | Expected return (default length 10, 100 steps)                  |
    |------------------------|-----------------------------------------------------------------|
    | optimal (with memory)  | 4.0, in `corridor_length + 1` steps                             |
    | best memoryless        | 1.95                                                            |
    | uniform random         | -4.641 = `random_policy_return(10, 100)`                        |

    The random policy's value is exact, from propagating the walk's distribution step by step
    (`random_policy_return`); it is negative because half its corridor moves bump into a wall.

    ## Starting State

    Position 0; the goal arm (north or south) drawn with probability 1/2 from `self.np_random`.

    ## Episode End

    1. Termination: the agent turns north or south at the junction (either arm).
    2. Truncation: after 100 steps (`max_episode_steps` at registration). The optimal policy needs
       `corridor_length + 1` steps; for corridors longer than 98 pass a larger
       `max_episode_steps` to `gym.make`.

    `info` holds `"position"` and `"goal"` (`"north"` or `"south"`).

    ## Arguments

    | Parameter         | Type    | Default | Description                          |
    |-------------------|---------|---------|--------------------------------------|
    | `corridor_length` | **int** | `10`    | steps from the start to the junction, >= 1 |

    ```python
    >>> import gymnasium as gym, envs
    >>> env = gym.make("nngym/TMaze-v0", corridor_length=20)
    >>> env.reset(seed=0)[0].tolist() in ([0.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    True

    ```

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, corridor_length: int = 10, render_mode: str | None = None):
        if not is_whole(corridor_length) or corridor_length < 1:
            raise ValueError(f"corridor_length must be an integer >= 1, got {corridor_length!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.corridor_length = int(corridor_length)
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)

        self._position = -1  # set by reset
        self._goal_north = True

    def _get_obs(self) -> np.ndarray:
        if self._position == 0:
            bits = OBS_CUE_NORTH if self._goal_north else OBS_CUE_SOUTH
        elif self._position == self.corridor_length:
            bits = OBS_JUNCTION
        else:
            bits = OBS_CORRIDOR
        return np.array(bits, dtype=np.float32)

    def _get_info(self) -> dict[str, Any]:
        return {"position": self._position, "goal": "north" if self._goal_north else "south"}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._position = 0
        self._goal_north = bool(self.np_random.integers(2))
        return self._get_obs(), self._get_info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = check_action(self.action_space, action, "0 north, 1 east, 2 south, 3 west")
        if self._position < 0:
            raise RuntimeError("call reset() before step()")
        at_junction = self._position == self.corridor_length
        if at_junction and action in (NORTH, SOUTH):
            reward = GOAL_REWARD if (action == NORTH) == self._goal_north else PENALTY
            return self._get_obs(), reward, True, False, self._get_info()
        if action == EAST and not at_junction:
            self._position += 1
            reward = 0.0
        elif action == WEST and self._position > 0:
            self._position -= 1
            reward = 0.0
        else:  # into a wall
            reward = PENALTY
        return self._get_obs(), reward, False, False, self._get_info()

    def render(self) -> np.ndarray | None:
        """The maze from above, 24 pixels per cell: walls black, floor white, goal arm green,
        other arm grey, agent red, start cell tinted by the cue; (3 * 24, (corridor_length + 1) * 24, 3) uint8."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gym.make")
            return None
        if self._position < 0:
            raise RuntimeError("call reset() before render()")
        cell, L = 24, self.corridor_length
        grid = np.zeros((3, L + 1, 3), dtype=np.uint8)  # one RGB colour per cell; walls stay black
        grid[1, :] = 255
        goal_row, other_row = (0, 2) if self._goal_north else (2, 0)
        grid[goal_row, L] = (60, 180, 60)
        grid[other_row, L] = (170, 170, 170)
        grid[1, 0] = (200, 230, 200)  # the cue cell
        rgb = grid.repeat(cell, axis=0).repeat(cell, axis=1)
        r, c = cell, self._position * cell
        rgb[r + 5 : r + cell - 5, c + 5 : c + cell - 5] = (220, 40, 40)
        return rgb


def random_policy_return(corridor_length: int, max_steps: int) -> float:
    """Expected return of the uniform random policy, exactly, by propagating the walk's distribution.

    The cue does not matter to a random policy, so the state is the position alone. At each step
    the probability mass ``p`` over positions 0..L collects the expected reward of a uniform action
    and moves to the next positions; mass that turns at the junction leaves the walk.

    Args:
        corridor_length: L, as in `TMazeEnv`.
        max_steps: Truncation horizon (the registered `max_episode_steps`).

    Returns:
        The expected undiscounted return.
    """
    L = int(corridor_length)
    p = np.zeros(L + 1)
    p[0] = 1.0
    # expected reward of one uniform action at each position
    r = np.full(L + 1, 2 * PENALTY / 4)  # corridor: north and south are walls
    r[0] = 3 * PENALTY / 4  # start (L >= 1): north, south, west are walls
    r[L] = (GOAL_REWARD + PENALTY + PENALTY) / 4  # junction: one arm right, one wrong, east a wall
    total = 0.0
    for _ in range(max_steps):
        total += p @ r
        stay = p * np.r_[3 / 4, np.full(L - 1, 1 / 2), 1 / 4]  # walls (the junction's 2 turns leave)
        east = np.r_[0.0, p[:-1] / 4]  # from x-1 moving east
        west = np.r_[p[1:] / 4, 0.0]  # from x+1 moving west
        p = stay + east + west
    return float(total)
