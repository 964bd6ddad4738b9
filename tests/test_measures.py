"""Account measures against hand counts; nothing on or after the observation date leaks in."""

from __future__ import annotations

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest

from cs_playbook.data.io import Dataset
from cs_playbook.data.measures import (
    MEASURE_LABELS,
    MEASURES,
    account_measures,
    contract_state,
    data_start,
    observation_grid,
    renewal_observations,
)

T = pd.Timestamp


def _subs() -> pd.DataFrame:
    rows = [
        # A: Platform 10 seats + Analytics on the same 10 seats, one annual term, then renewed.
        ("S1", "A", None, "Platform", "2024-01-01", "2024-12-31", 1200.0, 10, True),
        ("S2", "A", None, "Analytics", "2024-01-01", "2024-12-31", 600.0, 10, False),
        ("S3", "A", None, "Platform", "2025-01-01", "2025-12-31", 1200.0, 10, True),
        # B: starts mid-March, open-ended, per department.
        ("S4", "B", "営業部", "Platform", "2024-03-15", None, 2400.0, 20, True),
        ("S5", "B", "人事部", "Platform", "2024-03-15", None, 1200.0, 5, True),
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "subscription_id",
            "account_id",
            "department",
            "product",
            "start_date",
            "end_date",
            "arr",
            "seats",
            "auto_renew",
        ],
    )
    df["start_date"] = pd.to_datetime(df["start_date"])
    df["end_date"] = pd.to_datetime(df["end_date"])
    df["currency"] = "JPY"
    return df


def _events() -> pd.DataFrame:
    rows = [
        ("A", "u1", "2024-01-10 10:00", "login"),
        ("A", "u2", "2024-01-11 10:00", "create_report"),
        ("A", "u1", "2024-01-12 10:00", "login"),
        ("A", "u1", "2024-01-20 10:00", "search"),  # January: 4 events
        ("A", "u1", "2024-03-05 10:00", "login"),
        ("A", "u2", "2024-03-06 10:00", "login"),  # March: 2 events
        ("A", "u1", "2024-04-02 10:00", "login"),
        ("A", "u2", "2024-04-03 10:00", "create_report"),
        ("A", "u3", "2024-04-28 10:00", "export_csv"),  # April: 3 events, 3 users, 3 types; last active Apr 28
        ("A", "u1", "2024-05-01 09:00", "login"),  # on the observation date: must not count
        ("B", "v1", "2024-04-15 10:00", "login"),
    ]
    df = pd.DataFrame(rows, columns=["account_id", "user_id", "event_time", "event_type"])
    df["event_time"] = pd.to_datetime(df["event_time"])
    return df


def _tables() -> dict[str, pd.DataFrame]:
    accounts = pd.DataFrame(
        {
            "account_id": ["A", "B"],
            "account_name": ["株式会社A", "B株式会社"],
            "segment": ["smb", "enterprise"],
            "industry": [None, None],
            "employees": [50, 5000],
            "region": [None, None],
            "csm": [None, "中村 拓也"],
            "created_at": pd.to_datetime(["2023-12-01", "2024-03-01"]),
        }
    )
    tickets = pd.DataFrame(
        {
            "ticket_id": ["T1", "T2", "T3", "T4", "T5"],
            "account_id": ["A", "A", "A", "A", "A"],
            "opened_at": pd.to_datetime(
                ["2024-01-15 10:00", "2024-03-01 10:00", "2024-04-20 10:00", "2024-04-30 10:00", "2024-05-01 08:00"]
            ),
            "severity": ["low", "high", "critical", "low", "critical"],
            "closed_at": pd.to_datetime(["2024-01-16", "2024-03-02", None, "2024-05-03", None]),
        }
    )
    surveys = pd.DataFrame(
        {
            "account_id": ["A", "A", "A"],
            "responded_at": pd.to_datetime(["2024-01-20 10:00", "2024-04-10 10:00", "2024-05-01 10:00"]),
            "score": [9, 5, 10],
        }
    )
    activities = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "A"],
            "occurred_at": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-04-01", "2024-04-15"]),
            "activity_type": ["meeting", "email", "qbr", "power_map"],
            "notes_logged": [True, True, False, True],
        }
    )
    stakeholders = pd.DataFrame(
        {
            "account_id": ["A", "A", "A"],
            "as_of": pd.to_datetime(["2023-12-31", "2024-03-31", "2024-06-30"]),
            "champion": pd.array([True, False, True], dtype="boolean"),
            "exec_access": pd.array([True, True, False], dtype="boolean"),
            "success_plan": pd.array([False, False, True], dtype="boolean"),
        }
    )
    bantc = pd.DataFrame(
        {
            "account_id": ["A", "A"],
            "assessed_at": pd.to_datetime(["2024-03-20", "2024-05-01"]),
            "budget": ["risk", "ok"],
            "authority": ["ok", "ok"],
            "need": ["risk", "ok"],
            "timeframe": ["unknown", "ok"],
            "competitor": ["ok", "ok"],
        }
    )
    return {
        "accounts": accounts,
        "subscriptions": _subs(),
        "tickets": tickets,
        "surveys": surveys,
        "activities": activities,
        "stakeholders": stakeholders,
        "bantc": bantc,
    }


