"""PoC tracking: criteria from events against hand counts, projections, status and verdict rules, contract rules."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cs_playbook.cli import main
from cs_playbook.data.io import load_dataset
from cs_playbook.errors import DataContractError, ParamsError
from cs_playbook.params import load_params
from cs_playbook.poc.criteria import PocParams, StatusRules, check_poc_tables, is_event_metric, pocs_as_of
from cs_playbook.poc.portfolio import (
    closed_history,
    conversion_summary,
    level_probability,
    rank_candidates,
    similar_accounts,
)
from cs_playbook.poc.report import PlannedRankings, open_criteria, poc_card, rank_planned, track_pocs
from cs_playbook.poc.summary import consistency_checks, headline, summary_figures
from cs_playbook.poc.tracking import (
    criterion_status,
    next_actions,
    poc_verdicts,
    project_criterion,
    projection_paths,
    track_criteria,
    verdict_of,
)
from cs_playbook.poc.usage import criterion_series, poc_windows

RULES = StatusRules()
T = pd.Timestamp


@pytest.fixture(scope="module")
def params() -> PocParams:
    return load_params("poc", PocParams)


# ------------------------------------------------------------------------------------------------
# Criteria computed from events, against a hand count


@pytest.fixture
def events() -> ibis.Table:
    rows = [
        # week 1 of P1 (2024-03-01 .. 03-07)
        ("A", "u1", "2024-03-01 09:00", "login"),
        ("A", "u1", "2024-03-01 09:10", "create_report"),
        ("A", "u1", "2024-03-02 10:00", "create_report"),
        ("A", "u3", "2024-03-07 23:59", "create_report"),
        ("A", "u4", "2024-03-03 10:00", "create_report"),  # 経理部: not in scope
        ("B", "u5", "2024-03-03 10:00", "create_report"),  # another account's 営業部
        ("A", "u1", "2024-02-29 10:00", "create_report"),  # before the start
        # week 2 (03-08 .. 03-14)
        ("A", "u2", "2024-03-08 00:00", "login"),
        ("A", "u6", "2024-03-09 12:00", "login"),
        ("A", "u6", "2024-03-09 12:05", "create_report"),
        # week 3 (03-15 .. 03-21): nobody in scope
        ("A", "u4", "2024-03-16 10:00", "login"),
        # after as_of (2024-03-21): ignored
        ("A", "u1", "2024-03-22 10:00", "login"),
    ]
    df = pd.DataFrame(rows, columns=["account_id", "user_id", "event_time", "event_type"])
    df["event_time"] = pd.to_datetime(df["event_time"])
    con = duckdb.connect()
    con.register("ev", df)
    return ibis.duckdb.from_connection(con).table("ev")


@pytest.fixture
def users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5", "u6"],
            "account_id": ["A", "A", "A", "A", "B", "A"],
            "department": ["営業部", "営業部", "人事部", "経理部", "営業部", "営業部"],
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-01", None, "2024-01-01", "2024-01-01", "2024-03-08"]),
        }
    )


def poc_frame(**overrides) -> pd.DataFrame:
    base = {
        "poc_id": ["P1"],
        "account_id": ["A"],
        "name": ["営業部・人事部 PoC"],
        "objective": ["定着"],
        "start_date": [T("2024-03-01")],
        "end_date": [T("2024-04-25")],
        "scope": ["営業部; 人事部"],
        "arr_at_stake": [1_000_000.0],
        "outcome": ["open"],
        "decided_at": [pd.NaT],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def criteria_frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["poc_id", "criterion_id", "description", "metric", "comparator", "target", "must_have", "weight", "source"]
    return pd.DataFrame(rows, columns=cols)


def test_criteria_from_events_equal_a_hand_count(events, users) -> None:
    crit = criteria_frame(
        [
            ("P1", "C1", "share", "active_user_share", ">=", 0.6, True, 3.0, "events"),
            ("P1", "C2", "reports", "events_per_active_user:create_report", ">=", 1.0, False, 2.0, "events"),
            ("P1", "C3", "active", "active_users", ">=", 2.0, False, 1.0, "events"),
            ("P1", "C4", "report share", "active_user_share:create_report", ">=", 0.5, False, 1.0, "events"),
            ("P1", "C5", "report count", "events:create_report", ">=", 3.0, False, 1.0, "events"),
        ]
    )
    s = criterion_series(poc_frame(), crit, as_of=T("2024-03-21"), events=events, users=users)
    v = s.pivot(index="period_end", columns="criterion_id", values="value")
    assert list(v.index) == [T("2024-03-07"), T("2024-03-14"), T("2024-03-21")]
    # week 1: scope u1, u2, u3 (u6 invited on 03-08); active u1, u3; reports u1 x2, u3 x1
    assert v.loc[T("2024-03-07")].tolist() == pytest.approx([2 / 3, 3 / 2, 2, 2 / 3, 3])
    # week 2: scope u1, u2, u3, u6; active u2, u6; one report by u6
    assert v.loc[T("2024-03-14")].tolist() == pytest.approx([2 / 4, 1 / 2, 2, 1 / 4, 1])
    # week 3: nobody in scope active: share 0, reports per active user 0 (not undefined)
    assert v.loc[T("2024-03-21")].tolist() == pytest.approx([0, 0, 0, 0, 0])
    sizes = s[s["criterion_id"] == "C1"].set_index("period_end")
    assert sizes["scope_users"].tolist() == [3, 4, 4] and sizes["users_active"].tolist() == [2, 2, 0]
    assert s["week"].drop_duplicates().tolist() == [1.0, 2.0, 3.0]


def test_windows_stop_at_the_end_date_or_as_of() -> None:
    p = poc_frame(end_date=[T("2024-03-20")])
    assert poc_windows(p, T("2024-12-31"))["period_end"].tolist() == [T("2024-03-07"), T("2024-03-14")]
    assert poc_windows(p, T("2024-03-13"))["period_end"].tolist() == [T("2024-03-07")]
    assert poc_windows(p, T("2024-03-05")).empty


def test_manual_measurements_up_to_as_of() -> None:
    crit = criteria_frame([("P1", "C4", "hours saved", "time_saved_hours", ">=", 3.0, False, 2.0, "manual")])
    meas = pd.DataFrame(
        {
            "poc_id": ["P1"] * 3,
            "criterion_id": ["C4"] * 3,
            "measured_at": pd.to_datetime(["2024-03-08", "2024-03-15", "2024-03-22"]),
            "value": [1.0, 2.0, 9.0],
        }
    )
    s = criterion_series(poc_frame(), crit, as_of=T("2024-03-21"), measurements=meas)
    assert s["value"].tolist() == [1.0, 2.0] and s["week"].tolist() == pytest.approx([8 / 7, 15 / 7])


def test_metric_names() -> None:
    assert is_event_metric("active_users") and is_event_metric("events_per_active_user:create_report")
    assert not is_event_metric("events_per_active_user:") and not is_event_metric("daily_logins")


# ------------------------------------------------------------------------------------------------
# Projection, status and verdict rules on hand-made series


def points(values: list[float], start_week: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"week": np.arange(start_week, start_week + len(values), dtype=float), "value": values})


def test_a_straight_rising_line_is_projected_exactly() -> None:
    out = project_criterion(points([0.2, 0.3, 0.4, 0.5]), end_week=6, comparator=">=", target=0.6, rules=RULES)
    assert out["slope"] == pytest.approx(0.1) and out["projected"] == pytest.approx(0.7)
    assert out["p_meet"] == pytest.approx(1.0) and out["current"] == pytest.approx(0.45)
    assert out["reach_week"] == pytest.approx(5.0)  # 0.1 + 0.1 w = 0.6


def test_three_values_give_a_level_with_a_t_predictive() -> None:
    vals = [0.50, 0.55, 0.45]
    out = project_criterion(points(vals), end_week=8, comparator=">=", target=0.6, rules=RULES)
    sd = 0.05 * np.sqrt(1 + 1 / 3)
    assert out["slope"] == 0.0 and out["projected"] == pytest.approx(0.5)
    assert out["p_meet"] == pytest.approx(stats.t.sf((0.6 - 0.5) / sd, 2))
    assert out["upper"] == pytest.approx(0.5 + stats.t.ppf(0.9, 2) * sd)
    lo = project_criterion(points(vals), end_week=8, comparator="<=", target=0.6, rules=RULES)
    assert lo["p_meet"] == pytest.approx(1 - out["p_meet"])


def test_too_few_points_give_no_projection() -> None:
    out = project_criterion(points([0.2, 0.9]), end_week=8, comparator=">=", target=0.6, rules=RULES)
    assert out["n_points"] == 2 and out["current"] == pytest.approx(0.55) and np.isnan(out["p_meet"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"met_now": True, "p_meet": 0.9}, "met"),
        ({"met_now": True, "p_meet": 0.4}, "at risk"),  # met now but slipping
        ({"met_now": False, "p_meet": 0.7}, "on track"),
        ({"met_now": False, "p_meet": 0.69}, "at risk"),
        ({"met_now": False, "p_meet": 0.3}, "at risk"),
        ({"met_now": False, "p_meet": 0.29}, "off track"),
        ({"met_now": False, "p_meet": np.nan, "n_points": 2}, "too early"),
        ({"met_now": True, "p_meet": np.nan, "n_points": 2}, "met"),
        ({"met_now": False, "p_meet": 0.9, "ended": True}, "missed"),
        ({"met_now": True, "p_meet": 0.1, "ended": True}, "met"),
        ({"n_points": 0, "current": np.nan, "weeks_run": 2}, "no data"),
        ({"n_points": 0, "current": np.nan, "weeks_run": 0.5}, "too early"),
        ({"n_points": 0, "current": np.nan, "ended": True}, "no data"),
    ],
)
def test_status_rules(kwargs, expected) -> None:
    args = {"n_points": 5, "current": 0.5, "p_meet": 0.5, "met_now": False, "ended": False, "rules": RULES}
    assert criterion_status(**{**args, **kwargs}) == expected


def test_status_of_hand_made_series_through_tracking() -> None:
    pocs = poc_frame(end_date=[T("2024-04-11")])  # 6 weeks
    crit = criteria_frame(
        [
            ("P1", "C1", "rising", "active_user_share", ">=", 0.6, True, 3.0, "events"),
            ("P1", "C2", "falling", "active_users", ">=", 10.0, False, 1.0, "events"),
            ("P1", "C3", "met", "active_users", ">=", 5.0, False, 1.0, "events"),
        ]
    )
    series = pd.concat(
        [
            points([0.2, 0.3, 0.4, 0.5]).assign(criterion_id="C1"),
            points([14.0, 12.0, 10.0, 8.0]).assign(criterion_id="C2"),
            points([6.0, 6.0, 6.0, 6.0]).assign(criterion_id="C3"),
        ]
    ).assign(poc_id="P1", scope_users=10.0, users_active=5.0)
    series["period_end"] = T("2024-03-01") + pd.to_timedelta(series["week"] * 7 - 1, unit="D")
    t = track_criteria(pocs, crit, series, as_of=T("2024-03-28"), rules=RULES).set_index("criterion_id")
    assert t["status"].to_dict() == {"C1": "on track", "C2": "off track", "C3": "met"}
    assert t.at["C1", "reach_date"] == T("2024-04-04")  # the end of week 5
    paths = projection_paths(pocs, crit, series, as_of=T("2024-03-28"), rules=RULES)
    end = paths.groupby("criterion_id").last()
    assert end.loc["C1", "projected"] == pytest.approx(t.at["C1", "projected"])  # the chart ends where the table says
    assert end.loc["C2", "projected"] == pytest.approx(t.at["C2", "projected"]) == pytest.approx(4.0)
    v = poc_verdicts(pocs, t.reset_index(), as_of=T("2024-03-28"), rules=RULES).iloc[0]
    assert v["verdict"] == "on track" and v["score"] == pytest.approx(1 / 5)
    assert v["expected_score"] == pytest.approx((3 * 1 + 0 + 1) / 5) and v["days_left"] == 14


def crit_rows(statuses: list[str], must: list[bool], weights: list[float], p: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"status": statuses, "must_have": must, "weight": weights, "p_meet": p})


def test_verdict_needs_every_must_have() -> None:
    ok = verdict_of(
        crit_rows(["met", "met", "off track"], [True, True, False], [3, 2, 1], [0.9, 0.8, 0.1]),
        ended=False,
        rules=RULES,
    )
    assert ok["verdict"] == "met" and ok["score"] == pytest.approx(5 / 6) and ok["p_must_haves"] == pytest.approx(0.72)
    # a must-have off track sinks the PoC even with a high score
    bad = verdict_of(
        crit_rows(["met", "off track", "met"], [True, True, False], [1, 1, 5], [0.9, 0.1, 0.9]),
        ended=False,
        rules=RULES,
    )
    assert bad["verdict"] == "off track" and bad["score"] == pytest.approx(6 / 7)
    risky = verdict_of(crit_rows(["met", "at risk"], [False, True], [5, 1], [0.9, 0.5]), ended=False, rules=RULES)
    assert risky["verdict"] == "at risk"
    early = verdict_of(
        crit_rows(["too early", "met"], [True, False], [1, 1], [np.nan, np.nan]), ended=False, rules=RULES
    )
    assert early["verdict"] == "too early"
    # every must-have met, but too little of the weight: not yet met
    low = verdict_of(
        crit_rows(["met", "on track", "on track"], [True, False, False], [1, 2, 2], [0.9, 0.8, 0.8]),
        ended=False,
        rules=RULES,
    )
    assert low["verdict"] == "on track"
    # ended: a missed must-have means not met whatever the score
    ended = verdict_of(crit_rows(["met", "missed"], [False, True], [9, 1], [1.0, 0.0]), ended=True, rules=RULES)
    assert ended["verdict"] == "not met" and ended["p_must_haves"] == 0.0


def test_next_action_names_the_weakest_must_have(params) -> None:
    pocs = poc_frame()
    tracked = pd.DataFrame(
        {
            "poc_id": ["P1", "P1"],
            "criterion_id": ["C1", "C2"],
            "description": ["週次アクティブ率", "レポート"],
            "metric": ["active_user_share", "events_per_active_user:create_report"],
            "comparator": [">=", ">="],
            "target": [0.6, 1.0],
            "must_have": [True, False],
            "weight": [3.0, 1.0],
            "source": ["events", "events"],
            "n_points": [4, 4],
            "current": [0.4, 0.5],
            "met_now": [False, False],
            "slope": [0.0, 0.0],
            "p_meet": [0.2, 0.1],
            "reach_date": [pd.NaT, pd.NaT],
            "status": ["off track", "off track"],
            "scope_users": [20.0, 20.0],
            "users_active": [8.0, 8.0],
        }
    )
    v = poc_verdicts(pocs, tracked, as_of=T("2024-03-29"), rules=RULES)
    a = next_actions(pocs, v, tracked, actions=params.actions).iloc[0]
    assert a["focus_criterion"] == "C1"
    assert "40% vs target 60%" in a["next_action"] and "12 of 20 users" in a["next_action"]
    assert "20% chance by 2024-04-25" in a["next_action"] and "not clearly moving" in a["next_action"]


# ------------------------------------------------------------------------------------------------
# Projection intervals cover about their nominal share


def simulate(rng: np.random.Generator, slope: float, n: int = 500) -> tuple[float, float]:
    """Coverage of the 80% interval at week 10 from weeks 1-6, and of the level model from weeks 1-3."""
    inside_trend, inside_level = 0, 0
    weeks = np.arange(1, 7, dtype=float)
    for _ in range(n):
        y = 0.3 + slope * weeks + rng.normal(0, 0.05, len(weeks))
        future = 0.3 + slope * 10 + rng.normal(0, 0.05)
        pts = pd.DataFrame({"week": weeks, "value": y})
        out = project_criterion(pts, end_week=10, comparator=">=", target=0.5, rules=RULES)
        inside_trend += out["lower"] <= future <= out["upper"]
        if slope == 0:
            level = project_criterion(pts.head(3), end_week=10, comparator=">=", target=0.5, rules=RULES)
            inside_level += level["lower"] <= future <= level["upper"]
    return inside_trend / n, inside_level / n


@pytest.mark.parametrize("slope", [0.03, 0.0])
def test_projection_intervals_cover_their_nominal_share(rng, slope) -> None:
    trend, level = simulate(rng, slope)
    assert 0.75 <= trend <= 0.85, trend  # nominal 0.80; 500 series give a standard error of 0.018
    if slope == 0:
        assert 0.75 <= level <= 0.85, level


# ------------------------------------------------------------------------------------------------
# Portfolio and candidates


def test_conversion_when_criteria_met_or_not() -> None:
    pocs = pd.concat(
        [
            poc_frame(poc_id=[f"P{i}"], outcome=[o], decided_at=[T("2024-05-05")])
            for i, o in enumerate(["won", "won", "lost", "won", "lost"])
        ],
        ignore_index=True,
    )
    verdicts = pd.DataFrame(
        {"poc_id": [f"P{i}" for i in range(5)], "verdict": ["met", "met", "met", "not met", "not met"], "score": 1.0}
    )
    h = closed_history(pocs, verdicts)
    assert h["days_to_decision"].unique().tolist() == [10] and h["poc_days"].unique().tolist() == [56]
    c = conversion_summary(h, benchmark=(0.7, 0.8)).set_index("group")
    assert c.loc["all", ["pocs", "won"]].tolist() == [5, 3] and c.loc["all", "conversion"] == pytest.approx(0.6)
    assert (
        c.loc["criteria met", "conversion"] == pytest.approx(2 / 3) and c.loc["criteria not met", "conversion"] == 0.5
    )
    assert c.loc["all", "vs_benchmark"] == "below" and c.loc["all", "ci_low"] < 0.6 < c.loc["all", "ci_high"]


def test_pocs_as_of_reopens_later_decisions() -> None:
    pocs = poc_frame(outcome=["won"], decided_at=[T("2024-05-10")])
    assert pocs_as_of(pocs, T("2024-05-01"))["outcome"].tolist() == ["open"]
    assert pocs_as_of(pocs, T("2024-06-01"))["outcome"].tolist() == ["won"]
    assert pocs_as_of(pocs, T("2024-02-01")).empty


def test_level_probability_by_hand() -> None:
    v = np.array([0.4, 0.6, 0.5])
    assert level_probability(v, ">=", 0.6) == pytest.approx(stats.t.sf(0.1 / (0.1 * np.sqrt(4 / 3)), 2))
    assert level_probability(np.array([0.7, 0.7]), ">=", 0.6) == 1.0 and np.isnan(
        level_probability(np.array([]), ">=", 1)
    )


def test_candidates_ranked_by_current_usage(events, users) -> None:
    accounts = pd.DataFrame(
        {
            "account_id": ["A", "B", "C"],
            "account_name": ["エー", "ビー", "シー"],
            "segment": ["enterprise", "enterprise", "smb"],
            "industry": ["製造", "製造", "製造"],
            "employees": [1000, 2000, 100],
        }
    )
    assert similar_accounts(accounts, "A", match_on=["segment", "industry"], limit=5)["account_id"].tolist() == ["B"]
    plan = PocParams.model_validate(
        {
            "actions": load_params("poc", PocParams).actions,
            "planned": [
                {
                    "name": "x",
                    "account_id": "A",
                    "criteria": [
                        {
                            "criterion_id": "C1",
                            "description": "d",
                            "metric": "active_user_share",
                            "target": 0.5,
                            "must_have": True,
                        }
                    ],
                }
            ],
        }
    ).planned[0]
    rules = load_params("poc", PocParams).candidates.model_copy(update={"lookback_weeks": 2, "min_users": 1})
    ranking, detail = rank_candidates(events, users, accounts, plan, as_of=T("2024-03-14"), rules=rules)
    pp = load_params("poc", PocParams).model_copy(
        update={"candidates": rules, "planned": [plan, plan.model_copy(update={"name": "y", "account_id": "Z"})]}
    )
    planned = rank_planned(pp, events, users, accounts, as_of=T("2024-03-14"))
    assert [r.plan.name for r in planned.rankings] == ["x"] and planned.rankings[0].ranking.equals(ranking)
    assert planned.warnings == ["Planned PoC 'y': account Z is not in the data, so it is not ranked."]
    best = ranking[ranking["this_account"]].iloc[0]
    assert planned.rankings[0].text.startswith("### x: エー\nCriteria: d (active_user_share >= 0.5, must-have).")
    assert f"**{best['department']}** is the most promising team" in planned.rankings[0].text
    assert planned.table()["planned_poc"].tolist() == ["x"] * len(ranking)
    assert PlannedRankings().table().empty
    # weeks ending 03-07 and 03-14. 営業部 of A: users u1, u2 (+u6 from 03-08): 1/2 then 2/3 active.
    sales = detail.set_index("scope_id").loc["A|営業部"]
    assert sales["current"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert sales["p_meet"] == pytest.approx(level_probability(np.array([1 / 2, 2 / 3]), ">=", 0.5))
    assert set(ranking["department"]) == {"営業部", "人事部", "経理部"} and ranking["rank"].tolist() == [1, 2, 3, 4]
    assert ranking.iloc[0]["likelihood"] >= ranking.iloc[-1]["likelihood"]
    assert ranking.loc[ranking["account_id"] == "B", "this_account"].tolist() == [False]


# ------------------------------------------------------------------------------------------------
# The demo company


def test_demo_series_match_a_direct_sql_count(demo_ds) -> None:
    pocs, crit = demo_ds.get("pocs"), demo_ds.get("poc_criteria")
    p = pocs.sort_values("poc_id").iloc[[0]]
    s = criterion_series(p, crit, as_of=demo_ds.as_of, events=demo_ds.events, users=demo_ds.get("users"))
    first = s[(s["criterion_id"] == "C3")].iloc[0]  # active_users in week 1
    r = p.iloc[0]
    scope = "', '".join(r["scope"].split(";"))
    u = demo_ds.get("users")
    demo_ds.con.con.register("_poc_users", u[["user_id", "account_id", "department"]])
    n = demo_ds.con.con.execute(
        f"""SELECT count(DISTINCT e.user_id) FROM events_clean e JOIN _poc_users u USING (user_id, account_id)
        WHERE e.account_id = '{r["account_id"]}' AND u.department IN ('{scope}')
        AND e.event_time >= TIMESTAMP '{r["start_date"]:%Y-%m-%d}' AND e.event_time < TIMESTAMP '{r["start_date"]:%Y-%m-%d}' + INTERVAL 7 DAY"""
    ).fetchall()[0][0]
    assert first["value"] == n and first["week"] == 1


def test_demo_tracking_holds_its_invariants(demo_ds, params) -> None:
    result = track_pocs(
        demo_ds.get("pocs"),
        demo_ds.get("poc_criteria"),
        demo_ds.accounts,
        params,
        as_of=demo_ds.as_of,
        measurements=demo_ds.get("poc_measurements"),
        events=demo_ds.events,
        users=demo_ds.get("users"),
    )
    assert all(consistency_checks(result).values())
    figures = summary_figures(result, params)
    assert figures["open_pocs"] == (demo_ds.get("pocs")["outcome"] == "open").sum()
    assert 0 <= figures["conversion_rate"] <= 1 and figures["closed_pocs"] == len(result.history)
    assert set(headline(figures, "JPY")) == {
        "Open PoCs",
        "At risk or off track",
        "Conversion (decided PoCs)",
        "Conversion when criteria met / not",
    }
    assert set(open_criteria(result)["poc_id"]) == set(result.portfolio["poc_id"])
    for _, p in result.portfolio.iterrows():
        card = poc_card(p, "JPY")
        assert card.startswith(f"### {p['poc_id']} ") and p["next_action"] in card and p["verdict"] in card


def test_tracking_an_earlier_date_from_a_later_series_changes_nothing(demo_ds, params) -> None:
    """Last quarter's tracking can reuse this quarter's series (cut at its date) instead of reading the events again."""
    tables = dict(measurements=demo_ds.get("poc_measurements"), events=demo_ds.events, users=demo_ds.get("users"))
    args = (demo_ds.get("pocs"), demo_ds.get("poc_criteria"), demo_ds.accounts, params)
    later = track_pocs(*args, as_of=demo_ds.as_of, **tables)
    for days in (45, 92, 200):
        as_of = demo_ds.as_of - pd.Timedelta(days=days)
        fresh = track_pocs(*args, as_of=as_of, **tables)
        reused = track_pocs(*args, as_of=as_of, later_series=later.series, **tables)
        assert len(fresh.series) < len(later.series)
        for name in ("series", "tracked", "paths", "verdicts", "actions", "portfolio", "history", "conversion"):
            pd.testing.assert_frame_equal(getattr(reused, name), getattr(fresh, name), check_exact=True)


def test_tracking_at_the_report_as_of(demo_ds, quarter_state, params) -> None:
    """The notebook judges PoCs at the state's as_of: PoCs decided after it are open, none started after it."""
    result = track_pocs(
        demo_ds.get("pocs"),
        demo_ds.get("poc_criteria"),
        demo_ds.accounts,
        params,
        as_of=quarter_state.as_of,
        measurements=demo_ds.get("poc_measurements"),
        events=demo_ds.events,
        users=demo_ds.get("users"),
    )
    pocs = demo_ds.get("pocs")
    started = pocs[pocs["start_date"] <= quarter_state.as_of]
    open_then = started["decided_at"].isna() | (started["decided_at"] > quarter_state.as_of)
    assert result.as_of == quarter_state.as_of and len(result.pocs) == len(started)
    assert len(result.portfolio) == int(open_then.sum())
    assert summary_figures(result, params)["as_of"] == quarter_state.as_of
    assert all(consistency_checks(result).values())


