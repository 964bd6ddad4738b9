"""Renewal calendar, schedule and BANTC readiness on hand-made contracts (dates hand-counted in comments).

As of Fri 2026-11-20. JP calendar with 年末年始 closed (12/29-1/3); holidays near it: 10/12 スポーツの日,
11/3 文化の日, 11/23 勤労感謝の日 (Mon), 2027-01-01 元日.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cs_playbook.data.revenue import monthly_mrr
from cs_playbook.errors import ParamsError
from cs_playbook.params import load_params
from cs_playbook.renewals.business_days import CalendarParams, business_calendar, business_days_between, is_business_day
from cs_playbook.renewals.calendar import (
    BantcParams,
    RenewalParams,
    arr_by_week,
    bantc_answers,
    bantc_readiness,
    calendar_export,
    calendar_for,
    lines_known_at,
    renewal_calendar,
    renewal_deadlines,
    renewal_lines,
    schedule_progress,
    schedule_status,
    schedule_summary,
)
from cs_playbook.renewals.churn_review import segment_churn_risk
from cs_playbook.renewals.prevention import account_tenure, prioritise, renewal_accounts
from cs_playbook.renewals.summary import consistency_checks, headline, summary_figures

AS_OF = pd.Timestamp("2026-11-20")
CAL = business_calendar(CalendarParams(country="JP"), years=(2024, 2028))
PARAMS = RenewalParams()


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def subs(*rows: tuple) -> pd.DataFrame:
    """Lines as (account_id, department or None, product, start, end or None, arr, auto_renew)."""
    out = []
    for i, (acc, dept, prod, start, end, arr, auto) in enumerate(rows):
        out.append(
            {
                "subscription_id": f"S{i}",
                "account_id": acc,
                "department": dept,
                "product": prod,
                "start_date": ts(start),
                "end_date": ts(end) if end else pd.NaT,
                "arr": float(arr),
                "seats": 10,
                "auto_renew": auto,
                "currency": "JPY",
            }
        )
    return pd.DataFrame(out)


SUBS = subs(
    ("A", "営業部", "Platform", "2026-01-01", "2026-12-31", 1200, True),
    ("A", "営業部", "API", "2026-01-01", "2026-12-31", 600, False),
    ("A", "人事部", "Platform", "2026-05-07", "2027-05-06", 900, True),  # renews 2027-05-07: beyond the horizon
    ("B", None, "Platform", "2025-11-21", "2026-11-20", 500, True),  # ends on the as-of date: renews 11/21
    ("C", None, "Platform", "2025-11-01", "2026-10-31", 700, True),  # already ended
    ("D", "開発部", "Platform", "2025-12-01", "2026-11-30", 800, True),
    ("D", "開発部", "Platform", "2026-12-01", "2027-11-30", 800, True),  # renewal signed in advance
    ("E", None, "Platform", "2025-01-01", None, 300, True),  # open-ended: no renewal
    ("F", None, "Platform", "2026-03-01", "2027-02-28", 400, True),  # renews 2027-03-01
    ("G", None, "Platform", "2026-02-19", "2027-02-18", 450, True),  # renews 2027-02-19
)
ACCOUNTS = pd.DataFrame(
    {
        "account_id": list("ABCDEFG"),
        "account_name": [f"株式会社{x}" for x in "ABCDEFG"],
        "segment": ["enterprise", "smb", "smb", "mid_market", "smb", "smb", "smb"],
        "csm": ["佐藤", None, None, "鈴木", None, "佐藤", "佐藤"],
    }
)


@pytest.fixture(scope="module")
def calendar() -> pd.DataFrame:
    return renewal_calendar(SUBS, ACCOUNTS, CAL, PARAMS, as_of=AS_OF)


def row(df: pd.DataFrame, account: str, **match: str) -> pd.Series:
    sel = df["account_id"] == account
    for k, v in match.items():
        sel &= df[k] == v
    assert sel.sum() == 1, df[sel]
    return df[sel].iloc[0]


def test_renewal_lines_in_the_horizon() -> None:
    lines = renewal_lines(SUBS, as_of=AS_OF, horizon_days=120)  # up to 2027-03-20
    assert sorted(lines["subscription_id"]) == ["S0", "S1", "S3", "S5", "S8", "S9"]
    assert lines.set_index("subscription_id")["renewal_date"].to_dict()["S3"] == ts("2026-11-21")
    signed = lines.set_index("subscription_id")["signed"]
    assert signed["S5"] and not signed["S0"]
    # Back-testing an earlier date must not see the renewal signed later.
    past = lines_known_at(SUBS, as_of=ts("2026-11-20"), data_as_of=ts("2026-11-25"))
    assert not renewal_lines(past, as_of=AS_OF, horizon_days=120).set_index("subscription_id")["signed"]["S5"]
    assert lines_known_at(SUBS, as_of=AS_OF, data_as_of=AS_OF) is SUBS


def test_calendar_groups_lines_by_account_and_department(calendar: pd.DataFrame) -> None:
    assert len(calendar) == 5  # A 営業部, B, D 開発部, F, G
    a = row(calendar, "A")
    assert a["department"] == "営業部" and a["arr"] == 1800 and a["lines"] == 2
    assert a["products"] == "API, Platform" and not a["auto_renew"]  # one of the two lines is not auto-renew
    assert a["renewal_date"] == ts("2027-01-01") and a["account_name"] == "株式会社A"
    assert list(calendar["account_id"]) == ["B", "D", "A", "G", "F"]  # soonest first


def test_deadlines_hand_counted(calendar: pd.DataFrame) -> None:
    a = row(calendar, "A")
    # Renewal 2027-01-01 (元日, company closed 12/29-1/3): 20 business days back from 12/28 is 12/1 (see
    # tests/test_business_days.py). Department contact a month before: Tue 12/1. Schedule: 3 months before is
    # Thu 10/1; ten business days 10/1, 10/2, 10/5-10/9, (10/12 holiday), 10/13, 10/14, 10/15 -> ends 10/15.
    assert a["decision_deadline"] == ts("2026-12-01")
    assert a["department_contact"] == ts("2026-12-01")
    assert (a["schedule_start"], a["schedule_end"]) == (ts("2026-10-01"), ts("2026-10-15"))
    # From Fri 11/20 to the deadline: 11/24-11/27, 11/30, 12/1 (11/23 is 勤労感謝の日) = 6 business days.
    assert a["business_days_to_deadline"] == 6 and a["days_to_renewal"] == 42
    b = row(calendar, "B")
    # Renewal Sat 11/21 -> counts from Tue 11/24 (11/23 holiday): 11/20 1, 11/19-16 2-5, 11/13-9 6-10,
    # 11/6-4 11-13, (11/3 文化の日), 11/2 14, 10/30-26 15-19, 10/23 20.
    assert b["decision_deadline"] == ts("2026-10-23")
    assert pd.isna(b["department_contact"])  # company-wide contract: no department to contact
    # Passed: business days in [10/24, 11/21) = 5 + 1 + 3 + 5 + 5 = 19.
    assert b["business_days_to_deadline"] == -19
    d = row(calendar, "D")
    # Renewal Tue 12/1: 11/30 1, 11/27-24 2-5, (11/23), 11/20-16 6-10, 11/13-9 11-15, 11/6-4 16-18, 11/2 19,
    # 10/30 20. Department contact 11/1 (Sun) -> back to Fri 10/30.
    assert d["decision_deadline"] == ts("2026-10-30") and d["department_contact"] == ts("2026-10-30")
    assert d["signed"]


def test_deadline_parameters_change_the_count() -> None:
    one = pd.DataFrame({"renewal_date": [ts("2026-05-07")], "department": ["営業部"]})
    got = renewal_deadlines(
        one, CAL, as_of=ts("2026-03-31"), deadline_business_days=5, contact_months=2, schedule_months=1
    ).iloc[0]
    # 5 business days before Thu 5/7 (5/2-5/6 off, 4/29 off): 5/1, 4/30, 4/28, 4/27, 4/24 -> 4/24.
    assert got["decision_deadline"] == ts("2026-04-24")
    assert got["department_contact"] == ts("2026-03-06")  # 3/7 is a Saturday -> Fri 3/6
    # Schedule a month before: 4/7 (Tue); its 10th business day: 4/7-4/10, 4/13-4/17, 4/20 -> 4/20.
    assert (got["schedule_start"], got["schedule_end"]) == (ts("2026-04-07"), ts("2026-04-20"))


ACTS = pd.DataFrame(
    [
        ("A", "2026-10-02 15:00", "power_map"),  # due 10/2 (2nd business day): on time
        ("A", "2026-10-20 10:00", "usage_review"),  # due 10/6: late
        ("A", "2026-01-10 10:00", "dissatisfaction_check"),  # more than 180 days before the renewal: not this cycle
        ("A", "2026-11-25 10:00", "renewal_intent"),  # after the as-of date: not known yet
        ("B", "2026-10-01 10:00", "upsell_proposal"),  # another account's step
        ("G", "2026-11-19 10:00", "power_map"),  # before G's schedule window: counts, on time
    ],
    columns=["account_id", "occurred_at", "activity_type"],
).assign(occurred_at=lambda d: pd.to_datetime(d["occurred_at"]), notes_logged=True)


def test_schedule_steps_done_late_overdue(calendar: pd.DataFrame) -> None:
    steps = schedule_status(calendar, ACTS, PARAMS.steps, CAL, as_of=AS_OF)
    assert set(steps["account_id"]) == {"A", "D", "F", "G"}  # B has no CSM (tech touch)
    a = steps[steps["account_id"] == "A"].set_index("step")
    # Window from Thu 10/1: business day 2 = 10/2, 4 = 10/6, 6 = 10/8, 8 = 10/13 (10/12 holiday), 10 = 10/15.
    assert a["due"].dt.strftime("%m/%d").tolist() == ["10/02", "10/06", "10/08", "10/13", "10/15"]
    assert a["status"].to_dict() == {
        "power_map": "done",
        "usage_review": "done_late",
        "dissatisfaction_check": "overdue",
        "renewal_intent": "overdue",
        "upsell_proposal": "overdue",
    }
    g = steps[steps["account_id"] == "G"].set_index("step")["status"]
    # G renews Fri 2027-02-19: window from Thu 11/19; step 2 due Fri 11/20 (today), the rest later: open.
    assert g.to_dict() == {
        "power_map": "done",
        "usage_review": "open",
        "dissatisfaction_check": "open",
        "renewal_intent": "open",
        "upsell_proposal": "open",
    }
    # F renews 2027-03-01: the window starts 12/1, after the as-of date.
    assert set(steps.loc[steps["account_id"] == "F", "status"]) == {"not_started"}
    summary = schedule_summary(steps).set_index("account_id")
    assert summary.loc["A", "steps_done"] == 2 and summary.loc["A", "steps_overdue"] == 3
    assert (
        summary.loc["A", "overdue_steps"]
        == "dissatisfaction picked up, renewal intent confirmed, up/cross-sell proposed"
    )
    assert summary.loc["A", "next_step"] == "dissatisfaction picked up" and summary.loc["A", "next_due"] == ts(
        "2026-10-08"
    )
    progress = schedule_progress(steps)
    assert progress.loc[(progress["order"] == 1) & (progress["status"] == "done"), "renewals"].item() == 2  # A, G
    assert progress["renewals"].sum() == 4 * 5
    every = schedule_status(calendar, ACTS, PARAMS.steps, CAL, as_of=AS_OF, only_with_csm=False)
    assert "B" in set(every["account_id"])


BANTC = pd.DataFrame(
    [
        ("A", "2025-11-01", "ok", "ok", "ok", "ok", "ok"),
        ("A", "2026-10-01", "ok", "ok", "ok", "ok", "ok"),  # fresh, all ok: ready
        ("B", "2026-06-01", "ok", "ok", "risk", "ok", "unknown"),  # 172 days old: stale; need at risk
        ("D", "2025-10-15", "ok", "ok", "ok", "ok", "ok"),  # 412 days before the renewal: previous cycle
        ("G", "2026-01-10", "ok", "ok", "ok", "ok", "ok"),
        ("G", "2026-11-01", "risk", "unknown", "ok", "ok", "ok"),  # authority ok -> unknown: changed
        ("G", "2026-11-25", "ok", "ok", "ok", "ok", "ok"),  # after the as-of date: ignored
    ],
    columns=["account_id", "assessed_at", "budget", "authority", "need", "timeframe", "competitor"],
).assign(assessed_at=lambda d: pd.to_datetime(d["assessed_at"]))


def test_bantc_fresh_stale_missing_and_changes(calendar: pd.DataFrame) -> None:
    r = bantc_readiness(calendar, BANTC, BantcParams(max_age_days=120, cycle_days=300, due_days=60), as_of=AS_OF)
    r = r.set_index("account_id")
    assert r["bantc_status"].to_dict() == {"B": "stale", "D": "missing", "A": "fresh", "G": "fresh", "F": "missing"}
    # Due within 60 days: B (1 day), D (11), A (42); G (91) and F (101) are not due yet.
    assert r["bantc_due"].to_dict() == {"B": True, "D": True, "A": True, "G": False, "F": False}
    assert r.loc["A", "ready"] and not r.loc["A", "act"]
    assert r.loc["B", "need_lost"] and r.loc["B", "act"] and not r.loc["B", "ready"]
    assert (
        r.loc["B", "risks"] == "need" and r.loc["B", "unknowns"] == "competitor" and r.loc["B", "bantc_age_days"] == 172
    )
    assert pd.isna(r.loc["D", "need"]) and not r.loc["D", "act"] and not r.loc["D", "ready"]  # old answers do not count
    assert r.loc["G", "worsened"] == "budget, authority" and r.loc["G", "authority_changed"] and r.loc["G", "act"]
    assert not r.loc["G", "need_lost"] and r.loc["G", "bantc_assessed_at"] == ts("2026-11-01")
    answers = bantc_answers(r.reset_index())
    need = answers[answers["dimension"] == "need"].set_index("answer")["renewals"].to_dict()
    assert need == {"none": 2, "ok": 2, "risk": 1}
    assert answers["dimension"].unique().tolist() == ["budget", "authority", "need", "timeframe", "competitor"]


def test_bantc_age_boundary() -> None:
    cal = pd.DataFrame({"account_id": ["A", "B"], "renewal_date": [ts("2026-12-15")] * 2})
    b = pd.DataFrame(
        {
            "account_id": ["A", "B"],
            "assessed_at": [AS_OF - pd.Timedelta(days=120), AS_OF - pd.Timedelta(days=121)],
            **{d: ["ok", "ok"] for d in ("budget", "authority", "need", "timeframe", "competitor")},
        }
    )
    got = bantc_readiness(cal, b, BantcParams(), as_of=AS_OF).set_index("account_id")["bantc_status"]
    assert got.to_dict() == {"A": "fresh", "B": "stale"}  # 120 days is still fresh; 121 is stale


def test_arr_by_week_splits_at_risk(calendar: pd.DataFrame) -> None:
    risk = pd.DataFrame({"account_id": ["A", "B", "D", "F", "G"], "churn_probability": [0.1, 0.5, 0.0, 0.2, 0.2]})
    weeks = arr_by_week(calendar, risk)
    # B renews Sat 11/21 and D Tue 12/1: different weeks (Mon 11/16 and Mon 11/30).
    w = weeks.pivot_table(index="week", columns="outcome", values="arr")
    assert w.loc[ts("2026-11-16"), "at risk"] == 250 and w.loc[ts("2026-11-16"), "expected to renew"] == 250
    assert w.loc[ts("2026-11-30"), "at risk"] == 0
    assert len(w) == 16 and w.loc[ts("2026-12-07")].sum() == 0  # weeks without renewals are kept, at 0
    assert w.loc[ts("2026-12-28"), "at risk"] == pytest.approx(180)  # A: 1800 x 0.1, renewing Fri 1/1
    assert weeks["arr"].sum() == pytest.approx(calendar["arr"].sum())


def test_export_has_japanese_dates_and_labels(calendar: pd.DataFrame) -> None:
    out = calendar_export(calendar).set_index("account_id")
    assert out.loc["A", "renewal_date"] == "2027/01/01" and out.loc["A", "decision_deadline"] == "2026/12/01"
    assert out.loc["B", "department"] == "(company-wide)" and out.loc["B", "department_contact"] == ""
    assert out.loc["A", "auto_renew"] == "no" and out.loc["B", "auto_renew"] == "yes"


def test_params_file_matches_the_defaults_and_errors_name_the_key(tmp_path) -> None:
    assert load_params("renewals", RenewalParams, source=tmp_path) == RenewalParams()  # the project file alone
    (tmp_path / "renewals.yaml").write_text(
        "steps:\n  - {activity_type: power_map, label: x, due_business_day: 11}\n", encoding="utf-8"
    )
    with pytest.raises(
        ParamsError, match=r"(?s)renewals\.yaml.*steps \[.power_map.\] are due after the schedule's last business day"
    ):
        load_params("renewals", RenewalParams, directory=tmp_path)
    (tmp_path / "renewals.yaml").write_text("bantc: {max_age_days: 400}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="cycle_days must be larger"):
        load_params("renewals", RenewalParams, directory=tmp_path)
    (tmp_path / "renewals.yaml").write_text("calendar: {country: XX}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"calendar\.country"):
        load_params("renewals", RenewalParams, directory=tmp_path)


def test_demo_calendar_is_exact_and_complete(demo_ds) -> None:
    """On the small demo company: every line renewing in the horizon is in the calendar, deadlines are exact."""
    as_of = demo_ds.as_of
    subs_ = demo_ds.subscriptions
    cal = calendar_for(subs_, PARAMS.calendar, as_of=as_of)
    calendar = renewal_calendar(subs_, demo_ds.accounts, cal, PARAMS, as_of=as_of)
    renew = subs_["end_date"] + pd.Timedelta(days=1)
    direct = subs_[(subs_["end_date"] >= as_of) & (renew <= as_of + pd.Timedelta(days=PARAMS.horizon_days))]
    assert len(calendar) > 20
    assert calendar["arr"].sum() == pytest.approx(direct["arr"].sum())
    assert (business_days_between(calendar["decision_deadline"], calendar["renewal_date"], cal) == 20).all()
    assert is_business_day(calendar["decision_deadline"], cal).all()
    assert is_business_day(calendar["schedule_start"], cal).all()
    steps = schedule_status(calendar, demo_ds.get("activities"), PARAMS.steps, cal, as_of=as_of)
    readiness = bantc_readiness(calendar, demo_ds.get("bantc"), PARAMS.bantc, as_of=as_of)
    # The demo records the five steps for accounts with a CSM: most renewals 2-3 months out have some done.
    started = steps[steps["schedule_start"] <= as_of - pd.Timedelta(days=30)]
    assert started["status"].isin(["done", "done_late"]).mean() > 0.4
    assert (
        set(readiness["bantc_status"]) <= {"fresh", "stale", "missing"} and readiness["bantc_status"].eq("fresh").any()
    )
    risk = segment_churn_risk(monthly_mrr(subs_, end=as_of), demo_ds.accounts, as_of=as_of)
    renewing = renewal_accounts(
        calendar, schedule=schedule_summary(steps), bantc=readiness, tenure=account_tenure(subs_, as_of=as_of)
    )
    priorities = prioritise(renewing, risk, cal, PARAMS.priority, as_of=as_of)
    assert all(consistency_checks(calendar, cal, PARAMS, priorities).values())
    figures = summary_figures(calendar, priorities, PARAMS, steps=steps, readiness=readiness)
    assert figures["arr_renewing"] == pytest.approx(calendar["arr"].sum())
    assert figures["overdue_steps"] == int((steps["status"] == "overdue").sum())
    assert 0 < figures["arr_renewing_at_risk"] < figures["arr_renewing"]
    assert "ARR at risk (renewals in the next 120 days)" in headline(figures, "JPY")


def test_charts_state_the_finding(calendar: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs_playbook.plots import renewals as charts

    risk = pd.DataFrame({"account_id": ["A", "B", "D", "F", "G"], "churn_probability": [0.1, 0.5, 0.0, 0.2, 0.2]})
    ax = charts.renewals_by_week(arr_by_week(calendar, risk))
    # 1800 + 500 + 800 + 400 + 450 = 3,950 renewing in the weeks of 11/16 to 3/1 (16 weeks); at risk
    # 180 + 250 + 0 + 80 + 90 = 600 (15.2%).
    assert ax.get_title() == "¥4.0K ARR renews in 16 weeks; ¥600 (15.2%) of it is at risk"
    steps = schedule_status(calendar, ACTS, PARAMS.steps, CAL, as_of=AS_OF)
    ax = charts.schedule_progress_bars(schedule_progress(steps))
    # A: 3 overdue, D (window from 9/1, nothing done): 5.
    assert ax.get_title() == "8 schedule steps are overdue; most often 'dissatisfaction picked up'"
    r = bantc_readiness(calendar, BANTC, BantcParams(), as_of=AS_OF)
    assert (
        charts.bantc_bars(bantc_answers(r)).get_title()
        == "Budget is the most frequent BANTC risk: 20% of upcoming renewals"
    )
    assert (
        charts.bantc_bars(bantc_answers(r), lang="ja").get_title()
        == "最も多いBANTCリスクは予算（Budget）：今後の更新の20%"
    )
    plt.close("all")


def test_the_decision_box_in_japanese_with_its_change() -> None:
    """Headline figures carry the change vs the previous quarter; the named actions are the accounts to call now."""
    from cs_playbook.formatting import Formatter
    from cs_playbook.i18n import messages
    from cs_playbook.renewals.summary import contact_now, decision_figures, reasons, tenure_band_name

    msg, fmt = messages("ja"), Formatter("ja", "JPY")
    figures = {
        "horizon_days": 120,
        "arr_renewing": 3e7,
        "arr_renewing_at_risk": 2e6,
        "accounts_act_now": 2,
        "forecast_grr": 0.95,
        "forecast_grr_low": 0.93,
        "forecast_grr_high": 0.97,
        "forecast_interval": 0.9,
        "forecast_quarter": "2026Q4",
    }
    previous = {"arr_renewing": 2.5e7, "arr_renewing_at_risk": 3e6, "forecast_grr": 0.96}
    shown = decision_figures(figures, previous, fmt, msg)
    assert [f["value"] for f in shown] == ["3,000万円", "200万円", "95.0%", "2社"]
    assert shown[1]["change"] == "前四半期比 ▼ -100万円" and shown[1]["direction"] == "good"
    assert shown[2]["change"] == "前四半期比 ▼ -1.0pt" and shown[2]["direction"] == "bad"
    assert all(f["change"] is None for f in decision_figures(figures, None, fmt, msg))
    prio = pd.DataFrame(
        {
            "account_name": ["エー", "ビー"],
            "csm": ["佐藤", None],
            "mode": ["handling", "prevention"],
            "act_when": ["now", "in 2-3 weeks"],
            "act_by": [ts("2026-10-07")] * 2,
            "decision_deadline": [ts("2026-10-09")] * 2,
            "business_days_to_deadline": [7, 7],
            "arr_renewing": [1e6, 2e6],
            "churn_probability": [0.42, 0.1],
            "health_tier": ["bad", "good"],
        }
    )
    actions = contact_now(prio, fmt, msg)
    assert actions["account_name"].tolist() == ["エー"]
    assert actions["action"].iloc[0] == "2026/10/07までに連絡し、継続を説得する（解約阻止）"
    why = reasons(prio, PARAMS, fmt, msg, tier_label={"bad": "要注意", "good": "良好"}.get)
    assert why.iloc[0] == "解約確率42%（ヘルス要注意）、判断期限2026/10/09まであと7営業日"
    assert (
        tenure_band_name("< 12 months", msg) == "12か月未満" and tenure_band_name("12-24 months", msg) == "12〜24か月"
    )


def test_nothing_renewing_gives_empty_tables_not_errors() -> None:
    later = ts("2028-06-01")  # after every contract's end
    calendar = renewal_calendar(SUBS, ACCOUNTS, CAL, PARAMS, as_of=later)
    steps = schedule_status(calendar, ACTS, PARAMS.steps, CAL, as_of=later)
    readiness = bantc_readiness(calendar, BANTC, PARAMS.bantc, as_of=later)
    renewing = renewal_accounts(calendar, schedule=schedule_summary(steps), bantc=readiness)
    priorities = prioritise(
        renewing, pd.DataFrame(columns=["account_id", "churn_probability"]), CAL, PARAMS.priority, as_of=later
    )
    assert calendar.empty and steps.empty and readiness.empty and priorities.empty
    assert arr_by_week(calendar, pd.DataFrame({"account_id": ["A"], "churn_probability": [0.1]})).empty
    assert summary_figures(calendar, priorities, PARAMS, steps=steps, readiness=readiness)["arr_renewing"] == 0
    assert all(consistency_checks(calendar, CAL, PARAMS, priorities).values())
    assert calendar_export(calendar, schedule=schedule_summary(steps), bantc=readiness).empty


def test_renewal_totals_add_the_departments_renewing_together() -> None:
    from cs_playbook.renewals.calendar import renewal_totals

    cal = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "B"],
            "renewal_date": pd.to_datetime(["2027-01-04", "2027-01-04", "2027-04-01", "2027-01-04"]),
            "department": ["営業部", "人事部", "営業部", ""],
            "account_name": ["株式会社A", "株式会社A", "株式会社A", "B社"],
            "csm": ["中村", "中村", "中村", None],
            "arr": [1_200_000.0, 600_000.0, 300_000.0, 50_000.0],
        }
    )
    got = renewal_totals(cal).set_index(["account_id", "renewal_date"])
    assert len(got) == 3
    assert got.loc[("A", pd.Timestamp("2027-01-04")), "arr"] == 1_800_000
    assert got.loc[("A", pd.Timestamp("2027-04-01")), "arr"] == 300_000
    assert got.loc[("B", pd.Timestamp("2027-01-04")), "account_name"] == "B社"


def test_renewal_params_reject_as_of_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="as_of is no longer a renewals setting.*report's as-of date"):
        RenewalParams.model_validate({"as_of": "2026-10-31"})


def test_the_renewal_page_agrees_with_the_quarter_state(demo_ds, quarter_state) -> None:
    """Calendar ARR per account, ARR renewing at risk and the GRR forecast are the state's."""
    from cs_playbook.renewals.churn_review import grr_backtest

    state = quarter_state
    subs_ = lines_known_at(demo_ds.subscriptions, as_of=state.as_of, data_as_of=demo_ds.as_of)
    cal = calendar_for(subs_, PARAMS.calendar, as_of=state.as_of)
    calendar = renewal_calendar(subs_, demo_ds.accounts, cal, PARAMS, as_of=state.as_of)
    priorities = prioritise(renewal_accounts(calendar), state.risk, cal, PARAMS.priority, as_of=state.as_of)
    forecast = state.grr_forecast
    figures = summary_figures(calendar, priorities, PARAMS, forecast=forecast)
    checks = consistency_checks(calendar, cal, PARAMS, priorities, forecast, accounts=state.accounts, figures=figures)
    assert all(checks.values()) and checks["calendar_arr_matches_state"]
    assert figures["arr_renewing"] == pytest.approx(state.accounts["arr_renewing"].sum())
    assert figures["arr_renewing_at_risk"] == pytest.approx(state.accounts["arr_renewing_at_risk"].sum())
    assert figures["forecast_grr"] == forecast["expected_grr"] and figures["forecast_quarter"] == forecast["quarter"]
    broken = {**figures, "forecast_grr": 0.5}
    assert not consistency_checks(calendar, cal, PARAMS, priorities, forecast, figures=broken)[
        "forecast_grr_is_the_state_forecast"
    ]
    moved = calendar.assign(arr=calendar["arr"] * 2)
    assert not consistency_checks(moved, cal, PARAMS, priorities, accounts=state.accounts)["calendar_arr_matches_state"]
    made_on = state.quarter_start - pd.Timedelta(days=1)
    bt = grr_backtest(
        lines_known_at(demo_ds.subscriptions, as_of=made_on, data_as_of=demo_ds.as_of),
        state.risk,
        monthly_mrr(subs_, end=state.as_of),
        PARAMS.forecast,
        quarter=state.quarter,
        quarter_start=state.quarter_start,
        quarter_end=state.quarter_end,
    )
    assert bt is not None and bt["quarter"] == state.quarter and 0 < bt["expected_grr"] <= 1
    assert bt["actual_grr"] is not None and 0 < bt["actual_grr"] <= 1
