"""ROI per account: scenarios side by side, each input's swing on NPV, and a Monte Carlo range.

The method [001][003]: a success scenario, the business-contribution number it moves (cost
reduction or revenue increase), and the logic and facts linking product use to that number.
Models come from params/roi.yaml (`roi_model`), their inputs bound to contracts and usage
(`roi_facts`); cash flows follow the conventions of `roi_cashflow`. ROI = (total benefit -
total cost) / total cost over the horizon, undiscounted; NPV is discounted.

Accounts sharing a model are evaluated together: input values are arrays (accounts x ...)
and NPV and totals come in closed form from the per-month rates (the same numbers as the
month-by-month `cash_flows`, which the tests check).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_playbook.errors import ParamsError
from cs_playbook.roi.cashflow import cash_flows, discount_factors, irrs, payback_months, subscription_schedule
from cs_playbook.roi.model import CompiledModel, RoiParams

__all__ = [
    "SCENARIOS",
    "MONTE_CARLO_COLUMNS",
    "SCENARIO_VALUE_COLUMNS",
    "TORNADO_COLUMNS",
    "account_cash_flows",
    "tornado",
    "scenario_inputs",
    "scenarios",
    "projected_at_signing",
    "monte_carlo",
    "simulate_account",
]

SCENARIOS = ["conservative", "base", "optimistic"]
MONTE_CARLO_COLUMNS = [
    "account_id",
    "draws",
    "p_roi_positive",
    "roi_mean",
    "roi_p10",
    "roi_p50",
    "roi_p90",
    "npv_p10",
    "npv_p50",
    "npv_p90",
]
SCENARIO_VALUE_COLUMNS = ["account_id", "input", *SCENARIOS]
TORNADO_COLUMNS = ["account_id", "input", "label", "source", "low", "high", "npv_low", "npv_high", "npv_base", "swing"]
_MC_CELLS = 2_000_000  # accounts x inputs x draws drawn at once (bounded memory)


@dataclass(frozen=True)
class _Horizon:
    """Sums that turn per-month rates into totals and present values (closed form, vectorised)."""

    months: int
    ramp: np.ndarray  # share of the benefit in months 1..H
    disc: np.ndarray  # discount factors for months 0..H
    sub: np.ndarray  # fee per 1 of ARR in months 0..H
    recurring: frozenset[str]  # "costs.<name>" per month
    one_off: frozenset[str]  # "costs.<name>" at signing

    def split(self, amounts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Benefit per month, recurring cost per month and one-off cost from driver amounts."""
        b = sum((v for k, v in amounts.items() if k.startswith("benefits.")), 0.0)
        cr = sum((v for k, v in amounts.items() if k in self.recurring), 0.0)
        co = sum((v for k, v in amounts.items() if k in self.one_off), 0.0)
        return b, cr, co

    def outcome(self, amounts: dict[str, np.ndarray], arr: np.ndarray) -> dict[str, np.ndarray]:
        """Totals, ROI and NPV from driver amounts and ARR (arrays that broadcast)."""
        b, cr, co, arr = np.broadcast_arrays(*self.split(amounts), arr)
        sub_total = arr * self.sub.sum()
        benefit_total = b * self.ramp.sum()
        other_total = co + cr * self.months
        cost_total = other_total + sub_total
        with np.errstate(divide="ignore", invalid="ignore"):
            roi = np.where(cost_total > 0, (benefit_total - cost_total) / cost_total, np.nan)
        present = b * (self.ramp @ self.disc[1:]) - cr * self.disc[1:].sum() - co - arr * (self.sub @ self.disc)
        return {
            "benefit_rate": b,
            "recurring_cost": cr,
            "one_off_cost": co,
            "benefit_total": benefit_total,
            "subscription_total": sub_total,
            "other_costs_total": other_total,
            "cost_total": cost_total,
            "net_benefit": benefit_total - cost_total,
            "roi": roi,
            "npv": present,
        }

    def flows(self, o: dict[str, np.ndarray], arr: np.ndarray) -> np.ndarray:
        """Month-by-month net flows (accounts x months 0..H) of 1-d outcomes, as `cash_flows` builds them."""
        benefit = o["benefit_rate"][:, None] * np.r_[0.0, self.ramp][None, :]
        recurring = np.repeat(o["recurring_cost"][:, None], self.months, axis=1)
        other = np.concatenate([o["one_off_cost"][:, None], recurring], axis=1)
        return benefit - arr[:, None] * self.sub[None, :] - other


