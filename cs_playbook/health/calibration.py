"""The account health score: observations and churn outcomes, the rules scorecard, calibration, risk on a day.

- Observations (`build_observations`): one row per account and date (month starts, or a fixed
  lead before each renewal), its measures (`measures.account_measures`, data strictly before the
  date) and its outcome: churned by the next renewal or within the horizon (`churn_outcomes`),
  and the ARR lost. Only observations whose outcome window has closed by the cut-off are used
  for fitting.
- Today's score (`rules_scorecard.rules_score`): the hand-weighted scorecard of params/health_score.yaml, as
  commercial CS tools define it (measures, weights, bands -> points, 0-100, tiers).
- The calibrated score (`calibrate`): `scorecard.fit_logistic` on the observations, tiers chosen
  by a rule from params (target churn rate per tier, or the bad-tier capacity of the CSM team).
- `risk_as_of(ds, params, promoted=..., day=...)`: the scorer in use on a day (`health.scorer`) and
  every active account scored by it; the quarter state (`cs_playbook.state`) calls it once per run.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from cs_playbook.data.io import Dataset
from cs_playbook.data.measure_catalog import USAGE_PREFIX, measure_label
from cs_playbook.data.measures import (
    MEASURES,
    account_measures,
    data_start,
    observation_grid,
    renewal_observations,
)
from cs_playbook.health.design import Design, candidate_measures, choose_design, term_mix
from cs_playbook.health.outcomes import churn_outcomes
from cs_playbook.health.rules import RulesScorecard, rules_score, rules_tiers
from cs_playbook.health.scorer import HealthScorer, RulesScorer, rules_scorer, score_accounts, scorer_in_use
from cs_playbook.modeling.evaluation import quarter_folds, rolling_backtest
from cs_playbook.modeling.logistic import fit_logistic, fit_one_variable
from cs_playbook.modeling.scorecard import Scorecard, TierLabels, TierThresholds, assign_tiers
from cs_playbook.params import StrictModel, UsageParams

__all__ = [
    "HealthParams",
    "TierRule",
    "resolve_params",
    "fit_measures",
    "build_observations",
    "choose_tiers",
    "calibrate",
    "backtest",
    "measures_on",
    "observations_and_measures",
    "risk_as_of",
]

EVENT_KEY = ["account_id", "window_end"]


class ObservationParams(StrictModel):
    """Which observations the score is fitted on, and what counts as churn after each."""

    mode: Literal["auto", "monthly", "renewal_lead"] = "auto"
    lead_days: int = Field(90, ge=1, le=365)
    outcome_window: Literal["auto", "next_renewal", "horizon"] = "auto"
    horizon_months: int = Field(12, ge=1, le=36)
    history_months: int = Field(3, ge=0, le=24)
    short_term_months: float = Field(3, gt=0)
    long_term_months: float = Field(9, gt=0)
    mixed_terms_min_share: float = Field(0.1, gt=0, lt=0.5)
    mixed_horizon_months: int = Field(3, ge=1, le=36)
    term_measures: bool | Literal["auto"] = "auto"


class MeasureWindows(StrictModel):
    """Look-back windows of the measures (see measures.account_measures)."""

    window_days: int = Field(90, ge=7, le=730)
    nps_max_age_days: int = Field(365, ge=1)
    stakeholder_max_age_days: int = Field(365, ge=1)
    bantc_max_age_days: int = Field(180, ge=1)


class CalibrationParams(StrictModel):
    """How the calibrated scorecard is fitted (scorecard.fit_logistic)."""

    measures: list[str] = Field(min_length=1)
    usage_measures: Literal["none", "all"] | list[str] = "none"
    transforms: dict[str, Literal["auto", "none", "log1p"]] = Field(default_factory=dict)
    skew_threshold: float = Field(2.0, gt=0)
    clip_quantiles: tuple[float, float] = (0.01, 0.99)
    correlation_threshold: float = Field(0.7, gt=0, le=1)
    regularization: Literal["none", "l1", "l2"] = "none"
    strength: float = Field(1.0, gt=0)
    min_events: int = Field(30, ge=5)
    events_per_term: float = Field(10, ge=1)
    drop_sign_flips: bool = True
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    points_to_double_odds: float | None = Field(None, gt=0)
    anchor_score: float = Field(50, ge=0, le=100)

    @field_validator("measures")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if m not in MEASURES and not m.startswith(USAGE_PREFIX)]
        if bad:
            raise ValueError(
                f"unknown measures {', '.join(bad)}; known: {', '.join(MEASURES)} and usage_<metric> measures "
                "(or list usage metrics under calibration.usage_measures)"
            )
        return v


class TierRule(StrictModel):
    """How the calibrated score's tier thresholds are chosen."""

    rule: Literal["target_churn", "capacity"] = "target_churn"
    bad_min_churn_rate: float = Field(0.40, gt=0, lt=1)
    good_max_churn_rate: float = Field(0.04, gt=0, lt=1)
    bad_capacity_accounts: int = Field(100, ge=1)
    good_share: float = Field(0.4, gt=0, lt=1)


