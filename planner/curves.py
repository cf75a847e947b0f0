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


def _points_eval(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    out = np.empty(len(cell))
    for k in np.unique(cell):
        m = cell == k
        kx, ky = cs.knots(int(k))
        out[m] = np.interp(x[m], kx, ky)  # flat after the last knot
    return out


def _points_slope(cs: CurveSet, cell: IntArray, x: FloatArray) -> FloatArray:
    out = np.zeros(len(cell))
    for k in np.unique(cell):
        m = cell == k
        kx, ky = cs.knots(int(k))
        slopes = np.append(np.diff(ky) / np.diff(kx), 0.0)
        out[m] = slopes[np.clip(np.searchsorted(kx, x[m], side="right") - 1, 0, len(slopes) - 1)]
    return out


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
    keep = np.r_[True, (cell[1:] != cell[:-1]) | (np.diff(z) > 1e-12 * np.maximum(1.0, np.abs(z[1:])))]
    cell, z = cell[keep], z[keep]
    same = cell[1:] == cell[:-1]
    bc, lo, hi = cell[:-1][same], z[:-1][same], z[1:][same]
    f_lo, f_hi = evaluate(cs, bc, lo), evaluate(cs, bc, hi)
    width = hi - lo
    slope = (f_hi - f_lo) / width
    err = _chord_error(cs, bc, lo, hi, f_lo, slope)
    return Bands(bc, lo, width, slope, err)


def _chord_error(
    cs: CurveSet, cell: IntArray, lo: FloatArray, hi: FloatArray, f_lo: FloatArray, slope: FloatArray
) -> FloatArray:
    """Exact max |f − chord| on each band: f' − slope changes sign once on a band that is
    wholly concave or convex, so bisection on it finds the extreme gap."""
    smooth = (cs.kind[cell] != LINEAR) & (cs.kind[cell] != POINTS)
    err = np.zeros(len(cell))
    if not smooth.any():
        return err
    c, a, b, fl, g = cell[smooth], lo[smooth].copy(), hi[smooth].copy(), f_lo[smooth], slope[smooth]
    x0 = a.copy()
    sign_lo = np.sign(derivative(cs, c, a + 1e-12 * (b - a)) - g)
    for _ in range(60):
        mid = 0.5 * (a + b)
        same = np.sign(derivative(cs, c, mid) - g) == sign_lo
        a = np.where(same, mid, a)
        b = np.where(same, b, mid)
    xs = 0.5 * (a + b)
    err[smooth] = np.abs(evaluate(cs, c, xs) - (fl + g * (xs - x0)))
    return err


_TEMPLATE = np.unique(np.concatenate([[0.0], np.geomspace(1e-9, 1.0, 300), np.linspace(0, 1, 201)]))


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
    for k in cells[kind == POINTS]:
        kx, _ = cs.knots(int(k))
        kx = kx[(kx > 0) & (kx < cap[k])]
        pieces_c.append(np.full(len(kx), k))
        pieces_z.append(kx)

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
    for _ in range(40):
        bad = bands.err > eps_cell[bands.cell] * (1 + 1e-9)
        if not bad.any():
            break
        bc, bz = bands.breakpoints()
        bands = bands_from_breakpoints(
            cs,
            np.concatenate([bc, bands.cell[bad]]),
            np.concatenate([bz, bands.lo[bad] + 0.5 * bands.width[bad]]),
        )
    return bands


def densify(cs: CurveSet, bands: Bands, cell: IntArray, spend: FloatArray, pieces: int = 8) -> Bands:
    """Split the band holding each (cell, spend) and its two neighbours into ``pieces`` parts.

    Used by the refinement loop: a vertical-gap tolerance leaves wide bands where a curve is
    flat, so the optimal spend is located more finely around the chosen one.  The chosen
    spend itself becomes a breakpoint.
    """
    cell = np.asarray(cell, dtype=np.int64)
    spend = np.asarray(spend, dtype=float)
    bc, bz = bands.breakpoints()
    scale = np.zeros(len(cs))
    np.maximum.at(scale, bands.cell, bands.lo + bands.width)
    scale = scale * (1 + 1e-9) + 1.0
    # bands are sorted by (cell, lo): one composite key locates every spend at once
    key = bands.cell + bands.lo / scale[bands.cell]
    pos = np.searchsorted(key, cell + spend / scale[cell], side="right") - 1
    first = np.searchsorted(bands.cell, cell, side="left")
    last = np.searchsorted(bands.cell, cell, side="right") - 1
    hit = np.zeros(len(bands), dtype=bool)
    for d in (-1, 0, 1):
        hit[np.clip(pos + d, first, last)] = True
    frac = (np.arange(1, pieces) / pieces)[None, :]
    newz = (bands.lo[hit][:, None] + bands.width[hit][:, None] * frac).ravel()
    newc = np.repeat(bands.cell[hit], pieces - 1)
    return bands_from_breakpoints(cs, np.concatenate([bc, newc, cell]), np.concatenate([bz, newz, spend]))
