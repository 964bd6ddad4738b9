"""The 4-quarter cumulative outlook: NRR and GRR of today's customers over the next quarters, bottom-up.

Today's ARR of every customer, minus expected churn (the health score's churn probability, at
the account's renewal) and contraction, plus expected expansion (the propensity model), with an
interval from Monte Carlo simulation. How much ARR an expansion adds or a contraction takes is
drawn from what such movements were in the account's segment in the past (`movement_ratios`),
never assumed. Compared with the last four quarters' actual NRR and GRR.

The next quarter's GRR has ONE answer in the report: the renewal GRR forecast of the quarter
state (`renewals.churn_review.grr_forecast`, shown on the renewal page). `align_next_quarter`
puts it in the outlook's row of that quarter, so the quarterly figures never give a second answer;
the cumulative figures (nrr_cum, grr_cum) stay the simulation's, a different question (what share
of today's ARR is kept after four quarters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cs_playbook.data.revenue import monthly_mrr, net_revenue_retention, quarter_bounds
from cs_playbook.errors import CsPlaybookError
from cs_playbook.expansion.model import PropensityModel, fit_contraction, window_probabilities
from cs_playbook.expansion.outcomes import ExpansionParams
from cs_playbook.modeling.logistic import Scorecard

__all__ = [
    "NEXT_QUARTER_SOURCE",
    "SIMULATION_SOURCE",
    "movement_ratios",
    "renewal_quarter",
    "outlook_inputs",
    "simulate_outlook",
    "outlook_summary",
    "actual_retention",
    "align_next_quarter",
    "CumulativeOutlook",
    "cumulative_outlook",
]

NEXT_QUARTER_SOURCE = "renewal GRR forecast"  # grr_source of the quarter the quarter state forecasts
SIMULATION_SOURCE = "4-quarter simulation"  # grr_source of the other quarters

MIN_POOL = 30  # fewer past movements than this in a segment: use every segment's
BATCH = 250  # simulations held in memory at once


def movement_ratios(outcomes: pd.DataFrame, accounts: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Past expansion and contraction sizes as shares of the starting ARR, per segment.

    `outcomes` from `expansion.expansion_outcomes` (complete windows only are used). Returns
    {"expansion": {segment: ratios, ..., "all": ratios}, "contraction": {...}}, where an
    expansion ratio is expansion_arr / arr_start of an observation that expanded and a
    contraction ratio is contraction_arr / arr_start (at most 1) of one that contracted and
    did not churn.
    """
    o = outcomes[outcomes["complete"].astype(bool) & (outcomes["arr_start"] > 0)].drop(
        columns="segment", errors="ignore"
    )
    o = o.merge(accounts[["account_id", "segment"]], on="account_id", how="left")
    out: dict[str, dict[str, np.ndarray]] = {}
    flag = {c: o[c].fillna(0).astype(bool) for c in ("expanded", "contracted", "churned")}
    for kind, mask, col in (
        ("expansion", flag["expanded"], "expansion_arr"),
        ("contraction", flag["contracted"] & ~flag["churned"], "contraction_arr"),
    ):
        sel = o[mask]
        ratio = (sel[col] / sel["arr_start"]).clip(lower=0, upper=None if kind == "expansion" else 1.0)
        pools = {str(seg): r.to_numpy() for seg, r in ratio.groupby(sel["segment"])}
        pools["all"] = ratio.to_numpy()
        out[kind] = pools
    return out


def renewal_quarter(subscriptions: pd.DataFrame, *, start: pd.Timestamp, quarters: int) -> pd.DataFrame:
    """The quarter (1 = the first after `start`) in which each current account's next renewal falls.

    The next renewal is the day after the earliest end_date on or after `start` of the lines
    active on the day before `start`; 0 when none falls within `quarters` quarters
    (open-ended or multi-year contracts). Returns account_id, next_renewal, renewal_quarter.
    """
    start = pd.Timestamp(start).normalize()
    day = start - pd.Timedelta(days=1)
    active = subscriptions[
        (subscriptions["start_date"] <= day) & (subscriptions["end_date"].isna() | (subscriptions["end_date"] >= day))
    ]
    nxt = active.groupby("account_id")["end_date"].min() + pd.Timedelta(days=1)
    out = nxt.rename("next_renewal").reset_index()
    months = (out["next_renewal"].dt.year - start.year) * 12 + out["next_renewal"].dt.month - start.month
    q = months // 3 + 1
    out["renewal_quarter"] = np.where(out["next_renewal"].notna() & (q >= 1) & (q <= quarters), q, 0).astype("int64")
    return out


