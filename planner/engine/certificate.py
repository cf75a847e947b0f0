"""A certified bound on how far the plan is from the true optimum.

For concave curves the LP's duals ``μ`` give a Lagrangian relaxation of the *true*
problem: for every feasible spend ``x``, ``G(x) ≤ Σ_kt max_{0≤x≤X_k} φ_kt(x) + Σ μ·b`` with
``φ_kt(x) = C1·σ·f(x) − C2·x`` separable per cell-period.  Each 1-D maximum is found
exactly on the real curve, so ``bound − G(plan)`` bounds the gap to the true optimum.  A
cell-period's customers may be anything up to its curve (``max(C1, 0)`` in ``φ``): a plan
may spend past a binding prospects or at-risk cap, whose excess customers the report
scales away, e.g. to make room under a share ceiling elsewhere; allowing fewer customers
everywhere only enlarges the relaxed set, so the bound stays a bound.  It is
never looser than the chord-error bound ``Σ V·σ·err`` on the cells that matter and much tighter when
most cells are idle.  Non-concave (MIP) scenarios use the chord-error formula plus the MIP gap.
"""

from __future__ import annotations

import numpy as np

from planner.core.curves import POINTS, BestSpend, CurveSet, response, second_derivative
from planner.core.linear_program import VALUE_TIE_BREAK, Model
from planner.core.rows import Float
from planner.core.scenario_arrays import ACQ, Index
from planner.core.types import Int


def lagrangian_bound(model: Model, row_dual: Float) -> float:
    """Upper bound on the true optimum of the maximised objective (see module doc)."""
    return lagrangian(model, row_dual)[0]


def lagrangian(model: Model, row_dual: Float, w_spend: Float | None = None) -> tuple[float, Float]:
    """(Upper bound, the spend per cell-period that attains each 1-D maximum).

    The spend is where every cell-period would go on its real curve at these prices: a
    frontier re-run centres its next chord window there.  ``w_spend`` replaces the model's
    weight on spend (the bound of another objective at the same duals: any duals bound).
    """
    c1, c2, mu, rhs = prices(model, row_dual, w_spend)
    if not np.isfinite(c1).all():
        return float("inf"), np.zeros(len(c1))
    best, arg = respond(model.ix, c1, c2, kept_caps(model))
    return float(best.sum() + mu @ rhs), arg


def kept_caps(model: Model) -> Float:
    """Each cell-period's chord domain, narrowed by the spend-only upper limits that can be
    kept inside the 1-D maxima instead of priced: a limit on one cell-period's spend, and a
    limit of 0 on a set's spend.  Any plan meets them, so the bound stays a bound; priced
    instead, a forced 0 on a curve with an infinite slope at 0 (hill or power, shape < 1)
    leaves a finite price that the real curve beats, and the bound stays loose for good.
    """
    rows = model.rows
    n = len(rows)
    cap = model.cap_kt.copy()
    kt, row, a_spend, a_cust = rows.by_cell_period
    upper = model.lp.row_upper[:n]
    def having(term: np.ndarray) -> np.ndarray:
        """Rows with an auxiliary column or a (cell-period, row) entry where ``term`` holds."""
        out = np.zeros(n, dtype=bool)
        np.logical_or.at(out, row, term)
        out[rows.aux_row] = True
        return out

    mixed = having((a_cust != 0) | (a_spend <= 0))  # a customer term or a spend term ≤ 0
    count = np.bincount(row, minlength=n)
    keep = ~mixed & np.isfinite(upper) & ((count == 1) | (upper <= 0))
    m = keep[row]
    np.minimum.at(cap, kt[m], np.maximum(upper[row[m]], 0.0) / a_spend[m])
    # a row of non-negative terms capped at 0 (``new customers ≤ 0``) forces every term to
    # 0: a cell-period whose customers it counts spends nothing where its curve rises from 0
    signed = having((a_cust < 0) | (a_spend < 0))
    zero = ~signed & (upper <= 0)
    curves = model.ix.curves
    rising = (curves.kind != POINTS) & ~(curves.a <= 0)
    m = zero[row] & (a_cust > 0) & rising[model.ix.kt_cell[kt]]
    cap[kt[m]] = 0.0
    # a user's upper limit on customers (terms all positive) limits each acquisition
    # cell-period in it, where no prospects cap can scale its customers down, on its own:
    # ``σ·f(x) ≤ u`` is a limit on its spend (a plan pays for every customer its spend
    # buys; priced instead, customers ``y < f(x)`` stay open to the relaxation and leave it
    # loose for good: the optimum under two 50 % shares and a ceiling of 0.0625 new
    # customers was certified only to 0.11 %, with the ceiling on two cells to 0.32 %)
    ix = model.ix
    user = np.asarray(rows.kind, dtype=object) == "user"
    alone = user & ~having((a_spend != 0) | (a_cust <= 0)) & np.isfinite(upper)
    m = alone[row]
    m[m] = (ix.kt_prog[kt[m]] == ACQ) & ~np.isfinite(ix.prospects[ix.kt_seg[kt[m]]])
    if m.any():
        k = kt[m]
        most = np.maximum(upper[row[m]], 0.0) / (a_cust[m] * ix.kt_sigma[k])
        np.minimum.at(cap, k, spend_for(ix.curves, ix.kt_cell[k], most, cap[k]))
    return cap


