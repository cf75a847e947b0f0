"""Plan risk at scale (issue 15): the medium plan on 10 000 draws in < 2 s, and the robust
plan over 200 draws in < 30 s.  Runs only with ``--benchmarks``:

    python -m pytest tests/benchmarks/test_risk_benchmark.py --benchmarks -s

Every parametric curve gets ranges on a and b and every segment on margin and retention
(the most uncertain inputs possible, so nothing is evaluated once for all draws).  The
evaluation time is the fastest of three (the shared machine's noise is of its order) and
includes making the draws; the robust time is one run of building the sample-average
scenario, solving it and evaluating its plan on the same draws.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from planner.analysis.risk_draws import draw_inputs
from planner.analysis.risk_eval import PlanOnDraws, plan_spend
from planner.analysis.risk_robust import robust_scenario
from planner.core.scenario_arrays import Index
from planner.engine.optimizer import optimize
from planner.scenario.models import Scenario

sys.path.insert(0, str(Path(__file__).parent))
import synth

EVAL_DRAWS, EVAL_LIMIT_S = 10_000, 2.0
ROBUST_DRAWS, ROBUST_LIMIT_S = 200, 30.0


def with_ranges(sc: Scenario) -> Scenario:
    """a within ±25 % (P10 / P90), b within ±15 %, margins ±10 %, retention −3 / +2 points."""
    curves = [c.model_copy(update={"a_low": round(c.a / 1.25, 4), "a_high": round(c.a * 1.25, 4),
                                   "b_low": round(c.b / 1.15, 4), "b_high": round(c.b * 1.15, 4)})
              if c.curve != "points" else c for c in sc.curves]
    segs = [s.model_copy(update={"margin_low": round(s.margin_per_period * 0.9, 4),
                                 "margin_high": round(s.margin_per_period * 1.1, 4),
                                 "retention_low": round(s.retention_rate - 0.03, 4),
                                 "retention_high": round(min(0.999, s.retention_rate + 0.02), 4)}) for s in sc.segments]
    return Scenario.model_validate({**sc.model_dump(), "curves": [c.model_dump() for c in curves],
                                    "segments": [s.model_dump() for s in segs]})


@pytest.mark.parametrize("variant", ["budget", "constrained"])
def test_risk_medium(variant: str) -> None:
    sc = with_ranges(synth.scenario("medium", variant))
    plan = optimize(sc)
    assert plan.ok
    ix = Index.build(sc)
    spend = plan_spend(ix, plan)
    times, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        out = PlanOnDraws(ix, spend, draw_inputs(sc, EVAL_DRAWS, seed=0, correlation=0.3)).outcomes()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    net = out.net_value
    t0 = time.perf_counter()
    d = draw_inputs(sc, ROBUST_DRAWS, seed=0, correlation=0.3)
    rsc = robust_scenario(ix, d)
    t_build = time.perf_counter() - t0
    rplan = optimize(rsc)
    robust = PlanOnDraws(ix, plan_spend(ix, rplan), d).outcomes().net_value
    base = PlanOnDraws(ix, spend, d).outcomes().net_value
    t_robust = time.perf_counter() - t0
    print(f"\nmedium {variant}: {EVAL_DRAWS} draws of {ix.K * ix.P} cell-periods in {min(times):.3f} s "
          f"(runs {', '.join(f'{t:.3f}' for t in times)}; CPU {', '.join(f'{t:.3f}' for t in cpu)}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); net value P10/P50/P90 "
          f"{np.percentile(net, [10, 50, 90]).round(0).tolist()}")
    print(f"medium {variant}: robust over {ROBUST_DRAWS} draws in {t_robust:.2f} s (sample-average scenario "
          f"{t_build:.2f} s, {len(rsc.curve_points)} knots; {rplan.status}); expected net value "
          f"base {base.mean():,.0f}, robust {robust.mean():,.0f}")
    assert rplan.ok
    assert robust.mean() >= base.mean() - sc.settings.pwl_tolerance * abs(base.mean())
    assert min(times) < EVAL_LIMIT_S
    assert t_robust < ROBUST_LIMIT_S
