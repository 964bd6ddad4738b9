"""The demo company: a seeded fictional Japanese B2B SaaS vendor whose data has something true to find.

`generate_demo` writes every table of the data contract into a folder: accounts.csv in CP932
(as a Japanese CRM exports it), subscriptions.csv in UTF-8 with BOM (as Excel saves it), the
other tables in UTF-8, raw events as one Parquet file per month under events/, and the hidden
monthly health under _hidden/ (ignored by the loader; for documentation and tests).
docs/demo-company.md describes the company and the hidden drivers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cs_playbook.demo import vocab
from cs_playbook.demo.events import EVENT_TYPES, build_users, write_events
from cs_playbook.demo.pocs import poc_tables, simulate_pocs
from cs_playbook.demo.signals import (
    bantc_assessments,
    churn_reasons,
    contract_matrices,
    simulate_activities,
    simulate_surveys,
    simulate_tickets,
    stakeholder_snapshots,
)
from cs_playbook.demo.simulate import (
    DATA_START,
    World,
    month_index,
    simulate_accounts,
    simulate_contracts,
    simulate_health,
    simulate_stakeholders,
)

__all__ = ["generate_demo", "EVENT_TYPES"]


def _fmt_dates(df: pd.DataFrame, dates: list[str] = (), times: list[str] = ()) -> pd.DataFrame:
    out = df.copy()
    for c in dates:
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    for c in times:
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d %H:%M:%S")
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "true", False: "false"})
    return out


def _with_account_id(df: pd.DataFrame, account_ids: np.ndarray) -> pd.DataFrame:
    out = df.copy()
    out.insert(0, "account_id", account_ids[out.pop("account_idx").to_numpy()])
    return out


def _subscriptions(world: World) -> pd.DataFrame:
    rng = np.random.default_rng(int(world.rng.integers(1 << 31)))
    auto = rng.random(len(world.accounts)) < 0.9
    rows = [
        {
            "i": ln["i"],
            "department": ln["department"],
            "product": ln["product"],
            "start_date": ln["start"].normalize(),
            "end_date": ln["end"].normalize(),
            "arr": ln["arr"],
            "seats": ln["seats"],
            "auto_renew": bool(auto[ln["i"]]),
        }
        for ln in world.lines
        if ln["start"] <= world.end
    ]
    df = pd.DataFrame(rows).sort_values(["start_date", "i", "product"], kind="stable").reset_index(drop=True)
    df.insert(0, "subscription_id", [f"S{n + 1:06d}" for n in range(len(df))])
    df["currency"] = "JPY"
    df["seats"] = df["seats"].astype("Int64")
    return df.rename(columns={"i": "account_idx"})


def _simulate_world(rng: np.random.Generator, n_accounts: int, end: pd.Timestamp) -> World:
    """Accounts, hidden health, stakeholders, contracts and PoCs of the company up to `end`."""
    accounts = simulate_accounts(rng, n_accounts, end)
    n_months = month_index(end) + 1
    health = simulate_health(rng, accounts, n_months)
    champion, exec_access, success_plan = simulate_stakeholders(rng, health, accounts["segment"].to_numpy())
    world = World(rng, end, accounts, health, champion, exec_access, success_plan)
    simulate_contracts(world)
    simulate_pocs(world, n_target=max(4, round(0.03 * n_accounts)))
    return world


SUBSCRIPTION_COLUMNS = [
    "subscription_id",
    "account_id",
    "department",
    "product",
    "start_date",
    "end_date",
    "arr",
    "seats",
    "auto_renew",
    "currency",
]
POC_COLUMNS = [
    "poc_id",
    "account_id",
    "name",
    "objective",
    "start_date",
    "end_date",
    "scope",
    "arr_at_stake",
    "outcome",
    "decided_at",
]


def _crm_tables(world: World, ids: np.ndarray, users_out: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """accounts, subscriptions and users as the CRM and billing system export them."""
    accounts = world.accounts
    return {
        "accounts": _fmt_dates(
            accounts[["account_id", "account_name", "segment", "industry", "employees", "region", "csm", "created_at"]],
            dates=["created_at"],
        ),
        "subscriptions": _fmt_dates(
            _with_account_id(_subscriptions(world), ids)[SUBSCRIPTION_COLUMNS], dates=["start_date", "end_date"]
        ),
        "users": _fmt_dates(
            _with_account_id(users_out, ids)[["user_id", "account_id", "department", "created_at"]],
            dates=["created_at"],
        ),
    }


def _signal_tables(world: World, ids: np.ndarray, active: np.ndarray, seats: np.ndarray) -> dict[str, pd.DataFrame]:
    """tickets, surveys, activities, stakeholders, bantc, feature_releases and churn_reasons (in this seeded order)."""
    releases = pd.DataFrame(vocab.FEATURES, columns=["feature", "event_type", "released_at"])
    releases = releases[pd.to_datetime(releases["released_at"]) <= world.end]
    return {
        "tickets": _fmt_dates(
            _with_account_id(simulate_tickets(world, active, seats), ids)[
                ["ticket_id", "account_id", "opened_at", "severity", "closed_at"]
            ],
            times=["opened_at", "closed_at"],
        ),
        "surveys": _fmt_dates(
            _with_account_id(simulate_surveys(world, active), ids)[["account_id", "responded_at", "score"]],
            times=["responded_at"],
        ),
        "activities": _fmt_dates(
            _with_account_id(simulate_activities(world, active), ids)[
                ["account_id", "occurred_at", "activity_type", "notes_logged"]
            ],
            times=["occurred_at"],
        ),
        "stakeholders": _fmt_dates(_with_account_id(stakeholder_snapshots(world, active), ids), dates=["as_of"]),
        "bantc": _fmt_dates(
            _with_account_id(bantc_assessments(world), ids).drop_duplicates(["account_id", "assessed_at"]),
            dates=["assessed_at"],
        ),
        "feature_releases": releases,
        "churn_reasons": _fmt_dates(_with_account_id(churn_reasons(world), ids), dates=["churned_at"]),
    }


def _write_hidden(folder: Path, world: World, ids: np.ndarray, active: np.ndarray) -> None:
    """The hidden monthly health and activity per account (_hidden/health.parquet; the loader ignores it)."""
    folder.mkdir()
    first = month_index(DATA_START)
    months = pd.date_range(DATA_START, world.end, freq="MS")
    pd.DataFrame(
        {
            "account_id": np.repeat(ids, len(months)),
            "month": np.tile(months.to_numpy(), len(ids)),
            "health": world.health[:, first : first + len(months)].ravel(),
            "active": active[:, first : first + len(months)].ravel(),
        }
    ).to_parquet(folder / "health.parquet", index=False)


def generate_demo(
    out_dir: Path,
    *,
    n_accounts: int = 2000,
    n_events: int = 3_000_000,
    seed: int = 7,
    end_date: str = "2026-10-31",
    progress: bool = False,
) -> dict[str, int]:
    """Write the demo company into out_dir (replacing it atomically); return rows per table."""
    out_dir = Path(out_dir)
    world = _simulate_world(np.random.default_rng(seed), n_accounts, pd.Timestamp(end_date).normalize())
    active, seats = contract_matrices(world)
    ids = world.accounts["account_id"].to_numpy()

    users, offset, count, poc_ranges = build_users(world)
    user_ids = np.array([f"U{n + 1:07d}" for n in range(len(users))])
    users_out = pd.DataFrame(
        {
            "user_id": user_ids[users["user_idx"].to_numpy()],
            "account_idx": users["account_idx"],
            "department": users["department"],
            "created_at": users["created_at"],
        }
    )
    # The draw order is part of the seed's meaning: PoC tables, then CRM, then signals.
    pocs, criteria, measurements = poc_tables(world)
    tables = _crm_tables(world, ids, users_out) | _signal_tables(world, ids, active, seats)
    tables |= {
        "pocs": _fmt_dates(_with_account_id(pocs, ids)[POC_COLUMNS], dates=["start_date", "end_date", "decided_at"]),
        "poc_criteria": _fmt_dates(criteria),
        "poc_measurements": _fmt_dates(measurements, dates=["measured_at"]),
    }

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        counts = {}
        for name, df in tables.items():
            enc = {"accounts": "cp932", "subscriptions": "utf-8-sig"}.get(name, "utf-8")
            df.to_csv(tmp / f"{name}.csv", index=False, encoding=enc, lineterminator="\n")
            counts[name] = len(df)
        counts["events"] = write_events(
            world,
            tmp / "events",
            n_events,
            active,
            seats,
            users,
            offset,
            count,
            poc_ranges,
            ids,
            user_ids,
            progress=progress,
        )
        _write_hidden(tmp / "_hidden", world, ids, active)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts
