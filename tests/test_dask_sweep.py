"""`planner sweep` on real Dask clusters: a LocalCluster of 2 worker processes, and a
`dask scheduler` + `dask worker` started as processes on 127.0.0.1.

Every figure is checked against `planner.optimize` / `compare` run one by one; faults
(a task that raises, a worker killed mid-sweep) must still give every row.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import saturation_scenario
from hypothesis import example, given, settings
from hypothesis import strategies as st

import planner
from planner.analysis import compare as comparison
from planner.analysis import sweep as sw
from planner.analysis.sweep_results import FIGURES, KEYS, Sweep
from planner.cli import main
from planner.errors import Issue, ScenarioError
from planner.scenario import overrides as whatif
from planner.scenario.models import Override, Scenario

ROOT = Path(__file__).resolve().parents[1]
REL = 1e-9


def scenario() -> Scenario:
    """Base and two what-if scenarios; three channels, one period: a solve takes milliseconds."""
    s = saturation_scenario([1000, 800, 1500], [20000, 15000, 40000], budget=40_000)
    rows = [("High", "total_budget", "scale", 2), ("Pricey", "curve:S:C0:acquisition:b", "scale", 1.5)]
    return s.model_copy(update={"scenarios": [Override(scenario=n, target=t, operation=o, value=v)
                                              for n, t, o, v in rows]})


def scale_curves(s: Scenario, k: int, seed: int) -> list[Scenario]:
    """A stand-in for risk draws: every curve's ``a`` times a seeded lognormal factor."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        f = rng.lognormal(0.0, 0.3, len(s.curves))
        out.append(s.model_copy(update={"curves": [c.model_copy(update={"a": c.a * x})
                                                   for c, x in zip(s.curves, f, strict=True)]}))
    return out


def slow_scale(s: Scenario, k: int, seed: int) -> list[Scenario]:
    time.sleep(0.2)
    return scale_curves(s, k, seed)


def fail_some(folder: str, s: Scenario, k: int, seed: int) -> list[Scenario]:
    """Leaves a file per attempt; raises a bug on one seed every time, a domain error on
    another, and fails every other task's first attempt only (Dask must retry it)."""
    tries = len(list(Path(folder).glob(f"{seed}-*")))
    (Path(folder) / f"{seed}-{uuid.uuid4().hex}").touch()
    if seed == sw.task_seed(0, "High", 1):
        raise RuntimeError("the draw exploded")
    if seed == sw.task_seed(0, "Pricey", 2):
        raise ScenarioError([Issue("Curves", 3, "a", -1.0, "must be > 0")])
    if tries == 0:
        raise ConnectionError("a flaky network")
    return scale_curves(s, k, seed)


def one_by_one(s: Scenario, name: str, budget: float, draw: int = 0, seed: int = 0) -> planner.Plan:
    variant = whatif.apply_scenario(s, name)
    if draw:
        variant = scale_curves(variant, 1, sw.task_seed(seed, name, draw))[0]
    return planner.optimize(whatif.with_budget(variant, budget))


def assert_rows_match_one_by_one(result: Sweep, s: Scenario, seed: int = 0) -> None:
    for row in result.rows.itertuples():
        plan = one_by_one(s, row.scenario, row.budget, row.draw, seed)
        assert row.status == plan.status == "optimal"
        for key in FIGURES:
            want = comparison.summary_figure(plan.summary, key)
            got = getattr(row, key)
            assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=REL, abs=1e-9), key
        by = plan.allocation.groupby("channel")["spend"].sum()
        spend = result.spend.iloc[row.Index]
        for channel in ("C0", "C1", "C2"):
            assert spend[channel] == pytest.approx(by.get(channel, 0.0), rel=REL, abs=1e-9)


# --------------------------------------------------------------------------- clusters


