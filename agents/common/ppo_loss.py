"""PPO's clipped surrogate loss and its partial derivatives, for one agent or for K members at once."""

from __future__ import annotations

import numpy as np


def ppo_loss(
    log_prob: np.ndarray,
    entropy: np.ndarray,
    values: np.ndarray,
    old_log_prob: np.ndarray,
    advantages: np.ndarray,
    returns: np.ndarray,
    old_values: np.ndarray,
    *,
    clip: float,
    clip_range_vf: float | None,
    ent_coef: float,
    vf_coef: float,
) -> tuple[dict, np.ndarray, float, np.ndarray]:
    """PPO's loss ``pg_loss + ent_coef · entropy_loss + vf_coef · v_loss`` and its partial derivatives.

    pg_loss = −mean(min(r A, clip(r, 1 − ε, 1 + ε) A)), r = exp(log π − log π_old);
    v_loss = mean((R − V_pred)²), V_pred = V or V_old + clip(V − V_old, ±ε_vf); entropy_loss = −mean(H).
    Means are over the last axis: one agent's minibatch is (n,); a population's K minibatches are (K, n),
    each row a member's loss on its own samples.

    Args:
        log_prob, entropy, values: log π(a|s), H, V(s) under the current networks, (n,) or (K, n).
        old_log_prob, advantages, returns, old_values: From the rollout (advantages already normalised), same shape.
        clip: ε.
        clip_range_vf: ε_vf or None.
        ent_coef, vf_coef: Coefficients.

    Returns:
        (terms: pg_loss, v_loss, entropy_loss, approx_kl, clip_frac, loss — floats for (n,) inputs, (K,) arrays
        for (K, n); ∂loss/∂log π, shaped as the inputs; ∂loss/∂H_i (a scalar, the same for every i);
        ∂loss/∂V, shaped as the inputs).
    """
    n = log_prob.shape[-1]

    def mean(x: np.ndarray) -> np.ndarray:  # x.mean(axis=-1), bit for bit, without its Python wrapper
        return np.add.reduce(x, axis=-1, dtype=np.float64 if x.dtype == np.bool_ else None) / n

    log_ratio = log_prob - old_log_prob
    ratio = np.exp(log_ratio)
    clipped_ratio = np.minimum(np.maximum(ratio, 1.0 - clip), 1.0 + clip)  # clip(r, 1 − ε, 1 + ε)
    surr1, surr2 = advantages * ratio, advantages * clipped_ratio
    pg_loss = -mean(np.minimum(surr1, surr2))
    if clip_range_vf is None:
        v_pred, v_mask = values, 1.0
    else:
        dv = values - old_values
        v_pred = old_values + np.clip(dv, -clip_range_vf, clip_range_vf)
        v_mask = np.abs(dv) < clip_range_vf
    v_loss = mean(np.square(returns - v_pred))
    entropy_loss = -mean(entropy)
    terms = {
        "pg_loss": pg_loss,
        "v_loss": v_loss,
        "entropy_loss": entropy_loss,
        "approx_kl": mean((ratio - 1.0) - log_ratio),
        "clip_frac": mean(np.abs(ratio - 1.0) > clip),
    }
    if log_prob.ndim == 1:
        terms = {k: float(v) for k, v in terms.items()}
    terms["loss"] = terms["pg_loss"] + ent_coef * terms["entropy_loss"] + vf_coef * terms["v_loss"]
    d_log_prob = np.where(surr1 <= surr2, -advantages * ratio / n, 0.0)  # the clipped branch has zero gradient
    d_values = vf_coef * 2.0 * (v_pred - returns) * v_mask / n
    return terms, d_log_prob, -ent_coef / n, d_values
