"""The robust plan: the plan that maximises the *expected* objective over the draws.

A sample-average problem built as a scenario the engine solves as it is:

* the value of cell k at spend x, averaged over the draws d, is
  ``Σ_d L_d,s · f_k(x; a_d, b_d) / D`` (L the customer lifetime value of the cell's
  segment s, linear in the customers);
* so cell k becomes a ``points`` curve ``g_k(x) = mean_d(L_d,s · f_k(x; a_d, b_d)) / L̄_s``
  and segment s gets the margin that gives the lifetime value ``L̄_s = mean_d L_d,s`` at its
  retention rate: the scenario's objective is then the average objective over the draws.
  An average of concave curves is concave, so the LP stays an LP.
* ``g`` is sampled on the breakpoints of the base curve's chord bands (at the scenario's
  ``pwl_tolerance``), resampled to the same number of knots in every cell (the most any
  cell needs, so each cell's knots are at least as fine as its bands); cells whose ``a``
  and ``b`` are certain keep their curve.

Caps (prospects, customers at risk) and customer constraints then apply to ``g``, the
value-weighted mean of the drawn customers (the plain mean when values are certain or
independent of the curves); the at-risk cap uses the base retention.
"""

from __future__ import annotations

import numpy as np

from planner.analysis.risk_draws import Draws, Float
from planner.analysis.risk_eval import family_customers, lifetimes
from planner.core.chords import chord_bands
from planner.core.scenario_arrays import Index
from planner.scenario.models import CurvePoint, Scenario
from planner.scenario.ranges import RANGES

#: knots per uncertain cell: the most breakpoints any cell's chord bands have, within these
MIN_KNOTS, MAX_KNOTS = 16, 96


def _knots(ix: Index, cells: np.ndarray) -> Float:
    """(cells, M) increasing positive spends: the base chord breakpoints of each cell,
    resampled to the same count M (the largest count, within the bounds)."""
    cap = np.zeros(ix.K)
    cap[cells] = ix.spend_cap()[cells]
    bands = chord_bands(ix.curves, cap, ix.scenario.settings.pwl_tolerance)
    bc, bz = bands.breakpoints()
    counts = np.bincount(bc, minlength=ix.K)[cells]
    m = int(np.clip(counts.max(initial=1), MIN_KNOTS, MAX_KNOTS))
    start = np.r_[0, np.cumsum(np.bincount(bc, minlength=ix.K))][cells]
    # breakpoint "index" of knot j of a cell with n breakpoints: j / (m - 1) · (n - 1)
    pos = np.linspace(0.0, 1.0, m)[None, :] * np.maximum(counts - 1, 0)[:, None]
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(counts - 1, 0)[:, None])
    frac = pos - lo
    z = bz[start[:, None] + lo] * (1 - frac) + bz[start[:, None] + hi] * frac
    z[:, 0] = 0.0
    z[:, -1] = cap[cells]
    return np.maximum.accumulate(z, axis=1)[:, 1:]  # the origin is implicit


def robust_scenario(ix: Index, draws: Draws) -> Scenario:
    """The sample-average scenario of ``ix.scenario`` over ``draws`` (module docstring).

    Ranges and what-if scenarios are dropped; everything else (settings, budgets, bounds,
    constraints, certain curves) is kept, so the engine finds the robust plan as it finds
    any plan.
    """
    sc = ix.scenario
    cs = ix.curves
    varies = draws.groups[0][1] | draws.groups[1][1]
    cells = np.flatnonzero(varies & (ix.spend_cap() > 0))
    life_sum = np.zeros(ix.S)
    for _, blk in draws.blocks():
        life_sum += lifetimes(ix, blk.margin, blk.retention).sum(axis=0)
    mean_life = life_sum / draws.n
    g = np.zeros((len(cells), 0))
    if len(cells):
        z = _knots(ix, cells)
        seg = ix.cell_seg[cells]
        total = np.zeros(z.shape)
        for _, blk in draws.blocks():  # blocks of draws
            life = lifetimes(ix, blk.margin, blk.retention)[:, seg]  # (C, cells)
            w = np.where(mean_life[seg] > 0, life / np.where(mean_life[seg] > 0, mean_life[seg], 1.0), 1.0)
            for kd in np.unique(cs.kind[cells]):
                m = cs.kind[cells] == kd
                k = cells[m]
                f = family_customers(int(kd), blk.a[:, k, None], blk.b[:, k, None], cs.s[k, None], z[None, m])
                total[m] += np.einsum("cj,cjm->jm", w[:, m], f)
        g = total / draws.n
        concave = cs.concave()[cells]
        if concave.any():  # sampling noise must not make an average of concave curves look S-shaped
            slope = np.diff(np.c_[np.zeros(len(cells)), g], axis=1) / np.diff(np.c_[np.zeros(len(cells)), z], axis=1)
            slope[concave] = np.minimum.accumulate(slope[concave], axis=1)
            g[concave] = np.cumsum(slope * np.diff(np.c_[np.zeros(len(cells)), z], axis=1), axis=1)[concave]
    no_range = {c: None for _, _, lo, hi in RANGES for c in (lo, hi)}
    curves = [c.model_copy(update={k: v for k, v in no_range.items() if k in type(c).model_fields}) for c in sc.curves]
    points = list(sc.curve_points)
    for i, k in enumerate(cells):
        c = sc.curves[k]
        curves[k] = c.model_copy(update={"curve": "points", "a": None, "b": None, "shape": None,
                                         "a_low": None, "a_high": None, "b_low": None, "b_high": None})
        # finite spends > 0 and customers >= 0 by construction: no validation per knot
        points += [CurvePoint.model_construct(segment=c.segment, channel=c.channel, program=c.program,
                                              spend=float(x), customers=float(y))
                   for x, y in zip(z[i], g[i], strict=True)]
    base_life = ix.lifetime
    segments = []
    for s, sg in enumerate(sc.segments):
        ratio = mean_life[s] / base_life[s] if base_life[s] > 0 else 1.0
        segments.append(sg.model_copy(update={"margin_per_period": sg.margin_per_period * float(ratio),
                                              "margin_low": None, "margin_high": None,
                                              "retention_low": None, "retention_high": None}))
    name = f"{sc.name} (robust, {draws.n} draws)"
    return Scenario(settings=sc.settings.model_copy(update={"scenario_name": name}), periods=sc.periods,
                    segments=segments, channels=sc.channels, curves=curves, curve_points=points,
                    seasonality=sc.seasonality, constraints=sc.constraints)

