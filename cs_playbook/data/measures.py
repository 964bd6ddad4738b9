"""Account measures on observation dates: what a health score or a propensity model could know that day.

An observation is an account and a date (`obs_date`). Every measure is computed only from data
dated strictly before `obs_date` (the day before is the last day it sees), so a model fitted on
past observations never learns from its own outcome. The same table feeds the churn health score
(`health`, `scorecard`) and any other outcome (expansion propensity): nothing here is
churn-specific. Usage comes from `usage.dataset_usage` and the days with events from
`usage.dataset_event_days`, each computed in the database engine once and cached on disk; raw events
never enter pandas. An optional table that is absent leaves its measures empty (NaN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cs_playbook.data.activities import MEETING_TYPES
from cs_playbook.data.contract import BANTC_DIMENSIONS, RENEWAL_STEPS
from cs_playbook.data.io import Dataset
from cs_playbook.data.measure_catalog import MEASURE_LABELS, MEASURES, TABLE_OF, usage_measure_names
from cs_playbook.data.timelines import (
    account_codes,
    count_before,
    count_in_window,
    latest_before,
    latest_row,
    only,
    take,
    timeline,
)
from cs_playbook.data.usage import dataset_event_days, dataset_usage
from cs_playbook.params import UsageParams, load_params

__all__ = [
    "MEASURES",
    "MEASURE_LABELS",
    "observation_grid",
    "renewal_observations",
    "data_start",
    "contract_state",
    "account_measures",
    "usage_measure_columns",
]

SEVERE = ("high", "critical")
DAYS_PER_MONTH = 365.25 / 12


def _pairs(left: pd.Series, right: pd.Series, accounts: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Positions of every (left, right) pair with the same account of `accounts`, by left then right position."""
    left_codes, right_codes = account_codes(left, accounts), account_codes(right, accounts)
    order = np.argsort(right_codes, kind="stable")
    order = order[right_codes[order] >= 0]
    first = np.searchsorted(right_codes[order], left_codes, side="left")
    count = np.searchsorted(right_codes[order], left_codes, side="right") - first
    count[left_codes < 0] = 0
    rows = np.repeat(np.arange(len(left_codes)), count)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    return rows, order[np.repeat(first, count) + offset]


def _observations(observations: pd.DataFrame) -> pd.DataFrame:
    """account_id (text) and obs_date (normalized timestamp) of the caller's frame, index reset."""
    obs = observations[["account_id", "obs_date"]].copy().reset_index(drop=True)
    obs["account_id"] = obs["account_id"].astype("string")
    obs["obs_date"] = pd.to_datetime(obs["obs_date"]).astype("datetime64[ns]").dt.normalize()
    return obs


def _active_mask(subs: pd.DataFrame, day: pd.Timestamp | np.ndarray) -> np.ndarray:
    """Lines active on `day` (start_date <= day <= end_date, end_date empty = open-ended)."""
    end = subs["end_date"].fillna(pd.Timestamp.max.normalize()).to_numpy()
    return (subs["start_date"].to_numpy() <= day) & (end >= day)


def observation_grid(
    subscriptions: pd.DataFrame, *, start: pd.Timestamp, end: pd.Timestamp, freq: str = "MS"
) -> pd.DataFrame:
    """One observation per account and date of a regular grid, for accounts that were customers the day before.

    Dates run from `start` to `end` at `freq` (default month starts). An account is observed on a
    date when one of its contract lines was active on the day before (the last day the measures
    see; at month starts this is the month-end snapshot of the MRR convention). Returns account_id,
    obs_date sorted by date then account.
    """
    dates = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq=freq)
    subs = subscriptions.dropna(subset=["start_date"])
    frames = []
    for d in dates:
        active = _active_mask(subs, (d - pd.Timedelta(days=1)).to_datetime64())
        ids = pd.unique(subs.loc[active, "account_id"])
        frames.append(pd.DataFrame({"account_id": ids, "obs_date": d}))
    if not frames:
        return pd.DataFrame({"account_id": pd.Series(dtype="string"), "obs_date": pd.Series(dtype="datetime64[ns]")})
    out = pd.concat(frames, ignore_index=True)
    out["account_id"] = out["account_id"].astype("string")
    out["obs_date"] = out["obs_date"].astype("datetime64[ns]")
    return out.sort_values(["obs_date", "account_id"]).reset_index(drop=True)