def make_ds(tables: dict[str, pd.DataFrame], events: pd.DataFrame | None) -> Dataset:
    raw = duckdb.connect()
    if events is not None:
        raw.register("ev_raw", events)
    con = ibis.duckdb.from_connection(raw)
    ev = con.table("ev_raw") if events is not None else None
    return Dataset(
        source="hand",
        as_of=T("2025-06-30"),
        currency="JPY",
        tables=tables,
        files={},
        con=con,
        events=ev,
    )


@pytest.fixture
def ds() -> Dataset:
    return make_ds(_tables(), _events())


OBS = pd.DataFrame({"account_id": ["A", "B"], "obs_date": [T("2024-05-01"), T("2024-05-01")]})


def test_every_measure_of_one_account_by_hand(ds) -> None:
    m = account_measures(ds, OBS).set_index("account_id")
    a = m.loc["A"]
    # contract on Apr 30: Platform + Analytics, ARR 1200 + 600; seats are the 10 Platform seats, not 20
    assert (a["arr"], a["seats"], a["products"], a["departments"]) == (1800, 10, 2, 0)
    assert a["tenure_days"] == 121  # 2024-01-01 -> 2024-05-01
    assert a["days_to_renewal"] == 245  # renewal 2025-01-01
    assert a["auto_renew"] == 0  # the Analytics line does not auto-renew
    assert (a["segment"], a["employees"], a["has_csm"]) == ("smb", 50, 0)
    # April usage: 3 events, 3 users, 3 event types, 3 days; the May 1 event is not seen
    assert (a["events"], a["active_users"], a["active_days"], a["feature_breadth"]) == (3, 3, 3, 3)
    assert a["events_per_seat"] == pytest.approx(0.3)
    assert a["active_user_share"] == pytest.approx(0.3)
    assert a["events_per_active_user"] == pytest.approx(1.0)
    assert a["usage_trend_1m"] == pytest.approx(3 / 2 - 1)  # April 3 vs March 2
    assert a["usage_trend_3m"] == pytest.approx(3 / 4 - 1)  # April 3 vs January 4
    assert a["days_since_last_activity"] == 3  # Apr 28 -> May 1
    # tickets in the 90 days before May 1 (from Feb 1): T2 high, T3 critical, T4 low; T5 is on May 1
    assert (a["tickets"], a["severe_tickets"]) == (3, 2)
    assert a["severe_ticket_share"] == pytest.approx(2 / 3)
    assert a["open_tickets"] == 2  # T3 never closed, T4 closed May 3
    assert (a["nps_score"], a["nps_age_days"]) == (5, 21)  # Apr 10 answer; the May 1 one is not seen
    # activities from Feb 1: email, qbr, power_map
    assert (a["touchpoints"], a["meetings"], a["renewal_steps"]) == (3, 1, 1)
    # stakeholders: Mar 31 snapshot (champion gone since Dec 31)
    assert (a["champion"], a["exec_access"], a["success_plan"], a["champion_lost"]) == (0, 1, 0, 1)
    assert a["stakeholder_age_days"] == 31
    # BANTC of Mar 20 (the May 1 one is not seen): budget and need at risk, timeframe unknown
    assert (a["bantc_budget_risk"], a["bantc_need_risk"], a["bantc_authority_risk"]) == (1, 1, 0)
    assert (a["bantc_risk_count"], a["bantc_unknown_count"], a["bantc_age_days"]) == (2, 1, 42)


