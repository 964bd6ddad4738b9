"""The facts behind an ROI case: contract terms and measured inputs bound to usage data.

`measured` inputs of params/roi.yaml take their values from usage metrics computed in the
database engine (`usage.account_usage`): when the usage data changes, the facts change. The
realized ROI to date replays the model month by month on the measured usage since signing
and sets it beside the projection made at signing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_playbook.errors import ParamsError
from cs_playbook.roi.model import CompiledModel, active_lines

__all__ = [
    "INPUT_COLUMNS",
    "REALIZED_COLUMNS",
    "last_complete_month",
    "contract_terms",
    "bind_inputs",
    "realized_to_date",
]

INPUT_COLUMNS = [
    "account_id",
    "model",
    "input",
    "label",
    "unit",
    "source",
    "low",
    "base",
    "high",
    "planned",
    "distribution",
    "note",
    "metric",
    "months_observed",
    "missing",
]


def _month_start(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(ts).to_period("M").to_timestamp()


def last_complete_month(as_of: pd.Timestamp) -> pd.Timestamp:
    """First day of the last month that ended on or before `as_of`."""
    return ((pd.Timestamp(as_of) + pd.Timedelta(days=1)).to_period("M") - 1).to_timestamp()


def contract_terms(monthly: pd.DataFrame, subscriptions: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each current customer's ARR today and when its current contract run was signed.

    `monthly` is revenue.monthly_mrr(subscriptions, end=as_of). Returns account_id, arr (lines
    active on as_of), signing_month (first month of the account's current unbroken run of MRR),
    arr_at_signing, seats_at_signing, months_since_signing (signing month counts as month 1).
    """
    now = active_lines(subscriptions, as_of).groupby("account_id", as_index=False)["arr"].sum()
    m = monthly[monthly["month"] <= _month_start(as_of)].sort_values(["account_id", "month"])
    idx = m["month"].dt.year * 12 + m["month"].dt.month
    gap = (idx.diff() != 1) | (m["account_id"] != m["account_id"].shift())
    run = gap.astype(int).groupby(m["account_id"]).cumsum()
    last_run = run == run.groupby(m["account_id"]).transform("max")
    first = m[last_run & gap][["account_id", "month", "arr", "seats"]]
    first = first.rename(columns={"month": "signing_month", "arr": "arr_at_signing", "seats": "seats_at_signing"})
    out = now.merge(first, on="account_id", how="left")
    asof_idx = pd.Timestamp(as_of).year * 12 + pd.Timestamp(as_of).month
    signed_idx = out["signing_month"].dt.year * 12 + out["signing_month"].dt.month
    out["months_since_signing"] = (asof_idx - signed_idx + 1).astype("Int64")
    return out[
        ["account_id", "arr", "signing_month", "arr_at_signing", "seats_at_signing", "months_since_signing"]
    ].reset_index(drop=True)


def _measured_window(usage: pd.DataFrame, metric: str, months: int, as_of: pd.Timestamp) -> pd.DataFrame:
    last = last_complete_month(as_of)
    first = (last.to_period("M") - (months - 1)).to_timestamp()
    w = usage[(usage["period_start"] >= first) & (usage["period_start"] <= last)]
    return w[["account_id", "period_start", metric]]


