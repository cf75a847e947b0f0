"""The sweep on Dask against a plain loop (run by ``test_sweep_benchmark.py`` in its own process).

``python tests/benchmarks/bench_sweep.py TASKS [SIZE]`` prints one JSON record: the same
TASKS solves (Base of the synthetic scenario at TASKS budget levels from 0.5x to 1.5x)
timed as a plain loop in this process (the faster of one run before the clusters
and one after), on a local cluster of 1 worker process and of 2.
Every process is warmed up (planner imported, the first task solved) before the clock starts; the
clusters' start-up is reported apart.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).parent))

import synth

from planner.analysis import sweep as sw


def _warm(scenario: object, task: sw.Task) -> int:
    sw.run_task(scenario, task)
    return os.getpid()


def _loop(variants: list, todo: list[sw.Task]) -> tuple[list, float]:
    t0 = time.perf_counter()
    out = [sw.run_task(variants[t.order], t) for t in todo]
    return out, time.perf_counter() - t0


def main(tasks: int, size: str = "medium") -> dict:
    scenario = synth.scenario(size)
    variants, todo = sw.plan_tasks(scenario, budgets=tasks)
    _warm(variants[0], todo[0])
    loop, first = _loop(variants, todo)
    record: dict = {"tasks": len(todo), "size": size, "cores": os.cpu_count(),
                    "load_before": os.getloadavg()[0]}
    rows = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        with sw.connect(workers=workers) as client:
            record[f"start_{workers}"] = time.perf_counter() - t0
            client.run(_warm, variants[0], todo[0])
            t0 = time.perf_counter()
            result = sw.sweep(scenario, budgets=tasks, client=client)
            record[f"dask_{workers}"] = time.perf_counter() - t0
            rows[workers] = result.rows
    _, again = _loop(variants, todo)
    record["loop"] = min(first, again)  # the faster of a loop before the clusters and one after
    record["load_after"] = os.getloadavg()[0]
    record["speedup"] = record["dask_1"] / record["dask_2"]
    record["overhead"] = record["dask_1"] / record["loop"] - 1.0
    net = [r.row["net_value"] for r in loop]
    record["same_figures"] = bool(rows[1]["net_value"].tolist() == net == rows[2]["net_value"].tolist())
    record["statuses"] = sorted(set(rows[2]["status"]))
    return record


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), *sys.argv[2:])))
