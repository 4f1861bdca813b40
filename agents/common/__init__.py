"""Machinery the algorithms share, one concept per module.

- ``base``: ``BaseAgent`` (seeding, vector envs, episode statistics, logging, callbacks, npz + JSON files)
- ``config``: range checks of the algorithms' ``Config`` dataclasses
- ``hyperparams``: the zoo-layout hyperparameter files
- ``policies``, ``recurrent_policy``, ``cnn``, ``dbn_policy``: the networks agents act and learn with
- ``spaces``: the observation encodings (one-hots, flattening, Dict / Tuple) and env actions of every space
- ``distributions``: categorical, multi-categorical, Bernoulli and diagonal Gaussian action distributions and
  their gradients
- ``buffers``, ``recurrent_buffer``, ``rollout``: rollout and replay storage, collecting rollouts, GAE
- ``vec_env``, ``normalize``: the SAME_STEP vector env, running observation statistics
- ``callbacks``, ``evaluation``, ``logger``: hooks into ``learn``, whole-episode evaluation, SB3-format logs

Nothing here imports an algorithm module, the SB3 adapter or the experiment layer.
"""
