"""A certified bound on how far the plan is from the true optimum.

For concave curves the LP's duals ``μ`` give a Lagrangian relaxation of the *true*
problem: for every feasible spend ``x``, ``G(x) ≤ Σ_kt max_{0≤x≤X_k} φ_kt(x) + Σ μ·b`` with
``φ_kt(x) = C1·σ·f(x) − C2·x`` separable per cell-period.  Each 1-D maximum is found
exactly on the real curve, so ``bound − G(plan)`` bounds the gap to the true optimum.  It is
never looser than DESIGN's ``Σ V·σ·err`` on the cells that matter and much tighter when
most cells are idle.  Non-concave (MIP) scenarios use DESIGN's formula plus the MIP gap.
"""

from __future__ import annotations

import numpy as np

from planner.curves import derivative, evaluate, second_derivative
from planner.model import Model
from planner.rows import Float


def lagrangian_bound(model: Model, row_dual: Float) -> float:
    """Upper bound on the true optimum of the maximised objective (see module doc)."""
    ix, rows = model.ix, model.rows
    n = len(rows)
    mu = -np.asarray(row_dual[:n], dtype=float)  # ∂(max objective)/∂rhs
    sense = rows.sense
    mu = np.where(sense == "<=", np.maximum(mu, 0.0), np.where(sense == ">=", np.minimum(mu, 0.0), mu))
    KP = ix.K * ix.P
    c1 = model.w_cust.copy()
    c2 = model.w_spend.copy()
    np.subtract.at(c1, rows.e_kt, mu[rows.e_row] * rows.e_cust)
    np.add.at(c2, rows.e_kt, mu[rows.e_row] * rows.e_spend)
    if len(rows.aux_row):
        aux_red = np.zeros(model.n_aux)
        np.add.at(aux_red, rows.aux_col, mu[rows.aux_row] * rows.aux_coef)
        if (aux_red < -1e-7 * (1 + np.abs(mu).max())).any():
            return float("inf")
    cap = np.zeros(ix.K)
    np.add.at(cap, model.bands.cell, model.bands.width)
    cell = ix.kt_cell
    X = cap[cell]
    sig = ix.kt_sigma

    def phi(x: Float) -> Float:
        return c1 * sig * evaluate(ix.curves, cell, x) - c2 * x

    best = np.maximum(phi(np.zeros(KP)), phi(X))
    inner = (c1 * sig > 0) & (X > 0)
    if inner.any():
        lo, hi = np.zeros(KP), X.copy()
        target = np.where(inner, c2 / np.where(inner, c1 * sig, 1.0), 0.0)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            up = derivative(ix.curves, cell, mid) > target
            lo = np.where(up, mid, lo)
            hi = np.where(up, hi, mid)
        for x in (lo, hi):
            best = np.where(inner, np.maximum(best, phi(x)), best)
    return float(best.sum() + mu @ rows.rhs)


def formula_bound(model: Model) -> float:
    """DESIGN's bound ``Σ_kt |w|·σ·err_k`` (doubled for non-concave cells)."""
    ix = model.ix
    err = model.bands.cell_error(ix.K)
    err = np.where(ix.curves.concave(), err, 2 * err)
    return float(np.sum(np.abs(model.w_cust) * ix.kt_sigma * err[ix.kt_cell]))


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
