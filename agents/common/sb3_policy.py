"""SB3's ``BasePolicy`` methods on an nngym agent's ``policy``: what SB3's users call on ``model.policy``.

nngym's policies hold the networks; the agent holds what turns raw observations into actions (the encoding of
``agents.common.spaces``, the normalisation statistics, the generator, the model file's names of the parameters).
So these methods ask the agent the policy belongs to (``BaseAgent._attach_policy`` tells the policy), and a policy
made on its own has ``set_training_mode`` only. One mixin for the actor-critic (PPO, A2C, REINFORCE), the recurrent
actor-critic (RecurrentPPO) and DQN's ``DQNPolicy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SB3PolicyMethods:
    """``predict``, ``set_training_mode``, ``state_dict``, ``load_state_dict``, ``parameters`` and ``save``, as SB3's
    ``BasePolicy`` (and torch's ``Module``) name them, over the agent's own arithmetic.

    Attributes:
        training: SB3's ``policy.training``: what ``set_training_mode`` was last given.
    """

    #: The agent the policy belongs to (``BaseAgent._attach_policy``); None for a policy made on its own.
    _agent: Any = None
    training: bool = True

    def _owner(self, what: str) -> Any:
        """The agent of the policy, for its SB3 method ``what``.

        Raises:
            RuntimeError: For a policy made on its own, not by an agent.
        """
        if self._agent is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what} needs the agent the policy belongs to (its observation encoding, "
                "normalisation, generator and parameter names): call it on agent.policy"
            )
        return self._agent

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | bool | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``policy.predict``: the agent's ``predict``, so the same actions from the same observations, as
        SB3's ``model.predict`` is its policy's.

        The observations are encoded and, under ``normalize_obs``, normalised with the frozen statistics; actions
        are sampled from the agent's generator (``agent.rng``, which they advance) unless ``deterministic``; Box
        actions are clipped to the space's bounds in its dtype, Discrete ones shifted by its ``start``.

        Args:
            observation: One raw observation (*obs_shape) or a batch (N, *obs_shape) (ints (N,) for Discrete, a
                dict / tuple of such batches for Dict / Tuple spaces).
            state: None for the memoryless agents (returned unchanged); RecurrentPPO's LSTM state (h, c), each of
                sb3-contrib's shape (n_lstm_layers, N, lstm_hidden_size), of the previous call.
            episode_start: (N,) (or a bool for one observation); for RecurrentPPO true resets the state first.
            deterministic: The most likely action instead of a sample.

        Returns:
            (one action, shape () / (D,), or N of them, (N,) / (N, D); the next state, or ``state``).

        Raises:
            ValueError: For observations (or a state) of the wrong shape, with the agent's ``predict``'s message.
            RuntimeError: For a policy made on its own, not by an agent.
        """
        return self._owner("predict").predict(observation, state, episode_start, deterministic)

    def set_training_mode(self, mode: bool) -> None:
        """SB3's: records ``mode`` in ``training``, and changes no output: nngym's layers take the mode per call,
        the updates running the networks in training mode (dropout on) and ``predict`` and the rollouts in
        inference mode, as SB3 switches its policy's mode for each.

        Raises:
            ValueError: For anything but a bool (as torch's ``Module.train``).
        """
        if not isinstance(mode, bool | np.bool_):
            raise ValueError(f"{type(self).__name__}.set_training_mode takes a bool, got {mode!r}")
        self.training = bool(mode)

    def state_dict(self) -> dict[str, np.ndarray]:
        """SB3's (torch's): copies of the policy's parameters, by the model file's names: ``net/<network>/<name>``
        for each network (``net/pi/0.W`` (64, obs_dim), ``net/pi/0.b`` (64,), ...; with a trunk ``net/trunk/...``
        first; RecurrentPPO's ``net/pi_lstm/...``; DQN's ``net/q/...`` and ``net/q_target/...``, SB3's ``q_net.*``
        and ``q_net_target.*``), then the policy's other arrays (``log_std``: (D,), (0,) for discrete actions,
        (J, D) under gSDE). ``agent.get_parameters()`` has the same arrays, ``net/pi/0.W`` as
        ``["net/pi"]["0.W"]`` and ``log_std`` as ``["extra"]["log_std"]``. The normalisation statistics are not
        parameters (``agent.get_vec_normalize_env()`` has them).

        Raises:
            RuntimeError: For a policy made on its own, not by an agent.
        """
        return self._owner("state_dict")._policy_state_dict()

    def load_state_dict(self, state_dict: dict[str, np.ndarray], strict: bool = True) -> None:
        """SB3's (torch's): writes the arrays of ``state_dict()``'s names into the parameters, in place (each cast
        to its parameter's dtype); nothing is written unless all fit.

        Args:
            state_dict: Name -> array, e.g. another agent's ``policy.state_dict()`` (same architecture).
            strict: Every name must be given; False loads the names given and keeps the other parameters.

        Raises:
            ValueError: For unknown names or (``strict``) missing ones, naming the expected and the given names; an
                array of another shape, naming both shapes; or one that is not numeric.
            RuntimeError: For a policy made on its own, not by an agent.
        """
        what = f"{getattr(self._agent, 'algo', type(self).__name__)}.policy.load_state_dict"
        self._owner("load_state_dict")._load_policy_state_dict(state_dict, strict, what)

    def save(self, path: Any) -> Any:
        """SB3's ``policy.save(path)``: nngym's policies live in their agent's model file (npz + JSON), which holds
        what turns observations into actions too (encoding, normalisation): this saves the agent's
        (``agent.save``), and ``ALGO.load(path).policy`` is the policy again, with ``predict``.

        Returns:
            The path written (``.npz`` appended if missing), or the file object.

        Raises:
            RuntimeError: For a policy made on its own, not by an agent.
        """
        return self._owner("save").save(path)

    def parameters(self) -> list[np.ndarray]:
        """SB3's (torch's, which yields torch Parameters): the parameters themselves, numpy arrays in
        ``state_dict()``'s order, not copies: writing into one changes the policy (``sum(p.size for p in
        policy.parameters())`` counts them).

        Raises:
            RuntimeError: For a policy made on its own, not by an agent.
        """
        return list(self._owner("parameters")._policy_arrays().values())
