"""The words and value types of a scenario workbook: programs, curve kinds, objectives,
constraint metrics and senses, and the number types fields use."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

Program = Literal["acquisition", "retention"]
CurveKind = Literal["linear", "saturation", "hill", "log", "power", "points"]
Objective = Literal["net_value", "value", "target_mroi", "min_spend"]
Metric = Literal[
    "spend",
    "share",
    "new_customers",
    "retained_customers",
    "value",
    "cac",
    "cost_per_retained",
    "roi",
    "contacts_per_customer",
]
Sense = Literal["<=", ">=", "="]

PROGRAMS: tuple[str, ...] = ("acquisition", "retention")
CURVES: tuple[str, ...] = ("linear", "saturation", "hill", "log", "power", "points")
OBJECTIVES: tuple[str, ...] = ("net_value", "value", "target_mroi", "min_spend")
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]

NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
OpenRate = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]
