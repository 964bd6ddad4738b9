"""Revenue metrics: MRR per account and month, its movements, NRR, GRR, logo churn and cohorts.

Conventions (docs/data-contract.md):
- A subscription line counts in month M when it is active on M's last day (month-end
  snapshot): start_date <= month end and (end_date is empty or end_date >= month end).
  end_date is inclusive, so an annual line 2024-04-01..2025-03-31 counts April 2024 to
  March 2025; a line ending on a month's last day counts in that month; a line ending
  mid-month does not; a line starting mid-month counts in its start month.
- MRR = ARR / 12, summed over an account's departments and products.
- Months are Timestamps of their first day in a column `month`; quarters are labelled "2026Q3".
- Movements: new = first active month ever; churn = active last month, not this month
  (MRR lost = last month's MRR); reactivation = active again after a month with no MRR;
  expansion / contraction = change of MRR between two consecutive active months.
- NRR and GRR per period use the cohort of accounts with ARR at the snapshot month just
  before the period; GRR counts each account's ARR at most at its starting level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.errors import CsPlaybookError, ParamsError
from cs_playbook.quarters import last_complete_quarter, quarter_bounds, quarter_label

__all__ = [
    "monthly_mrr",
    "mrr_movements",
    "movement_summary",
    "net_revenue_retention",
    "cohort_retention",
    "arr_by",
    "quarter_bounds",
    "quarter_label",
    "last_complete_quarter",
]

MOVEMENTS = ["new", "expansion", "contraction", "churn", "reactivation"]
_TOL = 1e-6


def _month_index(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Months since year 0 (year * 12 + month - 1)."""
    ts = pd.DatetimeIndex(ts)
    return (ts.year.to_numpy() * 12 + ts.month.to_numpy() - 1).astype("int64")