def renewal_observations(
    subscriptions: pd.DataFrame,
    *,
    lead_days: int,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One observation `lead_days` before each renewal date of each account.

    A renewal date is the day after a line's end_date. The observation is kept when the account was
    a customer the day before it and obs_date lies in [start, end]. Returns account_id, obs_date,
    renewal_date.
    """
    subs = subscriptions.dropna(subset=["start_date", "end_date"])
    ren = pd.DataFrame(
        {"account_id": subs["account_id"].astype("string"), "renewal_date": subs["end_date"] + pd.Timedelta(days=1)}
    ).drop_duplicates()
    ren["obs_date"] = (ren["renewal_date"] - pd.Timedelta(days=int(lead_days))).astype("datetime64[ns]")
    if start is not None:
        ren = ren[ren["obs_date"] >= pd.Timestamp(start)]
    if end is not None:
        ren = ren[ren["obs_date"] <= pd.Timestamp(end)]
    state = contract_state(subscriptions, ren[["account_id", "obs_date"]])
    ren = ren.reset_index(drop=True)[state["active"].to_numpy()]
    return (
        ren[["account_id", "obs_date", "renewal_date"]].sort_values(["obs_date", "account_id"]).reset_index(drop=True)
    )


def data_start(ds: Dataset, *, params_dir: str | Path | None = None) -> pd.Timestamp:
    """The first day of activity data (events, tickets, surveys, activities): where measures have history.

    The events' first day comes from the cached account-days (`usage.dataset_event_days`), not a scan.
    """
    candidates = []
    if ds.events is not None:
        first = dataset_event_days(ds, params_dir=params_dir)["day"].min()
        if not pd.isna(first):
            candidates.append(pd.Timestamp(first))
    for table, col in (("tickets", "opened_at"), ("surveys", "responded_at"), ("activities", "occurred_at")):
        df = ds.get(table)
        if df is not None and len(df):
            candidates.append(pd.Timestamp(df[col].min()))
    if not candidates:
        return pd.Timestamp(ds.subscriptions["start_date"].min()).normalize()
    return min(candidates).normalize()


def contract_state(subscriptions: pd.DataFrame, observations: pd.DataFrame) -> pd.DataFrame:
    """The contract of each observation's account on the day before obs_date.

    Returns account_id, obs_date, active (any line active that day), arr, seats (largest seat total
    of one product), products, departments, auto_renew (1 when every active line auto-renews),
    first_start (first line ever), next_renewal (day after the earliest end_date of the active
    lines), all_renewed_by (day after the latest one: when every current line has come up for
    renewal; NaT when a line is open-ended), term_months (the longest active line, end - start + 1 day, in
    months), one row per observation in the input order.
    """
    obs = _observations(observations)
    obs["_row"] = np.arange(len(obs))
    subs = subscriptions.dropna(subset=["start_date"]).reset_index(drop=True)
    subs["account_id"] = subs["account_id"].astype("string")
    firsts = subs.groupby("account_id")["start_date"].min().rename("first_start")
    dept = subs["department"].astype("string").str.strip()
    per_line = pd.DataFrame(
        {
            "product": subs["product"],
            "arr": subs["arr"],
            "renews": subs["end_date"] + pd.Timedelta(days=1),
            "open_ended": subs["end_date"].isna(),
            "term": ((subs["end_date"] - subs["start_date"]).dt.days + 1).astype("float64") / DAYS_PER_MONTH,
            "seats_f": pd.to_numeric(subs["seats"], errors="coerce").astype("float64"),
            "auto": subs["auto_renew"].astype("boolean").fillna(False).astype("float64"),
            "dept": dept.where(dept.fillna("") != ""),
        }
    )
    # every (observation, line of its account) in observation then line order, kept when active the day before
    accounts = pd.Index(obs["account_id"].dropna().unique())
    row, line = _pairs(obs["account_id"], subs["account_id"], accounts)
    day = obs["obs_date"].to_numpy()[row] - np.timedelta64(1, "D")
    end = subs["end_date"].to_numpy()[line]
    on = (subs["start_date"].to_numpy()[line] <= day) & (np.isnat(end) | (end >= day))
    lines = per_line.take(line[on]).reset_index(drop=True)
    lines.insert(0, "_row", row[on])
    per_product = lines.groupby(["_row", "product"])["seats_f"].sum(min_count=1).groupby(level="_row").max()
    g = lines.groupby("_row")
    agg = pd.DataFrame(
        {
            "arr": g["arr"].sum(),
            "products": g["product"].nunique(),
            "departments": g["dept"].nunique(),
            "auto_renew": g["auto"].min(),
            "next_renewal": g["renews"].min(),
            "all_renewed_by": g["renews"].max(),
            "any_open": g["open_ended"].any(),
            "term_months": g["term"].max(),
        }
    )
    agg["seats"] = per_product
    agg.loc[agg["any_open"], "all_renewed_by"] = pd.NaT
    out = obs.join(agg, on="_row")
    out["active"] = out["arr"].notna()
    out["arr"] = out["arr"].fillna(0.0)
    for c in ("products", "departments"):
        out[c] = out[c].fillna(0).astype("int64")
    out = out.join(firsts, on="account_id")
    cols = [
        "account_id",
        "obs_date",
        "active",
        "arr",
        "seats",
        "products",
        "departments",
        "auto_renew",
        "first_start",
        "next_renewal",
        "all_renewed_by",
        "term_months",
    ]
    return out[cols]


def _usage_columns(params: UsageParams) -> dict[str, str | None]:
    """Names of the usage metrics that play each role, found by kind (so renamed metrics still work)."""

    def first(kind: str) -> str | None:
        return next((m.name for m in params.metrics if m.kind == kind and not m.event_types), None)

    return {
        "events": first("count"),
        "active_users": first("distinct_users"),
        "active_days": first("distinct_days"),
        "feature_breadth": first("distinct_event_types"),
    }


def _usage_measures(
    obs: pd.DataFrame,
    accounts: pd.Index,
    ds: Dataset,
    state: pd.DataFrame,
    usage: pd.DataFrame | None,
    usage_params: UsageParams,
    params_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Usage measures of the last complete month before each obs_date, and days since the last activity."""
    out = pd.DataFrame(index=obs["_row"])
    roles = _usage_columns(usage_params)
    if usage is None:
        usage = dataset_usage(ds, usage_params, params_dir=params_dir)
    month = (obs["obs_date"].dt.to_period("M") - 1).dt.to_timestamp().astype("datetime64[ns]")
    if len(usage):
        periods = usage["period_start"].astype("datetime64[ns]")
        first_month = periods.min()
        keep = [c for c in {*roles.values()} if c]
        trend = [f"{roles['events']}_chg_1", f"{roles['events']}_chg_3", f"{roles['active_users']}_chg_3"]
        keep += [c for c in trend if c in usage.columns]
        specs = usage_measure_columns(usage_params, list(usage.columns))
        keep += sorted({metric for metric, _ in specs.values()} - set(keep))
        # each observation's usage row of that month (-1: none), its metrics as float (NaN: none)
        at = pd.MultiIndex.from_arrays([usage["account_id"].astype("string"), periods]).get_indexer(
            pd.MultiIndex.from_arrays([obs["account_id"], month])
        )
        row = pd.DataFrame({c: take(usage[c].astype("float64").to_numpy(), at) for c in keep}, index=obs["_row"])
        covered = (month >= first_month).to_numpy()
    else:
        row, covered, specs = pd.DataFrame(index=obs["_row"]), np.zeros(len(obs), dtype=bool), {}
    for role, col in roles.items():
        if col is None or col not in row.columns:
            out[role] = np.nan
            continue
        # no usage row in a month the data covers means no events that month
        out[role] = np.where(covered, row[col].astype("float64").fillna(0.0).to_numpy(), np.nan)
    seats = state["seats"].astype("float64").where(state["seats"] > 0).to_numpy()
    out["events_per_seat"] = out["events"].to_numpy() / seats
    out["events_per_active_user"] = out["events"] / out["active_users"].where(out["active_users"] > 0)
    out["active_user_share"] = out["active_users"].to_numpy() / seats
    for name, col in (
        ("usage_trend_1m", f"{roles['events']}_chg_1"),
        ("usage_trend_3m", f"{roles['events']}_chg_3"),
        ("active_users_trend_3m", f"{roles['active_users']}_chg_3"),
    ):
        out[name] = row[col].astype("float64").to_numpy() if col in row.columns else np.nan
    days = dataset_event_days(ds, params_dir=params_dir)
    out["days_since_last_activity"] = _days_since_last_event(obs, accounts, days, state)
    extra = _usage_metric_measures(row, covered, specs, seats, out["active_users"].to_numpy(dtype="float64"))
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)


