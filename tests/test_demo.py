"""The demo company: valid, deterministic, realistic, and its hidden drivers show in the data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

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


# The second profile: a US product-led company (docs/demo-company.md, "The us-plg company").
USPLG_PRODUCTS = {"platform_basic", "platform_pro", "platform_premier", "automation_credits"}
TIER_RANK = {"platform_basic": 0, "platform_pro": 1, "platform_premier": 2}


@pytest.fixture(scope="module")
def usplg_tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("usplg")
    a, b, c = base / "a", base / "b", base / "c"
    generate_demo(a, profile="us-plg", n_accounts=60, n_events=20_000, seed=3)
    generate_demo(b, profile="us-plg", n_accounts=60, n_events=20_000, seed=3)
    generate_demo(c, profile="us-plg", n_accounts=60, n_events=20_000, seed=4)
    return a, b, c


def _raw_subscriptions(folder: Path) -> pd.DataFrame:
    """subscriptions.csv as exported (exclusive end dates), dates parsed, with the term in months."""
    subs = pd.read_csv(folder / "subscriptions.csv", dtype={"account_id": str, "department": str})
    for c in ("start_date", "end_date"):
        subs[c] = pd.to_datetime(subs[c])
    months = (subs["end_date"].dt.year - subs["start_date"].dt.year) * 12 + (
        subs["end_date"].dt.month - subs["start_date"].dt.month
    )
    return subs.assign(term_months=months)


def _base_chain(subs: pd.DataFrame) -> pd.DataFrame:
    """Base-plan lines in order per account, each with the account's next base line (NaN when none)."""
    base = subs[subs["product"].isin(list(TIER_RANK))].sort_values(["account_id", "start_date"]).copy()
    nxt = base.groupby("account_id")[["start_date", "product", "seats", "term_months"]].shift(-1)
    return base.join(nxt.add_prefix("next_"))


