"""The scenario as arrays: segments, channels, cells and periods with their values.

Everything the model, the evaluation and the reports need is computed once here from a
:class:`~planner.scenario.models.Scenario`, vectorised over segments, cells and periods.
Cell-periods are flattened as ``kt = t * K + k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from planner.core.curves import CurveSet, response
from planner.core.types import Float, Int
from planner.core.value import (
    acquisition_value,
    discount_factors,
    lifetime_value,
    period_rate,
    retention_value,
)
from planner.scenario.models import Scenario

ACQ, RET = 0, 1


def _arr(values: list[float | None], missing: float = np.nan) -> Float:
    return np.array([missing if v is None else v for v in values], dtype=float)


@dataclass
class Index:
    """Array view of a scenario (read-only after construction)."""

    scenario: Scenario
    periods: list[str]
    segments: list[str]
    channels: list[str]
    cell_seg: Int
    cell_ch: Int
    cell_prog: Int
    curves: CurveSet
    sigma: Float          # (C, P) seasonality per channel and period
    discount: Float       # (P + 1,) start-of-period factors
    lifetime: Float       # (S,) L_s
    va: Float             # (S, P) value of an acquired customer
    vr: Float             # (S, P) value of a retained customer
    n0: Float             # (S,) customers today
    retention: Float      # (S,)
    prospects: Float      # (S,) inf when no cap

    @classmethod
    def build(cls, scenario: Scenario) -> Index:
        st = scenario.settings
        periods = [p.period for p in scenario.periods]
        segments = [s.segment for s in scenario.segments]
        channels = [c.channel for c in scenario.channels]
        seg_pos = {n: i for i, n in enumerate(segments)}
        ch_pos = {n: i for i, n in enumerate(channels)}
        per_pos = {n: i for i, n in enumerate(periods)}
        cv = scenario.curves
        cell_seg = np.array([seg_pos[c.segment] for c in cv], dtype=np.int64)
        cell_ch = np.array([ch_pos[c.channel] for c in cv], dtype=np.int64)
        cell_prog = np.array([ACQ if c.program == "acquisition" else RET for c in cv], dtype=np.int64)
        cell_of = {c.cell: k for k, c in enumerate(cv)}
        pts: dict[int, list[tuple[float, float]]] = {}
        for p in scenario.curve_points:
            pts.setdefault(cell_of[(p.segment, p.channel, p.program)], []).append((p.spend, p.customers))
        curves = CurveSet.build([c.curve for c in cv], [c.a for c in cv], [c.b for c in cv],
                                [c.shape for c in cv], pts)
        n_per = len(periods)
        sigma = np.tile(np.array([p.seasonality for p in scenario.periods], float), (len(channels), 1))
        for z in scenario.seasonality:
            sigma[ch_pos[z.channel], per_pos[z.period]] = z.multiplier
        delta = period_rate(st.annual_discount_rate, st.periods_per_year)
        d = discount_factors(n_per, delta)
        horizon = None if st.clv_horizon_years is None else st.clv_horizon_years * st.periods_per_year
        sg = scenario.segments
        retention = _arr([s.retention_rate for s in sg])
        life = lifetime_value(_arr([s.margin_per_period for s in sg]), retention, delta, horizon)
        return cls(
            scenario=scenario, periods=periods, segments=segments, channels=channels,
            cell_seg=cell_seg, cell_ch=cell_ch, cell_prog=cell_prog, curves=curves,
            sigma=sigma, discount=d, lifetime=life,
            va=acquisition_value(life, _arr([s.referral_rate for s in sg]), d[:-1]),
            vr=retention_value(life, d[1:]),
            n0=_arr([s.customers for s in sg]), retention=retention,
            prospects=_arr([s.prospects for s in sg], np.inf),
        )

    # sizes -------------------------------------------------------------------------------
    @property
    def K(self) -> int:
        return len(self.cell_seg)

    @property
    def P(self) -> int:
        return len(self.periods)

    @property
    def S(self) -> int:
        return len(self.segments)

    # cell-period arrays (kt = t*K + k) ---------------------------------------------------
    @cached_property
    def kt_cell(self) -> Int:
        return np.tile(np.arange(self.K), self.P)

    @cached_property
    def kt_t(self) -> Int:
        return np.repeat(np.arange(self.P), self.K)

    @cached_property
    def kt_seg(self) -> Int:
        return self.cell_seg[self.kt_cell]

    @cached_property
    def kt_ch(self) -> Int:
        return self.cell_ch[self.kt_cell]

    @cached_property
    def kt_prog(self) -> Int:
        return self.cell_prog[self.kt_cell]

    @cached_property
    def kt_sigma(self) -> Float:
        return self.sigma[self.kt_ch, self.kt_t]

    @cached_property
    def kt_value(self) -> Float:
        """Discounted value of one customer won (acquisition) or saved (retention)."""
        return np.where(self.kt_prog == ACQ, self.va[self.kt_seg, self.kt_t], self.vr[self.kt_seg, self.kt_t])

    @cached_property
    def kt_discount(self) -> Float:
        return self.discount[self.kt_t]

    def spend_cap(self, *, relaxed: bool = False) -> Float:
        """Most that can be spent in each cell in one period (the chord domain X_k).

        ``relaxed`` ignores the budgets and channel/segment bounds (all rows of the LP, so
        they still hold) and allows for every minimum: the domain infeasibility analysis
        needs to see how far a budget would have to rise.
        """
        sc = self.scenario
        st = sc.settings
        if relaxed:
            mins = [c.min_spend or 0 for c in sc.channels] + [s.min_spend or 0 for s in sc.segments]
            mins += [abs(k.value) for k in sc.constraints if k.metric == "spend"]
            mins += [(c.current_spend or 0) for c in sc.channels]
            return np.minimum(np.full(self.K, 10.0 * (st.total_budget + sum(mins)) + 1.0),
                              _arr([c.max_spend for c in sc.curves], np.inf))
        cap = np.full(self.K, float(st.total_budget))
        budgets = [p.budget for p in sc.periods]
        if all(b is not None for b in budgets):
            cap = np.minimum(cap, max(budgets))
        cmax = _arr([c.max_spend for c in sc.curves], np.inf)
        chmax = _arr([c.max_spend for c in sc.channels], np.inf)[self.cell_ch]
        sgmax = _arr([s.max_spend for s in sc.segments], np.inf)[self.cell_seg]
        cur = _arr([c.current_spend for c in sc.channels])
        mc = _arr([c.max_change for c in sc.channels])
        change = np.where(np.isnan(cur) | np.isnan(mc), np.inf, cur * (1 + mc))[self.cell_ch]
        return np.minimum.reduce([cap, cmax, chmax, sgmax, change])

    def customers(self, spend_kt: Float) -> Float:
        """Customers per cell-period on the real curves (seasonality applied, no caps)."""
        return self.kt_sigma * response(self.curves, self.kt_cell, spend_kt)