def usage_measure_columns(usage_params: UsageParams, usage_columns: list[str]) -> dict[str, tuple[str, str]]:
    """The usage-metric measures the data allows: measure name -> (metric, how), how one of value, per_user, per_seat.

    Every metric of params/usage_metrics.yaml and every events_<type> column of `usage.account_usage`
    (`usage_columns`) becomes measures (`measure_catalog.usage_measure_names`): counts per active user and
    per seat, other kinds (distinct counts, ratios) as their value in the month.
    """
    kinds = {m.name: m.kind for m in usage_params.metrics}
    types = [
        c for c in usage_columns if c.startswith("events_") and c not in kinds and "_chg_" not in c and c != "seats"
    ]
    out: dict[str, tuple[str, str]] = {}
    for metric in [*kinds, *types]:
        if metric not in usage_columns:
            continue
        count = kinds.get(metric, "count") == "count"
        for name in usage_measure_names(metric, count=count):
            how = "per_user" if name.endswith("_per_user") else ("per_seat" if name.endswith("_per_seat") else "value")
            out[name] = (metric, how)
    return out


def _usage_metric_measures(
    row: pd.DataFrame, covered: np.ndarray, specs: dict[str, tuple[str, str]], seats: np.ndarray, users: np.ndarray
) -> dict[str, np.ndarray]:
    """Values of the usage-metric measures from each observation's usage row (NaN where the data has no usage yet)."""
    out: dict[str, np.ndarray] = {}
    users = np.where(users > 0, users, np.nan)
    for name, (metric, how) in specs.items():
        value = row[metric].astype("float64").to_numpy() if metric in row.columns else np.full(len(row), np.nan)
        if how != "value":
            value = np.nan_to_num(value, nan=0.0) / (users if how == "per_user" else seats)
        out[name] = np.where(covered, value, np.nan)
    return out


