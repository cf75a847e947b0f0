"""The ``planner`` command line: a thin layer over the library.

This is the only module that imports click.  Each command parses its arguments, makes one
library call and formats the result; library errors become exit codes here:

0 success · 1 invalid input (nothing written) · 2 usage · 3 infeasible (nothing written)
· 4 solver failure.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pandas as pd

from planner import io, workflows
from planner.analysis import compare as comparison
from planner.analysis import frontier as budget_frontier
from planner.core.plan import Plan
from planner.engine import optimizer as engine
from planner.errors import PlannerError, ScenarioError, SolverError
from planner.scenario import overrides
from planner.scenario.models import Scenario

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INFEASIBLE, EXIT_SOLVER = 0, 1, 2, 3, 4


class InvalidInput(click.ClickException):
    """Exit 1: the input has problems; nothing was written."""

    exit_code = EXIT_INVALID


class Infeasible(click.ClickException):
    """Exit 3: no plan meets every constraint; nothing was written."""

    exit_code = EXIT_INFEASIBLE


class SolverFailed(click.ClickException):
    """Exit 4: the solver failed or stopped without a plan."""

    exit_code = EXIT_SOLVER


@contextmanager
def user_errors(writes: bool = True) -> Iterator[None]:
    """Turn the library's domain errors into click errors; anything else is a bug."""
    tail = "\nNothing was written." if writes else ""
    try:
        with warnings.catch_warnings():
            # library warnings (openpyxl, numpy) are not for a planner's eyes: what matters is
            # reported by planner itself (Plan.warnings, the writer's losses)
            warnings.simplefilter("ignore")
            yield
    except SolverError as exc:
        raise SolverFailed(f"{exc}{tail}") from None
    except PlannerError as exc:
        raise InvalidInput(f"{exc}{tail}") from None


# --------------------------------------------------------------------------- options

_SOLVERS = click.Choice(["auto", "highs", "cbc"], case_sensitive=False)


