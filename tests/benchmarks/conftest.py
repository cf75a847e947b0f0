"""The performance suite runs only with ``--benchmarks``:

    python -m pytest tests/benchmarks --benchmarks -s

Without the flag every test here is skipped at collection, so the default run stays fast.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--benchmarks", action="store_true", default=False,
                     help="run the performance suite in tests/benchmarks (minutes)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--benchmarks"):
        return
    skip = pytest.mark.skip(reason="performance suite: run with --benchmarks")
    for item in items:
        if "benchmarks" in item.path.parts:
            item.add_marker(skip)