def _month_from_index(idx: np.ndarray) -> pd.DatetimeIndex:
    idx = np.asarray(idx, dtype="int64")
    return pd.to_datetime(pd.DataFrame({"year": idx // 12, "month": idx % 12 + 1, "day": 1})).astype("datetime64[ns]")


def _check_single_currency(subscriptions: pd.DataFrame) -> None:
    if "currency" in subscriptions.columns:
        codes = sorted(subscriptions["currency"].dropna().astype(str).str.upper().unique())
        if len(codes) > 1:
            raise CsPlaybookError(
                f"subscriptions hold several currencies ({', '.join(codes)}): convert ARR to one currency first "
                "(fx_rates in params/data.yaml)."
            )


def monthly_mrr(
    subscriptions: pd.DataFrame, *, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """MRR per account and month in which it is above zero.

    Returns account_id, month, mrr, arr, lines (contract lines counted), seats. `end` bounds
    every line (default: the latest month a dated line reaches, or the latest start) and is
    where open-ended lines stop.
    """
    _check_single_currency(subscriptions)
    cols = {
        "account_id": "str",
        "month": "datetime64[ns]",
        "mrr": "float64",
        "arr": "float64",
        "lines": "int64",
        "seats": "float64",
    }
    subs = subscriptions.dropna(subset=["start_date"])
    if subs.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    first = _month_index(subs["start_date"])
    end_date = pd.DatetimeIndex(subs["end_date"])
    open_ended = end_date.isna()
    end_filled = end_date.fillna(pd.Timestamp("2262-01-01"))
    is_month_end = end_filled == (end_filled + pd.offsets.MonthEnd(0))
    last = _month_index(end_filled) - np.where(is_month_end, 0, 1)
    if end is not None:
        horizon = _month_index(pd.DatetimeIndex([end]))[0]
    else:  # the latest month any dated line reaches, or the latest start
        horizon = int(max(first.max(), last[~open_ended].max() if (~open_ended).any() else first.max()))
    last = np.where(open_ended, horizon, np.minimum(last, horizon))
    lo = _month_index(pd.DatetimeIndex([start]))[0] if start is not None else int(first.min())
    first = np.maximum(first, lo)
    n = np.clip(last - first + 1, 0, None)
    line = np.repeat(np.arange(len(subs)), n)
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    month_idx = first[line] + offset
    arr = subs["arr"].to_numpy(dtype="float64")[line]
    seats = pd.to_numeric(subs["seats"], errors="coerce").to_numpy(dtype="float64")[line]
    expanded = pd.DataFrame(
        {"account_id": subs["account_id"].to_numpy()[line], "m": month_idx, "arr": arr, "seats": seats}
    )
    out = expanded.groupby(["account_id", "m"], as_index=False).agg(
        arr=("arr", "sum"), lines=("arr", "size"), seats=("seats", "sum")
    )
    out = out[out["arr"] > 0]
    out["month"] = _month_from_index(out["m"].to_numpy()).to_numpy()
    out["mrr"] = out["arr"] / 12
    return out[list(cols)].sort_values(["account_id", "month"]).reset_index(drop=True)


def mrr_movements(monthly: pd.DataFrame, *, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each account's month-over-month MRR change, classified.

    Returns account_id, month, mrr_prev, mrr, movement (new, expansion, contraction, churn,
    reactivation, flat) and delta = mrr - mrr_prev, on a complete account x month grid from
    each account's first active month to `end` (default: the last month in `monthly`),
    keeping the rows where mrr_prev or mrr is above zero.
    """
    cols = ["account_id", "month", "mrr_prev", "mrr", "movement", "delta"]
    if monthly.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    m_idx = _month_index(monthly["month"])
    end_idx = _month_index(pd.DatetimeIndex([end]))[0] if end is not None else int(m_idx.max())
    codes, accounts = pd.factorize(monthly["account_id"])
    first = pd.Series(m_idx).groupby(codes).min().sort_index().to_numpy()
    n = np.clip(end_idx - first + 1, 0, None)
    acc = np.repeat(np.arange(len(accounts)), n)
    month_idx = np.repeat(first, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    mrr = np.zeros(len(acc))
    pos = np.repeat(np.cumsum(n) - n, 1)[codes] + (m_idx - first[codes])
    keep = m_idx <= end_idx
    mrr[pos[keep]] = monthly["mrr"].to_numpy(dtype="float64")[keep]
    same_acc = np.r_[False, acc[1:] == acc[:-1]]
    prev = np.where(same_acc, np.r_[0.0, mrr[:-1]], 0.0)
    active = mrr > _TOL
    # "ever active before this month" within each account: cumulative count of earlier active months
    cum = np.cumsum(active)
    start_of_acc = np.repeat(np.cumsum(n) - n, n)
    before = cum - active - np.where(start_of_acc > 0, cum[np.maximum(start_of_acc - 1, 0)], 0)
    was_active = prev > _TOL
    movement = np.select(
        [
            active & ~was_active & (before == 0),
            active & ~was_active,
            ~active & was_active,
            active & was_active & (mrr - prev > _TOL),
            active & was_active & (prev - mrr > _TOL),
        ],
        ["new", "reactivation", "churn", "expansion", "contraction"],
        default="flat",
    )
    out = pd.DataFrame(
        {
            "account_id": np.asarray(accounts)[acc],
            "month": _month_from_index(month_idx).to_numpy(),
            "mrr_prev": prev,
            "mrr": mrr,
            "movement": movement,
            "delta": mrr - prev,
        }
    )
    return out[active | was_active].reset_index(drop=True)


def _period_labels(month: pd.Series, freq: str) -> pd.Series:
    if freq == "Q":
        return quarter_label(month)
    if freq == "M":
        return pd.DatetimeIndex(month).strftime("%Y-%m").to_series(index=month.index)
    raise ParamsError(f"freq must be 'Q' or 'M' (got {freq!r})")


def movement_summary(movements: pd.DataFrame, *, freq: str = "Q") -> pd.DataFrame:
    """MRR bridge per period: start_mrr + new + expansion + contraction + churn + reactivation = end_mrr.

    Returns period, start_mrr, new, expansion, contraction, churn, reactivation, end_mrr;
    contraction and churn are negative.
    """
    df = movements.copy()
    df["period"] = _period_labels(df["month"], freq).to_numpy()
    sums = df.pivot_table(index="period", columns="movement", values="delta", aggfunc="sum", fill_value=0.0)
    sums = sums.reindex(columns=MOVEMENTS, fill_value=0.0)
    first_month = df.groupby("period")["month"].transform("min")
    last_month = df.groupby("period")["month"].transform("max")
    start = df[df["month"] == first_month].groupby("period")["mrr_prev"].sum()
    end = df[df["month"] == last_month].groupby("period")["mrr"].sum()
    out = sums.assign(start_mrr=start, end_mrr=end).fillna(0.0).reset_index()
    return out[["period", "start_mrr", *MOVEMENTS, "end_mrr"]].sort_values("period").reset_index(drop=True)


def _arr_matrix(monthly: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """ARR as an accounts x month-index matrix (0 where inactive) and the first month index."""
    m = monthly.assign(m=_month_index(monthly["month"]))
    wide = m.pivot_table(index="account_id", columns="m", values="arr", aggfunc="sum", fill_value=0.0)
    full = range(int(m["m"].min()), int(m["m"].max()) + 1)
    return wide.reindex(columns=full, fill_value=0.0), int(m["m"].min())


def net_revenue_retention(monthly: pd.DataFrame, *, freq: str = "Q", window_months: int | None = None) -> pd.DataFrame:
    """NRR, GRR and logo churn per period for the accounts with ARR just before it.

    Returns period, period_start, period_end, accounts_start, accounts_churned, start_arr,
    end_arr, expansion_arr, contraction_arr, churned_arr, nrr, grr, logo_churn,
    gross_arr_churn, net_arr_churn. start_arr + expansion_arr - contraction_arr -
    churned_arr = end_arr. With `window_months` (e.g. 12) each period's figures compare its
    last month with the month `window_months` before it (trailing 12 months).
    """
    if freq not in ("Q", "M"):
        raise ParamsError(f"freq must be 'Q' or 'M' (got {freq!r})")
    cols = [
        "period",
        "period_start",
        "period_end",
        "accounts_start",
        "accounts_churned",
        "start_arr",
        "end_arr",
        "expansion_arr",
        "contraction_arr",
        "churned_arr",
        "nrr",
        "grr",
        "logo_churn",
        "gross_arr_churn",
        "net_arr_churn",
    ]
    if monthly.empty:
        return pd.DataFrame(columns=cols)
    wide, _ = _arr_matrix(monthly)
    months = np.array(wide.columns)
    step = 3 if freq == "Q" else 1
    lookback = window_months or step
    rows = []
    for e in months:
        if freq == "Q" and e % 12 % 3 != 2:
            continue
        s = e - lookback
        if s < months.min():
            continue
        start_arr, end_arr = wide[s].to_numpy(), wide[e].to_numpy()
        cohort = start_arr > 0
        if not cohort.any():
            continue
        st, en = start_arr[cohort], end_arr[cohort]
        churned = en <= 0
        total = st.sum()
        kept = np.minimum(st, en).sum()
        end_month = _month_from_index(np.array([e]))[0]
        label = f"{end_month.year}Q{end_month.quarter}" if freq == "Q" else f"{end_month:%Y-%m}"
        rows.append(
            {
                "period": label,
                "period_start": _month_from_index(np.array([s + 1]))[0],
                "period_end": end_month + pd.offsets.MonthEnd(0),
                "accounts_start": int(cohort.sum()),
                "accounts_churned": int(churned.sum()),
                "start_arr": total,
                "end_arr": en.sum(),
                "expansion_arr": np.clip(en - st, 0, None).sum(),
                "contraction_arr": np.clip(st - en, 0, None)[~churned].sum(),
                "churned_arr": st[churned].sum(),
                "nrr": en.sum() / total,
                "grr": kept / total,
                "logo_churn": churned.mean(),
            }
        )
    out = pd.DataFrame(rows, columns=cols[:13])
    out["gross_arr_churn"] = 1 - out["grr"]
    out["net_arr_churn"] = 1 - out["nrr"]
    return out[cols]


def cohort_retention(monthly: pd.DataFrame, *, freq: str = "Q") -> pd.DataFrame:
    """Logo and ARR retention of each start-quarter cohort after k quarters.

    Returns cohort, periods_since_start, accounts, logo_retention, arr_retention. The base is
    the cohort's accounts and their ARR at the end of the start quarter (k = 0).
    """
    if freq != "Q":
        raise ParamsError("cohort_retention supports freq='Q' only")
    cols = ["cohort", "periods_since_start", "accounts", "logo_retention", "arr_retention"]
    if monthly.empty:
        return pd.DataFrame(columns=cols)
    wide, _ = _arr_matrix(monthly)
    months = np.array(wide.columns)
    first = (wide.to_numpy() > 0).argmax(axis=1) + months.min()
    q_end = first + (2 - first % 12 % 3)  # last month of each account's start quarter
    rows = []
    for qe in np.unique(q_end):
        members = q_end == qe
        if qe > months.max():
            continue
        base = wide.loc[members, qe].to_numpy()
        label = f"{qe // 12}Q{qe % 12 // 3 + 1}"
        k = 0
        while qe + 3 * k <= months.max():
            now = wide.loc[members, qe + 3 * k].to_numpy()
            rows.append(
                {
                    "cohort": label,
                    "periods_since_start": k,
                    "accounts": int(members.sum()),
                    "logo_retention": float((now > 0).mean()),
                    "arr_retention": float(now.sum() / base.sum()) if base.sum() > 0 else np.nan,
                }
            )
            k += 1
    return pd.DataFrame(rows, columns=cols)


def arr_by(monthly: pd.DataFrame, accounts: pd.DataFrame, *, month: pd.Timestamp, by: str = "segment") -> pd.DataFrame:
    """ARR and active accounts by an accounts column at one month.

    Returns <by>, accounts, arr, share (of total ARR), largest ARR first.
    """
    if by not in accounts.columns:
        raise CsPlaybookError(f"accounts has no column {by!r} to group ARR by")
    at = monthly[monthly["month"] == pd.Timestamp(month)].merge(
        accounts[["account_id", by]], on="account_id", how="left"
    )
    at[by] = at[by].fillna("(unknown)")
    out = at.groupby(by, as_index=False).agg(accounts=("account_id", "nunique"), arr=("arr", "sum"))
    out["share"] = out["arr"] / out["arr"].sum() if out["arr"].sum() > 0 else np.nan
    return out.sort_values("arr", ascending=False).reset_index(drop=True)