def _days_since_last_event(
    obs: pd.DataFrame, accounts: pd.Index, days: pd.DataFrame, state: pd.DataFrame
) -> np.ndarray:
    """Days from the last day with an event (strictly before obs_date) to obs_date, from the account-days `days`.

    `days` is `usage.event_days` (account_id, day), looked up in pandas so no date asks the engine again.
    Without an event before obs_date: the days since the account was first seen (its first contract, or
    the first day of the events when that is later).
    """
    last_day = take(days["day"].astype("datetime64[ns]").to_numpy(), latest_row(obs, timeline(days, "day", accounts)))
    since = (obs["obs_date"].to_numpy() - last_day) / np.timedelta64(1, "D")
    first_event = pd.Timestamp(days["day"].min()).normalize()
    seen_from = state["first_start"].where(state["first_start"] > first_event, first_event)
    fallback = (obs["obs_date"] - seen_from).dt.days.clip(lower=0).to_numpy(dtype="float64")
    return np.where(np.isnan(since), fallback, since)


def _contract_measures(obs: pd.DataFrame, ds: Dataset, state: pd.DataFrame) -> dict[str, np.ndarray]:
    """Account and contract measures: segment, employees, CSM, ARR, seats, products, tenure, renewal."""
    acc = ds.accounts[["account_id", "segment", "employees", "csm"]].copy()
    acc["account_id"] = acc["account_id"].astype("string")
    acc = obs[["account_id"]].merge(acc, on="account_id", how="left")
    return {
        "segment": acc["segment"].astype("string").to_numpy(),
        "employees": pd.to_numeric(acc["employees"], errors="coerce").astype("float64").to_numpy(),
        "has_csm": acc["csm"].notna().astype("float64").to_numpy(),
        "arr": state["arr"].to_numpy(dtype="float64"),
        "seats": state["seats"].astype("float64").to_numpy(),
        "products": state["products"].astype("float64").to_numpy(),
        "departments": state["departments"].astype("float64").to_numpy(),
        "tenure_days": (obs["obs_date"] - state["first_start"]).dt.days.astype("float64").to_numpy(),
        "days_to_renewal": (state["next_renewal"] - obs["obs_date"]).dt.days.astype("float64").to_numpy(),
        "auto_renew": state["auto_renew"].astype("float64").to_numpy(),
        "term_months": state["term_months"].astype("float64").to_numpy(),
    }