# ------------------------------------------------------------------------------------------------
# Bad input: every cross-table problem at once, exit code 2


def write_folder(tmp_path: Path) -> Path:
    d = tmp_path / "crm"
    d.mkdir()
    pd.DataFrame(
        {
            "account_id": ["A1"],
            "account_name": ["株式会社テスト"],
            "segment": ["enterprise"],
            "created_at": ["2023-01-01"],
        }
    ).to_csv(d / "accounts.csv", index=False)
    pd.DataFrame(
        {
            "subscription_id": ["S1"],
            "account_id": ["A1"],
            "product": ["Platform"],
            "start_date": ["2023-01-01"],
            "arr": ["1000000"],
            "auto_renew": ["true"],
            "currency": ["JPY"],
        }
    ).to_csv(d / "subscriptions.csv", index=False)
    pd.DataFrame({"user_id": ["u1"], "account_id": ["A1"], "department": ["営業部"]}).to_csv(
        d / "users.csv", index=False
    )
    pd.DataFrame(
        {
            "poc_id": ["P1", "P2", "P3", "P4"],
            "account_id": ["A1"] * 4,
            "name": ["a", "b", "c", "d"],
            "objective": ["o"] * 4,
            "start_date": ["2024-03-01"] * 4,
            "end_date": ["2024-04-30"] * 4,
            "scope": ["営業部", "人事部", "営業部", "営業部"],
            "arr_at_stake": ["100"] * 4,
            "outcome": ["open", "open", "won", "open"],
            "decided_at": ["", "", "", "2024-05-01"],
        }
    ).to_csv(d / "pocs.csv", index=False)
    criteria_frame(
        [
            ("P1", "C1", "share", "active_user_share", ">=", "60", "true", "1", "events"),
            ("P1", "C2", "logins", "daily_logins", ">=", "1", "false", "1", "events"),
            ("P1", "C3", "hours", "time_saved_hours", ">=", "3", "false", "1", "manual"),
            ("P1", "C3", "hours again", "time_saved_hours", ">=", "3", "false", "1", "manual"),
            ("P1", "C4", "typo", "active_users", ">=", "abc", "false", "1", "events"),
            ("P2", "C1", "active", "active_users", ">=", "5", "true", "0", "events"),
            ("P3", "C1", "share", "active_user_share", ">=", "0.6", "true", "1", "events"),
            ("P4", "C1", "share", "active_user_share", ">=", "0.6", "true", "1", "events"),
        ]
    ).to_csv(d / "poc_criteria.csv", index=False)
    pd.DataFrame(
        {
            "poc_id": ["P1", "P1", "P1"],
            "criterion_id": ["C3", "C1", "C3"],
            "measured_at": ["2024-02-01", "2024-03-10", "2024-03-08"],
            "value": ["1", "0.5", "2"],
        }
    ).to_csv(d / "poc_measurements.csv", index=False)
    return d


