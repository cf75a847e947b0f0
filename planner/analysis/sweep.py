"""Sweeps on Dask: every scenario × budget level × risk draw, one solve per task (docs/design.md §8).

:func:`sweep` optimises Base and every scenario of the Scenarios sheet at budget levels
from 0.5× to 1.5× of each scenario's own budget and, given a draw function, on risk draws
of its inputs.  Each (scenario, budget, draw) is one task run by ``dask.distributed``: a
:class:`~distributed.LocalCluster` of worker processes, or an existing cluster.  Scenarios
are sent to the cluster once each, as data; a task that raises is retried by Dask and,
if it still fails, becomes a row with its error.  Rows are sorted and every draw's seed
comes from ``(seed, scenario, draw)``, so results do not depend on the number of workers
or the order in which tasks finish.  Results are plain data
(:class:`~planner.core.sheet_spec.SheetSpec`); nothing here prints.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, as_completed

from planner.analysis.compare import Progress, summary_figure
from planner.analysis.sweep_results import FIGURES, KEYS, Sweep
from planner.core.plan import Plan
from planner.engine import optimizer as engine
from planner.errors import PlannerError, ScenarioError
from planner.scenario.models import Scenario
from planner.scenario.overrides import apply_scenario, check_scenarios, scenario_names, with_budget

__all__ = [
    "KEYS", "DrawScenarios", "Sweep", "SweepError", "Task", "TaskResult", "budget_levels", "connect",
    "plan_tasks", "run_task", "sweep", "task_seed",
]

#: ``draw_scenarios(scenario, k, seed)``: ``k`` scenarios whose uncertain inputs are drawn
#: from their ranges (docs/design.md §7), the same for the same seed.
DrawScenarios = Callable[[Scenario, int, int], Sequence[Scenario]]

#: Dask retries of a task that raises (a crashed or killed worker is retried by the
#: scheduler as well, up to ``distributed.scheduler.allowed-failures``)
RETRIES = 2
#: seconds to wait for a cluster without workers to get its first one
WORKER_WAIT = 60.0
#: Dask settings of a local cluster.  A solve is numpy-heavy and runs for a fraction of a
#: second: Dask's default MALLOC_TRIM_THRESHOLD_ in the workers gave 6x the page faults and
#: ~40 % more CPU per solve on the medium synthetic scenario, and sampling the task's stack
#: every 10 ms (the worker profiler) about as much again; the monitors run less often.
LOCAL_DASK_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
                                            "OPENBLAS_NUM_THREADS": 1},
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class SweepError(PlannerError):
    """The sweep cannot run: bad arguments or no cluster to run it on."""


@dataclass(frozen=True)
class Task:
    """One solve of a sweep: scenario ``order`` (0 is Base) at ``budget``, on draw ``draw``
    (0: the inputs as estimated; 1..K: risk draws made with ``seed``)."""

    index: int
    scenario: str
    order: int
    budget_level: float
    budget: float
    draw: int
    seed: int | None


@dataclass
class TaskResult:
    """What a task sends back: its Sweep row, spend per channel and (optionally) its plan's
    allocation."""

    row: dict[str, Any]
    spend: dict[str, float] = field(default_factory=dict)
    allocation: pd.DataFrame | None = None


def budget_levels(n: int) -> list[float]:
    """``n`` budget multipliers evenly from 0.5 to 1.5; ``[1.0]`` for one level."""
    if n < 1:
        raise SweepError(f"budgets must be at least 1 (got {n})")
    return [1.0] if n == 1 else [float(x) for x in np.linspace(0.5, 1.5, n)]


def task_seed(seed: int, scenario: str, draw: int) -> int:
    """The seed of one draw, from the sweep's seed, the scenario's name and the draw number
    (never from the order tasks run in); the same draw at every budget level."""
    words = [int(seed), zlib.crc32(scenario.encode("utf-8")), int(draw)]
    return int(np.random.SeedSequence(words).generate_state(1)[0])  # 32 bits: exact in Excel


def plan_tasks(scenario: Scenario, budgets: int = 1, draws: int = 0,
               seed: int = 0) -> tuple[list[Scenario], list[Task]]:
    """Base and every scenario of the Scenarios sheet, and the tasks of the sweep, in row order.

    Parameters
    ----------
    scenario : Scenario
        The base scenario with its Scenarios sheet rows.
    budgets, draws, seed : int
        As in :func:`sweep`.

    Returns
    -------
    variants : list of Scenario
        Base and each what-if scenario applied (``Task.order`` indexes it).
    tasks : list of Task
        By scenario, budget level, then draw (0 first); ``Task.index`` is the position.

    Raises
    ------
    ScenarioError
        Every problem of every scenario of the Scenarios sheet, before anything is solved.
    SweepError
        ``budgets`` < 1, ``draws`` < 0 or ``seed`` < 0.
    """
    if draws < 0 or seed < 0:
        raise SweepError(f"draws and seed must be 0 or more (got draws={draws}, seed={seed})")
    levels = budget_levels(budgets)
    issues = check_scenarios(scenario)
    if issues:
        raise ScenarioError(issues)
    names = scenario_names(scenario)
    variants = [apply_scenario(scenario, n) for n in names]
    tasks: list[Task] = []
    for order, (name, variant) in enumerate(zip(names, variants, strict=True)):
        for level in levels:
            for d in range(draws + 1):
                tasks.append(Task(len(tasks), name, order, level, level * variant.settings.total_budget,
                                  d, task_seed(seed, name, d) if d else None))
    return variants, tasks


def run_task(scenario: Scenario, task: Task, draw_scenarios: DrawScenarios | None = None,
             keep_allocation: bool = False) -> TaskResult:
    """Solve one task (this is what a Dask worker runs).

    Parameters
    ----------
    scenario : Scenario
        The task's scenario (``plan_tasks``'s ``variants[task.order]``).
    task : Task
        Which budget and draw.
    draw_scenarios : callable, optional
        Needed when ``task.draw`` > 0: called as ``draw_scenarios(scenario, 1, task.seed)``.
    keep_allocation : bool
        Send the plan's allocation back too.

    Returns
    -------
    TaskResult
        A domain error (a draw that leaves the scenario invalid, no solver) is a result:
        a row with status ``error``.  Anything else raises, so Dask retries the task.
    """
    keys = {"scenario": task.scenario, "budget_level": task.budget_level, "budget": task.budget,
            "draw": task.draw, "seed": task.seed}
    try:
        variant = scenario
        if task.draw:
            if draw_scenarios is None:
                raise SweepError("risk draws were asked for but no draw function was given")
            variant = draw_scenarios(scenario, 1, task.seed)[0]
        plan: Plan = engine.optimize(with_budget(variant, task.budget))
    except PlannerError as exc:
        return TaskResult(failed_row(keys, exc))
    figures = {k: summary_figure(plan.summary, k, plan.ok) for k in FIGURES}
    row = {**keys, "status": plan.status, "message": "" if plan.ok else plan.message, **figures}
    spend: dict[str, float] = {}
    if plan.ok and len(plan.allocation):
        by = plan.allocation.groupby("channel", sort=False)["spend"].sum()
        spend = {str(k): float(v) for k, v in by.items()}
    allocation = None
    if keep_allocation and plan.ok:
        allocation = plan.allocation.reset_index(drop=True)
    return TaskResult(row, spend, allocation)


def failed_row(keys: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """The row of a task that has no result: status ``error`` and what went wrong."""
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, PlannerError):
        text = f"{type(exc).__name__}: {text}"
    return {**keys, "status": "error", "message": text, **dict.fromkeys(FIGURES, math.nan)}


# --------------------------------------------------------------------------- the cluster


def default_workers() -> int:
    """Worker processes of a local cluster by default: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None,
            timeout: float = 30.0) -> Iterator[Client]:
    """A Dask client: to the scheduler at ``scheduler``, or to a new local cluster of
    ``workers`` single-threaded worker processes (default: one per core) on 127.0.0.1,
    closed on exit.

    Raises
    ------
    SweepError
        The scheduler cannot be reached, or ``workers`` < 1.
    """
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler} ({exc}). Start one "
                             "with 'dask scheduler' and workers with 'dask worker ADDRESS', or leave "
                             "out --scheduler to run on this machine.") from None
        with client:
            yield client
        return
    n = default_workers() if workers is None else workers
    if n < 1:
        raise SweepError(f"workers must be at least 1 (got {n})")
    # no dashboard; the scheduler's HTTP routes on a free local port (not 8787, which a
    # second sweep or another cluster may hold)
    quiet_http = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
    with dask.config.set(LOCAL_DASK_CONFIG), LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, scheduler_kwargs=quiet_http,
                      silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