def _ticket_measures(
    obs: pd.DataFrame, accounts: pd.Index, tickets: pd.DataFrame, window_days: int
) -> dict[str, np.ndarray]:
    """Tickets and severe tickets opened in the window, their share, tickets open on obs_date."""
    opened_at = timeline(tickets, "opened_at", accounts)
    n = count_in_window(obs, opened_at, window_days)
    severe = count_in_window(obs, only(opened_at, tickets["severity"].isin(SEVERE).to_numpy()), window_days)
    codes, dates = obs["_code"].to_numpy(), obs["obs_date"].to_numpy()
    opened = count_before(codes, opened_at, dates)
    closed = count_before(codes, timeline(tickets, "closed_at", accounts), dates)
    share = pd.Series(severe) / pd.Series(n).where(pd.Series(n) > 0)
    return {
        "tickets": n,
        "severe_tickets": severe,
        "severe_ticket_share": share.to_numpy(),
        "open_tickets": opened - closed,
    }


def _activity_measures(
    obs: pd.DataFrame, accounts: pd.Index, acts: pd.DataFrame, window_days: int
) -> dict[str, np.ndarray]:
    """CSM touchpoints, meetings and renewal steps in the window."""
    occurred_at = timeline(acts, "occurred_at", accounts)
    meetings = only(occurred_at, acts["activity_type"].isin(list(MEETING_TYPES)).to_numpy())
    steps = only(occurred_at, acts["activity_type"].isin(list(RENEWAL_STEPS)).to_numpy())
    return {
        "touchpoints": count_in_window(obs, occurred_at, window_days),
        "meetings": count_in_window(obs, meetings, window_days),
        "renewal_steps": count_in_window(obs, steps, window_days),
    }


def _stakeholder_measures(
    obs: pd.DataFrame, accounts: pd.Index, stake: pd.DataFrame, max_age_days: int
) -> dict[str, np.ndarray]:
    """Champion, executive access, success plan and champion lost from the latest stakeholder snapshot."""
    s = stake.sort_values(["account_id", "as_of"]).copy()
    s["prev_champion"] = s.groupby("account_id")["champion"].shift(1)
    flags = ["champion", "exec_access", "success_plan", "prev_champion"]
    for f in flags:
        s[f] = s[f].astype("boolean").astype("float64")
    latest = latest_before(obs, accounts, s, "as_of", flags, max_age_days)
    out = {f: latest[f].to_numpy() for f in ("champion", "exec_access", "success_plan")}
    lost = (latest["champion"] == 0) & (latest["prev_champion"] == 1)
    out["champion_lost"] = np.where(latest["champion"].isna(), np.nan, lost.astype("float64"))
    out["stakeholder_age_days"] = latest["_age"].to_numpy()
    return out