EXPECTED = {
    ("poc_criteria", "target", "value is not a number"),
    ("poc_criteria", "poc_id+criterion_id", "key must be unique (duplicate key)"),
    ("poc_criteria", "target", "target of a share must be between 0 and 1 (write 60% as 0.6)"),
    ("poc_criteria", "weight", "the weights of a PoC's criteria must not all be 0"),
    ("pocs", "decided_at", "decided_at must be empty while the outcome is open"),
    ("pocs", "decided_at", "decided_at is required when the outcome is won or lost"),
    ("poc_measurements", "measured_at", "measured_at is outside the PoC window (start_date to end_date in pocs)"),
}


def test_cross_table_problems_are_all_reported_together(tmp_path: Path) -> None:
    d = write_folder(tmp_path)
    with pytest.raises(DataContractError) as err:
        load_dataset(str(d))
    found = {(p.table, p.column, p.rule) for p in err.value.problems}
    assert found >= EXPECTED
    rules = {p.rule for p in err.value.problems}
    assert any(r.startswith("unknown event metric") for r in rules)
    assert any(r.startswith("measurement for a criterion computed from events") for r in rules)
    assert any(r.startswith("scope names a site or team without users") for r in rules)
    text = str(err.value)
    assert "poc_measurements.csv" in text and "line 2: poc_id='P1', criterion_id='C3', measured_at=2024-02-01" in text
    assert "daily_logins" in text and "line 3" in text  # the CSV line of the unknown metric