def bind_inputs(
    assignment: pd.DataFrame,
    models: dict[str, CompiledModel],
    terms: pd.DataFrame,
    usage: pd.DataFrame | None,
    *,
    as_of: pd.Timestamp,
    window_months: int = 3,
) -> pd.DataFrame:
    """Every input of every assigned account, with measured inputs bound to the usage data.

    `usage` is usage.account_usage(...) by month (None without events). A measured input's base is
    the metric aggregated over the last `window_months` complete months (the input's own window
    first), low / high the lowest / highest month; planned is the value assumed at signing.
    Returns account_id, model, input, label, unit, source, low, base, high, planned,
    distribution, note, metric, months_observed, missing (no usage data for a measured input).
    Values are in each input's own unit.
    """
    assigned = assignment.dropna(subset=["model"])
    frames = []
    seats = terms.set_index("account_id")["seats_at_signing"]
    for model_name, grp in assigned.groupby("model", sort=True):
        model = models[model_name]
        ids = grp["account_id"].to_numpy()
        for name in model.input_names:
            spec = model.spec.inputs[name]
            df = pd.DataFrame({"account_id": ids, "model": model_name, "input": name})
            df["label"], df["unit"], df["source"] = spec.label or name, spec.unit, spec.source
            df["distribution"], df["note"], df["metric"] = spec.distribution, spec.note, spec.metric
            if spec.source != "measured":
                df["low"], df["base"], df["high"] = spec.low, spec.base, spec.high
                df["planned"], df["months_observed"], df["missing"] = spec.base, 0, False
            else:
                if usage is not None and spec.metric not in usage.columns:
                    known = ", ".join(c for c in usage.columns if c not in ("account_id", "period_start"))
                    raise ParamsError(
                        f"params/roi.yaml: model {model.where}, input {name}: metric {spec.metric!r} is not a usage "
                        f"metric (known: {known}; define metrics in params/usage_metrics.yaml)"
                    )
                if usage is None:
                    agg = pd.DataFrame(columns=["base", "low", "high", "months_observed"])
                else:
                    w = _measured_window(usage, spec.metric, spec.window_months or window_months, as_of)
                    w = w[w["account_id"].isin(ids)].sort_values("period_start")
                    g = w.groupby("account_id")[spec.metric]
                    agg = pd.DataFrame(
                        {"base": g.agg(spec.aggregate), "low": g.min(), "high": g.max(), "months_observed": g.size()}
                    )
                df = df.merge(agg.astype("float64"), left_on="account_id", right_index=True, how="left")
                df["months_observed"] = df["months_observed"].fillna(0).astype("int64")
                df["missing"] = df["base"].isna()
                if spec.planned is not None:
                    df["planned"] = spec.planned
                elif spec.planned_per_seat is not None:
                    s = df["account_id"].map(seats).astype("float64")
                    df["planned"] = (spec.planned_per_seat * s).where(s > 0)
                else:
                    df["planned"] = df["base"]
                df["planned"] = df["planned"].fillna(df["base"])
            frames.append(df)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in INPUT_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    return out[INPUT_COLUMNS].sort_values(["account_id", "input"]).reset_index(drop=True)


def _wide(frame: pd.DataFrame, index: str, columns: str, values: str, months: pd.DatetimeIndex) -> pd.DataFrame:
    """accounts x months of one column, zero where absent."""
    if frame.empty:
        return pd.DataFrame(0.0, index=pd.Index([], name=index), columns=months)
    wide = frame.pivot_table(index=index, columns=columns, values=values, aggfunc="sum")
    return wide.reindex(columns=months).fillna(0.0).astype("float64")


def _masked_total(amounts: dict[str, np.ndarray], keys: list[str], mask: np.ndarray) -> np.ndarray:
    """Sum over the window's months (mask: accounts x months) of the named per-month amounts."""
    per_month = sum((np.broadcast_to(amounts[k], mask.shape) for k in keys), np.zeros(mask.shape))
    return (per_month * mask).sum(axis=1)


REALIZED_COLUMNS = [
    "account_id",
    "window_start",
    "window_months",
    "benefit_realized",
    "benefit_projected",
    "cost_realized",
    "cost_projected",
    "roi_realized",
    "roi_projected_to_date",
    "value_realization",
]


@dataclass
class _Window:
    """The realized window's months (first of usage data or earlier, to the last complete month) and their series."""

    months: pd.DatetimeIndex
    month_idx: np.ndarray  # year * 12 + month of each month
    data_start: pd.Timestamp  # first month with usage data
    mrr: pd.DataFrame  # accounts x months of billed MRR
    series: dict[str, pd.DataFrame]  # metric -> accounts x months of measured usage
    terms: pd.DataFrame  # contract_terms indexed by account_id


