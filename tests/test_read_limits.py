"""Memory and time of reading hostile workbooks: bounded per input class (issue 17).

Each class runs in a subprocess under an address-space cap of 20 x the file's size + 300 MB
above the interpreter's baseline, so a regression (dense 16 384-wide rows, a quadratic scan)
fails fast with MemoryError instead of swapping; time is bounded in seconds where the old
reader took minutes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_hostile_input import parts, rezip, sheet_part
from xlsx_fixtures import GOOD, make_book

_LIMITED = r"""
import os, resource, sys, time
from planner.errors import PlannerError
from planner.io import read_scenario, zip_preflight
path = sys.argv[1]
size = os.path.getsize(path)
vm = int(next(line for line in open("/proc/self/status") if line.startswith("VmSize")).split()[1]) * 1024
cap = vm + 20 * size + 300 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
start = time.perf_counter()
try:
    read_scenario(path)
except PlannerError:
    pass
zip_preflight.losses(path)
print(time.perf_counter() - start)
"""


def add_sheet(content: dict[str, bytes], title: str, xml: bytes, state: str = "visible") -> None:
    """Add a raw worksheet part to an openpyxl-written package (``make_book`` layout)."""
    n = sum(1 for k in content if k.startswith("xl/worksheets/sheet")) + 1
    part = f"xl/worksheets/sheet{n}.xml"
    content[part] = xml
    content["xl/workbook.xml"] = content["xl/workbook.xml"].replace(
        b"</sheets>", f'<sheet name="{title}" sheetId="{n}" state="{state}" r:id="rIdX{n}" /></sheets>'.encode())
    content["xl/_rels/workbook.xml.rels"] = content["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/worksheet" Target="/' + part.encode() + f'" Id="rIdX{n}" /></Relationships>'.encode())
    content["[Content_Types].xml"] = content["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/' + part.encode() + b'" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.worksheet+xml" /></Types>')


_NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'


def _xfd_rows(rows: int, start: int = 1) -> bytes:
    return b"".join(b'<row r="%d"><c r="XFD%d" t="inlineStr"><is><t>x</t></is></c></row>' % (r, r)
                    for r in range(start, start + rows))


def _hostile_book(tmp_path: Path, kind: str) -> Path:
    good = make_book(tmp_path / "g.xlsx", GOOD)
    content = parts(good)
    if kind == "xfd user sheet":
        add_sheet(content, "Notes", _NS + _xfd_rows(150_000) + b"</sheetData></worksheet>")
    elif kind == "xfd scenario sheet":
        part = sheet_part(good, "Segments")
        content[part] = content[part].replace(b"</sheetData>", _xfd_rows(150_000, start=10) + b"</sheetData>")
    elif kind == "large comment":
        import base64

        part = sheet_part(good, "Segments")
        comment = b"<!--" + base64.b64encode(os.urandom(3 * 2**20)) + b"-->"
        content[part] = content[part].replace(b"<sheetData>", comment + b"<sheetData>")
    elif kind == "unclosed extLst":
        add_sheet(content, "Notes", _NS + b"</sheetData>" + b"<extLst " * 300_000 + b"</worksheet>")
    elif kind == "many shared strings":
        strings = b"".join(b"<si><t>s%07d</t></si>" % i for i in range(300_000))
        content["xl/sharedStrings.xml"] = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                           + strings + b"</sst>")
        content["xl/_rels/workbook.xml.rels"] = content["xl/_rels/workbook.xml.rels"].replace(
            b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rIdS" /></Relationships>')
        add_sheet(content, "Notes", _NS + b"".join(b'<row r="%d"><c r="A%d" t="s"><v>%d</v></c></row>' % (r, r, r)
                                                   for r in range(1, 300_001)) + b"</sheetData></worksheet>")
    elif kind == "many scenario rows":
        rows = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>Ghost%d</t></is></c><c r="B%d" '
                        b't="inlineStr"><is><t>Q1</t></is></c><c r="C%d"><v>1</v></c></row>' % (r, r, r, r, r)
                        for r in range(2, 20_002))
        add_sheet(content, "Seasonality", _NS + b'<row r="1"><c r="A1" t="inlineStr"><is><t>channel</t></is></c>'
                  b'<c r="B1" t="inlineStr"><is><t>period</t></is></c><c r="C1" t="inlineStr"><is><t>multiplier'
                  b"</t></is></c></row>" + rows + b"</sheetData></worksheet>")
    return rezip(tmp_path / "hostile.xlsx", content)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to measure the address space")
@pytest.mark.parametrize("kind", ["xfd user sheet", "xfd scenario sheet", "large comment", "unclosed extLst",
                                  "many shared strings", "many scenario rows"])
def test_memory_and_time_stay_bounded(tmp_path: Path, kind: str) -> None:
    """Memory <= 20 x file size + 300 MB (address-space cap in a subprocess) and seconds, not minutes."""
    import subprocess
    import sys

    path = _hostile_book(tmp_path, kind)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", _LIMITED, str(path)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1]) < 20, (kind, path.stat().st_size, run.stdout)
