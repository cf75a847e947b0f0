"""Solver layer: the only module that imports PuLP (and highspy).

An LP arrives as arrays (:class:`~planner.core.linear_program.LinearProgram`, always a minimisation) and
leaves as a :class:`Solution` whose duals are normalised: ``row_dual[i]`` is the change of
the minimised objective per unit increase of row i's bound, for every solver.  HiGHS is
driven directly from the arrays (PuLP's per-coefficient objects cost more than the solve at
planner scale); CBC goes through PuLP.  Outcomes are returned, never raised.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from planner.core.linear_program import LinearProgram
from planner.errors import SolverError

Float = NDArray[np.float64]
#: largest row violation, relative to what the row can reach, accepted from a solver
FEAS_TOL = 1e-5


@dataclass
class Solution:
    """What a solver returned; ``x`` and ``row_dual`` are None when it found nothing."""

    status: str                  # optimal | feasible | infeasible | unbounded | time_limit | error
    solver: str
    seconds: float
    x: Float | None = None
    row_dual: Float | None = None
    objective: float | None = None   # min-form c·x
    mip_gap: float | None = None     # relative, for MIPs
    mip_bound: float | None = None   # min-form dual bound, for MIPs
    message: str = ""


def max_violation(lp: LinearProgram, x: Float) -> float:
    """Largest row violation of ``x`` relative to the row's size (``x`` within its bounds).

    The size is ``1 + |bound| + Σ|a_ij|·max(|x_j|, upper_j)`` so that rounding in a solver's
    text output (CBC) or its feasibility tolerance does not count, while a real violation does.
    """
    act = lp.A @ x
    # a row's size is what it could reach over the columns' ranges, so that a solver's
    # tolerance on a row with a zero bound (customers at risk of an empty segment) is no
    # violation, while a real one still is
    reach = np.where(np.isfinite(lp.col_upper), np.maximum(np.abs(lp.col_upper), np.abs(x)), np.abs(x))
    size = 1.0 + abs(lp.A) @ reach
    lo = np.where(np.isfinite(lp.row_lower), lp.row_lower, 0.0)
    up = np.where(np.isfinite(lp.row_upper), lp.row_upper, 0.0)
    rv = np.maximum(lp.row_lower - act, act - lp.row_upper) / (size + np.abs(lo) + np.abs(up))
    return float(rv.max(initial=0.0))


def solve(lp: LinearProgram, solver: str = "highs", time_limit: float = 60.0) -> Solution:
    """Solve with ``highs`` or ``cbc``; for a MIP the duals come from the LP with the
    integer choices fixed."""
    if solver == "cbc":
        sol = _solve_cbc(lp, time_limit)
    elif solver == "highs":
        sol = HighsSession(lp).solve(time_limit)
    else:
        raise SolverError(f"unknown solver {solver!r}: expected highs or cbc")
    if sol.x is not None:
        sol.x = np.clip(sol.x, lp.col_lower, lp.col_upper)
    if sol.x is not None and sol.status in ("optimal", "time_limit"):
        if max_violation(lp, sol.x) > FEAS_TOL:
            sol.status = "time_limit" if sol.status == "time_limit" else "error"
            sol.message = "the solver's answer breaks a constraint"
            sol.x = None
        elif sol.status == "time_limit":
            sol.status = "feasible"
    if lp.is_mip and sol.x is not None:
        fixed = fix_integers(lp, sol.x)
        dual = _solve_cbc(fixed, time_limit) if solver == "cbc" else HighsSession(fixed).solve(time_limit)
        sol.row_dual = dual.row_dual
    return sol


def fix_integers(lp: LinearProgram, x: Float) -> LinearProgram:
    """The LP with every integer column fixed at its (rounded) value in ``x``."""
    lo, up = lp.col_lower.copy(), lp.col_upper.copy()
    z = np.round(x[lp.integrality])
    lo[lp.integrality] = z
    up[lp.integrality] = z
    return LinearProgram(lp.c, lo, up, lp.A, lp.row_lower, lp.row_upper,
                         np.zeros_like(lp.integrality), lp.obj_sign)


def _new_highs(highspy):
    """A silent HiGHS instance: ``highspy.Highs()`` prints a banner on stdout before any
    option can be set (it would corrupt ``--json`` output); the core class does not."""
    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    h = core() if core is not None else highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


class HighsSession:
    """A HiGHS instance holding one LP, so bounds can change between warm-started solves.

    ``presolve`` defaults to off for LPs and on for MIPs, by measurement on planner's
    models (DESIGN §5): the LP has a handful of rows and many band columns, and dual
    simplex without presolve is 4–5× faster than with it (even with the pathological
    parallel-column rule switched off, as it always is here).
    """

    def __init__(self, lp: LinearProgram, presolve: str | None = None):
        import highspy

        self._hs = highspy
        self.lp = lp
        h = _new_highs(highspy)
        if presolve is None:
            presolve = "on" if lp.is_mip else "off"
        h.setOptionValue("presolve", presolve)
        # parallel-column presolve rule is pathological on identical band columns (DESIGN §5)
        h.setOptionValue("presolve_rule_off", 8192)
        n_row, n_col = lp.A.shape
        inf = highspy.kHighsInf
        A = lp.A.tocsc()
        # the array overload of passModel: no per-element conversion to Python lists
        status = h.passModel(
            int(n_col), int(n_row), int(A.nnz), int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize), 0.0,
            np.ascontiguousarray(lp.c, dtype=np.float64),
            np.ascontiguousarray(lp.col_lower, dtype=np.float64),
            np.where(np.isinf(lp.col_upper), inf, lp.col_upper).astype(np.float64),
            np.where(np.isinf(lp.row_lower), -inf, lp.row_lower).astype(np.float64),
            np.where(np.isinf(lp.row_upper), inf, lp.row_upper).astype(np.float64),
            A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64),
            lp.integrality.astype(np.int32),
        )
        self.rejected = status == highspy.HighsStatus.kError  # reported by solve(), not raised
        self.h = h

    def set_option(self, name: str, value: Any) -> None:
        self.h.setOptionValue(name, value)

    def basis(self) -> Any:
        """The simplex basis of the last solve (to start an LP of the same shape)."""
        return self.h.getBasis()

    def start_from(self, basis: Any) -> None:
        """Start the next solve from ``basis`` (from an LP with the same rows and columns)."""
        self.h.setBasis(basis)

    def set_row_bounds(self, row: int, lower: float, upper: float) -> None:
        inf = self._hs.kHighsInf
        self.h.changeRowBounds(int(row), -inf if np.isinf(lower) else float(lower), inf if np.isinf(upper) else float(upper))
        self.lp.row_lower[row] = lower
        self.lp.row_upper[row] = upper

    def solve(self, time_limit: float = 60.0) -> Solution:
        hs, h = self._hs, self.h
        if self.rejected:
            return Solution("error", "highs", 0.0, message="HiGHS rejected the model (invalid coefficients)")
        n_row, n_col = self.lp.A.shape
        if n_col == 0:  # nothing can be spent (a zero budget): HiGHS calls this model empty
            ok = bool(np.all(self.lp.row_lower <= 0) and np.all(self.lp.row_upper >= 0))
            return Solution("optimal" if ok else "infeasible", "highs", 0.0, x=np.zeros(0) if ok else None,
                            row_dual=np.zeros(n_row) if ok else None, objective=0.0 if ok else None,
                            message="empty model")
        h.setOptionValue("time_limit", float(time_limit))
        t0 = time.perf_counter()
        h.run()
        secs = time.perf_counter() - t0
        ms = h.getModelStatus()
        M = hs.HighsModelStatus
        status = {M.kOptimal: "optimal", M.kInfeasible: "infeasible", M.kUnbounded: "unbounded",
                  M.kUnboundedOrInfeasible: "infeasible", M.kTimeLimit: "time_limit",
                  M.kIterationLimit: "time_limit"}.get(ms, "error")
        sol = Solution(status, "highs", secs, message=h.modelStatusToString(ms))
        info = h.getInfo()
        if status in ("optimal", "time_limit") and info.primal_solution_status >= 1:
            s = h.getSolution()
            sol.x = np.asarray(s.col_value, dtype=float)
            sol.objective = float(info.objective_function_value)
            if self.lp.is_mip:
                sol.mip_gap = float(info.mip_gap)
                sol.mip_bound = float(info.mip_dual_bound)
            elif s.dual_valid:
                sol.row_dual = np.asarray(s.row_dual, dtype=float)
        elif status == "time_limit":
            sol.message = "time limit reached before a feasible plan was found"
        return sol


def _solve_cbc(lp: LinearProgram, time_limit: float) -> Solution:
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
        return Solution("error", "cbc", time.perf_counter() - t0, message=str(exc))
    secs = time.perf_counter() - t0
    st = pulp.LpStatus[prob.status]
    x = np.array([v.varValue if v.varValue is not None else np.nan for v in cols], dtype=float)
    has_x = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) and not np.isnan(x).any()
    if st == "Optimal" or (has_x and prob.sol_status == pulp.LpSolutionIntegerFeasible):
        status = "optimal" if st == "Optimal" else "time_limit"
    elif st == "Infeasible":
        status = "infeasible"
    elif st == "Unbounded":
        status = "unbounded"
    elif has_x:
        status = "time_limit"
    else:
        status = "time_limit" if st == "Not Solved" else "error"
    sol = Solution(status, "cbc", secs, message=st)
    if has_x or status == "optimal":
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
