"""The observation design of the health score, chosen by the data's contract terms, and the candidate measures.

"Churned by the next renewal" is a one-month window for a monthly contract and a year for an annual
one: on data with mixed terms the churn rate per observation mostly says which term the account is
on. `term_mix` measures how mixed the terms are; `choose_design` resolves `observations.mode: auto`
(and `outcome_window: auto`): mixed terms get monthly observations with a fixed horizon and the
contract term and days to renewal as measures, otherwise monthly observations churned by the next
renewal (the design for one contract term). `candidate_measures` expands the measures of params
with the usage-metric measures (`calibration.usage_measures`) and checks every name against the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_playbook.data.measure_catalog import MEASURES, USAGE_PREFIX
from cs_playbook.errors import ParamsError

__all__ = [
    "TERM_MEASURES",
    "TermMix",
    "term_mix",
    "Design",
    "choose_design",
    "usage_measure_list",
    "candidate_measures",
]

# Measures added to the candidates by the fixed-horizon design for mixed terms.
TERM_MEASURES = ("term_months", "days_to_renewal")
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class TermMix:
    """Contract terms of the subscription lines: `lines` with an end date, shares of contract time on short / long terms."""

    lines: int
    short_share: float
    long_share: float
    short_months: float
    long_months: float
    median_months: float

    def mixed(self, min_share: float) -> bool:
        """True when at least `min_share` of the contract time is on short terms and at least `min_share` on long ones."""
        return self.lines > 0 and self.short_share >= min_share and self.long_share >= min_share


def term_mix(subscriptions: pd.DataFrame, *, short_months: float = 3, long_months: float = 9) -> TermMix:
    """How mixed the contract terms are: the share of contract time on lines under `short_months` and over `long_months`.

    A line's term is end_date - start_date + 1 day (inclusive end dates), in months of 365.25 / 12 days.
    Shares weight each line by its length (a monthly customer writes twelve lines a year, an annual
    one line), so they are about the shares of customers on each kind of term at any time.
    """
    s = subscriptions.dropna(subset=["start_date", "end_date"])
    months = ((s["end_date"] - s["start_date"]).dt.days + 1).to_numpy(dtype="float64") / DAYS_PER_MONTH
    n = len(months)
    return TermMix(
        lines=n,
        short_share=float(months[months < short_months].sum() / months.sum()) if n else 0.0,
        long_share=float(months[months > long_months].sum() / months.sum()) if n else 0.0,
        short_months=short_months,
        long_months=long_months,
        median_months=float(np.median(months)) if n else float("nan"),
    )


@dataclass(frozen=True)
class Design:
    """The resolved observation design: mode, outcome window, horizon, whether term measures join, and why."""

    mode: str
    outcome_window: str
    horizon_months: int
    term_measures: bool
    reason: str


def choose_design(
    mix: TermMix,
    *,
    mode: str,
    outcome_window: str,
    horizon_months: int,
    mixed_horizon_months: int,
    min_share: float,
    lead_days: int,
) -> Design:
    """Resolve `auto` mode / outcome window from the term mix; explicit settings are kept and only explained."""
    mixed = mix.mixed(min_share)
    terms = (
        f"of the contract time on its {mix.lines:,} contract lines, {mix.short_share:.0%} is on terms under "
        f"{mix.short_months:g} months and {mix.long_share:.0%} on terms over {mix.long_months:g} months"
    )
    if mode == "auto":
        mode = "monthly"
        if outcome_window == "auto":
            outcome_window = "horizon" if mixed else "next_renewal"
        if mixed and outcome_window == "horizon":
            horizon_months = mixed_horizon_months
    elif outcome_window == "auto":
        outcome_window = "horizon" if mixed else "next_renewal"
    term = mixed and outcome_window == "horizon"
    if mixed and outcome_window == "horizon":
        why = (
            f"Contract terms are mixed ({terms}): churn by the next renewal would be a one-month window for some accounts "
            f"and a year for others, so the outcome is churn within a fixed {horizon_months}-month horizon and the "
            "contract term and days to renewal are candidate measures."
        )
    elif mixed:
        why = (
            f"Contract terms are mixed ({terms}) but params set outcome_window: {outcome_window}: churn per observation "
            "mixes very different windows; consider observations.mode: auto."
        )
    else:
        why = f"Contract terms are alike ({terms}): the outcome is churn by the next renewal."
    if mode == "renewal_lead":
        why += f" Observations are taken {lead_days} days before each renewal."
    return Design(
        mode=mode, outcome_window=outcome_window, horizon_months=horizon_months, term_measures=term, reason=why
    )


def usage_measure_list(columns: list[str] | pd.Index) -> list[str]:
    """The usage-metric measures among `columns` (usage_<metric>..., not the built-in trend measures)."""
    return [c for c in columns if str(c).startswith(USAGE_PREFIX) and c not in MEASURES]


def candidate_measures(
    measures: list[str], usage_measures: str | list[str], columns: list[str] | pd.Index, *, term_measures: bool
) -> list[str]:
    """The measures offered to the fit: params' measures, the term measures (mixed terms) and the usage-metric ones.

    `usage_measures` is "none", "all" (every usage-metric measure the data has) or a list of usage
    metric names of params/usage_metrics.yaml or events_<type> columns (each gives its measures:
    per active user and per seat for counts) or of usage-metric measure names. A name the data
    does not have is a ParamsError naming `calibration.usage_measures` (or `calibration.measures`).
    """
    available = usage_measure_list(columns)
    bad = [m for m in measures if m not in MEASURES and m not in available]
    if bad:
        raise ParamsError(
            f"params/health_score.yaml calibration.measures: {', '.join(bad)} not among the measures of this data "
            f"(built-in: see docs/health-score.md; usage metrics here: {', '.join(available) or 'none'})"
        )
    out = list(measures)
    if term_measures:
        out += [m for m in TERM_MEASURES if m not in out]
    if usage_measures == "none":
        return out
    if usage_measures == "all":
        return out + [m for m in available if m not in out]
    for name in usage_measures:
        found = [
            m for m in available if m == name or m.startswith(f"{USAGE_PREFIX}{name}_per_") or m == USAGE_PREFIX + name
        ]
        if not found:
            metrics = sorted(
                {m[len(USAGE_PREFIX) :].removesuffix("_per_user").removesuffix("_per_seat") for m in available}
            )
            raise ParamsError(
                f"params/health_score.yaml calibration.usage_measures: {name!r} is not a usage metric of this data "
                f"(params/usage_metrics.yaml metrics and events_<type> counts: {', '.join(metrics) or 'none: no events'})"
            )
        out += [m for m in found if m not in out]
    return out