def _realized_model(model: CompiledModel, grp: pd.DataFrame, w: _Window) -> pd.DataFrame | None:
    """Realized and projected benefit and cost over the window for the accounts of one model (None: none signed)."""
    names = model.input_names
    wide = {c: grp.pivot(index="account_id", columns="input", values=c)[names] for c in ("base", "planned")}
    ids = wide["base"].index
    signing = pd.DatetimeIndex(w.terms["signing_month"].reindex(ids))
    known = ~signing.isna()
    ids, signing = ids[known], signing[known]
    if len(ids) == 0:
        return None
    data_idx = w.data_start.year * 12 + w.data_start.month
    signed_idx = (signing.year * 12 + signing.month).to_numpy()
    start_idx = np.maximum(signed_idx, data_idx)
    mask = w.month_idx[None, :] >= start_idx[:, None]  # accounts x months in the window
    n = mask.sum(axis=1)
    first = grp.drop_duplicates("input").set_index("input")
    actual: dict[str, np.ndarray] = {}
    plan: dict[str, np.ndarray] = {}
    for name in names:
        scale = model.units[name].scale
        plan[name] = wide["planned"].loc[ids, name].to_numpy(dtype="float64")[:, None] * scale
        if first.at[name, "source"] == "measured":
            actual[name] = w.series[first.at[name, "metric"]].reindex(ids).fillna(0.0).to_numpy("float64") * scale
        else:
            actual[name] = wide["base"].loc[ids, name].to_numpy(dtype="float64")[:, None] * scale
    real, proj = model.evaluate(actual), model.evaluate(plan)
    since = w.month_idx[None, :] - signed_idx[:, None] + 1
    ramp = model.ramp_curve(int(max(since.max(), 1)))[np.clip(since, 1, None) - 1]
    benefits = [k for k in real if k.startswith("benefits.")]
    recurring = [f"costs.{c}" for c in model.recurring_costs]
    one_off = sum((np.broadcast_to(proj[f"costs.{c}"], (len(ids), 1))[:, 0] for c in model.one_off_costs), 0.0)
    one_off = np.where(signed_idx >= data_idx, one_off, 0.0)  # one-off costs only if signed in the window
    b_proj_rate = sum((np.broadcast_to(proj[k], (len(ids), 1)) for k in benefits), np.zeros((len(ids), 1)))
    fees = w.mrr.reindex(ids).fillna(0.0).to_numpy(dtype="float64")
    return pd.DataFrame(
        {
            "account_id": ids.to_numpy(),
            "window_start": w.months[np.clip(start_idx - w.month_idx[0], 0, len(w.months) - 1)],
            "window_months": n,
            "benefit_realized": _masked_total(real, benefits, mask),
            "benefit_projected": (b_proj_rate * ramp * mask).sum(axis=1),
            "cost_realized": (fees * mask).sum(axis=1) + one_off + _masked_total(real, recurring, mask),
            "cost_projected": w.terms["arr_at_signing"].reindex(ids).to_numpy(dtype="float64") / 12 * n
            + one_off
            + _masked_total(proj, recurring, mask),
        }
    )


def _with_ratios(out: pd.DataFrame) -> pd.DataFrame:
    """roi_realized, roi_projected_to_date and value_realization from the window's totals (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out["roi_realized"] = np.where(
            out["cost_realized"] > 0, (out["benefit_realized"] - out["cost_realized"]) / out["cost_realized"], np.nan
        )
        out["roi_projected_to_date"] = np.where(
            out["cost_projected"] > 0,
            (out["benefit_projected"] - out["cost_projected"]) / out["cost_projected"],
            np.nan,
        )
        out["value_realization"] = np.where(
            out["benefit_projected"] > 0, out["benefit_realized"] / out["benefit_projected"], np.nan
        )
    return out


def realized_to_date(
    inputs: pd.DataFrame,
    models: dict[str, CompiledModel],
    terms: pd.DataFrame,
    usage: pd.DataFrame | None,
    monthly: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Realized ROI to date from measured usage, beside what was projected at signing for the same months.

    The window runs from the signing month (or the first month of usage data, if later) to the
    last complete month. Realized: the model on each month's measured metrics (no ramp: usage
    shows adoption), costs actually billed (MRR from `monthly`, one-off costs if signed in the
    window, recurring costs at base). Projected: the model on the planned values with the
    adoption ramp and the ARR at signing. Returns account_id, window_start, window_months,
    benefit_realized, benefit_projected, cost_realized, cost_projected, roi_realized,
    roi_projected_to_date, value_realization (= benefit_realized / benefit_projected).
    """
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in REALIZED_COLUMNS})
    complete = ~inputs.groupby("account_id")["missing"].transform("any").astype(bool)
    inputs = inputs[complete]
    if inputs.empty or usage is None or usage.empty:
        return empty
    last = last_complete_month(as_of)
    data_start = usage["period_start"].min()
    months = pd.date_range(min(data_start, last), last, freq="MS")
    metrics = sorted(inputs.loc[inputs["source"] == "measured", "metric"].dropna().unique())
    window = _Window(
        months=months,
        month_idx=(months.year * 12 + months.month).to_numpy(),
        data_start=data_start,
        mrr=_wide(monthly[monthly["month"].isin(months)], "account_id", "month", "mrr", months),
        series={m: _wide(usage, "account_id", "period_start", m, months) for m in metrics},
        terms=terms.set_index("account_id"),
    )
    frames = [_realized_model(models[name], grp, window) for name, grp in inputs.groupby("model", sort=True)]
    frames = [f for f in frames if f is not None]
    if not frames:
        return empty
    out = pd.concat(frames, ignore_index=True)
    out = out[out["window_months"] > 0].sort_values("account_id").reset_index(drop=True)
    return _with_ratios(out)[REALIZED_COLUMNS]
