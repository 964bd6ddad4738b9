"""Health score: tiers by hand; current risk and promotion on the demo company; the notebook on degenerate data;
and, on a medium demo company, the calibrated score recovers the generator's documented drivers and beats today's
rules scorecard out of time."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cs_playbook.cli import main
from cs_playbook.config import PARAMS_DIR
from cs_playbook.errors import CsPlaybookError
from cs_playbook.health.calibration import (
    HealthParams,
    TierRule,
    backtest,
    build_observations,
    calibrate,
    choose_tiers,
    measures_on,
    observations_and_measures,
    risk_as_of,
)
from cs_playbook.health.scorer import (
    PROMOTED_FILE,
    TIERS,
    promote_scorecard,
    promoted_scorecard,
    score_accounts,
    scorer_in_use,
)
from cs_playbook.modeling.evaluation import compare_auc
from cs_playbook.modeling.logistic import Scorecard
from cs_playbook.modeling.scorecard import MeasureScaling, Term, TierThresholds
from cs_playbook.params import load_params

T = pd.Timestamp


# -- tiers --------------------------------------------------------------------------------------------------------


def test_tiers_by_target_churn_and_by_capacity() -> None:
    scores = np.arange(10, 101, 10, dtype=float)  # 10 .. 100
    churned = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    rule = TierRule(rule="target_churn", bad_min_churn_rate=0.7, good_max_churn_rate=0.05)
    tiers, notes = choose_tiers(scores, churned, rule)
    # lowest four churn 3/4 >= 70% (five: 3/5 < 70%): bad below 50; top three never churned, the fourth (70) did
    assert (tiers.bad_below, tiers.good_from, notes) == (50.0, 80.0, [])
    assert not {"GOOD", "NORMAL", "BAD"} & set(tiers.rule.split())  # words, not labels: labels are for rendering
    cap = TierRule(rule="capacity", bad_capacity_accounts=2, good_share=0.4)
    tiers, _ = choose_tiers(scores, churned, cap, current_scores=np.array([5, 15, 25, 35, 45.0]))
    assert tiers.bad_below == 25.0  # exactly two current accounts below it
    assert tiers.good_from == pytest.approx(np.quantile([5, 15, 25, 35, 45.0], 0.6))


# -- risk on a day and promotion on the small demo -----------------------------------------------------------------


@pytest.fixture
def params_copy(tmp_path: Path) -> Path:
    for f in PARAMS_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / PROMOTED_FILE).unlink(missing_ok=True)
    return tmp_path


def _risk(ds, params_dir: Path, day: pd.Timestamp) -> pd.DataFrame:
    hp = load_params("health_score", HealthParams, directory=params_dir)
    return risk_as_of(ds, hp, promoted=promoted_scorecard(params_dir), day=day)[1]


def test_risk_with_the_rules_scorecard_gives_tier_codes_whatever_the_labels(demo_ds, params_copy: Path) -> None:
    day = T("2026-09-30")
    plain = _risk(demo_ds, params_copy, day)
    text = (params_copy / "health_score.yaml").read_text(encoding="utf-8")
    text = (
        text.replace("good: GOOD", "good: 良好")
        .replace("normal: NORMAL", "normal: 普通")
        .replace("bad: BAD", "bad: 要注意")
    )
    (params_copy / "health_score.yaml").write_text(text, encoding="utf-8")
    risk = _risk(demo_ds, params_copy, day)
    subs = demo_ds.subscriptions
    active = subs[(subs["start_date"] <= day) & (subs["end_date"].isna() | (subs["end_date"] >= day))]
    assert sorted(risk["account_id"]) == sorted(active["account_id"].unique())
    assert risk["health_score"].between(0, 100).all() and risk["churn_probability"].between(0, 1).all()
    assert set(risk["health_tier"]) == set(TIERS) and set(risk["scorecard"]) == {"rules"}
    assert risk["health_tier"].equals(plain["health_tier"])  # the labels change nothing but the words shown
    # a real probability: lower score, higher churn probability
    assert np.corrcoef(risk["health_score"], risk["churn_probability"])[0, 1] < -0.9
    earlier = _risk(demo_ds, params_copy, T("2025-06-30"))
    assert len(earlier) != len(risk) or not earlier["health_score"].equals(risk["health_score"])


@pytest.mark.parametrize("mode", ["monthly", "renewal_lead"])
def test_observations_and_measures_in_one_pass_equal_the_calls_apart(demo_ds, mode: str) -> None:
    """One account_measures pass for the history and the days gives the rows of one call each, and so the same risk."""
    hp = load_params("health_score", HealthParams)
    hp = hp.model_copy(update={"observations": hp.observations.model_copy(update={"mode": mode})})
    day, before, never = T("2026-06-30"), T("2026-03-31"), T("2001-01-01")  # nobody was a customer in 2001
    history, (now, then, nobody) = observations_and_measures(demo_ds, hp, cutoff=day, days=[day, before, never])
    pd.testing.assert_frame_equal(history, build_observations(demo_ds, hp, cutoff=day), check_exact=True)
    for got, d in ((now, day), (then, before), (nobody, never)):
        pd.testing.assert_frame_equal(got, measures_on(demo_ds, hp, day=d), check_exact=True)
    assert len(nobody) == 0 and len(now) > 0
    scorer, risk = risk_as_of(demo_ds, hp, promoted=None, day=day)
    alone = scorer_in_use(hp.rules_scorecard, promoted=None, history=history)
    assert (scorer.intercept, scorer.slope) == (alone.intercept, alone.slope)
    want = score_accounts(now, alone).assign(arr=now["arr"].to_numpy(dtype="float64"))
    pd.testing.assert_frame_equal(risk, want.sort_values("account_id").reset_index(drop=True), check_exact=True)


def test_promoted_scorecard_is_used_and_can_be_reverted(demo_ds, params_copy: Path, tmp_path_factory, capsys) -> None:
    params = load_params("health_score", HealthParams, directory=params_copy)
    obs = build_observations(demo_ds, params, cutoff=T("2026-06-30"))
    sc = calibrate(obs, params, fit_before=T("2026-04-01"), name="calibrated 2026Q2")
    assert sc.tiers is not None and sc.fitting["last_observation"] < "2026-04-01"
    src = tmp_path_factory.mktemp("report") / "health_scorecard.yaml"
    src.write_text(yaml.safe_dump(sc.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    assert main(["promote-scorecard", str(src), "--params", str(params_copy)]) == 0
    assert "calibrated 2026Q2" in capsys.readouterr().out
    risk = _risk(demo_ds, params_copy, T("2026-09-30"))
    assert set(risk["scorecard"]) == {"calibrated 2026Q2"}
    assert risk["health_score"].between(0, 100).all() and set(risk["health_tier"]) <= set(TIERS)
    assert main(["promote-scorecard", "--revert", "--params", str(params_copy)]) == 0
    assert not (params_copy / PROMOTED_FILE).exists()
    assert set(_risk(demo_ds, params_copy, T("2026-09-30"))["scorecard"]) == {"rules"}


def test_a_base_rate_scorecard_cannot_be_promoted(params_copy: Path, tmp_path: Path) -> None:
    sc = Scorecard(outcome="churned", intercept=-2.0, base_rate=0.12, fallback="too few events")
    src = tmp_path / "sc.yaml"
    src.write_text(yaml.safe_dump(sc.model_dump(mode="json")), encoding="utf-8")
    with pytest.raises(CsPlaybookError, match="cannot be promoted"):
        promote_scorecard(src, params_copy)
    assert main(["promote-scorecard", str(tmp_path / "missing.yaml"), "--params", str(params_copy)]) == 2


def test_a_scorecard_its_validation_flags_is_refused_unless_forced(params_copy: Path, tmp_path: Path, capsys) -> None:
    sc = Scorecard(
        outcome="churned",
        intercept=-2.0,
        base_rate=0.12,
        terms=[Term(name="x", inputs=["x"], directions=[1], coef=0.5)],
        inputs=[MeasureScaling(measure="x")],
        tiers=TierThresholds(good_from=70, bad_below=40),
        validation={"guard_rails": {"do_not_promote": True, "reasons": ["not better than the rules score"]}},
    )
    src = tmp_path / "sc.yaml"
    src.write_text(yaml.safe_dump(sc.model_dump(mode="json")), encoding="utf-8")
    assert main(["promote-scorecard", str(src), "--params", str(params_copy)]) == 2
    assert "not better than the rules score" in capsys.readouterr().err
    assert not (params_copy / PROMOTED_FILE).exists()
    assert main(["promote-scorecard", str(src), "--params", str(params_copy), "--force"]) == 0
    assert (params_copy / PROMOTED_FILE).exists()


# -- the medium demo company: documented drivers and the comparison with today's score -----------------------------

# Direction of each measure on churn documented in docs/demo-company.md ("The hidden health and what it drives").
DOCUMENTED = {
    "active_user_share": -1,
    "events_per_seat": -1,
    "events_per_active_user": -1,
    "feature_breadth": -1,
    "usage_trend_1m": -1,
    "usage_trend_3m": -1,
    "days_since_last_activity": 1,
    "tickets": 1,
    "severe_ticket_share": 1,
    "nps_score": -1,
    "touchpoints": -1,
    "champion": -1,
    "exec_access": -1,
    "bantc_need_risk": 1,
    "bantc_authority_risk": 1,
    "bantc_budget_risk": 1,
    "bantc_competitor_risk": 1,
    "tenure_days": -1,
}


@pytest.fixture(scope="module")
def medium(medium_demo_ds) -> dict:
    ds = medium_demo_ds
    params = load_params("health_score", HealthParams)
    obs = build_observations(ds, params, cutoff=T("2026-09-30"))
    sc = calibrate(obs, params, fit_before=T("2026-07-01"))
    preds = backtest(obs, params, last_quarter="2026Q3")
    return {"obs": obs, "scorecard": sc, "backtest": preds, "params": params}


def test_fitted_measures_agree_in_sign_with_the_documented_drivers(medium) -> None:
    sc: Scorecard = medium["scorecard"]
    assert sc.fallback is None
    w = sc.weights()
    numeric = w[w["measure"] != "segment"]
    fitted = set(numeric["measure"])
    assert {"active_user_share", "nps_score", "champion", "exec_access", "bantc_need_risk", "tickets"} <= fitted
    for row in numeric.itertuples():
        if row.measure in DOCUMENTED:
            assert np.sign(row.coef) == DOCUMENTED[row.measure], (row.measure, row.coef)
    # segment weights are against the most frequent level (smb): documented enterprise - smb = -0.95, mid - smb = -0.35
    seg = w[w["measure"] == "segment"].set_index("input")["coef"]
    assert set(seg.index) == {"segment=enterprise", "segment=mid_market"} and (seg < 0).all()


def test_calibrated_score_beats_the_rules_scorecard_out_of_time(medium) -> None:
    preds = medium["backtest"]
    assert preds["fold"].nunique() == medium["params"].backtest.test_quarters
    assert not preds["calibrated_fallback"].any()
    c = compare_auc(
        preds["churned"],
        preds["calibrated_probability"],
        preds["rules_probability"],
        groups=preds["account_id"],
        n_boot=300,
    )
    assert c["auc_a"] > c["auc_b"] and c["share_a_better"] > 0.9, c


# -- the notebook on degenerate data ---------------------------------------------------------------------------


def test_notebook_warns_and_falls_back_without_optional_tables_and_with_few_churns(demo_ds, tmp_path: Path) -> None:
    """Only accounts and subscriptions of 25 accounts: no usage or CRM measures, too few churns to fit."""
    import json

    from cs_playbook.config import NOTEBOOKS_DIR
    from cs_playbook.i18n import messages
    from cs_playbook.runner.run import run_report

    data = tmp_path / "crm"
    data.mkdir()
    keep = demo_ds.accounts["account_id"].head(25)
    demo_ds.accounts[demo_ds.accounts["account_id"].isin(keep)].to_csv(data / "accounts.csv", index=False)
    subs = demo_ds.subscriptions[demo_ds.subscriptions["account_id"].isin(keep)]
    subs.to_csv(data / "subscriptions.csv", index=False, date_format="%Y-%m-%d")
    run = run_report(
        None,
        data_source=str(data),
        reports_dir=tmp_path / "reports",
        notebooks_dir=NOTEBOOKS_DIR,
        only=["01_health_score_calibration"],
        progress=False,
    )
    assert run.ok, [(nb.error, nb.failed_source) for nb in run.notebooks]
    summary = json.loads((run.path / "01_health_score_calibration" / "summary.json").read_text(encoding="utf-8"))
    warnings = " ".join(summary["warnings"])
    msg = messages(summary["lang"])
    for table in ("events", "bantc"):  # each absent optional table is named in the report's language
        part = msg.t("health.optional.usage") if table == "events" else msg.t("health.optional.table", table=table)
        assert msg.t("common.skipped", part=part, tables=table) in warnings
    assert "falls back to the base rate" in warnings  # the fit's reason, quoted in the page's warning
    in_use = messages(summary["lang"]).t("health.candidate.fallback", reason="", in_use="rules").split("rules")[-1]
    assert in_use.strip() and in_use in warnings  # "... rules, stays in use." in the report's language
    figures = summary["figures"]
    assert figures["calibrated_fallback"] is not None and figures["promotion_impact"] is None
    assert figures["scorecard_in_use"] == "rules" and figures["candidate_scorecard"]
    scores = pd.read_csv(run.path / "01_health_score_calibration" / "health_scores.csv", encoding="utf-8-sig")
    assert len(scores) and set(scores["scorecard"]) == {"rules"}
