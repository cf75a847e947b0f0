"""Workflows from file to file: read the input, run one analysis, write the result sheets.

The analyses (:mod:`planner.analysis`) take and return data; the workbook layer
(:mod:`planner.io`) reads and writes.  These functions join the two for the CLI and for
scripts, so neither layer needs the other.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from planner.analysis.fit import FitReport, fit_history
from planner.analysis.segment_value import ValueReport, segment_values
from planner.analysis.uplift import UpliftReport, measure_uplift
from planner.errors import WorkbookError
from planner.io import read_table, write_scenario, write_sheets
from planner.scenario.examples import EXAMPLES


def fit_workbook(history_path: str, out_path: str, force: bool = False) -> FitReport:
    """Fit the History sheet of ``history_path`` and write the result sheets to ``out_path``.

    An existing workbook at ``out_path`` is updated: the Curves, Fit Charts and Fit
    Families sheets are added or replaced, every other sheet is kept (see
    :func:`planner.io.write_sheets`; a Curves sheet planner did not write, such as a
    scenario's own, is replaced only with ``force``).
    """
    report = fit_history(read_table(history_path, "History"))
    report.warnings = [*report.warnings, *write_sheets(report.sheets(), out_path, update=True, force=force)]
    return report

def read_transactions(path: str) -> pd.DataFrame:
    """A transactions table from a CSV file or the ``Transactions`` sheet of a workbook."""
    p = str(path)
    if p.lower().endswith((".csv", ".txt")):
        try:
            return pd.read_csv(p)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise WorkbookError(f"cannot read {p}: {exc}") from None
    return read_table(p, "Transactions")

def value_workbook(
    transactions_path: str, out_path: str, periods_per_year: int = 4, segments: str = "given",
    force: bool = False,
) -> ValueReport:
    """Read transactions (CSV or xlsx), estimate segment values, write the sheets to ``out_path``.

    An existing workbook at ``out_path`` is updated (Segments and Segment Details added or
    replaced, every other sheet kept); a Segments sheet planner did not write is replaced
    only with ``force``.
    """
    report = segment_values(read_transactions(transactions_path), periods_per_year, segments)
    report.warnings = [*report.warnings, *write_sheets(report.sheets(), out_path, update=True, force=force)]
    return report

def uplift_workbook(before_path: str, after_path: str, out_path: str, force: bool = False,
                    **kw: object) -> UpliftReport:
    """Read two transaction files (CSV or xlsx ``Transactions`` sheet), write the ``Uplift`` sheet.

    An existing workbook at ``out_path`` is updated (the Uplift sheet added or replaced,
    every other sheet kept; one planner did not write is replaced only with ``force``).
    Other keyword arguments go to :func:`measure_uplift` (``n_boot``, ``seed`` …).
    """
    report = measure_uplift(read_transactions(before_path), read_transactions(after_path), **kw)  # type: ignore[arg-type]
    report.warnings = [*report.warnings, *write_sheets(report.sheets(), out_path, update=True, force=force)]
    return report

def write_examples(folder: str | Path) -> list[Path]:
    """Write every bundled scenario to ``folder/<name>.xlsx``; return the paths."""
    out = []
    for name, build in EXAMPLES.items():
        path = Path(folder) / f"{name}.xlsx"
        write_scenario(build(), path)
        out.append(path)
    return out
