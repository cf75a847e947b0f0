"""Response curves (docs/design.md, curves): customers per period, slopes, concavity, best spend.

All functions work on a :class:`CurveSet` (one entry per cell, parameters as arrays) and
are vectorised over cells and spends; there is no Python loop per band.  Chord bands (the
piecewise-linear approximation the LP uses) live in :mod:`planner.core.chords`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planner.core.types import Float, Int

KINDS = ("linear", "saturation", "hill", "log", "power", "points")
LINEAR, SATURATION, HILL, LOG, POWER, POINTS = range(6)


@dataclass(frozen=True)
class CurveSet:
    """Parameters of K response curves.

    ``a``, ``b``, ``s`` are NaN where a family does not use them (a blank linear cap is
    ``inf``).  Points curves keep their (spend, customers) knots in flat arrays:
    ``pts_x[pts_start[k]:pts_start[k+1]]`` for cell k, sorted by spend, excluding (0, 0).
    """

    kind: Int
    a: Float
    b: Float
    s: Float
    pts_start: Int
    pts_x: Float
    pts_y: Float

    @classmethod
    def build(
        cls,
        kinds: list[str],
        a: list[float | None],
        b: list[float | None],
        s: list[float | None],
        points: dict[int, list[tuple[float, float]]] | None = None,
    ) -> CurveSet:
        kind = np.array([KINDS.index(k) for k in kinds], dtype=np.int64)
        fa = np.array([np.nan if v is None else v for v in a], dtype=float)
        fa = np.where((kind == LINEAR) & np.isnan(fa), np.inf, fa)
        fb = np.array([np.nan if v is None else v for v in b], dtype=float)
        fs = np.array([1.0 if v is None else v for v in s], dtype=float)
        points = points or {}
        counts = np.zeros(len(kinds), dtype=np.int64)
        xs: list[float] = []
        ys: list[float] = []
        for k in range(len(kinds)):
            knots = sorted(p for p in points.get(k, []) if p[0] > 0)
            counts[k] = len(knots)
            xs.extend(p[0] for p in knots)
            ys.extend(p[1] for p in knots)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(kind, fa, fb, fs, start, np.array(xs, float), np.array(ys, float))

    def __len__(self) -> int:
        return len(self.kind)

    def concave(self) -> NDArray[np.bool_]:
        """True where f is concave on [0, ∞) so that chord bands fill in order."""
        memo = self.__dict__.get("_concave")
        if memo is None:  # computed once (a loop over points curves); frozen, so set past __setattr__
            memo = self.__dict__["_concave"] = self._concave()
        return memo.copy()

    def _concave(self) -> NDArray[np.bool_]:
        ok = np.ones(len(self), dtype=bool)
        ok[(self.kind == HILL) & (self.s > 1)] = False
        ok[(self.kind == POWER) & (self.s > 1)] = False
        for k in np.flatnonzero(self.kind == POINTS):
            x, y = self.knots(k)
            with np.errstate(over="ignore"):  # a knot at 5e-324 has an infinite first slope
                slopes = np.diff(y) / np.diff(x)
            ok[k] = bool(np.all(np.diff(slopes) <= 1e-12 * (1 + np.abs(slopes[:-1]))))
        return ok

    def knots(self, k: int) -> tuple[Float, Float]:
        """Knots of a points curve including the origin."""
        lo, hi = self.pts_start[k], self.pts_start[k + 1]
        return (np.concatenate([[0.0], self.pts_x[lo:hi]]), np.concatenate([[0.0], self.pts_y[lo:hi]]))

    def inflection(self) -> Float:
        """Inflection spend of S-shaped hill curves (NaN elsewhere)."""
        out = np.full(len(self), np.nan)
        m = (self.kind == HILL) & (self.s > 1)
        out[m] = self.b[m] * ((self.s[m] - 1) / (self.s[m] + 1)) ** (1 / self.s[m])
        return out


def _gather(cs: CurveSet, cell: Int, x: Float, floor: float) -> tuple[Int, Float, Int, Float, Float, Float]:
    """Cells and spends broadcast together (spend at least ``floor``), with each one's kind,
    ``a``, ``b`` and shape."""
    cell = np.asarray(cell, dtype=np.int64)
    x = np.maximum(np.asarray(x, dtype=float), floor)
    cell, x = np.broadcast_arrays(cell, x)
    return cell, x, cs.kind[cell], cs.a[cell], cs.b[cell], cs.s[cell]


def response(cs: CurveSet, cell: Int, x: Float) -> Float:
    """Customers per period ``f_k(x)`` (before seasonality) for cells ``cell`` at spends ``x``."""
    cell, x, kind, a, b, s = _gather(cs, cell, x, floor=0.0)
    out = np.zeros(x.shape)
    with np.errstate(all="ignore"):
        m = kind == LINEAR
        out[m] = np.minimum(a[m], x[m] / b[m])
        m = kind == SATURATION
        out[m] = a[m] * -np.expm1(-x[m] / b[m])
        m = kind == HILL
        u = (x[m] / b[m]) ** s[m]
        out[m] = a[m] * u / (1.0 + u)
        m = kind == LOG
        out[m] = a[m] * np.log1p(x[m] / b[m])
        m = kind == POWER
        out[m] = a[m] * (x[m] / b[m]) ** s[m]
    m = kind == POINTS
    if m.any():
        out[m] = _points_eval(cs, cell[m], x[m])
    return out


def infinite_first_slope(cs: CurveSet, cell: Int) -> NDArray[np.bool_]:
    """True where ``f_k'(0)`` is infinite: hill and power curves of shape below 1."""
    cell = np.asarray(cell, dtype=np.int64)
    kind = cs.kind[cell]
    return ((kind == HILL) | (kind == POWER)) & (cs.s[cell] < 1.0) & (cs.a[cell] > 0)


