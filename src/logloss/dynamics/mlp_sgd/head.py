"""The output layer's part of an SGD step, shared by the two CPU kernels (the monitored
:mod:`.tracked` and the unmonitored :mod:`.sparse`)."""

from __future__ import annotations

import numba


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _head_step(a, res, w2, b1, b2, eta, delta):
    """The output layer's part of one step, in place, shared by the CPU kernels.

    From the minibatch's hidden pre-activations ``a`` (B × ≥ h, b₁ included) and scaled
    residuals ``res`` (r_b = (f_b − y_b)/B): δ_bj = w₂ⱼ r_b [a_bj > 0] into ``delta``
    (B × ≥ h), with the w₂ before the step, then w₂ −= η Σ_b r_b relu(a_b),
    b₁ −= η Σ_b δ_b and b₂ −= η Σ_b r_b (``b2`` has shape (1,)).
    """
    B = res.shape[0]
    h = w2.shape[0]
    zero = b2[0] * 0
    gb2 = zero
    for b in range(B):
        gb2 += res[b]
    for j in range(h):
        gw = zero
        gb = zero
        for b in range(B):
            gw += res[b] * max(a[b, j], zero)
            d = w2[j] * res[b] if a[b, j] > 0 else zero
            delta[b, j] = d
            gb += d
        w2[j] -= eta * gw
        b1[j] -= eta * gb
    b2[0] -= eta * gb2
