"""A fixed plan evaluated on many draws of the inputs, vectorised over draws (docs/design.md §7).

The same arithmetic as :func:`planner.engine.real_customers.true_customers` and
:func:`~planner.engine.plan_assembly.headline`, with one more axis (the draw): customers
are ``σ·f(x)`` on the real curves with the drawn ``a`` and ``b``, scaled down where a
prospects cap (drawn down in time order) or the customers at risk (per period) bind; value
is the CLV of :mod:`planner.core.value` with the drawn margin and retention.  Draws are
processed in blocks (bounded memory); no loop runs per draw or per cell.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from planner.analysis.risk_draws import Draws, Float
from planner.core.curves import HILL, LINEAR, LOG, POWER, SATURATION, CurveSet, response
from planner.core.plan import Plan
from planner.core.scenario_arrays import ACQ, RET, Index
from planner.core.value import lifetime_value, period_rate
from planner.engine.real_customers import prospect_scale


def family_customers(kind: int, a: Float | float, b: Float, s: Float, x: Float) -> Float:
    """``f(x)`` of one parametric family, broadcasting ``a``, ``b``, ``s`` and ``x``
    (points curves are evaluated by :func:`planner.core.curves.response`).  Works in one
    buffer of the broadcast shape (the draws' arrays are large)."""
    with np.errstate(all="ignore"):
        # x · (1 / b): the reciprocal is taken on the smaller array, then one multiplication
        if kind == SATURATION:  # a (1 − e^(−x/b)) = −a · expm1(x · (−1/b))
            u = np.multiply(x, -1.0 / np.asarray(b))
            np.expm1(u, out=u)
            return np.multiply(u, np.negative(a), out=u)
        u = np.multiply(x, 1.0 / np.asarray(b))
        if kind == LINEAR:
            return np.minimum(a, u, out=u)
        if kind == HILL:
            np.power(u, s, out=u)
            w = u / (1.0 + u)
            return np.multiply(w, a, out=w)
        if kind == LOG:
            np.log1p(u, out=u)
        elif kind == POWER:
            np.power(u, s, out=u)
        else:
            raise ValueError(f"no closed form for curve kind {kind}")
        return np.multiply(u, a, out=u)


def lifetimes(ix: Index, margin: Float, retention: Float) -> Float:
    """``L`` per draw and segment (shape of ``margin``) for the scenario's discounting."""
    st = ix.scenario.settings
    delta = period_rate(st.annual_discount_rate, st.periods_per_year)
    horizon = None if st.clv_horizon_years is None else st.clv_horizon_years * st.periods_per_year
    return lifetime_value(margin, retention, delta, horizon)


def plan_spend(ix: Index, plan: Plan) -> Float:
    """Spend per cell-period (``kt = t·K + k``) of a plan, from its allocation."""
    al = plan.allocation
    spend = np.zeros(ix.K * ix.P)
    if not len(al):
        return spend
    cell = {c.cell: k for k, c in enumerate(ix.scenario.curves)}
    per = {p: t for t, p in enumerate(ix.periods)}
    k = np.array([cell[key] for key in zip(al["segment"], al["channel"], al["program"], strict=True)], dtype=np.int64)
    t = np.array([per[p] for p in al["period"]], dtype=np.int64)
    np.add.at(spend, t * ix.K + k, al["spend"].to_numpy(dtype=float))
    return spend


@dataclass
class Outcomes:
    """Figures of one fixed plan on every draw: arrays of shape (draws,) or (draws, segments)."""

    total_value: Float
    new_customers: Float
    retained_customers: Float
    segment_value: Float  # (draws, segments)
    total_spend: float
    discounted_spend: float
    acquisition_spend: float
    segment_discounted_spend: Float  # (segments,)

    @property
    def net_value(self) -> Float:
        return self.total_value - self.discounted_spend

    @property
    def roi(self) -> Float:
        return self.total_value / self.total_spend if self.total_spend > 1e-12 else np.full_like(self.total_value, np.nan)

    @property
    def blended_cac(self) -> Float:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.new_customers > 1e-12, self.acquisition_spend / self.new_customers, np.nan)

    @property
    def segment_net_value(self) -> Float:
        return self.segment_value - self.segment_discounted_spend

    def figures(self) -> dict[str, Float]:
        """The six figures of the Risk sheet, each an array over draws."""
        return {"total_value": self.total_value, "net_value": self.net_value,
                "new_customers": self.new_customers, "retained_customers": self.retained_customers,
                "roi": self.roi, "blended_cac": self.blended_cac}