# --------------------------------------------------------------------------- the sweep


def sweep(scenario: Scenario, *, budgets: int = 1, draws: int = 0, seed: int = 0,
          draw_scenarios: DrawScenarios | None = None, client: Client | None = None,
          scheduler: str | None = None, workers: int | None = None,
          progress: Progress | None = None, allocations: bool = False,
          retries: int = RETRIES) -> Sweep:
    """Optimise Base and every scenario at every budget level and draw, on Dask.

    Parameters
    ----------
    scenario : Scenario
        The base scenario with its Scenarios sheet rows.
    budgets : int, default 1
        Budget levels per scenario, evenly from 0.5× to 1.5× of its own total budget
        (1: its own budget only).
    draws : int, default 0
        Risk draws per scenario and budget, each re-optimised (draw 0, the inputs as
        estimated, is always run).  Needs ``draw_scenarios``.
    seed : int, default 0
        Seed of the draws; each draw's seed comes from ``(seed, scenario, draw)``.
    draw_scenarios : callable, optional
        ``draw_scenarios(scenario, k, seed) -> k scenarios`` (docs/design.md §7); called on the
        workers with ``k = 1``, so it must be importable there.
    client : distributed.Client, optional
        Run on this client's cluster; else ``scheduler`` / ``workers`` as in :func:`connect`.
    progress : callable, optional
        ``progress(done, total)`` with 0 first and after each finished task.
    allocations : bool, default False
        Keep every plan's allocation (for :meth:`Sweep.write_parquet`).
    retries : int, default 2
        Dask retries of a task that raises.

    Returns
    -------
    Sweep
        One row per task, sorted by scenario (Base first), budget and draw; a task that
        still fails after its retries is a row with status ``error`` and its message.

    Raises
    ------
    ScenarioError
        A scenario of the Scenarios sheet cannot be applied (nothing is solved).
    SweepError
        Bad arguments, ``draws`` without ``draw_scenarios``, or no cluster.
    """
    if draws and draw_scenarios is None:
        raise SweepError("risk draws need a draw function (draw_scenarios)")
    variants, tasks = plan_tasks(scenario, budgets, draws, seed)
    started = time.perf_counter()
    if client is None:
        with connect(scheduler, workers) as own:
            results, n_workers = _run(own, variants, tasks, draw_scenarios, allocations, retries, progress)
    else:
        results, n_workers = _run(client, variants, tasks, draw_scenarios, allocations, retries, progress)
    channels = [c.channel for c in scenario.channels]
    return Sweep.from_results(results, channels, scenario.settings.currency,
                              time.perf_counter() - started, n_workers)


