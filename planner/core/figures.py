"""The catalogue of figures: one place that says what each reported number is called,
how it is shown and what it means.

A figure has a *key* (``total_spend``: stable, for scripts, ``--json`` and table headers),
a *label* (``Total spend``: for people), a *kind* (how it is formatted: whole currency,
a count, a ratio, a percentage …) and a *meaning* (one line a finance reader understands).
The Summary sheet, the terminal printout, the Comparison and the Frontier all read it, so a
figure is named and formatted the same everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.core.sheet_spec import Format

__all__ = ["FIGURES", "HEADLINE_KEYS", "Figure", "figure", "format_figure", "kind_of", "label_of"]


@dataclass(frozen=True)
class Figure:
    """One reported number: its key, human label, format kind and meaning."""

    key: str
    label: str
    kind: Format
    meaning: str


_ALL = [
    # headline figures of a plan, in the order the Summary and the printout show them
    Figure("total_spend", "Total spend", "currency", "money spent over all periods"),
    Figure("total_value", "Total value", "currency", "lifetime value of the customers won and kept"),
    Figure("net_value", "Net value", "currency", "total value minus the discounted spend"),
    Figure("roi", "ROI", "ratio", "total value per unit of money spent"),
    Figure("new_customers", "New customers", "integer", "customers won over the plan"),
    Figure("retained_customers", "Retained customers", "integer", "customers kept from churning"),
    Figure("blended_cac", "Blended CAC", "currency", "acquisition spend per new customer"),
    Figure("cost_per_retained", "Cost per retained customer", "currency", "retention spend per customer kept"),
    Figure("unspent_budget", "Unspent budget", "currency", "budget the plan leaves unspent"),
    Figure("marginal_roi_of_budget", "Marginal ROI of budget", "ratio", "value the next unit of budget returns"),
    Figure("budget_shadow_price", "Budget shadow price", "ratio", "objective gain per extra unit of budget"),
    Figure("marginal_roi_of_budget_lower", "Marginal ROI of the last budget unit", "ratio",
           "what each unit cut from the budget would lose"),
    Figure("budget_shadow_price_lower", "Budget shadow price (lowering)", "ratio",
           "objective lost per unit the budget is cut"),
    Figure("baseline_value", "Baseline value", "currency", "value of today's customers with no spend"),
    Figure("optimality_gap_bound", "Optimality gap (bound)", "currency", "the best plan is worth at most this more"),
    Figure("optimality_gap_relative", "Optimality gap (relative)", "percent", "gap bound as a share of the objective"),
    Figure("status", "Status", "text", "optimal (gap ≤ 0.01 %), feasible or time_limit"),
    # further figures of a plan
    Figure("total_budget", "Total budget", "currency", "the budget the plan may spend"),
    Figure("objective", "Objective", "text", "what the plan maximises"),
    Figure("objective_value", "Objective value", "currency", "the objective's value for this plan"),
    Figure("discounted_spend", "Discounted spend", "currency", "spend discounted to today"),
    Figure("flat_spend", "Spend on flat curves", "currency", "spend where a curve no longer responds"),
    Figure("currency", "Currency", "text", "currency of every money figure"),
    Figure("scenario", "Scenario", "text", "the what-if applied (Base: the workbook as it is)"),
    Figure("workbook_scenario", "Workbook scenario", "text", "the scenario name the workbook gives"),
    # frontier and comparison columns
    Figure("budget", "Total budget", "currency", "total budget of the frontier point"),
    Figure("spend", "Spend", "currency", "money spent"),
    Figure("value", "Value", "currency", "discounted lifetime value bought"),
    Figure("customers", "Customers", "integer", "customers won or kept"),
    Figure("marginal_roi", "Marginal ROI", "ratio", "value the next unit of money returns"),
    Figure("incremental_roi", "Incremental ROI", "ratio",
           "extra value per extra unit of budget since the previous point"),
    Figure("delta_total_spend", "Change in total spend", "currency", "total spend minus Base's"),
    Figure("delta_total_value", "Change in total value", "currency", "total value minus Base's"),
    Figure("delta_net_value", "Change in net value", "currency", "net value minus Base's"),
    Figure("delta_roi", "Change in ROI", "ratio", "ROI minus Base's"),
    Figure("delta_new_customers", "Change in new customers", "integer", "new customers minus Base's"),
    Figure("delta_retained_customers", "Change in retained customers", "integer", "retained customers minus Base's"),
    Figure("net_value_change", "Net value change", "percent", "change in net value relative to Base"),
]

#: Every figure by key.
FIGURES: dict[str, Figure] = {f.key: f for f in _ALL}

#: The headline figures of a plan, in the order the Summary sheet and the printout show them.
HEADLINE_KEYS: list[str] = [f.key for f in _ALL[: [f.key for f in _ALL].index("status") + 1]]


def figure(key: str) -> Figure:
    """The catalogue entry of ``key``; an unknown key gets a label from its name.

    >>> figure("total_spend").label
    'Total spend'
    >>> figure("pwl_tolerance").label
    'Pwl tolerance'
    """
    found = FIGURES.get(key)
    if found is not None:
        return found
    return Figure(key, key.replace("_", " ").strip().capitalize(), "number", "")


def label_of(key: str) -> str:
    """Human label of a figure key (``total_spend`` → ``Total spend``)."""
    return figure(key).label


def kind_of(key: str) -> Format:
    """Format kind of a figure key (``roi`` → ``ratio``)."""
    return figure(key).kind


def format_figure(value: object, kind: str = "number", currency: str = "") -> str:
    """A figure as text, formatted as the sheets show it: money whole from 1 000 up (else
    two decimals) with the currency, counts whole, ratios with two decimals, rates as %;
    ``-`` for a missing number; never ``-0``.

    >>> format_figure(1_700_000.4, "currency", "USD"), format_figure(28.149, "currency", "USD")
    ('1,700,000 USD', '28.15 USD')
    >>> format_figure(39058.07, "integer"), format_figure(0.000217, "percent"), format_figure(-1e-9, "ratio")
    ('39,058', '0.02%', '0.00')
    """
    if kind == "text" or isinstance(value, str | bool):
        return "-" if value is None else str(value)
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-" if value is None else str(value)
    if not math.isfinite(x):
        return "-"
    if kind == "percent":
        x *= 100
        places = 1 if abs(x) >= 0.1 or x == 0 else 2
    elif kind == "integer":
        places = 0
    elif kind == "ratio":
        places = 2
    else:  # currency and plain numbers: whole from 1 000, else two (or, below 0.01, four) decimals
        places = 0 if abs(x) >= 1000 or x == 0 else 2 if abs(x) >= 0.01 or kind == "currency" else 4
    x = round(x, places)
    text = f"{x + 0.0 if x else 0.0:,.{places}f}"  # + 0.0 and the test drop a negative zero
    if kind == "percent":
        return f"{text}%"
    return f"{text} {currency}".rstrip() if kind == "currency" else text