def derivative(cs: CurveSet, cell: Int, x: Float) -> Float:
    """``f_k'(x)``: customers per extra unit of money (right derivative at kinks)."""
    cell, x, kind, a, b, s = _gather(cs, cell, x, floor=0.0)
    out = np.zeros(x.shape)
    with np.errstate(all="ignore"):
        m = kind == LINEAR
        out[m] = np.where(x[m] < a[m] * b[m] * (1 - 1e-12), 1.0 / b[m], 0.0)
        m = kind == SATURATION
        out[m] = a[m] / b[m] * np.exp(-x[m] / b[m])
        m = kind == HILL
        xm = np.maximum(x[m], 1e-300)
        u = (xm / b[m]) ** s[m]
        out[m] = a[m] * s[m] * u / (xm * (1.0 + u) ** 2)
        m = kind == LOG
        out[m] = a[m] / (b[m] + x[m])
        m = kind == POWER
        xm = np.maximum(x[m], 1e-300)
        out[m] = a[m] * s[m] / b[m] * (xm / b[m]) ** (s[m] - 1)
    m = kind == POINTS
    if m.any():
        out[m] = _points_slope(cs, cell[m], x[m])
    return out


def second_derivative(cs: CurveSet, cell: Int, x: Float) -> Float:
    """``f_k''(x)`` for the smooth families (0 for linear and points)."""
    cell, x, kind, a, b, s = _gather(cs, cell, x, floor=1e-300)
    out = np.zeros(x.shape)
    with np.errstate(all="ignore"):
        m = kind == SATURATION
        out[m] = -a[m] / b[m] ** 2 * np.exp(-x[m] / b[m])
        m = kind == HILL
        u = (x[m] / b[m]) ** s[m]
        out[m] = a[m] * s[m] * u * ((s[m] - 1) - (s[m] + 1) * u) / (x[m] ** 2 * (1 + u) ** 3)
        m = kind == LOG
        out[m] = -a[m] / (b[m] + x[m]) ** 2
        m = kind == POWER
        out[m] = a[m] * s[m] * (s[m] - 1) / b[m] ** 2 * (x[m] / b[m]) ** (s[m] - 2)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _points_segment(cs: CurveSet, cell: Int, x: Float) -> tuple[Float, Float, Float, Int, Int]:
    """For each (cell, x) of points curves: the knot segment holding x (right-continuous).

    Returns (x0, y0, slope, count, n): the segment's start and slope (0 past the last
    knot), the number of positive knots at or below x and the cell's number of knots.
    Vectorised over queries with one pass per knot position (cells have few knots).
    """
    lo, hi = cs.pts_start[cell], cs.pts_start[cell + 1]
    n = hi - lo
    if not len(cs.pts_x):
        z = np.zeros(len(cell))
        return z, z, z, n, n
    count = np.zeros(len(cell), dtype=np.int64)
    for j in range(int(n.max(initial=0))):
        idx = np.minimum(lo + j, len(cs.pts_x) - 1)
        count += (j < n) & (cs.pts_x[idx] <= x)
    has_prev = count > 0
    prev = np.maximum(lo + count - 1, 0)
    x0 = np.where(has_prev, cs.pts_x[prev], 0.0)
    y0 = np.where(has_prev, cs.pts_y[prev], 0.0)
    inside = count < n
    nxt = np.minimum(lo + count, len(cs.pts_x) - 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slope = np.where(inside, (cs.pts_y[nxt] - y0) / (cs.pts_x[nxt] - x0), 0.0)
    return x0, y0, slope, count, n


def _points_eval(cs: CurveSet, cell: Int, x: Float) -> Float:
    if not len(cell):
        return np.zeros(0)
    x0, y0, slope, _, _ = _points_segment(cs, cell, x)
    with np.errstate(invalid="ignore"):  # inf·0 at a knot with an infinite slope before it
        return np.where(x > x0, y0 + slope * (x - x0), y0)  # flat after the last knot (slope 0)


def _points_slope(cs: CurveSet, cell: Int, x: Float) -> Float:
    if not len(cell):
        return np.zeros(0)
    return _points_segment(cs, cell, x)[2]


def tangent_point(cs: CurveSet, cell: Int, lo: Float, hi: Float, g: Float) -> Float:
    """Where ``f'(x) = g`` on each band ``[lo, hi]``: the chord's largest gap.

    Closed forms for saturation, log and power; bisection for hill (``f' − g`` changes sign
    once on a band that is wholly concave or convex).
    """
    kind, a, b, s = cs.kind[cell], cs.a[cell], cs.b[cell], cs.s[cell]
    x = lo.copy()
    with np.errstate(all="ignore"):
        m = kind == SATURATION
        x[m] = b[m] * np.log(a[m] / (b[m] * g[m]))
        m = kind == LOG
        x[m] = a[m] / g[m] - b[m]
        m = (kind == POWER) & (s != 1.0)
        x[m] = b[m] * (g[m] * b[m] / (a[m] * s[m])) ** (1.0 / (s[m] - 1.0))
    h = np.flatnonzero(kind == HILL)
    if len(h):
        x[h] = _hill_root(cs, cell[h], lo[h].copy(), hi[h].copy(), g[h])
    return np.clip(np.nan_to_num(x, nan=0.0), lo, hi)


def _hill_root(cs: CurveSet, c: Int, u: Float, v: Float, g: Float) -> Float:
    """Root of ``f' − g`` in ``[u, v]`` (one sign change): Newton steps kept inside a
    shrinking bracket, bisection where a step would leave it.  Converges in a handful of
    derivative evaluations where plain bisection takes 52."""
    sign_lo = np.sign(derivative(cs, c, u + 1e-12 * (v - u)) - g)
    x = 0.5 * (u + v)
    # the chord's gap is flat at the root: an error δ in x changes it by O(f''·δ²)
    tol = 1e-12 * (v - u)
    for _ in range(60):
        d = derivative(cs, c, x) - g
        same = np.sign(d) == sign_lo
        u = np.where(same, x, u)
        v = np.where(same, v, x)
        with np.errstate(all="ignore"):
            step = x - d / second_derivative(cs, c, x)
        done = (np.abs(step - x) <= tol) | (v - u <= tol)
        inside = np.isfinite(step) & (step >= u) & (step <= v)
        x = np.where(done, x, np.where(inside, step, 0.5 * (u + v)))
        if done.all():
            break
    return x


def best_spend(cs: CurveSet, cell: Int, cap: Float, price: Float, steps: int = 48) -> Float:
    """``argmax f_k(x) − price·x`` over ``[0, cap]`` for concave curves, vectorised.

    Closed forms for saturation, log, power and linear (where ``f' = price``), the knots of
    points curves, and ``steps`` bisections of hill's (monotone) derivative.  A price ≤ 0
    buys the cap.
    """
    return BestSpend(cs, cell, cap)(price, steps)


class BestSpend:
    """:func:`best_spend` for fixed cells and caps, called at many prices (the split by
    curve family and the parameters are gathered once)."""

    def __init__(self, cs: CurveSet, cell: Int, cap: Float):
        cell = np.asarray(cell, dtype=np.int64)
        self.cap = np.asarray(cap, dtype=float)
        kind, s = cs.kind[cell], cs.s[cell]
        lin = (kind == LINEAR) | ((kind == POWER) & (s == 1.0))
        groups = {"sat": kind == SATURATION, "log": kind == LOG, "pow": (kind == POWER) & ~lin,
                  "lin": lin, "hill": kind == HILL, "pts": kind == POINTS}
        self.idx = {k: np.flatnonzero(m) for k, m in groups.items()}
        self.par = {k: (cs.a[cell[i]], cs.b[cell[i]], cs.s[cell[i]], self.cap[i]) for k, i in self.idx.items()}
        a, b, _, c = self.par["lin"]
        is_lin = kind[self.idx["lin"]] == LINEAR
        self.lin_slope = np.where(is_lin, 1.0 / b, a / b)
        self.lin_end = np.minimum(np.where(is_lin, a * b, np.inf), c)
        i = self.idx["pts"]
        self.pts = (cs.pts_start[cell[i]], np.diff(cs.pts_start)[cell[i]], cs.pts_x, cs.pts_y)

    def jumps(self) -> tuple[Int, Float]:
        """``(position, price)`` of every price at which a cell's best spend jumps: a
        linear curve's slope, each segment slope of a points curve (prices as in
        :meth:`__call__`, per unit of the cell's weight)."""
        i = self.idx["lin"]
        live = self.lin_end > 0
        j = self.idx["pts"]
        start, n, px, py = self.pts
        owner = np.repeat(np.arange(len(j)), n)
        first = np.repeat(start, n)
        at = first + np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
        x_prev = np.where(at > first, px[np.maximum(at - 1, 0)], 0.0)
        y_prev = np.where(at > first, py[np.maximum(at - 1, 0)], 0.0)
        with np.errstate(all="ignore"):
            slope = (py[at] - y_prev) / (px[at] - x_prev)
        ok = np.isfinite(slope) & (slope > 0) & (x_prev < self.cap[j][owner])
        return (np.concatenate([i[live], j[owner[ok]]]),
                np.concatenate([self.lin_slope[live], slope[ok]]))

    def __call__(self, price: Float, steps: int = 48) -> Float:
        price = np.asarray(price, dtype=float)
        x = np.zeros(len(self.cap))
        with np.errstate(all="ignore"):
            i, (a, b, s, c) = self.idx["sat"], self.par["sat"]
            x[i] = b * np.log(a / (b * price[i]))
            i, (a, b, s, c) = self.idx["log"], self.par["log"]
            x[i] = a / price[i] - b
            i, (a, b, s, c) = self.idx["pow"], self.par["pow"]
            x[i] = b * (price[i] * b / (a * s)) ** (1.0 / (s - 1.0))
            i = self.idx["lin"]
            x[i] = np.where(self.lin_slope > price[i], self.lin_end, 0.0)
            i, (a, b, s, c) = self.idx["hill"], self.par["hill"]
            x[i] = _hill_best(a, b, s, c, price[i], steps)
        i = self.idx["pts"]
        if len(i):  # concave knots: stop after the last segment whose slope beats the price
            start, n, px, py = self.pts
            g = price[i]
            count = np.zeros(len(i), dtype=np.int64)
            x_prev, y_prev = np.zeros(len(i)), np.zeros(len(i))
            for j in range(int(n.max(initial=0))):  # one pass per knot position (few knots)
                at = np.minimum(start + j, len(px) - 1)
                count += (j < n) & (count == j) & ((py[at] - y_prev) > g * (px[at] - x_prev))
                x_prev, y_prev = px[at], py[at]
            x[i] = np.where(count > 0, px[np.maximum(start + count - 1, 0)], 0.0)
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), 0.0, self.cap)
        return np.where(price > 0, x, self.cap)


