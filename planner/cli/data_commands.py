"""Commands on data: fit curves to history, value segments, measure uplift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from planner import workflows
from planner.analysis.fit import FitReport
from planner.analysis.segment_value import ValueReport
from planner.analysis.uplift import UpliftReport
from planner.cli.app import (
    INPUT,
    _table,
    main,
    output_option,
    report_written,
    user_errors,
)

# --------------------------------------------------------------------------- data commands


def _data_command(run: Callable[[], FitReport | ValueReport | UpliftReport], output: Path,
                  quiet: bool) -> None:
    with user_errors():
        result = run()
    if not quiet and result.table is not None:
        with pd.option_context("display.width", 120, "display.max_columns", 12):
            click.echo(_table(result.table.round(4), {}))
    report_written(result.warnings, output, quiet)


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")(f)


@main.command()
@click.argument("history", type=INPUT, metavar="HISTORY.xlsx")
@output_option()
@click.option("--force", is_flag=True,
              help="OUT.xlsx exists: replace its sheets of the same names even when planner did "
                   "not write them (e.g. a scenario's own), or replace a file that is not a "
                   "workbook. Every other sheet is kept either way.")
@quiet_option
def fit(history: Path, output: Path, force: bool, quiet: bool) -> None:
    """Fit response curves to spend history and write a Curves sheet.

    HISTORY.xlsx has a History sheet (segment, channel, program, period, spend,
    customers); every concave curve family is fitted per cell, the best one kept, and
    its fit quality reported. When OUT.xlsx exists, only the Curves, Fit Charts and Fit
    Families sheets are added or replaced in it; every other sheet is kept. Replacing a
    Curves sheet planner did not write (your scenario's) needs --force.

    \b
    Example:
      planner fit history.xlsx -o scenario.xlsx --force
    """
    _data_command(lambda: workflows.fit_workbook(str(history), str(output), force=force), output, quiet)


@main.command()
@click.argument("transactions", type=INPUT, metavar="TRANSACTIONS")
@output_option()
@click.option("--periods-per-year", type=click.Choice(["1", "2", "4", "12"]), default="4",
              show_default=True, help="Planning periods per year.")
@click.option("--segments", type=click.Choice(["given", "rfm"], case_sensitive=False),
              default="given", show_default=True,
              help="Use the segment column of the data, or derive RFM segments.")
@click.option("--force", is_flag=True,
              help="OUT.xlsx exists: replace its sheets of the same names even when planner did "
                   "not write them (e.g. a scenario's own), or replace a file that is not a "
                   "workbook. Every other sheet is kept either way.")
@quiet_option
def value(transactions: Path, output: Path, periods_per_year: str, segments: str,
          force: bool, quiet: bool) -> None:
    """Measure segment value from transactions and write a Segments sheet.

    TRANSACTIONS is a CSV file or a workbook with a Transactions sheet (customer_id,
    date, amount, optional margin and segment). Per segment: customers, margin per
    period, retention rate per period, order value and frequency. When OUT.xlsx exists,
    only the Segments and Segment Details sheets are added or replaced in it; every other
    sheet is kept. Replacing a Segments sheet planner did not write needs --force.

    \b
    Example:
      planner value transactions.csv -o scenario.xlsx --segments rfm
    """
    _data_command(lambda: workflows.value_workbook(
        str(transactions), str(output), periods_per_year=int(periods_per_year),
        segments=segments.lower(), force=force), output, quiet)


@main.command()
@click.argument("before", type=INPUT)
@click.argument("after", type=INPUT)
@output_option()
@click.option("--n-boot", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Bootstrap resamples for the confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--force", is_flag=True,
              help="OUT.xlsx exists: replace its sheets of the same names even when planner did "
                   "not write them (e.g. a scenario's own), or replace a file that is not a "
                   "workbook. Every other sheet is kept either way.")
@quiet_option
def uplift(before: Path, after: Path, output: Path, n_boot: int, seed: int, force: bool,
           quiet: bool) -> None:
    """CLV uplift per segment between two periods of transactions, with confidence intervals.

    BEFORE and AFTER are transactions (CSV or a workbook with a Transactions sheet) from
    before and after a CRM change. When OUT.xlsx exists, only the Uplift sheet is added or
    replaced in it; every other sheet is kept.

    \b
    Example:
      planner uplift before.csv after.csv -o uplift.xlsx --n-boot 2000 --seed 1
    """
    _data_command(lambda: workflows.uplift_workbook(str(before), str(after), str(output),
                                                    force=force, n_boot=n_boot, seed=seed),
                  output, quiet)