def outlook_inputs(
    current: pd.DataFrame, risk: pd.DataFrame, windows: pd.DataFrame, renewals: pd.DataFrame
) -> pd.DataFrame:
    """One row per current customer with what `simulate_outlook` needs.

    `current` has account_id, arr, segment; `risk` account_id, churn_probability (churn at the
    next renewal, from the health score; 0 when missing); `windows` the output of
    `expansion_model.window_probabilities`; `renewals` of `renewal_quarter`. The propensity
    model learnt P(expansion) over all customers, churners included, while the simulation
    expands only accounts that stay: each window's expansion probability is divided by the
    chance of staying through it (1 - churn probability when the renewal falls in it). Returns
    account_id, arr, segment, renewal_quarter, p_churn, p_expansion_<w>, p_contraction_<w>.
    """
    out = current[["account_id", "arr", "segment"]].merge(
        risk[["account_id", "churn_probability"]], on="account_id", how="left"
    )
    out = out.merge(renewals[["account_id", "renewal_quarter"]], on="account_id", how="left")
    out = out.merge(windows, on="account_id", how="left")
    out["p_churn"] = out["churn_probability"].fillna(0.0).clip(0, 1)
    out["renewal_quarter"] = out["renewal_quarter"].fillna(0).astype("int64")
    w = 1
    cols = ["account_id", "arr", "segment", "renewal_quarter", "p_churn"]
    while f"p_expansion_{w}" in out.columns:
        stay = 1 - out["p_churn"] * out[f"renewal_in_window_{w}"].fillna(False).astype(float)
        out[f"p_expansion_{w}"] = (out[f"p_expansion_{w}"].fillna(0.0) / stay.clip(lower=1e-6)).clip(0, 1)
        out[f"p_contraction_{w}"] = out[f"p_contraction_{w}"].fillna(0.0).clip(0, 1)
        cols += [f"p_expansion_{w}", f"p_contraction_{w}"]
        w += 1
    return out[cols]