def test_second_account_by_hand(ds) -> None:
    b = account_measures(ds, OBS).set_index("account_id").loc["B"]
    assert (b["arr"], b["seats"], b["departments"], b["has_csm"]) == (3600, 25, 2, 1)
    assert np.isnan(b["days_to_renewal"])  # open-ended
    assert (b["events"], b["active_user_share"]) == (1, pytest.approx(1 / 25))
    assert b["days_since_last_activity"] == 16  # Apr 15 -> May 1
    assert b["tickets"] == 0 and np.isnan(b["nps_score"]) and np.isnan(b["champion"])


def test_nothing_on_or_after_the_observation_date_changes_the_measures(ds) -> None:
    before = account_measures(ds, OBS)
    tables = {k: v.copy() for k, v in _tables().items()}
    future = T("2024-05-01 00:00")
    tables["tickets"] = pd.concat(
        [
            tables["tickets"],
            pd.DataFrame(
                {
                    "ticket_id": ["T9"],
                    "account_id": ["B"],
                    "opened_at": [future],
                    "severity": ["critical"],
                    "closed_at": [pd.NaT],
                }
            ),
        ]
    )
    tables["surveys"] = pd.concat(
        [tables["surveys"], pd.DataFrame({"account_id": ["B"], "responded_at": [future], "score": [0]})]
    )
    ev = pd.concat(
        [
            _events(),
            pd.DataFrame(
                {"account_id": ["B"] * 3, "user_id": ["x", "y", "z"], "event_time": [future] * 3, "event_type": "login"}
            ),
        ]
    )
    after = account_measures(make_ds(tables, ev), OBS)
    pd.testing.assert_frame_equal(before, after)


def test_absent_optional_tables_give_missing_measures_not_errors() -> None:
    tables = {k: v for k, v in _tables().items() if k in ("accounts", "subscriptions")}
    m = account_measures(make_ds(tables, None), OBS)
    assert list(m.columns) == ["account_id", "obs_date", *MEASURES]
    assert m["arr"].tolist() == [1800, 3600]
    for col in ("events", "active_user_share", "tickets", "nps_score", "champion", "bantc_need_risk", "touchpoints"):
        assert m[col].isna().all(), col


def test_stale_answers_are_missing(ds) -> None:
    m = account_measures(ds, OBS, bantc_max_age_days=30, nps_max_age_days=10).set_index("account_id")
    assert np.isnan(m.loc["A", "bantc_need_risk"]) and np.isnan(m.loc["A", "nps_score"])


def test_grid_observes_accounts_that_were_customers_the_day_before() -> None:
    subs = _subs()
    grid = observation_grid(subs, start=T("2024-03-01"), end=T("2024-05-01"))
    got = grid.groupby("obs_date")["account_id"].apply(list).to_dict()
    # B starts Mar 15: not a customer on Feb 29 or on Mar 14, so first seen Apr 1
    assert got == {T("2024-03-01"): ["A"], T("2024-04-01"): ["A", "B"], T("2024-05-01"): ["A", "B"]}
    # A's first term ends Dec 31 and renews Jan 1: observed on Jan 1 (customer on Dec 31) and after
    after = observation_grid(subs, start=T("2025-01-01"), end=T("2026-02-01"))
    a_dates = after.loc[after["account_id"] == "A", "obs_date"]
    assert a_dates.min() == T("2025-01-01") and a_dates.max() == T("2026-01-01")


