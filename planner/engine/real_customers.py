"""Customers a spend buys on the real response curves: ``σ·f(x)`` per cell-period, scaled
down where a prospects cap or an at-risk cap binds.

Prospects are a pool the plan draws down in time order: a period wins what its curves buy
while prospects remain, and the period that exhausts the pool shares the rest pro rata over
its channels (a customer is worth the same through any channel).  Scaling every period
pro rata instead counted customers in a late, less valuable period that the first period
had already won (a plan at the optimum was certified only to 0.12 %).  Saved customers
depend on the earlier periods' wins and saves, so the at-risk caps go period by period too.
"""

from __future__ import annotations

import numpy as np

from planner.core.rows import Float
from planner.core.scenario_arrays import ACQ, RET, Index
from planner.core.value import active_customers


def true_customers(ix: Index, spend: Float) -> tuple[Float, Float]:
    """(customers, scale) per cell-period; ``scale < 1`` where a cap binds."""
    raw = ix.customers(spend)
    scale = np.ones_like(raw)
    acq, ret = ix.kt_prog == ACQ, ix.kt_prog == RET
    f = prospect_scale(by_segment_period(ix, raw, acq), ix.prospects)
    scale[acq] = f[ix.kt_seg[acq], ix.kt_t[acq]]
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


def prospect_scale(won: Float, prospects: Float) -> Float:
    """Share of each period's wins ``won[..., s, t]`` that prospects remain for, drawing
    the pool ``prospects[..., s]`` down in time order (see the module doc)."""
    cum = np.cumsum(won, axis=-1)
    pool = np.asarray(prospects, dtype=float)[..., None]
    # inf − inf where there is no cap: the uncapped segments keep every win
    with np.errstate(divide="ignore", invalid="ignore"):
        kept = np.minimum(cum, pool) - np.minimum(cum - won, pool)
        return np.where(won > kept, np.maximum(kept, 0.0) / won, 1.0)


def marginal_value(ix: Index, scale: Float) -> Float:
    """Value per extra customer of each cell-period at a plan whose caps scale customers by
    ``scale``: nothing where a cap already scales them away; where a segment's prospects
    run dry in a later period, an extra win now displaces one there, so it is worth the
    difference (prospects go in time order)."""
    value = ix.kt_value.copy()
    acq = ix.kt_prog == ACQ
    dry = np.full(ix.S, ix.P)  # the period each segment's prospects run out in
    m = acq & (scale < 1 - 1e-9)
    np.minimum.at(dry, ix.kt_seg[m], ix.kt_t[m])
    seg = ix.kt_seg[acq]
    ends = dry[seg] < ix.P
    displaced = np.zeros(len(seg))
    displaced[ends] = ix.va[seg[ends], dry[seg[ends]]]
    value[acq] = value[acq] - displaced
    return np.where(scale < 1 - 1e-9, 0.0, value)


def by_segment_period(ix: Index, v: Float, mask: np.ndarray) -> Float:
    """``v`` summed per (segment, period) over the cell-periods ``mask``."""
    out = np.zeros(ix.S * ix.P)
    np.add.at(out, ix.kt_seg[mask] * ix.P + ix.kt_t[mask], v[mask])
    return out.reshape(ix.S, ix.P)