class BacktestParams(StrictModel):
    """The out-of-time backtest: rolling quarterly folds and the bootstrap of the intervals."""

    test_quarters: int = Field(4, ge=1, le=12)
    bootstrap: int = Field(500, ge=50, le=10000)
    seed: int = 0


class ReviewParams(StrictModel):
    """Signals that make a CSM review an account whose score disagrees with them."""

    nps_detractor_max: int = Field(6, ge=0, le=10)
    nps_promoter_min: int = Field(9, ge=0, le=10)
    renewal_soon_days: int = Field(75, ge=1)
    healthy_signals_min: int = Field(3, ge=1, le=4)


class HealthParams(StrictModel):
    """params/health_score.yaml."""

    observations: ObservationParams = Field(default_factory=ObservationParams)
    measure_windows: MeasureWindows = Field(default_factory=MeasureWindows)
    tier_labels: TierLabels = Field(default_factory=TierLabels)
    rules_scorecard: RulesScorecard
    calibration: CalibrationParams
    tiers: TierRule = Field(default_factory=TierRule)
    backtest: BacktestParams = Field(default_factory=BacktestParams)
    review: ReviewParams = Field(default_factory=ReviewParams)


def resolve_params(ds: Dataset, params: HealthParams) -> tuple[HealthParams, Design]:
    """Params with the observation design resolved from the data's contract terms (`design.choose_design`), and why.

    `observations.mode` / `outcome_window: auto` become concrete, `horizon_months` the mixed-terms
    horizon when that design is chosen, `term_measures: auto` true when term and days to renewal join
    the candidates. Already concrete settings are kept.
    """
    op = params.observations
    mix = term_mix(ds.subscriptions, short_months=op.short_term_months, long_months=op.long_term_months)
    d = choose_design(
        mix,
        mode=op.mode,
        outcome_window=op.outcome_window,
        horizon_months=op.horizon_months,
        mixed_horizon_months=op.mixed_horizon_months,
        min_share=op.mixed_terms_min_share,
        lead_days=op.lead_days,
    )
    term = d.term_measures if op.term_measures == "auto" else bool(op.term_measures)
    update = {
        "mode": d.mode,
        "outcome_window": d.outcome_window,
        "horizon_months": d.horizon_months,
        "term_measures": term,
    }
    return params.model_copy(update={"observations": op.model_copy(update=update)}), d


def fit_measures(params: HealthParams, observations: pd.DataFrame) -> list[str]:
    """The candidate measures of the fit on these observations (`design.candidate_measures`; checked against the data)."""
    c = params.calibration
    term = params.observations.term_measures is True
    return candidate_measures(c.measures, c.usage_measures, observations.columns, term_measures=term)


