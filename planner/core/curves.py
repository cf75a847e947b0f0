"""Response curves (DESIGN §2): evaluation, derivatives, concavity and chord bands.

All functions work on a :class:`CurveSet` (one entry per cell, parameters as arrays) and
are vectorised over cells and spends; there is no Python loop per band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

KINDS = ("linear", "saturation", "hill", "log", "power", "points")
LINEAR, SATURATION, HILL, LOG, POWER, POINTS = range(6)
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class CurveSet:
    """Parameters of K response curves.

    ``a``, ``b``, ``s`` are NaN where a family does not use them (a blank linear cap is
    ``inf``).  Points curves keep their (spend, customers) knots in flat arrays:
    ``pts_x[pts_start[k]:pts_start[k+1]]`` for cell k, sorted by spend, excluding (0, 0).
    """

    kind: IntArray
    a: FloatArray
    b: FloatArray
    s: FloatArray
    pts_start: IntArray
    pts_x: FloatArray
    pts_y: FloatArray

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
        ok = np.ones(len(self), dtype=bool)
        ok[(self.kind == HILL) & (self.s > 1)] = False
        ok[(self.kind == POWER) & (self.s > 1)] = False
        for k in np.flatnonzero(self.kind == POINTS):
            x, y = self.knots(k)
            slopes = np.diff(y) / np.diff(x)
            ok[k] = bool(np.all(np.diff(slopes) <= 1e-12 * (1 + np.abs(slopes[:-1]))))
        return ok

    def knots(self, k: int) -> tuple[FloatArray, FloatArray]:
        """Knots of a points curve including the origin."""
        lo, hi = self.pts_start[k], self.pts_start[k + 1]
        return (np.concatenate([[0.0], self.pts_x[lo:hi]]), np.concatenate([[0.0], self.pts_y[lo:hi]]))

    def inflection(self) -> FloatArray:
        """Inflection spend of S-shaped hill curves (NaN elsewhere)."""
        out = np.full(len(self), np.nan)
        m = (self.kind == HILL) & (self.s > 1)
        out[m] = self.b[m] * ((self.s[m] - 1) / (self.s[m] + 1)) ** (1 / self.s[m])
        return out


def evaluate(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    """Customers per period ``f_k(x)`` (before seasonality) for cells ``cell`` at spends ``x``."""
    cell = np.asarray(cell, dtype=np.int64)
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    cell, x = np.broadcast_arrays(cell, x)
    kind, a, b, s = cs.kind[cell], cs.a[cell], cs.b[cell], cs.s[cell]
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


def derivative(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    """``f_k'(x)``: customers per extra unit of money (right derivative at kinks)."""
    cell = np.asarray(cell, dtype=np.int64)
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    cell, x = np.broadcast_arrays(cell, x)
    kind, a, b, s = cs.kind[cell], cs.a[cell], cs.b[cell], cs.s[cell]
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