def test_cli_exits_2_before_writing_anything(tmp_path: Path, capsys) -> None:
    d = write_folder(tmp_path)
    assert main(["validate", "--data", str(d)]) == 2
    err = capsys.readouterr().err
    assert "unknown event metric" in err and "measured_at is outside the PoC window" in err
    reports = tmp_path / "reports"
    assert (
        main(["report", "--data", str(d), "--reports-dir", str(reports), "--only", "03_poc_tracking", "--no-progress"])
        == 2
    )
    assert not reports.exists()


def test_contract_rules_pass_on_the_demo(demo_ds) -> None:
    assert check_poc_tables(demo_ds.tables, demo_ds.files) == []


def test_params_name_the_bad_template(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "params" / "poc.yaml").read_text(encoding="utf-8")
    (tmp_path / "poc.yaml").write_text(text.replace(". {inactive_users} of", ". {inactive} of", 1), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"poc.yaml.*\n- actions: .*unknown placeholder \['inactive'\]"):
        load_params("poc", PocParams, directory=tmp_path)


def test_evaluate_at_is_gone_with_a_reason(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "params" / "poc.yaml").read_text(encoding="utf-8")
    (tmp_path / "poc.yaml").write_text("evaluate_at: data_as_of\n" + text, encoding="utf-8")
    with pytest.raises(ParamsError, match="evaluate_at was removed: every page of the report"):
        load_params("poc", PocParams, directory=tmp_path)