def _draw(pools: dict[str, np.ndarray], segments: np.ndarray, rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Ratios drawn from each account's segment pool (every segment's pool when it is small)."""
    out = np.zeros(shape)
    every = pools.get("all", np.array([]))
    for seg in np.unique(segments):
        cols = segments == seg
        pool = pools.get(str(seg), np.array([]))
        pool = pool if len(pool) >= MIN_POOL else every
        if len(pool) == 0:
            continue
        out[:, cols] = rng.choice(pool, size=(shape[0], int(cols.sum())))
    return out


def simulate_outlook(
    inputs: pd.DataFrame,
    ratios: dict[str, dict[str, np.ndarray]],
    *,
    quarters: int = 4,
    window_quarters: int = 2,
    simulations: int = 2000,
    seed: int = 7,
) -> pd.DataFrame:
    """Simulated ARR movements of today's customers over the next quarters.

    `inputs` has one row per current account: account_id, arr, segment, renewal_quarter (1..,
    0 for none in the horizon), p_churn (churn at that renewal), and for each window w of
    `window_quarters` quarters (w = 1, 2, ...): p_expansion_<w> and p_contraction_<w>. In each
    simulation an account churns at its renewal with p_churn; in each window it contracts and
    expands with that window's probabilities, by a share of its ARR drawn from `ratios`
    (`movement_ratios`), at its renewal when the renewal falls in the window and otherwise in a
    random quarter of it; nothing happens after a churn. Returns one row per simulation and
    quarter: sim, quarter (1..), start_arr, arr (end of quarter), nrr and grr of the quarter
    (accounts with ARR at its start), nrr_cum and grr_cum (against today's ARR),
    churned_arr, contraction_arr, expansion_arr (of the quarter).
    """
    if inputs.empty or inputs["arr"].sum() <= 0:
        raise CsPlaybookError("The NRR outlook needs current customers with ARR (none found at the start date).")
    windows = -(-quarters // window_quarters)
    need = ["p_churn"] + [f"p_{k}_{w}" for w in range(1, windows + 1) for k in ("expansion", "contraction")]
    missing = [c for c in need if c not in inputs.columns]
    if missing:
        raise CsPlaybookError(f"simulate_outlook: inputs lack the columns {missing}")
    rng = np.random.default_rng(seed)
    batches = []
    for first in range(0, simulations, BATCH):
        size = min(BATCH, simulations - first)
        batch = _simulate_batch(inputs, ratios, rng, size, quarters, window_quarters, windows)
        batch["sim"] += first
        batches.append(batch)
    return pd.concat(batches, ignore_index=True).sort_values(["quarter", "sim"]).reset_index(drop=True)


def _simulate_batch(
    inputs: pd.DataFrame,
    ratios: dict[str, dict[str, np.ndarray]],
    rng: np.random.Generator,
    simulations: int,
    quarters: int,
    window_quarters: int,
    windows: int,
) -> pd.DataFrame:
    """One batch of simulations (batches keep memory bounded for many accounts)."""
    arr0 = inputs["arr"].to_numpy(dtype="float64")
    seg = inputs["segment"].astype(str).to_numpy()
    renew = inputs["renewal_quarter"].to_numpy(dtype="int64")
    shape = (simulations, len(inputs))
    churn_at = np.where(rng.random(shape) < inputs["p_churn"].to_numpy(dtype="float64"), renew, 0)
    churn_at = np.where(renew > 0, churn_at, 0)
    # each window's events and the quarter they happen in
    exp_q = np.zeros((windows,) + shape, dtype="int8")
    con_q = np.zeros((windows,) + shape, dtype="int8")
    exp_r = np.zeros((windows,) + shape, dtype="float32")
    con_r = np.zeros((windows,) + shape, dtype="float32")
    for w in range(windows):
        lo, hi = w * window_quarters + 1, min((w + 1) * window_quarters, quarters)
        in_w = (renew >= lo) & (renew <= hi)
        when = np.where(in_w, renew, rng.integers(lo, hi + 1, size=shape))
        p_exp = inputs[f"p_expansion_{w + 1}"].to_numpy(dtype="float64")
        p_con = inputs[f"p_contraction_{w + 1}"].to_numpy(dtype="float64")
        exp_q[w] = np.where(rng.random(shape) < p_exp, when, 0)
        con_q[w] = np.where(rng.random(shape) < p_con, when, 0)
        exp_r[w] = _draw(ratios["expansion"], seg, rng, shape)
        con_r[w] = _draw(ratios["contraction"], seg, rng, shape)
    rows = []
    level = np.broadcast_to(arr0, shape).copy()
    for q in range(1, quarters + 1):
        start = level  # level is replaced below, never changed in place
        alive = (churn_at == 0) | (churn_at > q)
        # Only the window that quarter q falls in can have its events in q (the windows do not overlap).
        w = (q - 1) // window_quarters
        grow = np.where(exp_q[w] == q, arr0 * exp_r[w], 0.0)
        shrink = np.minimum(np.where(con_q[w] == q, arr0 * con_r[w], 0.0), start)
        churned = np.where(~alive & (churn_at == q), start, 0.0)
        level = np.where(alive, start - shrink + grow, 0.0)
        had = start > 0
        start_sum = (start * had).sum(axis=1)
        end_sum = level.sum(axis=1)
        rows.append(
            pd.DataFrame(
                {
                    "sim": np.arange(simulations),
                    "quarter": q,
                    "start_arr": start_sum,
                    "arr": end_sum,
                    "nrr": (level * had).sum(axis=1) / start_sum,
                    "grr": (np.minimum(level, start) * had).sum(axis=1) / start_sum,
                    "nrr_cum": end_sum / arr0.sum(),
                    "grr_cum": np.minimum(level, arr0).sum(axis=1) / arr0.sum(),
                    "churned_arr": churned.sum(axis=1),
                    "contraction_arr": np.where(alive, shrink, 0.0).sum(axis=1),
                    "expansion_arr": np.where(alive, grow, 0.0).sum(axis=1),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def outlook_summary(sims: pd.DataFrame, *, start_quarter: str, interval: float = 0.9) -> pd.DataFrame:
    """Mean and interval of each quarter's simulated NRR and GRR, and of the cumulative ones.

    `start_quarter` is the last quarter with actuals ('2026Q3'); quarter k of `sims` is labelled
    the k-th quarter after it. Returns period, quarter, nrr, nrr_low, nrr_high, grr, grr_low,
    grr_high, nrr_cum, nrr_cum_low, nrr_cum_high, grr_cum, grr_cum_low, grr_cum_high,
    expansion_arr, contraction_arr, churned_arr (means).
    """
    lo, hi = (1 - interval) / 2, 1 - (1 - interval) / 2
    g = sims.groupby("quarter")
    out = pd.DataFrame({"quarter": sorted(sims["quarter"].unique())}).set_index("quarter")
    for col in ("nrr", "grr", "nrr_cum", "grr_cum"):
        out[col] = g[col].mean()
        out[f"{col}_low"] = g[col].quantile(lo)
        out[f"{col}_high"] = g[col].quantile(hi)
    for col in ("expansion_arr", "contraction_arr", "churned_arr"):
        out[col] = g[col].mean()
    start, _ = quarter_bounds(start_quarter)
    labels = []
    for k in out.index:
        s = start + pd.DateOffset(months=3 * int(k))
        labels.append(f"{s.year}Q{s.quarter}")
    out.insert(0, "period", labels)
    return out.reset_index()


def actual_retention(monthly: pd.DataFrame, *, quarter: str, quarters: int = 4) -> pd.DataFrame:
    """The last `quarters` quarters' actual NRR and GRR up to `quarter`, and the trailing 12 months.

    `monthly` from `revenue.monthly_mrr`. Returns period, nrr, grr, nrr_t12m, grr_t12m.
    """
    q = net_revenue_retention(monthly, freq="Q")[["period", "nrr", "grr"]]
    t = net_revenue_retention(monthly, freq="Q", window_months=12)[["period", "nrr", "grr"]]
    out = q.merge(t.rename(columns={"nrr": "nrr_t12m", "grr": "grr_t12m"}), on="period", how="left")
    out = out[out["period"] <= quarter]
    return out.tail(quarters).reset_index(drop=True)


def align_next_quarter(outlook: pd.DataFrame, grr_forecast: dict[str, Any] | None) -> pd.DataFrame:
    """The outlook with the forecast quarter's GRR taken from the renewal GRR forecast (the report's one answer).

    `outlook` from `outlook_summary`; `grr_forecast` is `QuarterState.grr_forecast` (quarter,
    expected_grr, grr_low, grr_high) or None. The row of the forecast's quarter gets its grr,
    grr_low and grr_high; grr_source says where each row's quarterly GRR comes from
    (NEXT_QUARTER_SOURCE or SIMULATION_SOURCE). The cumulative columns are left as simulated.
    """
    out = outlook.copy()
    out["grr_source"] = SIMULATION_SOURCE
    if not grr_forecast:
        return out
    row = out["period"] == grr_forecast["quarter"]
    out.loc[row, "grr"] = float(grr_forecast["expected_grr"])
    out.loc[row, "grr_low"] = float(grr_forecast["grr_low"])
    out.loc[row, "grr_high"] = float(grr_forecast["grr_high"])
    out.loc[row, "grr_source"] = NEXT_QUARTER_SOURCE
    return out


@dataclass
class CumulativeOutlook:
    """The 4-quarter cumulative outlook of one report (see the functions that build each part)."""

    contraction: Scorecard  # model.fit_contraction
    inputs: pd.DataFrame  # outlook_inputs
    sims: pd.DataFrame  # simulate_outlook
    outlook: pd.DataFrame  # outlook_summary, aligned with the renewal GRR forecast (align_next_quarter)
    actual: pd.DataFrame  # actual_retention of the last four quarters
    grr_forecast: dict[str, Any] | None  # the next quarter's GRR forecast of the quarter state (the one answer)

    @property
    def last(self) -> pd.Series:
        """The outlook's last quarter (its cumulative columns are the 4-quarter figures)."""
        return self.outlook.iloc[-1]

    @property
    def next_quarter_grr(self) -> float | None:
        """The next quarter's expected GRR as the report states it: the renewal GRR forecast's."""
        return float(self.grr_forecast["expected_grr"]) if self.grr_forecast else None


