"""Fit response curves to spend history (the History sheet) and report how well they fit.

For every cell (segment, channel, program) each concave family of docs/design.md §2 is fitted by
least squares on customers per period: ``saturation`` a(1 − e^(−x/b)), ``hill``
a·x^s/(x^s + b^s) with s ≤ 1, ``log`` a·ln(1 + x/b) and ``power`` a·(x/b)^s with 0 < s ≤ 1.

Method
------
* Spend and customers are scaled by their largest value, so the fits are well conditioned.
* Starts: the scale ``a`` enters linearly, so for a grid of ``b`` (and ``s``) values the best
  ``a`` and residual are closed-form; the best grid points start a bounded
  :func:`scipy.optimize.least_squares` (trust-region reflective, analytic Jacobian).
* ``power`` cannot tell ``a`` from ``b`` apart (a·(x/b)^s = a·b^(−s)·x^s), so ``b`` is fixed at
  the largest observed spend and ``a`` is the customers the curve gives there.
* Choice: the smallest AICc, ``n·ln(RSS/n) + 2k + 2k(k+1)/(n − k − 1)`` with k = parameters
  + 1 (the noise variance).  AICc trades fit against the number of parameters and stays
  honest at the small sample sizes of spend histories; when n is too small for AICc
  (n ≤ k + 1) plain AIC decides and the cell is flagged for too few points anyway.
* Quality: R² = 1 − RSS/TSS, MAPE over observations with customers > 0 (a fraction).
  A cell is flagged (never dropped) with fewer than 4 distinct positive spends, R² < 0.5,
  a curve that stays linear over the data (no saturation seen), or customers at zero spend
  (an organic baseline the families cannot represent).  ``max_spend`` is the largest
  observed spend times ``max_spend_factor``: the curve is trusted where it was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from planner.analysis.risk_draws import log_sd_from_jacobian, ranges_from_log_sd
from planner.core.curves import CurveSet, response
from planner.core.sheet_spec import ChartSpec, SheetSpec, TableBlock, excel_rows
from planner.errors import Issue, ScenarioError

MIN_DISTINCT_SPENDS = 4
MIN_R2 = 0.5
MAX_ISSUES = 200
CURVE_COLUMNS = ["segment", "channel", "program", "curve", "a", "b", "shape", "max_spend",
                 "a_low", "a_high", "b_low", "b_high", "r2", "mape", "n_points", "aicc", "flag"]
_B_BOUNDS = (1e-3, 1e3)  # b / largest spend
_A_BOUNDS = (1e-9, 1e6)  # a / largest customers
_S_MIN = {"hill": 0.05, "power": 0.01}

Model = Callable[[tuple, np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]


def _saturation(p: tuple, u: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
    A, B = p
    e = np.exp(-u / B)
    f = A * (1 - e)
    return f, (np.column_stack([1 - e, -A * e * u / B**2]) if jac else None)


def _log(p: tuple, u: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
    A, B = p
    g = np.log1p(u / B)
    return A * g, (np.column_stack([g, -A * u / (B * (B + u))]) if jac else None)


def _power(p: tuple, u: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
    A, s = p
    us = u**s
    if not jac:
        return A * us, None
    lu = np.log(np.where(u > 0, u, 1.0))
    return A * us, np.column_stack([us, A * us * lu])


def _hill(p: tuple, u: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
    A, B, s = p
    w = (u / B) ** s
    f = A * w / (1 + w)
    if not jac:
        return f, None
    dw = A / (1 + w) ** 2
    lw = np.log(np.where(u > 0, u, B) / B)
    return f, np.column_stack([w / (1 + w), -dw * s * w / B, dw * w * lw])


_GB = np.geomspace(1e-2, 1e2, 41)
_GS = np.linspace(0.2, 1.0, 9)
_GP = np.linspace(0.05, 1.0, 20)
# family: (model, grid of the nonlinear parameters, parameter count)
FAMILIES: dict[str, tuple[Model, np.ndarray, int]] = {
    "saturation": (_saturation, _GB[:, None], 2),
    "hill": (_hill, np.array([(b, s) for b in _GB[::2] for s in _GS]), 3),
    "log": (_log, _GB[:, None], 2),
    "power": (_power, _GP[:, None], 2),
}


def _bounds(name: str) -> tuple[list[float], list[float]]:
    lo, hi = [_A_BOUNDS[0]], [_A_BOUNDS[1]]
    if name != "power":
        lo.append(_B_BOUNDS[0])
        hi.append(_B_BOUNDS[1])
    if name in _S_MIN:
        lo.append(_S_MIN[name])
        hi.append(1.0)
    return lo, hi


def _fit_family(name: str, u: np.ndarray, v: np.ndarray, starts: int = 2) -> tuple[np.ndarray, float, np.ndarray]:
    """Best scaled parameters, RSS and log-scale standard deviations of (a, b) of one
    family on scaled data (u, v); b's is NaN for power (b is fixed)."""
    model, grid, _ = FAMILIES[name]
    basis, _ = model((1.0, *grid.T[:, :, None]), u[None, :], False)  # (G, n)
    gg, gv = (basis**2).sum(axis=1), basis @ v
    amp = np.clip(gv / np.maximum(gg, 1e-300), *_A_BOUNDS)
    rss = ((amp[:, None] * basis - v) ** 2).sum(axis=1)
    lo, hi = _bounds(name)
    # optimise ln a and ln b (scale-free steps, fast travel towards the bounds), s as is
    nlog = 1 if name == "power" else 2
    to_p = np.ones(len(lo), dtype=bool)
    to_p[nlog:] = False

    def unpack(t: np.ndarray) -> np.ndarray:
        return np.where(to_p, np.exp(np.where(to_p, t, 0.0)), t)

    def resid(t: np.ndarray) -> np.ndarray:
        return model(tuple(unpack(t)), u, False)[0] - v

    def jac(t: np.ndarray) -> np.ndarray:
        p = unpack(t)
        return model(tuple(p), u, True)[1] * np.where(to_p, p, 1.0)

    tlo = np.where(to_p, np.log(lo), lo)
    thi = np.where(to_p, np.log(hi), hi)
    best_p, best_rss, best_sd = np.r_[amp[0], grid[0]], np.inf, np.full(2, np.nan)
    for g in np.argsort(rss)[:starts]:
        p0 = np.clip(np.r_[amp[g], grid[g]], np.array(lo) * 1.0001, np.array(hi) / 1.0001)
        t0 = np.where(to_p, np.log(p0), p0)
        with np.errstate(all="ignore"):
            res = least_squares(resid, t0, jac=jac, bounds=(tlo, thi), method="trf", max_nfev=200)
        r = float((res.fun**2).sum())
        if np.isfinite(r) and r < best_rss:
            best_p, best_rss = unpack(res.x), r
            best_sd = np.r_[log_sd_from_jacobian(jac(res.x), r, len(u), nlog), np.nan][:2]
    return best_p, best_rss, best_sd


