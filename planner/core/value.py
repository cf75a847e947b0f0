"""Customer value: discounting and lifetime value (docs/design.md §2), as pure numpy functions."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def period_rate(annual_rate: float, periods_per_year: int) -> float:
    """Per-period discount rate ``δ = (1 + i)^(1/ppy) − 1``.

    >>> round(period_rate(0.21, 2), 10)
    0.1
    """
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


def discount_factors(n_periods: int, delta: float) -> NDArray[np.float64]:
    """Start-of-period discount factors ``d_t = (1 + δ)^(−t)`` for t = 0 … n_periods.

    One more than ``n_periods`` is returned so that ``d[t + 1]`` (retention) always exists.

    >>> discount_factors(2, 0.1).round(4).tolist()
    [1.0, 0.9091, 0.8264]
    """
    return (1.0 + delta) ** -np.arange(n_periods + 1, dtype=float)


def lifetime_value(
    margin: ArrayLike, retention: ArrayLike, delta: float, horizon: float | None = None
) -> NDArray[np.float64]:
    """Discounted margin of a customer from the start of their activity.

    ``L = m (1 − q^H) / (1 − q)`` with ``q = r / (1 + δ)``; ``m / (1 − q)`` when the horizon
    ``H`` (in periods) is None.

    >>> lifetime_value(100.0, 0.5, 0.0).item()
    200.0
    >>> lifetime_value(100.0, 0.5, 0.0, horizon=2).item()
    150.0
    """
    m = np.asarray(margin, dtype=float)
    q = np.asarray(retention, dtype=float) / (1.0 + delta)
    if horizon is None:
        return m / (1.0 - q)
    return m * (1.0 - q**horizon) / (1.0 - q)


def acquisition_value(
    lifetime: ArrayLike, referral: ArrayLike, discount: ArrayLike
) -> NDArray[np.float64]:
    """Value of one customer acquired in each period: ``VA[s, t] = d_t · L_s / (1 − ρ_s)``.

    ``lifetime`` and ``referral`` are per segment, ``discount`` per period; the result has
    shape (segments, periods).
    """
    L = np.asarray(lifetime, dtype=float)[:, None]
    rho = np.asarray(referral, dtype=float)[:, None]
    return np.asarray(discount, dtype=float)[None, :] * L / (1.0 - rho)


def retention_value(lifetime: ArrayLike, discount_next: ArrayLike) -> NDArray[np.float64]:
    """Value of one customer saved in each period: ``VR[s, t] = d_{t+1} · L_s``."""
    return np.asarray(discount_next, dtype=float)[None, :] * np.asarray(lifetime, dtype=float)[:, None]


def survival_matrix(retention: ArrayLike, n_periods: int) -> NDArray[np.float64]:
    """``r_s^(t − t')`` for t' < t, else 0: shape (segments, t, t')."""
    r = np.asarray(retention, dtype=float)[:, None, None]
    t = np.arange(n_periods)
    lag = t[:, None] - t[None, :]
    out = np.where(lag > 0, r ** np.maximum(lag, 0), 0.0)
    return out


def active_customers(
    initial: ArrayLike,
    retention: ArrayLike,
    acquired: ArrayLike,
    retained: ArrayLike,
) -> NDArray[np.float64]:
    """Active customers at the start of each period (docs/design.md §2).

    ``N[s,t] = N0 r^t + Σ_{t'<t} A[s,t'] r^(t−t') + Σ_{t'<t} R[s,t'] r^(t−t'−1)``.

    Parameters
    ----------
    initial, retention : array, shape (S,)
    acquired, retained : array, shape (S, P)
    """
    A = np.asarray(acquired, dtype=float)
    R = np.asarray(retained, dtype=float)
    r = np.asarray(retention, dtype=float)
    n_periods = A.shape[1]
    surv = survival_matrix(r, n_periods)  # r^(t-t') for t' < t
    base = np.asarray(initial, dtype=float)[:, None] * r[:, None] ** np.arange(n_periods)
    from_acq = np.einsum("stu,su->st", surv, A)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv_r = np.where(surv > 0, surv / np.where(r > 0, r, 1.0)[:, None, None], 0.0)
    # r^(t-t'-1): for r == 0 only the immediately previous period survives (0^0 = 1)
    lag1 = np.eye(n_periods, k=-1)[None, :, :]
    surv_r = np.where((r == 0)[:, None, None], lag1, surv_r)
    from_ret = np.einsum("stu,su->st", surv_r, R)
    return base + from_acq + from_ret
