"""Placeholder: reading and writing scenario workbooks (workbook issue)."""


def read_scenario(path):  # pragma: no cover
    raise NotImplementedError


def write_scenario(scenario, path):  # pragma: no cover
    raise NotImplementedError


def write_plan(plan, path, **kwargs):  # pragma: no cover
    raise NotImplementedError