def spend_for(cs: CurveSet, cell: Int, most: Float, cap: Float, steps: int = 64) -> Float:
    """The least spend in ``[0, cap]`` at or past which the curve buys more than ``most``
    (``cap`` where it never does): every spend with ``f(x) ≤ most`` lies below it."""
    lo, hi = np.zeros(len(cap)), cap.astype(float).copy()
    over = response(cs, cell, hi) > most
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        below = response(cs, cell, mid) <= most
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(over, hi, cap)


def prices(model: Model, row_dual: Float, w_spend: Float | None = None) -> tuple[Float, Float, Float, Float]:
    """Per cell-period weights ``(c1, c2)`` of ``φ = c1·σ·f(x) − c2·x`` at the LP's duals,
    with the duals ``μ`` (∂ max objective / ∂ bound, sign-checked) and the bounds they price.

    ``c1`` is ``inf`` where no finite bound exists (an auxiliary column priced below zero).
    """
    rows = model.rows
    n = len(rows)
    mu = -np.asarray(row_dual[:n], dtype=float)  # ∂(max objective)/∂rhs
    # the LP's own row bounds: a re-run changes the budget row, and a full budget is an
    # equality (its dual may take either sign)
    lower, upper = model.lp.row_lower[:n], model.lp.row_upper[:n]
    mu = np.where(np.isfinite(upper), mu, np.minimum(mu, 0.0))
    mu = np.where(np.isfinite(lower), mu, np.maximum(mu, 0.0))
    rhs = np.where(mu > 0, upper, np.where(mu < 0, lower, 0.0))
    c1, c2 = weights(model, mu, w_spend)
    if len(rows.aux_row):
        aux_red = np.zeros(model.n_aux)
        np.add.at(aux_red, rows.aux_col, mu[rows.aux_row] * rows.aux_coef)
        if (aux_red < -1e-7 * (1 + np.abs(mu).max())).any():
            c1[:] = np.inf
    return c1, c2, mu, rhs


def weights(model: Model, mu: Float, w_spend: Float | None = None) -> tuple[Float, Float]:
    """``(c1, c2)`` per cell-period at row prices ``mu`` (max form): the objective's
    weights on customers and spend less what the rows charge for them."""
    rows = model.rows
    c1 = model.w_cust.copy()
    c2 = (model.w_spend if w_spend is None else w_spend).copy()
    np.subtract.at(c1, rows.e_kt, mu[rows.e_row] * rows.e_cust)
    np.add.at(c2, rows.e_kt, mu[rows.e_row] * rows.e_spend)
    return c1, c2


def respond(ix: Index, c1: Float, c2: Float, cap: Float, steps: int = 48) -> tuple[Float, Float]:
    """Each cell-period's best ``φ = c1·σ·f(x) − c2·x`` on ``[0, cap]`` and where it is
    (``steps`` bisections where there is no closed form)."""
    arg = best_response(ix, c1, c2, cap, steps)
    phi = np.maximum(c1 * ix.kt_sigma, 0.0) * response(ix.curves, ix.kt_cell, arg) - c2 * arg
    return np.maximum(phi, 0.0), np.where(phi > 0, arg, 0.0)


