"""The Stable-Baselines3 adapter: SB3's (and sb3-contrib's) agents behind nngym's interface.

``agents.baselines.sb3`` is the only module of the project that imports torch; it wraps SB3's PPO,
A2C, DQN and sb3-contrib's RecurrentPPO so that they take nngym's constructor arguments and
hyperparameter files and write the same ``monitor.csv``/``progress.csv``. Importing this package
itself needs neither torch nor SB3 (``ALGO_NAMES`` lists what the adapter offers)::

    from agents.baselines.sb3 import SB3PPO      # needs pip install -e ".[baselines]"

``agents.baselines.sb3_zip`` goes the other way without torch: ``load_sb3("model.zip")`` reads an SB3 model
file into nngym's PPO, A2C or DQN with numpy alone (also ``from agents.baselines import load_sb3``).
"""

from agents.baselines.sb3_zip import load_sb3

#: Algorithms the adapter offers, by the names ``scripts/train.py --algo`` takes.
ALGO_NAMES: tuple[str, ...] = ("a2c", "dqn", "ppo", "recurrent_ppo")

__all__ = ["ALGO_NAMES", "load_sb3"]
