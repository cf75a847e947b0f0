"""The linear program (docs/design.md §2), built from arrays.

Columns are chord bands per period (``v = t·B + b``), then auxiliary columns (total spend
per period, when a share constraint needs it), then band-order binaries for non-concave
cells.  Rows come from :mod:`planner.core.constraint_rows` at the cell-period level and are expanded
onto bands here, with no Python loop per coefficient.  The LP is always a minimisation;
``obj_sign`` converts back to the scenario's objective (value to maximise, or spend).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from planner.core.chords import Bands
from planner.core.constraint_rows import base_rows, total_spend_aux, user_rows
from planner.core.rows import FrozenRows, Rows
from planner.core.scenario_arrays import Index
from planner.core.types import Float, Int

#: small spend penalty under the ``value`` objective so money is not parked in flat bands.
#: It must be well above the solver's optimality tolerance (1e-7): with 1e-9, a binding
#: upper limit on customers let the LP fill a cell's bands out of order (far, nearly flat
#: chords first) at no visible cost, and the real curve then counted far more customers
#: than the limit.  1e-6 of value per unit of money changes no plan a planner would see.
VALUE_TIE_BREAK = 1e-6


@dataclass
class LinearProgram:
    """``min c·x`` s.t. ``row_lower ≤ A x ≤ row_upper``, ``col_lower ≤ x ≤ col_upper``."""

    c: Float
    col_lower: Float
    col_upper: Float
    A: sp.csc_matrix
    row_lower: Float
    row_upper: Float
    integrality: NDArray[np.bool_]
    obj_sign: float  # reported objective = obj_sign * (c·x)

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape

    @property
    def is_mip(self) -> bool:
        return bool(self.integrality.any())


@dataclass
class Model:
    """An LP with the bookkeeping to map its solution back to cell-periods and rows."""

    ix: Index
    bands: Bands
    rows: FrozenRows
    lp: LinearProgram
    n_band_vars: int
    n_aux: int
    band_start: Int       # first band of each cell
    band_count: Int
    var_kt: Int           # cell-period of each band column
    rate: Float           # customers per unit spend of each band column (σ·slope)
    w_cust: Float         # objective weight on customers per cell-period (max form)
    w_spend: Float        # objective weight on spend per cell-period (max form)
    n_mip_rows: int = 0       # rows after the scenario's (band order, or convexity rows)
    per_period: bool = False  # bands belong to cell-periods (``bands.cell`` is kt), not cells
    #: a column-generation master (:mod:`planner.engine.columns`): each band column runs
    #: from 0 to a point on the curve and a cell-period's columns are mixed (their weights
    #: add up to at most 1), so its domain is its largest point, not the sum
    hull: bool = False
    band_cols: Int | None = None  # where the band columns are, when not first

    def with_own_row_bounds(self) -> Model:
        """This model on a copy of its LP's row bounds (a kept LP is re-solved at other
        budgets while an earlier answer keeps its own)."""
        lp = replace(self.lp, row_lower=self.lp.row_lower.copy(), row_upper=self.lp.row_upper.copy())
        return replace(self, lp=lp)

    def band_x(self, x: Float) -> Float:
        """The band columns' values in ``x`` (in band order)."""
        return x[: self.n_band_vars] if self.band_cols is None else x[self.band_cols]

    @property
    def band_upper(self) -> Float:
        return self.band_x(self.lp.col_upper)

    @property
    def cap_kt(self) -> Float:
        """Chord domain of each cell-period: the most its band columns can hold."""
        if self.hull:
            out = np.zeros(self.ix.K * self.ix.P)
            np.maximum.at(out, self.var_kt, self.band_upper)
            return out
        return np.bincount(self.var_kt, weights=self.band_upper, minlength=self.ix.K * self.ix.P)

    @property
    def err_kt(self) -> Float:
        """Largest chord error (customers, before seasonality) of each cell-period's bands."""
        err = self.bands.err if self.per_period else np.tile(self.bands.err, self.ix.P)
        out = np.zeros(self.ix.K * self.ix.P)
        np.maximum.at(out, self.var_kt, err)
        return out

    def spend(self, x: Float) -> Float:
        """Spend per cell-period from a column vector."""
        return np.bincount(self.var_kt, weights=self.band_x(x), minlength=self.ix.K * self.ix.P)

    def chord_customers(self, x: Float) -> Float:
        return np.bincount(self.var_kt, weights=(self.band_x(x) * self.rate), minlength=self.ix.K * self.ix.P)

    def aux_values(self, spend_kt: Float) -> Float:
        if not self.n_aux:
            return np.zeros(0)
        return np.bincount(self.ix.kt_t, weights=spend_kt, minlength=self.ix.P)