def best_response(ix: Index, c1: Float, c2: Float, cap: Float, steps: int = 48) -> Float:
    """Where each cell-period's ``φ = c1·σ·f(x) − c2·x`` is largest on ``[0, cap]``."""
    return Responder(ix, c1, cap)(c2, steps)


class Responder:
    """:func:`best_response` for fixed ``c1`` and caps, at many spend prices ``c2``.

    Where ``c1·σ > 0``, φ is concave and its maximum is where the curve's slope equals the
    price; elsewhere customers are worth nothing (none are counted: see the module doc)
    and spend goes to the cap where its price is negative, else to 0.
    """

    def __init__(self, ix: Index, c1: Float, cap: Float):
        w = c1 * ix.kt_sigma
        self.n = len(w)
        self.inner = np.flatnonzero((w > 0) & (cap > 0))
        self.w_inner = w[self.inner]
        self.fit = BestSpend(ix.curves, ix.kt_cell[self.inner], cap[self.inner])
        self.ends = np.flatnonzero((w <= 0) & (cap > 0))
        self.top = cap[self.ends]

    def __call__(self, c2: Float, steps: int = 48) -> Float:
        arg = np.zeros(self.n)
        arg[self.inner] = self.fit(c2[self.inner] / self.w_inner, steps)
        arg[self.ends] = np.where(c2[self.ends] < 0, self.top, 0.0)
        return arg


def value_gap(model: Model, row_dual: Float | None, spend: Float, cust: Float, lp_gap: float) -> float:
    """The certified gap in *value* of a plan under the ``value`` objective.

    The LP maximises value less ``VALUE_TIE_BREAK`` per unit of discounted money (so money
    is not parked on flat chords); its gap ``lp_gap`` bounds that objective, not the value
    the planner reads.  Where value per unit of money is itself tiny (10 customers of value
    1 against 20 000 of budget) the tie-break leaves value unbought that the certificate
    must own up to.  Two bounds, the tighter kept: the Lagrangian bound with no weight on
    spend at the same duals (any duals bound), and ``lp_gap`` plus the tie-break's price
    of all the discounted money the plan left unspent.
    """
    ix = model.ix
    value = float(model.w_cust @ cust)
    budget = float(model.lp.row_upper[0])
    unspent = float(ix.kt_discount.max(initial=1.0)) * budget - float(ix.kt_discount @ spend)
    gap = lp_gap + VALUE_TIE_BREAK * max(0.0, unspent) if np.isfinite(budget) else float("inf")
    if row_dual is not None and np.isfinite(row_dual).all():
        upper = lagrangian(model, row_dual, np.zeros_like(model.w_spend))[0]
        gap = min(gap, max(0.0, upper - value))
    return gap


def formula_bound(model: Model) -> float:
    """The chord-error bound ``Σ_kt |w|·σ·err_k`` (doubled for non-concave cells)."""
    ix = model.ix
    err = np.where(ix.curves.concave()[ix.kt_cell], 1.0, 2.0) * model.err_kt
    w = np.abs(model.w_cust) * ix.kt_sigma
    return float(np.sum(w * np.where(w > 0, err, 0.0)))  # window chords have no error bound (inf)


def mip_gap_bound(model: Model, sol, true_objective: float) -> float:
    """Bound for models with S-shaped cells (no Lagrangian certificate there).

    The true optimum is at most the MIP's dual bound on the chord problem plus, per
    cell-period, the largest amount the curve rises *above* its chords (concave bands;
    on convex bands the chord lies above the curve).  The plan's value is evaluated on the
    real curves, so the difference bounds the gap.
    """
    ix, bands = model.ix, model.bands
    mid = bands.lo + 0.5 * bands.width
    concave_band = second_derivative(ix.curves, bands.cell, mid) <= 0
    over = np.zeros(ix.K)
    np.maximum.at(over, bands.cell, np.where(concave_band, bands.err, 0.0))
    extra = float(np.sum(np.abs(model.w_cust) * ix.kt_sigma * over[ix.kt_cell]))
    if sol.mip_bound is not None and np.isfinite(sol.mip_bound):
        chord_upper = -sol.mip_bound  # min form → maximised objective
    elif sol.objective is not None:
        chord_upper = -sol.objective  # CBC via PuLP reports no bound: optimal within its gap
    else:
        return float("inf")
    return max(0.0, chord_upper + extra - true_objective)
