"""Commands on one scenario: template, validate, optimize, frontier, compare."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner import io
from planner.analysis import compare as comparison
from planner.analysis import frontier as budget_frontier
from planner.cli.app import (
    INPUT,
    _table,
    check_plan,
    fmt,
    force_option,
    in_place_option,
    json_summary,
    load,
    main,
    output_option,
    plan_summary,
    progress_bar,
    report_written,
    resolve_output,
    scenario_option,
    solve_options,
    user_errors,
    warn,
)
from planner.core.figures import kind_of
from planner.core.plan import usable
from planner.engine import optimizer as engine
from planner.errors import ScenarioError
from planner.scenario import overrides


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
        io.write_template(str(output))
    report_written([], output, quiet=False)


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
    if plan.ok and plan.status == "time_limit":
        warn("the run stopped at its time limit (time_limit_s): the plan is the best found and "
             "meets every constraint but may not be optimal (raise time_limit_s in Settings).")
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
    usable_rows = [usable(st, bool(h)) for st, h in zip(status, result.table["net_value"].notna(), strict=True)]
    if not any(usable_rows):  # plans are built on access
        infeasible = [i for i, st in enumerate(status) if st == "infeasible"]
        check_plan(result.plans[infeasible[-1] if infeasible else -1])
    failed = result.table[[not u for u in usable_rows]]
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