def _horizon(model: CompiledModel, params: RoiParams) -> _Horizon:
    h = params.horizon_months
    return _Horizon(
        months=h,
        ramp=model.ramp_curve(h),
        disc=discount_factors(h, params.discount_rate),
        sub=subscription_schedule(h, params.subscription_billing),
        recurring=frozenset(f"costs.{c}" for c in model.recurring_costs),
        one_off=frozenset(f"costs.{c}" for c in model.one_off_costs),
    )


@dataclass
class _Batch:
    """The complete accounts of one model: input values in base units, (accounts x inputs)."""

    model: CompiledModel
    account_ids: np.ndarray
    low: np.ndarray
    base: np.ndarray
    high: np.ndarray
    planned: np.ndarray
    arr: np.ndarray
    arr_at_signing: np.ndarray

    def values(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Input name -> column (accounts x ...) of a values array shaped (accounts, inputs, ...)."""
        return {n: matrix[:, i] for i, n in enumerate(self.model.input_names)}


def _batches(inputs: pd.DataFrame, models: dict[str, CompiledModel], terms: pd.DataFrame) -> Iterator[_Batch]:
    """One batch per model over the accounts whose inputs are all present."""
    complete = ~inputs.groupby("account_id")["missing"].transform("any").astype(bool)
    t = terms.set_index("account_id")
    for model_name, grp in inputs[complete].groupby("model", sort=True):
        model = models[model_name]
        names = model.input_names
        scale = np.array([model.units[n].scale for n in names])
        wide = grp.pivot(index="account_id", columns="input", values=["low", "base", "high", "planned"])
        ids = wide.index.to_numpy()
        yield _Batch(
            model,
            ids,
            *(wide[c][names].to_numpy(dtype="float64") * scale for c in ("low", "base", "high", "planned")),
            t["arr"].reindex(ids).fillna(0.0).to_numpy(dtype="float64"),
            t["arr_at_signing"].reindex(ids).fillna(0.0).to_numpy(dtype="float64"),
        )


def account_cash_flows(
    inputs: pd.DataFrame,
    models: dict[str, CompiledModel],
    terms: pd.DataFrame,
    params: RoiParams,
    account_id: str,
    *,
    scenario_values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Month-by-month cash flows of one account in each scenario (as `cash_flows`, plus scenario).

    `scenario_values` (from `scenario_inputs`) gives each scenario's input
    values; without it only the base case is returned.
    """
    rows = inputs[inputs["account_id"] == account_id]
    if rows.empty:
        raise ParamsError(f"account {account_id} has no ROI model")
    model = models[rows["model"].iloc[0]]
    arr = float(terms.set_index("account_id").loc[account_id, "arr"])
    sets = {"base": dict(zip(rows["input"], rows["base"], strict=True))}
    if scenario_values is not None:
        sv = scenario_values[scenario_values["account_id"] == account_id]
        for sc in SCENARIOS:
            sets[sc] = dict(zip(sv["input"], sv[sc], strict=True))
    out = []
    h = _horizon(model, params)
    for sc in [s for s in SCENARIOS if s in sets]:
        vals = {n: v * model.units[n].scale for n, v in sets[sc].items()}
        amounts = model.evaluate(vals)
        o = h.outcome({k: np.asarray(v) for k, v in amounts.items()}, np.asarray(arr))
        cf = cash_flows(
            float(o["benefit_rate"]),
            float(o["recurring_cost"]),
            float(o["one_off_cost"]),
            arr,
            ramp=h.ramp,
            billing=params.subscription_billing,
            annual_rate=params.discount_rate,
        )
        cf.insert(0, "scenario", sc)
        out.append(cf)
    return pd.concat(out, ignore_index=True)


def _sensitivity(batch: _Batch, h: _Horizon) -> np.ndarray:
    """NPV with each input at its low and high, others at base: (accounts, inputs, 2)."""
    n_acc, k = batch.base.shape
    grid = np.repeat(batch.base[:, :, None], 2 * k, axis=2)  # (accounts, inputs, 2k)
    for i in range(k):
        grid[:, i, 2 * i] = batch.low[:, i]
        grid[:, i, 2 * i + 1] = batch.high[:, i]
    amounts = batch.model.evaluate(batch.values(grid))
    present = h.outcome(amounts, batch.arr[:, None])["npv"]
    return np.broadcast_to(present, (n_acc, 2 * k)).reshape(n_acc, k, 2)


def tornado(
    inputs: pd.DataFrame, models: dict[str, CompiledModel], terms: pd.DataFrame, params: RoiParams
) -> pd.DataFrame:
    """Each input's swing on NPV: NPV with the input at low and at high, every other input at base.

    Returns account_id, input, label, source, low, high (the input's values), npv_low, npv_high,
    npv_base, swing = |npv_high - npv_low|, largest swing first within each account; inputs
    with no range are left out.
    """
    frames = []
    for batch in _batches(inputs, models, terms):
        h = _horizon(batch.model, params)
        sens = _sensitivity(batch, h)
        base = h.outcome(batch.model.evaluate(batch.values(batch.base[:, :, None])), batch.arr[:, None])["npv"]
        names = batch.model.input_names
        k = len(names)
        frames.append(
            pd.DataFrame(
                {
                    "account_id": np.repeat(batch.account_ids, k),
                    "input": np.tile(names, len(batch.account_ids)),
                    "npv_low": sens[:, :, 0].ravel(),
                    "npv_high": sens[:, :, 1].ravel(),
                    "npv_base": np.repeat(np.broadcast_to(base, (len(batch.account_ids), 1))[:, 0], k),
                }
            )
        )
    cols = TORNADO_COLUMNS
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    out = pd.concat(frames, ignore_index=True).merge(
        inputs[["account_id", "input", "label", "source", "low", "high"]], on=["account_id", "input"], how="left"
    )
    out = out[out["high"] > out["low"]].copy()
    out["swing"] = (out["npv_high"] - out["npv_low"]).abs()
    return out.sort_values(["account_id", "swing"], ascending=[True, False])[cols].reset_index(drop=True)


def _scenario_matrices(batch: _Batch, h: _Horizon) -> dict[str, np.ndarray]:
    """Input values (accounts x inputs) per scenario: each input at its worse / better end for NPV."""
    sens = _sensitivity(batch, h)
    low_worse = sens[:, :, 0] <= sens[:, :, 1]
    return {
        "conservative": np.where(low_worse, batch.low, batch.high),
        "base": batch.base,
        "optimistic": np.where(low_worse, batch.high, batch.low),
    }


def scenario_inputs(
    inputs: pd.DataFrame, models: dict[str, CompiledModel], terms: pd.DataFrame, params: RoiParams
) -> pd.DataFrame:
    """Each input's value in the three scenarios (in the input's own unit).

    Conservative puts every input at the end of its range that lowers NPV, optimistic at the
    end that raises it. Returns account_id, input, conservative, base, optimistic.
    """
    frames = []
    for batch in _batches(inputs, models, terms):
        mats = _scenario_matrices(batch, _horizon(batch.model, params))
        names = batch.model.input_names
        scale = np.array([batch.model.units[n].scale for n in names])
        df = pd.DataFrame(
            {"account_id": np.repeat(batch.account_ids, len(names)), "input": names * len(batch.account_ids)}
        )
        for sc in SCENARIOS:
            df[sc] = (mats[sc] / scale).ravel()
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=SCENARIO_VALUE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def scenarios(
    inputs: pd.DataFrame, models: dict[str, CompiledModel], terms: pd.DataFrame, params: RoiParams
) -> pd.DataFrame:
    """The three scenarios side by side for every account with a complete model.

    Returns account_id, model, scenario (conservative / base / optimistic), benefit_annual (at full
    adoption), cost_reduction_annual, revenue_increase_annual, benefit_total, subscription_total,
    other_costs_total, cost_total, net_benefit, roi, npv, irr, payback_month (totals over the horizon).
    """
    frames = []
    for batch in _batches(inputs, models, terms):
        model = batch.model
        h = _horizon(model, params)
        kinds = {f"benefits.{k}": b.kind for k, b in model.spec.benefits.items()}
        for sc, vals in _scenario_matrices(batch, h).items():
            amounts = model.evaluate(batch.values(vals))
            o = {k: np.asarray(v, dtype="float64") for k, v in h.outcome(amounts, batch.arr).items()}
            flows = h.flows(o, batch.arr)
            n = len(batch.account_ids)
            df = pd.DataFrame({"account_id": batch.account_ids, "model": model.name, "scenario": sc})
            df["benefit_annual"] = o["benefit_rate"] * 12
            for kind in ("cost_reduction", "revenue_increase"):
                part = sum((np.broadcast_to(v, (n,)) for k, v in amounts.items() if kinds.get(k) == kind), np.zeros(n))
                df[f"{kind}_annual"] = part * 12
            for col in ("benefit_total", "subscription_total", "other_costs_total", "cost_total", "net_benefit"):
                df[col] = o[col]
            df["roi"], df["npv"] = o["roi"], o["npv"]
            df["irr"] = irrs(flows)
            df["payback_month"] = payback_months(flows)
            frames.append(df)
    cols = [
        "account_id",
        "model",
        "scenario",
        "benefit_annual",
        "cost_reduction_annual",
        "revenue_increase_annual",
        "benefit_total",
        "subscription_total",
        "other_costs_total",
        "cost_total",
        "net_benefit",
        "roi",
        "npv",
        "irr",
        "payback_month",
    ]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    out = pd.concat(frames, ignore_index=True)
    out["scenario"] = pd.Categorical(out["scenario"], categories=SCENARIOS, ordered=True)
    return out[cols].sort_values(["account_id", "scenario"]).reset_index(drop=True)


def projected_at_signing(
    inputs: pd.DataFrame, models: dict[str, CompiledModel], terms: pd.DataFrame, params: RoiParams
) -> pd.DataFrame:
    """The business case as it stood at signing: measured inputs at their planned values, ARR at signing.

    Returns account_id, benefit_annual_planned, roi_projected_at_signing, npv_projected_at_signing.
    """
    frames = []
    for batch in _batches(inputs, models, terms):
        h = _horizon(batch.model, params)
        o = h.outcome(batch.model.evaluate(batch.values(batch.planned)), batch.arr_at_signing)
        frames.append(
            pd.DataFrame(
                {
                    "account_id": batch.account_ids,
                    "benefit_annual_planned": np.broadcast_to(o["benefit_rate"] * 12, batch.arr.shape),
                    "roi_projected_at_signing": o["roi"],
                    "npv_projected_at_signing": o["npv"],
                }
            )
        )
    cols = ["account_id", "benefit_annual_planned", "roi_projected_at_signing", "npv_projected_at_signing"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    return pd.concat(frames, ignore_index=True)[cols]


# --- Monte Carlo ---------------------------------------------------------------------------


def _stream(seed: int, account_id: str, input_name: str) -> np.random.Generator:
    """An independent random stream per account and input: results do not depend on other accounts."""
    return np.random.default_rng([seed, zlib.crc32(str(account_id).encode()), zlib.crc32(input_name.encode())])


def _sample(rng: np.random.Generator, low: float, mode: float, high: float, dist: str, n: int) -> np.ndarray:
    """n draws between low and high with the given mode (PERT or triangular); a point when low == high."""
    if not high > low:
        return np.full(n, mode)
    if dist == "triangular":
        return rng.triangular(low, mode, high, n)
    a = 1 + 4 * (mode - low) / (high - low)
    b = 1 + 4 * (high - mode) / (high - low)
    return low + (high - low) * rng.beta(a, b, n)


def _simulate(batch: _Batch, rows: np.ndarray, h: _Horizon, draws: int, seed: int) -> dict[str, np.ndarray]:
    """Outcomes (rows x draws) of the batch's accounts at positions `rows`."""
    names = batch.model.input_names
    dists = [batch.model.spec.inputs[n].distribution for n in names]
    values = np.empty((len(rows), len(names), draws))
    for j, r in enumerate(rows):
        acc = batch.account_ids[r]
        for i, name in enumerate(names):
            rng = _stream(seed, acc, name)
            values[j, i] = _sample(rng, batch.low[r, i], batch.base[r, i], batch.high[r, i], dists[i], draws)
    amounts = batch.model.evaluate(batch.values(values))
    return h.outcome(amounts, batch.arr[rows, None])


def monte_carlo(
    inputs: pd.DataFrame,
    models: dict[str, CompiledModel],
    terms: pd.DataFrame,
    params: RoiParams,
    *,
    draws: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Seeded, vectorised simulation of ROI and NPV per account over every input's range.

    Inputs are drawn independently (PERT or triangular between low and high, mode at base), one
    stream per account and input. Returns account_id, draws, p_roi_positive, roi_mean, roi_p10,
    roi_p50, roi_p90, npv_p10, npv_p50, npv_p90.
    """
    draws = draws or params.monte_carlo.draws
    seed = params.monte_carlo.seed if seed is None else seed
    frames = []
    for batch in _batches(inputs, models, terms):
        h = _horizon(batch.model, params)
        step = max(1, _MC_CELLS // (draws * max(1, len(batch.model.input_names))))
        for start in range(0, len(batch.account_ids), step):
            rows = np.arange(start, min(start + step, len(batch.account_ids)))
            o = _simulate(batch, rows, h, draws, seed)
            roi, present = o["roi"], o["npv"]
            q_roi = np.percentile(roi, [10, 50, 90], axis=1)
            q_npv = np.percentile(present, [10, 50, 90], axis=1)
            frames.append(
                pd.DataFrame(
                    {
                        "account_id": batch.account_ids[rows],
                        "draws": draws,
                        "p_roi_positive": (roi > 0).mean(axis=1),
                        "roi_mean": roi.mean(axis=1),
                        "roi_p10": q_roi[0],
                        "roi_p50": q_roi[1],
                        "roi_p90": q_roi[2],
                        "npv_p10": q_npv[0],
                        "npv_p50": q_npv[1],
                        "npv_p90": q_npv[2],
                    }
                )
            )
    cols = MONTE_CARLO_COLUMNS
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    return pd.concat(frames, ignore_index=True)[cols].sort_values("account_id").reset_index(drop=True)


def simulate_account(
    inputs: pd.DataFrame,
    models: dict[str, CompiledModel],
    terms: pd.DataFrame,
    params: RoiParams,
    account_id: str,
    *,
    draws: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """The Monte Carlo draws of one account (the same streams as `monte_carlo`).

    Returns draw, roi, npv, benefit_total, cost_total.
    """
    draws = draws or params.monte_carlo.draws
    seed = params.monte_carlo.seed if seed is None else seed
    for batch in _batches(inputs[inputs["account_id"] == account_id], models, terms):
        o = _simulate(batch, np.array([0]), _horizon(batch.model, params), draws, seed)
        return pd.DataFrame(
            {"draw": np.arange(draws), **{k: o[k][0] for k in ("roi", "npv", "benefit_total", "cost_total")}}
        )
    raise ParamsError(f"account {account_id} has no complete ROI model to simulate")
