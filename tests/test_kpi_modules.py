"""Coverage (touch model), feature adoption and meeting-notes compliance on hand-made data."""

from __future__ import annotations

import duckdb
import ibis
import pandas as pd
import pytest

from cs_playbook.data.activities import meetings_without_notes, notes_compliance
from cs_playbook.data.adoption import feature_adoption
from cs_playbook.data.coverage import (
    CoverageParams,
    assign_touch_model,
    coverage_figures,
    csm_coverage,
    touch_model_summary,
)
from cs_playbook.kpi.retention import KpiParams
from cs_playbook.params import load_params

BANDS = CoverageParams.model_validate(
    {
        "bands": [
            {"name": "high_touch", "min_arr": 5_000_000, "accounts_per_csm": 2},
            {"name": "low_touch", "min_arr": 1_000_000, "accounts_per_csm": 4},
            {"name": "tech_touch", "min_arr": 0, "accounts_per_csm": 100},
        ]
    }
)


def test_touch_model_bands_are_inclusive_at_the_lower_edge() -> None:
    arr = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "arr": [5_000_000, 4_999_999, 1_000_000, 0.0]})
    got = assign_touch_model(arr, BANDS)["touch_model"].tolist()
    assert got == ["high_touch", "low_touch", "low_touch", "tech_touch"]


def test_touch_model_needs_a_floor_band() -> None:
    with pytest.raises(ValueError, match="min_arr: 0"):
        CoverageParams.model_validate({"bands": [{"name": "x", "min_arr": 10, "accounts_per_csm": 1}]})


def test_csm_coverage_load_against_capacity() -> None:
    accounts = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "csm": ["佐藤", "佐藤", "佐藤", None]})
    arr = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "arr": [6e6, 7e6, 2e6, 1e5]})
    cov = csm_coverage(accounts, arr, BANDS)
    sato_high = cov[(cov["csm"] == "佐藤") & (cov["touch_model"] == "high_touch")].iloc[0]
    assert sato_high["accounts"] == 2 and sato_high["arr"] == 13e6 and sato_high["load"] == 1.0  # 2 of capacity 2
    sato_low = cov[(cov["csm"] == "佐藤") & (cov["touch_model"] == "low_touch")].iloc[0]
    assert sato_low["load"] == 0.25  # 1 of capacity 4
    assert cov[cov["csm"] == "(unassigned)"]["touch_model"].tolist() == ["tech_touch"]


def test_default_touch_bands_are_quantiles_of_the_data_in_any_currency(tmp_path) -> None:
    kp = load_params("kpi", KpiParams, source=tmp_path)  # the project default (no overlay): shares, no amounts
    for scale in (1.0, 150.0):  # the same accounts priced in USD or in JPY fall in the same bands
        arr = pd.DataFrame({"account_id": [f"a{i}" for i in range(100)], "arr": [scale * (i + 1) for i in range(100)]})
        touch = assign_touch_model(arr, kp.touch_model)
        assert touch["touch_model"].value_counts().to_dict() == {"tech_touch": 60, "low_touch": 30, "high_touch": 10}
        assert set(touch.loc[touch["arr"] >= scale * 91, "touch_model"]) == {"high_touch"}
    summary = touch_model_summary(touch, kp.touch_model)
    assert summary["touch_model"].tolist() == ["high_touch", "low_touch", "tech_touch"]
    assert summary["rule"].iloc[0] == "top 10% of accounts by ARR" and summary["from_arr"].iloc[-1] == 0
    with pytest.raises(ValueError, match="min_arr .* or top_share"):
        CoverageParams.model_validate({"bands": [{"name": "x", "min_arr": 0, "top_share": 0.1, "accounts_per_csm": 1}]})


def test_placeholder_owners_are_the_unassigned_pool_not_a_person() -> None:
    accounts = pd.DataFrame({"account_id": list("abcdef"), "csm": ["佐藤", "unassigned", " - ", "", None, "None"]})
    arr = pd.DataFrame({"account_id": list("abcdef"), "arr": [1e5] * 6})
    cov = csm_coverage(accounts, arr, BANDS)
    assert sorted(cov["csm"]) == ["(unassigned)", "佐藤"]
    assert coverage_figures(cov) == {"csms_over_capacity": 0, "accounts_without_csm": 5}


