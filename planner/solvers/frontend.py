"""The solver front end: one :func:`solve` for every back end, one answer check.

An LP arrives as arrays (:class:`~planner.core.linear_program.LinearProgram`, always a
minimisation) and leaves as a :class:`~planner.solvers.result.Solution` with a
:class:`~planner.solvers.result.Status`.  Whatever the back end (HiGHS, CBC, the greedy
fill), its answer is clipped to the column bounds and checked against every row here, so a
plan never rests on an answer that breaks a constraint.  Outcomes are returned, never raised
(an unknown back end name is a programming error and raises).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from planner.core.linear_program import LinearProgram, Model
from planner.errors import SolverError
from planner.solvers.cbc import solve_cbc
from planner.solvers.greedy import solve_greedy
from planner.solvers.highs import HighsSession, scale_factors
from planner.solvers.result import Float, Solution, Status

#: largest row violation, relative to what the row can reach, accepted from a solver
FEAS_TOL = 1e-5
BACKENDS = ("highs", "cbc", "greedy")


def solve(problem: LinearProgram | Model, solver: str = "highs", time_limit: float = 60.0, *,
          session: HighsSession | None = None) -> Solution:
    """Solve with ``highs``, ``cbc`` or ``greedy`` and check the answer.

    Parameters
    ----------
    problem : LinearProgram or Model
        The LP; the greedy fill needs the :class:`Model` (it knows which columns are bands).
    solver : {'highs', 'cbc', 'greedy'}
    time_limit : float
        Seconds for this solve.
    session : HighsSession, optional
        A HiGHS session holding this LP (warm start, changed bounds); HiGHS only.

    Returns
    -------
    Solution
        Checked: ``x`` is None unless it meets every row within ``FEAS_TOL``.  For a MIP the
        duals come from the LP with the integer choices fixed.
    """
    lp = problem.lp if isinstance(problem, Model) else problem
    if solver == "greedy":
        if not isinstance(problem, Model):
            raise SolverError("the greedy fill needs the Model, not only its LP")
        sol = solve_greedy(problem)
    elif solver == "cbc":
        sol = _cbc_scaled(lp, time_limit)
    elif solver == "highs":
        sol = check(lp, (session if session is not None else HighsSession(lp)).solve(time_limit))
        if sol.status == Status.ERROR and not sol.message.startswith("HiGHS rejected"):
            # HiGHS's dual simplex without presolve can end "Unknown", or with an answer that
            # breaks a row, on a badly conditioned LP (a full budget on curves of shape 0.05):
            # presolve on is a second opinion
            sol = HighsSession(lp, presolve="on").solve(time_limit)
    else:
        raise SolverError(f"unknown solver {solver!r}: expected one of {', '.join(BACKENDS)}")
    sol = check(lp, sol)
    if lp.is_mip and sol.x is not None:
        fixed = fix_integers(lp, sol.x)
        dual = _cbc_scaled(fixed, time_limit) if solver == "cbc" else HighsSession(fixed).solve(time_limit)
        sol.row_dual = dual.row_dual
    return sol


def _cbc_scaled(lp: LinearProgram, time_limit: float) -> Solution:
    """CBC on the LP with its wild columns measured in their width (as HiGHS sees them:
    :func:`~planner.solvers.highs.scale_factors`); the answer in the LP's own units."""
    col, _, _ = scale_factors(lp)
    if (col == 1.0).all():
        return solve_cbc(lp, time_limit)
    scaled = LinearProgram(lp.c * col, lp.col_lower / col, lp.col_upper / col, (lp.A @ sp.diags(col)).tocsc(),
                           lp.row_lower, lp.row_upper, lp.integrality, lp.obj_sign)
    sol = solve_cbc(scaled, time_limit)
    if sol.x is not None:
        sol.x = sol.x * col
    return sol


def check(lp: LinearProgram, sol: Solution) -> Solution:
    """The one answer check: clip ``x`` to the column bounds, drop it if a row is broken
    by more than ``FEAS_TOL``, and call a checked answer at the time limit ``feasible``."""
    if sol.x is None:
        return sol
    sol.x = np.clip(sol.x, lp.col_lower, lp.col_upper)
    if max_violation(lp, sol.x) > FEAS_TOL:
        sol.x = None
        sol.row_dual = None
        sol.status = Status.TIME_LIMIT if sol.status == Status.TIME_LIMIT else Status.ERROR
        sol.message = "the solver's answer breaks a constraint"
    elif sol.status == Status.TIME_LIMIT:
        sol.status = Status.FEASIBLE
    return sol


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


def fix_integers(lp: LinearProgram, x: Float) -> LinearProgram:
    """The LP with every integer column fixed at its (rounded) value in ``x``."""
    lo, up = lp.col_lower.copy(), lp.col_upper.copy()
    z = np.round(x[lp.integrality])
    lo[lp.integrality] = z
    up[lp.integrality] = z
    return LinearProgram(lp.c, lo, up, lp.A, lp.row_lower, lp.row_upper,
                         np.zeros_like(lp.integrality), lp.obj_sign)