def test_next_action_for_a_criterion_met_but_falling(params) -> None:
    pocs = poc_frame()
    tracked = pd.DataFrame(
        {
            "poc_id": ["P1"],
            "criterion_id": ["C1"],
            "description": ["週次アクティブ率"],
            "metric": ["active_user_share"],
            "comparator": [">="],
            "target": [0.6],
            "must_have": [True],
            "weight": [1.0],
            "source": ["events"],
            "n_points": [5],
            "current": [0.8],
            "met_now": [True],
            "slope": [-0.1],
            "p_meet": [0.2],
            "reach_date": [pd.NaT],
            "status": [criterion_status(n_points=5, current=0.8, p_meet=0.2, met_now=True, ended=False, rules=RULES)],
            "scope_users": [20.0],
            "users_active": [16.0],
        }
    )
    v = poc_verdicts(pocs, tracked, as_of=T("2024-03-29"), rules=RULES)
    assert tracked["status"].tolist() == ["at risk"]  # met but slipping
    assert v["verdict"].tolist() == ["off track"]  # expected score 20% < off_track_score
    text = next_actions(pocs, v, tracked, actions=params.actions)["next_action"].iloc[0]
    assert text.startswith('"週次アクティブ率" is met now (80% vs target 60%) but falling (20% chance by 2024-04-25')