def _observation_dates(ds: Dataset, params: HealthParams, cutoff: pd.Timestamp) -> tuple[HealthParams, pd.DataFrame]:
    """The params with the observation design resolved, and the observations (account_id, obs_date) up to `cutoff`."""
    if "auto" in (params.observations.mode, params.observations.outcome_window):
        params, _ = resolve_params(ds, params)
    op = params.observations
    first = (data_start(ds) + pd.DateOffset(months=op.history_months)).to_period("M").to_timestamp()
    if op.mode == "monthly":
        return params, observation_grid(ds.subscriptions, start=first, end=cutoff)
    return params, renewal_observations(ds.subscriptions, lead_days=op.lead_days, start=first, end=cutoff)


def _with_outcomes(
    ds: Dataset, params: HealthParams, obs: pd.DataFrame, measures: pd.DataFrame, cutoff: pd.Timestamp
) -> pd.DataFrame:
    """`measures` of the observations `obs` with their outcomes known by `cutoff` (window_end, observed, churned, arr_lost)."""
    op = params.observations
    y = churn_outcomes(ds.subscriptions, obs, as_of=cutoff, window=op.outcome_window, horizon_months=op.horizon_months)
    for col in ("window_end", "observed", "churned", "arr_lost"):
        measures[col] = y[col].to_numpy()
    return measures


def build_observations(
    ds: Dataset,
    params: HealthParams,
    *,
    cutoff: pd.Timestamp | None = None,
    usage: pd.DataFrame | None = None,
    usage_params: UsageParams | None = None,
) -> pd.DataFrame:
    """The modelling table: observations up to `cutoff` (default the data's as-of date), measures and outcomes.

    Returns account_id, obs_date, every measure (measures.MEASURES), window_end, observed, churned,
    arr_lost. Outcomes count only what is known by `cutoff`; measures only data before obs_date.
    """
    cutoff = pd.Timestamp(cutoff if cutoff is not None else ds.as_of).normalize()
    params, obs = _observation_dates(ds, params, cutoff)
    w = params.measure_windows
    m = account_measures(ds, obs, usage=usage, usage_params=usage_params, **w.model_dump())
    return _with_outcomes(ds, params, obs, m, cutoff)


# -- calibration ------------------------------------------------------------------------------------------------


def _capacity_thresholds(cur: np.ndarray, rule: TierRule) -> tuple[float, float, str]:
    """Bad below the score of the (bad_capacity_accounts + 1)-th lowest account, good from the top good_share."""
    cur = np.sort(cur[~np.isnan(cur)])
    k = min(rule.bad_capacity_accounts, len(cur))
    bad_below = float(cur[k]) if k < len(cur) else 100.0
    good_from = float(np.quantile(cur, 1 - rule.good_share)) if len(cur) else 100.0
    desc = f"capacity: {rule.bad_capacity_accounts} accounts in the bad tier, the top {rule.good_share:.0%} good"
    return good_from, bad_below, desc