def cumulative_outlook(
    frame: pd.DataFrame,
    panel: pd.DataFrame,
    model: PropensityModel,
    headroom: pd.DataFrame,
    risk: pd.DataFrame,
    subscriptions: pd.DataFrame,
    accounts: pd.DataFrame,
    params: ExpansionParams,
    *,
    score_date: pd.Timestamp,
    quarter: str,
    grr_forecast: dict[str, Any] | None,
) -> CumulativeOutlook:
    """Simulate today's customers over the next `params.outlook.quarters` quarters against the last four's actuals.

    `frame` is `model.scoring_frame` on `score_date` (the day after as_of), `panel`
    `model.propensity_panel`, `model` the fitted propensity, `headroom` `whitespace.seat_headroom`
    (current_arr per customer), `risk` the quarter's risk (churn_probability), `quarter` the
    reporting quarter (the last with actuals), `grr_forecast` `QuarterState.grr_forecast`.
    """
    o = params.outlook
    contraction = fit_contraction(panel, params)
    windows = window_probabilities(
        frame, model, contraction, params, windows=-(-o.quarters * 3 // params.horizon_months)
    )
    renewals = renewal_quarter(subscriptions, start=score_date, quarters=o.quarters)
    current = headroom[["account_id", "current_arr", "segment"]].rename(columns={"current_arr": "arr"})
    inputs = outlook_inputs(current, risk, windows, renewals)
    sims = simulate_outlook(
        inputs,
        movement_ratios(panel, accounts),
        quarters=o.quarters,
        window_quarters=max(1, params.horizon_months // 3),
        simulations=o.simulations,
        seed=o.seed,
    )
    outlook = outlook_summary(sims, start_quarter=quarter, interval=o.interval)
    monthly = monthly_mrr(subscriptions, end=pd.Timestamp(score_date) - pd.Timedelta(days=1))
    return CumulativeOutlook(
        contraction=contraction,
        inputs=inputs,
        sims=sims,
        outlook=align_next_quarter(outlook, grr_forecast),
        actual=actual_retention(monthly, quarter=quarter, quarters=4),
        grr_forecast=grr_forecast,
    )
