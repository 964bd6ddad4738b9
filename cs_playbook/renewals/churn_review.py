"""Churn review: what churned and why, who may come back, and the GRR that the open renewals imply.

Practices [000]: review churned accounts company-wide; make the cancellation experience good
enough that customers come back (clean exits sign again later). Churn here is the revenue
module's account-level churn: all MRR gone at a month end (a dropped department is contraction).
Churned ARR = the last month's MRR x 12.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from cs_playbook.data.revenue import mrr_movements, net_revenue_retention
from cs_playbook.errors import CsPlaybookError
from cs_playbook.params import StrictModel

__all__ = [
    "WinbackParams",
    "ChurnReviewParams",
    "ForecastParams",
    "tenure_band_labels",
    "churn_events",
    "exit_quality",
    "churn_breakdown",
    "churn_breakdowns",
    "churn_trend",
    "reactivation_rates",
    "winback_candidates",
    "segment_churn_risk",
    "forecast_quarter",
    "forecast_base",
    "grr_forecast",
    "grr_backtest",
]

NOT_RECORDED = "(not recorded)"
SEVERE = ("high", "critical")


class WinbackParams(StrictModel):
    """Which churned accounts are worth asking back: good history and a clean exit."""

    lookback_months: int = Field(24, ge=1)  # churned within this many months of the as-of date
    min_tenure_months: int = Field(24, ge=0)  # good history: a customer at least this long (renewed once)
    severe_ticket_days: int = Field(90, ge=0)  # clean exit: no high/critical ticket opened this close to it
    detractor_max_nps: int = Field(6, ge=0, le=10)  # clean exit: last NPS before it above this
    nps_lookback_days: int = Field(365, ge=1)
    comeback_reasons: list[str] = Field(default_factory=list)  # circumstantial churn reasons, as the data records them


class ChurnReviewParams(StrictModel):
    """The churn review's windows and bands."""

    months: int = Field(12, ge=1)  # review the churn of the trailing months up to the quarter end
    trend_quarters: int = Field(8, ge=2)
    tenure_bands_months: list[int] = Field(default_factory=lambda: [12, 24, 36])
    reason_match_days: int = Field(45, ge=0)  # churn_reasons.churned_at within this of the churn month
    reactivation_wait_months: int = Field(9, ge=1)  # churners this old count in the reactivation rate
    fallback_months: int = Field(12, ge=1)  # trailing months of the segment churn-rate fallback
    fallback_min_accounts: int = Field(20, ge=1)  # smaller segments use the overall rate
    winback: WinbackParams = Field(default_factory=WinbackParams)

    @model_validator(mode="after")
    def _bands(self) -> ChurnReviewParams:
        if sorted(set(self.tenure_bands_months)) != self.tenure_bands_months:
            raise ValueError("tenure_bands_months must be increasing")
        return self


class ForecastParams(StrictModel):
    """The GRR forecast's simulated interval."""

    simulations: int = Field(10_000, ge=100)
    seed: int = 7
    interval: float = Field(0.9, gt=0, lt=1)


