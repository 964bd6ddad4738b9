"""The us-plg demo company: a seeded fictional US product-led B2B SaaS vendor, in USD.

`generate_usplg` writes accounts.csv, subscriptions.csv (end dates EXCLUSIVE: end_date is the
day the next term starts, as billing systems export them), events/ as one Parquet file per month,
`params/data.yaml` (end_date_convention: exclusive, reporting_currency: USD; copied from
cs_playbook/demo/params/us-plg/) and the hidden
drivers under _hidden/ (ignored by the loader). docs/demo-company.md describes the company.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cs_playbook.demo.output import SUBSCRIPTION_COLUMNS, fmt_dates, install_params, write_folder
from cs_playbook.demo.usplg import vocab
from cs_playbook.demo.usplg.events import write_events
from cs_playbook.demo.usplg.simulate import (
    World,
    month_index,
    simulate_accounts,
    simulate_adoption,
    simulate_contracts,
    simulate_health,
)

__all__ = ["generate_usplg"]

ACCOUNT_COLUMNS = ["account_id", "account_name", "segment", "industry", "employees", "region", "csm", "created_at"]


def simulate_world(seed: int, n_accounts: int, end: pd.Timestamp) -> World:
    """Accounts, hidden engagement and feature adoption, and contracts of the company up to `end`."""
    rng = np.random.default_rng(seed)
    accounts = simulate_accounts(rng, n_accounts, end)
    n_months = month_index(end) + 1
    health = simulate_health(rng, accounts["mu"].to_numpy(), n_months)
    world = World(rng, end, accounts, health, simulate_adoption(rng, health))
    simulate_contracts(world)
    return world


def subscriptions(world: World) -> pd.DataFrame:
    """Contract lines as the billing system exports them (exclusive end dates, empty department)."""
    ids = world.accounts["account_id"].to_numpy()
    auto = world.rng.random(len(ids)) < 0.85
    df = pd.DataFrame(world.lines)
    df = df.sort_values(["start", "i", "product"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame(
        {
            "subscription_id": [f"sub_{n + 1:06d}" for n in range(len(df))],
            "account_id": ids[df["i"].to_numpy()],
            "department": "",
            "product": df["product"],
            "start_date": df["start"],
            "end_date": df["end"],
            "arr": df["arr"].round(2),
            "seats": pd.array(df["seats"], dtype="Int64"),
            "auto_renew": (df["term"] == "monthly").to_numpy() | auto[df["i"].to_numpy()],
            "currency": vocab.CURRENCY,
        }
    )
    return fmt_dates(out, dates=["start_date", "end_date"])[SUBSCRIPTION_COLUMNS]


def _write_hidden(folder: Path, world: World, active_users: np.ndarray) -> None:
    """_hidden/: monthly engagement and feature use, and every renewal decision with its churn probability."""
    folder.mkdir()
    ids = world.accounts["account_id"].to_numpy()
    first = month_index(vocab.DATA_START)
    months = pd.date_range(vocab.DATA_START, world.end, freq="MS")
    monthly = pd.DataFrame(
        {
            "account_id": np.repeat(ids, len(months)),
            "month": np.tile(months.to_numpy(), len(ids)),
            "health": world.health[:, first : first + len(months)].ravel(),
            "active_users": active_users[:, first : first + len(months)].ravel(),
        }
    )
    for f, feat in enumerate(vocab.FEATURES):
        monthly[f"adopted_{feat[0]}"] = world.adopted[:, first : first + len(months), f].ravel()
    monthly.to_parquet(folder / "health.parquet", index=False)
    renewals = pd.DataFrame(world.renewals)
    renewals.insert(0, "account_id", ids[renewals.pop("i").to_numpy()])
    renewals.to_parquet(folder / "renewals.parquet", index=False)


def generate_usplg(
    out_dir: Path,
    *,
    n_accounts: int = 1600,
    n_events: int = 4_000_000,
    seed: int = 11,
    end_date: str = vocab.END_DATE,
    progress: bool = False,
) -> dict[str, int]:
    """Write the us-plg company into out_dir (replacing it atomically); return rows per table."""
    world = simulate_world(seed, n_accounts, pd.Timestamp(end_date).normalize())
    accounts = fmt_dates(world.accounts[ACCOUNT_COLUMNS], dates=["created_at"])
    subs = subscriptions(world)

    def fill(tmp: Path) -> dict[str, int]:
        accounts.to_csv(tmp / "accounts.csv", index=False, lineterminator="\n")
        subs.to_csv(tmp / "subscriptions.csv", index=False, lineterminator="\n")
        ids = world.accounts["account_id"].to_numpy()
        n, active_users = write_events(world, tmp / "events", n_events, ids, progress=progress)
        install_params(tmp / "params", "us-plg")  # cs_playbook/demo/params/us-plg/data.yaml
        _write_hidden(tmp / "_hidden", world, active_users)
        return {"accounts": len(accounts), "subscriptions": len(subs), "events": n}

    return write_folder(Path(out_dir), fill)