def test_jp_demo_touch_bands_in_yen_move_next_to_the_demo() -> None:
    from pathlib import Path

    import yaml

    import cs_playbook.demo

    jp = yaml.safe_load((Path(cs_playbook.demo.__file__).parent / "params" / "jp" / "kpi.yaml").read_text("utf-8"))
    bands = CoverageParams.model_validate(jp["touch_model"])
    assert [b.min_arr for b in bands.bands] == [5_000_000, 1_000_000, 0]


def _events(rows: list[tuple[str, str, str, str]]) -> ibis.Table:
    con = duckdb.connect()
    df = pd.DataFrame(rows, columns=["account_id", "user_id", "event_time", "event_type"])
    df["event_time"] = pd.to_datetime(df["event_time"])
    con.register("ev", df)
    return ibis.duckdb.from_connection(con).table("ev")


def test_feature_adoption_counts_accounts_and_users_in_the_window() -> None:
    events = _events(
        [
            ("A", "a1", "2026-01-05 10:00", "login"),
            ("A", "a1", "2026-01-06 10:00", "ai_summary"),  # A adopts, user a1
            ("A", "a2", "2026-01-07 10:00", "login"),
            ("B", "b1", "2026-01-10 10:00", "login"),  # B active, not adopting
            ("C", "c1", "2026-02-20 10:00", "ai_summary"),  # after the 30-day window: not counted
            ("D", "d1", "2025-12-31 23:00", "ai_summary"),  # before release: not counted
        ]
    )
    releases = pd.DataFrame(
        {"feature": ["AI要約"], "event_type": ["ai_summary"], "released_at": pd.to_datetime(["2026-01-01"])}
    )
    got = feature_adoption(events, releases, as_of=pd.Timestamp("2026-03-31"), window_days=30).iloc[0]
    # Window 2026-01-01 .. 2026-01-31: active accounts A, B (2); adopting A (1); users a1, a2, b1 (3), adopting a1.
    assert (got["active_accounts"], got["adopting_accounts"]) == (2, 1)
    assert got["account_adoption"] == 0.5
    assert (got["active_users"], got["adopting_users"]) == (3, 1)
    assert got["user_adoption"] == pytest.approx(1 / 3)
    assert got["days_observed"] == 30


def test_feature_adoption_cuts_window_at_as_of_and_skips_future_releases() -> None:
    events = _events([("A", "a1", "2026-03-30 10:00", "x"), ("B", "b1", "2026-04-02 10:00", "x")])
    releases = pd.DataFrame(
        {
            "feature": ["old", "future"],
            "event_type": ["x", "x"],
            "released_at": pd.to_datetime(["2026-03-25", "2026-05-01"]),
        }
    )
    got = feature_adoption(events, releases, as_of=pd.Timestamp("2026-03-31"), window_days=90)
    assert got["feature"].tolist() == ["old"]
    assert got.iloc[0]["adopting_accounts"] == 1 and got.iloc[0]["days_observed"] == 7  # Mar 25..31


def test_meetings_without_notes_and_compliance() -> None:
    acts = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "b", "b"],
            "occurred_at": pd.to_datetime(["2026-09-01", "2026-09-10", "2026-09-20", "2026-09-29", "2026-09-15"]),
            "activity_type": ["meeting", "qbr", "meeting", "meeting", "email"],
            "notes_logged": [True, False, False, False, False],
        }
    )
    accounts = pd.DataFrame({"account_id": ["a", "b"], "csm": ["田中", "鈴木"]})
    flagged = meetings_without_notes(acts, as_of=pd.Timestamp("2026-09-30"), grace_days=2)
    # The 09-29 meeting is inside the grace period; the email is not a meeting.
    assert flagged["occurred_at"].dt.strftime("%m-%d").tolist() == ["09-20", "09-10"]
    comp = notes_compliance(acts, accounts, start=pd.Timestamp("2026-07-01"), end=pd.Timestamp("2026-09-30")).set_index(
        "csm"
    )
    assert comp.loc["田中", "compliance"] == 0.5  # 1 of 2
    assert comp.loc["鈴木", "compliance"] == 0.0  # 0 of 2
    assert comp.loc["All", "meetings"] == 4 and comp.loc["All", "compliance"] == 0.25


