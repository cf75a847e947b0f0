"""The sweep on Dask against a plain loop (run by ``test_sweep_benchmark.py`` in its own process).

``python tests/benchmarks/bench_sweep.py TASKS [SIZE]`` prints one JSON record: the same
TASKS solves (Base of the synthetic scenario at TASKS budget levels from 0.5x to 1.5x)
timed as a plain loop in this process, on a local cluster of 1 worker process and on
one of 2: ``REPEAT`` times each, alternating, the fastest run of each kept.
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

#: each arm (plain loop, 1 worker, 2 workers) is timed this many times, alternating; the
#: fastest run of each is compared (the machine's noise is of the order of the targets)
REPEAT = 3


def _warm(scenario: object, task: sw.Task) -> int:
    sw.run_task(scenario, task)
    return os.getpid()


def _loop(variants: list, todo: list[sw.Task]) -> tuple[list, float]:
    t0 = time.perf_counter()
    out = [sw.run_task(variants[t.order], t) for t in todo]
    return out, time.perf_counter() - t0


def main(tasks: int, size: str = "medium", repeat: int = REPEAT) -> dict:
    scenario = synth.scenario(size)
    variants, todo = sw.plan_tasks(scenario, budgets=tasks)
    _warm(variants[0], todo[0])
    record: dict = {"tasks": len(todo), "size": size, "cores": os.cpu_count(), "repeat": repeat,
                    "load_before": os.getloadavg()[0]}
    times: dict[str, list[float]] = {"loop": [], "dask_1": [], "dask_2": []}
    rows = {}
    for _ in range(repeat):  # the arms alternate, so a burst of other load hits each alike
        loop, seconds = _loop(variants, todo)
        times["loop"].append(seconds)
        for workers in (1, 2):
            t0 = time.perf_counter()
            with sw.connect(workers=workers) as client:
                record[f"start_{workers}"] = time.perf_counter() - t0
                client.run(_warm, variants[0], todo[0])
                t0 = time.perf_counter()
                result = sw.sweep(scenario, budgets=tasks, client=client)
                times[f"dask_{workers}"].append(time.perf_counter() - t0)
                rows[workers] = result.rows
    record.update({k: min(v) for k, v in times.items()})  # the fastest run of each arm
    record["all_runs"] = times
    record["load_after"] = os.getloadavg()[0]
    record["speedup"] = record["dask_1"] / record["dask_2"]
    record["overhead"] = record["dask_1"] / record["loop"] - 1.0
    net = [r.row["net_value"] for r in loop]
    record["same_figures"] = bool(rows[1]["net_value"].tolist() == net == rows[2]["net_value"].tolist())
    record["statuses"] = sorted(set(rows[2]["status"]))
    return record


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), *sys.argv[2:])))
