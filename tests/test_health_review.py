"""Tier tables, migration, the promotion impact, drivers, the review list and the headline against hand counts
(tier codes throughout); the CSM list, the checks and the labels of params on the small demo company's quarter state;
the charts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cs_playbook.health import calibration, review, rules, validation  # noqa: E402
from cs_playbook.health import summary as health_summary  # noqa: E402
from cs_playbook.health.scorer import FittedScorer, top_drivers  # noqa: E402
from cs_playbook.i18n import messages  # noqa: E402
from cs_playbook.modeling.evaluation import calibration_curve, lift_table  # noqa: E402
from cs_playbook.modeling.scorecard import TIERS, TierLabels, TierThresholds  # noqa: E402
from cs_playbook.params import load_params  # noqa: E402
from cs_playbook.plots import health as charts  # noqa: E402

JA = TierLabels(good="良好", normal="普通", bad="要注意")


@pytest.fixture(scope="module")
def hp() -> calibration.HealthParams:
    return load_params("health_score", calibration.HealthParams)


def test_tier_table_by_hand() -> None:
    df = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "c", "d"],
            "tier": ["bad", "bad", "bad", "good", "good"],
            "churned": [1.0, 1.0, 0.0, 0.0, np.nan],  # d's outcome is unknown: left out
            "arr": [100.0, 100.0, 50.0, 400.0, 999.0],
            "arr_lost": [100.0, 100.0, 10.0, 0.0, np.nan],
        }
    )
    t = review.tier_table(df, tier_col="tier").set_index("tier")
    assert t.loc["bad", "observations"] == 3 and t.loc["bad", "accounts"] == 2
    assert t.loc["bad", "churn_rate"] == pytest.approx(2 / 3) and t.loc["bad", "share"] == 0.75
    assert t.loc["bad", "arr_lost_share"] == pytest.approx(210 / 250)
    assert t.loc["good", "churn_rate"] == 0 and list(t.index) == ["good", "bad"]


def test_current_tiers_and_migration_by_hand() -> None:
    scored = pd.DataFrame(
        {
            "account_id": ["A", "B", "D"],
            "health_tier": ["bad", "bad", "good"],
            "arr": [100.0, 300.0, 600.0],
            "churn_probability": [0.5, 0.2, 0.01],
        }
    )
    scored["arr_at_risk"] = scored["arr"] * scored["churn_probability"]
    cur = review.current_tiers(scored).set_index("tier")
    assert list(cur.index) == list(TIERS) and cur.loc["normal", "accounts"] == 0  # every tier, best first
    assert cur.loc["bad", "arr_at_risk"] == pytest.approx(50 + 60) and cur.loc["bad", "arr_share"] == pytest.approx(0.4)
    before = pd.DataFrame({"account_id": ["A", "B", "C"], "health_tier": ["good", "bad", "normal"]})
    m = review.migration_matrix(before, scored[["account_id", "health_tier"]])
    assert m.loc["good", "bad"] == 1 and m.loc["bad", "bad"] == 1
    assert m.loc["normal", review.GONE] == 1 and m.loc[review.NEW, "good"] == 1
    assert int(m.to_numpy().sum()) == 4


def _accounts(ids: list[str], tiers: list[str], arr: list[float], scores: list[float]) -> pd.DataFrame:
    """A quarter-state-like accounts table."""
    out = pd.DataFrame(
        {
            "account_id": pd.array(ids, dtype="string"),
            "account_name": [f"name {i}" for i in ids],
            "segment": "smb",
            "csm": "x",
            "arr": arr,
            "health_score": scores,
            "health_tier": pd.array(tiers, dtype="string"),
            "churn_probability": 0.1,
            "scorecard": "rules",
        }
    )
    out["arr_at_risk"] = out["arr"] * out["churn_probability"]
    return out


def test_promotion_impact_by_hand() -> None:
    """A one-measure candidate: score = 100 x seat utilization, good from 70, bad below 40."""
    from cs_playbook.modeling.scorecard import Scorecard

    class Candidate(FittedScorer):
        def score(self, measures: pd.DataFrame) -> np.ndarray:
            return 100 * measures["active_user_share"].to_numpy(dtype="float64")

        def probability(self, measures: pd.DataFrame) -> np.ndarray:
            return 1 - measures["active_user_share"].to_numpy(dtype="float64")

        def contributions(self, measures: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(index=measures.index)

    sc = Scorecard(
        outcome="churned",
        intercept=0.0,
        base_rate=0.1,
        name="candidate",
        tiers=TierThresholds(good_from=70, bad_below=40),
    )
    ids = ["a", "b", "c", "d", "e"]
    accounts = _accounts(ids, ["good", "good", "bad", "normal", "bad"], [500.0, 100.0, 300.0, 50.0, 20.0], [80] * 5)
    measures = pd.DataFrame({"account_id": ids, "active_user_share": [0.1, 0.8, 0.9, 0.5, 0.2]})
    impact = review.promotion_impact(accounts, measures, Candidate(sc))
    # in use -> candidate: a good -> bad, b good -> good, c bad -> good, d normal -> normal, e bad -> bad
    assert impact.matrix.loc["good", "bad"] == 1 and impact.matrix.loc["bad", "good"] == 1
    assert int(np.trace(impact.matrix.to_numpy())) == 3 and int(impact.matrix.to_numpy().sum()) == 5
    assert impact.arr_matrix.loc["good", "bad"] == 500.0 and impact.arr_matrix.loc["bad", "good"] == 300.0
    assert list(impact.matrix.index) == list(TIERS) and list(impact.matrix.columns) == list(TIERS)
    assert impact.consequential["account_id"].tolist() == ["a", "c"]  # jumps across the middle tier, largest ARR first
    f = impact.figures
    assert (f["accounts_changing_tier"], f["arr_changing_tier"]) == (2, 800.0)
    assert f["good_to_bad"] == {"accounts": 1, "arr": 500.0} and f["bad_to_good"] == {"accounts": 1, "arr": 300.0}
    assert (f["accounts_worse"], f["accounts_better"]) == (1, 1) and f["candidate_tiers"] == {
        "good": 2,
        "normal": 1,
        "bad": 2,
    }
    assert impact.in_use == "rules" and impact.candidate == "candidate"
    assert f["arr_at_risk_all_accounts_candidate"] == pytest.approx(
        500 * 0.9 + 100 * 0.2 + 300 * 0.1 + 50 * 0.5 + 20 * 0.8
    )


def test_top_drivers_by_size_either_way() -> None:
    contrib = pd.DataFrame({"nps_score": [-8.0, 1.0], "champion": [2.0, -0.5], "tickets": [3.0, 0.0]})
    measures = pd.DataFrame({"nps_score": [3.0, 9.0], "champion": [1.0, 0.0], "tickets": [7.0, 0.0]})
    d = top_drivers(contrib, measures)
    assert d.loc[0, ["driver_1", "driver_2", "driver_3"]].tolist() == [
        "Latest NPS",
        "Support tickets (90 days)",
        "Champion",
    ]
    assert d.loc[0, "driver_1_points"] == -8.0 and d.loc[0, "driver_1_value"] == 3.0
    assert d.loc[1, "driver_1"] == "Latest NPS" and d.loc[1, "driver_2_points"] == -0.5


def test_rules_table_says_the_bands_in_words(hp) -> None:
    t = rules.rules_table(hp.rules_scorecard)
    assert list(t.columns) == ["measure", "weight", "points by value", "missing"]
    assert len(t) == len(hp.rules_scorecard.measures) and t.loc[0, "measure"] == "Seat utilization"
    assert t.loc[0, "points by value"].startswith(">= 0.6: 100; 0.4 to 0.6: 75")


def test_disagreements_by_hand(hp) -> None:
    ids = ["good_risky", "good_quiet", "bad_healthy", "bad_mixed"]
    now = pd.DataFrame(
        {
            "account_id": ids,
            "nps_score": [4.0, 8.0, 10.0, 10.0],  # a detractor among the GOOD
            "champion": [1.0, 1.0, 1.0, 1.0],
            "champion_lost": [0.0, 0.0, 0.0, 1.0],  # a lost champion is a risk signal
            "exec_access": [1.0, 0.0, 1.0, 1.0],
            "days_to_renewal": [200.0, 30.0, 300.0, 300.0],
            "renewal_steps": [0.0, 2.0, 0.0, 0.0],
            "has_csm": [1.0, 1.0, 1.0, 1.0],
            **{
                f"bantc_{d}_risk": [0.0, 0.0, 0.0, 0.0]
                for d in ("budget", "authority", "need", "timeframe", "competitor")
            },
            "bantc_risk_count": [0.0, 0.0, 0.0, 0.0],
        }
    )
    scored = pd.DataFrame(
        {
            "account_id": ids,
            "account_name": ids,
            "csm": "x",
            "health_score": [80.0, 75.0, 20.0, 25.0],
            "health_tier": ["good", "good", "bad", "bad"],
            "arr": [1.0, 2.0, 3.0, 4.0],
        }
    )
    r = review.disagreements(scored, now, hp.review).set_index("account_id")
    assert list(r.index) == ["bad_healthy", "good_risky"]
    assert r["disagreement"].tolist() == ["healthy signals", "risk signals"] and set(r["health_tier"]) == {
        "good",
        "bad",
    }
    assert r.loc["good_risky", "signals"] == "NPS detractor"
    assert r.loc["bad_healthy", "signals"] == "NPS promoter; champion engaged; executive access; BANTC all clear"


def test_comparison_sentence_says_how_sure() -> None:
    better = {"auc_a": 0.8, "auc_b": 0.75, "diff": 0.05, "lo": 0.01, "hi": 0.09, "share_a_better": 0.99}
    assert review.comparison_sentence(better).startswith("The calibrated score predicts churn better")
    assert "99% of the resamples" in review.comparison_sentence(better)
    unclear = better | {"lo": -0.01}
    assert review.comparison_sentence(unclear).startswith("No clear difference")
    assert "not enough" in review.comparison_sentence({"diff": np.nan})


def test_observation_summary_by_hand() -> None:
    obs = pd.DataFrame(
        {
            "account_id": ["a", "b", "a", "b"],
            "obs_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-04-01", "2025-04-01"]),
            "churned": [1.0, 0.0, np.nan, np.nan],
        }
    )
    s = review.observation_summary(obs, fit_before=pd.Timestamp("2025-04-01")).set_index("quarter")
    assert s.loc["2025Q1", "churn_rate"] == 0.5 and bool(s.loc["2025Q1", "used_for_fit"])
    assert s.loc["2025Q2", "outcome_known"] == 0 and not s.loc["2025Q2", "used_for_fit"]


def test_csm_list_is_the_quarter_state(quarter_state) -> None:
    accounts = quarter_state.accounts
    scored = review.scored_accounts(accounts)
    assert len(scored) == len(accounts) and scored["account_name"].notna().all()
    assert scored["arr_at_risk"].is_monotonic_decreasing and set(scored["scorecard"]) == {quarter_state.scorecard}
    same = scored.set_index("account_id")["health_tier"].sort_index()
    assert same.equals(accounts.set_index("account_id")["health_tier"].sort_index())
    assert (scored[["driver_1_points", "driver_2_points", "driver_3_points"]] <= 0).all().all()  # rules: points lost
    cur = review.current_tiers(accounts)
    assert cur["arr_at_risk"].sum() == pytest.approx(accounts["arr_at_risk"].sum())
    assert cur["accounts"].sum() == len(accounts)


@pytest.fixture(scope="module")
def demo_run(demo_ds, quarter_state, hp) -> dict:
    """The notebook's calls on the small demo: the candidate, the migration and the promotion impact."""
    state = quarter_state
    obs = calibration.build_observations(demo_ds, hp, cutoff=state.as_of)
    now = calibration.measures_on(demo_ds, hp, day=state.as_of)
    sc = calibration.calibrate(obs, hp, fit_before=state.quarter_start, current=now)
    before = calibration.measures_on(demo_ds, hp, day=state.quarter_start - pd.Timedelta(days=1))
    return {
        "obs": obs,
        "now": now,
        "candidate": sc,
        "moves": review.tier_migration(before, state.accounts, state.scorer),
        "impact": review.promotion_impact(state.accounts, now, sc, in_use=state.scorecard),
    }


