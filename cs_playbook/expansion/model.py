"""Expansion propensity: P(expansion within the horizon) from a logistic regression on history, validated out of time.

The signals are the account measures of `measures` (computed only from data before each
observation date) plus a few expansion-specific ones added here: whether a renewal falls in
the horizon (expansion happens mostly at renewals), a PoC in flight, and room under the
employee cap. The fit is the project's generic logistic scorecard (`scorecard.fit_logistic`:
standardized measures, correlated ones grouped, fallbacks for few events or separation); the
validation is the health score's (`evaluation`: rolling out-of-time backtest, AUC with an
interval, top-decile lift, calibration). One model per play (seat upsell, new department,
cross-sell, usage tier) is fitted on the accounts where the play is possible, when it has
enough expansions of its kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cs_playbook.data import measures
from cs_playbook.data.io import Dataset
from cs_playbook.expansion.outcomes import PLAYS, ExpansionParams, expansion_outcomes, line_states
from cs_playbook.health.scorer import HealthScorer
from cs_playbook.modeling import evaluation
from cs_playbook.modeling.logistic import Scorecard, fit_logistic

__all__ = [
    "DEFAULT_SIGNALS",
    "DOCUMENTED_SIGNS",
    "expansion_signals",
    "propensity_panel",
    "scoring_frame",
    "PropensityModel",
    "fit_propensity",
    "backtest_propensity",
    "driver_table",
    "signal_contributions",
    "health_scores",
    "fit_contraction",
    "window_probabilities",
]

# Signals of the propensity model (measures columns, plus the ones expansion_signals adds).
DEFAULT_SIGNALS = [
    "health_score",
    "active_user_share",
    "events_per_active_user",
    "feature_breadth",
    "usage_trend_3m",
    "active_users_trend_3m",
    "champion",
    "exec_access",
    "success_plan",
    "nps_score",
    "poc_open",
    "renewal_in_window",
    "headroom_share",
    "departments",
    "has_csm",
    "tenure_days",
    "segment",
]

# Directions documented in docs/demo-company.md and ../shared/DOMAIN.md ("+" raises expansion).
DOCUMENTED_SIGNS = {
    "health_score": "+",
    "active_user_share": "+",
    "events_per_active_user": "+",
    "feature_breadth": "+",
    "usage_trend_3m": "+",
    "active_users_trend_3m": "+",
    "champion": "+",
    "exec_access": "+",
    "success_plan": "+",
    "nps_score": "+",
    "has_csm": "+",
}

# Which rows a play's model is fitted on: the accounts where the play was possible.
ELIGIBLE = {
    "seat_upsell": "eligible_seat_upsell",
    "new_department": "eligible_new_department",
    "cross_sell": "eligible_cross_sell",
    "usage_tier": "eligible_usage_tier",
}


def _days_in_window(obs_date: pd.Series, horizon_months: int) -> pd.Series:
    """Days from obs_date to the last month end of the horizon."""
    end = obs_date - pd.Timedelta(days=1) + pd.offsets.MonthEnd(horizon_months)
    return (end - obs_date).dt.days


def health_scores(frame: pd.DataFrame, scorer: HealthScorer) -> np.ndarray:
    """The health score (0-100, higher = healthier) of each row of account measures, by the scorer in use.

    `scorer` is the quarter's (`QuarterState.scorer`): the same scorer scores today's accounts and
    the past observations the propensity learns from.
    """
    return np.asarray(scorer.score(frame), dtype="float64")


def expansion_signals(
    frame: pd.DataFrame, ds: Dataset, params: ExpansionParams, *, scorer: HealthScorer
) -> pd.DataFrame:
    """Add the expansion-specific signals and each play's eligibility to a frame of account measures.

    `frame` is `measures.account_measures` output (account_id, obs_date, days_to_renewal, seats,
    employees, departments, products, ...). Adds health_score (`health_scores` by `scorer`),
    renewal_in_window (1 when the next renewal falls within the horizon), poc_open (1 when a PoC
    had started and was not decided before obs_date; NaN without the pocs table), headroom_share
    (1 - seats / employees, the room under the employee cap), holds_usage (1 when a usage-priced
    product is held the day before) and eligible_<play> (the play was possible: seats held;
    department contracts; a product not held; a usage product held).
    """
    out = frame.copy()
    out["health_score"] = health_scores(out, scorer)
    obs = pd.to_datetime(out["obs_date"])
    days = out["days_to_renewal"]
    out["renewal_in_window"] = np.where(days.isna(), 0.0, (days <= _days_in_window(obs, params.horizon_months)) * 1.0)
    pocs = ds.get("pocs")
    if pocs is None:
        out["poc_open"] = np.nan
    else:
        p = pocs[["account_id", "start_date", "decided_at"]].copy()
        p["account_id"] = p["account_id"].astype(str)
        key = out[["account_id", "obs_date"]].astype({"account_id": str}).reset_index()
        m = key.merge(p, on="account_id")
        open_ = (m["start_date"] < m["obs_date"]) & (m["decided_at"].isna() | (m["decided_at"] >= m["obs_date"]))
        flag = m[open_.to_numpy()].groupby("index").size()
        out["poc_open"] = (pd.Series(flag, index=out.index).reindex(out.index).fillna(0) > 0).astype("float64")
    emp = out["employees"].where(out["employees"] > 0)
    out["headroom_share"] = (1 - out["seats"] / emp).clip(lower=0)
    days_before = pd.DatetimeIndex(obs - pd.Timedelta(days=1))
    states = line_states(ds.subscriptions, list(days_before.unique()))
    usage = states[states["product"].isin(params.usage_products()) & (states["arr"] > 0)]
    held = pd.MultiIndex.from_arrays([usage["account_id"].astype(str), usage["snapshot"]])
    key = pd.MultiIndex.from_arrays([out["account_id"].astype(str), days_before])
    out["holds_usage"] = key.isin(held).astype("float64")
    out["eligible_seat_upsell"] = out["seats"].fillna(0) > 0
    out["eligible_new_department"] = out["departments"].fillna(0) > 0
    out["eligible_cross_sell"] = out["products"].fillna(0) < len(params.products)
    out["eligible_usage_tier"] = out["holds_usage"] > 0
    return out


def propensity_panel(
    ds: Dataset,
    params: ExpansionParams,
    *,
    score_date: pd.Timestamp,
    scorer: HealthScorer,
    usage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Observations of every customer every few months with their signals and expansion outcomes.

    Dates run every `observation_every_months` months over the last `history_months` months
    before `score_date` (from three months after the first activity data, so usage trends
    exist). `scorer` is the health scorer in use (`health_scores`); `usage` the account-month usage
    metrics (`data.usage.account_usage`). Outcomes come from `outcomes.expansion_outcomes`; an
    outcome whose window ends on or after `score_date` is not known yet (NaN). Returns the columns of
    `measures.account_measures`, of `expansion_signals`, and expanded, seat_upsell,
    new_department, cross_sell, usage_tier (1/0/NaN), contracted (NaN when churned or unknown),
    churned, expansion_arr, contraction_arr, arr_start, window_end, complete.
    """
    score_date = pd.Timestamp(score_date).normalize()
    first = (measures.data_start(ds) + pd.DateOffset(months=3)).to_period("M").to_timestamp()
    start = max(first, (score_date - pd.DateOffset(months=params.model.history_months)).to_period("M").to_timestamp())
    grid = measures.observation_grid(
        ds.subscriptions,
        start=start,
        end=score_date - pd.Timedelta(days=1),
        freq=f"{params.model.observation_every_months}MS",
    )
    m = measures.account_measures(ds, grid, usage=usage)
    o = expansion_outcomes(
        ds.subscriptions,
        grid,
        horizon_months=params.horizon_months,
        usage_products=params.usage_products(),
        as_of=score_date - pd.Timedelta(days=1),
    )
    m["account_id"] = m["account_id"].astype(str)
    o["account_id"] = o["account_id"].astype(str)
    panel = expansion_signals(m.merge(o, on=["account_id", "obs_date"], how="inner"), ds, params, scorer=scorer)
    known = panel["complete"].to_numpy()
    for col in ["expanded", *PLAYS]:
        panel[col] = np.where(known, panel[col].astype("float64"), np.nan)
    panel["contracted"] = np.where(known & ~panel["churned"], panel["contracted"].astype("float64"), np.nan)
    panel["churned"] = np.where(known, panel["churned"].astype("float64"), np.nan)
    return panel.reset_index(drop=True)


