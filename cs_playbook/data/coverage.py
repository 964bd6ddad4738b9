"""CSM coverage: the touch model (high / low / tech touch by ARR band) and CSM capacity.

Sources [004][001]: high touch for high-value accounts, low touch in between, tech touch for
many low-price accounts; capacity is ARR and accounts per CSM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TouchBand",
    "CoverageParams",
    "assign_touch_model",
    "csm_coverage",
    "touch_model_summary",
    "touch_model_accounts",
    "coverage_figures",
]

UNASSIGNED = "(unassigned)"


class TouchBand(BaseModel):
    """One coverage model and the smallest account ARR that earns it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    min_arr: float = Field(ge=0)
    accounts_per_csm: int = Field(gt=0)  # capacity: accounts one CSM can cover in this model


class CoverageParams(BaseModel):
    """The touch model of params/kpi.yaml (bands from the highest ARR down)."""

    model_config = ConfigDict(extra="forbid")
    bands: list[TouchBand]

    @model_validator(mode="after")
    def _has_floor(self) -> CoverageParams:
        if not any(b.min_arr == 0 for b in self.bands):
            raise ValueError("one touch band must have min_arr: 0 so every account has a model")
        if len({b.name for b in self.bands}) != len(self.bands):
            raise ValueError("touch band names must be unique")
        return self


def assign_touch_model(account_arr: pd.DataFrame, params: CoverageParams) -> pd.DataFrame:
    """Each account's coverage model from its ARR.

    `account_arr` has account_id and arr; returns it with a `touch_model` column (the band with
    the highest min_arr not above the account's ARR).
    """
    bands = sorted(params.bands, key=lambda b: b.min_arr)
    edges = np.array([b.min_arr for b in bands])
    idx = np.searchsorted(edges, account_arr["arr"].to_numpy(dtype="float64"), side="right") - 1
    out = account_arr.copy()
    out["touch_model"] = np.array([b.name for b in bands], dtype=object)[np.clip(idx, 0, None)]
    return out


def csm_coverage(accounts: pd.DataFrame, account_arr: pd.DataFrame, params: CoverageParams) -> pd.DataFrame:
    """ARR and accounts per CSM and touch model, against the model's capacity.

    `account_arr` has account_id and arr (active accounts only). Returns csm, touch_model,
    accounts, arr, capacity_accounts, load (accounts / capacity; > 1 means over capacity).
    A CSM's load across models is the sum of their per-model loads.
    """
    df = assign_touch_model(account_arr, params).merge(accounts[["account_id", "csm"]], on="account_id", how="left")
    df["csm"] = df["csm"].fillna(UNASSIGNED)
    cap = {b.name: b.accounts_per_csm for b in params.bands}
    out = df.groupby(["csm", "touch_model"], as_index=False).agg(accounts=("account_id", "nunique"), arr=("arr", "sum"))
    out["capacity_accounts"] = out["touch_model"].map(cap)
    out["load"] = out["accounts"] / out["capacity_accounts"]
    order = {b.name: i for i, b in enumerate(sorted(params.bands, key=lambda b: -b.min_arr))}
    out["_o"] = out["touch_model"].map(order)
    return out.sort_values(["csm", "_o"]).drop(columns="_o").reset_index(drop=True)


def touch_model_summary(touch: pd.DataFrame) -> pd.DataFrame:
    """Accounts and ARR per touch model (from assign_touch_model): touch_model, accounts, arr."""
    return touch.groupby("touch_model", as_index=False).agg(accounts=("account_id", "size"), arr=("arr", "sum"))


def touch_model_accounts(touch: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """The accounts with their touch model for the CRM, largest ARR first: account_id, account_name, segment, csm, arr, touch_model."""
    out = touch.merge(accounts[["account_id", "account_name", "segment", "csm"]], on="account_id", how="left")
    cols = ["account_id", "account_name", "segment", "csm", "arr", "touch_model"]
    return out[cols].sort_values("arr", ascending=False).reset_index(drop=True)


def coverage_figures(coverage: pd.DataFrame) -> dict[str, int]:
    """CSMs over capacity (load summed over their touch models > 1) and accounts without a CSM (from csm_coverage)."""
    assigned = coverage[coverage["csm"] != UNASSIGNED]
    return {
        "csms_over_capacity": int((assigned.groupby("csm")["load"].sum() > 1).sum()),
        "accounts_without_csm": int(coverage.loc[coverage["csm"] == UNASSIGNED, "accounts"].sum()),
    }
