"""The ``planner`` command line: a thin layer over the library.

This is the only module that imports click.  Each command parses its arguments, makes one
library call and formats the result; library errors become exit codes here:

0 success · 1 invalid input (nothing written) · 2 usage · 3 infeasible (nothing written)
· 4 solver failure.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
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
from planner.analysis import risk as plan_risk
from planner.analysis import risk_draws
from planner.analysis import sweep as sweeps
from planner.core.figures import HEADLINE_KEYS, format_figure, kind_of, label_of
from planner.core.plan import Plan
from planner.engine import optimizer as engine
from planner.errors import PlannerError, ScenarioError, SolverError
from planner.io import atomic
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


def force_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--force``: replace sheets of the output planner did not write."""
    return click.option("--force", is_flag=True,
                        help="Replace a sheet of the output that has a result sheet's name but "
                             "was not written by planner, or an existing OUT.xlsx with sheets the "
                             "new workbook would not keep (by default planner refuses and writes "
                             "nothing).")(f)


def in_place_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--in-place``: write the result sheets into the input workbook itself."""
    return click.option("--in-place", is_flag=True,
                        help="Write the result sheets into IN.xlsx itself (no -o needed).")(f)


def resolve_output(input_path: Path, output: Path | None, in_place: bool) -> Path:
    """The output path from ``-o`` and ``--in-place`` (usage errors exit 2)."""
    if in_place:
        if output is not None and output.resolve() != input_path.resolve():
            raise click.UsageError("--in-place writes into IN.xlsx: leave out -o.")
        return input_path
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output' (or use --in-place).")
    if output.resolve() == input_path.resolve():
        raise click.UsageError("OUT.xlsx is the input file: use --in-place to write into it.")
    return output


def _on_terminate(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP: remove the temporary file of a write in progress, then exit."""
    atomic.remove_live_temps()
    raise SystemExit(128 + signum)


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
        scenario = scenario.with_settings(solver=solver.lower())
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


#: Headline figures of the printout: key, label and format kind, from the catalogue.
_HEADLINES = [(k, label_of(k), kind_of(k)) for k in HEADLINE_KEYS if k != "status"]
#: The printout's older kind names, kept for callers: money → currency, count → integer.
_KINDS = {"money": "currency", "count": "integer"}


def fmt(value: Any, kind: str = "number", currency: str = "") -> str:
    """A figure as a planner reads it (:func:`planner.core.figures.format_figure`): money
    whole from 1 000 up, counts whole, ratios with two decimals, rates as %, '-' for missing."""
    return format_figure(value, _KINDS.get(kind, kind), currency)


def _table(frame: pd.DataFrame, kinds: dict[str, str], currency: str = "", labels: bool = False) -> str:
    """A frame as indented text, its columns formatted by ``kinds`` (headers by their
    catalogue label when ``labels``)."""
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col] + 0.0  # -0.0 + 0.0 is 0.0: no "-0.0" in the printout
    for col, kind in kinds.items():
        if col in shown:
            shown[col] = [fmt(v, kind, "") for v in shown[col]]
    if labels:
        shown.columns = [label_of(str(c)) for c in shown.columns]
    text = shown.to_string(index=False)
    return "\n".join("  " + line for line in text.splitlines())


def json_summary(plan: Plan, scenario_name: str | None = None) -> dict[str, Any]:
    """The ``--json`` object: every Summary figure by key, ``scenario`` the what-if applied
    (``Base`` when none) and ``workbook_scenario`` the workbook's own scenario name."""
    out = jsonable(plan.summary or {"status": plan.status})
    out["scenario"] = scenario_name or plan.run_info.get("what_if") or overrides.BASE
    out["workbook_scenario"] = plan.scenario.name
    return out


