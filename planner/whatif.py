"""Placeholder: scenarios, frontier and comparison (CLI issue)."""


def apply_scenario(scenario, name):  # pragma: no cover
    raise NotImplementedError


def compare(scenario, **kwargs):  # pragma: no cover
    raise NotImplementedError


def frontier(scenario, **kwargs):  # pragma: no cover
    raise NotImplementedError
