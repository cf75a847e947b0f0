"""Chord bands (docs/design.md, the LP): the piecewise-linear approximation of the curves.

A cell's spend range ``[0, cap]`` is cut into bands; on each band the LP sees the chord of
the curve.  :func:`chord_bands` meets a vertical-gap tolerance exactly; :func:`densify`
splits bands around chosen spends (refinement).  Vectorised over cells and bands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.core.curves import (
    HILL,
    LINEAR,
    POINTS,
    POWER,
    CurveSet,
    response,
    second_derivative,
    tangent_point,
)
from planner.core.types import Float, Int


@dataclass(frozen=True)
class Bands:
    """Chord bands of all cells, flat: band i covers spend [lo_i, lo_i + width_i] of cell_i.

    ``slope`` is customers per unit spend on the chord; ``err`` is the exact largest vertical
    gap between the curve and its chord in that band (customers, before seasonality).
    Bands of one cell are contiguous and in increasing spend order.
    """

    cell: Int
    lo: Float
    width: Float
    slope: Float
    err: Float

    def __len__(self) -> int:
        return len(self.cell)

    def cell_error(self, n_cells: int) -> Float:
        out = np.zeros(n_cells)
        np.maximum.at(out, self.cell, self.err)
        return out

    def breakpoints(self) -> tuple[Int, Float]:
        """(cell, spend) of every breakpoint including each cell's end."""
        last = np.r_[self.cell[1:] != self.cell[:-1], True]
        cell = np.concatenate([self.cell, self.cell[last]])
        z = np.concatenate([self.lo, (self.lo + self.width)[last]])
        order = np.lexsort((z, cell))
        return cell[order], z[order]


def bands_from_breakpoints(cs: CurveSet, cell: Int, z: Float) -> Bands:
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


def _make_bands(cs: CurveSet, cell: Int, lo: Float, hi: Float) -> Bands:
    f_lo, f_hi = response(cs, cell, lo), response(cs, cell, hi)
    width = hi - lo
    slope = (f_hi - f_lo) / width
    err = _chord_error(cs, cell, lo, hi, f_lo, slope)
    return Bands(cell, lo, width, slope, err)


def _insert(cs: CurveSet, bands: Bands, pos: Int, z: Float) -> Bands:
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


def _chord_error(
    cs: CurveSet, cell: Int, lo: Float, hi: Float, f_lo: Float, slope: Float
) -> Float:
    """Exact max |f − chord| on each band (at the point where the curve is parallel to it)."""
    smooth = (cs.kind[cell] != LINEAR) & (cs.kind[cell] != POINTS)
    err = np.zeros(len(cell))
    if not smooth.any():
        return err
    c, a, fl, g = cell[smooth], lo[smooth], f_lo[smooth], slope[smooth]
    xs = tangent_point(cs, c, a, hi[smooth], g)
    err[smooth] = np.abs(response(cs, c, xs) - (fl + g * (xs - a)))
    return err


_TEMPLATE = np.unique(np.concatenate([[0.0], np.geomspace(1e-9, 1.0, 160), np.linspace(0, 1, 81)]))


def chord_bands(cs: CurveSet, spend_cap: Float, tolerance: float) -> Bands:
    """Chord bands on ``[0, spend_cap_k]`` with the largest gap ≤ ``tolerance · f(cap)``.

    Linear and points curves are represented exactly.  Smooth curves get breakpoints from
    the curvature density ``sqrt(|f''| / 8ε)`` and are then split until every band meets the
    tolerance (checked exactly, not estimated).
    """
    cap = np.asarray(spend_cap, dtype=float)
    n = len(cs)
    cells = np.flatnonzero(cap > 0)
    kind = cs.kind[cells]
    pieces_c: list[Int] = [cells]
    pieces_z: list[Float] = [np.zeros(len(cells))]
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
        eps = tolerance * response(cs, smooth, cap[smooth])
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
    eps_cell[cells] = tolerance * response(cs, cells, cap[cells])
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
        at = tangent_point(cs, bands.cell[idx], bands.lo[idx], hi[idx], bands.slope[idx])
        pos = np.r_[idx[owner], idx]
        z = np.r_[bands.lo[idx][owner] + bands.width[idx][owner] * frac, at]
        bands = _insert(cs, bands, pos, z)
    return bands


def _locate(bands: Bands, cell: Int, spend: Float) -> Int:
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


def densify(cs: CurveSet, bands: Bands, cell: Int, spend: Float, pieces: int = 8,
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
