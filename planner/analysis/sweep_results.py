"""The result of a sweep (:mod:`planner.analysis.sweep`): rows, percentiles, sheets, Parquet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.analysis.compare import column_formats
from planner.core.plan import SUMMARY_KEYS, usable
from planner.core.sheet_spec import ChartSpec, Format, SheetSpec, TableBlock
from planner.errors import OutputError

if TYPE_CHECKING:
    from planner.analysis.sweep import TaskResult

__all__ = ["FIGURES", "KEYS", "QUANTILES", "Sweep"]

#: columns naming a task's row
KEYS = ["scenario", "budget_level", "budget", "draw"]
#: headline figures of each row (the Summary sheet's)
FIGURES = [k for k in SUMMARY_KEYS if k != "status"]
QUANTILES = (0.1, 0.5, 0.9)
def _ok(rows: pd.DataFrame) -> pd.Series:
    """Rows with a plan (time-limited ones where the run found one)."""
    has = rows["net_value"].notna() if "net_value" in rows else pd.Series(False, index=rows.index)
    return pd.Series([usable(s, bool(h)) for s, h in zip(rows["status"], has, strict=True)], index=rows.index)
_FORMATS: dict[str, Format] = {"budget_level": "ratio", "draw": "integer", "seed": "integer",
                               "message": "text", "channel": "text", "case": "text",
                               "draws": "integer", "plans": "integer"}


def _formats(columns: list[str]) -> dict[str, Format]:
    return column_formats(columns) | {c: f for c, f in _FORMATS.items() if c in columns}


@dataclass
class Sweep:
    """Every (scenario, budget, draw) of a sweep, solved.

    ``rows`` has one row per task, sorted by scenario (Base first, then the Scenarios
    sheet's order), budget level and draw: ``scenario``, ``budget_level`` (multiple of the
    scenario's own budget), ``budget``, ``draw`` (0: the inputs as estimated), ``seed``
    (of the draw), ``status``, ``message`` and the headline figures (NaN without a plan).
    ``spend`` has the same keys and one column per channel; ``allocations`` (when kept)
    every plan's allocation rows under the same keys.
    """

    rows: pd.DataFrame
    spend: pd.DataFrame
    allocations: pd.DataFrame | None
    currency: str = "USD"
    seconds: float = 0.0
    workers: int = 0

    @classmethod
    def from_results(cls, results: Sequence[TaskResult], channels: list[str], currency: str,
                     seconds: float, workers: int) -> Sweep:
        """Assemble the rows (in task order) of the tasks' results."""
        rows = pd.DataFrame([r.row for r in results])
        rows["seed"] = rows["seed"].astype("Int64")
        keys = rows[KEYS]
        ok = _ok(rows).to_numpy()
        spend = np.array([[r.spend.get(c, 0.0) for c in channels] for r in results], dtype=float)
        spend = spend.reshape(len(results), len(channels))
        spend[~ok] = np.nan
        spend_frame = pd.concat([keys, pd.DataFrame(spend, columns=channels)], axis=1)
        kept = [(i, r.allocation) for i, r in enumerate(results) if r.allocation is not None]
        allocations = None
        if kept:
            allocations = pd.concat(
                [pd.concat([keys.iloc[[i] * len(a)].reset_index(drop=True), a], axis=1) for i, a in kept],
                ignore_index=True)
        return cls(rows, spend_frame, allocations, currency, seconds, workers)

    @property
    def failed(self) -> pd.DataFrame:
        """Rows without a plan (infeasible, time limit, error)."""
        return self.rows[~_ok(self.rows)]

    @staticmethod
    def _over_draws(frame: pd.DataFrame, values: list[str], by: Sequence[str] = ()) -> pd.DataFrame:
        """P10/P50/P90 and the mean of ``values`` across draws per scenario, budget and
        ``by`` (over draws 1..K when there are any, else over the estimate alone), with the
        estimate itself (draw 0); groups in row order."""
        order = [f"_{c}" for c in ("scenario", *by)]
        frame = frame.assign(**{o: pd.factorize(frame[c])[0] for o, c in zip(order, ("scenario", *by), strict=True)})
        groups = [order[0], "budget_level", *order[1:]]
        drawn = frame[frame["draw"] >= 1] if (frame["draw"] >= 1).any() else frame
        g = drawn.groupby(groups)[values]
        q = g.quantile(list(QUANTILES)).unstack()
        out = frame[frame["draw"] == 0].set_index(groups)[["scenario", "budget", *by, *values]]
        out = out.rename(columns={v: f"{v}_estimate" for v in values})
        out["draws"] = g.size()
        mean = g.mean()
        for v in values:
            for p in QUANTILES:
                out[f"{v}_p{round(100 * p)}"] = q[(v, p)]
            out[f"{v}_mean"] = mean[v]
        out = out.sort_index().reset_index().drop(columns=order)
        first = ["scenario", "budget_level", "budget", *by, "draws"]
        return out[first + [c for c in out.columns if c not in first]]

    def summary(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per scenario and budget: the optimal net value across draws, and spend per
        channel across draws (one row per channel), each as estimate, P10, P50, P90, mean."""
        rows = self.rows.assign(ok=_ok(self.rows).astype(float))
        net = self._over_draws(rows, ["net_value"])
        plans = self._over_draws(rows, ["ok"])
        net.insert(4, "plans", (plans["ok_mean"] * plans["draws"]).round().astype(int))
        net["case"] = [f"{s} ×{b:.2f}" for s, b in zip(net["scenario"], net["budget_level"], strict=True)]
        channels = [c for c in self.spend.columns if c not in KEYS]
        long = self.spend.melt(id_vars=KEYS, value_vars=channels, var_name="channel", value_name="spend")
        spend = self._over_draws(long, ["spend"], by=["channel"])
        return net, spend

    def sheets(self) -> list[SheetSpec]:
        """Sheets ``Sweep`` (one row per task, header on row 1) and ``Sweep Summary``
        (percentiles across draws, with a chart of the optimal net value)."""
        net, spend = self.summary()
        drawn = bool((self.rows["draw"] >= 1).any())
        across = "across draws 1..K (draw 0 is the estimate)" if drawn else "(no risk draws: the estimate)"
        notes = [f"Optimal net value and spend by channel per scenario and budget, P10/P50/P90 {across}.",
                 "budget_level is the multiple of each scenario's own total budget; plans counts "
                 "the draws with a plan."]
        if len(self.failed):
            notes.append(f"{len(self.failed)} of {len(self.rows)} tasks have no plan: see the "
                         "status and message columns of the Sweep sheet.")
        return [
            SheetSpec("Sweep", [TableBlock(self.rows, None, _formats(list(self.rows)), "Sweep")], [], [], self.currency,
                      layout="table"),
            SheetSpec("Sweep Summary", [
                TableBlock(net, "Optimal net value", _formats(list(net)), "SweepNetValue"),
                TableBlock(spend, "Spend by channel", _formats(list(spend)), "SweepSpend"),
            ], [ChartSpec("bar", "Optimal net value by scenario and budget (P10, P50, P90)", 0, "case",
                          ["net_value_p10", "net_value_p50", "net_value_p90"], "Scenario × budget",
                          self.currency)], notes, self.currency),
        ]

    def write_parquet(self, path: str | Path) -> list[Path]:
        """Write ``sweep.parquet`` (every row, with spend per channel as ``spend:<channel>``)
        and ``allocations.parquet`` (every kept plan's allocation, keyed like the rows)
        into the directory ``path`` (created if needed).

        Raises
        ------
        OutputError
            ``path`` is a file, or cannot be written.
        """
        out = Path(path)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out} is a file: --parquet takes a directory to write "
                              "sweep.parquet and allocations.parquet into")
        spend = self.spend.drop(columns=KEYS).add_prefix("spend:")
        rows = pd.concat([self.rows, spend], axis=1)
        alloc = self.allocations if self.allocations is not None else pd.DataFrame(columns=KEYS)
        written = [out / "sweep.parquet", out / "allocations.parquet"]
        try:
            out.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(written[0], index=False)
            alloc.to_parquet(written[1], index=False)
        except OSError as exc:
            raise OutputError(f"cannot write Parquet files into {out}: {exc.strerror or exc}") from None
        return written

    def records(self) -> dict[str, Any]:
        """The rows and the net value summary as JSON-ready lists of records."""
        net, _ = self.summary()
        return {"rows": self.rows.astype(object).where(self.rows.notna(), None).to_dict("records"),
                "summary": net.astype(object).where(net.notna(), None).to_dict("records")}
