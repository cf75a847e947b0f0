"""Measurements of the performance suite (run by ``test_benchmarks.py``, one process each).

``python tests/benchmarks/bench.py run SIZE VARIANT DIR`` prints one JSON record: the
end-to-end timings of planner on a synthetic workbook (read, build, solve, evaluate,
write), its peak memory and model size, then the same final LP solved by the reference
solvers.  Each record is measured in a fresh process so that the peak resident memory is
the run's own.  ``python tests/benchmarks/bench.py frontier SIZE VARIANT`` times a 21-point
frontier against one optimisation.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# synth from here, and planner from this checkout (not a copy pip may have installed)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).parent))

import synth

from planner import read_scenario, write_plan, write_scenario
from planner.analysis.frontier import frontier
from planner.core.linear_program import build_model
from planner.engine.optimizer import Optimizer, optimize
from planner.solvers import HighsSession, solve
from planner.solvers.greedy import greedy_exact, solve_greedy

#: CBC goes through PuLP, which builds one Python object per coefficient: small, and medium
#: budget-only (PuLP alone needs about a minute for the medium constrained LP's 1M nonzeros)
CBC_RUNS = (("small", "budget"), ("small", "constrained"), ("medium", "budget"))
#: seconds a reference may take before it is stopped (reported as "≥ limit")
REF_TIME_LIMIT = {"small": 20.0, "medium": 10.0, "large": 10.0}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


#: timings below this many seconds are the fastest of three runs: the machine's noise is
#: of their order, and a target compares two of them (build against solve on small)
SHORT = 0.1


def _fastest(first: float, again: Any) -> float:
    """``first``, or the fastest of it and two more runs of ``again()`` when it is short."""
    return first if first >= SHORT else min(first, again(), again())


def run(size: str, variant: str, workdir: Path) -> dict[str, Any]:
    """Planner end to end on a synthetic workbook, then references on the same LP."""
    scenario = synth.scenario(size, variant)
    src = workdir / f"{size}_{variant}.xlsx"
    out = workdir / f"{size}_{variant}_plan.xlsx"
    write_scenario(scenario, src)

    rss_before = _peak_mb()
    read, t_read = _timed(lambda: read_scenario(src))
    t0 = time.perf_counter()
    opt = Optimizer(read)
    plan = opt.run()
    t_opt = time.perf_counter() - t0
    _, t_write = _timed(lambda: write_plan(plan, out, source=src))
    peak = _peak_mb()
    info = plan.run_info
    build, solve_s = float(info["build_seconds"]), float(info["solve_seconds"])
    # the table keeps the first run; the build target holds a short build against a short
    # solve, so there both are the fastest of three (as every short solve below)
    build_best = _fastest(build, lambda: float(Optimizer(read).run().run_info["build_seconds"]))
    rec: dict[str, Any] = {
        "size": size, "variant": variant, "status": plan.status,
        "segments": len(read.segments), "channels": len(read.channels),
        "cell_periods": len(read.curves) * len(read.periods),
        "read": t_read, "build": build, "build_best": build_best, "solve": solve_s,
        "evaluate": max(0.0, t_opt - build - solve_s), "optimize": t_opt, "write": t_write,
        "end_to_end": t_read + t_opt + t_write,
        "peak_mb": peak, "rss_before_mb": rss_before,
        "variables": int(info["variables"]), "rows": int(info["rows"]), "nonzeros": int(info["nonzeros"]),
        "bands": int(info["bands"]), "refine_rounds": int(info["refine_rounds"]),
        "solver": info["solver"], "gap_relative": float(plan.summary["optimality_gap_relative"]),
        "objective": float(plan.summary["objective_value"]),
    }

    # the same (final, refined) LP for every solver
    model = build_model(opt.ix, opt.ws.bands, opt.ws.rows, opt.ws.n_aux)
    lp = model.lp
    budget = read.settings.total_budget
    lp.row_upper[0] = budget
    if read.settings.spend_full_budget:
        lp.row_lower[0] = budget
    assert lp.A.shape == (rec["rows"], rec["variables"]), "references must solve planner's LP"
    limit = REF_TIME_LIMIT[size]
    refs: dict[str, dict[str, Any]] = {}

    def highs(name: str, presolve: str, rule_off: int) -> None:
        session = HighsSession(lp, presolve=presolve)
        session.h.setOptionValue("presolve_rule_off", rule_off)
        sol = session.solve(limit)

        def again() -> float:
            s = HighsSession(lp, presolve=presolve)
            s.h.setOptionValue("presolve_rule_off", rule_off)
            return s.solve(limit).seconds

        refs[name] = {"seconds": _fastest(sol.seconds, again), "status": sol.status, "objective": sol.objective}

    exact = greedy_exact(model)
    if exact:
        sol, secs = _timed(lambda: solve_greedy(model))
        secs = _fastest(secs, lambda: _timed(lambda: solve_greedy(model))[1])
        refs["greedy"] = {"seconds": secs, "status": sol.status, "objective": sol.objective}
    # HiGHS overruns its time limit badly on the large budget-only LP (measured: 34-319 s
    # for a 10 s limit), so there only the fastest setting runs
    big_greedy = exact and size == "large"
    if not big_greedy:
        highs("highs_presolve_rule8192_off", "on", 8192)
    highs("highs_presolve_off", "off", 8192)
    if not big_greedy:
        highs("highs_default", "on", 0)
    if (size, variant) in CBC_RUNS:
        sol = solve(lp, "cbc", limit)
        refs["cbc_pulp"] = {"seconds": sol.seconds, "status": sol.status, "objective": sol.objective}

    # planner's own choice on that LP, timed the same way as the references
    if exact:
        def mine_once() -> float:
            return _timed(lambda: solve_greedy(model))[1]
    else:
        def mine_once() -> float:
            return HighsSession(lp).solve(limit).seconds
    mine = _fastest(mine_once(), mine_once)
    finished = {k: v for k, v in refs.items() if v["status"] == "optimal"}
    best = min(finished.items(), key=lambda kv: kv[1]["seconds"])
    lp_refs = [v["seconds"] for k, v in finished.items() if k != "greedy"]
    rec.update(planner_solve_same_lp=mine, references=refs, best_reference=best[0],
               best_reference_seconds=best[1]["seconds"], ratio=mine / max(best[1]["seconds"], 1e-9),
               # fastest LP solver on this LP (its time limit when none finished: a lower bound)
               lp_solve_reference=min(lp_refs) if lp_refs else limit)
    objs = [v["objective"] for v in finished.values()]
    rec["objective_spread"] = float((max(objs) - min(objs)) / max(1.0, abs(np.mean(objs))))
    return rec


def frontier_timing(size: str, variant: str, points: int = 21, repeat: int = 3) -> dict[str, Any]:
    """One optimisation against a ``points``-point frontier (model re-used, warm starts).

    Each is timed ``repeat`` times, alternating, and the fastest of each is kept (the
    machine's noise is of the order of the difference otherwise).
    """
    scenario = synth.scenario(size, variant)
    optimize(scenario)  # warm up imports and caches
    ones, sweeps = [], []
    for _ in range(repeat):
        ones.append(_timed(lambda: optimize(scenario))[1])
        fr, sweep = _timed(lambda: frontier(scenario, points=points))
        sweeps.append(sweep)
    one, sweep = min(ones), min(sweeps)
    statuses = sorted(set(fr.table["status"]))
    gaps = [p.summary["optimality_gap_relative"] for p in fr.plans if p.ok]
    return {"size": size, "variant": variant, "points": points, "one": one, "frontier": sweep,
            "ratio": sweep / one, "statuses": statuses, "largest_gap": max(gaps, default=float("nan"))}


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "run":
        print(json.dumps(run(sys.argv[2], sys.argv[3], Path(sys.argv[4]))))
    elif what == "frontier":
        print(json.dumps(frontier_timing(sys.argv[2], sys.argv[3])))
    else:
        raise SystemExit(f"unknown command {what!r}")
