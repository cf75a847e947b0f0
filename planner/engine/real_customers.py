"""Customers a spend buys on the real response curves: ``σ·f(x)`` per cell-period, scaled
down pro rata where a prospects cap or an at-risk cap binds (saved customers depend on the
earlier periods' wins and saves, so the at-risk caps go period by period)."""

from __future__ import annotations

import numpy as np

from planner.core.rows import Float
from planner.core.scenario_arrays import ACQ, RET, Index
from planner.core.value import active_customers


def true_customers(ix: Index, spend: Float) -> tuple[Float, Float]:
    """(customers, scale) per cell-period; ``scale < 1`` where a cap binds (pro rata)."""
    raw = ix.customers(spend)
    scale = np.ones_like(raw)
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    won = np.bincount(ix.kt_seg[acq], weights=raw[acq], minlength=ix.S)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(won > ix.prospects, ix.prospects / won, 1.0)
    scale[acq] = f[ix.kt_seg[acq]]
    cust = raw * scale
    r = ix.retention
    A = by_segment_period(ix, cust, acq)
    R = np.zeros((ix.S, ix.P))
    for t in range(ix.P):  # saved customers depend on earlier periods: sequential in t
        N = active_customers(ix.n0, r, A, R)[:, t]
        m = ret & (ix.kt_t == t)
        want = np.bincount(ix.kt_seg[m], weights=raw[m], minlength=ix.S)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(want > (1 - r) * N, (1 - r) * N / want, 1.0)
        scale[m] = f[ix.kt_seg[m]]
        cust[m] = raw[m] * scale[m]
        R[:, t] = np.bincount(ix.kt_seg[m], weights=cust[m], minlength=ix.S)
    return cust, scale


def by_segment_period(ix: Index, v: Float, mask: np.ndarray) -> Float:
    """``v`` summed per (segment, period) over the cell-periods ``mask``."""
    out = np.zeros(ix.S * ix.P)
    np.add.at(out, ix.kt_seg[mask] * ix.P + ix.kt_t[mask], v[mask])
    return out.reshape(ix.S, ix.P)
