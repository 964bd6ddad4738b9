"""Exclusive end dates, as billing systems export them: KPI figures equal a hand computation.

Four accounts over 2024Q1, with `end_date_convention: exclusive` in the data folder's own
params/data.yaml. Read inclusively, a line that ends on the day the next one starts would be
counted twice at a month end (A1 renews on month ends): NRR and GRR would move.

Month-end snapshots (MRR = ARR / 12), hand-computed:
- A1 monthly, renewed on month ends, upgraded on 2024-03-31: Dec 100, Jan 100, Feb 100, Mar 200.
- A2 annual from 2023-06-15, unchanged: 200 every month.
- A3 annual to 2024-02-01 (exclusive), not renewed: Dec 100, Jan 100, then churned.
- A4 monthly, renewed mid-month, down from 300 to 200 on 2024-02-15: Dec 300, Jan 300, Feb 200, Mar 200.
2024Q1: start MRR 700 (Dec), end MRR 600 (Mar): expansion 100, contraction 100, churn 100;
NRR = 600 / 700, GRR = (700 - 100 - 100) / 700.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cs_playbook.data.io import load_dataset
from cs_playbook.data.revenue import monthly_mrr, net_revenue_retention
from cs_playbook.errors import DataContractError

ACCOUNTS = """account_id,account_name,segment,industry,employees,region,csm,created_at
A1,Alpha Inc,smb,Software,50,CA,unassigned,2023-11-01
A2,Beta LLC,mid_market,Retail,400,NY,Dana Smith,2023-06-01
A3,Gamma Corp,smb,Health,80,TX,-,2023-01-15
A4,Delta Co,smb,Finance,120,WA,,2023-12-01
"""

LINES = [
    ("S01", "A1", "Platform", "2023-11-30", "2023-12-31", 1200),
    ("S02", "A1", "Platform", "2023-12-31", "2024-01-31", 1200),
    ("S03", "A1", "Platform", "2024-01-31", "2024-02-29", 1200),
    ("S04", "A1", "Platform", "2024-02-29", "2024-03-31", 1200),
    ("S05", "A1", "Platform", "2024-03-31", "2024-04-30", 2400),
    ("S06", "A2", "Platform", "2023-06-15", "2024-06-15", 2400),
    ("S07", "A3", "Platform", "2023-02-01", "2024-02-01", 1200),
    ("S08", "A4", "Platform", "2023-12-15", "2024-01-15", 3600),
    ("S09", "A4", "Platform", "2024-01-15", "2024-02-15", 3600),
    ("S10", "A4", "Platform", "2024-02-15", "2024-03-15", 2400),
    ("S11", "A4", "Platform", "2024-03-15", "2024-04-15", 2400),
]


def _write(folder: Path, convention: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    rows = ["subscription_id,account_id,department,product,start_date,end_date,arr,seats,auto_renew,currency"]
    rows += [f"{s},{a},,{p},{b},{e},{arr},1,true,USD" for s, a, p, b, e, arr in LINES]
    (folder / "subscriptions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    if convention:
        (folder / "params").mkdir(exist_ok=True)
        (folder / "params" / "data.yaml").write_text(f"end_date_convention: {convention}\n", encoding="utf-8")
    return folder


def test_kpis_on_exclusive_end_dates_equal_the_hand_computation(tmp_path: Path, monkeypatch) -> None:
    folder = _write(tmp_path / "billing", "exclusive")
    monkeypatch.setenv("CS_PLAYBOOK_DATA", str(folder))
    ds = load_dataset(str(folder))
    assert ds.currency == "USD"
    monthly = monthly_mrr(ds.subscriptions)
    mrr = monthly.pivot_table(index="account_id", columns="month", values="mrr", aggfunc="sum").fillna(0)
    months = [pd.Timestamp(m) for m in ("2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01")]
    expected = {
        "A1": [100, 100, 100, 200],
        "A2": [200, 200, 200, 200],
        "A3": [100, 100, 0, 0],
        "A4": [300, 300, 200, 200],
    }
    for account, values in expected.items():
        got = [float(mrr.loc[account].get(m, 0.0)) for m in months]
        assert got == pytest.approx(values), account
    q1 = net_revenue_retention(monthly, freq="Q").set_index("period").loc["2024Q1"]
    assert q1["nrr"] == pytest.approx(600 / 700)
    assert q1["grr"] == pytest.approx(500 / 700)
    assert q1["expansion_arr"] == pytest.approx(1200)
    assert q1["contraction_arr"] == pytest.approx(1200)
    assert q1["churned_arr"] == pytest.approx(1200)
    assert int(q1["accounts_churned"]) == 1
    # placeholder owners ("unassigned", "-", empty) are one unassigned pool, not people
    assert ds.accounts["csm"].notna().sum() == 1


def test_exclusive_end_dates_read_as_inclusive_are_refused_naming_the_setting(tmp_path: Path, monkeypatch) -> None:
    folder = _write(tmp_path / "billing", None)
    monkeypatch.setenv("CS_PLAYBOOK_DATA", str(folder))
    with pytest.raises(DataContractError, match="end_date_convention"):
        load_dataset(str(folder))
