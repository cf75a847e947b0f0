"""Better duals for the certificate: minimise the Lagrangian bound over the row prices.

The bound of :mod:`.certificate` holds at *any* row prices ``μ`` (of the right signs), and
it is a convex function of them.  The chord LP's duals are where a plan's certificate
starts; where the chords' prices are off (a band-order MIP's fixed bands, a ceiling on
customers priced above what they are worth) the bound stays loose although the plan is
the optimum.  :func:`polish` walks the prices downhill: a quasi-Newton pass (L-BFGS-B on
the bound and its gradient, the row activity of the 1-D maxima), then a few cycles of
exact line searches one row at a time, which pass the kinks where a cell's customers stop
counting.  Auxiliary totals keep a zero reduced cost: the price of each definition row
follows from the others, so the bound stays finite.  Every evaluation is a bound, and the
smallest one found is returned: the method only ever tightens the certificate.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

from planner.core.curves import response
from planner.core.linear_program import Model
from planner.core.rows import Float
from planner.engine.certificate import kept_caps, respond, weights

#: line searches per row per cycle (golden section), and cycles over the priced rows
LINE_STEPS, CYCLES = 40, 3


class DualFunction:
    """The Lagrangian bound as a function of the free row prices ``z`` (max-form duals of
    the rows that have a finite limit, definition rows excepted), with its gradient."""

    def __init__(self, model: Model, w_spend: Float | None = None):
        rows, n = model.rows, len(model.rows)
        self.model, self.rows, self.n, self.w_spend = model, rows, n, w_spend
        self.lower, self.upper = model.lp.row_lower[:n], model.lp.row_upper[:n]
        definition = np.asarray(rows.kind, dtype=object) == "definition"
        self.cap = kept_caps(model)
        self.def_of = np.full(model.n_aux, -1)
        on_def = definition[rows.aux_row]
        self.def_of[rows.aux_col[on_def]] = rows.aux_row[on_def]
        self.other = ~on_def
        ok = model.n_aux == 0 or ((self.def_of >= 0).all() and np.allclose(rows.aux_coef[on_def], 1.0))
        self.usable = bool(ok)
        self.idx = np.flatnonzero(~definition & (np.isfinite(self.lower) | np.isfinite(self.upper)))
        self.lo = np.where(np.isfinite(self.lower[self.idx]), -np.inf, 0.0)
        self.hi = np.where(np.isfinite(self.upper[self.idx]), np.inf, 0.0)
        self.best = np.inf

    def full(self, z: Float) -> Float:
        mu = np.zeros(self.n)
        mu[self.idx] = z
        if self.model.n_aux:
            red = np.zeros(self.model.n_aux)
            o = self.other
            np.add.at(red, self.rows.aux_col[o], mu[self.rows.aux_row[o]] * self.rows.aux_coef[o])
            mu[self.def_of] = -red  # each total's reduced cost is zero: its bound stays finite
        return mu

    def __call__(self, z: Float) -> tuple[float, Float]:
        model, rows, ix = self.model, self.rows, self.model.ix
        mu = self.full(z)
        rhs = np.where(mu > 0, self.upper, np.where(mu < 0, self.lower, 0.0))
        c1, c2 = weights(model, mu, self.w_spend)
        val, arg = respond(ix, c1, c2, self.cap)
        counted = (c1 > 0) & (arg > 0)
        y = np.zeros(len(arg))
        y[counted] = ix.kt_sigma[counted] * response(ix.curves, ix.kt_cell[counted], arg[counted])
        act = np.zeros(self.n)
        np.add.at(act, rows.e_row, rows.e_spend * arg[rows.e_kt] + rows.e_cust * y[rows.e_kt])
        grad = rhs - act  # rhs is finite: a price is 0 where its side has no bound
        if model.n_aux:  # through the definition rows' prices
            o = self.other
            g_def = grad[self.def_of]
            np.add.at(grad, rows.aux_row[o], -g_def[rows.aux_col[o]] * rows.aux_coef[o])
        value = float(val.sum() + mu @ rhs)
        if np.isfinite(value):
            self.best = min(self.best, value)
        return value, grad[self.idx]


def polish(model: Model, row_dual: Float, seconds: float, w_spend: Float | None = None) -> float:
    """The smallest Lagrangian bound found from the duals ``row_dual`` within ``seconds``
    (``inf`` where the rows' auxiliary columns are not the totals this method knows);
    ``w_spend`` replaces the model's weight on spend (the ``value`` objective's bound)."""
    f = DualFunction(model, w_spend)
    if not f.usable or not len(f.idx):
        return float("inf")
    stop = time.perf_counter() + seconds
    z = np.clip(-np.asarray(row_dual[: f.n], dtype=float)[f.idx], f.lo, f.hi)
    f(z)
    res = minimize(f, z, jac=True, method="L-BFGS-B", bounds=list(zip(f.lo, f.hi, strict=True)),
                   options={"maxfun": 50})
    z = np.clip(res.x, f.lo, f.hi) if np.all(np.isfinite(res.x)) else z
    for _ in range(CYCLES):
        before = f.best
        for j in np.argsort(-np.abs(f(z)[1])):
            if time.perf_counter() > stop:
                return f.best
            z[j] = _line(f, z, j)
        if f.best >= before - 1e-12 * (1.0 + abs(before)):
            break
    return f.best


def _line(f: DualFunction, z: Float, j: int) -> float:
    """The bound's minimum over row ``j``'s price (the others held), by bracketing then
    golden section (the bound is convex in each price)."""
    def at(v: float) -> float:
        w = z.copy()
        w[j] = v
        return f(w)[0]

    lo, hi, v0 = f.lo[j], f.hi[j], z[j]
    step = max(abs(v0), 1e-3)
    a, b = max(lo, v0 - step), min(hi, v0 + step)
    fm = at(v0)
    for _ in range(30):  # widen until the ends rise above the middle (or hit the sign bound)
        fa, fb = at(a), at(b)
        grow_a = fa < fm and a > lo
        grow_b = fb < fm and b < hi
        if not (grow_a or grow_b):
            break
        step *= 4
        if grow_a:
            a = max(lo, v0 - step)
        if grow_b:
            b = min(hi, v0 + step)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = at(c), at(d)
    for _ in range(LINE_STEPS):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = at(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = at(d)
    return min([(fm, v0), (fc, c), (fd, d)])[1]