def plan_summary(plan: Plan, top: int = 10) -> str:
    """The terminal summary of a plan: headlines, top allocations, binding constraints, warnings."""
    s = plan.scenario
    cur = s.settings.currency
    what_if = plan.run_info.get("what_if")
    title = f"Plan for {s.name}" + (f" (scenario {what_if})" if what_if else "")
    lines = [f"{title}: {plan.status}"]
    for key, label, kind in _HEADLINES:
        if key in plan.summary:
            lines.append(f"  {label:<28}{fmt(plan.summary[key], kind, cur):>18}")
    alloc = plan.allocation
    if len(alloc):
        best = alloc.sort_values("spend", ascending=False).head(top)
        cols = [c for c in ("period", "segment", "channel", "program", "spend", "customers",
                            "roi", "marginal_roi") if c in best]
        lines += ["", f"Top allocations ({min(top, len(alloc))} of {len(alloc)}, {cur}):",
                  _table(best[cols], {"spend": "number", "customers": "integer", "roi": "ratio",
                                      "marginal_roi": "ratio"}, labels=True)]
    cons = plan.constraints
    if len(cons) and "binding" in cons:
        binding = cons[cons["binding"].astype(bool)]
        if len(binding):
            cols = [c for c in ("name", "metric", "sense", "limit", "actual", "shadow_price") if c in binding]
            more = len(binding) - top
            lines += ["", f"Binding constraints ({len(binding)}):",
                      _table(binding[cols].head(top), {"limit": "number", "actual": "number",
                                                       "shadow_price": "number"}, labels=True)]
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
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _on_terminate)


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
@in_place_option
@force_option
@scenario_option
@solve_options
def optimize(input_path: Path, output: Path | None, as_json: bool, results_only: bool,
             in_place: bool, force: bool, scenario_name: str | None, solver: str | None,
             quiet: bool) -> None:
    """Find the plan for IN.xlsx and write it to OUT.xlsx.

    Writes the Plan, Summary, Constraints Report and Run Info sheets into a copy of the
    input workbook (your own sheets are kept) and prints a summary: headline figures, the
    largest allocations, the binding constraints and any warnings.

    \b
    Examples:
      planner optimize scenarios/retail_quarterly.xlsx -o plan.xlsx
      planner optimize scenarios/retail_quarterly.xlsx -o plan.xlsx --scenario "Budget +20%" --json
    """
    if in_place and results_only:
        raise click.UsageError("--in-place and --results-only cannot be combined.")
    output = resolve_output(input_path, output, in_place)
    scenario = load(input_path, scenario_name, solver)
    with user_errors():
        plan = engine.optimize(scenario)
    if scenario_name:
        plan.run_info.setdefault("what_if", scenario_name)
    if plan.status == "feasible":
        warn("the solver stopped at its time limit: the plan meets every constraint but may "
             "not be optimal (raise time_limit_s in Settings).")
    if as_json and not plan.ok:
        click.echo(json.dumps(json_summary(plan, scenario_name)))
    check_plan(plan)

    with user_errors():
        result = io.write_plan(plan, str(output), source=str(input_path),
                               results_only=results_only, in_place=in_place, force=force)
    if as_json:
        click.echo(json.dumps(json_summary(plan, scenario_name)))
    elif not quiet:
        click.echo(plan_summary(plan))
    report_written(result, output, quiet or as_json)


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option(required=False)
@in_place_option
@force_option
@click.option("--points", type=click.IntRange(min=2, max=1000), default=21, show_default=True,
              help="Number of budgets from 0 to the maximum.")
