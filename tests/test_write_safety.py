"""Data safety when writing: planner never replaces a sheet it did not write, commands that
write into an existing workbook keep every other sheet, and faults (kill -9, SIGTERM, two
writers, full disk, read-only files and folders, symlinks) leave the destination as it was
or complete, with no traceback and no temporary file behind."""

from __future__ import annotations

import errno
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from test_fit import history
from test_segment_value import simulate
from xlsx_fixtures import hand_plan, sha256

from planner.cli import main
from planner.errors import OutputError
from planner.io import atomic, read_scenario, write_plan, write_scenario
from planner.scenario.examples import retail_quarterly

ROOT, TESTS = Path(__file__).resolve().parents[1], Path(__file__).resolve().parent
RESULTS = ["Plan", "Summary", "Constraints Report", "Run Info"]


def run(*args: object) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def scenario_book(tmp_path: Path, *extra: str) -> Path:
    """retail_quarterly (9 sheets) plus a sheet of the planner's own notes (10), plus ``extra``."""
    path = tmp_path / "scenario.xlsx"
    write_scenario(retail_quarterly(), path)
    wb = openpyxl.load_workbook(path)
    for name in ("My Notes", *extra):
        wb.create_sheet(name)["A1"] = f"{name}: my own data"
    wb.save(path)
    return path


def sheets(path: Path) -> list[str]:
    return openpyxl.load_workbook(path, read_only=True).sheetnames


def temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def no_traceback(result: object) -> None:
    assert isinstance(result.exception, SystemExit), result.exception  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


# --------------------------------------------------------------------- sheet ownership


@pytest.mark.parametrize("clash", ["summary", "Run_Info", "PLAN"])
def test_a_user_sheet_named_like_a_result_is_never_replaced(tmp_path: Path, clash: str) -> None:
    src = scenario_book(tmp_path, clash)
    before, out = sha256(src), tmp_path / "out.xlsx"
    with pytest.raises(OutputError, match=f"its own sheet '{clash}', which planner did not write"):
        write_plan(hand_plan(retail_quarterly()), out, source=src)
    assert not out.exists()
    for args in (["-o", out], ["--in-place"]):
        result = run("optimize", src, *args, "-q")
        assert result.exit_code == 1 and "pass --force to replace them" in result.output
        assert result.output.rstrip().endswith("Nothing was written.")
        no_traceback(result)
    assert sha256(src) == before and not out.exists() and temps(tmp_path) == []
    # --force replaces it; planner's own result sheets are replaced without asking
    assert run("optimize", src, "--in-place", "-q", "--force").exit_code == 0
    names = sheets(src)
    assert clash not in names and set(RESULTS) <= set(names) and "My Notes" in names
    assert run("optimize", src, "--in-place", "-q").exit_code == 0
    assert sheets(src) == names


