"""Performance suite: planner at planner scale, against reference solvers on the same LP.

Run with ``python -m pytest tests/benchmarks --benchmarks -s`` (skipped otherwise).  Every
measurement runs in its own process (``bench.py``) so peak memory is the run's own.  The
table is printed and written to ``tests/benchmarks/RESULTS.md``; the targets of issue 6
are asserted after it is written, so a miss still leaves the numbers behind.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
SIZES = ("small", "medium", "large")
VARIANTS = ("budget", "constrained")
#: a frontier slower than this is stopped and reported as such (keeps the run short)
FRONTIER_TIMEOUT = 90

#: targets (issue 6, on a 2-core machine)
LARGE_END_TO_END_S = 20.0
LARGE_PEAK_MB = 2048.0
SOLVE_RATIO = 1.5
FRONTIER_RATIO = 3.0


def _bench(*args: str, timeout: float | None = None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, str(HERE / "bench.py"), *args], capture_output=True, text=True,
                         timeout=timeout, env=env, check=False)
    if out.returncode:
        raise AssertionError(f"bench.py {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("bench")
    runs = []
    for size in SIZES:
        for variant in VARIANTS:
            try:
                runs.append(_bench("run", size, variant, str(work)))
            except AssertionError as exc:  # one failed run must not hide the others' numbers
                runs.append({"size": size, "variant": variant, "error": str(exc)})
    frontiers = []
    for variant in VARIANTS:
        try:
            frontiers.append(_bench("frontier", "medium", variant, timeout=FRONTIER_TIMEOUT))
        except subprocess.TimeoutExpired:
            frontiers.append({"size": "medium", "variant": variant, "points": 21, "one": None,
                              "frontier": None, "ratio": None, "timeout": FRONTIER_TIMEOUT})
    text = render(runs, frontiers)
    (HERE / "RESULTS.md").write_text(text, encoding="utf-8")
    print("\n" + text)
    return {"runs": runs, "frontiers": frontiers}


def _s(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _ref(r: dict[str, Any], name: str) -> str:
    ref = r["references"].get(name)
    if ref is None:
        return "–"
    if ref["status"] != "optimal":
        return f"≥ {_s(ref['seconds'])} ({ref['status']})"
    return _s(ref["seconds"])


def render(runs: list[dict[str, Any]], frontiers: list[dict[str, Any]]) -> str:
    """The markdown table of a run (also pasted into README's Performance section)."""
    lines = [
        "# Benchmark results",
        "",
        f"`python -m pytest tests/benchmarks --benchmarks -s` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; synthetic scenarios from `tests/benchmarks/synth.py` "
        "(segments × channels × 2 programs × 4 quarters, mixed concave curves, seed 7).",
        "",
        "## End to end (seconds; memory in MB)",
        "",
        "| size | variant | cell-periods | read | build | solve | evaluate | write | end to end | peak RSS |"
        " variables | rows | nonzeros | refine rounds | solver | certified gap |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    ok = [r for r in runs if "error" not in r]
    for r in ok:
        lines.append(
            f"| {r['size']} | {r['variant']} | {r['cell_periods']:,} | {_s(r['read'])} | {_s(r['build'])} | "
            f"{_s(r['solve'])} | {_s(r['evaluate'])} | {_s(r['write'])} | **{_s(r['end_to_end'])}** | "
            f"{r['peak_mb']:,.0f} | {r['variables']:,} | {r['rows']:,} | {r['nonzeros']:,} | "
            f"{r['refine_rounds']} | {r['solver']} | {r['gap_relative']:.2%} |")
    lines += [
        "",
        "*build*: index, chord bands, constraint rows and every LP assembly; *solve*: every solve of "
        "the run (first solve and refinement rounds); *evaluate*: refinement bookkeeping, real-curve "
        "evaluation, certified gap and the plan's tables; *write*: the plan into a copy of the "
        "input workbook.  Peak RSS is the process's (Python and imports included).  The table is "
        "one run; for the build-never-exceeds-solve target and the solver comparison below, "
        "timings under 0.1 s are the fastest of three (the machine's noise is of their order).",
        "",
        "## The same LP (planner's final, refined model) by every solver (seconds)",
        "",
        "| size | variant | planner | greedy (exact here) | HiGHS presolve on, rule 8192 off |"
        " HiGHS presolve off | HiGHS default | CBC via PuLP | best reference | planner ÷ best |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in ok:
        lines.append(
            f"| {r['size']} | {r['variant']} | {_s(r['planner_solve_same_lp'])} | {_ref(r, 'greedy')} | "
            f"{_ref(r, 'highs_presolve_rule8192_off')} | {_ref(r, 'highs_presolve_off')} | "
            f"{_ref(r, 'highs_default')} | {_ref(r, 'cbc_pulp')} | {r['best_reference']} | "
            f"{r['ratio']:.2f} |")
    lines += [
        "",
        "Planner uses the exact greedy fill when only the total budget can bind and HiGHS (dual "
        "simplex, presolve off, arrays passed directly) otherwise.  CBC's time includes PuLP "
        "building its model; it runs on small and on medium budget-only (PuLP alone takes about a "
        "minute on the medium constrained LP).  A reference stopped at its time limit shows `≥`.  "
        "Every finished solver reached the same objective (largest relative spread "
        f"{max([r['objective_spread'] for r in ok] or [0.0]):.1e}, CBC's rounded text output included).",
        "",
        "## Frontier, 21 points, medium (seconds)",
        "",
        "| variant | one optimisation | 21-point frontier | ratio | largest certified gap of a point |",
        "|---|---:|---:|---:|---:|",
    ]
    for f in frontiers:
        if f.get("timeout"):
            lines.append(f"| {f['variant']} | – | > {f['timeout']} (stopped) | – |")
        else:
            lines.append(f"| {f['variant']} | {_s(f['one'])} | {_s(f['frontier'])} | {f['ratio']:.2f} | "
                         f"{f['largest_gap']:.3%} |")
    lines += [
        "",
        "Each is the fastest of three runs, alternated in one process (`bench.py frontier`).  "
        "*one optimisation* is `planner.optimize` (build, solve, refine, evaluate); the frontier "
        "is `planner.frontier` from budget 0 to twice the scenario's: one first LP on a coarse "
        "grid, then every budget on chord windows per cell-period warm-started from the last "
        "(a sequential LP), each certified on the real curves.  Its plans are built when asked "
        "for; the table's figures come from the real curves.",
    ]
    for r in runs:
        if "error" in r:
            lines.append(f"\n**{r['size']} {r['variant']} failed:** `{r['error'][-300:]}`")
    lines.append("")
    return "\n".join(lines)


def _run(results: dict[str, Any], size: str, variant: str) -> dict[str, Any]:
    r = next(r for r in results["runs"] if r["size"] == size and r["variant"] == variant)
    assert "error" not in r, r["error"]
    return r


@pytest.mark.benchmark
@pytest.mark.parametrize("variant", VARIANTS)
def test_large_end_to_end_under_20_s_and_2_gb(results, variant):
    r = _run(results, "large", variant)
    assert r["status"] == "optimal"
    assert r["end_to_end"] < LARGE_END_TO_END_S, r
    assert r["peak_mb"] < LARGE_PEAK_MB, r


@pytest.mark.benchmark
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_model_build_never_costs_more_than_the_solve(results, size, variant):
    r = _run(results, size, variant)
    # with only the budget binding no LP is solved (the greedy fill is exact and ~100x
    # faster than any LP solver): the build is held against solving its LP instead
    solve = r["solve"] if r["solver"] != "greedy" else r["lp_solve_reference"]
    assert r["build_best"] <= solve, r


@pytest.mark.benchmark
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_planner_solve_within_1_5x_of_the_fastest_reference(results, size, variant):
    r = _run(results, size, variant)
    assert r["ratio"] <= SOLVE_RATIO, r
    assert r["objective_spread"] < 1e-4, r


@pytest.mark.benchmark
@pytest.mark.parametrize("variant", VARIANTS)
def test_frontier_of_21_points_under_3x_one_solve(results, variant):
    f = next(f for f in results["frontiers"] if f["variant"] == variant)
    assert f.get("ratio") is not None and f["ratio"] <= FRONTIER_RATIO, f
    assert f["largest_gap"] <= 1e-3, f  # and every point is as good as a plan from optimize