class PlanOnDraws:
    """Evaluates one spend (per cell-period) on draws; the layout work is done once.

    Cells whose ``a`` and ``b`` are certain give the same customers on every draw: they are
    evaluated once.  The others are evaluated family by family as (period, cell, draw)
    arrays, cells sorted by (program, segment) so that each group sums with one
    ``reduceat`` over whole rows of draws.  Blocks of draws run on ``workers`` threads (numpy
    releases the GIL); each block's figures depend on its draws only, so the result does
    not depend on the number of workers.
    """

    def __init__(self, ix: Index, spend: Float, draws: Draws, workers: int | None = None):
        self.ix = ix
        K, P, S = ix.K, ix.P, ix.S
        cs: CurveSet = ix.curves
        a_unc, b_unc = draws.groups[0][1], draws.groups[1][1]
        varies = a_unc | b_unc
        x = spend.reshape(P, K)
        sigma = ix.kt_sigma.reshape(P, K)
        group = ix.cell_prog * S + ix.cell_seg
        fixed = np.flatnonzero(~varies)
        self.base = np.zeros((P, 2 * S))  # customers of the certain cells, every draw
        f0 = sigma[:, fixed] * response(cs, fixed[None, :], x[:, fixed])
        for t in range(P):
            self.base[t] = np.bincount(group[fixed], weights=f0[t], minlength=2 * S)
        self.families = []
        for kd in np.unique(cs.kind[varies]):
            cells = np.flatnonzero(varies & (cs.kind == kd))
            cells = cells[np.argsort(group[cells], kind="stable")]  # groups contiguous
            g = group[cells]
            starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            xf = x[:, cells, None]
            b_fixed = not b_unc[cells].any()
            s_f = cs.s[cells, None]
            shape = family_customers(int(kd), 1.0, cs.b[cells, None], s_f, xf) if b_fixed and kd != LINEAR else None
            self.families.append((int(kd), cells, starts, g[starts], sigma[:, cells, None], xf, s_f, shape))
        d = ix.discount
        rho = np.array([sg.referral_rate for sg in ix.scenario.segments], dtype=float)
        self.w_acq = d[:-1, None] / (1.0 - rho)[None, :]  # (P, S): value of a new customer per unit L
        self.w_ret = np.repeat(d[1:, None], S, axis=1)
        acq = ix.kt_prog == ACQ
        self.total_spend = float(spend.sum())
        self.disc_spend = float((ix.kt_discount * spend).sum())
        self.acq_spend = float(spend[acq].sum())
        self.seg_disc_spend = np.bincount(ix.kt_seg, weights=ix.kt_discount * spend, minlength=S)
        self.has_ret = bool((ix.kt_prog == RET).any())
        self.draws = draws
        self.workers = max(1, workers if workers is not None else min(2, os.cpu_count() or 1))

    def raw_customers(self, a: Float, b: Float) -> Float:
        """Customers per (draw, period, program·S + segment) before caps, for draws of
        ``a`` and ``b`` of shape (draws, K)."""
        C = a.shape[0]
        full = np.repeat(self.base[:, :, None], C, axis=2)  # (P, 2S, C): draws contiguous
        for kd, cells, starts, grp, sig, xf, s, shape in self.families:
            ac = a[:, cells].T  # (cells, C)
            if shape is not None:  # b certain: f = a · shape(x / b)
                f = ac * shape
            else:
                f = family_customers(kd, ac, b[:, cells].T, s, xf)
            f *= sig
            full[:, grp, :] += np.add.reduceat(f, starts, axis=1)
        return full.transpose(2, 0, 1)

    def outcomes(self) -> Outcomes:
        """Every figure on every draw, block by block (bounded memory)."""
        ix, n = self.ix, self.draws.n
        value = np.empty((n, ix.S))
        new = np.empty(n)
        ret = np.empty(n)

        def run(i: int) -> None:
            sl, blk = self.draws.span(i), self.draws.block(i)
            A, R = self._capped(blk.a, blk.b, blk.retention)
            per_l = (A * self.w_acq).sum(axis=1) + (R * self.w_ret).sum(axis=1)
            value[sl] = lifetimes(ix, blk.margin, blk.retention) * per_l
            new[sl], ret[sl] = A.sum(axis=(1, 2)), R.sum(axis=(1, 2))

        blocks = range(self.draws.n_blocks)  # blocks of draws, not one draw at a time
        if self.workers == 1:
            for i in blocks:
                run(i)
        else:
            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(run, blocks))
        return Outcomes(value.sum(axis=1), new, ret, value, self.total_spend, self.disc_spend,
                        self.acq_spend, self.seg_disc_spend)

    def _capped(self, a: Float, b: Float, r: Float) -> tuple[Float, Float]:
        """New and saved customers (draws, P, S) after the prospects and at-risk caps."""
        ix = self.ix
        full = self.raw_customers(a, b)
        A, want = full[:, :, :ix.S], full[:, :, ix.S:]
        A = A * np.swapaxes(prospect_scale(np.swapaxes(A, 1, 2), ix.prospects), 1, 2)
        if not self.has_ret:
            return A, want
        R = np.empty_like(want)
        N = np.broadcast_to(ix.n0, r.shape).astype(float)
        for t in range(ix.P):  # saved customers depend on earlier periods: sequential in t
            R[:, t] = np.minimum(want[:, t], (1.0 - r) * N)
            N = r * (N + A[:, t]) + R[:, t]
        return A, R
