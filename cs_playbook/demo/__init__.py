"""The demo companies: seeded fictional B2B SaaS vendors whose data has something true to find.

Two profiles: `jp` (the default, below) and `us-plg` (a US product-led company in USD with
monthly and annual terms and exclusive end dates; see cs_playbook.demo.usplg).

`generate_demo` writes every table of the data contract into a folder: accounts.csv in CP932
(as a Japanese CRM exports it), subscriptions.csv in UTF-8 with BOM (as Excel saves it), the
other tables in UTF-8, raw events as one Parquet file per month under events/, and the hidden
monthly health under _hidden/ (ignored by the loader; for documentation and tests), and the
company's own params (cs_playbook/demo/params/jp/: ROI models, price list, touch bands in yen)
under params/, merged over the project's params when the folder is the data source.
docs/demo-company.md describes the company and the hidden drivers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cs_playbook.demo import vocab
from cs_playbook.demo.events import EVENT_TYPES, build_users, write_events
from cs_playbook.demo.output import SUBSCRIPTION_COLUMNS, install_params, write_folder
from cs_playbook.demo.output import fmt_dates as _fmt_dates
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
from cs_playbook.errors import CsPlaybookError

__all__ = ["generate_demo", "EVENT_TYPES", "PROFILES"]


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


PROFILES = ("jp", "us-plg")


def generate_demo(
    out_dir: Path,
    *,
    profile: str = "jp",
    n_accounts: int | None = None,
    n_events: int | None = None,
    seed: int | None = None,
    end_date: str | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Write a demo company (`profile` jp or us-plg; None: the profile's default size) atomically; rows per table."""
    if profile == "us-plg":
        from cs_playbook.demo.usplg import generate_usplg

        sizes = {"n_accounts": n_accounts, "n_events": n_events, "seed": seed, "end_date": end_date}
        return generate_usplg(out_dir, **{k: v for k, v in sizes.items() if v is not None}, progress=progress)
    if profile != "jp":
        raise CsPlaybookError(f"unknown demo profile {profile!r}: choose one of {', '.join(PROFILES)}")
    return _generate_jp(
        Path(out_dir),
        n_accounts=2000 if n_accounts is None else n_accounts,
        n_events=3_000_000 if n_events is None else n_events,
        seed=7 if seed is None else seed,
        end_date="2026-10-31" if end_date is None else end_date,
        progress=progress,
    )


def _generate_jp(
    out_dir: Path, *, n_accounts: int, n_events: int, seed: int, end_date: str, progress: bool
) -> dict[str, int]:
    """The Japanese enterprise demo company (docs/demo-company.md) written into out_dir."""
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

    def fill(tmp: Path) -> dict[str, int]:
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
        install_params(tmp / "params", "jp")
        return counts

    return write_folder(out_dir, fill)
