"""Sweep on Dask: speed-up of 2 workers over 1, and Dask's cost per task over a plain loop.

Run with ``python -m pytest tests/benchmarks/test_sweep_benchmark.py --benchmarks -s``
(skipped otherwise).  The record is written to ``tests/benchmarks/SWEEP_RESULTS.md``
before the targets of issue 16 are asserted, so a miss still leaves the numbers behind.
On a shared machine the figures move with the other load (the load average is recorded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
TASKS = 200
SPEEDUP = 1.7
OVERHEAD = 0.10


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    # the plain loop runs single-threaded like the workers (LOCAL_DASK_CONFIG), so the
    # comparison is Dask's cost per task, not one thread against several
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(HERE / "bench_sweep.py"), str(TASKS), "medium"],
                         capture_output=True, text=True, timeout=1500, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    text = "\n".join([
        "# Sweep benchmark",
        "",
        f"`python -m pytest tests/benchmarks/test_sweep_benchmark.py --benchmarks -s` on "
        f"{r['cores']} cores: {r['tasks']} solves of the {r['size']} synthetic scenario (Base at "
        f"{r['tasks']} budget levels, 0.5x to 1.5x), seconds.",
        "",
        "| Dask, 1 worker | Dask, 2 workers | speed-up 2 vs 1 | plain loop (blocks) | Dask, 1 worker (blocks) |"
        " Dask cost per task vs loop | cluster start (1 / 2 workers) | load average before / after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['dask_1']:.1f} | {r['dask_2']:.1f} | {r['speedup']:.2f}x | {r['loop']:.1f} | "
        f"{r['dask_1_blocks']:.1f} | {r['overhead']:+.1%} | {r['start_1']:.1f} / {r['start_2']:.1f} | "
        f"{r['load_before']:.1f} / {r['load_after']:.1f} |",
        "",
        f"*Speed-up*: the {r['tasks']}-task sweep on a 1-worker and on a 2-worker local cluster, both "
        f"kept open, alternated {r['repeat']} times, the fastest of each (all runs: "
        + ", ".join(f"{k} " + " / ".join(f"{x:.1f}" for x in v) for k, v in r["all_runs"].items())
        + f"). *Cost per task*: the same {r['tasks']} solves in blocks of {r['block']}, each block as a "
        "plain loop and then as a sweep on the 1-worker cluster, back to back (the machine's speed "
        "drifts by ±20 % over tens of seconds; pairs close in time cancel it); per-block ratios "
        + " ".join(f"{x:.2f}" for x in r["block_ratios"])
        + f" (their median {r['block_median']:+.1%}: a single pair still moves with the machine). Workers are warmed up (planner imported, one solve) before the clock starts; cluster "
        "start-up is apart. The plain loop runs with the workers' thread settings (one thread "
        "for OpenMP, MKL and OpenBLAS). Same figures on the loop, 1 and 2 workers: "
        f"{r['same_figures']}; statuses {r['statuses']}.",
        "",
        "On a shared machine the speed-up measures the others' load as much as the sweep: with "
        "the kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled = 1) every "
        "process of one session shares one CPU share, so while other sessions keep both cores "
        "busy a second worker adds no CPU and the speed-up stays near 1.",
        "",
    ])
    (HERE / "SWEEP_RESULTS.md").write_text(text, encoding="utf-8")
    print("\n" + text)
    return r


@pytest.mark.benchmark
def test_two_workers_are_1_7x_faster_than_one(record):
    assert record["same_figures"] and record["statuses"] == ["optimal"]
    assert record["speedup"] >= SPEEDUP, record


@pytest.mark.benchmark
def test_dask_costs_under_10_percent_per_task(record):
    assert record["overhead"] < OVERHEAD, record