@pytest.fixture(scope="module")
def local() -> Iterator[object]:
    with sw.connect(workers=2) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A `dask scheduler` and one `dask worker` process (1 thread) on 127.0.0.1."""
    dask = str(Path(sys.executable).parent / "dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    common = {"env": env, "start_new_session": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], **common)]
    try:
        procs.append(subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard", "--death-timeout", "30"], **common))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=30)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


# --------------------------------------------------------------------------- without a cluster


def test_budget_levels_and_seeds():
    assert sw.budget_levels(1) == [1.0]
    assert sw.budget_levels(3) == [0.5, 1.0, 1.5]
    with pytest.raises(sw.SweepError):
        sw.budget_levels(0)
    seeds = {sw.task_seed(s, n, d) for s in (0, 1) for n in ("Base", "High") for d in (1, 2, 3)}
    assert len(seeds) == 12 and all(0 <= x < 2**32 for x in seeds)
    assert sw.task_seed(5, "High", 2) == sw.task_seed(5, "High", 2)


def test_tasks_cover_every_scenario_budget_and_draw_in_order():
    variants, tasks = sw.plan_tasks(scenario(), budgets=2, draws=3, seed=4)
    assert [v.settings.total_budget for v in variants] == [40_000, 80_000, 40_000]
    assert len(tasks) == 3 * 2 * 4 and [t.index for t in tasks] == list(range(24))
    assert [(t.scenario, t.budget, t.draw) for t in tasks[:5]] == [
        ("Base", 20_000, 0), ("Base", 20_000, 1), ("Base", 20_000, 2), ("Base", 20_000, 3), ("Base", 60_000, 0)]
    # the same draw at every budget of a scenario; none for the estimate
    assert tasks[1].seed == tasks[5].seed == sw.task_seed(4, "Base", 1) and tasks[0].seed is None
    bad = scenario().model_copy(update={"scenarios": [Override(scenario="X", target="nope", operation="set", value=1)]})
    with pytest.raises(ScenarioError, match="Scenarios row 2 target"):
        sw.plan_tasks(bad)


def test_summary_percentiles_are_numpys():
    s = scenario()
    _, tasks = sw.plan_tasks(s, budgets=1, draws=5)
    results = [sw.run_task(s if t.order == 0 else whatif.apply_scenario(s, t.scenario), t, scale_curves)
               for t in tasks]
    result = Sweep.from_results(results, ["C0", "C1", "C2"], "USD", 0.0, 0)
    net, spend = result.summary()
    for i, name in enumerate(["Base", "High", "Pricey"]):
        drawn = result.rows[(result.rows["scenario"] == name) & (result.rows["draw"] > 0)]
        p10, p50, p90 = np.percentile(drawn["net_value"], [10, 50, 90])
        assert net.loc[i, ["net_value_p10", "net_value_p50", "net_value_p90"]].tolist() == pytest.approx([p10, p50, p90])
        assert net.loc[i, "net_value_estimate"] == result.rows.loc[drawn.index[0] - 1, "net_value"]
        c1 = spend[(spend["scenario"] == name) & (spend["channel"] == "C1")].iloc[0]
        assert c1["spend_p50"] == pytest.approx(np.median(result.spend.loc[drawn.index, "C1"]))
    assert list(net["plans"]) == [5, 5, 5] and list(net["case"]) == ["Base ×1.00", "High ×1.00", "Pricey ×1.00"]


# --------------------------------------------------------------------------- LocalCluster


def test_local_cluster_sweep_equals_one_by_one(local, tmp_path):
    s = scenario()
    seen: list[tuple[int, int]] = []
    result = sw.sweep(s, budgets=3, client=local, progress=lambda d, n: seen.append((d, n)))
    assert result.workers == 2 and len(result.rows) == 9
    assert seen[0] == (0, 9) and seen[-1] == (9, 9) and [d for d, _ in seen] == list(range(10))
    assert list(result.rows["scenario"]) == ["Base"] * 3 + ["High"] * 3 + ["Pricey"] * 3
    assert list(result.rows["budget"]) == [20_000, 40_000, 60_000, 40_000, 80_000, 120_000] + [20_000, 40_000, 60_000]
    assert_rows_match_one_by_one(result, s)
    compared = comparison.compare(s).headline.set_index("scenario")  # what `planner compare` reports
    at_own = result.rows[result.rows["budget_level"] == 1.0].set_index("scenario")
    for key in ("total_spend", "total_value", "net_value", "roi", "new_customers"):
        np.testing.assert_allclose(at_own[key], compared.loc[at_own.index, key], rtol=REL)


def test_draws_are_the_same_on_any_cluster_and_without_one(local, scheduler):
    s = scenario()
    result = sw.sweep(s, draws=2, seed=11, draw_scenarios=scale_curves, client=local)
    assert len(result.rows) == 3 * 3 and (result.rows["status"] == "optimal").all()
    assert_rows_match_one_by_one(result, s, seed=11)
    assert result.rows["net_value"].nunique() == len(result.rows)  # the draws do change the plans
    remote = sw.sweep(s, draws=2, seed=11, draw_scenarios=scale_curves, scheduler=scheduler)
    assert remote.workers == 1
    pd.testing.assert_frame_equal(remote.rows, result.rows, check_exact=True)
    pd.testing.assert_frame_equal(remote.spend, result.spend, check_exact=True)
    variants, tasks = sw.plan_tasks(s, draws=2, seed=11)
    loop = Sweep.from_results([sw.run_task(variants[t.order], t, scale_curves) for t in tasks],
                              ["C0", "C1", "C2"], "USD", 0.0, 0)
    pd.testing.assert_frame_equal(loop.rows, result.rows, check_exact=True)
    _, other = sw.plan_tasks(s, draws=2, seed=12)
    assert sw.run_task(s, other[1], scale_curves).row["net_value"] != result.rows["net_value"][1]


def test_failed_tasks_are_retried_then_kept_as_rows(local, tmp_path):
    s = scenario()
    draw = functools.partial(fail_some, str(tmp_path))
    result = sw.sweep(s, draws=2, draw_scenarios=draw, client=local)
    rows = result.rows.set_index(["scenario", "draw"])
    assert len(rows) == 9
    bug, bad = rows.loc[("High", 1)], rows.loc[("Pricey", 2)]
    assert bug["status"] == "error" and bug["message"] == "RuntimeError: the draw exploded"
    assert math.isnan(bug["net_value"])
    assert bad["status"] == "error" and "Curves row 3 a: -1.0 must be > 0" in bad["message"]
    ok = rows.drop([("High", 1), ("Pricey", 2)])
    assert (ok["status"] == "optimal").all()   # the flaky first attempts were retried
    attempts = {p.name.split("-")[0] for p in tmp_path.iterdir()}
    assert len(attempts) == 6
    assert len(list(tmp_path.glob(f"{sw.task_seed(0, 'High', 1)}-*"))) == 1 + sw.RETRIES
    assert len(list(tmp_path.glob(f"{sw.task_seed(0, 'Pricey', 2)}-*"))) == 1  # domain errors: no retry
    assert len(result.failed) == 2
    assert "2 of 9 tasks have no plan" in result.sheets()[1].notes[-1]


def test_killing_a_worker_mid_sweep_still_gives_every_row(local):
    s = scenario()
    pids = local.run(os.getpid)
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if done == 3 and not killed:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    result = sw.sweep(s, draws=4, seed=3, draw_scenarios=slow_scale, client=local, progress=progress)
    assert killed and killed[0] not in local.run(os.getpid).values()  # it really died (and was restarted)
    assert len(result.rows) == 15 and (result.rows["status"] == "optimal").all()
    assert_rows_match_one_by_one(result, s, seed=3)


# --------------------------------------------------------------------------- `dask scheduler` + CLI


def test_cli_sweep_on_a_scheduler_writes_the_sheets_and_parquet(scheduler, tmp_path, monkeypatch):
    s = scenario()
    path = tmp_path / "in.xlsx"
    planner.write_scenario(s, path)
    out, pq = tmp_path / "out.xlsx", tmp_path / "pq"
    monkeypatch.setattr("planner.cli.many_plans._risk_draws", lambda: scale_curves)
    result = run("sweep", path, "-o", out, "--scheduler", scheduler, "--budgets", "2", "--draws", "2",
                 "--seed", "5", "--parquet", pq)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Sweep of in: 18 tasks on 1 worker(s) in ")
    wb = openpyxl.load_workbook(out)
    sheet = wb["Sweep"]
    header = [c.value for c in sheet[1]]
    assert header[:7] == [*KEYS, "seed", "status", "message"]
    body = pd.DataFrame([[c.value for c in r] for r in sheet.iter_rows(min_row=2)], columns=header)
    assert len(body) == 18
    for r in body.itertuples():
        plan = one_by_one(s, r.scenario, r.budget, r.draw, seed=5)
        assert r.net_value == pytest.approx(plan.summary["net_value"], rel=REL)
        assert r.seed == sw.task_seed(5, r.scenario, r.draw) if r.draw else pd.isna(r.seed)
    assert wb["Sweep Summary"]._charts and "Scenarios" in wb.sheetnames  # a copy of the input
    rows = pd.read_parquet(pq / "sweep.parquet")
    alloc = pd.read_parquet(pq / "allocations.parquet")
    assert len(rows) == 18 and list(rows.columns[-3:]) == ["spend:C0", "spend:C1", "spend:C2"]
    last = rows.iloc[-1]
    plan = one_by_one(s, last["scenario"], last["budget"], int(last["draw"]), seed=5)
    mine = alloc[(alloc["scenario"] == last["scenario"]) & (alloc["budget"] == last["budget"])
                 & (alloc["draw"] == last["draw"])]
    np.testing.assert_allclose(mine["spend"].to_numpy(), plan.allocation["spend"].to_numpy(), rtol=REL)
    assert len(alloc) == int((rows[["spend:C0", "spend:C1", "spend:C2"]] > 0).to_numpy().sum())


def test_cli_sweep_json_and_errors(scheduler, tmp_path, monkeypatch):
    path = tmp_path / "in.xlsx"
    planner.write_scenario(scenario(), path)
    result = run("sweep", path, "-o", tmp_path / "a.xlsx", "--scheduler", scheduler, "--json")
    assert result.exit_code == 0, result.output
    data = __import__("json").loads(result.stdout)
    assert [r["scenario"] for r in data["rows"]] == ["Base", "High", "Pricey"]
    assert data["rows"][0]["seed"] is None and data["summary"][1]["plans"] == 1
    monkeypatch.setattr("planner.cli.app._stderr_is_terminal", lambda: True)
    result = run("sweep", path, "-o", tmp_path / "c.xlsx", "--scheduler", scheduler, "--budgets", "2")
    assert result.exit_code == 0 and "Tasks" in result.stderr and "Tasks" not in result.stdout
    result = run("sweep", path, "-o", tmp_path / "d.xlsx", "--scheduler", scheduler, "--quiet")
    assert result.exit_code == 0 and result.output == ""
    result = run("sweep", path, "-o", tmp_path / "e.xlsx", "--scheduler", scheduler, "--workers", "2")
    assert result.exit_code == 2 and "--workers sizes the local cluster" in result.output
    # the real risk draws: this scenario has no ranges, so every draw is the estimate itself
    result = run("sweep", path, "-o", tmp_path / "b.xlsx", "--scheduler", scheduler, "--draws", "3", "--json")
    assert result.exit_code == 0, result.output
    rows = __import__("json").loads(result.stdout)["rows"]
    base = [r for r in rows if r["scenario"] == "Base"]
    assert [r["draw"] for r in base] == [0, 1, 2, 3]
    assert all(r["net_value"] == pytest.approx(base[0]["net_value"], rel=1e-9) for r in base)


def test_unreachable_scheduler_is_a_located_error():
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(sw.SweepError, match=f"cannot reach the Dask scheduler at {address}"), \
            sw.connect(address, timeout=1):
        pass


def test_a_cluster_without_workers_is_a_clear_error(monkeypatch):
    from distributed import Client, LocalCluster

    monkeypatch.setattr(sw, "WORKER_WAIT", 1.0)
    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client, pytest.raises(sw.SweepError, match="has no workers .*'dask worker tcp://"):
        sw.sweep(scenario(), client=client)


# --------------------------------------------------------------------------- properties of the summary


@st.composite
def results(draw_: st.DrawFn) -> tuple[list[sw.TaskResult], list[str]]:
    """Task results of a sweep (no solving): random figures, some tasks without a plan."""
    names = ["Base", *draw_(st.lists(st.sampled_from(["A", "B", "C"]), unique=True, max_size=2))]
    levels = sw.budget_levels(draw_(st.integers(1, 3)))
    draws = draw_(st.integers(0, 6))
    channels = ["X", "Y"]
    money = st.floats(-1e6, 1e6, allow_nan=False)
    out = []
    for name in names:
        for level in levels:
            for d in range(draws + 1):
                ok = draw_(st.booleans() | st.just(True))
                figures = dict.fromkeys(FIGURES, 0.0 if ok else math.nan)
                figures["net_value"] = draw_(money) if ok else math.nan
                row = {"scenario": name, "budget_level": level, "budget": 1000 * level, "draw": d,
                       "seed": sw.task_seed(0, name, d) if d else None,
                       "status": "optimal" if ok else "infeasible", "message": "", **figures}
                spend = {c: draw_(st.floats(0, 1e6)) for c in channels} if ok else {}
                out.append(sw.TaskResult(row, spend))
    return out, channels


@settings(deadline=None, max_examples=20)
@given(results())
@example(([sw.TaskResult({"scenario": "Base", "budget_level": 1.0, "budget": 1.0, "draw": 0, "seed": None,
                          "status": "error", "message": "x", **dict.fromkeys(FIGURES, math.nan)})], ["X", "Y"]))
def test_summary_is_numpys_percentiles_over_the_draws_with_a_plan(case):
    tasks, channels = case
    result = Sweep.from_results(tasks, channels, "USD", 0.0, 0)
    net, spend = result.summary()
    rows = result.rows
    groups = rows.drop_duplicates(["scenario", "budget_level"])[["scenario", "budget_level"]]
    assert net[["scenario", "budget_level"]].to_numpy().tolist() == groups.to_numpy().tolist()
    assert len(spend) == len(net) * len(channels)
    drawn = rows["draw"] >= (1 if (rows["draw"] >= 1).any() else 0)
    for i, (name, level) in enumerate(groups.itertuples(index=False)):
        mine = rows[(rows["scenario"] == name) & (rows["budget_level"] == level) & drawn]
        ok = mine["status"] == "optimal"
        assert net.loc[i, "draws"] == len(mine) and net.loc[i, "plans"] == ok.sum()
        want = np.percentile(mine.loc[ok, "net_value"], [10, 50, 90]) if ok.any() else [math.nan] * 3
        np.testing.assert_allclose(net.loc[i, ["net_value_p10", "net_value_p50", "net_value_p90"]].astype(float),
                                   want, rtol=1e-12, atol=1e-6)
        y = spend[(spend["scenario"] == name) & (spend["budget_level"] == level) & (spend["channel"] == "Y")]
        want = np.percentile(result.spend.loc[mine.index[ok], "Y"], 90) if ok.any() else math.nan
        np.testing.assert_allclose(y["spend_p90"].astype(float), [want], rtol=1e-12, atol=1e-6)
