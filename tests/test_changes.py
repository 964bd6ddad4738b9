"""What changed since the previous quarter: tier changes, new renewals at risk, deltas and converted leads."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from cs_playbook import changes
from cs_playbook.config import PARAMS_DIR
from cs_playbook.state import build_state


@pytest.fixture(scope="module")
def state(demo_ds):
    return build_state(demo_ds, quarter="2026Q3", params_dir=PARAMS_DIR)


def test_tier_changes_take_both_tiers_from_the_two_states(state) -> None:
    prev = state.previous
    moved = changes.tier_changes(state, prev)
    assert list(moved.columns) == changes.TIER_CHANGE_COLUMNS and len(moved) > 0
    before = prev.accounts.set_index("account_id")
    now = state.accounts.set_index("account_id")
    for row in moved.itertuples(index=False):
        assert row.tier_before == before.loc[row.account_id, "health_tier"] != row.tier_after
        assert row.tier_after == now.loc[row.account_id, "health_tier"]
        assert row.probability_before == pytest.approx(before.loc[row.account_id, "churn_probability"])
        assert row.arr == pytest.approx(now.loc[row.account_id, "arr"])
    both = now.join(before[["health_tier"]].add_suffix("_before"), how="inner")
    assert set(moved["account_id"]) == set(both.index[both["health_tier"] != both["health_tier_before"]])
    assert moved["arr"].is_monotonic_decreasing
    assert changes.tier_changes_consistent(moved, state, prev)
    assert not changes.tier_changes_consistent(moved.iloc[1:], state, prev)


def test_the_driver_is_a_measure_that_moved_the_way_the_score_went(state) -> None:
    prev = state.previous
    moved = changes.tier_changes(state, prev).set_index("account_id")
    assert moved["driver"].notna().all()
    score = (
        state.accounts.set_index("account_id")["health_score"] - prev.accounts.set_index("account_id")["health_score"]
    )
    went = score.reindex(moved.index)
    # A better tier comes with a higher score: its driver gained points (and the other way round).
    same_way = (went * moved["driver_points_change"]) >= 0
    assert same_way.mean() > 0.9
    names = set()
    for acc in (state.accounts, prev.accounts):
        names |= set(acc[["driver_1", "driver_2", "driver_3"]].stack().dropna())
    assert set(moved["driver"]) <= names


def test_new_renewals_at_risk_are_at_risk_now_and_were_not_before(state) -> None:
    prev = state.previous
    new = changes.new_renewals_at_risk(state, prev)
    assert list(new.columns) == changes.RENEWAL_RISK_COLUMNS and len(new) > 0
    now = state.accounts.set_index("account_id").loc[new["account_id"]]
    assert (now["arr_renewing"] > 0).all() and (now["health_tier"] == "bad").all()
    was = changes.renewals_at_risk(prev.accounts).set_axis(prev.accounts["account_id"])
    assert not was.reindex(new["account_id"]).fillna(False).any()
    assert set(new["change_reason"]) <= {"worsened", "newly_renewing", "new_account"}
    worsened = new[new["change_reason"] == "worsened"]
    assert (prev.accounts.set_index("account_id").loc[worsened["account_id"], "arr_renewing"] > 0).all()
    by_probability = changes.new_renewals_at_risk(state, prev, min_probability=0.3)
    assert (state.accounts.set_index("account_id").loc[by_probability["account_id"], "churn_probability"] >= 0.3).all()


def test_state_deltas_are_now_minus_before(state) -> None:
    deltas = changes.state_deltas(state, state.previous)
    for name, (now, before, delta) in deltas.items():
        assert delta == pytest.approx(now - before), name
    assert deltas["arr_at_risk"][0] == pytest.approx(state.accounts["arr_at_risk"].sum())
    assert deltas["arr_at_risk"][1] == pytest.approx(state.previous.accounts["arr_at_risk"].sum())
    tiers = sum(deltas[f"accounts_{t}"][0] for t in ("good", "normal", "bad"))
    assert tiers == deltas["accounts"][0] == len(state.accounts)
    assert deltas["grr_forecast"][0] == pytest.approx(state.grr_forecast["expected_grr"])
    figures = changes.delta_figures(deltas, lang="ja", currency="JPY")
    risk = next(f for f in figures if f["label"] == "解約リスクARR")
    assert risk["change"].startswith("前四半期比 ") and risk["direction"] == (
        "bad" if deltas["arr_at_risk"][2] > 0 else "good"
    )


def test_without_a_previous_quarter_everything_says_so(state) -> None:
    alone = replace(state, previous=None)
    assert changes.tier_changes(alone, None).empty
    assert list(changes.tier_changes(alone, None).columns) == changes.TIER_CHANGE_COLUMNS
    assert changes.new_renewals_at_risk(alone, None).empty
    deltas = changes.state_deltas(alone, None)
    assert all(before is None and delta is None for _, before, delta in deltas.values())
    figures = changes.decision_figures(
        deltas,
        new_at_risk=changes.new_renewals_at_risk(alone, None),
        leads=pd.DataFrame(),
        has_previous=False,
        lang="en",
        currency="JPY",
    )
    assert len(figures) == 5 and all(f["change"] is None for f in figures)
    assert figures[3]["value"] == figures[4]["value"] == "—"


def _line(sub: str, account: str, product: str, start: str, end: str, arr: float, seats: float | None) -> dict:
    return {
        "subscription_id": sub,
        "account_id": account,
        "department": None,
        "product": product,
        "start_date": pd.Timestamp(start),
        "end_date": pd.Timestamp(end),
        "arr": arr,
        "seats": seats,
    }


def test_a_lead_converted_when_its_contracts_grew_after_the_previous_quarter() -> None:
    subs = pd.DataFrame(
        [
            _line("S1", "A1", "Platform", "2026-01-01", "2026-12-31", 100.0, 10),
            _line("S2", "A1", "Platform", "2026-08-01", "2026-12-31", 50.0, 5),  # seats added in August
            _line("S3", "A2", "Platform", "2026-01-01", "2026-12-31", 100.0, 10),  # no change
            _line("S4", "A3", "Platform", "2026-01-01", "2026-12-31", 100.0, 10),
            _line("S5", "A3", "Analytics", "2026-09-01", "2026-12-31", 30.0, 3),  # a new product: cross-sell
        ]
    )
    leads = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "account_name": ["a", "b", "c"],
            "owner": ["x", "y", None],
            "play": ["seat_upsell", "seat_upsell", "seat_upsell"],
            "expected_arr": [10.0, 20.0, 5.0],
        }
    )
    out = changes.leads_converted(
        leads, subs, since=pd.Timestamp("2026-06-30"), until=pd.Timestamp("2026-09-30")
    ).set_index("account_id")
    assert out.loc["A1", "converted"] and out.loc["A1", "same_play"] and out.loc["A1", "expansion_arr"] == 50.0
    assert not out.loc["A2", "converted"] and out.loc["A2", "expansion_arr"] == 0.0
    assert out.loc["A3", "converted"] and not out.loc["A3", "same_play"]
    fig = changes.conversion_figures(out.reset_index())
    assert fig == {
        "leads": 3,
        "converted": 2,
        "conversion_rate": pytest.approx(2 / 3),
        "converted_same_play": 1,
        "expansion_arr": 80.0,
    }
    # Growth after `until` is not a conversion of the quarter.
    late = changes.leads_converted(leads, subs, since=pd.Timestamp("2026-06-30"), until=pd.Timestamp("2026-07-31"))
    assert not late["converted"].any()


def test_deltas_record_is_what_the_index_reads() -> None:
    record = changes.deltas_record({"arr_at_risk": (120.0, 100.0, 20.0), "grr_forecast": (0.97, None, None)})
    assert record == {
        "arr_at_risk": {"now": 120.0, "before": 100.0, "delta": 20.0},
        "grr_forecast": {"now": 0.97, "before": None, "delta": None},
    }