def _target_thresholds(s: np.ndarray, y: np.ndarray, rule: TierRule, notes: list[str]) -> tuple[float, float, str]:
    """Bad = the largest group of lowest scores churning >= bad_min_churn_rate, good = highest scores churning <= the max."""
    order = np.argsort(s, kind="stable")
    ss, yy = s[order], y[order]
    n = len(ss)
    k = np.arange(1, n + 1)
    min_size = max(1, n // 100)
    hit = np.nonzero((np.cumsum(yy) / k >= rule.bad_min_churn_rate) & (k >= min_size))[0]
    if len(hit):
        bad_below = float(ss[hit.max() + 1]) if hit.max() + 1 < n else 100.0
    else:
        bad_below = float(np.quantile(ss, 0.1)) if n else 0.0
        notes.append(
            f"No group of lowest scores churned at {rule.bad_min_churn_rate:.0%} or more: "
            "the bad tier is the lowest-scoring tenth."
        )
    hit = np.nonzero((np.cumsum(yy[::-1]) / k <= rule.good_max_churn_rate) & (k >= min_size))[0]
    if len(hit):
        good_from = float(ss[::-1][hit.max()])
    else:
        good_from = float(np.quantile(ss, 0.9)) if n else 100.0
        notes.append(
            f"No group of highest scores churned at {rule.good_max_churn_rate:.0%} or less: "
            "the good tier is the highest-scoring tenth."
        )
    desc = f"target churn: the bad tier churns >= {rule.bad_min_churn_rate:.0%}, the good tier <= {rule.good_max_churn_rate:.0%}"
    return good_from, bad_below, desc


def _collapsed(scores: np.ndarray, good_from: float, bad_below: float) -> str | None:
    """Why these thresholds leave a tier empty or reversed on `scores`, or None when all three tiers hold accounts."""
    if bad_below >= good_from:
        return "the bad and good thresholds cross (no normal tier)"
    for name, empty in (
        ("bad", not (scores < bad_below).any()),
        ("normal", not ((scores >= bad_below) & (scores < good_from)).any()),
        ("good", not (scores >= good_from).any()),
    ):
        if empty:
            return f"the {name} tier is empty"
    return None


def choose_tiers(
    score: np.ndarray,
    churned: np.ndarray,
    rule: TierRule,
    *,
    current_scores: np.ndarray | None = None,
) -> tuple[TierThresholds, list[str]]:
    """Tier thresholds by the params rule, and any warnings.

    target_churn: the bad tier is the largest group of lowest scores that churned at least
    bad_min_churn_rate; the good tier the largest group of highest scores that churned at most
    good_max_churn_rate (on the fitted observations). capacity: the bad tier holds the
    bad_capacity_accounts lowest-scoring current accounts, the good tier the top good_share of them.
    Tiers never collapse: when the target-churn thresholds leave a tier empty or reversed (on the
    current scores, else the fitted ones), the capacity rule is used instead and a warning says so.
    """
    notes: list[str] = []
    s = np.asarray(score, dtype="float64")
    y = np.asarray(churned, dtype="float64")
    ok = ~np.isnan(s) & ~np.isnan(y)
    s, y = s[ok], y[ok]
    cur = np.asarray(current_scores if current_scores is not None else s, dtype="float64")
    if rule.rule == "capacity":
        good_from, bad_below, desc = _capacity_thresholds(cur, rule)
    else:
        good_from, bad_below, desc = _target_thresholds(s, y, rule, notes)
        why = _collapsed(cur[~np.isnan(cur)], round(good_from, 1), round(bad_below, 1))
        if why is not None:
            good_from, bad_below, desc = _capacity_thresholds(cur, rule)
            desc += " (fallback: the target-churn tiers collapsed)"
            notes.append(
                f"The target-churn tier thresholds collapse ({why}): the tiers follow the capacity rule instead."
            )
    good_from, bad_below = round(good_from, 1), round(bad_below, 1)
    if bad_below > good_from:
        bad_below = good_from
        notes.append(
            "The bad and good thresholds crossed: the normal tier is empty and the bad tier ends where the good one starts."
        )
    return TierThresholds(good_from=good_from, bad_below=bad_below, rule=desc), notes


def _fit_params(params: HealthParams, name: str, frame: pd.DataFrame) -> dict:
    c = params.calibration
    measures = fit_measures(params, frame)
    return {
        "outcome": "churned",
        "measures": measures,
        "transforms": c.transforms,
        "skew_threshold": c.skew_threshold,
        "clip_quantiles": c.clip_quantiles,
        "correlation_threshold": c.correlation_threshold,
        "regularization": c.regularization,
        "strength": c.strength,
        "min_events": c.min_events,
        "events_per_term": c.events_per_term,
        "event_key": EVENT_KEY,
        "drop_sign_flips": c.drop_sign_flips,
        "ci_level": c.ci_level,
        "points_to_double_odds": c.points_to_double_odds,
        "anchor_score": c.anchor_score,
        "labels": {m: measure_label(m) for m in measures},
        "name": name,
    }


def calibrate(
    observations: pd.DataFrame,
    params: HealthParams,
    *,
    fit_before: pd.Timestamp,
    current: pd.DataFrame | None = None,
    name: str = "calibrated",
) -> Scorecard:
    """The calibrated scorecard fitted on observed observations dated before `fit_before`, with tiers.

    `current` (measures of the accounts scored now) is needed for the capacity tier rule. The
    scorecard's `fitting` records the window, rows and events; `warnings` every fallback.
    """
    train = observations[observations["churned"].notna() & (observations["obs_date"] < fit_before)]
    sc = fit_logistic(train, **_fit_params(params, name, observations))
    fitting = dict(sc.fitting)
    if len(train):
        fitting |= {
            "first_observation": train["obs_date"].min().date().isoformat(),
            "last_observation": train["obs_date"].max().date().isoformat(),
            "accounts": int(train["account_id"].nunique()),
            "observation_mode": params.observations.mode,
            "outcome_window": params.observations.outcome_window,
        }
    notes = list(sc.warnings)
    if sc.fallback is None:
        cur = sc.score(current) if current is not None and len(current) else None
        tiers, tier_notes = choose_tiers(sc.score(train), train["churned"].to_numpy(), params.tiers, current_scores=cur)
        notes += tier_notes
    else:
        tiers = TierThresholds(good_from=100, bad_below=0, rule="no model: every account in the normal tier")
    return sc.model_copy(update={"tiers": tiers, "fitting": fitting, "warnings": notes})


def backtest(observations: pd.DataFrame, params: HealthParams, *, last_quarter: str) -> pd.DataFrame:
    """Rolling out-of-time backtest of the calibrated and the rules scorecard, side by side.

    Each of the last `backtest.test_quarters` quarters (up to `last_quarter`) is predicted by
    models fitted on the outcomes known before it began; the rules score gets its probability from
    a one-variable calibration on the same training rows, and the calibrated tiers their
    thresholds from the same rule as the final fit. Returns the test observations with fold,
    calibrated_probability, calibrated_score, calibrated_tier, calibrated_fallback,
    rules_probability, rules_score, rules_tier, term_probability (the term-only baseline: a one-variable
    logistic on term_months, missing terms at the median, fitted on the same training rows).
    """
    rules = params.rules_scorecard
    frame = observations.copy()
    frame["rules_score"] = rules_score(frame, rules)
    rules_thresholds = rules_tiers(rules)
    folds = quarter_folds(
        frame.loc[frame["churned"].notna(), "obs_date"], last_quarter=last_quarter, n=params.backtest.test_quarters
    )

    fit_args = _fit_params(params, "backtest", frame)
    term = frame["term_months"] if "term_months" in frame.columns else pd.Series(np.nan, index=frame.index)
    frame["_term"] = term.fillna(term.median()).astype("float64")

    def fit(train: pd.DataFrame) -> tuple[Scorecard, RulesScorer, pd.DataFrame, tuple[float, float]]:
        sc = fit_logistic(train, **fit_args)
        term_fit = fit_one_variable(train["_term"], train["churned"])
        return sc, rules_scorer(rules, train), train, term_fit

    def predict(model: tuple, test: pd.DataFrame) -> pd.DataFrame:
        sc, rules_now, train, (ta, tb) = model
        score = sc.score(test)
        if sc.fallback is None:
            tiers, _ = choose_tiers(sc.score(train), train["churned"].to_numpy(), params.tiers, current_scores=score)
            tier = assign_tiers(score, tiers)
        else:
            tier = np.full(len(test), "normal", dtype=object)
        return pd.DataFrame(
            {
                "calibrated_probability": sc.probability(test),
                "calibrated_score": score,
                "calibrated_tier": tier,
                "calibrated_fallback": sc.fallback is not None,
                "rules_probability": rules_now.probability(test),  # the rules scorer as it would have been in use
                "rules_tier": assign_tiers(test["rules_score"], rules_thresholds),
                "term_probability": 1 / (1 + np.exp(-(ta + tb * test["_term"].to_numpy()))),
            }
        )

    return rolling_backtest(frame, fit=fit, predict=predict, folds=folds, outcome="churned")


# -- risk on a day ----------------------------------------------------------------------------------------------


def _day_observations(ds: Dataset, day: pd.Timestamp) -> pd.DataFrame:
    """One observation (obs_date = day + 1) per account with a contract line active on `day` (normalized)."""
    nxt = day + pd.Timedelta(days=1)
    return observation_grid(ds.subscriptions, start=nxt, end=nxt, freq="D")


def measures_on(
    ds: Dataset,
    params: HealthParams,
    *,
    day: pd.Timestamp,
    usage: pd.DataFrame | None = None,
    usage_params: UsageParams | None = None,
) -> pd.DataFrame:
    """Measures of every account with a contract line active on `day`, seeing the data up to and including `day`.

    One row per account (obs_date = day + 1), columns of measures.account_measures.
    """
    obs = _day_observations(ds, pd.Timestamp(day).normalize())
    return account_measures(ds, obs, usage=usage, usage_params=usage_params, **params.measure_windows.model_dump())


def observations_and_measures(
    ds: Dataset,
    params: HealthParams,
    *,
    cutoff: pd.Timestamp,
    days: list[pd.Timestamp],
    usage: pd.DataFrame | None = None,
    usage_params: UsageParams | None = None,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """`build_observations(cutoff=cutoff)` and `measures_on(day)` for each of `days`, their measures computed in one pass.

    Every measure of a row depends only on its account and date, so one `account_measures` call over
    all the observations gives the same rows as one call each, for about the cost of one. (A set with
    no observation is measured alone: without rows, account_measures leaves out the usage columns.)
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    params, history_obs = _observation_dates(ds, params, cutoff)
    parts = [
        history_obs[["account_id", "obs_date"]],
        *(_day_observations(ds, pd.Timestamp(d).normalize()) for d in days),
    ]
    windows = params.measure_windows.model_dump()
    filled = [p for p in parts if len(p)]
    if filled:
        m = account_measures(
            ds, pd.concat(filled, ignore_index=True), usage=usage, usage_params=usage_params, **windows
        )
    measured, start = [], 0
    for p in parts:
        if len(p):
            measured.append(m.iloc[start : start + len(p)].reset_index(drop=True))
            start += len(p)
        else:
            measured.append(account_measures(ds, p, usage=usage, usage_params=usage_params, **windows))
    return _with_outcomes(ds, params, history_obs, measured[0], cutoff), measured[1:]


def risk_as_of(
    ds: Dataset,
    params: HealthParams,
    *,
    promoted: Scorecard | None,
    day: pd.Timestamp,
    usage: pd.DataFrame | None = None,
    usage_params: UsageParams | None = None,
) -> tuple[HealthScorer, pd.DataFrame]:
    """The scorer in use on `day` and every account with an active contract then, scored by it.

    The scorer is `scorer.scorer_in_use`: the promoted scorecard, else the rules scorecard with its
    probability calibrated on the churn observed up to `day` (so a past date sees no later outcome).
    Returns the scorer and `scorer.score_accounts` of `measures_on(day)` (account_id, health_score,
    health_tier code, churn_probability, drivers, scorecard) joined with the measures' arr; one row
    per account, sorted by account_id.
    """
    day = pd.Timestamp(day).normalize()
    if promoted is not None:
        now, history = measures_on(ds, params, day=day, usage=usage, usage_params=usage_params), None
    else:
        history, (now,) = observations_and_measures(
            ds, params, cutoff=day, days=[day], usage=usage, usage_params=usage_params
        )
    scorer = scorer_in_use(params.rules_scorecard, promoted=promoted, history=history)
    scored = score_accounts(now, scorer)
    scored["arr"] = now["arr"].to_numpy(dtype="float64")
    return scorer, scored.sort_values("account_id").reset_index(drop=True)
