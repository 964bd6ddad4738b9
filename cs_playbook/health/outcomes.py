"""Churn as an outcome: when an account stopped being a customer, and whether it did after an observation date.

A churn is the day after a stretch of continuous contract coverage ends (all lines ended, no
renewal the next day); a reactivation later starts a new stretch. `churn_outcomes` labels
observations (account, date) for fitting a health score: churned within the outcome window
(by the next renewal, or within a horizon), and the ARR lost (churn and contraction, for GRR).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.data.measures import contract_state
from cs_playbook.errors import CsPlaybookError

__all__ = ["churn_dates", "churn_outcomes"]


def churn_dates(subscriptions: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every churn up to `as_of`: the day after a stretch of continuous contract coverage ends.

    Lines of an account that overlap or follow each other without a gap (a renewal starts the day
    after the previous end) form one stretch. Returns account_id, churn_date (<= as_of).
    """
    s = subscriptions.dropna(subset=["start_date"])[["account_id", "start_date", "end_date"]].copy()
    if s.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype="string"), "churn_date": pd.Series(dtype="datetime64[ns]")})
    s["account_id"] = s["account_id"].astype("string")
    s["end"] = s["end_date"].fillna(pd.Timestamp("2262-01-01"))
    s = s.sort_values(["account_id", "start_date"], kind="stable").reset_index(drop=True)
    reach = s.groupby("account_id")["end"].cummax()
    prev_reach = reach.groupby(s["account_id"]).shift(1)
    new_stretch = prev_reach.isna() | (s["start_date"] > prev_reach + pd.Timedelta(days=1))
    s["stretch"] = new_stretch.cumsum()
    ends = s.groupby("stretch").agg(account_id=("account_id", "first"), end=("end", "max"))
    ends["churn_date"] = ends["end"] + pd.Timedelta(days=1)
    out = ends[ends["churn_date"] <= pd.Timestamp(as_of)][["account_id", "churn_date"]]
    return out.sort_values(["account_id", "churn_date"]).reset_index(drop=True)


def churn_outcomes(
    subscriptions: pd.DataFrame,
    observations: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    window: str = "next_renewal",
    horizon_months: int = 12,
) -> pd.DataFrame:
    """Whether each observation's account churned in its outcome window, and the ARR it lost.

    The window starts on obs_date and ends at `window_end`: with window "next_renewal", the day every
    contract line active the day before comes up for renewal (capped at the horizon); with
    "horizon", obs_date + horizon_months - 1 day. Returns account_id, obs_date, window_end,
    observed (the window closed by `as_of` and the account was a customer), churned (1/0, NaN
    when not observed), arr (the day before obs_date), arr_lost (ARR not kept at window_end:
    churn and contraction; NaN when not observed), in the input order.
    """
    if window not in ("next_renewal", "horizon"):
        raise CsPlaybookError(f"outcome window must be next_renewal or horizon (got {window!r})")
    state = contract_state(subscriptions, observations)
    horizon_end = state["obs_date"] + pd.DateOffset(months=horizon_months) - pd.Timedelta(days=1)
    window_end = horizon_end
    if window == "next_renewal":
        window_end = state["all_renewed_by"].where(state["all_renewed_by"] <= horizon_end, horizon_end)
    out = state[["account_id", "obs_date"]].copy()
    out["window_end"] = window_end.astype("datetime64[ns]")
    out["observed"] = state["active"].to_numpy() & (out["window_end"] <= pd.Timestamp(as_of)).to_numpy()
    churns = churn_dates(subscriptions, as_of=as_of)
    hits = out.reset_index().merge(churns, on="account_id", how="inner")
    hit = (hits["churn_date"] >= hits["obs_date"]) & (hits["churn_date"] <= hits["window_end"])
    churned_rows = set(hits.loc[hit, "index"])
    churned = np.array([i in churned_rows for i in range(len(out))], dtype="float64")
    out["churned"] = np.where(out["observed"], churned, np.nan)
    out["arr"] = state["arr"].to_numpy()
    after = contract_state(
        subscriptions,
        pd.DataFrame({"account_id": out["account_id"], "obs_date": out["window_end"] + pd.Timedelta(days=1)}),
    )
    lost = np.clip(out["arr"].to_numpy() - after["arr"].to_numpy(), 0, None)
    out["arr_lost"] = np.where(out["observed"], np.where(churned == 1, out["arr"].to_numpy(), lost), np.nan)
    return out