def scoring_frame(
    ds: Dataset,
    params: ExpansionParams,
    *,
    score_date: pd.Timestamp,
    scorer: HealthScorer,
    usage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Signals of every current customer on `score_date` (data before it), ready for `PropensityModel.predict`.

    `scorer` is the health scorer in use, the one that scored the quarter's accounts.
    """
    score_date = pd.Timestamp(score_date).normalize()
    grid = measures.observation_grid(ds.subscriptions, start=score_date, end=score_date, freq="D")
    m = measures.account_measures(ds, grid, usage=usage)
    m["account_id"] = m["account_id"].astype(str)
    return expansion_signals(m, ds, params, scorer=scorer).reset_index(drop=True)


@dataclass
class PropensityModel:
    """The fitted propensity: one overall scorecard and one per play (or that play's past share of expansions)."""

    overall: Scorecard
    plays: dict[str, Scorecard] = field(default_factory=dict)
    play_share: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """p_expansion and p_<play> for each row (0 where the play is not possible), aligned with `frame`."""
        out = pd.DataFrame(index=frame.index)
        out["p_expansion"] = self.overall.probability(frame)
        for play in PLAYS:
            if play in self.plays:
                p = self.plays[play].probability(frame)
            else:
                p = out["p_expansion"].to_numpy() * self.play_share.get(play, 0.0)
            eligible = frame[ELIGIBLE[play]].to_numpy(dtype=bool) if ELIGIBLE[play] in frame.columns else True
            out[f"p_{play}"] = np.where(eligible, p, 0.0)
        return out


def _fit(frame: pd.DataFrame, outcome: str, signals: list[str], params: ExpansionParams) -> Scorecard:
    return fit_logistic(
        frame,
        outcome=outcome,
        measures=[s for s in signals if s in frame.columns],
        min_events=params.model.min_events,
        name=f"expansion_{outcome}",
    )


def fit_propensity(
    panel: pd.DataFrame, params: ExpansionParams, *, signals: list[str] | None = None
) -> PropensityModel:
    """Fit the overall and per-play models on the observations with a known outcome.

    A play gets its own model (fitted on the rows where it was possible) when `play_models` is
    on and it had at least `min_events` expansions of its kind; otherwise its probability is
    the overall one times its share among the expansions of the accounts where it was possible.
    """
    signals = signals or params.model.signals or DEFAULT_SIGNALS
    known = panel[panel["expanded"].notna()]
    overall = _fit(known, "expanded", signals, params)
    model = PropensityModel(overall=overall, warnings=list(overall.warnings))
    for play in PLAYS:
        rows = known[known[ELIGIBLE[play]]]
        expanded = rows[rows["expanded"] == 1]
        model.play_share[play] = float(expanded[play].mean()) if len(expanded) else 0.0
        if not params.model.play_models or overall.fallback:
            continue
        if rows[play].sum() < params.model.min_events:
            model.warnings.append(
                f"{play}: only {int(rows[play].sum())} past expansions of this kind (at least "
                f"{params.model.min_events} needed for its own model); it uses the overall probability x "
                f"{model.play_share[play]:.0%}, its share of the expansions where it was possible."
            )
            continue
        fitted = _fit(rows, play, signals, params)
        if fitted.fallback:
            model.warnings.append(f"{play}: {fitted.fallback}")
            continue
        model.plays[play] = fitted
    return model


def backtest_propensity(
    panel: pd.DataFrame,
    params: ExpansionParams,
    *,
    last_quarter: str,
    signals: list[str] | None = None,
    baseline: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-time backtest of the overall propensity, and of a baseline on fewer signals.

    Each of the last `backtest_folds` quarters (up to `last_quarter`) with known outcomes is
    predicted by models fitted only on outcomes known before it starts. The baseline (default:
    renewal timing alone) shows what the behavioural signals add. Returns (predictions: the test
    rows with fold, p_expansion, p_baseline; summary: fold, model and the figures of
    `evaluation.evaluate`, clustered by account).
    """
    signals = signals or params.model.signals or DEFAULT_SIGNALS
    baseline = baseline or ["renewal_in_window"]
    known = panel[panel["expanded"].notna()]
    folds = evaluation.quarter_folds(known["obs_date"], last_quarter=last_quarter, n=params.model.backtest_folds)

    def fit(train: pd.DataFrame) -> tuple[Scorecard, Scorecard]:
        return _fit(train, "expanded", signals, params), _fit(train, "expanded", baseline, params)

    def predict(models: tuple[Scorecard, Scorecard], test: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"p_expansion": models[0].probability(test), "p_baseline": models[1].probability(test)})

    preds = evaluation.rolling_backtest(
        panel, fit=fit, predict=predict, folds=folds, outcome="expanded", known_col="window_end"
    )
    if preds.empty:
        return preds, pd.DataFrame()
    summary = evaluation.backtest_summary(
        preds,
        outcome="expanded",
        models={"propensity": "p_expansion", "renewal timing only": "p_baseline"},
        group_col="account_id",
    )
    return preds, summary


def driver_table(model: Scorecard, *, signals: list[str] | None = None) -> pd.DataFrame:
    """Each signal's weight per standard deviation with its interval, against its documented direction.

    Returns signal, term, coef, ci_lo, ci_hi, odds_ratio, or_lo, or_hi, p_value, expected ('+', '-'
    or '' when undocumented), agrees (coef sign matches; NaN when undocumented or not in the
    model), in_model. Signals the fit left out are listed with in_model False.
    """
    w = model.weights()
    rows = w.rename(columns={"input": "signal"}).drop(columns=["measure", "points_per_sd"])
    rows["in_model"] = True
    missing = [s for s in (signals or []) if s not in set(w["measure"])]
    if missing:
        rows = pd.concat([rows, pd.DataFrame({"signal": missing, "in_model": False})], ignore_index=True)
    rows["or_lo"] = np.exp(rows["ci_lo"].astype("float64"))
    rows["or_hi"] = np.exp(rows["ci_hi"].astype("float64"))
    measure = rows["signal"].str.split("=").str[0]
    rows["expected"] = measure.map(DOCUMENTED_SIGNS).fillna("")
    sign = np.sign(rows["coef"].astype("float64"))
    agrees = np.where(rows["expected"] == "+", sign > 0, sign < 0)
    rows["agrees"] = pd.array(
        np.where((rows["expected"] == "") | ~rows["in_model"].astype(bool), None, agrees), dtype="boolean"
    )
    cols = ["signal", "term", "coef", "ci_lo", "ci_hi", "odds_ratio", "or_lo", "or_hi", "p_value"]
    cols += ["expected", "agrees", "in_model"]
    return rows[cols].sort_values("coef", ascending=False, na_position="last").reset_index(drop=True)


def signal_contributions(model: Scorecard, frame: pd.DataFrame) -> pd.DataFrame:
    """How much each signal raises (+) or lowers (-) each account's log-odds of expansion versus an average account.

    Returns account_id, signal, contribution (log-odds), one row per account and signal in the model.
    """
    points = model.contributions(frame)
    log_odds = -points / model.points_per_log_odds()
    log_odds.insert(0, "account_id", frame["account_id"].to_numpy())
    long = log_odds.melt(id_vars="account_id", var_name="signal", value_name="contribution")
    return long.dropna(subset=["contribution"]).reset_index(drop=True)


def fit_contraction(panel: pd.DataFrame, params: ExpansionParams, *, signals: list[str] | None = None) -> Scorecard:
    """P(contraction within the horizon | the account stays), for the NRR outlook; same signals and fit."""
    signals = signals or params.model.signals or DEFAULT_SIGNALS
    return _fit(panel[panel["contracted"].notna()], "contracted", signals, params)


def window_probabilities(
    frame: pd.DataFrame, model: PropensityModel, contraction: Scorecard, params: ExpansionParams, *, windows: int
) -> pd.DataFrame:
    """Expansion and contraction probabilities of each account in each of the next `windows` horizons.

    Window w covers the months (w-1) x horizon to w x horizon after the scoring date; the signals
    are today's, except renewal_in_window, which says whether the next renewal falls in that
    window (expansion and contraction happen mostly at renewals). Returns account_id,
    p_expansion_<w>, p_contraction_<w> and renewal_in_window_<w> for w = 1..windows.
    """
    out = pd.DataFrame({"account_id": frame["account_id"].to_numpy()}, index=frame.index)
    days = frame["days_to_renewal"]
    span = _days_in_window(pd.to_datetime(frame["obs_date"]), params.horizon_months)
    for w in range(1, windows + 1):
        shifted = frame.copy()
        after = days > (w - 1) * span if w > 1 else days >= 0
        inside = days.notna() & after & (days <= w * span)
        shifted["renewal_in_window"] = inside.astype("float64")
        out[f"p_expansion_{w}"] = model.overall.probability(shifted)
        out[f"p_contraction_{w}"] = contraction.probability(shifted)
        out[f"renewal_in_window_{w}"] = inside.to_numpy()
    return out.reset_index(drop=True)
