"""Usage metrics per account and month (or week), computed inside the database engine.

The definitions are Ibis expressions built from params/usage_metrics.yaml, so the same
metrics compile to DuckDB here and to a warehouse or Spark elsewhere. Only the small
aggregated table (accounts x periods) comes back to pandas, where seats (from contracts)
and the change against earlier periods are added.
"""

from __future__ import annotations

import re

import ibis
import numpy as np
import pandas as pd

from cs_playbook.errors import ParamsError
from cs_playbook.params import UsageMetric, UsageParams

__all__ = ["metric_expressions", "aggregate_usage", "seats_by_period", "account_usage"]

GRAINS = {"month": "M", "week": "W"}


def _type_column(event_type: str) -> str:
    """events_<type> column name for an event type (lower snake case)."""
    return "events_" + re.sub(r"[^0-9a-z]+", "_", event_type.lower()).strip("_")


def metric_expressions(
    events: ibis.Table, params: UsageParams, event_types: list[str] | None = None
) -> dict[str, ibis.Expr]:
    """Aggregate expressions for every non-ratio metric (plus per-type counts), by name."""
    exprs: dict[str, ibis.Expr] = {}
    day = events.event_time.date()
    for m in params.metrics:
        if m.kind == "ratio":
            continue
        where = events.event_type.isin(m.event_types) if m.event_types else None
        if m.kind == "count":
            exprs[m.name] = events.count(where=where)
        elif m.kind == "distinct_users":
            exprs[m.name] = events.user_id.nunique(where=where)
        elif m.kind == "distinct_days":
            exprs[m.name] = day.nunique(where=where)
        elif m.kind == "distinct_event_types":
            exprs[m.name] = events.event_type.nunique(where=where)
    for et in event_types or []:
        exprs.setdefault(_type_column(et), events.count(where=events.event_type == et))
    return exprs


def _check_ratios(params: UsageParams) -> None:
    """Every ratio names two known metrics (or seats); raise ParamsError naming the metric otherwise."""
    names = {m.name for m in params.metrics}
    for m in params.metrics:
        if m.kind != "ratio":
            continue
        for role, ref in (("numerator", m.numerator), ("denominator", m.denominator)):
            if not ref or (ref not in names and not (role == "denominator" and ref == "seats")):
                raise ParamsError(
                    f"params/usage_metrics.yaml: metric {m.name}: {role} {ref!r} is not a metric "
                    f"(known: {', '.join(sorted(names))}{', seats' if role == 'denominator' else ''})"
                )
            if ref == m.name:
                raise ParamsError(f"params/usage_metrics.yaml: metric {m.name} refers to itself")


def aggregate_usage(events: ibis.Table, params: UsageParams, *, grain: str = "month") -> pd.DataFrame:
    """Raw metric counts per account and period, run in the engine.

    Returns columns account_id, period_start and one column per non-ratio metric (and
    events_<type> per event type when `per_event_type_counts`).
    """
    if grain not in GRAINS:
        raise ParamsError(f"grain must be one of {', '.join(GRAINS)} (got {grain!r})")
    _check_ratios(params)
    types = None
    if params.per_event_type_counts:
        types = sorted(events.select("event_type").distinct().to_pandas()["event_type"].dropna().tolist())
    period = events.event_time.truncate(GRAINS[grain]).name("period_start")
    exprs = metric_expressions(events, params, types)
    agg = events.group_by([events.account_id, period]).aggregate(**exprs)
    df = agg.to_pandas()
    df["period_start"] = pd.to_datetime(df["period_start"]).astype("datetime64[ns]")
    for col in exprs:
        df[col] = df[col].fillna(0).astype("int64")
    return df.sort_values(["account_id", "period_start"]).reset_index(drop=True)