def test_renewal_observations_at_a_fixed_lead() -> None:
    obs = renewal_observations(_subs(), lead_days=60)
    # A renews 2025-01-01 (both first lines) and 2026-01-01; open-ended B never renews
    assert obs["account_id"].tolist() == ["A", "A"]
    assert obs["renewal_date"].tolist() == [T("2025-01-01"), T("2026-01-01")]
    assert obs["obs_date"].tolist() == [T("2024-11-02"), T("2025-11-02")]


def test_contract_state_next_renewal_and_all_renewed_by() -> None:
    subs = pd.concat(
        [
            _subs(),
            pd.DataFrame(
                {
                    "subscription_id": ["S6"],
                    "account_id": ["A"],
                    "department": [None],
                    "product": ["API"],
                    "start_date": [T("2024-02-01")],
                    "end_date": [T("2024-07-31")],
                    "arr": [300.0],
                    "seats": [np.nan],
                    "auto_renew": [True],
                    "currency": ["JPY"],
                }
            ),
        ]
    )
    st = contract_state(subs, OBS).set_index("account_id")
    assert st.loc["A", "next_renewal"] == T("2024-08-01") and st.loc["A", "all_renewed_by"] == T("2025-01-01")
    assert pd.isna(st.loc["B", "all_renewed_by"]) and st.loc["A", "arr"] == 2100


def test_every_measure_is_documented() -> None:
    assert set(MEASURE_LABELS) == set(MEASURES)


def test_term_months_and_usage_metric_measures() -> None:
    """term_months is the longest active line; every usage metric and event type gives usage_ measures."""
    m = account_measures(make_ds(_tables(), _events()), OBS)
    assert m["term_months"].iloc[0] == pytest.approx(366 * 12 / 365.25)  # A: one line over 2024, a leap year
    assert np.isnan(m["term_months"].iloc[1])  # B: an open-ended line has no term
    usage = [c for c in m.columns if c not in MEASURES and c not in ("account_id", "obs_date")]
    assert usage and all(c.startswith("usage_") for c in usage)
    assert {"usage_events_login_per_user", "usage_events_login_per_seat", "usage_seat_utilization"} <= set(usage)
    np.testing.assert_allclose(m["usage_events_total_per_seat"], m["events_per_seat"], equal_nan=True)


def test_demo_measures_depend_only_on_the_past(demo_ds) -> None:
    """Measures on the demo company equal those computed from a copy cut at the observation date."""
    day = T("2025-06-01")
    obs = observation_grid(demo_ds.subscriptions, start=day, end=day)
    full = account_measures(demo_ds, obs)
    assert len(full) > 100 and data_start(demo_ds) == T("2023-11-01")
    assert full["active_user_share"].between(0, 10).all() and full["events"].sum() > 0
    cut_cols = {
        "tickets": "opened_at",
        "surveys": "responded_at",
        "activities": "occurred_at",
        "stakeholders": "as_of",
        "bantc": "assessed_at",
    }
    tables = dict(demo_ds.tables)
    for name, col in cut_cols.items():
        tables[name] = tables[name][tables[name][col] < day]
    tables["tickets"] = tables["tickets"].assign(
        closed_at=tables["tickets"]["closed_at"].where(tables["tickets"]["closed_at"] < day)
    )
    ev = demo_ds.events
    cut = Dataset(
        source="cut",
        as_of=day,
        currency="JPY",
        tables=tables,
        files={},
        con=demo_ds.con,
        events=ev.filter(ev.event_time < day),
    )
    past = account_measures(cut, obs)
    # event types first used after the date have no usage-metric measure in the cut, and are 0 or missing in the full data
    later = [c for c in full.columns if c not in past.columns]
    assert all(c.startswith("usage_events_") for c in later)
    assert full[later].fillna(0).eq(0).all().all()
    pd.testing.assert_frame_equal(full[past.columns], past)


