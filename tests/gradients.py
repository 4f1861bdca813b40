"""The one rule every numerical gradient check in the suite uses, and the float64 checks it relies on.

Everything is float64: parameters, gradients, inputs, states. Backprop's gradient g and the central
differences n (step h = 1e-6) must agree to

    max |g − n| ≤ GRAD_RTOL · max |g|  +  FD_ROUNDING · |L| / h

The first term is relative to the gradient's own scale (its largest entry, not entry by entry), so
tiny entries cannot decide the check. The second is the rounding of the two loss evaluations
(each off by a few ε·|L|, whatever BLAS kernel computed the products): it matters only where a
tensor's gradient is small next to the loss (an actor's weights when the loss is mostly the value
loss). A wrong backward pass (a missing term, a transposed weight) is off by O(max |g|).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nngym.gradcheck import relative_error

#: max |backprop − central differences| / max |gradient| of every gradient check
GRAD_RTOL = 1e-6
#: the central differences' rounding per unit of |L| / h: ten float64 ε
FD_ROUNDING = 10 * np.finfo(np.float64).eps


def assert_gradient_matches(
    analytic: np.ndarray,
    numeric: np.ndarray,
    name: str = "",
    scale: float | None = None,
    loss_scale: float = 0.0,
    eps: float = 1e-6,
) -> None:
    """Asserts the rule of the module docstring.

    Args:
        analytic: Backprop's gradient, float64 (the whole tensor or some of its entries).
        numeric: Central differences of the same entries.
        name: What is checked, for the message.
        scale: max |g| of the whole tensor when only some entries are given.
        loss_scale: |L| at the point, for the rounding term (0 for the pure relative rule).
        eps: The central differences' step h.
    """
    assert np.asarray(analytic).dtype == np.float64, f"{name}: the analytic gradient is {np.asarray(analytic).dtype}"
    if scale is None:
        scale = max(float(np.abs(analytic).max(initial=0.0)), float(np.abs(numeric).max(initial=0.0)))
    allowed = GRAD_RTOL + FD_ROUNDING * abs(loss_scale) / eps / max(scale, 1e-12)
    err = relative_error(analytic, numeric, scale)
    assert err < allowed, f"{name}: relative error {err:.3g} >= {allowed:.3g} (gradient scale {scale:.3g})"


def assert_gradcheck_passes(errors: Mapping[str, float]) -> None:
    """Asserts every relative error ``nngym.gradcheck.gradcheck`` returned is below ``GRAD_RTOL``."""
    bad = {k: v for k, v in errors.items() if not v < GRAD_RTOL}
    assert not bad, f"relative errors >= {GRAD_RTOL:g}: {bad}"


def assert_all_float64(named_params: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Every parameter and gradient is float64 (nothing left in float32 to round the check)."""
    for name, p, g in named_params:
        assert p.dtype == np.float64 and g.dtype == np.float64, f"{name}: {p.dtype} / {g.dtype}"