def test_migration_and_promotion_use_the_scorer_in_use(quarter_state, demo_run) -> None:
    accounts, moves, impact = quarter_state.accounts, demo_run["moves"], demo_run["impact"]
    assert int(moves.matrix.drop(columns=review.GONE).to_numpy().sum()) == len(accounts)
    # today's column totals are the tiers in use, not the candidate's
    now_counts = moves.matrix.drop(columns=review.GONE).sum().reindex(list(TIERS))
    assert now_counts.tolist() == [int((accounts["health_tier"] == t).sum()) for t in TIERS]
    assert (moves.fell["health_tier_before"] == "good").all() and (moves.fell["health_tier"] == "bad").all()
    assert impact.matrix.sum(axis=1).tolist() == now_counts.tolist()
    cand = FittedScorer(demo_run["candidate"]).tier(demo_run["now"])
    assert impact.matrix.sum(axis=0).tolist() == [int((cand == t).sum()) for t in TIERS]
    assert impact.figures["arr_changing_tier"] == pytest.approx(
        impact.arr_matrix.to_numpy().sum() - np.trace(impact.arr_matrix.to_numpy())
    )


@pytest.mark.parametrize("labels", [TierLabels(), JA], ids=["english", "japanese"])
def test_export_summary_and_checks_show_the_labels_of_params(
    quarter_state, demo_run, hp, labels: TierLabels, tmp_path
) -> None:
    """The same codes whatever the labels; the export, the tables shown and the headline carry the words of params."""
    from cs_playbook.notebook import TIER_COLUMNS
    from cs_playbook.outputs import Outputs

    state = quarter_state
    scored = review.scored_accounts(state.accounts)
    assert set(scored["health_tier"]) <= set(TIERS)
    shown = scored.copy()
    for col in TIER_COLUMNS:  # what ctx.export does
        if col in shown.columns:
            shown[col] = labels.apply(shown[col].astype("string"))
    path = Outputs(tmp_path).table(shown, "health_scores", xlsx=False)
    exported = pd.read_csv(path, dtype={"account_id": str}, encoding="utf-8-sig")
    assert set(exported["health_tier"]) <= set(labels.order())
    assert set(exported["health_tier"]) == {labels.label(t) for t in set(state.accounts["health_tier"])}
    obs = demo_run["obs"]
    fit = validation.fit_window(obs, fit_before=state.quarter_start)
    val = validation.Validation(predictions=pd.DataFrame())
    current = review.current_tiers(state.accounts)
    disagree = review.disagreements(scored, demo_run["now"], hp.review)
    assert set(disagree["health_tier"]) <= {"good", "bad"}
    checks = health_summary.consistency_checks(
        accounts=state.accounts,
        exported=exported,
        labels=labels,
        scorecard_in_use=state.scorecard,
        current=current,
        migration=demo_run["moves"].matrix,
        impact=demo_run["impact"],
        candidate=demo_run["candidate"],
        fit_before=state.quarter_start,
    )
    assert all(checks.values()), checks
    wrong = health_summary.consistency_checks(
        accounts=state.accounts,
        exported=exported,
        labels=JA if labels == TierLabels() else TierLabels(),
        scorecard_in_use=state.scorecard,
        current=current,
        migration=demo_run["moves"].matrix,
        impact=demo_run["impact"],
        candidate=demo_run["candidate"],
        fit_before=state.quarter_start,
    )
    assert not wrong["export_tiers_are_the_tiers_in_use"]
    figures = health_summary.summary_figures(
        observations=obs,
        fit=fit,
        validation=val,
        current=current,
        candidate=demo_run["candidate"],
        scorecard_in_use=state.scorecard,
        impact=demo_run["impact"],
        disagreement_count=len(disagree),
    )
    assert figures["scorecard_in_use"] == state.scorecard and figures["candidate_scorecard"] == "calibrated"
    assert set(figures["current_tiers"]) == set(TIERS)
    assert figures["arr_at_risk_all_accounts"] == pytest.approx(state.accounts["arr_at_risk"].sum())
    head = health_summary.headline(figures, currency="JPY", labels=labels)
    assert head["Scorecard in use"] == state.scorecard and "ARR at risk, all accounts" in head
    figures["tier_churn_rate_out_of_time"] = {"calibrated": {"good": 0.02, "normal": 0.1, "bad": 0.4}}
    head = health_summary.headline(figures, currency="JPY", labels=labels)
    assert head[f"Churn {labels.bad} vs {labels.good} (candidate)"] == "40% vs 2%"