def objective_weights(ix: Index) -> tuple[Float, Float, float]:
    """Per cell-period weights (on customers, on spend) of the maximised objective.

    For ``min_spend`` the maximised objective is ``−spend`` and ``obj_sign`` flips it back.
    """
    st = ix.scenario.settings
    d = ix.kt_discount
    if st.objective == "net_value":
        return ix.kt_value, d, 1.0
    if st.objective == "value":
        return ix.kt_value, VALUE_TIE_BREAK * d, 1.0
    if st.objective == "target_mroi":
        return ix.kt_value, st.target_mroi * d, 1.0
    return np.zeros(ix.K * ix.P), np.ones(ix.K * ix.P), -1.0


def build_rows(ix: Index) -> tuple[FrozenRows, int]:
    rows = Rows()
    base_rows(ix, rows)
    need_aux = user_rows(ix, rows, ix.scenario.constraints)
    n_aux = 0
    if need_aux:
        total_spend_aux(ix, rows)
        n_aux = ix.P
    return rows.freeze(), n_aux


def build_model(ix: Index, bands: Bands, rows: FrozenRows | None = None, n_aux: int | None = None,
                per_period: bool = False, ordered: NDArray[np.bool_] | None = None) -> Model:
    """Assemble the LP for the given chord bands.

    Bands belong to cells and are repeated in every period, or with ``per_period`` to
    cell-periods (``bands.cell`` holds ``kt``; concave curves only, no band-order binaries).
    Non-concave cells, and the cells marked in ``ordered``, get band-order binaries.
    """
    if rows is None or n_aux is None:
        rows, n_aux = build_rows(ix)
    K, P, B = ix.K, ix.P, len(bands)
    n_owner = K * P if per_period else K
    band_count = np.bincount(bands.cell, minlength=n_owner).astype(np.int64)
    band_start = np.concatenate([[0], np.cumsum(band_count)[:-1]]).astype(np.int64)
    if per_period:
        var_kt = np.asarray(bands.cell, dtype=np.int64)
        rate = ix.kt_sigma[var_kt] * bands.slope
        width = bands.width
        nv = B
    else:
        t_of = np.repeat(np.arange(P), B)
        b_of = np.tile(np.arange(B), P)
        var_kt = t_of * K + bands.cell[b_of]
        rate = ix.kt_sigma[var_kt] * bands.slope[b_of]
        width = np.tile(bands.width, P)
        nv = B * P
    w_cust, w_spend, sign = objective_weights(ix)

    n_rows = len(rows)
    indptr, indices, data = band_columns(rows, var_kt, rate, K * P, n_rows)
    if n_aux:
        indptr, indices, data = _append_columns(indptr, indices, data, rows.aux_row, rows.aux_col, rows.aux_coef, n_aux)

    sense = rows.sense
    lower = np.where(sense == "<=", -np.inf, rows.rhs)
    upper = np.where(sense == ">=", np.inf, rows.rhs)
    c = -(w_cust[var_kt] * rate - w_spend[var_kt])
    c = np.concatenate([c, np.zeros(n_aux)])
    col_lower = np.zeros(nv + n_aux)
    col_upper = np.concatenate([width, np.full(n_aux, np.inf)])
    integrality = np.zeros(nv + n_aux, dtype=bool)

    A = sp.csc_matrix((data, indices, indptr), shape=(n_rows, nv + n_aux))
    mip = None if per_period else _band_order_rows(ix, bands, band_start, band_count, nv + n_aux, n_rows, ordered)
    if mip is not None:
        mrow, mcol, mval, mlo, mup, n_bin = mip
        lp_part = A.tocoo()
        row = np.concatenate([lp_part.row, mrow])
        col = np.concatenate([lp_part.col, mcol])
        val = np.concatenate([lp_part.data, mval])
        lower, upper = np.concatenate([lower, mlo]), np.concatenate([upper, mup])
        c = np.concatenate([c, np.zeros(n_bin)])
        col_lower = np.concatenate([col_lower, np.zeros(n_bin)])
        col_upper = np.concatenate([col_upper, np.ones(n_bin)])
        integrality = np.concatenate([integrality, np.ones(n_bin, dtype=bool)])
        A = sp.csc_matrix((val, (row, col)), shape=(len(lower), len(c)))
    n_all_rows = len(lower)
    lp = LinearProgram(c, col_lower, col_upper, A, lower, upper, integrality, -sign)
    return Model(ix, bands, rows, lp, nv, n_aux, band_start, band_count, var_kt, rate,
                 w_cust, w_spend, n_mip_rows=n_all_rows - n_rows, per_period=per_period)