def test_decision_box_counts_changes_and_names_the_pocs_at_risk(demo_ds, params) -> None:
    """The PoC page's decision box: counts on track / at risk / decided, their change, the PoCs at risk by name."""
    from dataclasses import replace

    from cs_playbook.formatting import Formatter
    from cs_playbook.i18n import messages
    from cs_playbook.poc.report import criteria_view
    from cs_playbook.poc.summary import at_risk_actions, decision_counts, decision_figures

    result = track_pocs(
        demo_ds.get("pocs"),
        demo_ds.get("poc_criteria"),
        demo_ds.accounts,
        params,
        as_of=demo_ds.as_of,
        measurements=demo_ds.get("poc_measurements"),
        events=demo_ds.events,
        users=demo_ds.get("users"),
    )
    assert len(result.portfolio) >= 1
    risky = replace(result, portfolio=result.portfolio.assign(verdict="at risk"))
    counts = decision_counts(risky, quarter_start=pd.Timestamp("2026-10-01"))
    assert counts["at_risk"] == len(result.portfolio) and counts["on_track"] == 0
    assert counts["arr_at_risk"] == pytest.approx(result.portfolio["arr_at_stake"].sum())
    decided = result.history[result.history["decided_at"] >= pd.Timestamp("2026-10-01")]
    assert counts["won"] + counts["lost"] == len(decided)
    msg, fmt = messages("ja"), Formatter("ja", "JPY")
    shown = decision_figures(counts, {**counts, "at_risk": counts["at_risk"] - 1}, fmt, msg)
    assert shown[1]["label"] == "リスクのあるPoC" and shown[1]["change"] == "前四半期比 ▲ +1"
    assert shown[1]["direction"] == "bad" and shown[0]["direction"] == "neutral"
    assert all(f["change"] is None for f in decision_figures(counts, None, fmt, msg))
    actions = at_risk_actions(risky, msg)
    assert actions.columns.tolist() == ["poc_id", "account_name", "csm", "end_date", "verdict", "criterion"]
    assert set(actions["poc_id"]) == set(result.portfolio["poc_id"]) and actions["criterion"].str.len().gt(0).all()
    assert at_risk_actions(result, msg).empty or set(at_risk_actions(result, msg)["verdict"]) <= {"at risk"}
    view = criteria_view(result.tracked, result.portfolio["poc_id"].iloc[0], lang="ja")
    assert set(view["must_have"]) <= {"はい", "いいえ"} and "criterion_status" in view.columns
    card = poc_card(result.portfolio.iloc[0], "JPY", lang="ja")
    assert card.startswith(f"### {result.portfolio['poc_id'].iloc[0]} ") and "**判定：" in card