def second_derivative(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    """``f_k''(x)`` for the smooth families (0 for linear and points)."""
    cell = np.asarray(cell, dtype=np.int64)
    x = np.maximum(np.asarray(x, dtype=float), 1e-300)
    cell, x = np.broadcast_arrays(cell, x)
    kind, a, b, s = cs.kind[cell], cs.a[cell], cs.b[cell], cs.s[cell]
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


def _points_segment(cs: CurveSet, cell: IntArray, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]:
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
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(inside, (cs.pts_y[nxt] - y0) / (cs.pts_x[nxt] - x0), 0.0)
    return x0, y0, slope, count, n


def _points_eval(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    if not len(cell):
        return np.zeros(0)
    x0, y0, slope, _, _ = _points_segment(cs, cell, x)
    return y0 + slope * (x - x0)  # flat after the last knot (slope 0)


def _points_slope(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    if not len(cell):
        return np.zeros(0)
    return _points_segment(cs, cell, x)[2]


@dataclass(frozen=True)
class Bands:
    """Chord bands of all cells, flat: band i covers spend [lo_i, lo_i + width_i] of cell_i.

    ``slope`` is customers per unit spend on the chord; ``err`` is the exact largest vertical
    gap between the curve and its chord in that band (customers, before seasonality).
    Bands of one cell are contiguous and in increasing spend order.
    """

    cell: IntArray
    lo: FloatArray
    width: FloatArray
    slope: FloatArray
    err: FloatArray

    def __len__(self) -> int:
        return len(self.cell)

    def cell_error(self, n_cells: int) -> FloatArray:
        out = np.zeros(n_cells)
        np.maximum.at(out, self.cell, self.err)
        return out

    def breakpoints(self) -> tuple[IntArray, FloatArray]:
        """(cell, spend) of every breakpoint including each cell's end."""
        last = np.r_[self.cell[1:] != self.cell[:-1], True]
        cell = np.concatenate([self.cell, self.cell[last]])
        z = np.concatenate([self.lo, (self.lo + self.width)[last]])
        order = np.lexsort((z, cell))
        return cell[order], z[order]


def bands_from_breakpoints(cs: CurveSet, cell: IntArray, z: FloatArray) -> Bands:
    """Bands between consecutive breakpoints ``z`` of each cell (sorted by cell, then z)."""
    cell = np.asarray(cell, dtype=np.int64)
    z = np.asarray(z, dtype=float)
    order = np.lexsort((z, cell))
    cell, z = cell[order], z[order]
    # duplicates within rounding go; tiny bands near 0 stay (S-shaped and power curves
    # with shape < 1 have an infinite slope at 0 and need them)
    keep = np.r_[len(z) > 0, (cell[1:] != cell[:-1]) | (np.diff(z) > 1e-12 * np.abs(z[1:]))][: len(z)]
    cell, z = cell[keep], z[keep]
    same = cell[1:] == cell[:-1]
    bc, lo, hi = cell[:-1][same], z[:-1][same], z[1:][same]
    return _make_bands(cs, bc, lo, hi)


def _make_bands(cs: CurveSet, cell: IntArray, lo: FloatArray, hi: FloatArray) -> Bands:
    f_lo, f_hi = evaluate(cs, cell, lo), evaluate(cs, cell, hi)
    width = hi - lo
    slope = (f_hi - f_lo) / width
    err = _chord_error(cs, cell, lo, hi, f_lo, slope)
    return Bands(cell, lo, width, slope, err)


def _insert(cs: CurveSet, bands: Bands, pos: IntArray, z: FloatArray) -> Bands:
    """Bands with extra breakpoints ``z`` inside bands ``pos``; only split bands are
    re-evaluated, the others are kept as they are (order is preserved)."""
    lo_b, hi_b = bands.lo, bands.lo + bands.width
    pos = np.asarray(pos, dtype=np.int64)
    z = np.asarray(z, dtype=float)
    margin = 1e-12 * np.maximum(np.abs(hi_b), bands.width)
    ok = (z > lo_b[pos] + margin[pos]) & (z < hi_b[pos] - margin[pos])
    pos, z = pos[ok], z[ok]
    if not len(pos):
        return bands
    order = np.lexsort((z, pos))
    pos, z = pos[order], z[order]
    fresh = np.r_[True, (pos[1:] != pos[:-1]) | (np.diff(z) > margin[pos[1:]])]
    pos, z = pos[fresh], z[fresh]
    counts = np.bincount(pos, minlength=len(bands))
    n = counts + 1
    starts = np.cumsum(n) - n
    piece_lo = np.empty(int(n.sum()))
    piece_lo[starts] = lo_b
    rank = np.arange(len(pos)) - (np.cumsum(counts) - counts)[pos]
    piece_lo[starts[pos] + 1 + rank] = z
    piece_hi = np.empty_like(piece_lo)
    piece_hi[:-1] = piece_lo[1:]
    ends = starts + n - 1
    piece_hi[ends] = hi_b
    owner = np.repeat(np.arange(len(bands)), n)
    cell = bands.cell[owner]
    width = bands.width[owner]
    slope = bands.slope[owner]
    err = bands.err[owner]
    new = counts[owner] > 0
    nb = _make_bands(cs, cell[new], piece_lo[new], piece_hi[new])
    width[new], slope[new], err[new] = nb.width, nb.slope, nb.err
    return Bands(cell, piece_lo, width, slope, err)


def _tangent(cs: CurveSet, cell: IntArray, lo: FloatArray, hi: FloatArray, g: FloatArray) -> FloatArray:
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


def _hill_root(cs: CurveSet, c: IntArray, u: FloatArray, v: FloatArray, g: FloatArray) -> FloatArray:
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


def best_spend(cs: CurveSet, cell: IntArray, cap: FloatArray, price: FloatArray, steps: int = 48) -> FloatArray:
    """``argmax f_k(x) − price·x`` over ``[0, cap]`` for concave curves, vectorised.

    Closed forms for saturation, log, power and linear (where ``f' = price``), the knots of
    points curves, and ``steps`` bisections of hill's (monotone) derivative.  A price ≤ 0
    buys the cap.
    """
    return BestSpend(cs, cell, cap)(price, steps)


class BestSpend:
    """:func:`best_spend` for fixed cells and caps, called at many prices (the split by
    curve family and the parameters are gathered once)."""

    def __init__(self, cs: CurveSet, cell: IntArray, cap: FloatArray):
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

    def __call__(self, price: FloatArray, steps: int = 48) -> FloatArray:
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


def _hill_best(a: FloatArray, b: FloatArray, s: FloatArray, cap: FloatArray, g: FloatArray, steps: int) -> FloatArray:
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


def _chord_error(
    cs: CurveSet, cell: IntArray, lo: FloatArray, hi: FloatArray, f_lo: FloatArray, slope: FloatArray
) -> FloatArray:
    """Exact max |f − chord| on each band (at the point where the curve is parallel to it)."""
    smooth = (cs.kind[cell] != LINEAR) & (cs.kind[cell] != POINTS)
    err = np.zeros(len(cell))
    if not smooth.any():
        return err
    c, a, fl, g = cell[smooth], lo[smooth], f_lo[smooth], slope[smooth]
    xs = _tangent(cs, c, a, hi[smooth], g)
    err[smooth] = np.abs(evaluate(cs, c, xs) - (fl + g * (xs - a)))
    return err


_TEMPLATE = np.unique(np.concatenate([[0.0], np.geomspace(1e-9, 1.0, 160), np.linspace(0, 1, 81)]))


def chord_bands(cs: CurveSet, spend_cap: FloatArray, tolerance: float) -> Bands:
    """Chord bands on ``[0, spend_cap_k]`` with the largest gap ≤ ``tolerance · f(cap)``.

    Linear and points curves are represented exactly.  Smooth curves get breakpoints from
    the curvature density ``sqrt(|f''| / 8ε)`` and are then split until every band meets the
    tolerance (checked exactly, not estimated).
    """
    cap = np.asarray(spend_cap, dtype=float)
    n = len(cs)
    cells = np.flatnonzero(cap > 0)
    kind = cs.kind[cells]
    pieces_c: list[IntArray] = [cells]
    pieces_z: list[FloatArray] = [np.zeros(len(cells))]
    pieces_c.append(cells)
    pieces_z.append(cap[cells])

    lin = cells[kind == LINEAR]
    kink = cs.a[lin] * cs.b[lin]
    inside = kink < cap[lin]
    pieces_c.append(lin[inside])
    pieces_z.append(kink[inside])
    if len(cs.pts_x):
        owner = np.repeat(np.arange(n), np.diff(cs.pts_start))
        knot = (cs.kind[owner] == POINTS) & (cs.pts_x > 0) & (cs.pts_x < cap[owner])
        pieces_c.append(owner[knot])
        pieces_z.append(cs.pts_x[knot])

    smooth = cells[(kind != LINEAR) & (kind != POINTS)]
    if len(smooth):
        eps = tolerance * evaluate(cs, smooth, cap[smooth])
        z = cap[smooth][:, None] * _TEMPLATE[None, :]
        rho = np.sqrt(np.abs(second_derivative(cs, smooth[:, None], np.maximum(z, z[:, 1:2]))) / (8 * np.maximum(eps, 1e-300))[:, None])
        cum = np.concatenate([np.zeros((len(smooth), 1)), np.cumsum(0.5 * (rho[:, 1:] + rho[:, :-1]) * np.diff(z, axis=1), axis=1)], axis=1)
        total = cum[:, -1]
        nb = np.clip(np.ceil(total * 1.05), 1, 5000).astype(np.int64)
        # invert N(z) for every cell at once: offset rows so the flat array stays increasing
        ramp = cum + np.linspace(0, 1e-9, cum.shape[1])[None, :] * np.maximum(total, 1)[:, None]
        offs = np.cumsum(np.r_[0.0, (ramp[:-1, -1] + 1.0)])
        flat_n = (ramp + offs[:, None]).ravel()
        flat_z = z.ravel()
        owner = np.repeat(np.arange(len(smooth)), nb - 1)
        j = np.arange(len(owner)) - np.repeat(np.cumsum(np.r_[0, nb[:-1] - 1]), nb - 1) + 1
        target = j / nb[owner] * ramp[owner, -1] + offs[owner]
        pieces_c.append(smooth[owner])
        pieces_z.append(np.interp(target, flat_n, flat_z))
        infl = cs.inflection()[smooth]
        ok = np.isfinite(infl) & (infl < cap[smooth])
        pieces_c.append(smooth[ok])
        pieces_z.append(infl[ok])

    bands = bands_from_breakpoints(cs, np.concatenate(pieces_c), np.concatenate(pieces_z))
    eps_cell = np.zeros(n)
    eps_cell[cells] = tolerance * evaluate(cs, cells, cap[cells])
    # an infinite slope at 0 (shape < 1): the first band's gap shrinks like width**shape
    singular = ((cs.kind == HILL) | (cs.kind == POWER)) & (cs.s < 1)
    for _ in range(60):
        hi = bands.lo + bands.width
        bad = (bands.err > eps_cell[bands.cell] * (1 + 1e-9)) & (bands.width > 1e-14 * hi)
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        ratio = bands.err[idx] / np.maximum(eps_cell[bands.cell[idx]], 1e-300)
        first = (bands.lo[idx] == 0) & singular[bands.cell[idx]]
        k = np.where(first, np.ceil(1.1 * ratio), np.ceil(1.05 * np.sqrt(ratio)))
        k = np.clip(k, 2, 64).astype(np.int64)
        owner = np.repeat(np.arange(len(idx)), k - 1)
        j = np.arange(len(owner)) - np.repeat(np.cumsum(k - 1) - (k - 1), k - 1) + 1
        frac = j / k[owner]
        shape = cs.s[bands.cell[idx]][owner]
        frac = np.where(first[owner], frac ** (1.0 / np.clip(shape, 0.05, 1.0)), frac)
        # also split where the gap is largest: a wide, nearly flat tail keeps its gap at the
        # knee near its start, and halving it would not shrink that gap
        at = _tangent(cs, bands.cell[idx], bands.lo[idx], hi[idx], bands.slope[idx])
        pos = np.r_[idx[owner], idx]
        z = np.r_[bands.lo[idx][owner] + bands.width[idx][owner] * frac, at]
        bands = _insert(cs, bands, pos, z)
    return bands


def _locate(bands: Bands, cell: IntArray, spend: FloatArray) -> IntArray:
    """Index of the band of ``cell`` that holds ``spend`` (the last one at its end)."""
    first = np.searchsorted(bands.cell, cell, side="left")
    last = np.searchsorted(bands.cell, cell, side="right") - 1
    # bands of a cell are contiguous and sorted: bisect within [first, last]
    lo, hi = first, last
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi + 1) // 2
        go = active & (bands.lo[np.minimum(mid, len(bands) - 1)] <= spend)
        lo = np.where(go, mid, lo)
        hi = np.where(active & ~go, mid - 1, hi)
    return lo


def densify(cs: CurveSet, bands: Bands, cell: IntArray, spend: FloatArray, pieces: int = 8,
            min_width: float = 0.0) -> Bands:
    """Split the band holding each (cell, spend) and its two neighbours into ``pieces`` parts.

    Used by the refinement loop: a vertical-gap tolerance leaves wide bands where a curve is
    flat, so the optimal spend is located more finely around the chosen one.  The chosen
    spend itself becomes a breakpoint.  Only bands wider than ``min_width`` are split, and
    never exact ones (linear and points curves): the optimum cannot move further than the
    width of the bands beside it, so narrow bands locate it well enough already.  Bands
    that are not split are kept as they are; the result is ``bands`` itself when nothing
    needed splitting.
    """
    cell = np.asarray(cell, dtype=np.int64)
    spend = np.asarray(spend, dtype=float)
    if not len(cell):
        return bands
    pos = _locate(bands, cell, spend)
    first = np.searchsorted(bands.cell, cell, side="left")
    last = np.searchsorted(bands.cell, cell, side="right") - 1
    near = np.concatenate([np.clip(pos + d, first, last) for d in (-1, 0, 1)])
    wide = (bands.err[near] > 0) & (bands.width[near] > min_width)
    hit = np.unique(near[wide])
    if not len(hit):
        return bands
    frac = np.arange(1, pieces) / pieces
    at = np.isin(pos, hit)
    new_pos = np.concatenate([np.repeat(hit, pieces - 1), pos[at]])
    new_z = np.concatenate([(bands.lo[hit][:, None] + bands.width[hit][:, None] * frac[None, :]).ravel(), spend[at]])
    return _insert(cs, bands, new_pos, new_z)