def _identity(value: Any) -> Any:
    return value


def _failure(future: Any) -> BaseException:
    """Why a future did not finish (its exception, or a cancellation)."""
    try:
        future.result()
    except Exception as exc:
        return exc
    return RuntimeError(f"task ended as {future.status}")


def _run(client: Client, variants: list[Scenario], tasks: list[Task],
         draw_scenarios: DrawScenarios | None, allocations: bool, retries: int,
         progress: Progress | None) -> tuple[list[TaskResult], int]:
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError:
        raise SweepError(f"the Dask cluster at {client.scheduler.address} has no workers (waited "
                         f"{WORKER_WAIT:.0f} s): start some with 'dask worker {client.scheduler.address}'") from None
    run = uuid.uuid4().hex[:12]
    # Each scenario enters the graph once, as the argument of a task: workers fetch it
    # from each other, and the scheduler can rebuild it if the worker holding it dies
    # (scattered data would be lost with that worker).
    data = [client.submit(_identity, v, key=f"planner-scenario-{run}-{i}", pure=False)
            for i, v in enumerate(variants)]
    futures = [client.submit(run_task, data[t.order], t, draw_scenarios, allocations,
                             key=f"planner-task-{run}-{t.index}", retries=retries, pure=False)
               for t in tasks]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[TaskResult | None] = [None] * len(tasks)
    if progress is not None:
        progress(0, len(tasks))
    done = 0
    try:
        # results are fetched in batches of what has finished (one request per batch: each
        # request is work for the worker's event loop, which shares the GIL with its solve)
        for batch in as_completed(futures).batches():
            finished = [f for f in batch if f.status == "finished"]
            for future, value in zip(finished, client.gather(finished), strict=True):
                results[index[future.key]] = value
            for future in batch:
                if future.status != "finished":  # a failed task is a row, never a lost sweep
                    t = tasks[index[future.key]]
                    results[index[future.key]] = TaskResult(failed_row(
                        {"scenario": t.scenario, "budget_level": t.budget_level, "budget": t.budget,
                         "draw": t.draw, "seed": t.seed}, _failure(future)))
                future.release()
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
        n_workers = len(client.scheduler_info().get("workers", {}))
    finally:
        client.cancel(futures + data)
    return [r for r in results if r is not None], n_workers