def aicc(rss: float, n: int, k: int) -> float:
    """AICc of a least-squares fit with ``k`` parameters + the noise variance (inf if n ≤ k + 2)."""
    k1 = k + 1
    if n - k1 - 1 <= 0:
        return np.inf
    return _aic(rss, n, k) + 2 * k1 * (k1 + 1) / (n - k1 - 1)


def _aic(rss: float, n: int, k: int) -> float:
    return n * np.log(max(rss, 1e-300) / n) + 2 * (k + 1)


def _fit_cell(x: np.ndarray, y: np.ndarray) -> tuple[list[dict], str, str]:
    """Every family fitted to one cell (original units), the chosen family and the criterion
    that chose it (``aicc``, or ``aic`` when n is too small for AICc)."""
    X, Y = float(x.max()), float(y.max())
    u, v = x / X, y / Y
    n, fits = len(x), []
    floor = 1e-12 * float((v**2).sum())
    for name, (_, _, k) in FAMILIES.items():
        p, rss_s, log_sd = _fit_family(name, u, v)
        A, rest = float(p[0]), list(map(float, p[1:]))
        if name == "power":
            a, b, s = A * Y, X, rest[0]
        else:
            a, b, s = A * Y, rest[0] * X, (rest[1] if name == "hill" else np.nan)
        # saturation never reached in the data: b at its upper bound, or a power curve with s = 1
        edge = bool(p[1] >= _B_BOUNDS[1] * 0.999) if name != "power" else s >= 0.999
        rss = max(rss_s, floor) * Y**2
        fits.append({"curve": name, "a": a, "b": b, "shape": s, "rss": rss,
                     "aicc": aicc(rss, n, k), "aic": _aic(rss, n, k), "k": k, "linear_edge": edge,
                     "log_sd": log_sd})
    crit = "aicc" if any(np.isfinite(f["aicc"]) for f in fits) else "aic"
    chosen = min(fits, key=lambda f: (f[crit], f["k"]))["curve"]
    return fits, chosen, crit


