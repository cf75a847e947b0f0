"""The sweep on Dask against a plain loop (run by ``test_sweep_benchmark.py`` in its own process).

``python tests/benchmarks/bench_sweep.py TASKS [SIZE]`` prints one JSON record.  The
machine's speed drifts by ±20 % over tens of seconds (a shared virtual machine), more than
the effects measured, so every comparison is made between runs close in time:

- *speed-up*: the TASKS-task sweep (Base of the synthetic scenario at TASKS budget levels
  from 0.5x to 1.5x) on a local cluster of 1 worker and on one of 2, both kept open,
  alternated ``REPEAT`` times; the fastest of each.
- *cost per task*: the same solves in blocks of ``BLOCK`` tasks, each block as a plain loop
  in this process and then as a sweep on the 1-worker cluster, back to back; Dask's cost is
  the sum over the blocks of the sweep against the sum of the loop (TASKS solves each).

Every process is warmed up (planner imported, the first task solved) before the clock
starts; the clusters' start-up is reported apart.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).parent))

import synth

from planner.analysis import sweep as sw

#: the two sweeps (1 and 2 workers) are timed this many times, alternating
REPEAT = 3
#: tasks per block of the paired loop / 1-worker comparison
BLOCK = 20


def _warm(scenario: object, task: sw.Task) -> int:
    sw.run_task(scenario, task)
    return os.getpid()


def _loop(variants: list, todo: list[sw.Task]) -> tuple[list, float]:
    t0 = time.perf_counter()
    out = [sw.run_task(variants[t.order], t) for t in todo]
    return out, time.perf_counter() - t0


def _sweep(scenario: object, tasks: int, client: object) -> tuple[object, float]:
    t0 = time.perf_counter()
    result = sw.sweep(scenario, budgets=tasks, client=client)
    return result, time.perf_counter() - t0


def main(tasks: int, size: str = "medium", repeat: int = REPEAT) -> dict:
    scenario = synth.scenario(size)
    variants, todo = sw.plan_tasks(scenario, budgets=tasks)
    _, block = sw.plan_tasks(scenario, budgets=BLOCK)
    _warm(variants[0], todo[0])
    record: dict = {"tasks": len(todo), "size": size, "cores": os.cpu_count(), "repeat": repeat, "block": BLOCK,
                    "load_before": os.getloadavg()[0]}
    times: dict[str, list[float]] = {"dask_1": [], "dask_2": []}
    rows = {}
    with ExitStack() as stack:
        clients = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            clients[workers] = stack.enter_context(sw.connect(workers=workers))
            record[f"start_{workers}"] = time.perf_counter() - t0
            clients[workers].run(_warm, variants[0], todo[0])
        for _ in range(repeat):  # alternated, so a slow spell of the machine hits both alike
            for workers in (1, 2):
                result, seconds = _sweep(scenario, tasks, clients[workers])
                times[f"dask_{workers}"].append(seconds)
                rows[workers] = result.rows
        pairs = []
        for _ in range(len(todo) // BLOCK):  # back to back: the drift cancels in each pair
            loop, loop_s = _loop(variants, block)
            _, dask_s = _sweep(scenario, BLOCK, clients[1])
            pairs.append((loop_s, dask_s))
    record.update({k: min(v) for k, v in times.items()})
    record["all_runs"] = times
    record["loop"] = sum(p[0] for p in pairs)
    record["dask_1_blocks"] = sum(p[1] for p in pairs)
    record["block_ratios"] = [d / lo for lo, d in pairs]
    record["block_median"] = statistics.median(record["block_ratios"]) - 1.0
    record["load_after"] = os.getloadavg()[0]
    record["speedup"] = record["dask_1"] / record["dask_2"]
    record["overhead"] = record["dask_1_blocks"] / record["loop"] - 1.0
    loop_all, _ = _loop(variants, todo)
    net = [r.row["net_value"] for r in loop_all]
    record["same_figures"] = bool(rows[1]["net_value"].tolist() == net == rows[2]["net_value"].tolist())
    record["statuses"] = sorted(set(rows[2]["status"]))
    return record


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), *sys.argv[2:])))