def test_meeting_notes_chart_list_and_figure_count_the_same_meetings() -> None:
    """The page's chart said 140 meetings without notes and summary.json 134: the chart counted the meetings of the
    last grace days, not yet due, and the list did not. Both now come from one set of meetings."""
    from cs_playbook.data.activities import meeting_notes

    acts = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "b", "b"],
            "occurred_at": pd.to_datetime(["2026-06-30", "2026-07-10", "2026-08-01", "2026-09-29", "2026-09-30"]),
            "activity_type": ["meeting", "meeting", "qbr", "meeting", "ebr"],
            "notes_logged": [False, False, True, False, False],
        }
    )
    accounts = pd.DataFrame({"account_id": ["a", "b"], "csm": ["x", "y"]})
    start, end = pd.Timestamp("2026-07-01"), pd.Timestamp("2026-09-30")
    old_chart = notes_compliance(acts, accounts, start=start, end=end)
    old_list = meetings_without_notes(acts[acts["occurred_at"] >= start], as_of=end, grace_days=2)
    assert old_chart.iloc[-1]["without_notes"] == 3 and len(old_list) == 1  # the two windows of the old page
    notes = meeting_notes(acts, accounts, start=start, as_of=end, grace_days=2)
    total = notes.compliance.set_index("csm").loc["All"]
    assert total["meetings"] == 2 and total["without_notes"] == 1 == notes.meetings_without_notes
    assert list(notes.missing["occurred_at"]) == [pd.Timestamp("2026-07-10")]


def test_kpi_figures_and_checks_quote_the_chart(demo_ds) -> None:
    from cs_playbook.data import revenue
    from cs_playbook.data.activities import meeting_notes
    from cs_playbook.data.coverage import coverage_figures
    from cs_playbook.kpi.retention import retention_table
    from cs_playbook.kpi.summary import consistency_checks, headline, summary_figures
    from cs_playbook.quarters import last_complete_quarter, quarter_bounds

    q = last_complete_quarter(demo_ds.as_of)
    q0, q1 = quarter_bounds(q)
    monthly = revenue.monthly_mrr(demo_ds.subscriptions, end=q1)
    retention = retention_table(monthly, quarter=q)
    row = revenue.movement_summary(revenue.mrr_movements(monthly), freq="Q").set_index("period").loc[q]
    notes = meeting_notes(demo_ds.get("activities"), demo_ds.accounts, start=q0, as_of=q1)
    cov = pd.DataFrame(
        {"csm": ["x", "(unassigned)"], "touch_model": ["low", "tech"], "accounts": [3, 5], "load": [0.5, 0.1]}
    )
    seg = pd.DataFrame({"segment": ["smb"], "arr": [1.0]})
    figures = summary_figures(retention, row, coverage=coverage_figures(cov), by_segment=seg, notes=notes)
    all_row = notes.compliance.set_index("csm").loc["All"]
    assert figures["meetings_without_notes"] == int(all_row["without_notes"]) == len(notes.missing) > 0
    assert figures["accounts_without_csm"] == 5 and figures["csms_over_capacity"] == 0
    assert all(consistency_checks(retention, row, notes=notes, figures=figures).values())
    assert not consistency_checks(retention, row, notes=notes, figures={**figures, "meetings_without_notes": 0})[
        "meetings_without_notes_agree"
    ]
    assert headline(figures, "JPY")["GRR (quarter)"].endswith("%")


def test_kpi_decision_box_compares_with_the_previous_quarter(demo_ds) -> None:
    from cs_playbook.data import revenue
    from cs_playbook.formatting import Formatter
    from cs_playbook.kpi.retention import retention_table
    from cs_playbook.kpi.summary import decision_figures, headline, previous_figures, quarter_figures
    from cs_playbook.quarters import last_complete_quarter, quarter_bounds

    q = last_complete_quarter(demo_ds.as_of)
    monthly = revenue.monthly_mrr(demo_ds.subscriptions, end=quarter_bounds(q)[1])
    retention = retention_table(monthly, quarter=q)
    moves_q = revenue.movement_summary(revenue.mrr_movements(monthly), freq="Q").set_index("period")
    now = quarter_figures(retention, moves_q.loc[q])
    before = previous_figures(retention, moves_q)
    prev_q = retention["period"].iloc[-2]
    # the same figures as the previous quarter's own page would compute
    assert before == quarter_figures(retention_table(monthly, quarter=prev_q), moves_q.loc[prev_q])
    assert now["net_new_arr"] == pytest.approx(now["total_arr_end"] - before["total_arr_end"])  # the bridge
    figs = decision_figures(now, before, currency="JPY", lang="ja")
    assert [f["label"] for f in figs] == ["NRR（今四半期）", "GRR（今四半期）", "期末ARR", "純増ARR", "解約ARR"]
    fmt = Formatter("ja", "JPY")
    assert figs[0]["value"] == fmt.pct(now["nrr"])
    assert figs[0]["change"] == fmt.delta(now["nrr"] - before["nrr"], kind="pct_points")
    assert figs[0]["direction"] == ("good" if now["nrr"] > before["nrr"] else "bad")
    churn_up = -now["churn_arr"] > -before["churn_arr"]
    assert figs[4]["direction"] == ("bad" if churn_up else "good")  # more churned ARR is bad news
    assert previous_figures(retention.tail(1), moves_q) is None  # no previous quarter: nothing to compare
    assert {f["change"] for f in decision_figures(now, None, currency="JPY")} == {None}
    assert list(headline(now, "JPY", lang="ja"))[:2] == ["ARR合計", "NRR（四半期）"]