def test_docs_list_every_measure() -> None:
    from cs_playbook.config import PROJ_ROOT

    text = (PROJ_ROOT / "docs" / "health-score.md").read_text(encoding="utf-8")
    missing = [m for m in MEASURES if f"| `{m}` |" not in text]
    assert not missing, f"docs/health-score.md does not describe {missing}"


def _count(rows: pd.DataFrame, col: str, account: str, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Rows of `account` with start <= col < end, one by one."""
    return sum(
        a == account and not pd.isna(t) and start <= t < end for a, t in zip(rows["account_id"], rows[col], strict=True)
    )


def test_as_of_edge_cases_agree_with_a_row_by_row_count() -> None:
    """Ties on the date, missing times, unsorted rows, repeated and out-of-range observations."""
    tables = _tables()
    tables["tickets"] = pd.DataFrame(
        {
            "ticket_id": [f"T{i}" for i in range(8)],
            "account_id": ["A", "C", "A", "A", "A", "A", "A", None],
            "opened_at": pd.to_datetime(
                [
                    "2024-05-01 00:00",  # on the observation date: not seen
                    "2024-04-01 00:00",  # an account never observed
                    "2024-02-01 00:00",  # exactly 90 days before May 1: in the window
                    None,  # no time: never counted
                    "2024-04-30 23:59",
                    "2024-01-31 23:59",  # just before the window
                    "2024-04-30 23:59",  # the same time twice
                    "2024-04-02 00:00",  # no account
                ]
            ),
            "severity": ["critical", "high", "high", "critical", "low", "critical", "critical", "high"],
            "closed_at": pd.to_datetime([None, None, "2024-02-01", "2024-03-01", None, "2024-05-01", None, None]),
        }
    )
    tables["surveys"] = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "A"],
            "responded_at": pd.to_datetime(["2024-05-01 00:00", "2024-04-10 10:00", None, "2024-04-10 10:00"]),
            "score": [10, 5, 1, 7],  # the later of two answers at the same time wins
        }
    )
    dates = ["2024-05-01", "2024-05-01", "2024-05-01", "2023-01-01", "2024-02-01", "2024-05-01", "2024-04-10"]
    obs = pd.DataFrame({"account_id": ["A", "B", "A", "A", "A", "Z", "A"], "obs_date": pd.to_datetime(dates)})
    m = account_measures(make_ds(tables, _events()), obs)
    pd.testing.assert_frame_equal(m[["account_id", "obs_date"]], obs, check_dtype=False)
    tk, sv = tables["tickets"], tables["surveys"]
    for i, (a, d) in enumerate(zip(obs["account_id"], obs["obs_date"], strict=True)):
        start, severe = d - pd.Timedelta(days=90), tk[tk["severity"].isin(["high", "critical"])]
        assert m["tickets"].iloc[i] == _count(tk, "opened_at", a, start, d), i
        assert m["severe_tickets"].iloc[i] == _count(severe, "opened_at", a, start, d), i
        open_ = _count(tk, "opened_at", a, T.min, d) - _count(tk, "closed_at", a, T.min, d)
        assert m["open_tickets"].iloc[i] == open_, i
        seen = sv[(sv["account_id"] == a) & (sv["responded_at"] < d)]
        latest = seen[seen["responded_at"] == seen["responded_at"].max()].tail(1)
        score = float(latest["score"].iloc[0]) if len(latest) else np.nan
        age = float((d - latest["responded_at"].iloc[0].normalize()).days) if len(latest) else np.nan
        np.testing.assert_equal((m["nps_score"].iloc[i], m["nps_age_days"].iloc[i]), (score, age), err_msg=str(i))
    assert (m["tickets"].iloc[0], m["open_tickets"].iloc[0], m["nps_score"].iloc[0]) == (3, 2, 7)
