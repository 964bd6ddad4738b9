"""CSM coverage: the touch model (high / low / tech touch by ARR band) and CSM capacity.

Sources [004][001]: high touch for high-value accounts, low touch in between, tech touch for
many low-price accounts; capacity is ARR and accounts per CSM.

A band is given either by an amount (`min_arr`, in the reporting currency) or by a share of the
accounts (`top_share`: the top share of the active accounts by ARR, e.g. 0.05 = the largest 5%),
so the default bands fit any company's prices; `resolve_bands` turns shares into amounts on the data.
Accounts without a CSM (csm missing: the loader maps placeholders like "unassigned" or "-" to
missing) are one unassigned pool, never counted as a person.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TouchBand",
    "CoverageParams",
    "resolve_bands",
    "csm_owner",
    "assign_touch_model",
    "csm_coverage",
    "touch_model_summary",
    "touch_model_accounts",
    "coverage_figures",
]

UNASSIGNED = "(unassigned)"
# Owner values that mean "nobody" (the loader maps them to missing; repeated here so no caller counts one as a person).
PLACEHOLDER_OWNERS = frozenset({"", "-", "--", "unassigned", "(unassigned)", "none", "n/a", "na", "null", "nobody"})


def csm_owner(csm: pd.Series) -> pd.Series:
    """The CSM of each account, with missing and placeholder values ("unassigned", "-", "", "none", "n/a") as UNASSIGNED."""
    text = csm.astype("string").str.strip()
    nobody = text.isna() | text.str.lower().isin(PLACEHOLDER_OWNERS).fillna(True)
    return text.where(~nobody, UNASSIGNED).astype(object)


class TouchBand(BaseModel):
    """One coverage model and the smallest account ARR that earns it (an amount, or the top share of accounts)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    min_arr: float | None = Field(None, ge=0)  # in the reporting currency
    top_share: float | None = Field(None, gt=0, le=1)  # the top share of active accounts by ARR earn this band
    accounts_per_csm: int = Field(gt=0)  # capacity: accounts one CSM can cover in this model

    @model_validator(mode="after")
    def _one_edge(self) -> TouchBand:
        if (self.min_arr is None) == (self.top_share is None):
            raise ValueError(f"touch band {self.name!r}: give min_arr (an amount) or top_share (a share), not both")
        return self


class CoverageParams(BaseModel):
    """The touch model of params/kpi.yaml (bands from the highest ARR down)."""

    model_config = ConfigDict(extra="forbid")
    bands: list[TouchBand]

    @model_validator(mode="after")
    def _has_floor(self) -> CoverageParams:
        if not any(b.min_arr == 0 or b.top_share == 1 for b in self.bands):
            raise ValueError("one touch band must have min_arr: 0 (or top_share: 1) so every account has a model")
        if len({b.name for b in self.bands}) != len(self.bands):
            raise ValueError("touch band names must be unique")
        return self


def resolve_bands(params: CoverageParams, arr: pd.Series) -> CoverageParams:
    """The bands as amounts: a `top_share` band starts at the ARR of the account at that quantile of `arr`.

    `arr` is the ARR of the active accounts (positive values count). A share band whose
    quantile is not above 0 (or with no active accounts) starts at 0.
    """
    values = pd.to_numeric(arr, errors="coerce").astype("float64")
    values = values[values > 0]
    bands = []
    for b in params.bands:
        edge = b.min_arr
        if edge is None:
            edge = float(values.quantile(1 - float(b.top_share or 0))) if len(values) and b.top_share != 1 else 0.0
        bands.append(TouchBand(name=b.name, min_arr=max(edge, 0.0), accounts_per_csm=b.accounts_per_csm))
    return CoverageParams(bands=bands)


def assign_touch_model(account_arr: pd.DataFrame, params: CoverageParams) -> pd.DataFrame:
    """Each account's coverage model from its ARR.

    `account_arr` has account_id and arr; returns it with a `touch_model` column (the band with
    the highest min_arr not above the account's ARR; `top_share` bands are resolved on this ARR).
    """
    bands = sorted(resolve_bands(params, account_arr["arr"]).bands, key=lambda b: float(b.min_arr or 0))
    edges = np.array([float(b.min_arr or 0) for b in bands])
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
    df["csm"] = csm_owner(df["csm"])
    cap = {b.name: b.accounts_per_csm for b in params.bands}
    out = df.groupby(["csm", "touch_model"], as_index=False).agg(accounts=("account_id", "nunique"), arr=("arr", "sum"))
    out["capacity_accounts"] = out["touch_model"].map(cap)
    out["load"] = out["accounts"] / out["capacity_accounts"]
    resolved = resolve_bands(params, account_arr["arr"]).bands
    order = {b.name: i for i, b in enumerate(sorted(resolved, key=lambda b: -float(b.min_arr or 0)))}
    out["_o"] = out["touch_model"].map(order)
    return out.sort_values(["csm", "_o"]).drop(columns="_o").reset_index(drop=True)


def touch_model_summary(touch: pd.DataFrame, params: CoverageParams | None = None) -> pd.DataFrame:
    """Accounts and ARR per touch model (from assign_touch_model): touch_model, accounts, arr.

    With `params`, also the band's rule (the params: an amount, or the top share of accounts by
    ARR) and from_arr (the ARR it starts at on this data), highest band first.
    """
    out = touch.groupby("touch_model", as_index=False).agg(accounts=("account_id", "size"), arr=("arr", "sum"))
    if params is None:
        return out
    resolved = {b.name: float(b.min_arr or 0) for b in resolve_bands(params, touch["arr"]).bands}
    rule = {
        b.name: (f"top {b.top_share:.0%} of accounts by ARR" if b.top_share is not None else "amount (params)")
        for b in params.bands
    }
    bands = pd.DataFrame(
        {"touch_model": list(resolved), "rule": [rule[n] for n in resolved], "from_arr": resolved.values()}
    )
    out = bands.merge(out, on="touch_model", how="left").fillna({"accounts": 0, "arr": 0.0})
    out["accounts"] = out["accounts"].astype("int64")
    return out.sort_values("from_arr", ascending=False).reset_index(drop=True)


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