def test_charts_draw_the_numbers_they_are_given(rng) -> None:
    from cs_playbook.plots import use_style

    use_style()  # a Japanese-capable font for the labels
    y = (rng.random(400) < 0.2).astype(float)
    p = np.clip(0.1 + 0.3 * y + rng.normal(scale=0.1, size=400), 0.01, 0.99)
    curves = calibration_curve(y, p).assign(model="calibrated")
    ax = charts.calibration_plot(curves, ece={"calibrated": 0.012})
    assert "Candidate (calibrated) 1.2%" in ax.get_title()
    lifts = lift_table(y, p).assign(model="calibrated")
    ax = charts.lift_bars(lifts)
    assert f"{lifts['lift'].iloc[0]:.1f}x" in ax.get_title()
    summary = pd.DataFrame(
        {
            "fold": ["2026Q1", "all"],
            "model": ["calibrated", "calibrated"],
            "auc": [0.8, 0.78],
            "auc_lo": [0.7, 0.7],
            "auc_hi": [0.9, 0.85],
        }
    )
    assert "Candidate (calibrated) 0.78" in charts.fold_auc(summary).get_title()
    assert "候補（較正） 0.78" in charts.fold_auc(summary, msg=messages("ja")).get_title()
    table = pd.DataFrame({"model": ["calibrated"] * 3, "tier": list(TIERS), "churn_rate": [0.02, 0.1, 0.3]})
    ax = charts.tier_churn_bars(table, labels=JA)
    assert ax.get_title() == "Candidate (calibrated): 要注意 churns 15.0x as often as 良好 (out of time)"
    ax = charts.tier_churn_bars(table, labels=JA, msg=messages("ja"))
    assert ax.get_title() == "候補（較正）: 要注意は良好の15.0倍解約（期間外）"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == JA.order()
    m = pd.DataFrame([[5, 1], [2, 7]], index=["good", "bad"], columns=["good", "bad"])
    ax = charts.migration_heatmap(m, before="Q2", after="Q3", labels=JA)
    assert ax.get_title().startswith("3 accounts changed tier")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["良好", "要注意"]
    scored = pd.DataFrame({"health_score": [10.0, 50.0, 90.0], "health_tier": ["bad", "normal", "good"]})
    thresholds = TierThresholds(good_from=70, bad_below=40)
    assert (
        charts.score_histogram(scored, thresholds=thresholds, labels=JA).get_title()
        == "1 良好, 1 普通, 1 要注意 accounts today"
    )
    matrix = pd.DataFrame([[3, 1, 0], [0, 2, 0], [1, 0, 4]], index=list(TIERS), columns=list(TIERS))
    ax = charts.promotion_heatmap(
        matrix, matrix * 100.0, in_use="rules", candidate="calibrated", currency="JPY", labels=TierLabels()
    )
    assert ax.get_title() == "Promoting calibrated would move 2 accounts (¥200 ARR)"
    plt.close("all")


