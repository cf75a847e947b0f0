"""S-shaped response curves: a mixed-integer model finds the global optimum."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import settings
from scipy.optimize import minimize

from planner.core.curves import CurveSet
from planner.core.curves import response as evaluate
from planner.engine.optimizer import Optimizer, optimize
from planner.scenario.models import Channel, Curve, Scenario, Segment

V = 100.0


def _scenario(a, b, s, budget, kinds=None, **kw):
    kinds = kinds or ["hill"] * len(a)
    return Scenario(
        settings=settings(total_budget=budget, objective="value", **kw),
        segments=[Segment(segment="S", margin_per_period=V, retention_rate=0)],
        channels=[Channel(channel=f"C{i}") for i in range(len(a))],
        curves=[Curve(segment="S", channel=f"C{i}", program="acquisition", curve=kinds[i], a=a[i], b=b[i], shape=s[i])
                for i in range(len(a))],
    )


def _grid_best(cs: CurveSet, budget: float, n: int) -> float:
    """Brute force over a grid of splits of the whole budget (value is increasing)."""
    g = np.linspace(0, budget, n)
    x0, x1 = np.meshgrid(g, g, indexing="ij")
    ok = x0 + x1 <= budget + 1e-9
    x = np.stack([x0[ok], x1[ok], budget - x0[ok] - x1[ok]])
    k = len(cs)
    if k == 2:
        x = np.stack([g, budget - g])
    total = sum(evaluate(cs, np.full(x.shape[1], i), x[i]) for i in range(k))
    return float(V * total.max())


def test_three_s_curves_at_least_as_good_as_brute_force_grid():
    a, b, s, budget = [1000, 800, 600], [30_000, 20_000, 15_000], [2.5, 3.0, 1.8], 60_000
    sc = _scenario(a, b, s, budget)
    plan = optimize(sc)
    assert plan.status == "optimal"
    assert plan.run_info["integer_variables"] > 0
    best = _grid_best(CurveSet.build(["hill"] * 3, a, b, s), budget, 601)
    assert plan.summary["total_value"] >= best * (1 - 1e-4)
    # the certified bound covers what the grid found, and meets DESIGN's 0.1 %
    assert plan.summary["total_value"] + plan.summary["optimality_gap_bound"] >= best
    assert plan.summary["optimality_gap_relative"] <= 1e-3
    assert "mip_gap" in plan.summary


def test_cbc_and_highs_agree_on_a_mip():
    a, b, s, budget = [900, 700], [25_000, 12_000], [2.2, 3.5], 40_000
    sc = _scenario(a, b, s, budget)
    h, c = optimize(sc, solver="highs"), optimize(sc, solver="cbc")
    assert h.ok and c.ok
    assert c.summary["total_value"] == pytest.approx(h.summary["total_value"], rel=1e-4)
    best = _grid_best(CurveSet.build(["hill"] * 2, a, b, s), budget, 4001)
    assert h.summary["total_value"] >= best * (1 - 1e-4)


def test_local_method_from_even_split_is_trapped_but_milp_is_not():
    """Channel 0 is S-shaped and still below its threshold at half the budget; channel 1
    is linear at 85 % of channel 0's average return over the whole budget.

    From the even split (the usual spreadsheet start) channel 0's marginal return (0.0088
    customers per unit) is below channel 1's (0.0106), so a gradient method moves money to
    channel 1 and ends with everything there: 850 customers.  Channel 0 is convex on the
    whole budget, so the true optimum puts everything into it: 1 000 customers.
    """
    budget = 80_000
    b0 = budget / 0.5 ** 0.25  # (B/b)^4 = 0.5
    c = 0.85 * (3000 * 0.5 / 1.5) / budget
    sc = _scenario([3000, None], [b0, 1 / c], [4.0, None], budget, kinds=["hill", "linear"])
    cs = CurveSet.build(["hill", "linear"], [3000, None], [b0, 1 / c], [4.0, None])

    def neg_value(x):
        return -V * float(evaluate(cs, np.arange(2), np.clip(x, 0, None)).sum())

    local = minimize(neg_value, x0=[budget / 2, budget / 2], method="SLSQP", bounds=[(0, budget)] * 2,
                     constraints=[{"type": "eq", "fun": lambda x: x.sum() - budget}])
    assert -local.fun == pytest.approx(V * 850, rel=1e-3)  # trapped in the linear channel
    plan = optimize(sc)
    assert plan.summary["total_value"] == pytest.approx(V * 1000, rel=1e-4)
    assert plan.summary["total_value"] >= _grid_best(cs, budget, 8001) * (1 - 1e-6)
    spend = plan.allocation.set_index("channel")["spend"]
    assert spend["C0"] == pytest.approx(budget, rel=1e-6)


def test_concave_inputs_give_a_pure_lp():
    sc = _scenario([1000, 800], [30_000, 20_000], [0.7, 1.0], 50_000)
    opt = Optimizer(sc, solver="highs")
    plan = opt.run()
    assert plan.run_info["integer_variables"] == 0
    assert not any("mixed-integer" in w for w in plan.warnings)


def test_mip_reports_fixed_integer_shadow_prices():
    plan = optimize(_scenario([1000, 800], [30_000, 20_000], [2.5, 3.0], 50_000))
    assert any("integer" in w for w in plan.warnings)
    budget = plan.constraints.set_index("name").loc["Total budget"]
    # fixed-integer duals are sign-correct (at a band boundary the next band is closed: 0)
    assert budget["binding"] and budget["shadow_price"] >= 0


def test_time_limit_is_honoured_for_the_whole_run():
    import time

    a = [1000 + 50 * i for i in range(8)]
    b = [20_000 + 3000 * i for i in range(8)]
    s = [2.0 + 0.2 * i for i in range(8)]
    sc = _scenario(a, b, s, 150_000, pwl_tolerance=0.0001)
    t0 = time.perf_counter()
    plan = optimize(sc, time_limit=2.0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0 + 3.0  # the limit plus model building and evaluation
    assert plan.status in ("optimal", "feasible", "time_limit")
