"""The demo company: valid, deterministic, realistic, and its hidden drivers show in the data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cs_playbook.data.contract import TABLES
from cs_playbook.data.revenue import monthly_mrr, mrr_movements
from cs_playbook.demo import generate_demo


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("demo")
    a, b, c = base / "a", base / "b", base / "c"
    generate_demo(a, n_accounts=60, n_events=20_000, seed=3)
    generate_demo(b, n_accounts=60, n_events=20_000, seed=3)
    generate_demo(c, n_accounts=60, n_events=20_000, seed=4)
    return a, b, c


def test_every_contract_table_is_written_and_valid(demo_ds) -> None:
    assert demo_ds.missing_optional == []
    assert set(demo_ds.tables) | {"events"} == set(TABLES)
    assert demo_ds.as_of == pd.Timestamp("2026-10-31")


def test_same_seed_same_bytes_other_seed_other_data(tiny: tuple[Path, Path, Path]) -> None:
    a, b, c = tiny
    for name in ("accounts.csv", "subscriptions.csv", "activities.csv", "pocs.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "subscriptions.csv").read_bytes() != (c / "subscriptions.csv").read_bytes()
    ev_a = pd.read_parquet(a / "events" / "2025-01.parquet")
    ev_b = pd.read_parquet(b / "events" / "2025-01.parquet")
    pd.testing.assert_frame_equal(ev_a, ev_b)
    assert not (tiny[0].parent / ".a.tmp").exists()  # written through a temporary folder


def test_exports_use_the_encodings_of_japanese_crms(demo_dir: Path) -> None:
    raw = (demo_dir / "accounts.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "株式会社" in raw.decode("cp932")
    assert (demo_dir / "subscriptions.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_company_shape(demo_ds) -> None:
    acc, subs = demo_ds.accounts, demo_ds.subscriptions
    assert set(acc["segment"]) == {"enterprise", "mid_market", "smb"}
    assert acc["employees"].min() >= 30 and acc["employees"].max() > 10_000
    assert subs.groupby("account_id")["department"].nunique().max() >= 2  # department-level contracts
    assert {"Platform", "Analytics", "Workflow", "API"} <= set(subs["product"])
    assert (subs["start_date"].dt.day != 1).any()  # mid-month starts
    assert (subs["end_date"] == subs["end_date"] + pd.offsets.MonthEnd(0)).any()  # ends on a month's last day
    m = monthly_mrr(subs, end=demo_ds.as_of)
    arr = m[m["month"] == "2026-09-01"]["arr"]
    assert arr.max() / arr.min() > 100  # largest ARR over 100x the smallest


def test_seats_never_exceed_employees(demo_ds) -> None:
    m = monthly_mrr(demo_ds.subscriptions[demo_ds.subscriptions["product"] == "Platform"], end=demo_ds.as_of)
    seats = m.merge(demo_ds.accounts[["account_id", "employees"]], on="account_id")
    assert (seats["seats"] <= seats["employees"]).all()


def test_every_movement_kind_occurs(demo_ds) -> None:
    moves = mrr_movements(monthly_mrr(demo_ds.subscriptions, end=demo_ds.as_of))
    assert {"new", "expansion", "contraction", "churn", "reactivation"} <= set(moves["movement"])


def test_events_only_while_the_account_has_a_contract(demo_ds, demo_dir: Path) -> None:
    m = monthly_mrr(demo_ds.subscriptions, end=demo_ds.as_of)
    con = duckdb.connect()
    con.register("mrr", m[["account_id", "month"]])
    outside = con.execute(f"""
        SELECT count(*) FROM read_parquet('{demo_dir.as_posix()}/events/*.parquet') e
        ANTI JOIN mrr ON mrr.account_id = e.account_id
            AND mrr.month BETWEEN date_trunc('month', e.event_time) - INTERVAL 1 MONTH AND date_trunc('month', e.event_time)
    """).fetchall()[0][0]
    assert outside == 0


def _per_account_signals(ds, demo_dir: Path) -> pd.DataFrame:
    """Observable signals per account over its active months, and whether it ever churned."""
    m = monthly_mrr(ds.subscriptions, end=ds.as_of)
    m = m[m["month"] >= "2023-11-01"]
    seat_months = m.groupby("account_id")["seats"].sum().rename("seat_months")
    con = duckdb.connect()
    ev = con.execute(
        f"SELECT account_id, count(*) AS events FROM read_parquet('{demo_dir.as_posix()}/events/*.parquet') GROUP BY 1"
    ).df()
    t = ds.get("tickets")
    severe = t[t["severity"].isin(["high", "critical"])].groupby("account_id").size().rename("severe_tickets")
    nps = ds.get("surveys").groupby("account_id")["score"].mean().rename("nps")
    out = pd.concat([seat_months, ev.set_index("account_id")["events"], severe, nps], axis=1).fillna(
        {"events": 0, "severe_tickets": 0}
    )
    out["events_per_seat"] = out["events"] / out["seat_months"]
    out["severe_per_seat"] = out["severe_tickets"] / out["seat_months"]
    out["churned"] = out.index.isin(ds.get("churn_reasons")["account_id"])
    return out.dropna(subset=["seat_months"])


def test_hidden_health_shows_in_usage_tickets_and_nps(demo_ds, demo_dir: Path) -> None:
    s = _per_account_signals(demo_ds, demo_dir)
    churned, kept = s[s["churned"]], s[~s["churned"]]
    assert len(churned) >= 20
    assert churned["events_per_seat"].median() < kept["events_per_seat"].median()
    assert churned["severe_per_seat"].mean() > kept["severe_per_seat"].mean()
    assert churned["nps"].mean() < kept["nps"].mean() - 0.5


def test_bantc_need_risk_predicts_churn(demo_ds) -> None:
    b = demo_ds.get("bantc")
    churn = demo_ds.get("churn_reasons")
    # An assessment is followed by churn when the account churns within 100 days after it.
    j = b.merge(churn, on="account_id", how="left")
    j["churned_after"] = (j["churned_at"] > j["assessed_at"]) & (
        j["churned_at"] <= j["assessed_at"] + pd.Timedelta(days=100)
    )
    per = j.groupby(["account_id", "assessed_at", "need"], as_index=False)["churned_after"].any()
    rate = per.groupby("need")["churned_after"].mean()
    assert rate["risk"] > 2 * rate["ok"]