def seats_by_period(subscriptions: pd.DataFrame, periods: pd.DatetimeIndex, *, grain: str = "month") -> pd.DataFrame:
    """Seats held per account at each period's end (lines active on its last day).

    Seats are summed over departments within a product, and the account holds the largest of those
    product totals: seat-based add-ons (Analytics on the same 50 users) are not extra seats. Without
    a `product` column every line counts as one product. Returns columns account_id, period_start, seats.
    """
    subs = subscriptions.dropna(subset=["seats"])
    if subs.empty or len(periods) == 0:
        return pd.DataFrame(
            {
                "account_id": pd.Series(dtype="str"),
                "period_start": pd.Series(dtype="datetime64[ns]"),
                "seats": pd.Series(dtype="float64"),
            }
        )
    ends = periods + (pd.offsets.MonthEnd(0) if grain == "month" else pd.Timedelta(days=6))
    start = subs["start_date"].to_numpy()[:, None]
    end = subs["end_date"].fillna(pd.Timestamp.max.normalize()).to_numpy()[:, None]
    active = (start <= ends.to_numpy()[None, :]) & (end >= ends.to_numpy()[None, :])
    line_idx, period_idx = np.nonzero(active)
    products = subs["product"].astype("str").to_numpy() if "product" in subs.columns else np.full(len(subs), "")
    held = pd.DataFrame(
        {
            "account_id": subs["account_id"].to_numpy()[line_idx],
            "period_start": periods.to_numpy()[period_idx],
            "product": products[line_idx],
            "seats": subs["seats"].to_numpy(dtype="float64")[line_idx],
        }
    )
    per_product = held.groupby(["account_id", "period_start", "product"], as_index=False)["seats"].sum()
    return per_product.groupby(["account_id", "period_start"], as_index=False)["seats"].max()


def _complete_grid(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Every account x period from the account's first to the overall last period (no gaps)."""
    freq = "MS" if grain == "month" else "W-MON"
    last = df["period_start"].max()
    firsts = df.groupby("account_id")["period_start"].min()
    rows = []
    for account_id, first in firsts.items():
        rows.append(pd.DataFrame({"account_id": account_id, "period_start": pd.date_range(first, last, freq=freq)}))
    grid = pd.concat(rows, ignore_index=True) if rows else df[["account_id", "period_start"]].iloc[:0]
    return grid.merge(df, on=["account_id", "period_start"], how="left")


def account_usage(
    events: ibis.Table,
    subscriptions: pd.DataFrame,
    params: UsageParams,
    *,
    grain: str = "month",
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Usage metrics per account and period: the metrics of params, seats, ratios and changes.

    Returns account_id, period_start, every metric of params (ratios included), seats, the
    events_<type> counts, and <metric>_chg_<k> = metric / metric k periods before - 1 for k
    in `change_windows` (NaN where the earlier value is 0 or missing). Periods without events
    are kept as zero usage from an account's first active period on.
    """
    if start is not None:
        events = events.filter(events.event_time >= start)
    if end is not None:
        events = events.filter(events.event_time < end + pd.Timedelta(days=1))
    counts = aggregate_usage(events, params, grain=grain)
    if counts.empty:
        return counts
    df = _complete_grid(counts, grain)
    value_cols = [c for c in counts.columns if c not in ("account_id", "period_start")]
    df[value_cols] = df[value_cols].fillna(0).astype("int64")
    periods = pd.DatetimeIndex(sorted(df["period_start"].unique()))
    df = df.merge(seats_by_period(subscriptions, periods, grain=grain), on=["account_id", "period_start"], how="left")
    for m in params.metrics:
        if m.kind == "ratio":
            den = df[m.denominator].astype("float64")
            df[m.name] = df[m.numerator].astype("float64") / den.where(den > 0)
    metric_names = [m.name for m in params.metrics]
    df = df.sort_values(["account_id", "period_start"]).reset_index(drop=True)
    grouped = df.groupby("account_id", sort=False)
    for k in params.change_windows:
        for name in metric_names:
            before = grouped[name].shift(k).astype("float64")
            df[f"{name}_chg_{k}"] = df[name].astype("float64") / before.where(before > 0) - 1
    ordered = ["account_id", "period_start", *metric_names, "seats"]
    rest = [c for c in df.columns if c not in ordered]
    return df[ordered + rest]


def describe_metric(metric: UsageMetric) -> str:
    """One line saying how a metric is computed, for docs and notebook tables."""
    scope = f" of type {', '.join(metric.event_types)}" if metric.event_types else ""
    return {
        "count": f"events{scope}",
        "distinct_users": f"distinct users with events{scope}",
        "distinct_days": f"distinct days with events{scope}",
        "distinct_event_types": f"distinct event types{scope}",
        "ratio": f"{metric.numerator} / {metric.denominator}",
    }[metric.kind]