def _clean_history(history: pd.DataFrame) -> pd.DataFrame:
    sheet = "History"
    if not isinstance(history, pd.DataFrame):
        raise ScenarioError([Issue(sheet, None, None, None, "is not a table")])
    df = history.rename(columns=lambda c: "_".join(str(c).strip().lower().split()))
    need = ("segment", "channel", "program", "spend", "customers")
    issues = [Issue(sheet, None, c, None, f"column is missing (expected {', '.join(need)}, period)")
              for c in need if c not in df.columns]
    if issues:
        raise ScenarioError(issues)
    if df.empty:
        raise ScenarioError([Issue(sheet, None, None, None, "has no rows")])
    out = pd.DataFrame(index=df.index)

    xr = excel_rows(df)

    def report(bad: np.ndarray, col: str, expected: str) -> None:
        for r in np.flatnonzero(bad)[: max(0, MAX_ISSUES - len(issues))]:
            val = df[col].iloc[r]
            val = val.item() if isinstance(val, np.generic) else val
            issues.append(Issue(sheet, int(xr[r]), col, None if pd.isna(val) else val, expected))

    for col in ("segment", "channel", "program"):
        txt = df[col].astype(str).str.strip()
        blank = df[col].isna().to_numpy() | (txt == "").to_numpy()
        report(blank, col, "is required")
        out[col] = txt
    out["program"] = out["program"].str.lower()
    wrong = ~out["program"].isin(["acquisition", "retention"]).to_numpy() & ~df["program"].isna().to_numpy()
    report(wrong & (out["program"] != "").to_numpy(), "program",
           "is not allowed: expected acquisition or retention")
    for col in ("spend", "customers"):
        num = pd.to_numeric(df[col], errors="coerce").astype(float).to_numpy()
        report(~np.isfinite(num) | (num < 0), col, "is not a number >= 0")
        out[col] = num
    out["period"] = (df["period"].astype(str) if "period" in df.columns
                     else pd.Series(xr, index=df.index).astype(str).radd("row "))
    if issues:
        if len(issues) >= MAX_ISSUES:
            issues.append(Issue(sheet, None, None, None, f"has more problems (first {MAX_ISSUES} shown)"))
        raise ScenarioError(issues)
    return out