@click.option("--max-budget", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Largest budget (default: twice the workbook's total_budget).")
@scenario_option
@solve_options
def frontier(input_path: Path, output: Path | None, in_place: bool, force: bool, points: int,
             max_budget: float | None, scenario_name: str | None, solver: str | None,
             quiet: bool) -> None:
    """Value, net value and marginal ROI across total budgets, written to a Frontier sheet.

    Sweeps the total budget from 0 to twice the workbook's budget (or --max-budget),
    keeping every other setting and constraint, and charts the result.

    \b
    Example:
      planner frontier scenarios/retail_quarterly.xlsx -o frontier.xlsx --points 21
    """
    output = resolve_output(input_path, output, in_place)

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
             f"{', '.join(fmt(b) for b in failed['budget'])}"
             + (f". {result.infeasible_note}" if getattr(result, "infeasible_note", "") else ""))
    with user_errors():
        written = io.write_sheets(result.sheets(), str(output), source=str(input_path),
                                  in_place=in_place, force=force)
    if not quiet:
        cols = ["budget", "spend", "value", "net_value", "marginal_roi", "status"]
        click.echo(f"Budget frontier of {scenario.name} ({scenario.settings.currency}):")
        click.echo(_table(result.table[cols], {c: kind_of(c) for c in cols[:-1]} | {"budget": "number",
                          "spend": "number", "value": "number", "net_value": "number"}, labels=True))
        click.echo(f"  {result.note}")
    report_written(written, output, quiet)


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option(required=False)
@in_place_option
@force_option
@solve_options
def compare(input_path: Path, output: Path | None, in_place: bool, force: bool, solver: str | None,
            quiet: bool) -> None:
    """Optimise Base and every scenario of the Scenarios sheet, side by side.

    Writes a Comparison sheet (headline figures per scenario and the change against Base)
    and a Comparison Spend sheet (spend by channel), with charts. A scenario without a plan
    is reported, not fatal; Base must have one.

    \b
    Example:
      planner compare scenarios/retail_quarterly.xlsx -o comparison.xlsx
    """
    output = resolve_output(input_path, output, in_place)

    scenario = load(input_path, None, solver)
    with user_errors(), progress_bar("Scenarios", quiet) as progress:
        result = comparison.compare(scenario, progress=progress)
    check_plan(result.plans[overrides.BASE])
    for name, plan in result.plans.items():
        if not plan.ok:
            warn(f"scenario '{name}' has no plan ({plan.status}). {plan.message}".rstrip())
    with user_errors():
        written = io.write_sheets(result.sheets(), str(output), source=str(input_path),
                                  in_place=in_place, force=force)
    if not quiet:
        cols = ["scenario", "status", "total_spend", "total_value", "net_value", "roi",
                "new_customers", "retained_customers"]
        click.echo(f"Scenarios compared ({scenario.settings.currency}):")
        click.echo(_table(result.headline[cols], {k: "number" for k in cols[2:]}
                          | {k: kind_of(k) for k in ("roi", "new_customers", "retained_customers")}, labels=True))
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


# --------------------------------------------------------------------------- risk


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option()
@force_option
@click.option("--draws", type=click.IntRange(min=10), default=None,
              help="Monte Carlo draws (default: the risk_draws setting, 1000).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Random seed (default: the risk_seed setting, 0); same seed, same figures.")
@click.option("--json", "as_json", is_flag=True,
              help='Print the figures as JSON: {"net_value": {"mean": ..., "p10": ..., ...}, ...}.')
@click.option("--robust", is_flag=True,
              help="Also find the plan with the best expected net value over the same draws.")
@scenario_option
@solve_options
def risk(input_path: Path, output: Path, force: bool, draws: int | None, seed: int | None, as_json: bool,
         robust: bool, scenario_name: str | None, solver: str | None, quiet: bool) -> None:
    """How sure is the plan? Its figures over draws of the uncertain inputs.

    Finds the plan as optimize does, then evaluates it on every draw of the inputs that
    carry a P10/P90 range (a_low ... b_high on Curves, margin_low ... retention_high on
    Segments). Writes the plan sheets plus a Risk sheet: mean, P10, P50 and P90 of each
    figure, the probability of a negative net value, a histogram and a by-segment range.

    \b
    Examples:
      planner risk scenarios/retail_quarterly.xlsx -o risk.xlsx
      planner risk in.xlsx -o risk.xlsx --draws 5000 --seed 7 --robust --json
    """
    scenario = load(input_path, scenario_name, solver)
    with user_errors():
        result = plan_risk.plan_risk(scenario, draws=draws, seed=seed, robust=robust)
    check_plan(result.plan)
    for w in result.warnings:
        warn(w)
    with user_errors():
        written = io.write_plan(result.plan, str(output), source=str(input_path), extra=result.sheets(),
                                force=force)
    if as_json:
        click.echo(json.dumps(jsonable(result.as_dict())))
    elif not quiet:
        cur = scenario.settings.currency
        click.echo(f"Risk of the plan for {scenario.name} over {result.draws.n} draws "
                   f"(seed {result.draws.seed}, {cur}):")
        click.echo(_table(result.table().drop(columns="_format"), dict.fromkeys(("mean", "p10", "p50", "p90"), "number")))
        for key, gain in result.trade_off().items():
            click.echo(f"  robust plan, {key.replace('_', ' ')}: {fmt(gain, 'money', cur)}")
    report_written(written, output, quiet or as_json)


# --------------------------------------------------------------------------- sweep (DESIGN §8)


def _risk_draws() -> Callable[..., Any]:
    """The risk draws a sweep re-optimises on (docs/design.md §7)."""
    return risk_draws.draw_scenarios


@main.command()
@click.argument("input_path", type=INPUT, metavar="IN.xlsx")
@output_option()
@force_option
@click.option("--budgets", type=click.IntRange(min=1, max=1000), default=1, show_default=True,
              help="Budget levels per scenario, evenly from 0.5x to 1.5x of its budget "
                   "(1: its own budget only).")
@click.option("--draws", type=click.IntRange(min=0), default=0, show_default=True,
              help="Risk draws per scenario and budget, each re-optimised (the P10/P90 "
                   "ranges of Curves and Segments).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the risk draws (default: the risk_seed setting, else 0).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run on the Dask cluster whose scheduler is at ADDRESS "
                   "(tcp://host:8786) instead of a local one.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local cluster (default: one per core).")
@click.option("--parquet", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Also write every row and every plan's allocation to "
                                  "DIR/sweep.parquet and DIR/allocations.parquet.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows and the summary as one JSON object on stdout.")
@solve_options
def sweep(input_path: Path, output: Path, force: bool, budgets: int, draws: int, seed: int | None,
          scheduler: str | None, workers: int | None, parquet: Path | None, as_json: bool,
          solver: str | None, quiet: bool) -> None:
    """Optimise every scenario at several budgets and risk draws, on Dask.

    Runs Base and every scenario of the Scenarios sheet, each at --budgets levels and
    re-optimised on --draws risk draws; one solve per task, on a local Dask cluster or
    the one at --scheduler. Writes a Sweep sheet (one row per task) and a Sweep Summary
    sheet (P10/P50/P90 of the optimal net value and of spend per channel). A task that
    fails is retried, then kept as a row with its error.

    \b
    Examples:
      planner sweep scenarios/retail_quarterly.xlsx -o sweep.xlsx --budgets 5
      planner sweep in.xlsx -o sweep.xlsx --draws 100 --scheduler tcp://10.0.0.5:8786
    """
    if scheduler and workers is not None:
        raise click.UsageError("--workers sizes the local cluster: with --scheduler the "
                               "cluster's own workers run the sweep.")
    scenario = load(input_path, None, solver)
    draw = _risk_draws() if draws else None
    if seed is None:
        seed = int(getattr(scenario.settings, "risk_seed", 0) or 0)
    with user_errors(), progress_bar("Tasks", quiet) as progress:
        result = sweeps.sweep(scenario, budgets=budgets, draws=draws, seed=seed, draw_scenarios=draw,
                              scheduler=scheduler, workers=workers, progress=progress,
                              allocations=parquet is not None)
    failed, n = result.failed, len(result.rows)
    if len(failed) == n:
        first = failed.iloc[0]
        raise SolverFailed(f"no task of the sweep has a plan (first: {first['scenario']} at "
                           f"{fmt(first['budget'])}, draw {first['draw']}: {first['status']}. "
                           f"{first['message']})".rstrip() + "\nNothing was written.")
    if len(failed):
        warn(f"{len(failed)} of {n} tasks have no plan ({', '.join(sorted(set(failed['status'])))}): "
             "see the status and message columns of the Sweep sheet.")
    with user_errors():
        written = io.write_sheets(result.sheets(), str(output), source=str(input_path), force=force)
        if parquet is not None:
            result.write_parquet(parquet)
    if as_json:
        click.echo(json.dumps(jsonable(result.records())))
    elif not quiet:
        net, _ = result.summary()
        cols = ["scenario", "budget", "plans", "net_value_estimate", "net_value_p10",
                "net_value_p50", "net_value_p90"]
        click.echo(f"Sweep of {scenario.name}: {n} tasks on {result.workers} worker(s) in "
                   f"{result.seconds:.1f} s ({scenario.settings.currency}):")
        click.echo(_table(net[cols], {c: "number" for c in cols[1:]}))
    report_written(written, output, quiet or as_json)
    if parquet is not None and not (quiet or as_json):
        click.echo(f"Wrote {parquet / 'sweep.parquet'} and {parquet / 'allocations.parquet'}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
