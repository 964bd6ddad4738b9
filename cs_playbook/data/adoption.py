"""New-feature adoption rate: the share of active customers and users using a released feature.

A KPI shared by product and CS [000]. Computed inside the database engine (Ibis), because it
scans raw events.
"""

from __future__ import annotations

import ibis
import pandas as pd

__all__ = ["feature_adoption"]


def feature_adoption(
    events: ibis.Table, releases: pd.DataFrame, *, as_of: pd.Timestamp, window_days: int = 90
) -> pd.DataFrame:
    """Adoption of each released feature in its first `window_days` days (cut at `as_of`).

    Returns feature, event_type, released_at, days_observed, active_accounts (accounts with
    any event in the window), adopting_accounts (with an event of the feature's type),
    account_adoption, active_users, adopting_users, user_adoption. Features released after
    `as_of` are left out.
    """
    rel = releases[releases["released_at"] <= as_of].copy()
    cols = [
        "feature",
        "event_type",
        "released_at",
        "days_observed",
        "active_accounts",
        "adopting_accounts",
        "account_adoption",
        "active_users",
        "adopting_users",
        "user_adoption",
    ]
    if rel.empty:
        return pd.DataFrame(columns=cols)
    end_cap = as_of + pd.Timedelta(days=1)
    rel["window_end"] = (rel["released_at"] + pd.Timedelta(days=window_days)).clip(upper=end_cap)
    rel["days_observed"] = (rel["window_end"] - rel["released_at"]).dt.days
    r = ibis.memtable(
        rel[["feature", "event_type", "released_at", "window_end"]].rename(columns={"event_type": "feature_event_type"})
    )
    joined = events.join(r, (events.event_time >= r.released_at) & (events.event_time < r.window_end))
    uses = joined.event_type == joined.feature_event_type
    agg = joined.group_by("feature").aggregate(
        active_accounts=joined.account_id.nunique(),
        adopting_accounts=joined.account_id.nunique(where=uses),
        active_users=joined.user_id.nunique(),
        adopting_users=joined.user_id.nunique(where=uses),
    )
    counts = agg.to_pandas()
    out = rel.merge(counts, on="feature", how="left")
    for c in ("active_accounts", "adopting_accounts", "active_users", "adopting_users"):
        out[c] = out[c].fillna(0).astype("int64")
    out["account_adoption"] = out["adopting_accounts"] / out["active_accounts"].where(out["active_accounts"] > 0)
    out["user_adoption"] = out["adopting_users"] / out["active_users"].where(out["active_users"] > 0)
    return out[cols].sort_values("released_at").reset_index(drop=True)