def test_usplg_same_seed_same_bytes_other_seed_other_data(usplg_tiny: tuple[Path, Path, Path]) -> None:
    a, b, c = usplg_tiny
    for name in ("accounts.csv", "subscriptions.csv", "params/data.yaml"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "subscriptions.csv").read_bytes() != (c / "subscriptions.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(a / "events"), pd.read_parquet(b / "events"))
    assert not [p for p in a.parent.iterdir() if ".tmp" in p.name]  # written through a temporary folder


def test_usplg_writes_only_accounts_subscriptions_events_and_its_params(usplg_dir: Path) -> None:
    files = {p.name for p in usplg_dir.iterdir()}
    assert files == {"accounts.csv", "subscriptions.csv", "events", "params", "_hidden"}
    assert yaml.safe_load((usplg_dir / "params" / "data.yaml").read_text(encoding="utf-8")) == {
        "end_date_convention": "exclusive",
        "reporting_currency": "USD",
    }
    acc = pd.read_csv(usplg_dir / "accounts.csv", dtype=str, keep_default_na=False)
    assert set(acc["segment"]) == {"smb", "mid_market", "enterprise"}
    assert set(acc["region"]) <= {"Northeast", "Midwest", "South", "West"}
    assert (acc["csm"] == "unassigned").mean() > 0.5 and (acc["csm"] == "-").any()  # placeholder owners
    subs = _raw_subscriptions(usplg_dir)
    assert set(subs["currency"]) == {"USD"}
    assert subs["department"].isna().all()  # one department per account: empty
    assert set(subs["product"]) == USPLG_PRODUCTS


def test_usplg_end_dates_are_exclusive_and_terms_monthly_or_annual(usplg_dir: Path) -> None:
    subs = _raw_subscriptions(usplg_dir)
    assert set(subs["term_months"]) == {1, 12}
    # Terms keep the billing day of the signup (Jan 31 -> Feb 28 -> Mar 31): same day, or a month's last day.
    assert (subs["end_date"] == subs["start_date"] + pd.DateOffset(months=1)).sum() > 0
    end, start = subs["end_date"].dt, subs["start_date"].dt
    day_ok = (end.day == start.day) | end.is_month_end | start.is_month_end
    assert day_ok.all()
    chain = _base_chain(subs).dropna(subset=["next_start_date"])
    assert (chain["next_start_date"] >= chain["end_date"]).all()
    assert (chain["next_start_date"] == chain["end_date"]).mean() > 0.95  # renewals start on the previous end date
    addon = subs[subs["product"] == "automation_credits"]
    assert addon["seats"].isna().all() and subs.loc[subs["product"] != "automation_credits", "seats"].ge(1).all()
    base_keys = set(
        map(
            tuple,
            subs.loc[subs["product"] != "automation_credits", ["account_id", "start_date", "end_date"]].to_numpy(),
        )
    )
    assert all(k in base_keys for k in map(tuple, addon[["account_id", "start_date", "end_date"]].to_numpy()))


def test_usplg_loads_in_usd_with_inclusive_end_dates(usplg_ds, usplg_dir: Path) -> None:
    assert usplg_ds.currency == "USD"
    assert set(usplg_ds.tables) == {"accounts", "subscriptions"}
    raw = _raw_subscriptions(usplg_dir).set_index("subscription_id")["end_date"]
    loaded = usplg_ds.subscriptions.set_index("subscription_id")["end_date"]
    assert (loaded == raw.reindex(loaded.index) - pd.Timedelta(days=1)).all()


def test_usplg_plan_changes_within_the_family(usplg_dir: Path) -> None:
    chain = _base_chain(_raw_subscriptions(usplg_dir)).dropna(subset=["next_product"])
    rank, next_rank = chain["product"].map(TIER_RANK), chain["next_product"].map(TIER_RANK)
    assert (next_rank > rank).sum() >= 10 and (next_rank < rank).sum() >= 3  # upgrades and downgrades
    assert (chain["next_seats"] > chain["seats"]).any() and (chain["next_seats"] < chain["seats"]).any()
    assert (chain["next_term_months"] != chain["term_months"]).any()  # monthly <-> annual switches


def _observed_renewals(usplg_dir: Path) -> pd.DataFrame:
    """Every base-line end in the data window, whether the account renewed on it, and its term."""
    subs = _raw_subscriptions(usplg_dir)
    chain = _base_chain(subs)
    as_of = pd.Timestamp("2026-10-31")
    r = chain[(chain["end_date"] <= as_of) & (chain["end_date"] >= pd.Timestamp("2024-11-01"))].copy()
    r["churned"] = r["next_start_date"].isna() | (r["next_start_date"] > r["end_date"])
    return r[["account_id", "end_date", "term_months", "churned"]]


def test_usplg_monthly_churns_more_per_renewal_but_comparably_per_month(usplg_dir: Path) -> None:
    r = _observed_renewals(usplg_dir)
    rate = r.groupby("term_months")["churned"].mean()
    assert rate[12] > 4 * rate[1]
    per_month_annual = 1 - (1 - rate[12]) ** (1 / 12)
    assert 0.5 < rate[1] / per_month_annual < 3


def test_usplg_feature_use_drives_churn(usplg_dir: Path) -> None:
    """Which features an account used in the 90 days before a renewal moves its churn, as documented."""
    import statsmodels.api as sm

    r = _observed_renewals(usplg_dir)
    con = duckdb.connect()
    con.register("r", r)
    used = con.execute(f"""
        SELECT r.account_id, r.end_date, e.event_type
        FROM r JOIN read_parquet('{usplg_dir.as_posix()}/events/*.parquet') e
          ON e.account_id = r.account_id
         AND e.event_time >= r.end_date - INTERVAL 90 DAY AND e.event_time < r.end_date
        GROUP BY ALL
    """).df()
    flags = pd.crosstab([used["account_id"], used["end_date"]], used["event_type"]).gt(0).reset_index()
    df = r.merge(flags, on=["account_id", "end_date"], how="left").fillna(False)
    assert df.groupby("integration_sync")["churned"].mean().pipe(lambda s: s[True] < s[False] / 2)
    types = [c for c in flags.columns if c not in ("account_id", "end_date")]
    x = df[types].astype(float).assign(annual=(df["term_months"] == 12).astype(float), const=1.0)
    fit = sm.Logit(df["churned"].astype(float), x).fit(disp=0).params
    assert fit["integration_sync"] < -0.5 and fit["invite_teammate"] < -0.3 and fit["export_csv"] > 0.3
    assert fit["annual"] > 1.5


def test_usplg_hidden_renewals_follow_the_documented_churn_model(usplg_dir: Path) -> None:
    from cs_playbook.demo.usplg import vocab

    r = pd.read_parquet(usplg_dir / "_hidden" / "renewals.parquet")
    acc = pd.read_csv(usplg_dir / "accounts.csv", dtype=str)[["account_id", "segment"]]
    r = r.merge(acc, on="account_id")
    logit = r["term"].map(vocab.TERM_BASE) + r["segment"].map(vocab.SEGMENT_CHURN) + vocab.HEALTH_CHURN * r["health"]
    for name, _, _, _, beta, _ in vocab.FEATURES:
        logit = logit + beta * r[f"used_{name}"]
    assert np.allclose(1 / (1 + np.exp(-logit)), r["p_churn"])


def test_each_profile_installs_its_own_params(
    tiny: tuple[Path, Path, Path], usplg_tiny: tuple[Path, Path, Path]
) -> None:
    from cs_playbook.demo.output import PROFILE_PARAMS_DIR

    for folder, profile in ((tiny[0], "jp"), (usplg_tiny[0], "us-plg")):
        source = sorted((PROFILE_PARAMS_DIR / profile).glob("*.yaml"))
        assert source, profile
        for f in source:
            assert (folder / "params" / f.name).read_bytes() == f.read_bytes(), (profile, f.name)


def test_a_demo_folder_from_an_earlier_version_gets_the_demos_own_params(tmp_path: Path) -> None:
    """The JP demo's ROI templates, price list and yen bands are package data, synced into an older folder."""
    from cs_playbook.demo.output import PROFILE_PARAMS_DIR, sync_params

    folder = tmp_path / "params"
    expected = sorted(p.name for p in (PROFILE_PARAMS_DIR / "jp").glob("*.yaml"))
    assert {"roi.yaml", "expansion.yaml", "kpi.yaml"} <= set(expected)
    assert sync_params(folder, "jp") == expected
    assert sync_params(folder, "jp") == []
    (folder / "roi.yaml").write_text("templates: {}\n", encoding="utf-8")
    assert sync_params(folder, "jp") == ["roi.yaml"]
    assert (folder / "roi.yaml").read_bytes() == (PROFILE_PARAMS_DIR / "jp" / "roi.yaml").read_bytes()


def test_company_names_stay_distinct_past_the_vocabulary(monkeypatch) -> None:
    import numpy as np

    from cs_playbook.demo import simulate, vocab

    monkeypatch.setattr(vocab, "NAME_STEMS", ["サクラ", "ミドリ"])
    monkeypatch.setattr(vocab, "NAME_SUFFIXES", ["物産"])
    monkeypatch.setattr(vocab, "REGIONS", ["関東"])
    names = simulate._company_names(np.random.default_rng(1), 30)  # 8 names in this vocabulary: 22 numbered
    assert len(set(names)) == 30 and sum("（第" in n for n in names) == 22