def band_columns(rows: FrozenRows, var_kt: Int, rate: Float, n_kt: int, n_rows: int) -> tuple[Int, Int, Float]:
    """CSC arrays of the band columns, built directly (no COO sort over all nonzeros).

    Every band of a cell-period has the rows of that cell-period, with coefficient
    ``a_spend + a_cust·rate``: the (few) cell-period entries are sorted once per set of
    rows (``FrozenRows.by_cell_period``) and then gathered for each band column.
    """
    u_kt, u_row, u_s, u_c = rows.by_cell_period
    nnz_kt = np.bincount(u_kt, minlength=n_kt)
    kt_start = np.cumsum(nnz_kt) - nnz_kt
    col_nnz = nnz_kt[var_kt]
    indptr = np.r_[0, np.cumsum(col_nnz)]
    total = int(indptr[-1])
    idx = np.repeat(kt_start[var_kt] - indptr[:-1], col_nnz) + np.arange(total)
    indices = u_row[idx]
    data = u_s[idx] + u_c[idx] * np.repeat(rate, col_nnz)
    return indptr, indices, data


def _append_columns(indptr: Int, indices: Int, data: Float, row: Int, col: Int, val: Float,
                    n_new: int) -> tuple[Int, Int, Float]:
    """Add ``n_new`` columns given as (row, col, value) triples to CSC arrays."""
    order = np.lexsort((row, col))
    cnt = np.bincount(col, minlength=n_new)
    new_ptr = indptr[-1] + np.cumsum(cnt)
    return (np.r_[indptr, new_ptr], np.concatenate([indices, row[order]]),
            np.concatenate([data, val[order]]))


def _band_order_rows(ix: Index, bands: Bands, band_start: Int, band_count: Int, first_col: int, first_row: int,
                     ordered: NDArray[np.bool_] | None = None):
    """Band-order binaries for non-concave (and ``ordered``) cells: band j+1 may hold spend
    only when band j is full (``x_{j+1} ≤ w_{j+1} z_j``, ``x_j ≥ w_j z_j``), per period."""
    need = ~ix.curves.concave() if ordered is None else ~ix.curves.concave() | ordered
    bad = np.flatnonzero(need & (band_count > 1))
    if not len(bad):
        return None
    B, P = len(bands), ix.P
    # bands j >= 1 of non-concave cells get a binary z (band j-1 full, band j may start)
    cnt = band_count[bad] - 1
    within = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    idx = np.repeat(band_start[bad], cnt) + 1 + within
    n_bin_p = len(idx)
    rows_r, cols_c, vals_v, lo, up = [], [], [], [], []
    r0 = first_row
    for t in range(P):
        z = first_col + t * n_bin_p + np.arange(n_bin_p)
        x_j = t * B + idx
        x_prev = t * B + idx - 1
        w_j, w_prev = bands.width[idx], bands.width[idx - 1]
        # x_j - w_j z <= 0
        r_a = r0 + np.arange(n_bin_p)
        # x_prev - w_prev z >= 0
        r_b = r0 + n_bin_p + np.arange(n_bin_p)
        rows_r += [r_a, r_a, r_b, r_b]
        cols_c += [x_j, z, x_prev, z]
        vals_v += [np.ones(n_bin_p), -w_j, np.ones(n_bin_p), -w_prev]
        lo += [np.full(n_bin_p, -np.inf), np.zeros(n_bin_p)]
        up += [np.zeros(n_bin_p), np.full(n_bin_p, np.inf)]
        r0 += 2 * n_bin_p
    return (np.concatenate(rows_r), np.concatenate(cols_c), np.concatenate(vals_v),
            np.concatenate(lo), np.concatenate(up), n_bin_p * P)


def undercut_cells(ix: Index, rows: FrozenRows) -> NDArray[np.bool_]:
    """Cells whose customers appear in a row that fewer customers would loosen.

    Only there can an out-of-order fill (which undercounts a cell's customers) buy anything.
    The prospects and at-risk caps are left out: the report scales customers down where
    they bind, so a real plan never breaks them, and an out-of-order fill under a
    binding cap only parks money at zero marginal value (a tie under the ``value`` objective).
    """
    out = np.zeros(ix.K, dtype=bool)
    if not len(rows.e_row):
        return out
    sense = rows.sense[rows.e_row]
    kind = np.asarray(rows.kind, dtype=object)[rows.e_row]
    loosen = np.where(sense == "<=", rows.e_cust > 0, np.where(sense == ">=", rows.e_cust < 0, rows.e_cust != 0))
    hit = loosen & ~np.isin(kind, ["prospects", "at_risk"])
    out[ix.kt_cell[rows.e_kt[hit]]] = True
    return out


def out_of_order(model: Model, x: Float | None) -> NDArray[np.bool_]:
    """Cells where the solution fills a band while an earlier band of the same cell-period
    is not full (possible only when a row rewards fewer customers)."""
    out = np.zeros(model.ix.K, dtype=bool)
    if x is None or model.hull:  # a master's columns are mixed, not filled in order
        return out
    x, width, kt = model.band_x(x), model.band_upper, model.var_kt
    tol = 1e-7 * (1.0 + width)
    bad = (kt[1:] == kt[:-1]) & (x[1:] > tol[1:]) & (x[:-1] < width[:-1] - tol[:-1])
    out[model.ix.kt_cell[kt[1:][bad]]] = True
    return out