@dataclass
class FitReport:
    """Fitted curves (``curves``), every family's fit (``families``), observations with fitted
    values (``points``) and one warning per flagged cell (``warnings``)."""

    curves: pd.DataFrame
    families: pd.DataFrame
    points: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """The table a person reads first: the fitted curves."""
        return self.curves

    def sheets(self, grid: int = 25) -> list[SheetSpec]:
        """``Curves`` (the Curves input columns first, header on row 1), ``Fit Charts`` (one
        block and scatter chart per cell: observed customers and the fitted curve on a spend
        grid) and ``Fit Families`` (every family's fit and ΔAICc)."""
        fmt = {"a": "number", "b": "number", "shape": "number", "max_spend": "currency",
               **dict.fromkeys(("a_low", "a_high", "b_low", "b_high"), "number"),
               "r2": "ratio", "mape": "percent", "n_points": "integer", "aicc": "number"}
        blocks, charts = [], []
        cs = _curve_set(self.curves)
        by_cell = dict(list(self.points.groupby(["segment", "channel", "program"], sort=True)))
        for i, c in enumerate(self.curves.itertuples(index=False)):
            obs = by_cell[(c.segment, c.channel, c.program)][["spend", "customers", "fitted"]]
            xs = np.linspace(0.0, float(c.max_spend) * 1.1 if np.isfinite(c.max_spend) else 1.0, grid)
            line = pd.DataFrame({"spend": xs, "customers": np.nan,
                                 "fitted": response(cs, np.full(grid, i), xs)})
            frame = pd.concat([obs, line]).sort_values("spend", kind="stable").reset_index(drop=True)
            title = f"{c.segment} / {c.channel} / {c.program}: {c.curve if isinstance(c.curve, str) else 'no fit'}, R² {c.r2:.2f}"
            blocks.append(TableBlock(frame, title, {"spend": "currency", "customers": "number",
                                                    "fitted": "number"}))
            charts.append(ChartSpec("scatter", title, i, "spend", ["customers", "fitted"],
                                    "spend per period", "customers per period"))
        notes = ["Observed customers vs the chosen fitted curve, per cell. Selection: smallest "
                 "AICc over saturation, hill (s <= 1), log and power (s <= 1)."]
        notes += [f"Warning: {w}" for w in self.warnings]
        fam_fmt = {"a": "number", "b": "number", "shape": "number", "rss": "number",
                   "aicc": "number", "delta": "number"}
        return [SheetSpec("Curves", [TableBlock(self.curves[CURVE_COLUMNS], None, fmt, "Curves")], layout="table"),
                SheetSpec("Fit Charts", blocks, charts=charts, notes=notes),
                SheetSpec("Fit Families", [TableBlock(self.families, None, fam_fmt, "FitFamilies")], layout="table")]


def _curve_set(curves: pd.DataFrame) -> CurveSet:
    kinds = [c if isinstance(c, str) and c else "linear" for c in curves["curve"]]

    def vals(col: str) -> list[float | None]:
        return [None if not np.isfinite(v) else float(v) for v in curves[col].astype(float)]

    b = [v if v is not None else np.inf for v in vals("b")]  # no fit: evaluates to 0
    return CurveSet.build(kinds, vals("a"), b, vals("shape"))


