"""Commands over many draws or plans: plan risk and Dask sweeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from planner import io
from planner.analysis import risk as plan_risk
from planner.analysis import risk_draws
from planner.analysis import sweep as sweeps
from planner.cli.app import (
    INPUT,
    SolverFailed,
    _table,
    check_plan,
    fmt,
    force_option,
    jsonable,
    load,
    main,
    output_option,
    progress_bar,
    report_written,
    scenario_option,
    solve_options,
    user_errors,
    warn,
)

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


# --------------------------------------------------------------------------- sweep (docs/design.md §8)


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


