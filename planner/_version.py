"""The installed version of planner (a module of its own, so no layer imports the package root)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("planner")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
