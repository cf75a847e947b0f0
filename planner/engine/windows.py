"""Chord windows per cell-period: a few bands around where the plan is heading.

A frontier re-run does not need every chord band of every cell: the previous plan and the
prices of its LP say where each cell-period's spend will be.  Each cell-period gets
breakpoints at 0 and its cap, at the spend it is centred on and ``± width`` around it, and at
the spend its real curve asks for at the last prices.  The chords between them are concave
(so the LP fills them in order and stays exact at every breakpoint), and the window
narrows round by round until the certified gap is met (a sequential LP).
"""

from __future__ import annotations

import numpy as np

from planner.core.chords import Bands
from planner.core.curves import CurveSet, response
from planner.core.rows import Float, Int
from planner.core.scenario_arrays import Index
from planner.engine.certificate import Responder


def window_bands(ix: Index, cap_kt: Float, centre: Float, target: Float, width: Float) -> Bands:
    """Per cell-period bands (``Bands.cell`` is ``kt``) with breakpoints at 0, the cap,
    ``centre``, ``centre ± width``, ``centre ± width/4`` and ``target`` (sorted per row)."""
    kt = np.flatnonzero(cap_kt > 0)
    X, c, t, w = cap_kt[kt], centre[kt], target[kt], width[kt]
    z = np.stack([np.zeros(len(kt)), X, c, c - w, c + w, c - w / 4, c + w / 4, t], axis=1)
    z = np.sort(np.clip(z, 0.0, X[:, None]), axis=1)
    # every cell-period keeps all seven columns (empty ones have width 0), so successive
    # window LPs have the same layout and one's simplex basis can start the next
    return grid_bands(ix.curves, ix.kt_cell[kt], kt, z)


def grid_bands(cs: CurveSet, curve: Int, owner: Int, z: Float) -> Bands:
    """Chords between each row's sorted breakpoints ``z`` (one row per ``owner``, on curve
    ``curve``), the curve evaluated once per breakpoint.  Chord errors are not computed
    (``err`` is ``inf``: no bound rests on these chords; the certificate is the Lagrangian
    bound on the real curves).  Empty bands (repeated breakpoints) get slope 0."""
    f = response(cs, np.repeat(curve, z.shape[1]), z.ravel()).reshape(z.shape)
    dz = np.diff(z, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(dz > 0, np.diff(f, axis=1) / np.where(dz > 0, dz, 1.0), 0.0)
    return Bands(np.repeat(owner, dz.shape[1]), z[:, :-1].ravel(), dz.ravel(), slope.ravel(),
                 np.full(dz.size, np.inf))


#: breakpoints of the first LP of a sweep, as shares of each cell's cap: it only has to
#: price the first windows (dense near 0, where curves bend most)
ANCHOR_GRID = np.array([0.0, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0])


def anchor_bands(cs: CurveSet, cap: Float) -> Bands:
    """Chord bands of every cell on a fixed grid of shares of its cap (``ANCHOR_GRID``)."""
    cells = np.flatnonzero(cap > 0)
    return grid_bands(cs, cells, cells, cap[cells][:, None] * ANCHOR_GRID[None, :])


def budget_target(ix: Index, c1: Float, c2: Float, a0: Float, cap: Float, budget: float,
                  full: bool, guess: float) -> Float:
    """Where the real curves would put spend if the budget's price were re-set so that the
    spend meets ``budget`` (every other price held): the first window's centre.

    ``c2`` excludes the budget's price; ``a0`` is the budget row's coefficient per
    cell-period; ``full`` when the whole budget must be spent (the price may be negative).
    """

    if budget <= 0:
        return np.zeros(len(cap))
    respond = Responder(ix, c1, cap)

    def spend_at(lam: float) -> tuple[Float, float]:
        x = respond(c2 + lam * a0, steps=20)
        return x, float(a0 @ x)

    x0, t0 = spend_at(0.0)
    if t0 == budget or (t0 < budget and not full):
        return x0
    scale = max(abs(guess), 1e-6 * float(np.abs(c2).max(initial=1.0)), 1e-12)
    step = scale if t0 > budget else -scale
    a, ta = 0.0, t0
    b, (xb, tb) = step, spend_at(step)
    for _ in range(40):  # bracket: spend falls as the budget's price rises
        if (tb - budget) * (ta - budget) <= 0:
            break
        a, ta = b, tb
        step *= 4
        b, (xb, tb) = step, spend_at(step)
    else:
        return xb
    for _ in range(30):  # Illinois regula falsi on the total spend
        if abs(tb - budget) <= 1e-3 * max(budget, 1e-9):
            break
        m = b - (tb - budget) * (b - a) / (tb - ta) if tb != ta else 0.5 * (a + b)
        xm, tm = spend_at(m)
        if (tm - budget) * (tb - budget) < 0:
            a, ta = b, tb
        else:
            ta = budget + 0.5 * (ta - budget)
        b, xb, tb = m, xm, tm
    return xb
