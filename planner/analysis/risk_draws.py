"""Monte Carlo draws of the uncertain inputs (docs/design.md §7).

An input with a range ``low`` (its P10) and ``high`` (its P90) is drawn

* lognormal when it is a positive parameter (a curve's ``a`` and ``b``, a segment's
  margin): ``exp(μ + σ z)`` with ``μ = (ln low + ln high) / 2`` and
  ``σ = (ln high − ln low) / (2 · 1.2816)``, so P10 = ``exp(μ − 1.2816 σ)`` = low and
  P90 = high; the median is the geometric mean ``sqrt(low · high)``;
* logit-normal when it is a rate (retention): the same on ``logit(p) = ln(p / (1 − p))``.

``z`` is a standard normal.  Rows are independent unless ``correlation`` ρ > 0: then
``z = sqrt(ρ) Z + sqrt(1 − ρ) e`` with one common factor ``Z`` per draw.  ``Z`` is an
*optimism* factor: it raises ``a``, margins and retention and lowers ``b`` (a larger ``b``
needs more spend for the same customers).  Inputs without a range keep their value.

Draws are made in blocks of :data:`BLOCK`, block ``i`` by a :func:`numpy.random.default_rng`
generator seeded with ``(seed, i)``: the same scenario and seed give the same draws, however
they are later split for evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planner.core.types import Float
from planner.scenario.models import Scenario

#: the standard normal's 90 % quantile: P10 and P90 lie this many σ from the median
Z90 = 1.2815515655446004


def lognormal_params(low: Float, high: Float) -> tuple[Float, Float]:
    """(μ, σ) of the lognormal with P10 ``low`` and P90 ``high`` (both > 0).

    >>> mu, sigma = lognormal_params(np.array([1.0]), np.array([np.e ** (2 * Z90)]))
    >>> mu.round(6).tolist(), sigma.round(6).tolist()
    ([1.281552], [1.0])
    """
    lo, hi = np.log(low), np.log(high)
    return (lo + hi) / 2.0, (hi - lo) / (2.0 * Z90)


def logit(p: Float) -> Float:
    """``ln(p / (1 − p))`` for p in (0, 1)."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def expit(x: Float) -> Float:
    """The inverse of :func:`logit`."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def _column(rows: list, field: str, missing: float = np.nan) -> Float:
    return np.array([missing if getattr(r, field) is None else getattr(r, field) for r in rows], dtype=float)


@dataclass(frozen=True)
class DrawBlock:
    """Consecutive draws of every input: ``a`` and ``b`` of shape (draws, curves) in
    Curves-sheet order, ``margin`` and ``retention`` of shape (draws, segments)."""

    a: Float
    b: Float
    margin: Float
    retention: Float

    @property
    def n(self) -> int:
        return self.a.shape[0]


#: draws are made in blocks of this many, block i from the generator seeded ``(seed, i)``:
#: the first draws stay the same when more are asked for, and memory stays bounded
BLOCK = 256


@dataclass(frozen=True)
class Draws:
    """``n`` draws of the inputs of a scenario, made block by block on demand.

    Build with :func:`draw_inputs`; iterate :meth:`blocks` (bounded memory) or take
    :meth:`all` at once.
    """

    n: int
    seed: int
    correlation: float
    groups: tuple[tuple[Float, NDArray[np.bool_], Float, Float, float, bool], ...]

    @property
    def uncertain(self) -> int:
        """Number of inputs with a range."""
        return sum(int(u.sum()) for _, u, _, _, _, _ in self.groups)

    def block(self, i: int) -> DrawBlock:
        """Draws ``i·BLOCK`` up to ``(i + 1)·BLOCK`` (fewer in the last block)."""
        c = min(BLOCK, self.n - i * BLOCK)
        rng = np.random.default_rng([self.seed, i])
        z = rng.standard_normal((c, self.uncertain + 1))  # column 0: the common factor
        rho = self.correlation
        common, own = np.sqrt(rho) * z[:, :1], z[:, 1:]
        out, at = [], 0
        for base, u, mu, sigma, sign, rate in self.groups:
            k = len(mu)
            x = own[:, at:at + k]  # in place: z → μ + σ (±√ρ Z + √(1 − ρ) e) → the input
            x *= np.sqrt(1.0 - rho)
            x += sign * common
            x *= sigma
            x += mu
            x = expit(x) if rate else np.exp(x, out=x)
            at += k
            if k == len(base):
                out.append(np.ascontiguousarray(x))
            else:
                vals = np.repeat(base[None, :], c, axis=0)
                vals[:, u] = x
                out.append(vals)
        return DrawBlock(*out)

    @property
    def n_blocks(self) -> int:
        return -(-self.n // BLOCK)

    def span(self, i: int) -> slice:
        """Positions of block ``i``'s draws."""
        return slice(i * BLOCK, min(self.n, (i + 1) * BLOCK))

    def blocks(self) -> Iterator[tuple[slice, DrawBlock]]:
        """(positions, draws) block by block."""
        for i in range(self.n_blocks):
            yield self.span(i), self.block(i)

    def all(self) -> DrawBlock:
        """Every draw in one block."""
        parts = [b for _, b in self.blocks()]
        return DrawBlock(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("a", "b", "margin", "retention")))