def _hill_best(a: Float, b: Float, s: Float, cap: Float, g: Float, steps: int) -> Float:
    """Where hill's slope ``f' = a·s·u / (x·(1+u)²)``, ``u = (x/b)^s``, equals ``g``.

    Shape 1: closed form.  Shape < 1: Newton on ``log f'(e^v) − log g``, which is concave
    and falls with slope at most ``s − 1 < 0`` in ``v = log x``; started right of the root
    (from the curve's asymptotes) it falls monotonically onto it in a few steps
    (``steps // 6``, at least 3).  Shape > 1 (not concave): ``steps`` bisections.
    """
    x = np.zeros(len(a))
    with np.errstate(all="ignore"):
        one = s == 1.0
        x[one] = np.sqrt(a[one] * b[one] / g[one]) - b[one]
        low = s < 1.0
        if low.any():
            al, bl, sl, gl = a[low], b[low], s[low], g[low]
            log_b = np.log(bl)
            const = np.log(al * sl / gl) - sl * log_b
            # both asymptotes (u ≪ 1 and u ≫ 1) overstate f', so each puts the start to the
            # right of the root: Newton then falls monotonically onto it
            v = np.minimum(const / (1.0 - sl), (const + 2.0 * sl * log_b) / (1.0 + sl))
            for _ in range(max(3, steps // 6)):  # 8 for the default 48 steps
                su = sl * (v - log_b)
                h = const + (sl - 1.0) * v - 2.0 * np.logaddexp(0.0, su)
                dh = (sl - 1.0) - 2.0 * sl / (1.0 + np.exp(-su))
                v = v - h / dh
            x[low] = np.exp(v)
        high = np.flatnonzero(s > 1.0)
        if len(high):
            ah, bh, sh, gh = a[high], b[high], s[high], g[high]
            lo, hi = np.zeros(len(high)), cap[high].copy()
            for _ in range(steps):
                mid = 0.5 * (lo + hi)
                u = (mid / bh) ** sh
                up = ah * sh * u / (mid * (1.0 + u) ** 2) > gh
                lo = np.where(up, mid, lo)
                hi = np.where(up, hi, mid)
            x[high] = hi
    return x