def test_named_actions_are_the_largest_losses_of_the_quarter() -> None:
    from cs_playbook.kpi.summary import loss_actions, quarter_losses

    months = pd.to_datetime(["2026-06-01", "2026-07-01", "2026-08-01", "2026-09-01"])
    movements = pd.DataFrame(
        {
            "account_id": ["c", "b", "a", "b"],
            "month": months,
            "mrr_prev": [300.0, 200.0, 100.0, 150.0],
            "mrr": [250.0, 150.0, 0.0, 170.0],
            "movement": ["contraction", "contraction", "churn", "expansion"],
            "delta": [-50.0, -50.0, -100.0, 20.0],
        }
    )
    accounts = pd.DataFrame(
        {"account_id": ["a", "b", "c"], "account_name": ["Alpha", "Beta", "Gamma"], "csm": ["X", None, "Z"]}
    )
    losses = quarter_losses(movements, accounts, quarter="2026Q3")
    # c contracted in the previous quarter; b's expansion does not offset its contraction
    assert losses[["account_id", "movement", "arr_change", "arr_now"]].to_dict("list") == {
        "account_id": ["a", "b"],
        "movement": ["churn", "contraction"],
        "arr_change": [-1200.0, -600.0],
        "arr_now": [0.0, 2040.0],
    }
    todo = loss_actions(
        losses, as_of=pd.Timestamp("2026-09-30"), next_renewal=pd.Series({"b": pd.Timestamp("2026-10-15")}), lang="ja"
    )
    assert todo["deadline"].tolist() == [pd.Timestamp("2026-10-30"), pd.Timestamp("2026-10-15")]
    assert todo["arr_change"].tolist() == ["▼ -¥1,200", "▼ -¥600"]
    assert todo["action"].iloc[0].startswith("解約理由を確認") and todo["action"].iloc[1].startswith("縮小理由")
    assert quarter_losses(movements, accounts, quarter="2026Q4").empty


def test_cohort_heatmap_stays_readable(demo_ds) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.data import revenue
    from cs_playbook.kpi.summary import recent_cohorts
    from cs_playbook.plots import kpi as charts
    from cs_playbook.quarters import last_complete_quarter, quarter_bounds

    q = last_complete_quarter(demo_ds.as_of)
    monthly = revenue.monthly_mrr(demo_ds.subscriptions, end=quarter_bounds(q)[1])
    cohorts = recent_cohorts(revenue.cohort_retention(monthly, freq="Q"), quarter=q)
    assert cohorts["cohort"].nunique() == 8 and cohorts["cohort"].max() == q
    assert cohorts["periods_since_start"].max() == 7
    ax = charts.cohort_heatmap(cohorts, lang="ja")
    cells = [t for t in ax.texts if t.get_text().endswith("%")]
    assert len(cells) == 36 and min(t.get_fontsize() for t in cells) >= 10  # 8 + 7 + ... + 1 cells, 10 pt or more
    # on the page the figure is shown at its size at 100 dpi, so 10 pt is about 14 px
    assert ax.figure.get_size_inches()[0] * ax.figure.dpi <= 1200
    assert ax.get_title().startswith("開始四半期別のARR維持率") and ax.get_xlabel() == "開始からの経過四半期"
    plt.close("all")