def fit_history(history: pd.DataFrame, max_spend_factor: float = 1.0) -> FitReport:
    """Fit a response curve to every cell of a spend history.

    Parameters
    ----------
    history : DataFrame
        The History sheet: ``segment, channel, program, period, spend, customers`` (one row
        per cell and period; headers case-insensitive; ``period`` optional).
    max_spend_factor : float
        ``max_spend`` of each curve = largest observed spend × this factor.

    Returns
    -------
    FitReport
        ``curves`` has the Curves-sheet columns plus ``r2, mape, n_points, aicc, flag``
        (``flag`` is ``ok`` or the reasons, joined by ``; ``).

    Raises
    ------
    ScenarioError
        Every bad cell of the History sheet, all at once (Excel row: the index when it
        holds Excel rows, as :func:`planner.io.read_table` gives, else index + 2).

    Examples
    --------
    >>> x = np.array([1e3, 2e3, 4e3, 8e3, 16e3])
    >>> h = pd.DataFrame({"segment": "S", "channel": "Email", "program": "acquisition",
    ...                   "period": range(5), "spend": x, "customers": 100 * (1 - np.exp(-x / 5e3))})
    >>> rep = fit_history(h)
    >>> rep.curves.loc[0, ["curve", "flag"]].tolist(), round(rep.curves.loc[0, "b"])
    (['saturation', 'ok'], 5000)
    """
    if not (np.isfinite(max_spend_factor) and max_spend_factor > 0):
        raise ScenarioError([Issue("Settings", None, "max_spend_factor", max_spend_factor,
                                   "is not a number > 0")])
    h = _clean_history(history)
    rows, fam_rows, warnings = [], [], []
    for (seg, ch, prog), grp in h.groupby(["segment", "channel", "program"], sort=True):
        x, y = grp["spend"].to_numpy(), grp["customers"].to_numpy()
        pos = x > 0
        n_distinct = len(np.unique(x[pos]))
        flags = []
        row = {"segment": seg, "channel": ch, "program": prog, "curve": None, "a": np.nan,
               "b": np.nan, "shape": np.nan, "max_spend": float(x.max()) * max_spend_factor,
               "a_low": np.nan, "a_high": np.nan, "b_low": np.nan, "b_high": np.nan,
               "r2": np.nan, "mape": np.nan, "n_points": len(x), "aicc": np.nan}
        if not (y[pos] > 0).any():
            flags.append("no customers at any positive spend: no curve can be fitted")
        elif n_distinct < 2:
            row.update(curve="linear", b=float(x[pos].sum() / y[pos].sum()))
            flags.append(f"one spend level only: linear at the observed cost per customer "
                         f"(fewer than {MIN_DISTINCT_SPENDS} distinct spends)")
        else:
            fits, chosen, crit = _fit_cell(x[pos], y[pos])
            best = min(f[crit] for f in fits)
            for f in fits:
                fam_rows.append({"segment": seg, "channel": ch, "program": prog, **{
                    k: f[k] for k in ("curve", "a", "b", "shape", "rss", "aicc")},
                    "criterion": crit, "delta": f[crit] - best, "chosen": f["curve"] == chosen})
            f = next(f for f in fits if f["curve"] == chosen)
            row.update(curve=chosen, a=f["a"], b=f["b"], shape=f["shape"], aicc=f["aicc"])
            # P10 / P90 of a and b from the fit's covariance (docs/design.md §7; planner risk)
            (row["a_low"], row["b_low"]), (row["a_high"], row["b_high"]) = ranges_from_log_sd(
                np.array([f["a"], f["b"]]), f["log_sd"])
            if n_distinct < MIN_DISTINCT_SPENDS:
                flags.append(f"too few points: {n_distinct} distinct spends (< {MIN_DISTINCT_SPENDS})")
            if f["linear_edge"]:
                flags.append("no saturation seen over the observed spends: the curve's scale is "
                             "an extrapolation; do not raise max_spend")
        if ((x == 0) & (y > 0)).any():
            flags.append("customers at zero spend (organic baseline) are not modelled by the curve")
        rows.append(row | {"flag": flags})
    curves = pd.DataFrame(rows)
    cs = _curve_set(curves)
    cell = h.groupby(["segment", "channel", "program"], sort=True).ngroup().to_numpy()
    fitted = response(cs, cell, h["spend"].to_numpy())
    points = h.assign(fitted=fitted, residual=h["customers"] - fitted)
    curves["r2"], curves["mape"] = _quality(cell, points["customers"].to_numpy(), fitted)
    for i, c in curves.iterrows():
        fitted_curve = isinstance(c["curve"], str)
        if fitted_curve and np.isnan(c["r2"]):
            c["flag"].append("customers do not vary: R² undefined, the curve is not supported")
        elif fitted_curve and c["r2"] < MIN_R2:
            c["flag"].append(f"bad fit: R² {c['r2']:.2f} (< {MIN_R2})")
        if c["flag"]:
            warnings.append(f"{c['segment']} / {c['channel']} / {c['program']}: {'; '.join(c['flag'])}")
        curves.at[i, "flag"] = "; ".join(c["flag"]) or "ok"
    families = pd.DataFrame(fam_rows, columns=["segment", "channel", "program", "curve", "a", "b",
                                               "shape", "rss", "aicc", "criterion", "delta", "chosen"])
    return FitReport(curves[CURVE_COLUMNS], families, points.reset_index(drop=True), warnings)


def _quality(cell: np.ndarray, y: np.ndarray, fitted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R² (NaN when customers do not vary) and MAPE over customers > 0, per cell."""
    n = np.bincount(cell)
    mean = np.bincount(cell, y) / n
    tss = np.bincount(cell, (y - mean[cell]) ** 2)
    rss = np.bincount(cell, (y - fitted) ** 2)
    pos = y > 0
    ape = np.where(pos, np.abs(y - fitted) / np.where(pos, y, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(tss > 0, 1 - rss / tss, np.nan)
        mape = np.bincount(cell, ape) / np.bincount(cell, pos.astype(float))
    return r2, mape
