"""HiGHS back end, driven directly from the LP's arrays (the only module importing highspy).

PuLP's per-coefficient objects cost more than the solve at planner scale, so the arrays go
straight to ``passModel``.  A :class:`HighsSession` keeps one LP so that bounds can change
between warm-started solves (the budget sweep).  Answers are not checked here: the front
end (:func:`planner.solvers.frontend.solve`) checks every back end's answer the same way.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from planner.core.linear_program import LinearProgram
from planner.core.types import Float
from planner.solvers.result import Solution, Status

#: a column with a coefficient above this is measured in its width (see scale_factors)
COEF_LIMIT = 1e7


def _pow2(v: np.ndarray) -> np.ndarray:
    """The power of two nearest to each positive ``v`` (1 where ``v`` is not positive and finite)."""
    ok = np.isfinite(v) & (v > 0)
    return np.where(ok, np.exp2(np.round(np.log2(np.where(ok, v, 1.0)))), 1.0)


def scale_factors(lp: LinearProgram) -> tuple[np.ndarray, np.ndarray, float]:
    """(column, row, objective) scale factors, powers of two.

    Only columns whose coefficients leave the range HiGHS handles well are measured in
    their width (a band's upper bound): a band of 1e-12 money on a hill curve of shape 0.05
    has a slope past HiGHS's infinity (1e20) in money units.  Everything else keeps its
    units: scaling every column and row was measured 30–70× slower on the medium
    constrained benchmark (HiGHS's own scaling does better there).  HiGHS solves
    ``min κ·c·D·y`` s.t. ``R·l ≤ R·A·D·y ≤ R·u``, ``x = D·y``.
    """
    n_row, n_col = lp.A.shape
    col = np.ones(n_col)
    if n_col:
        A = lp.A.tocsc()
        big = np.zeros(n_col)
        has = np.diff(A.indptr) > 0
        if has.any():
            big[has] = np.maximum.reduceat(np.abs(A.data), A.indptr[:-1][has])
        big = np.maximum(big, np.abs(lp.c))
        wild = (big > COEF_LIMIT) & np.isfinite(lp.col_upper) & (lp.col_upper > 0) & ~lp.integrality
        col[wild] = _pow2(lp.col_upper[wild])
    return col, _tiny_row_scale(lp, col), 1.0


#: a row whose limit is smaller than this (in magnitude, and not 0) is measured in units of
#: its limit: HiGHS's feasibility tolerance is absolute (1e-7), so a total spend limit of
#: 1e-6 would otherwise be met only to within a tenth of itself
TINY_LIMIT = 1e-3
#: ... and where some limit is below this, a limit of 0 on a row that can only reach less
#: than this (in money) is measured in units of what it can reach
SMALL_LIMIT = 1.0


def _tiny_row_scale(lp: LinearProgram, col: np.ndarray) -> np.ndarray:
    """Row factors that make each tiny limit about 1 (powers of two), no larger than keeps
    the row's coefficients (on the scaled columns) within ``COEF_LIMIT``."""
    n_row = lp.A.shape[0]
    bounds = np.abs(np.stack([lp.row_lower, lp.row_upper]))
    bounds = np.where(np.isfinite(bounds) & (bounds > 0), bounds, np.inf).min(axis=0)
    tiny = bounds < TINY_LIMIT
    if (bounds < SMALL_LIMIT).any():
        # a limit of 0 on a row whose terms can only add up to a small amount (a share
        # ceiling when a spend limit of 1e-5 or 0.016 caps the spends): measured in units of
        # that amount (only where a small limit can cap it: the pass costs a scan of A)
        reach = _reach(lp)
        zero = ~np.isfinite(bounds) & (reach > 0) & (reach < SMALL_LIMIT)
        bounds = np.where(zero, reach, bounds)
        tiny = tiny | zero
    if not tiny.any():
        return np.ones(n_row)
    A = (lp.A @ sp.diags(col)).tocsr()
    big = np.zeros(n_row)
    has = np.diff(A.indptr) > 0
    big[has] = np.maximum.reduceat(np.abs(A.data), A.indptr[:-1][has])
    with np.errstate(over="ignore", divide="ignore"):  # a limit of 1e-320: room decides
        room = np.where(big > 0, COEF_LIMIT / np.maximum(big, 1e-300), np.inf)
        want = np.minimum(1.0 / np.where(tiny, bounds, 1.0), room)
    return np.where(tiny & np.isfinite(want), _pow2(want), 1.0)


def _reach(lp: LinearProgram) -> np.ndarray:
    """How far each row's activity can go past a limit of 0 on the side it is limited:
    the sum of its positive terms at their columns' upper bounds for an upper limit, of its
    negative terms for a lower one (inf where a column is unbounded or may go negative)."""
    A = lp.A.tocsr()
    if not A.nnz:
        return np.full(A.shape[0], np.inf)
    lower_ok = lp.col_lower[A.indices] >= 0
    ub = _implied_upper(lp, A)[A.indices]
    with np.errstate(invalid="ignore"):
        up = np.where(A.data > 0, np.where(lower_ok, A.data * ub, np.inf), 0.0)
        down = np.where(A.data < 0, np.where(lower_ok, -A.data * ub, np.inf), 0.0)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    pos = np.bincount(rows, weights=up, minlength=A.shape[0])
    neg = np.bincount(rows, weights=down, minlength=A.shape[0])
    out = np.zeros(A.shape[0])
    out = np.where(lp.row_upper == 0, pos, out)
    out = np.where(lp.row_lower == 0, np.maximum(out, neg), out)
    return np.where(np.isnan(out), np.inf, out)


def _implied_upper(lp: LinearProgram, A: sp.csr_matrix) -> np.ndarray:
    """Each column's upper bound, tightened by every row of non-negative terms on
    non-negative columns with a finite upper limit (a total spend limit of 1e-5 caps every
    spend column at 1e-5)."""
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    bad = (A.data < 0) | (lp.col_lower[A.indices] < 0)
    mixed = np.bincount(rows, weights=bad.astype(float), minlength=A.shape[0]) > 0
    use = ~mixed[rows] & (A.data > 0) & np.isfinite(lp.row_upper[rows])
    out = lp.col_upper.astype(float).copy()
    if use.any():
        np.minimum.at(out, A.indices[use], np.maximum(lp.row_upper[rows[use]], 0.0) / A.data[use])
    return out


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
    models (docs/design.md, solvers): the LP has a handful of rows and many band columns, and dual
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
        # parallel-column presolve rule is pathological on identical band columns (docs/design.md §6)
        h.setOptionValue("presolve_rule_off", 8192)
        n_row, n_col = lp.A.shape
        inf = highspy.kHighsInf
        self.col_scale, self.row_scale, self.obj_scale = scale_factors(lp)
        A = lp.A.tocsc()
        # HiGHS sees columns in units of their width and rows in units of their largest
        # coefficient (powers of two: no round-off): a band of 1e-12 money on a hill curve of
        # shape 0.05 has a slope past HiGHS's infinity (1e20) in money units, and customers
        # worth 1e-9 per unit of money against bounds of 1e7 fall under its tolerances
        if not ((self.col_scale == 1.0).all() and (self.row_scale == 1.0).all()):
            A = (sp.diags(self.row_scale) @ A @ sp.diags(self.col_scale)).tocsc()
        lo, up = lp.row_lower * self.row_scale, lp.row_upper * self.row_scale
        # the array overload of passModel: no per-element conversion to Python lists
        status = h.passModel(
            int(n_col), int(n_row), int(A.nnz), int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize), 0.0,
            np.ascontiguousarray(lp.c * self.col_scale * self.obj_scale, dtype=np.float64),
            np.ascontiguousarray(lp.col_lower / self.col_scale, dtype=np.float64),
            np.where(np.isinf(lp.col_upper), inf, lp.col_upper / self.col_scale).astype(np.float64),
            np.where(np.isinf(lo), -inf, lo).astype(np.float64),
            np.where(np.isinf(up), inf, up).astype(np.float64),
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

    def basis_arrays(self, x: Float) -> tuple[Any, Any]:
        """The last solve's basis as arrays (0 lower, 1 basic, 2 upper) for columns and rows:
        the basic variables from HiGHS (``num_row`` of them), every other column and row at
        the bound its value ``x`` (the last solution) is nearest (reading HiGHS's whole
        basis object costs a Python object per column)."""
        lp = self.lp
        if self.h.getOptionValue("solver")[1] == "ipm":
            # after interior point and crossover HiGHS holds no factorisation to read the
            # basic variables from (asking segfaults): read its basis object instead
            b = self.h.getBasis()
            if not b.valid:
                return None, None
            return (np.fromiter((v.value for v in b.col_status), dtype=np.int64, count=len(b.col_status)),
                    np.fromiter((v.value for v in b.row_status), dtype=np.int64, count=len(b.row_status)))
        _, basic = self.h.getBasicVariables()
        basic = np.asarray(basic, dtype=np.int64)
        col = np.where(x - lp.col_lower <= lp.col_upper - x, 0, 2)
        act = lp.A @ x
        row = np.where(np.abs(act - lp.row_lower) <= np.abs(lp.row_upper - act), 0, 2)
        col[basic[basic >= 0]] = 1
        row[-1 - basic[basic < 0]] = 1
        return col, row

    @staticmethod
    def make_basis(col_status: Any, row_status: Any) -> Any:
        """A HiGHS basis from column and row statuses (0 lower, 1 basic, 2 upper)."""
        import highspy

        # the statuses as HiGHS's enum objects, picked by one object-array gather
        lut = np.array([highspy.HighsBasisStatus(k) for k in range(5)], dtype=object)
        out = highspy.HighsBasis()
        out.col_status = lut[np.asarray(col_status, dtype=np.int64)].tolist()
        out.row_status = lut[np.asarray(row_status, dtype=np.int64)].tolist()
        out.valid = True
        return out

    def start_from(self, basis: Any) -> None:
        """Start the next solve from ``basis`` (from an LP with the same rows and columns)."""
        self.h.setBasis(basis)

    def set_row_bounds(self, row: int, lower: float, upper: float) -> None:
        inf = self._hs.kHighsInf
        r = float(self.row_scale[row])
        self.h.changeRowBounds(int(row), -inf if np.isinf(lower) else float(lower) * r,
                               inf if np.isinf(upper) else float(upper) * r)
        self.lp.row_lower[row] = lower
        self.lp.row_upper[row] = upper

    def solve(self, time_limit: float = 60.0) -> Solution:
        hs, h = self._hs, self.h
        if self.rejected:
            return Solution(Status.ERROR, "highs", 0.0, message="HiGHS rejected the model (invalid coefficients)")
        n_row, n_col = self.lp.A.shape
        if n_col == 0:  # nothing can be spent (a zero budget): HiGHS calls this model empty
            ok = bool(np.all(self.lp.row_lower <= 0) and np.all(self.lp.row_upper >= 0))
            return Solution(Status.OPTIMAL if ok else Status.INFEASIBLE, "highs", 0.0, x=np.zeros(0) if ok else None,
                            row_dual=np.zeros(n_row) if ok else None, objective=0.0 if ok else None,
                            message="empty model")
        h.setOptionValue("time_limit", float(time_limit))
        t0 = time.perf_counter()
        h.run()
        secs = time.perf_counter() - t0
        ms = h.getModelStatus()
        M = hs.HighsModelStatus
        status = {M.kOptimal: Status.OPTIMAL, M.kInfeasible: Status.INFEASIBLE, M.kUnbounded: Status.UNBOUNDED,
                  M.kUnboundedOrInfeasible: Status.INFEASIBLE, M.kTimeLimit: Status.TIME_LIMIT,
                  M.kIterationLimit: Status.TIME_LIMIT}.get(ms, Status.ERROR)
        sol = Solution(status, "highs", secs, message=h.modelStatusToString(ms))
        info = h.getInfo()
        if status in (Status.OPTIMAL, Status.TIME_LIMIT) and info.primal_solution_status >= 1:
            s = h.getSolution()
            sol.x = np.asarray(s.col_value, dtype=float) * self.col_scale
            sol.objective = float(info.objective_function_value) / self.obj_scale
            if self.lp.is_mip:
                sol.mip_gap = float(info.mip_gap)
                sol.mip_bound = float(info.mip_dual_bound) / self.obj_scale
            elif s.dual_valid:
                sol.row_dual = np.asarray(s.row_dual, dtype=float) * self.row_scale / self.obj_scale
        elif status == Status.TIME_LIMIT:
            sol.message = "time limit reached before a feasible plan was found"
        return sol
