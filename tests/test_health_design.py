"""The health model and contract terms: the observation design chosen by the data, usage metrics as candidate
measures, guard rails and tiers that never collapse; on the JP demo nothing regresses, on the us-plg demo the
health score beats a term-only baseline out of time and its fitted signs match the documented drivers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_playbook.data.measures import account_measures, observation_grid
from cs_playbook.errors import ParamsError
from cs_playbook.health import summary as health_summary
from cs_playbook.health import validation
from cs_playbook.health.calibration import HealthParams, TierRule, build_observations, choose_tiers, resolve_params
from cs_playbook.health.design import TERM_MEASURES, candidate_measures, choose_design, term_mix
from cs_playbook.params import load_params

T = pd.Timestamp


def _lines(terms_months: list[int]) -> pd.DataFrame:
    """One subscription line per term, all starting 2024-01-01 (inclusive end dates)."""
    start = T("2024-01-01")
    ends = [start + pd.DateOffset(months=m) - pd.Timedelta(days=1) for m in terms_months]
    return pd.DataFrame({"account_id": [f"A{i}" for i in range(len(ends))], "start_date": start, "end_date": ends})


def _choose(subs: pd.DataFrame, **kw) -> object:
    args = {"mode": "auto", "outcome_window": "auto", "horizon_months": 12, "mixed_horizon_months": 3}
    return choose_design(term_mix(subs), **(args | kw), min_share=0.1, lead_days=90)


def test_auto_design_follows_the_contract_terms() -> None:
    annual = _choose(_lines([12] * 19 + [1]))  # 5% monthly: not mixed (needs >= 10% short and >= 10% long)
    assert (annual.mode, annual.outcome_window, annual.term_measures) == ("monthly", "next_renewal", False)
    assert "alike" in annual.reason
    mixed = _choose(_lines([1] * 6 + [12] * 4))
    assert (mixed.mode, mixed.outcome_window, mixed.horizon_months, mixed.term_measures) == (
        "monthly",
        "horizon",
        3,
        True,
    )
    assert "mixed" in mixed.reason and "3-month horizon" in mixed.reason
    kept = _choose(_lines([1] * 6 + [12] * 4), mode="monthly", outcome_window="next_renewal")
    assert (kept.outcome_window, kept.term_measures) == ("next_renewal", False)
    assert "consider observations.mode: auto" in kept.reason
    mix = term_mix(_lines([1, 1, 6, 12]))
    assert (mix.short_share, mix.long_share) == pytest.approx((2 / 20, 12 / 20), abs=0.01)  # weighted by time


def test_usage_measures_are_expanded_and_checked_against_the_data() -> None:
    cols = [
        "arr",
        "usage_trend_1m",
        "usage_events_export_per_user",
        "usage_events_export_per_seat",
        "usage_seat_utilization",
    ]
    base = ["arr"]
    assert candidate_measures(base, "none", cols, term_measures=False) == ["arr"]
    assert candidate_measures(base, "all", cols, term_measures=True) == [
        "arr",
        *TERM_MEASURES,
        "usage_events_export_per_user",
        "usage_events_export_per_seat",
        "usage_seat_utilization",
    ]
    assert candidate_measures(base, ["events_export"], cols, term_measures=False)[1:] == [
        "usage_events_export_per_user",
        "usage_events_export_per_seat",
    ]
    with pytest.raises(ParamsError, match=r"calibration\.usage_measures: 'events_nope'.*events_export"):
        candidate_measures(base, ["events_nope"], cols, term_measures=False)
    with pytest.raises(ParamsError, match=r"calibration\.measures: usage_x_per_seat"):
        candidate_measures(["usage_x_per_seat"], "none", cols, term_measures=False)


def test_collapsed_target_tiers_fall_back_to_the_capacity_rule() -> None:
    scores = np.arange(10, 101, 10, dtype=float)
    churned = np.zeros(10)  # nothing churns: every score could be good, no group reaches the bad rate
    rule = TierRule(rule="target_churn", bad_min_churn_rate=0.5, good_max_churn_rate=0.05, bad_capacity_accounts=2)
    tiers, notes = choose_tiers(scores, churned, rule, current_scores=scores)
    assert "capacity" in tiers.rule and any("capacity rule instead" in n for n in notes)
    assert tiers.bad_below == 30.0 and tiers.bad_below < tiers.good_from  # two accounts below, none collapsed
    s = scores
    for band in (s < tiers.bad_below, (s >= tiers.bad_below) & (s < tiers.good_from), s >= tiers.good_from):
        assert band.any()


def test_guard_rails_flag_a_candidate_not_better_than_the_rules_score() -> None:
    summary = pd.DataFrame(
        [
            {"fold": "all", "model": "calibrated", "n": 100, "events": 10, "auc": 0.52, "auc_lo": 0.45, "auc_hi": 0.6},
            {"fold": "all", "model": "rules", "n": 100, "events": 10, "auc": 0.6, "auc_lo": 0.5, "auc_hi": 0.7},
        ]
    ).assign(brier=0.1, ece=0.01, top_decile_lift=1.0)
    val = validation.Validation(
        predictions=pd.DataFrame({"fold": ["2025Q1"], "calibrated_fallback": [False]}),
        summary=summary,
        comparison={"diff": -0.08, "lo": -0.15, "hi": -0.01, "share_a_better": 0.02},
    )
    rails = validation.guard_rails(val)
    assert rails["auc_interval_includes_chance"] and rails["not_better_than_rules"] and rails["do_not_promote"]
    figures = {
        "scorecard_in_use": "rules",
        "out_of_time": val.pooled(),
        "comparison": val.comparison,
        "tier_churn_rate_out_of_time": {},
        "arr_at_risk_all_accounts": 0.0,
        "guard_rails": rails,
    }
    head = health_summary.headline(
        figures, currency="USD", labels=load_params("health_score", HealthParams).tier_labels
    )
    assert head["Candidate AUC (out of time)"].startswith(health_summary.WARNING_SIGN)
    assert head["Candidate vs rules"].startswith(health_summary.WARNING_SIGN)
    assert head["Promote the candidate?"].startswith(health_summary.WARNING_SIGN + "No")
    assert "Do not promote" in health_summary.guard_rail_box(rails)


# -- on the demos -------------------------------------------------------------------------------------------------


def test_jp_demo_keeps_its_design_and_offers_usage_metrics(demo_ds) -> None:
    hp = load_params("health_score", HealthParams)
    resolved, design = resolve_params(demo_ds, hp)
    assert (resolved.observations.mode, resolved.observations.outcome_window) == ("monthly", "next_renewal")
    assert resolved.observations.term_measures is False and "alike" in design.reason
    obs = observation_grid(demo_ds.subscriptions, start=T("2025-01-01"), end=T("2025-02-01"))
    m = account_measures(demo_ds, obs)
    assert m["term_months"].between(11.9, 12.1).mean() > 0.8  # the JP demo sells annual contracts
    per_user = [c for c in m.columns if c.startswith("usage_events_") and c.endswith("_per_user")]
    assert per_user and "usage_events_total_per_seat" in m.columns
    np.testing.assert_allclose(m["usage_events_total_per_user"], m["events_per_active_user"], equal_nan=True)


def _usplg(request: pytest.FixtureRequest):
    try:
        return request.getfixturevalue("usplg_ds")
    except pytest.FixtureLookupError:
        pytest.skip("the us-plg demo fixture (usplg_ds) is not available yet")


# Documented churn drivers of the us-plg demo (docs/demo-company.md, cs_playbook/demo/usplg/vocab.py FEATURES):
# using these features lowers churn; using export_csv raises it; longer terms churn less per month.
LOWER_CHURN = ("integration_sync", "invite_teammate", "run_automation", "api_call")
RAISE_CHURN = ("export_csv",)


def test_usplg_health_beats_a_term_only_baseline_with_the_documented_signs(request: pytest.FixtureRequest) -> None:
    ds = _usplg(request)
    hp = load_params("health_score", HealthParams)
    hp = hp.model_copy(update={"calibration": hp.calibration.model_copy(update={"usage_measures": "all"})})
    hp, design = resolve_params(ds, hp)
    assert hp.observations.outcome_window == "horizon" and "mixed" in design.reason
    obs = build_observations(ds, hp)
    last = (pd.Timestamp(ds.as_of) + pd.Timedelta(days=1)).to_period("Q") - 1
    val = validation.validate(obs, hp, last_quarter=str(last))
    pooled = val.pooled()
    assert pooled["calibrated"]["auc"] > pooled["term only"]["auc"]
    assert pooled["calibrated"]["auc_lo"] > 0.5
    from cs_playbook.health.calibration import calibrate

    sc = calibrate(obs, hp, fit_before=last.end_time.normalize() + pd.Timedelta(days=1))
    w = sc.weights().set_index("measure")["coef"]  # log-odds of churn per sd
    assert w.get("term_months", -1) < 0
    checked = 0
    for feature in LOWER_CHURN + RAISE_CHURN:
        for col in (f"usage_events_{feature}_per_user", f"usage_events_{feature}_per_seat"):
            if col in w.index:
                assert (w[col] < 0) == (feature in LOWER_CHURN), col
                checked += 1
    assert checked >= 2