def _bantc_measures(
    obs: pd.DataFrame, accounts: pd.Index, bantc: pd.DataFrame, max_age_days: int
) -> dict[str, np.ndarray]:
    """BANTC risks per dimension, risk and unknown counts from the latest assessment, and its age."""
    b = bantc.copy()
    for d in BANTC_DIMENSIONS:
        answer = b[d].astype("string").str.lower()
        b[f"bantc_{d}_risk"] = (answer == "risk").astype("float64")
        b[f"_{d}_unknown"] = (answer == "unknown").astype("float64")
    risk_cols = [f"bantc_{d}_risk" for d in BANTC_DIMENSIONS]
    b["bantc_risk_count"] = b[risk_cols].sum(axis=1)
    b["bantc_unknown_count"] = b[[f"_{d}_unknown" for d in BANTC_DIMENSIONS]].sum(axis=1)
    cols = [*risk_cols, "bantc_risk_count", "bantc_unknown_count"]
    latest = latest_before(obs, accounts, b, "assessed_at", cols, max_age_days)
    return {c: latest[c].to_numpy() for c in cols} | {"bantc_age_days": latest["_age"].to_numpy()}


def account_measures(
    ds: Dataset,
    observations: pd.DataFrame,
    *,
    usage: pd.DataFrame | None = None,
    usage_params: UsageParams | None = None,
    params_dir: str | None = None,
    window_days: int = 90,
    nps_max_age_days: int = 365,
    stakeholder_max_age_days: int = 365,
    bantc_max_age_days: int = 180,
) -> pd.DataFrame:
    """Every measure of each observation, computed only from data dated strictly before its obs_date.

    `observations` has account_id and obs_date (any other column is ignored). Returns one row per
    observation, in the input order: account_id, obs_date, then the columns of `MEASURES` (each
    documented there and in docs/health-score.md), all float except segment (text), then the usage-metric
    measures (`usage_measure_columns`: usage_<metric>[_per_user|_per_seat]) when events exist. Usage comes
    from `usage.account_usage` (pass `usage` to reuse one already computed for the whole history;
    otherwise it runs in the engine with params/usage_metrics.yaml). Measures of an optional table
    that is absent are NaN; a present table with nothing for an account in the window gives 0.
    """
    obs = _observations(observations)
    obs["_row"] = np.arange(len(obs))
    # the observed accounts, sorted (as the cached event days are), and each observation's code among them
    accounts = pd.Index(obs["account_id"].dropna().unique()).sort_values()
    obs["_code"] = accounts.get_indexer(obs["account_id"])
    out = obs[["account_id", "obs_date"]].copy()
    usage_cols: dict[str, np.ndarray] = {}
    state = contract_state(ds.subscriptions, obs)
    measured = _contract_measures(obs, ds, state)

    if ds.has("events") and len(obs):
        params = usage_params or load_params("usage_metrics", UsageParams, directory=params_dir, source=ds.source)
        u = _usage_measures(obs, accounts, ds, state, usage, params, params_dir)
        measured |= {col: u[col].to_numpy() for col in TABLE_OF["events"]}
        usage_cols = {col: u[col].to_numpy(dtype="float64") for col in u.columns if col not in MEASURES}
    tables = {name: ds.get(name) for name in ("tickets", "surveys", "activities", "stakeholders", "bantc")}
    if tables["tickets"] is not None:
        measured |= _ticket_measures(obs, accounts, tables["tickets"], window_days)
    if tables["surveys"] is not None:
        nps = latest_before(obs, accounts, tables["surveys"], "responded_at", ["score"], nps_max_age_days)
        measured |= {"nps_score": nps["score"].astype("float64").to_numpy(), "nps_age_days": nps["_age"].to_numpy()}
    if tables["activities"] is not None:
        measured |= _activity_measures(obs, accounts, tables["activities"], window_days)
    if tables["stakeholders"] is not None:
        measured |= _stakeholder_measures(obs, accounts, tables["stakeholders"], stakeholder_max_age_days)
    if tables["bantc"] is not None:
        measured |= _bantc_measures(obs, accounts, tables["bantc"], bantc_max_age_days)

    values = {col: measured.get(col, np.nan) for col in MEASURES}
    floats = {c: np.broadcast_to(np.asarray(v, dtype="float64"), len(out)) for c, v in values.items() if c != "segment"}
    out["segment"] = values["segment"]
    out = pd.concat([out, pd.DataFrame(floats | usage_cols, index=out.index)], axis=1)
    return out[["account_id", "obs_date", *MEASURES, *usage_cols]]
