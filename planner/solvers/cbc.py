"""CBC back end through PuLP (the only module importing pulp).

PuLP builds one object per coefficient, so CBC is the fallback and the reference, not the
fast path.  Answers are checked by the front end like every back end's.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from planner.core.linear_program import LinearProgram
from planner.solvers.result import Solution, Status


def solve_cbc(lp: LinearProgram, time_limit: float) -> Solution:
    """Solve ``lp`` with CBC (PuLP's bundled binary) within ``time_limit`` seconds."""
    with warnings.catch_warnings():
        # PuLP 3.x warns about its 4.0 API on every variable; the 4.0 port lives here
        warnings.simplefilter("ignore", DeprecationWarning)
        return _solve_cbc_pulp(lp, time_limit)


def _solve_cbc_pulp(lp: LinearProgram, time_limit: float) -> Solution:
    import pulp

    t0 = time.perf_counter()
    prob = pulp.LpProblem("planner", pulp.LpMinimize)
    n_row, n_col = lp.A.shape
    cols = [
        pulp.LpVariable(f"x{j}", lowBound=float(lp.col_lower[j]),
                        upBound=None if np.isinf(lp.col_upper[j]) else float(lp.col_upper[j]),
                        cat=pulp.LpInteger if lp.integrality[j] else pulp.LpContinuous)
        for j in range(n_col)
    ]
    prob += pulp.LpAffineExpression([(cols[j], float(lp.c[j])) for j in np.flatnonzero(lp.c)])
    A = lp.A.tocsr()
    cons: list[tuple[int, object]] = []
    for i in range(n_row):
        lo, up = lp.row_lower[i], lp.row_upper[i]
        seg = slice(A.indptr[i], A.indptr[i + 1])
        expr = pulp.LpAffineExpression([(cols[j], float(v)) for j, v in zip(A.indices[seg], A.data[seg], strict=True)])
        if np.isfinite(lo) and np.isfinite(up) and abs(lo - up) <= 1e-12 * max(1.0, abs(up)):
            c = expr == float(up)
            cons.append((i, c))
            prob += c, f"r{i}"
            continue
        if np.isfinite(up):
            c = expr <= float(up)
            prob += c, f"r{i}u"
            cons.append((i, c))
        if np.isfinite(lo):
            c = expr >= float(lo)
            prob += c, f"r{i}l"
            cons.append((i, c))
    cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=float(time_limit))
    try:
        prob.solve(cmd)
    except pulp.PulpSolverError as exc:
        return Solution(Status.ERROR, "cbc", time.perf_counter() - t0, message=str(exc))
    secs = time.perf_counter() - t0
    st = pulp.LpStatus[prob.status]
    x = np.array([v.varValue if v.varValue is not None else np.nan for v in cols], dtype=float)
    has_x = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) and not np.isnan(x).any()
    if st == "Optimal" or (has_x and prob.sol_status == pulp.LpSolutionIntegerFeasible):
        status = Status.OPTIMAL if st == "Optimal" else Status.TIME_LIMIT
    elif st == "Infeasible":
        status = Status.INFEASIBLE
    elif st == "Unbounded":
        status = Status.UNBOUNDED
    elif has_x:
        status = Status.TIME_LIMIT
    else:
        status = Status.TIME_LIMIT if st == "Not Solved" else Status.ERROR
    sol = Solution(status, "cbc", secs, message=st)
    if has_x or status == Status.OPTIMAL:
        sol.x = np.nan_to_num(x)
        sol.objective = float(lp.c @ sol.x)
        if not lp.is_mip:
            dual = np.zeros(n_row)
            for i, c in cons:
                pi = c.pi  # type: ignore[attr-defined]
                if pi is not None:
                    dual[i] += float(pi)
            sol.row_dual = dual
    return sol