def test_decision_box_figures_changes_and_named_actions() -> None:
    def acc(rows: list[tuple]) -> pd.DataFrame:
        cols = ["account_id", "account_name", "csm", "arr", "health_tier", "churn_probability", "arr_at_risk"]
        cols += ["next_renewal", "driver_1"]
        return pd.DataFrame(rows, columns=cols)

    now = acc(
        [
            ("A", "Alpha", "佐藤", 1_000_000.0, "bad", 0.4, 400_000.0, pd.Timestamp("2026-10-10"), "Seat utilization"),
            ("B", "Beta", "", 3_000_000.0, "bad", 0.3, 900_000.0, pd.NaT, "Latest NPS"),
            ("C", "Gamma", "鈴木", 5_000_000.0, "good", 0.02, 100_000.0, pd.NaT, "Champion"),
        ]
    )
    before = acc([("A", "Alpha", "佐藤", 1_000_000.0, "bad", 0.3, 300_000.0, pd.NaT, None)])
    fell = pd.DataFrame({"account_id": ["B"], "arr": [3_000_000.0]})
    figures = {
        "comparison": {"diff": 0.004, "lo": -0.02, "hi": 0.03},
        "out_of_time": {"calibrated": {"auc": 0.86, "auc_lo": 0.8, "auc_hi": 0.9}, "rules": {"auc": 0.856}},
    }
    rails = {"do_not_promote": True, "reason_codes": ["not_better"]}
    box = health_summary.decision_figures(
        now, before, fell=fell, figures=figures, rails=rails, labels=JA, currency="JPY", lang="ja"
    )
    assert [f["value"] for f in box] == [
        "140万円",
        "2社・400万円",
        "1社・300万円",
        "0.860 / 0.856",
        "昇格しない（現行を継続）",
    ]
    assert box[0]["change"] == "▲ +110万円" and box[0]["direction"] == "bad"  # ARR at risk rose by 1.1M yen
    assert box[1]["label"] == "要注意のアカウント" and box[1]["change"] == "▲ +1"
    assert "0を含む" in box[-1]["change"] and box[-1]["direction"] == "neutral"
    first = health_summary.decision_figures(
        now, None, fell=fell, figures=figures, rails=rails, labels=JA, currency="JPY"
    )
    assert first[0]["change"] is None and first[0]["direction"] is None  # no previous quarter, no change
    promoted = health_summary.verdict({"do_not_promote": False, "reason_codes": []}, figures, lang="en")
    assert promoted[0] and promoted[1].startswith("Out of time it beats the rules score (AUC difference +0.004")
    actions = health_summary.bad_actions(now, as_of=pd.Timestamp("2026-09-30"), currency="JPY", lang="ja")
    assert list(actions["account_name"]) == ["Beta", "Alpha"]  # bad tier only, largest ARR first
    assert list(actions["csm"]) == ["担当なし", "佐藤"]
    # due in 30 days, or by the renewal when it comes sooner
    assert list(actions["deadline"]) == [pd.Timestamp("2026-10-30"), pd.Timestamp("2026-10-10")]
    assert actions["action"].iloc[0] == "最新NPSが低い理由を確認し、改善プランを顧客と合意する"
    assert actions["action"].iloc[1].startswith("更新日 2026/10/10 の前にシート利用率")


def test_disagreement_signals_and_weights_in_the_report_language() -> None:
    disagree = pd.DataFrame(
        {"disagreement": ["risk signals"], "signals": ["champion lost; BANTC budget risk"], "arr": [1.0]}
    )
    shown = health_summary.signals_text(disagree, messages("ja"))
    assert (
        shown.loc[0, "disagreement"] == "リスクシグナルあり"
        and shown.loc[0, "signals"] == "チャンピオン喪失、BANTC予算リスク"
    )
    weights = pd.DataFrame(
        {
            "label": ["Seat utilization"],
            "term": ["active_user_share"],
            "coef": [-0.51234],
            "ci_lo": [-0.7],
            "ci_hi": [-0.3],
            "odds_ratio": [0.599],
            "points_per_sd": [7.44],
            "p_value": [1e-100],
        }
    )
    rows = health_summary.weight_rows(weights, messages("ja"))
    assert rows.iloc[0][["measure", "coef", "odds_ratio", "points_per_sd"]].tolist() == [
        "シート利用率",
        "-0.512",
        "0.60",
        "+7.4",
    ]
