"""Constraint rows as linear expressions over cell-periods.

A row says ``Σ_kt (a_spend·x_kt + a_cust·y_kt) + Σ aux  (sense)  rhs`` where ``x`` is spend
and ``y`` customers of a cell-period.  Keeping rows at the cell-period level (not bands)
lets the same row be (1) expanded onto chord bands for the LP and (2) evaluated on the
real curves for the report.  Each row may carry a *denominator* expression: the quantity
its limit multiplies (customers for a CAC ceiling, spend for an ROI floor …) so its dual
can be reported per unit of the limit the planner typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from planner.core.types import Float, Int


@dataclass
class Rows:
    """Accumulates rows; arrays are concatenated by :meth:`freeze`."""

    name: list[str] = field(default_factory=list)
    metric: list[str] = field(default_factory=list)
    sense: list[str] = field(default_factory=list)
    limit: list[float] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    rhs: list[float] = field(default_factory=list)
    reported: list[bool] = field(default_factory=list)
    _e: list[tuple[Int, Int, Float, Float]] = field(default_factory=list)
    _d: list[tuple[Int, Int, Float, Float]] = field(default_factory=list)
    _dconst: list[tuple[Int, Float]] = field(default_factory=list)
    _aux: list[tuple[Int, Int, Float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.name)

    def new(
        self,
        names: list[str],
        metric: str,
        sense: str | list[str],
        limit: float | Float,
        rhs: float | Float,
        kind: str,
        reported: bool = True,
    ) -> Int:
        """Add ``len(names)`` rows and return their ids."""
        n = len(names)
        start = len(self.name)
        self.name += names
        self.metric += [metric] * n
        self.sense += [sense] * n if isinstance(sense, str) else list(sense)
        self.limit += np.broadcast_to(np.asarray(limit, float), (n,)).tolist()
        self.rhs += np.broadcast_to(np.asarray(rhs, float), (n,)).tolist()
        self.kind += [kind] * n
        self.reported += [reported] * n
        return np.arange(start, start + n, dtype=np.int64)

    def terms(self, row: Int, kt: Int, a_spend: float | Float, a_cust: float | Float) -> None:
        """Add ``a_spend·x_kt + a_cust·y_kt`` to rows ``row`` (arrays broadcast)."""
        row, kt, s, c = np.broadcast_arrays(np.asarray(row, np.int64), np.asarray(kt, np.int64),
                                            np.asarray(a_spend, float), np.asarray(a_cust, float))
        if len(row):
            self._e.append((row.copy(), kt.copy(), s.copy(), c.copy()))

    def denominator(self, row: Int, kt: Int, a_spend: float | Float, a_cust: float | Float) -> None:
        """Add to the denominator (the quantity one unit of the limit is multiplied by)."""
        row, kt, s, c = np.broadcast_arrays(np.asarray(row, np.int64), np.asarray(kt, np.int64),
                                            np.asarray(a_spend, float), np.asarray(a_cust, float))
        if len(row):
            self._d.append((row.copy(), kt.copy(), s.copy(), c.copy()))

    def denominator_const(self, row: Int, value: float | Float) -> None:
        row, v = np.broadcast_arrays(np.asarray(row, np.int64), np.asarray(value, float))
        self._dconst.append((row.copy(), v.copy()))

    def aux(self, row: Int, col: Int, coef: float | Float) -> None:
        """Add ``coef · aux_col`` to rows (auxiliary columns such as total spend per period)."""
        row, col, coef = np.broadcast_arrays(np.asarray(row, np.int64), np.asarray(col, np.int64),
                                             np.asarray(coef, float))
        if len(row):
            self._aux.append((row.copy(), col.copy(), coef.copy()))

    def freeze(self) -> FrozenRows:
        def cat4(parts: list[tuple[Int, Int, Float, Float]]) -> tuple[Int, Int, Float, Float]:
            if not parts:
                return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
            return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore[return-value]

        er, ekt, es, ec = cat4(self._e)
        dr, dkt, ds, dc = cat4(self._d)
        n = len(self.name)
        dconst = np.zeros(n)
        has_den = np.zeros(n, dtype=bool)
        for r, v in self._dconst:
            np.add.at(dconst, r, v)
            has_den[r] = True
        has_den[dr] = True
        dconst[~has_den] = 1.0  # plain rows: one unit of limit is one unit of rhs
        ar = np.concatenate([a[0] for a in self._aux]) if self._aux else np.zeros(0, np.int64)
        ac = np.concatenate([a[1] for a in self._aux]) if self._aux else np.zeros(0, np.int64)
        av = np.concatenate([a[2] for a in self._aux]) if self._aux else np.zeros(0)
        return FrozenRows(
            name=list(self.name), metric=list(self.metric), sense=np.array(self.sense, dtype=object),
            limit=np.array(self.limit, float), rhs=np.array(self.rhs, float), kind=list(self.kind),
            reported=np.array(self.reported, bool),
            e_row=er, e_kt=ekt, e_spend=es, e_cust=ec,
            d_row=dr, d_kt=dkt, d_spend=ds, d_cust=dc, d_const=dconst,
            aux_row=ar, aux_col=ac, aux_coef=av,
        )


@dataclass(frozen=True)
class FrozenRows:
    """Rows as flat arrays (see :class:`Rows`)."""

    name: list[str]
    metric: list[str]
    sense: NDArray[np.object_]
    limit: Float
    rhs: Float
    kind: list[str]
    reported: NDArray[np.bool_]
    e_row: Int
    e_kt: Int
    e_spend: Float
    e_cust: Float
    d_row: Int
    d_kt: Int
    d_spend: Float
    d_cust: Float
    d_const: Float
    aux_row: Int
    aux_col: Int
    aux_coef: Float

    def __len__(self) -> int:
        return len(self.name)

    @cached_property
    def by_cell_period(self) -> tuple[Int, Int, Float, Float]:
        """Entries summed per (cell-period, row) and sorted by cell-period then row:
        ``(kt, row, spend coefficient, customer coefficient)`` (the LP's column pattern)."""
        key = self.e_kt * len(self) + self.e_row
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
        if not len(starts):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        return (self.e_kt[order][starts], self.e_row[order][starts],
                np.add.reduceat(self.e_spend[order], starts), np.add.reduceat(self.e_cust[order], starts))

    def activity(self, spend: Float, cust: Float, aux_value: Float) -> Float:
        """Left-hand side of every row for spend/customers per cell-period."""
        out = np.zeros(len(self))
        np.add.at(out, self.e_row, self.e_spend * spend[self.e_kt] + self.e_cust * cust[self.e_kt])
        if len(self.aux_row):
            np.add.at(out, self.aux_row, self.aux_coef * aux_value[self.aux_col])
        return out

    def denominators(self, spend: Float, cust: Float) -> Float:
        out = self.d_const.copy()
        np.add.at(out, self.d_row, self.d_spend * spend[self.d_kt] + self.d_cust * cust[self.d_kt])
        return out
