"""Cash-flow arithmetic of an ROI case: discounting, subscription fees, NPV, IRR and payback.

Conventions: month 0 is signing (one-off costs, and the first year's fee when billed
annually in advance); months 1..H carry the benefit x the adoption ramp, recurring costs and
monthly fees. NPV discounts at the annual rate converted to monthly ((1 + r)^(1/12) - 1); IRR
is annual; payback is the first month from which the cumulative net cash flow stays at or
above zero until the horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq

__all__ = [
    "discount_factors",
    "subscription_schedule",
    "cash_flows",
    "npv",
    "irr",
    "irrs",
    "payback_month",
    "payback_months",
]


def discount_factors(months: int, annual_rate: float) -> np.ndarray:
    """1 / (1 + r_m)^t for t = 0..months, r_m the monthly equivalent of the annual rate."""
    monthly = (1 + annual_rate) ** (1 / 12) - 1
    return (1 + monthly) ** -np.arange(months + 1, dtype="float64")


def subscription_schedule(months: int, billing: str) -> np.ndarray:
    """Fee paid at t = 0..months per 1 of ARR: 1 at months 0, 12, 24 .. (annual) or 1/12 in months 1..H."""
    out = np.zeros(months + 1)
    if billing == "annual":
        out[np.arange(0, months, 12)] = 1.0
    else:
        out[1:] = 1 / 12
    return out


def cash_flows(
    benefit_rate: float,
    recurring_cost: float,
    one_off_cost: float,
    arr: float,
    *,
    ramp: np.ndarray,
    billing: str = "annual",
    annual_rate: float = 0.0,
) -> pd.DataFrame:
    """Month-by-month cash flows of one account and scenario (month 0 = signing).

    benefit_rate and recurring_cost are per month at full adoption; ramp holds the share of the
    benefit in months 1..H. Returns month, benefit, subscription, other_costs, net, cumulative,
    discounted, cumulative_discounted.
    """
    months = len(ramp)
    benefit = np.r_[0.0, benefit_rate * np.asarray(ramp, dtype="float64")]
    subscription = arr * subscription_schedule(months, billing)
    other = np.r_[one_off_cost, np.full(months, recurring_cost)]
    net = benefit - subscription - other
    disc = net * discount_factors(months, annual_rate)
    return pd.DataFrame(
        {
            "month": np.arange(months + 1),
            "benefit": benefit,
            "subscription": subscription,
            "other_costs": other,
            "net": net,
            "cumulative": np.cumsum(net),
            "discounted": disc,
            "cumulative_discounted": np.cumsum(disc),
        }
    )


def npv(flows: np.ndarray, annual_rate: float) -> float:
    """Net present value of monthly flows (index 0 undiscounted) at an annual rate."""
    flows = np.asarray(flows, dtype="float64")
    return float(flows @ discount_factors(len(flows) - 1, annual_rate))


_RATE_GRID = np.expm1(np.linspace(np.log(0.01), np.log(11.0), 600))  # monthly rates -0.99 .. 10 scanned by `irr`
_RATE_GRID.flags.writeable = False


def _grid_discounts(months: int) -> np.ndarray:
    """(1 + r)^-t for t = 0..months-1 (rows) and every rate r of the scan grid (columns)."""
    t = np.arange(months)
    with np.errstate(over="ignore", invalid="ignore"):
        return (1 + _RATE_GRID[None, :]) ** -t[:, None]


def _irr(flows: np.ndarray, grid_discounts: np.ndarray) -> float:
    """`irr` of 1-d float flows, with `_grid_discounts(len(flows))` computed by the caller."""
    if not (flows > 0).any() or not (flows < 0).any():
        return float("nan")
    t = np.arange(len(flows))
    grid = _RATE_GRID

    def f(r: float) -> float:
        return float(flows @ (1 + r) ** -t)

    with np.errstate(over="ignore", invalid="ignore"):
        values = flows @ grid_discounts
    finite = np.isfinite(values)
    roots = [float(grid[i]) for i in np.nonzero(finite & (values == 0))[0]]
    brackets = np.nonzero(finite[:-1] & finite[1:] & (np.sign(values[:-1]) * np.sign(values[1:]) < 0))[0]
    roots += [brentq(f, grid[i], grid[i + 1], xtol=1e-12, rtol=1e-12) for i in brackets]
    if not roots:
        return float("nan")
    monthly = min(roots, key=abs)
    return float((1 + monthly) ** 12 - 1)


def irr(flows: np.ndarray) -> float:
    """Annual internal rate of return of monthly flows; NaN when there is none.

    NPV is scanned over monthly rates from -99% to +1000% for sign changes and each bracket is
    solved with Brent's method; with several roots (flows that change sign more than once) the
    one closest to zero is returned.
    """
    flows = np.asarray(flows, dtype="float64")
    return _irr(flows, _grid_discounts(len(flows)))


def irrs(flows: np.ndarray) -> np.ndarray:
    """`irr` for each row of a (rows x months) array of flows (the scan grid's discounts computed once)."""
    flows = np.atleast_2d(np.asarray(flows, dtype="float64"))
    grid_discounts = _grid_discounts(flows.shape[1])
    return np.array([_irr(row, grid_discounts) for row in flows], dtype="float64")


def payback_month(flows: np.ndarray) -> float:
    """First month from which the cumulative net flow stays >= 0 to the horizon; NaN if it ends below."""
    return float(payback_months(flows)[0])


def payback_months(flows: np.ndarray) -> np.ndarray:
    """`payback_month` for each row of a (rows x months) array of flows."""
    flows = np.atleast_2d(np.asarray(flows, dtype="float64"))
    cum = np.cumsum(flows, axis=1)
    tol = 1e-9 * np.maximum(1.0, np.abs(flows).max(axis=1))
    below = cum < -tol[:, None]
    n = flows.shape[1]
    any_below = below.any(axis=1)
    last = n - 1 - np.argmax(below[:, ::-1], axis=1)
    out = np.where(any_below, last + 1.0, 0.0)
    return np.where(any_below & (last == n - 1), np.nan, out)