def tenure_band_labels(edges: list[int]) -> list[str]:
    """Labels of the tenure bands, shortest first: '< 12 months', '12-24 months', ..., '36+ months'."""
    if not edges:
        return ["all"]
    inner = [f"{a}-{b} months" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [f"< {edges[0]} months", *inner, f"{edges[-1]}+ months"]


def _tenure_band(months: pd.Series, edges: list[int]) -> pd.Series:
    bins = [-np.inf, *edges, np.inf]
    return pd.cut(months, bins=bins, labels=tenure_band_labels(edges), right=False).astype("str")


def churn_events(
    monthly: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    churn_reasons: pd.DataFrame | None = None,
    end: pd.Timestamp | None = None,
    reason_match_days: int = 45,
    tenure_bands_months: list[int] | None = None,
) -> pd.DataFrame:
    """Every account churn (all MRR gone) up to `end`, with its reason, segment, cohort and tenure.

    `monthly` from revenue.monthly_mrr. Returns account_id, churn_month (first month without
    MRR), churned_at (the recorded date, else churn_month), churned_arr, reason (churn_reasons
    within reason_match_days, else "(not recorded)"), segment, cohort (year of the first active
    month), tenure_months (first active month to churn), tenure_band, reactivated (active again
    later), reactivated_month.
    """
    moves = mrr_movements(monthly, end=end)
    first = moves[moves["movement"] == "new"].set_index("account_id")["month"]
    churn = moves[moves["movement"] == "churn"][["account_id", "month", "mrr_prev"]]
    churn = churn.rename(columns={"month": "churn_month"}).assign(churned_arr=lambda d: d["mrr_prev"] * 12)
    back = moves[moves["movement"] == "reactivation"][["account_id", "month"]].rename(
        columns={"month": "reactivated_month"}
    )
    out = churn.drop(columns="mrr_prev").astype({"churn_month": "datetime64[ns]"}).sort_values("churn_month")
    back = back.astype({"reactivated_month": "datetime64[ns]"})
    out = pd.merge_asof(
        out,
        back.sort_values("reactivated_month"),
        left_on="churn_month",
        right_on="reactivated_month",
        by="account_id",
        direction="forward",
        allow_exact_matches=False,
    )
    out["reactivated"] = out["reactivated_month"].notna()
    if churn_reasons is not None and len(churn_reasons):
        reasons = churn_reasons[["account_id", "churned_at", "reason"]].sort_values("churned_at")
        reasons = reasons.astype({"churned_at": "datetime64[ns]", "account_id": out["account_id"].dtype})
        out = pd.merge_asof(
            out.sort_values("churn_month"),
            reasons,
            left_on="churn_month",
            right_on="churned_at",
            by="account_id",
            direction="nearest",
            tolerance=pd.Timedelta(days=reason_match_days),
        )
    else:
        out["churned_at"], out["reason"] = pd.NaT, pd.NA
    out["churned_at"] = out["churned_at"].fillna(out["churn_month"])
    out["reason"] = out["reason"].astype("str").fillna(NOT_RECORDED)
    out["first_month"] = out["account_id"].map(first)
    out["cohort"] = out["first_month"].dt.year.astype("Int64").astype("str")
    delta = (out["churn_month"].dt.year - out["first_month"].dt.year) * 12 + (
        out["churn_month"].dt.month - out["first_month"].dt.month
    )
    out["tenure_months"] = delta.astype("Int64")
    out["tenure_band"] = _tenure_band(out["tenure_months"].astype("float64"), tenure_bands_months or [12, 24, 36])
    seg = accounts.set_index("account_id")["segment"] if "segment" in accounts.columns else pd.Series(dtype=str)
    out["segment"] = out["account_id"].map(seg).fillna("(unknown)")
    cols = ["account_id", "churn_month", "churned_at", "churned_arr", "reason", "segment", "cohort"]
    cols += ["tenure_months", "tenure_band", "reactivated", "reactivated_month"]
    return out[cols].sort_values(["churn_month", "churned_arr"], ascending=[True, False]).reset_index(drop=True)


def exit_quality(
    events: pd.DataFrame,
    params: WinbackParams,
    *,
    tickets: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Whether each churn had good history and a clean exit, from what the data shows.

    Adds severe_tickets_at_exit (high/critical tickets opened in the severe_ticket_days before
    churned_at, or still open then), last_nps (the last answer in nps_lookback_days before it),
    clean_exit (no severe ticket and no detractor answer; no answer counts as clean),
    good_history (tenure_months >= min_tenure_months).
    """
    out = events.copy()
    key = out[["account_id", "churned_at"]].reset_index()
    severe = pd.Series(0, index=out.index)
    if tickets is not None and len(tickets):
        t = tickets[tickets["severity"].isin(SEVERE)][["account_id", "opened_at", "closed_at"]]
        m = key.merge(t, on="account_id")
        near = m["opened_at"] >= m["churned_at"] - pd.Timedelta(days=params.severe_ticket_days)
        open_then = m["closed_at"].isna() | (m["closed_at"] > m["churned_at"])
        hit = (m["opened_at"] <= m["churned_at"]) & (near | open_then)
        severe = m[hit].groupby("index").size().reindex(out.index, fill_value=0)
    out["severe_tickets_at_exit"] = severe.astype("int64")
    last = pd.Series(np.nan, index=out.index)
    if surveys is not None and len(surveys):
        m = key.merge(surveys[["account_id", "responded_at", "score"]], on="account_id")
        inside = (m["responded_at"] <= m["churned_at"]) & (
            m["responded_at"] >= m["churned_at"] - pd.Timedelta(days=params.nps_lookback_days)
        )
        last = m[inside].sort_values("responded_at").groupby("index")["score"].last().reindex(out.index)
    out["last_nps"] = last.astype("float64")
    out["clean_exit"] = (out["severe_tickets_at_exit"] == 0) & ~(out["last_nps"] <= params.detractor_max_nps)
    out["good_history"] = (out["tenure_months"].astype("float64") >= params.min_tenure_months).fillna(False)
    return out


def churn_breakdown(events: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """Churned accounts and ARR by one column (reason, segment, cohort, tenure_band, ...), largest ARR first.

    Returns <by>, accounts, churned_arr, arr_share, accounts_share.
    """
    if by not in events.columns:
        raise CsPlaybookError(f"churn_breakdown: the churn events have no column {by!r}")
    out = events.groupby(by, as_index=False).agg(accounts=("account_id", "size"), churned_arr=("churned_arr", "sum"))
    total_arr, total_n = out["churned_arr"].sum(), out["accounts"].sum()
    out["arr_share"] = out["churned_arr"] / total_arr if total_arr > 0 else np.nan
    out["accounts_share"] = out["accounts"] / total_n if total_n > 0 else np.nan
    return out.sort_values("churned_arr", ascending=False).reset_index(drop=True)


def churn_trend(monthly: pd.DataFrame, *, quarter: str, quarters: int = 8) -> pd.DataFrame:
    """Logo and ARR churn per quarter up to `quarter`, from revenue.net_revenue_retention.

    Returns period, accounts_start, accounts_churned, logo_churn, start_arr, churned_arr,
    arr_churn (churned ARR / starting ARR), contraction_arr, grr.
    """
    q = net_revenue_retention(monthly, freq="Q")
    q = q[q["period"] <= quarter].tail(quarters).copy()
    q["arr_churn"] = q["churned_arr"] / q["start_arr"]
    cols = ["period", "accounts_start", "accounts_churned", "logo_churn", "start_arr", "churned_arr"]
    return q[[*cols, "arr_churn", "contraction_arr", "grr"]].reset_index(drop=True)


def reactivation_rates(
    events: pd.DataFrame, *, as_of: pd.Timestamp, wait_months: int = 9, by: str | None = None
) -> pd.DataFrame:
    """Share of past churners that signed again, among those who churned at least `wait_months` ago.

    Returns <by> (or group "all"), churned, reactivated, rate.
    """
    cutoff = pd.Timestamp(as_of).normalize() - pd.DateOffset(months=wait_months)
    old = events[events["churn_month"] <= cutoff].assign(group="all")
    key = by or "group"
    out = old.groupby(key, as_index=False).agg(churned=("account_id", "size"), reactivated=("reactivated", "sum"))
    out["reactivated"] = out["reactivated"].astype("int64")
    out["rate"] = out["reactivated"] / out["churned"]
    return out.sort_values("churned", ascending=False).reset_index(drop=True)


def winback_candidates(
    events: pd.DataFrame, accounts: pd.DataFrame, params: WinbackParams, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Churned accounts worth asking back: recent, not back yet, good history and a clean exit.

    `events` from exit_quality. Circumstantial reasons (comeback_reasons: budget cut, downsizing,
    a changed contact) come first, then the larger lost ARR. Adds account_name, csm,
    comeback_reason and why. Returns account_id, account_name, csm, segment, churn_month,
    churned_at, churned_arr, reason, tenure_months, last_nps, severe_tickets_at_exit,
    comeback_reason, why.
    """
    as_of = pd.Timestamp(as_of).normalize()
    since = as_of - pd.DateOffset(months=params.lookback_months)
    last = events.sort_values("churn_month").groupby("account_id").tail(1)  # the latest churn of each account
    pick = last[
        (last["churn_month"] >= since)
        & (last["churn_month"] <= as_of)
        & ~last["reactivated"]
        & last["clean_exit"]
        & last["good_history"]
    ].copy()
    pick["comeback_reason"] = pick["reason"].isin(params.comeback_reasons)
    info = [c for c in ("account_name", "csm") if c in accounts.columns]
    pick = pick.merge(accounts[["account_id", *info]], on="account_id", how="left")
    pick["why"] = [
        f"left {r.churned_at:%Y/%m/%d} after {int(r.tenure_months)} months ({r.reason}); "
        + ("circumstantial reason: ask again when it changes; " if r.comeback_reason else "")
        + "no severe ticket at exit"
        + (f", last NPS {int(r.last_nps)}" if pd.notna(r.last_nps) else ", no NPS answer")
        for r in pick.itertuples()
    ]
    cols = ["account_id", *info, "segment", "churn_month", "churned_at", "churned_arr", "reason", "tenure_months"]
    cols += ["last_nps", "severe_tickets_at_exit", "comeback_reason", "why"]
    return pick.sort_values(["comeback_reason", "churned_arr"], ascending=False)[cols].reset_index(drop=True)


def segment_churn_risk(
    monthly: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    months: int = 12,
    min_accounts: int = 20,
) -> pd.DataFrame:
    """Fallback churn probability: each segment's logo churn over the trailing `months` (no health score).

    Accounts active at the month end `months` before the last complete month to `as_of`, and
    whether they still have MRR at that month; a segment with fewer than `min_accounts` uses the
    overall rate. Returns account_id, health_score (NaN), health_tier (NA), churn_probability,
    scorecard (how it was computed), shaped like the quarter state's risk.
    """
    as_of = pd.Timestamp(as_of).normalize()
    last = (as_of + pd.Timedelta(days=1)).to_period("M").to_timestamp() - pd.DateOffset(months=1)
    first = last - pd.DateOffset(months=months)
    start = monthly.loc[(monthly["month"] == first) & (monthly["arr"] > 0), "account_id"]
    still = set(monthly.loc[(monthly["month"] == last) & (monthly["arr"] > 0), "account_id"])
    cohort = pd.DataFrame({"account_id": start}).merge(accounts[["account_id", "segment"]], on="account_id", how="left")
    cohort["churned"] = ~cohort["account_id"].isin(still)
    overall = float(cohort["churned"].mean()) if len(cohort) else np.nan
    per = cohort.groupby("segment")["churned"].agg(["mean", "size"])
    rate = per["mean"].where(per["size"] >= min_accounts, overall)
    out = accounts[["account_id"]].copy()
    out["health_score"] = np.nan
    out["health_tier"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out["churn_probability"] = accounts["segment"].map(rate).fillna(overall).to_numpy(dtype="float64")
    out["scorecard"] = f"segment logo churn {first:%Y-%m} to {last:%Y-%m} (fallback: no health score)"
    return out


def forecast_quarter(as_of: pd.Timestamp) -> str:
    """The quarter in progress after `as_of` (the one holding the next day), e.g. '2026Q4' for 2026-10-31 or 2026-09-30."""
    nxt = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    return f"{nxt.year}Q{nxt.quarter}"


def forecast_base(
    subscriptions: pd.DataFrame, *, quarter_start: pd.Timestamp, quarter_end: pd.Timestamp, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Per account of the quarter's starting cohort: start_arr, arr_now and the ARR of its open renewals.

    start_arr = ARR active the day before the quarter; arr_now = ARR active at `as_of` (known
    outcomes so far); renewing_arr = ARR of lines active at `as_of` whose renewal (end_date + 1)
    falls after `as_of` and by the quarter's last day, not already renewed by a line starting on
    that date (a renewal signed in advance). `as_of` must lie in the quarter or be the day before
    it. To back-test at a past date, pass only the lines that started by then.
    """
    q0, q1 = pd.Timestamp(quarter_start).normalize(), pd.Timestamp(quarter_end).normalize()
    as_of = pd.Timestamp(as_of).normalize()
    if not q0 - pd.Timedelta(days=1) <= as_of <= q1:
        raise CsPlaybookError(
            f"forecast_base: as_of {as_of:%Y-%m-%d} is not within the quarter {q0:%Y-%m-%d}..{q1:%Y-%m-%d}"
        )
    known = subscriptions[subscriptions["start_date"] <= as_of]

    def active_on(day: pd.Timestamp) -> pd.DataFrame:
        return known[(known["start_date"] <= day) & (known["end_date"].isna() | (known["end_date"] >= day))]

    start = active_on(q0 - pd.Timedelta(days=1)).groupby("account_id")["arr"].sum().rename("start_arr")
    now = active_on(as_of)
    renewal = now["end_date"] + pd.Timedelta(days=1)
    opening = now[(renewal > as_of) & (renewal <= q1)].assign(renewal_date=renewal)
    dept = subscriptions["department"].astype("str").fillna("")
    signed = subscriptions.assign(_d=dept)[["account_id", "_d", "start_date"]].drop_duplicates()
    opening = opening.assign(_d=opening["department"].astype("str").fillna("")).merge(
        signed.rename(columns={"start_date": "renewal_date"}).assign(_signed=True),
        on=["account_id", "_d", "renewal_date"],
        how="left",
    )
    opening = opening[opening["_signed"].isna()]
    out = pd.concat(
        [
            start,
            now.groupby("account_id")["arr"].sum().rename("arr_now"),
            opening.groupby("account_id")["arr"].sum().rename("renewing_arr"),
        ],
        axis=1,
    ).fillna(0.0)
    out = out[out["start_arr"] > 0].rename_axis("account_id").reset_index()
    return out[["account_id", "start_arr", "arr_now", "renewing_arr"]]


def grr_forecast(
    base: pd.DataFrame, risk: pd.DataFrame, *, simulations: int = 10_000, seed: int = 7, interval: float = 0.9
) -> dict[str, float]:
    """The quarter's expected GRR if each open renewal churns with its account's probability.

    An account keeps min(start_arr, arr_now) if its open renewals renew and min(start_arr,
    arr_now - renewing_arr) if it churns; expected GRR = sum of expected kept / sum start_arr
    (exact). grr_low / grr_high: the central `interval` of simulated outcomes (independent
    accounts, seeded). Contraction at renewal is not modelled, so the forecast leans optimistic.
    Returns accounts_start, start_arr, open_renewal_accounts, open_renewal_arr,
    expected_churn_arr, grr_if_all_renew, expected_grr, grr_low, grr_high, interval.
    """
    p_all = risk.drop_duplicates("account_id").set_index("account_id")["churn_probability"].astype("float64")
    p = base["account_id"].map(p_all).fillna(p_all.mean()).clip(0, 1).to_numpy()
    s = base["start_arr"].to_numpy(dtype="float64")
    a = base["arr_now"].to_numpy(dtype="float64")
    r = base["renewing_arr"].to_numpy(dtype="float64")
    stay, leave = np.minimum(s, a), np.minimum(s, np.maximum(a - r, 0.0))
    total = s.sum()
    if total <= 0:
        raise CsPlaybookError("grr_forecast: no account has ARR at the start of the quarter")
    expected = ((1 - p) * stay + p * leave).sum()
    at_risk = r > 0
    rng = np.random.default_rng(seed)
    loss = stay[at_risk] - leave[at_risk]
    sims = np.empty(simulations)
    for lo in range(0, simulations, 1000):  # chunks keep memory flat for many accounts
        n = min(1000, simulations - lo)
        churn = rng.random((n, int(at_risk.sum()))) < p[at_risk]
        sims[lo : lo + n] = (stay.sum() - churn.astype("float64") @ loss) / total
    tail = (1 - interval) / 2
    return {
        "accounts_start": int(len(base)),
        "start_arr": float(total),
        "open_renewal_accounts": int(at_risk.sum()),
        "open_renewal_arr": float(r.sum()),
        "expected_churn_arr": float(stay.sum() - expected),
        "grr_if_all_renew": float(stay.sum() / total),
        "expected_grr": float(expected / total),
        "grr_low": float(np.quantile(sims, tail)),
        "grr_high": float(np.quantile(sims, 1 - tail)),
        "interval": float(interval),
    }


def grr_backtest(
    subscriptions: pd.DataFrame,
    risk: pd.DataFrame,
    monthly: pd.DataFrame,
    params: ForecastParams,
    *,
    quarter: str,
    quarter_start: pd.Timestamp,
    quarter_end: pd.Timestamp,
) -> dict[str, float | str | None] | None:
    """The GRR forecast made the day before `quarter` started, set against the quarter's actual GRR.

    `subscriptions`: the lines known then (only those started by that day); `risk`: the accounts'
    churn probability as known then. Returns the `grr_forecast` keys plus quarter, made_on and
    actual_grr (from `churn_trend`, None when not known); None without a starting cohort or MRR
    history before the quarter.
    """
    made_on = pd.Timestamp(quarter_start).normalize() - pd.Timedelta(days=1)
    if monthly.empty or made_on <= monthly["month"].min():
        return None
    base = forecast_base(subscriptions, quarter_start=quarter_start, quarter_end=quarter_end, as_of=made_on)
    if base.empty or float(base["start_arr"].sum()) <= 0:
        return None
    result = grr_forecast(base, risk, simulations=params.simulations, seed=params.seed, interval=params.interval)
    trend = churn_trend(monthly, quarter=quarter, quarters=1)
    actual = trend.loc[trend["period"] == quarter, "grr"]
    return {
        **result,
        "quarter": quarter,
        "made_on": made_on,
        "actual_grr": float(actual.iloc[0]) if len(actual) else None,
    }


def churn_breakdowns(
    events: pd.DataFrame, *, by: tuple[str, ...] = ("reason", "segment", "cohort", "tenure_band")
) -> dict[str, pd.DataFrame]:
    """`churn_breakdown` by each of the columns `by` (for the churn-review charts)."""
    return {col: churn_breakdown(events, by=col) for col in by}
