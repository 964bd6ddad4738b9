"""PoC usage: each criterion's weekly path, computed from raw events for the users of the PoC's scope.

The scope's users are the users of the PoC's account whose department (site or team) is in
the PoC's scope. Weeks run from the start date (week 1 = its first seven days). Counts are
aggregated inside DuckDB via Ibis; only one row per scope and week comes back to pandas.
Manual criteria take their values from poc_measurements.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from cs_playbook.poc.criteria import parse_metric, split_scope

__all__ = ["poc_windows", "scope_users", "scope_weekly_metrics", "criterion_series", "series_as_of"]


def poc_windows(pocs: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The complete weeks of each PoC from its start date to its end date or `as_of`, whichever is first.

    Week k covers the days start + 7(k-1) to start + 7k - 1. Returns poc_id, week (k),
    period_start, period_end (last day, inclusive).
    """
    rows = []
    for r in pocs.itertuples(index=False):
        last = min(r.end_date, as_of)
        n = int(((last - r.start_date).days + 1) // 7) if pd.notna(last) and pd.notna(r.start_date) else 0
        for k in range(1, n + 1):
            start = r.start_date + pd.Timedelta(days=7 * (k - 1))
            rows.append((r.poc_id, k, start, start + pd.Timedelta(days=6)))
    out = pd.DataFrame(rows, columns=["poc_id", "week", "period_start", "period_end"])
    out["week"] = out["week"].astype("int64")
    for c in ("period_start", "period_end"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out


def scope_users(pocs: pd.DataFrame, users: pd.DataFrame, *, id_column: str = "poc_id") -> pd.DataFrame:
    """The users of each PoC's scope: users of its account whose department is in its scope.

    Returns scope_id, account_id, user_id, created_at.
    """
    scopes = pocs[[id_column, "account_id", "scope"]].copy()
    scopes["department"] = scopes["scope"].map(split_scope)
    scopes = scopes.explode("department").dropna(subset=["department"])
    u = users[["user_id", "account_id", "department", "created_at"]].dropna(subset=["department"])
    out = scopes.merge(u, on=["account_id", "department"], how="inner")
    out = out.rename(columns={id_column: "scope_id"})[["scope_id", "account_id", "user_id", "created_at"]]
    return out.drop_duplicates(["scope_id", "user_id"]).reset_index(drop=True)


def scope_weekly_metrics(
    events: ibis.Table, members: pd.DataFrame, windows: pd.DataFrame, metrics: list[str]
) -> pd.DataFrame:
    """Event metrics per scope and week, aggregated inside the database engine.

    `members` (scope_id, account_id, user_id, created_at) from `scope_users`; `windows` has
    scope_id, period_start, period_end (inclusive days). A user counts in a week's scope once
    invited (created_at empty or not after the week's last day). Returns scope_id, period_end,
    scope_users, users_active (users with any event) and one column per metric in `metrics`.
    """
    metrics = list(dict.fromkeys(metrics))
    base = windows[["scope_id", "period_start", "period_end"]].drop_duplicates().reset_index(drop=True)
    if base.empty:
        return base.assign(scope_users=0, users_active=0)[["scope_id", "period_end", "scope_users", "users_active"]]
    sizes = base.merge(members[["scope_id", "created_at"]], on="scope_id", how="left")
    counted = sizes["created_at"].isna() | (sizes["created_at"] <= sizes["period_end"])
    counted &= sizes["scope_id"].isin(members["scope_id"])
    n_users = sizes.assign(scope_users=counted.astype("int64")).groupby(["scope_id", "period_end"], as_index=False)
    base = base.merge(n_users["scope_users"].sum(), on=["scope_id", "period_end"], how="left")
    types = sorted({t for m in metrics if (t := parse_metric(m)[1]) is not None})
    agg = _engine_counts(events, members, base, types)
    out = base.merge(agg, on=["scope_id", "period_end"], how="left")
    count_cols = (
        ["users_active", "events"] + [f"e{i}" for i in range(len(types))] + [f"u{i}" for i in range(len(types))]
    )
    for c in count_cols:
        out[c] = out[c].fillna(0).astype("int64") if c in out else 0
    size = out["scope_users"].astype("float64")
    for m in metrics:
        name, et = parse_metric(m)
        i = types.index(et) if et is not None else None
        n_events = out["events"] if i is None else out[f"e{i}"]
        n_users = out["users_active"] if i is None else out[f"u{i}"]
        if name == "active_user_share":
            out[m] = (n_users / size.where(size > 0)).astype("float64")
        elif name == "active_users":
            out[m] = n_users.astype("float64")
        elif name == "events":
            out[m] = n_events.astype("float64")
        elif name == "events_per_active_user":
            active = out["users_active"].astype("float64")
            out[m] = (n_events / active.where(active > 0)).fillna(0.0).astype("float64")
    keep = ["scope_id", "period_end", "scope_users", "users_active", *metrics]
    return out[keep].sort_values(["scope_id", "period_end"]).reset_index(drop=True)


def _engine_counts(events: ibis.Table, members: pd.DataFrame, base: pd.DataFrame, types: list[str]) -> pd.DataFrame:
    """Active users, events and per-type counts per scope and week, run in the engine (never raw rows)."""
    mem = ibis.memtable(members[["scope_id", "account_id", "user_id"]].astype("string"))
    win = base[["scope_id", "period_start", "period_end"]].copy()
    win["stop"] = (win["period_end"] + pd.Timedelta(days=1)).astype("datetime64[us]")
    win["period_start"] = win["period_start"].astype("datetime64[us]")
    win["scope_id"] = win["scope_id"].astype("string")
    wt = ibis.memtable(win.rename(columns={"scope_id": "w_scope", "period_start": "w_start"}))
    lo, hi = win["period_start"].min(), win["stop"].max()
    ev = events.select("account_id", "user_id", "event_time", "event_type")
    ev = ev.filter((ev.event_time >= lo) & (ev.event_time < hi))
    joined = ev.join(mem, ["account_id", "user_id"])
    joined = joined.join(
        wt, [joined.scope_id == wt.w_scope, joined.event_time >= wt.w_start, joined.event_time < wt.stop]
    )
    exprs = {"users_active": joined.user_id.nunique(), "events": joined.count()}
    for i, t in enumerate(types):
        exprs[f"e{i}"] = joined.count(where=joined.event_type == t)
        exprs[f"u{i}"] = joined.user_id.nunique(where=joined.event_type == t)
    df = joined.group_by([joined.scope_id, joined.period_end]).aggregate(**exprs).to_pandas()
    df["period_end"] = pd.to_datetime(df["period_end"]).astype("datetime64[ns]")
    df["scope_id"] = df["scope_id"].astype(base["scope_id"].dtype)
    return df


def criterion_series(
    pocs: pd.DataFrame,
    criteria: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    measurements: pd.DataFrame | None = None,
    events: ibis.Table | None = None,
    users: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every criterion's weekly path up to its PoC's end date or `as_of`.

    Events criteria: one value per complete week (see `poc_windows`), computed for the scope's
    users; manual criteria: the measurements up to `as_of`. Returns poc_id, criterion_id,
    period_end, week (weeks since the start date at period_end, fractional for manual dates),
    value, scope_users and users_active (the week's, for events criteria; empty for manual).
    """
    cols = ["poc_id", "criterion_id", "period_end", "week", "value", "scope_users", "users_active"]
    parts = []
    crit = criteria[criteria["poc_id"].isin(pocs["poc_id"])]
    ev_crit = crit[crit["source"] == "events"]
    if not ev_crit.empty and events is not None and users is not None:
        ev_pocs = pocs[pocs["poc_id"].isin(ev_crit["poc_id"])]
        windows = poc_windows(ev_pocs, as_of)
        members = scope_users(ev_pocs, users)
        weekly = scope_weekly_metrics(
            events, members, windows.rename(columns={"poc_id": "scope_id"}), sorted(ev_crit["metric"].unique())
        )
        weekly = weekly.rename(columns={"scope_id": "poc_id"}).merge(
            windows[["poc_id", "period_end", "week"]], on=["poc_id", "period_end"]
        )
        long = weekly.melt(
            id_vars=["poc_id", "period_end", "week", "scope_users", "users_active"],
            value_vars=sorted(ev_crit["metric"].unique()),
            var_name="metric",
            value_name="value",
        )
        parts.append(ev_crit[["poc_id", "criterion_id", "metric"]].merge(long, on=["poc_id", "metric"]))
    if measurements is not None and not measurements.empty:
        man = measurements.merge(crit.loc[crit["source"] == "manual", ["poc_id", "criterion_id"]])
        man = man.merge(pocs[["poc_id", "start_date"]], on="poc_id")
        man = man[man["measured_at"] <= as_of]
        man = man.assign(
            period_end=man["measured_at"],
            week=((man["measured_at"] - man["start_date"]).dt.days + 1) / 7.0,
            scope_users=np.nan,
            users_active=np.nan,
        )
        parts.append(man)
    if not parts:
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
        out[["poc_id", "criterion_id"]] = out[["poc_id", "criterion_id"]].astype("str")
        out["period_end"] = out["period_end"].astype("datetime64[ns]")
        return out
    out = pd.concat([p[cols] for p in parts], ignore_index=True)
    out["week"] = out["week"].astype("float64")
    for c in ("value", "scope_users", "users_active"):
        out[c] = out[c].astype("float64")
    return out.sort_values(["poc_id", "criterion_id", "period_end"]).reset_index(drop=True)


def series_as_of(series: pd.DataFrame, pocs: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """`criterion_series` at an earlier `as_of`, cut from the series of a later date instead of read again.

    A week's values depend only on its PoC, scope and days, and a measurement only on its date, so
    the earlier series is the later one's rows of the PoCs in `pocs` (started by `as_of`) up to `as_of`.
    """
    keep = (series["period_end"] <= as_of) & series["poc_id"].isin(pocs["poc_id"])
    return series[keep.to_numpy()].reset_index(drop=True)