def test_replacing_an_output_never_drops_its_sheets(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    out = tmp_path / "plan.xlsx"
    assert run("optimize", src, "-o", out, "-q").exit_code == 0
    assert run("optimize", src, "-o", out, "-q").exit_code == 0  # the same sheets again: fine
    wb = openpyxl.load_workbook(out)
    wb.create_sheet("My analysis")["A1"] = "=Plan!E2*2"
    wb.save(out)
    before = sha256(out)
    for extra in ([], ["--results-only"]):
        result = run("optimize", src, "-o", out, "-q", *extra)
        assert result.exit_code == 1 and "has sheets the new workbook would not keep (" in result.output
        assert ("'My analysis')" in result.output) and ("'Settings'" in result.output) == bool(extra)
        no_traceback(result)
    assert sha256(out) == before
    assert run("optimize", out, "--in-place", "-q").exit_code == 0  # the way to keep it
    assert "My analysis" in sheets(out)
    assert run("optimize", src, "-o", out, "-q", "--force").exit_code == 0
    assert "My analysis" not in sheets(out)


# --------------------------------------------------------------------- fit / value / uplift


def test_fit_into_a_scenario_keeps_every_sheet(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    hist = tmp_path / "history.xlsx"
    frame = history("saturation", 0)
    frame = frame.assign(segment=[retail_quarterly().segments[0].segment] * len(frame))
    wb = openpyxl.Workbook()
    wb.active.title = "History"
    wb.active.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        wb.active.append(list(row))
    wb.save(hist)
    before, names = sha256(src), sheets(src)
    refused = run("fit", hist, "-o", src, "-q")
    assert refused.exit_code == 1 and "its own sheet 'Curves'" in refused.output
    no_traceback(refused)
    assert sha256(src) == before
    assert run("fit", hist, "-o", src, "-q", "--force").exit_code == 0
    after = sheets(src)
    assert after[:len(names)] == names and after[len(names):] == ["Fit Charts", "Fit Families"]
    assert openpyxl.load_workbook(src)["My Notes"]["A1"].value == "My Notes: my own data"
    again = run("fit", hist, "-o", src, "-q")  # the Curves sheet is planner's now
    assert again.exit_code == 0 and sheets(src) == after


def test_value_and_uplift_into_a_scenario(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    names = sheets(src)
    tx = tmp_path / "tx.csv"
    data = simulate(300, 0.7, seed=3, segment="A")
    data.assign(date=data["date"].dt.strftime("%Y-%m-%d")).to_csv(tx, index=False)
    refused = run("value", tx, "-o", src, "-q")
    assert refused.exit_code == 1 and "its own sheet 'Segments'" in refused.output
    assert run("value", tx, "-o", src, "-q", "--force").exit_code == 0
    assert sheets(src) == [*names, "Segment Details"]
    assert run("uplift", tx, tx, "-o", src, "-q", "--n-boot", "20").exit_code == 0
    assert sheets(src) == [*names, "Segment Details", "Uplift"]
    # a file that is not a workbook is replaced only with --force
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    result = run("uplift", tx, tx, "-o", junk, "-q", "--n-boot", "20")
    assert result.exit_code == 1 and "is not a workbook" in result.output and junk.read_bytes() == b"not a workbook"
    assert run("uplift", tx, tx, "-o", junk, "-q", "--n-boot", "20", "--force").exit_code == 0
    assert sheets(junk) == ["Uplift"]


# --------------------------------------------------------------------- path faults


def test_symlinked_output_is_written_through(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    real = tmp_path / "real" / "plan.xlsx"
    real.parent.mkdir()
    link = tmp_path / "link.xlsx"
    link.symlink_to(real)
    assert run("optimize", src, "-o", link, "-q").exit_code == 0
    assert link.is_symlink() and "Plan" in sheets(real)
    inplace = tmp_path / "in_link.xlsx"
    inplace.symlink_to(src)
    assert run("optimize", inplace, "--in-place", "-q").exit_code == 0
    assert inplace.is_symlink() and "Plan" in sheets(src)


def test_read_only_output_and_bad_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = scenario_book(tmp_path)
    locked = tmp_path / "locked.xlsx"
    locked.write_bytes(b"keep me")
    locked.chmod(0o444)
    result = run("optimize", src, "-o", locked, "-q")
    assert result.exit_code == 1 and "the file is read-only" in result.output
    no_traceback(result)
    assert locked.read_bytes() == b"keep me"
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = run("optimize", src, "-o", afile / "out.xlsx", "-q")
    assert result.exit_code == 1 and "is a file, not a folder" in result.output
    no_traceback(result)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # a read-only folder (tests run as root)
    for args in (["-o", tmp_path / "o.xlsx"], ["--in-place"]):
        result = run("optimize", src, *args, "-q")
        assert result.exit_code == 1 and "cannot create a file in this folder (permission denied)" in result.output
        no_traceback(result)


_FULL_DISK = """
import errno, io, os, sys
from planner.io import atomic
from planner.cli import main

class Full(io.FileIO):
    written = 0
    def write(self, data):
        Full.written += len(data)
        if Full.written > 20_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)

atomic.open_temp = lambda fd: io.BufferedWriter(Full(fd, "wb"))
main(sys.argv[1:])
"""


def test_full_disk_gives_a_message_and_no_traceback(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    out = tmp_path / "out.xlsx"
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK, "optimize", str(src), "-o", str(out), "-q"],
                          capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "cannot be written (no space left on the disk)" in proc.stderr and "Nothing was written." in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert not out.exists() and temps(tmp_path) == []


def test_stale_temp_files_of_planner_are_swept(tmp_path: Path) -> None:
    old = tmp_path / ".out.xlsx.planner-abcd1234.tmp"
    young = tmp_path / ".out.xlsx.planner-efgh5678.tmp"
    other = tmp_path / ".out.xlsx.xyz.tmp"
    for p in (old, young, other):
        p.write_bytes(b"partial")
    past = time.time() - atomic.STALE_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    write_plan(hand_plan(), tmp_path / "out.xlsx")
    assert sorted(temps(tmp_path)) == sorted([young.name, other.name])


# --------------------------------------------------------------------- signals and races

_WRITER = """
import sys, signal
import numpy as np, pandas as pd
from xlsx_fixtures import hand_plan
from planner.cli import app as cli
from planner.io import write_plan
from planner.scenario.examples import retail_quarterly
for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, cli._on_terminate)
out, src, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan = hand_plan(retail_quarterly())
n = 8000
rng = np.random.default_rng(seed)
plan.allocation = pd.DataFrame({
    "period": rng.choice(["Q1", "Q2", "Q3", "Q4"], n), "segment": rng.choice(["Loyal", "New"], n),
    "channel": rng.choice(["Email", "TV"], n), "program": "acquisition", "spend": rng.random(n) * 1e4,
    "customers": rng.random(n) * 100, "value": rng.random(n) * 1e5, "roi": rng.random(n),
    "marginal_roi": rng.random(n)})
print("ready", flush=True)
i = 0
while count < 0 or i < count:
    write_plan(plan, out, source=src)
    i += 1
"""


def _env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}


def _writer(out: Path, src: Path, seed: int, count: int = -1) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out), str(src), str(seed), str(count)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
    return proc


def complete(path: Path) -> bool:
    """A whole workbook: every zip member intact, openpyxl opens it, the Plan has every row."""
    with zipfile.ZipFile(path) as zf:
        if zf.testzip() is not None:
            return False
    wb = openpyxl.load_workbook(path, read_only=True)
    return "Plan" in wb.sheetnames and wb["Plan"].max_row == 8001 and "My Notes" in wb.sheetnames


@pytest.mark.slow
def test_kill_9_and_sigterm_at_random_moments(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    out = tmp_path / "out.xlsx"
    _writer(out, src, 0, count=1).wait(timeout=300)
    assert complete(out)
    rnd = random.Random(17)
    for i, sig in enumerate([signal.SIGKILL] * 5 + [signal.SIGTERM] * 3):
        left = set(temps(tmp_path))
        proc = _writer(out, src, i)
        time.sleep(rnd.uniform(0.0, 2.0))
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:  # never leave a writer running
                proc.kill()
        assert code == (-9 if sig == signal.SIGKILL else 128 + signal.SIGTERM), proc.stderr.read()  # type: ignore[union-attr]
        assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
        assert complete(out), f"{sig!r} at round {i} left a broken destination"
        if sig == signal.SIGTERM:  # the handler removed its temporary file
            assert set(temps(tmp_path)) == left
    past = time.time() - atomic.STALE_SECONDS - 60
    for t in temps(tmp_path):  # what kill -9 left is swept by the next write once stale
        os.utime(tmp_path / t, (past, past))
    write_plan(hand_plan(retail_quarterly()), tmp_path / "other.xlsx", source=src)
    assert temps(tmp_path) == []


@pytest.mark.slow
def test_two_writers_to_one_path(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    out = tmp_path / "out.xlsx"
    procs = [_writer(out, src, seed, count=3) for seed in (1, 2)]
    try:
        for p in procs:
            assert p.wait(timeout=300) == 0, p.stderr.read()  # type: ignore[union-attr]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert complete(out) and temps(tmp_path) == []
    assert read_scenario(out).settings.total_budget == retail_quarterly().settings.total_budget


def test_planner_temp_pattern_matches_its_own_names(tmp_path: Path) -> None:
    seen: list[str] = []
    real = atomic.open_temp

    def spy(fd: int) -> io.BufferedWriter:
        seen.extend(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
        return real(fd)  # type: ignore[return-value]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(atomic, "open_temp", spy)
        write_plan(hand_plan(), tmp_path / "out.xlsx")
    assert len(seen) == 1 and atomic.TEMP_PATTERN.match(seen[0]) and seen[0].startswith(".out.xlsx.planner-")


def test_a_package_planner_cannot_parse_is_refused_with_a_message(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    with zipfile.ZipFile(src) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["xl/styles.xml"] = b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts>'
    with zipfile.ZipFile(src, "w") as zf:
        for n, d in parts.items():
            zf.writestr(n, d)
    out = tmp_path / "out.xlsx"
    with pytest.raises(OutputError, match=r"cannot copy this workbook safely \(ParseError.*--results-only"):
        write_plan(hand_plan(retail_quarterly()), out, source=src)
    assert not out.exists() and temps(tmp_path) == []
    write_plan(hand_plan(retail_quarterly()), out, source=src, results_only=True)
    assert sheets(out) == RESULTS


def test_frontier_and_compare_write_in_place(tmp_path: Path) -> None:
    src = scenario_book(tmp_path)
    names = sheets(src)
    result = run("frontier", src, "--in-place", "-q", "--points", "3")
    assert result.exit_code == 0, result.output
    assert sheets(src) == [*names, "Frontier"]
    result = run("compare", src, "--in-place", "-q")
    assert result.exit_code == 0, result.output
    assert sheets(src) == [*names, "Frontier", "Comparison", "Comparison Spend"]
    assert run("frontier", src, "-q").exit_code == 2  # neither -o nor --in-place
