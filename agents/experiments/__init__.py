"""The experiment layer behind ``scripts/``: what a command line runs, as importable functions.

- ``train``: the train runner (``scripts/train.py``, ``python -m agents.experiments.train``)
- ``compare``: nngym vs SB3 on the same env, hyperparameters and seeds; tables and figures
- ``plot``, ``plotting``: reward curves from monitor files of any mix of nngym and SB3 runs
- ``sweep_file``, ``sweep``, ``sweep_ray``: sweeps over implementations × algorithms × envs × seeds
  × hyperparameter grids, locally or as Ray tasks
- ``tune``: Ray Tune searches with ASHA

It may import everything below it (``agents``, ``agents.baselines``, ``envs``, ``nngym``); nothing
below imports it.
"""
