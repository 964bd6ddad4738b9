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
    # One filtered part per feature (the engine reads only its window's files), each grouped once by account and
    # user before counting: no join of every event with every release window.
    parts = []
    for row in rel.itertuples(index=False):
        w = events.filter((events.event_time >= row.released_at) & (events.event_time < row.window_end))
        u = w.group_by([w.account_id, w.user_id]).aggregate(uses=(w.event_type == row.event_type).any())
        parts.append(
            u.aggregate(
                feature=ibis.literal(row.feature, type="string"),
                active_accounts=u.account_id.nunique(),
                adopting_accounts=u.account_id.nunique(where=u.uses),
                active_users=u.user_id.nunique(),
                adopting_users=u.user_id.nunique(where=u.uses),
            )
        )
    counts = ibis.union(*parts).to_pandas()
    out = rel.merge(counts, on="feature", how="left")
    for c in ("active_accounts", "adopting_accounts", "active_users", "adopting_users"):
        out[c] = out[c].fillna(0).astype("int64")
    out["account_adoption"] = out["adopting_accounts"] / out["active_accounts"].where(out["active_accounts"] > 0)
    out["user_adoption"] = out["adopting_users"] / out["active_users"].where(out["active_users"] > 0)
    return out[cols].sort_values("released_at").reset_index(drop=True)
