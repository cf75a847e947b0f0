"""Placeholder: the optimiser is being written (core issue)."""


def optimize(scenario, **kwargs):  # pragma: no cover - replaced by the core issue
    raise NotImplementedError