def output_option(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output OUT.xlsx``: where the result workbook goes."""
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        required=required, metavar="OUT.xlsx",
                        help="Workbook to write (a copy of the input with the result sheets).")


def solve_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that optimises: --scenario, --solver, --quiet."""
    f = click.option("-q", "--quiet", is_flag=True,
                     help="No progress bar and no terminal summary (errors still print).")(f)
    f = click.option("--solver", type=_SOLVERS, default=None,
                     help="Solver to use instead of the workbook's 'solver' setting.")(f)
    return f


def scenario_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--scenario NAME``: run one what-if scenario of the Scenarios sheet."""
    return click.option("--scenario", "scenario_name", metavar="NAME", default=None,
                        help="Apply this scenario of the Scenarios sheet to the workbook first "
                             "(default: Base, the workbook as it is).")(f)


INPUT = click.Path(path_type=Path)  # missing, folder, unreadable: the library says so (exit 1)


def load(path: Path, scenario_name: str | None = None, solver: str | None = None,
         writes: bool = True) -> Scenario:
    """Read (and optionally transform) the scenario, or exit 1 with every located problem."""

    with user_errors(writes):
        scenario = io.read_scenario(str(path))
        if scenario_name:
            scenario = overrides.apply_scenario(scenario, scenario_name)
    if solver:
        settings = scenario.settings.model_copy(update={"solver": solver.lower()})
        scenario = scenario.model_copy(update={"settings": settings})
    return scenario


def check_plan(plan: Plan) -> None:
    """Exit 3 (infeasible, with what must move) or 4 (no plan) unless the plan is usable."""
    if plan.ok:
        return
    if plan.status == "infeasible":
        lines = [c.message for c in plan.conflicts] or [plan.message or "no reason given"]
        body = "\n".join(f"  - {line}" for line in lines)
        raise Infeasible("the scenario is infeasible: no plan meets every constraint. "
                         f"To make it feasible:\n{body}\nNothing was written.")
    why = f": {plan.message}" if plan.message else ""
    raise SolverFailed(f"the solver stopped without a plan ({plan.status}){why}\nNothing was written.")


def warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def report_written(result: Any, output: Path, quiet: bool) -> None:
    """Print the writer's warnings (if it returned any) and where the result went."""
    warnings = getattr(result, "warnings", result)
    if isinstance(warnings, list | tuple):
        for w in warnings:
            if isinstance(w, str):
                warn(w)
    if not quiet:
        click.echo(f"Wrote {output}", err=True)


def _stderr_is_terminal() -> bool:
    return click.get_text_stream("stderr").isatty()


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on stderr, or None when off."""
    if quiet or not _stderr_is_terminal():
        yield None
        return
    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label=label,
                                          file=click.get_text_stream("stderr")))
            bars[0].__enter__()
        bars[0].update(done - bars[0].pos)

    try:
        yield update
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


# --------------------------------------------------------------------------- formatting


def jsonable(value: Any) -> Any:
    """A JSON value: numpy scalars become Python numbers, NaN and infinity become null."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


_HEADLINES = [
    ("total_spend", "Total spend", "money"), ("total_value", "Total value", "money"),
    ("baseline_value", "Baseline value", "money"), ("net_value", "Net value", "money"),
    ("roi", "ROI", "ratio"), ("new_customers", "New customers", "count"),
    ("retained_customers", "Retained customers", "count"),
    ("blended_cac", "Blended CAC", "money"), ("cost_per_retained", "Cost per retained", "money"),
    ("unspent_budget", "Unspent budget", "money"),
    ("budget_shadow_price", "Budget shadow price", "ratio"),
    ("marginal_roi_of_budget", "Marginal ROI of budget", "ratio"),
    ("optimality_gap_bound", "Optimality gap bound", "money"),
]


def fmt(value: Any, kind: str = "number", currency: str = "") -> str:
    """A figure as a planner reads it: thousands separators, '-' for missing."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "-" if value is None else str(value)
    if not math.isfinite(x):
        return "-"
    if kind == "money":
        return f"{x:,.{2 if abs(x) < 100 else 0}f} {currency}".rstrip()
    if kind == "ratio" or (abs(x) < 10 and not x.is_integer()):
        return f"{x:,.{2 if abs(x) >= 0.01 or x == 0 else 4}f}"
    return f"{x:,.0f}"


def _table(frame: pd.DataFrame, kinds: dict[str, str], currency: str = "") -> str:
    shown = frame.copy()
    for col, kind in kinds.items():
        if col in shown:
            shown[col] = [fmt(v, kind, "") for v in shown[col]]
    text = shown.to_string(index=False)
    return "\n".join("  " + line for line in text.splitlines())


def plan_summary(plan: Plan, top: int = 10) -> str:
    """The terminal summary of a plan: headlines, top allocations, binding constraints, warnings."""
    s = plan.scenario
    cur = s.settings.currency
    what_if = plan.run_info.get("what_if")
    title = f"Plan for {s.name}" + (f" (scenario {what_if})" if what_if else "")
    lines = [f"{title}: {plan.status}"]
    for key, label, kind in _HEADLINES:
        if key in plan.summary:
            lines.append(f"  {label:<22}{fmt(plan.summary[key], kind, cur):>20}")
    alloc = plan.allocation
    if len(alloc):
        best = alloc.sort_values("spend", ascending=False).head(top)
        cols = [c for c in ("period", "segment", "channel", "program", "spend", "customers",
                            "roi", "marginal_roi") if c in best]
        lines += ["", f"Top allocations ({min(top, len(alloc))} of {len(alloc)}, {cur}):",
                  _table(best[cols], {"spend": "number", "customers": "number", "roi": "ratio",
                                      "marginal_roi": "ratio"})]
    cons = plan.constraints
    if len(cons) and "binding" in cons:
        binding = cons[cons["binding"].astype(bool)]
        if len(binding):
            cols = [c for c in ("name", "metric", "sense", "limit", "actual", "shadow_price") if c in binding]
            more = len(binding) - top
            lines += ["", f"Binding constraints ({len(binding)}):",
                      _table(binding[cols].head(top), {"limit": "number", "actual": "number",
                                                       "shadow_price": "ratio"})]
            if more > 0:
                lines.append(f"  ... and {more} more in the Constraints Report sheet")
    if plan.warnings:
        lines += ["", "Warnings:", *(f"  - {w}" for w in plan.warnings)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


@click.group(name="planner", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner", prog_name="planner")
def main() -> None:
    """Allocate acquisition and retention budgets to maximise discounted customer value.

    Scenarios live in Excel workbooks; results are written to a copy of the io.

    \b
    Example:
      planner template my_plan.xlsx
      planner optimize my_plan.xlsx -o my_plan_results.xlsx

    \b
    Exit codes:
      0 success
      1 invalid input (every problem is listed; nothing written)
      2 usage
      3 infeasible (what must move is listed; nothing written)
      4 solver failure
    """


@main.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.xlsx")
def template(output: Path) -> None:
    """Write a blank, documented scenario workbook to OUT.xlsx.

    The workbook has an Instructions sheet, one sheet per input table with its headers,
    and dropdowns for names and words.

    \b
    Example:
      planner template my_plan.xlsx
    """

    with user_errors():
        result = io.write_template(str(output))
    report_written(result, output, quiet=False)


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
def validate(input_path: Path) -> None:
    """Check a scenario workbook and list every problem.

    Each problem names its sheet, row, column, the value found and what is expected. The
    what-if scenarios of the Scenarios sheet are checked too. Exit 0 when the workbook is
    valid, 1 otherwise.

    \b
    Example:
      planner validate scenarios/retail_quarterly.xlsx
    """

    scenario = load(input_path, writes=False)
    issues = overrides.check_scenarios(scenario)
    if issues:
        with user_errors(writes=False):
            raise ScenarioError(issues)
    names = overrides.scenario_names(scenario)
    click.echo(
        f"OK: {input_path} is a valid scenario ({scenario.name}): "
        f"{len(scenario.periods)} period(s), {len(scenario.segments)} segment(s), "
        f"{len(scenario.channels)} channel(s), {len(scenario.curves)} curve(s), "
        f"{len(scenario.constraints)} constraint(s); scenarios: {', '.join(names)}.")


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option(required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as one JSON object on stdout (for scripts).")
@click.option("--results-only", is_flag=True,
              help="Write a fresh workbook holding only the result sheets.")
@click.option("--in-place", is_flag=True,
              help="Write the result sheets into IN.xlsx itself (no -o needed).")
@scenario_option
@solve_options
def optimize(input_path: Path, output: Path | None, as_json: bool, results_only: bool,
             in_place: bool, scenario_name: str | None, solver: str | None, quiet: bool) -> None:
    """Find the plan for IN.xlsx and write it to OUT.xlsx.

    Writes the Plan, Summary, Constraints Report and Run Info sheets into a copy of the
    input workbook (your own sheets are kept) and prints a summary: headline figures, the
    largest allocations, the binding constraints and any warnings.

    \b
    Examples:
      planner optimize scenarios/retail_quarterly.xlsx -o plan.xlsx
      planner optimize in.xlsx -o plan.xlsx --scenario "High budget" --json
    """
    if in_place and results_only:
        raise click.UsageError("--in-place and --results-only cannot be combined.")
    if in_place:
        if output is not None and output.resolve() != input_path.resolve():
            raise click.UsageError("--in-place writes into IN.xlsx: leave out -o.")
        output = input_path
    elif output is None:
        raise click.UsageError("Missing option '-o' / '--output' (or use --in-place).")
    elif output.resolve() == input_path.resolve():
        raise click.UsageError("OUT.xlsx is the input file: use --in-place to write into it.")
    scenario = load(input_path, scenario_name, solver)
    with user_errors():
        plan = engine.optimize(scenario)
    if scenario_name:
        plan.run_info.setdefault("what_if", scenario_name)
    if plan.status == "feasible":
        warn("the solver stopped at its time limit: the plan meets every constraint but may "
             "not be optimal (raise time_limit_s in Settings).")
    if as_json and not plan.ok:
        click.echo(json.dumps(jsonable(plan.summary or {"status": plan.status})))
    check_plan(plan)

    with user_errors():
        result = io.write_plan(plan, str(output), source=str(input_path),
                                     results_only=results_only, in_place=in_place)
    if as_json:
        click.echo(json.dumps(jsonable(plan.summary)))
    elif not quiet:
        click.echo(plan_summary(plan))
    report_written(result, output, quiet or as_json)


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option()
@click.option("--points", type=click.IntRange(min=2, max=1000), default=21, show_default=True,
              help="Number of budgets from 0 to the maximum.")
@click.option("--max-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Largest budget (default: twice the workbook's total_budget).")
@scenario_option
@solve_options
def frontier(input_path: Path, output: Path, points: int, max_budget: float | None,
             scenario_name: str | None, solver: str | None, quiet: bool) -> None:
    """Value, net value and marginal ROI across total budgets, written to a Frontier sheet.

    Sweeps the total budget from 0 to twice the workbook's budget (or --max-budget),
    keeping every other setting and constraint, and charts the result.

    \b
    Example:
      planner frontier scenarios/retail_quarterly.xlsx -o frontier.xlsx --points 21
    """

    scenario = load(input_path, scenario_name, solver)
    with user_errors(), progress_bar("Budgets", quiet) as progress:
        result = budget_frontier.frontier(scenario, points=points, max_budget=max_budget, progress=progress)
    status = list(result.table["status"])
    if not any(st in ("optimal", "feasible") for st in status):  # plans are built on access
        infeasible = [i for i, st in enumerate(status) if st == "infeasible"]
        check_plan(result.plans[infeasible[-1] if infeasible else -1])
    failed = result.table[~result.table["status"].isin(["optimal", "feasible"])]
    if len(failed):
        warn(f"{len(failed)} of {points} budgets have no plan "
             f"({', '.join(sorted(set(failed['status'])))}): "
             f"{', '.join(fmt(b) for b in failed['budget'])}")
    with user_errors():
        written = io.write_sheets(result.sheets(), str(output), source=str(input_path))
    if not quiet:
        cols = ["budget", "spend", "value", "net_value", "marginal_roi", "status"]
        click.echo(f"Budget frontier of {scenario.name} ({scenario.settings.currency}):")
        click.echo(_table(result.table[cols], {"budget": "number", "spend": "number",
                                               "value": "number", "net_value": "number",
                                               "marginal_roi": "ratio"}))
        click.echo(f"  {result.note}")
    report_written(written, output, quiet)


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option()
@solve_options
def compare(input_path: Path, output: Path, solver: str | None, quiet: bool) -> None:
    """Optimise Base and every scenario of the Scenarios sheet, side by side.

    Writes a Comparison sheet: headline figures per scenario, the change against Base and
    spend by channel, with charts. A scenario without a plan is reported, not fatal;
    Base must have one.

    \b
    Example:
      planner compare scenarios/retail_quarterly.xlsx -o comparison.xlsx
    """

    scenario = load(input_path, None, solver)
    with user_errors(), progress_bar("Scenarios", quiet) as progress:
        result = comparison.compare(scenario, progress=progress)
    check_plan(result.plans[overrides.BASE])
    for name, plan in result.plans.items():
        if not plan.ok:
            warn(f"scenario '{name}' has no plan ({plan.status}). {plan.message}".rstrip())
    with user_errors():
        written = io.write_sheets(result.sheets(), str(output), source=str(input_path))
    if not quiet:
        cols = ["scenario", "status", "total_spend", "total_value", "net_value", "roi",
                "new_customers", "retained_customers"]
        click.echo(f"Scenarios compared ({scenario.settings.currency}):")
        click.echo(_table(result.headline[cols], {k: "number" for k in cols[2:]} | {"roi": "ratio"}))
    report_written(written, output, quiet)


# --------------------------------------------------------------------------- data commands


def _data_command(run: Callable[[], Any], output: Path, quiet: bool) -> None:
    with user_errors():
        result = run()
    table = next((t for t in (getattr(result, a, None) for a in ("table", "curves"))
                  if isinstance(t, pd.DataFrame)), None)
    if not quiet and table is not None:
        with pd.option_context("display.width", 120, "display.max_columns", 12):
            click.echo(_table(table.round(4), {}))
    report_written(result, output, quiet)


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")(f)


@main.command()
@click.argument("history", type=INPUT, metavar="HISTORY.xlsx")
@output_option()
@quiet_option
def fit(history: Path, output: Path, quiet: bool) -> None:
    """Fit response curves to spend history and write a Curves sheet.

    HISTORY.xlsx has a History sheet (segment, channel, program, period, spend,
    customers); every concave curve family is fitted per cell, the best one kept, and
    its fit quality reported.

    \b
    Example:
      planner fit history.xlsx -o scenario.xlsx
    """
    _data_command(lambda: workflows.fit_workbook(str(history), str(output)), output, quiet)


@main.command()
@click.argument("transactions", type=INPUT, metavar="TRANSACTIONS")
@output_option()
@click.option("--periods-per-year", type=click.Choice(["1", "2", "4", "12"]), default="4",
              show_default=True, help="Planning periods per year.")
@click.option("--segments", type=click.Choice(["given", "rfm"], case_sensitive=False),
              default="given", show_default=True,
              help="Use the segment column of the data, or derive RFM segments.")
@quiet_option
def value(transactions: Path, output: Path, periods_per_year: str, segments: str,
          quiet: bool) -> None:
    """Measure segment value from transactions and write a Segments sheet.

    TRANSACTIONS is a CSV file or a workbook with a Transactions sheet (customer_id,
    date, amount, optional margin and segment). Per segment: customers, margin per
    period, retention rate per period, order value and frequency.

    \b
    Example:
      planner value transactions.csv -o scenario.xlsx --segments rfm
    """
    _data_command(lambda: workflows.value_workbook(
        str(transactions), str(output), periods_per_year=int(periods_per_year),
        segments=segments.lower()), output, quiet)


@main.command()
@click.argument("before", type=INPUT)
@click.argument("after", type=INPUT)
@output_option()
@click.option("--n-boot", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Bootstrap resamples for the confidence intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@quiet_option
def uplift(before: Path, after: Path, output: Path, n_boot: int, seed: int, quiet: bool) -> None:
    """CLV uplift per segment between two periods of transactions, with confidence intervals.

    BEFORE and AFTER are transactions (CSV or a workbook with a Transactions sheet) from
    before and after a CRM change.

    \b
    Example:
      planner uplift before.csv after.csv -o uplift.xlsx --n-boot 2000 --seed 1
    """
    _data_command(lambda: workflows.uplift_workbook(str(before), str(after), str(output),
                                                 n_boot=n_boot, seed=seed), output, quiet)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