def draw_inputs(scenario: Scenario, n: int, seed: int = 0, correlation: float = 0.0) -> Draws:
    """The draws of every input with a range (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
        Ranges from its Curves (``a_low`` … ``b_high``) and Segments (``margin_low`` …
        ``retention_high``) sheets; validated, so ``low <= value <= high``.
    n : int
        Number of draws (>= 1).
    seed : int
        Seed (>= 0) of the generators.
    correlation : float
        ρ in [0, 1]: the weight of the common factor.

    Returns
    -------
    Draws
        Inputs without a range equal their value in every draw (a blank linear cap is
        ``inf``, an unused ``b`` NaN).
    """
    cv, sg = scenario.curves, scenario.segments
    groups = []
    for rows, col, lo_col, hi_col, missing, sign, rate in (
        (cv, "a", "a_low", "a_high", np.inf, 1.0, False),
        (cv, "b", "b_low", "b_high", np.nan, -1.0, False),
        (sg, "margin_per_period", "margin_low", "margin_high", np.nan, 1.0, False),
        (sg, "retention_rate", "retention_low", "retention_high", np.nan, 1.0, True),
    ):
        base, lo, hi = _column(rows, col, missing), _column(rows, lo_col), _column(rows, hi_col)
        u = ~(np.isnan(lo) | np.isnan(hi))
        lo, hi = (logit(lo[u]), logit(hi[u])) if rate else (np.log(lo[u]), np.log(hi[u]))
        groups.append((base, u, (lo + hi) / 2.0, (hi - lo) / (2.0 * Z90), sign, rate))
    return Draws(int(n), int(seed), float(correlation), tuple(groups))


def ranges_from_log_sd(value: Float, log_sd: Float) -> tuple[Float, Float]:
    """P10 and P90 of a lognormal with median ``value`` and log-scale standard deviation
    ``log_sd`` (NaN where ``log_sd`` is not finite): ``value · exp(∓1.2816 · log_sd)``."""
    value, log_sd = np.asarray(value, float), np.asarray(log_sd, float)
    ok = np.isfinite(log_sd) & np.isfinite(value) & (value > 0)
    sd = np.where(ok, log_sd, 0.0)
    return (np.where(ok, value * np.exp(-Z90 * sd), np.nan), np.where(ok, value * np.exp(Z90 * sd), np.nan))


def log_sd_from_jacobian(jac: Float, rss: float, n: int, log_params: int) -> Float:
    """Standard deviations of the first ``log_params`` (log-scale) parameters of a
    least-squares fit: the diagonal of ``s² (JᵀJ)⁻¹`` with ``s² = RSS / (n − p)`` (the
    Gauss-Newton covariance at the optimum).  NaN when it is undefined (``n <= p`` or a
    singular ``JᵀJ``, e.g. a parameter at its bound)."""
    jac = np.asarray(jac, dtype=float)
    p = jac.shape[1]
    out = np.full(log_params, np.nan)
    if n <= p or not np.all(np.isfinite(jac)):
        return out
    jtj = jac.T @ jac
    if np.linalg.cond(jtj) > 1e12:
        return out
    var = np.diag(np.linalg.inv(jtj))[:log_params] * rss / (n - p)
    return np.where(var >= 0, np.sqrt(np.maximum(var, 0.0)), np.nan)


def draw_scenarios(scenario: Scenario, k: int, seed: int = 0) -> list[Scenario]:
    """``k`` copies of ``scenario``, each holding one draw of its uncertain inputs.

    The draws are those of :func:`draw_inputs` (same seed, same draws, with the scenario's
    ``risk_correlation``); each copy is certain (its ranges are blank), so re-optimising it
    gives the optimal plan *for that draw* (the sweep's use, docs/design.md §8).

    Examples
    --------
    >>> from planner.scenario.examples import retail_quarterly
    >>> s = retail_quarterly()
    >>> [d.curves[0].a == s.curves[0].a for d in draw_scenarios(s, 2, seed=1)]
    [False, False]
    """
    block = draw_inputs(scenario, k, seed, scenario.settings.risk_correlation).all()
    blank = {"a_low": None, "a_high": None, "b_low": None, "b_high": None}
    blank_segment = {"margin_low": None, "margin_high": None, "retention_low": None, "retention_high": None}
    out = []
    for i in range(block.n):
        curves = [c.model_copy(update={**blank,
                                       "a": c.a if c.a is None else float(block.a[i, j]),
                                       "b": c.b if c.b is None else float(block.b[i, j])})
                  for j, c in enumerate(scenario.curves)]
        segments = [s.model_copy(update={**blank_segment,
                                         "margin_per_period": float(block.margin[i, j]),
                                         "retention_rate": float(block.retention[i, j])})
                    for j, s in enumerate(scenario.segments)]
        out.append(scenario.model_copy(update={"curves": curves, "segments": segments}))
    return out
