"""Expansion: the parameters of expansion targeting and what each account bought (outcome labels).

Three kinds of expansion (docs: ../shared/DOMAIN.md, Expansion): upsell of seats, capped by the
customer's employee count; cross-sell of other products and of other departments (department
by department contracts spread to other departments); and usage-based growth (no cap).

`expansion_outcomes` labels history: did an account expand in the months after a date, and how
(seat add-ons, a new department, an add-on product, a higher usage tier)? The propensity model
(`expansion.model`) learns from these labels and `outcome_rates` summarises them. What is left to
sell is in `expansion.whitespace`; plays, the CSQL list and their reasons in `expansion.plays`; the
4-quarter cumulative NRR and GRR outlook in `expansion.outlook`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from cs_playbook.errors import CsPlaybookError
from cs_playbook.modeling.scorecard import TIERS
from cs_playbook.params import StrictModel

__all__ = [
    "PLAYS",
    "ProductPrice",
    "PlayParams",
    "ModelParams",
    "GuardParams",
    "CapacityParams",
    "OutlookParams",
    "ExpansionParams",
    "line_states",
    "expansion_outcomes",
    "outcome_rates",
]

PLAYS = ["seat_upsell", "new_department", "cross_sell", "usage_tier"]
COMPANY_WIDE = ""  # department key of company-wide lines (empty department)


class ProductPrice(StrictModel):
    """One product of the price list: per seat (base product or add-on) or usage tiers."""

    pricing: str | None = Field(None, pattern=r"^(per_seat|usage_tiers)$")  # empty: as observed (expansion.prices)
    role: str = Field("add_on", pattern=r"^(base|add_on)$")
    list_price: float | None = Field(None, ge=0)  # per seat per year, for per_seat products
    tiers: list[float] = Field(default_factory=list)  # ARR of each usage tier, lowest first
    usage_event_types: list[str] = Field(default_factory=list)  # events that show the use of a usage product

    @model_validator(mode="after")
    def _priced(self) -> ProductPrice:
        if self.pricing == "per_seat" and self.list_price is None:
            raise ValueError("a per_seat product needs list_price (per seat per year)")
        if self.pricing == "usage_tiers":
            if not self.tiers or any(b <= a for a, b in zip(self.tiers, self.tiers[1:], strict=False)):
                raise ValueError("a usage_tiers product needs tiers: ARR per tier, strictly increasing")
            if self.role == "base":
                raise ValueError("the base product must be priced per_seat")
        return self


class PlayParams(StrictModel):
    """How big the next step of each play is (the whitespace is the whole potential)."""

    seat_step_share: float = Field(0.2, gt=0, le=1)  # a seat upsell adds this share of the seats held
    new_department_size_share: float = Field(0.5, gt=0, le=2)  # a new department's seats vs the median department
    cross_sell_scope: str = Field("largest_department", pattern=r"^(largest_department|all_seats)$")
    labels: dict[str, str] = Field(default_factory=dict)  # play -> name shown to CSMs


class ModelParams(StrictModel):
    """The propensity model: observations, signals and the out-of-time validation."""

    observation_every_months: int = Field(3, ge=1, le=12)
    history_months: int = Field(36, ge=6)
    test_observations: int = Field(2, ge=1)  # latest complete observation dates held out per backtest fold
    backtest_folds: int = Field(3, ge=1)
    min_events: int = Field(30, ge=5)  # fewer expansions than this: the model falls back
    utilization_near_limit: float = Field(0.8, gt=0, le=1.5)  # seat utilization counted as near the limit
    promoter_nps: float = Field(9, ge=0, le=10)  # NPS score counted as a promoter
    signals: list[str] = Field(default_factory=list)  # measures used as signals; empty = the default set
    play_models: bool = True  # fit one model per play type when it has enough events


class GuardParams(StrictModel):
    """Churn-risk guard: accounts likely to churn are retained first, not expanded."""

    max_churn_probability: float = Field(0.3, gt=0, le=1)
    exclude_tiers: list[str] = Field(default_factory=lambda: ["bad"])  # tier codes (modeling.scorecard.TIERS)

    @field_validator("exclude_tiers")
    @classmethod
    def _tier_codes(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in TIERS]
        if unknown:
            raise ValueError(
                f"guard.exclude_tiers {unknown} are not tier codes: use {', '.join(TIERS)} "
                "(the words shown for them, like BAD, are set in params/health_score.yaml tier_labels)"
            )
        return v


class CapacityParams(StrictModel):
    """CSM capacity for expansion plays next quarter."""

    plays_per_csm: int = Field(8, ge=0)  # expansion conversations one CSM can run in a quarter
    unassigned_plays: int = Field(30, ge=0)  # plays for accounts without a CSM (digital / tech touch)
    min_probability: float = Field(0.05, ge=0, le=1)
    min_expected_arr: float = Field(0, ge=0)


class OutlookParams(StrictModel):
    """The bottom-up NRR outlook simulation."""

    quarters: int = Field(4, ge=1, le=8)
    simulations: int = Field(2000, ge=100, le=100_000)
    interval: float = Field(0.9, gt=0.5, lt=1)
    seed: int = 7


class ExpansionParams(StrictModel):
    """params/expansion.yaml."""

    horizon_months: int = Field(6, ge=1, le=24)
    # Overrides of the price list observed in the subscriptions (expansion.prices), by product family.
    products: dict[str, ProductPrice] = Field(default_factory=dict)
    families: dict[str, str] = Field(default_factory=dict)  # product value -> family (plan tiers of one product)
    plan_separator: str = "_"  # "<family><separator><plan>" when 2+ product values share the family; "" = off
    price_window_months: int = Field(12, ge=1, le=120)  # observed prices from lines started this many months back
    segment_discount: dict[str, float] = Field(default_factory=dict)
    addressable_share: dict[str, float]
    departments: list[str] = Field(default_factory=list)
    plays: PlayParams = Field(default_factory=PlayParams)
    model: ModelParams = Field(default_factory=ModelParams)
    guard: GuardParams = Field(default_factory=GuardParams)
    capacity: CapacityParams = Field(default_factory=CapacityParams)
    outlook: OutlookParams = Field(default_factory=OutlookParams)
    reason_language: str = Field("ja", pattern=r"^(ja|en)$")

    @field_validator("segment_discount", "addressable_share")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not 0 <= x <= 1}
        if bad:
            raise ValueError(f"shares must be between 0 and 1 (got {bad})")
        return v

    @model_validator(mode="after")
    def _one_base(self) -> ExpansionParams:
        bases = [p for p, spec in self.products.items() if spec.role == "base"]
        if len(bases) > 1:
            raise ValueError(f"at most one product may have role: base (got {bases})")
        if "default" not in self.addressable_share:
            raise ValueError("addressable_share needs a 'default' entry for segments not listed")
        return self

    @property
    def base_product(self) -> str:
        """The per-seat product whose seats count against the employee cap (set by `expansion.prices.fit_price_list`)."""
        base = [p for p, spec in self.products.items() if spec.role == "base"]
        if not base:
            raise CsPlaybookError(
                "No base product: fit the price list to the data first (expansion.prices.fit_price_list) "
                "or give one product role: base in params/expansion.yaml."
            )
        return base[0]

    def usage_products(self) -> list[str]:
        """Products priced by usage tiers."""
        return [p for p, spec in self.products.items() if spec.pricing == "usage_tiers"]

    def usage_event_types(self) -> list[str]:
        """The events that show the use of the usage-priced products (for `whitespace.usage_trend`)."""
        return [t for p in self.usage_products() for t in self.products[p].usage_event_types]

    def play_label(self, play: str) -> str:
        """The name of a play shown to CSMs."""
        return self.plays.labels.get(play, play.replace("_", " "))


def _key_frame(subscriptions: pd.DataFrame) -> pd.DataFrame:
    subs = subscriptions.dropna(subset=["start_date"]).copy()
    subs["department"] = subs["department"].astype("string").fillna(COMPANY_WIDE).astype(str)
    subs["seats"] = pd.to_numeric(subs["seats"], errors="coerce").astype("float64")
    return subs


def line_states(subscriptions: pd.DataFrame, dates: pd.DatetimeIndex | list[pd.Timestamp]) -> pd.DataFrame:
    """Contract lines active on each date, summed per account, department and product.

    A line is active on day d when start_date <= d and (end_date is empty or end_date >= d).
    Returns snapshot, account_id, department ('' for company-wide), product, seats (NaN for
    usage lines), arr.
    """
    cols = ["snapshot", "account_id", "department", "product", "seats", "arr"]
    subs = _key_frame(subscriptions)
    ranked = "plan_rank" in subs.columns  # subscriptions by product family (expansion.prices.with_families)
    cols += ["plan_rank"] if ranked else []
    days = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(dates).normalize())))
    if subs.empty or len(days) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    start = subs["start_date"].to_numpy()[:, None]
    end = subs["end_date"].fillna(pd.Timestamp.max.normalize()).to_numpy()[:, None]
    active = (start <= days.to_numpy()[None, :]) & (end >= days.to_numpy()[None, :])
    line_idx, day_idx = np.nonzero(active)
    held = pd.DataFrame(
        {
            "snapshot": days.to_numpy()[day_idx],
            "account_id": subs["account_id"].to_numpy()[line_idx],
            "department": subs["department"].to_numpy()[line_idx],
            "product": subs["product"].to_numpy()[line_idx],
            "seats": subs["seats"].to_numpy()[line_idx],
            "arr": subs["arr"].to_numpy(dtype="float64")[line_idx],
            "plan_rank": subs["plan_rank"].to_numpy(dtype="float64")[line_idx] if ranked else 0.0,
        }
    )
    grouped = held.groupby(["snapshot", "account_id", "department", "product"])
    out = grouped["seats"].sum(min_count=1).to_frame()  # NaN when no line of the key has seats (usage lines)
    out["arr"] = grouped["arr"].sum()
    out["plan_rank"] = grouped["plan_rank"].max()
    return out.reset_index()[cols]


def _windows(observations: pd.DataFrame, horizon_months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observations (account_id, obs_date, d0 = the day before) and their month ends k = 1..horizon (dk)."""
    obs = observations[["account_id", "obs_date"]].drop_duplicates().reset_index(drop=True)
    obs["obs_date"] = pd.to_datetime(obs["obs_date"]).astype("datetime64[ns]")
    obs["d0"] = obs["obs_date"] - pd.Timedelta(days=1)
    ks = np.arange(1, horizon_months + 1)
    win = obs.loc[obs.index.repeat(len(ks))].reset_index(drop=True)
    win["k"] = np.tile(ks, len(obs))
    pairs = win[["d0", "k"]].drop_duplicates()
    pairs["dk"] = [d + pd.offsets.MonthEnd(int(k)) for d, k in zip(pairs["d0"], pairs["k"], strict=True)]
    return obs, win.merge(pairs, on=["d0", "k"])


def _line_movements(
    base: pd.DataFrame, win: pd.DataFrame, states: pd.DataFrame, usage_products: list[str]
) -> pd.DataFrame:
    """Per observation, month k and contract key: the play flags, ARR up and down, and whether the account is active.

    `base` holds the lines at the start (seats0, arr0); `win` the observation's month ends; `states`
    the `line_states` of those month ends.
    """
    keys = ["account_id", "department", "product"]
    now = win.merge(states.rename(columns={"snapshot": "dk"}), on=["account_id", "dk"])
    base_k = base.drop(columns="d0").merge(win[["account_id", "obs_date", "k"]], on=["account_id", "obs_date"])
    full = base_k.merge(now.drop(columns=["d0", "dk"]), on=["account_id", "obs_date", "k", *keys[1:]], how="outer")
    full["arr"] = full["arr"].fillna(0.0)
    full["arr0"] = full["arr0"].fillna(0.0)
    active = full.groupby(["account_id", "obs_date", "k"])["arr"].transform("sum") > 0
    held_products = base[["account_id", "obs_date", "product"]].drop_duplicates().assign(_p=True)
    held_depts = base.loc[base["department"] != COMPANY_WIDE, ["account_id", "obs_date", "department"]]
    held_depts = held_depts.drop_duplicates().assign(_d=True)
    full = full.merge(held_products, on=["account_id", "obs_date", "product"], how="left")
    full = full.merge(held_depts, on=["account_id", "obs_date", "department"], how="left")
    was_held = full["seats0"].notna() | (full["arr0"] > 0)
    upgrade = (full["plan_rank"] > full["plan_rank0"]) if "plan_rank0" in full else False  # a higher plan tier
    full["seat_upsell"] = active & ((full["seats0"].notna() & (full["seats"] > full["seats0"])) | (was_held & upgrade))
    full["new_department"] = active & (full["arr"] > 0) & (full["department"] != COMPANY_WIDE) & full["_d"].isna()
    full["cross_sell"] = active & (full["arr"] > 0) & full["_p"].isna()
    full["usage_tier"] = active & full["product"].isin(usage_products) & was_held & (full["arr"] > full["arr0"])
    full["up"] = np.where(active, (full["arr"] - full["arr0"]).clip(lower=0), 0.0)
    full["down"] = np.where(active, (full["arr0"] - full["arr"]).clip(lower=0), 0.0)
    full["active"] = active
    return full


def _per_observation(full: pd.DataFrame) -> pd.DataFrame:
    """The line movements summed per month, then per observation (flags, largest ARR up and down, months active)."""
    per_k = full.groupby(["account_id", "obs_date", "k"]).agg(
        **{f: (f, "any") for f in PLAYS}, up=("up", "sum"), down=("down", "sum"), active=("active", "any")
    )
    per_k["contracted"] = per_k["active"] & (per_k["down"] > 0)
    return per_k.groupby(["account_id", "obs_date"]).agg(
        **{f: (f, "any") for f in PLAYS},
        expansion_arr=("up", "max"),
        contraction_arr=("down", "max"),
        contracted=("contracted", "any"),
        months_active=("active", "sum"),
    )


def expansion_outcomes(
    subscriptions: pd.DataFrame,
    observations: pd.DataFrame,
    *,
    horizon_months: int = 6,
    usage_products: list[str] | tuple[str, ...] = ("API",),
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Whether each account expanded in the months after each observation date, and how.

    `observations` has account_id and obs_date. The start is the contracts held on the day
    before obs_date; the window is the month ends of the `horizon_months` months after it.
    An account expands when, at a month end of the window while it still has contracts:
    seats of a line it held grow, or it moves to a higher plan tier of a product family it held
    (seat_upsell: an upsell of the same product; with subscriptions by family, `expansion.prices`), a department it had no line for appears
    (new_department), a product it did not hold appears (cross_sell), or the ARR of a usage
    product it held grows (usage_tier). Returns account_id, obs_date, arr_start, seat_upsell,
    new_department, cross_sell, usage_tier, expanded, expansion_arr (the largest gross ARR
    added over the start, over the window), churned (no contract at a month end of the
    window), contracted (a held line shrank or ended while the account stayed), contraction_arr,
    window_end (the window's last month end), complete (window_end on or before `as_of`). Only observations with contracts at the
    start are returned: expansion is growth of existing customers.
    """
    cols = ["account_id", "obs_date", "arr_start", *PLAYS, "expanded", "expansion_arr"]
    cols += ["churned", "contracted", "contraction_arr", "window_end", "complete"]
    if observations[["account_id", "obs_date"]].empty:
        return pd.DataFrame(columns=cols)
    obs, win = _windows(observations, horizon_months)
    states = line_states(subscriptions, list(obs["d0"].unique()) + list(win["dk"].unique()))
    base = obs.merge(
        states.rename(columns={"snapshot": "d0", "seats": "seats0", "arr": "arr0", "plan_rank": "plan_rank0"}),
        on=["account_id", "d0"],
    )
    base = base[base["arr0"] > 0]
    arr_start = base.groupby(["account_id", "obs_date"])["arr0"].sum().rename("arr_start")
    obs = obs.merge(arr_start.reset_index(), on=["account_id", "obs_date"])
    if obs.empty:
        return pd.DataFrame(columns=cols)
    win = win.merge(obs[["account_id", "obs_date"]], on=["account_id", "obs_date"])
    per_obs = _per_observation(_line_movements(base, win, states, list(usage_products)))
    out = obs.merge(per_obs.reset_index(), on=["account_id", "obs_date"], how="left")
    for f in [*PLAYS, "contracted"]:
        out[f] = out[f].fillna(False).astype(bool)
    out["expanded"] = out[PLAYS].any(axis=1)
    out["expansion_arr"] = out["expansion_arr"].fillna(0.0).where(out["expanded"], 0.0)
    out["contraction_arr"] = out["contraction_arr"].fillna(0.0).where(out["contracted"], 0.0)
    out["churned"] = out["months_active"].fillna(0) < horizon_months
    out["window_end"] = out["d0"] + pd.offsets.MonthEnd(horizon_months)
    out["complete"] = out["window_end"] <= pd.Timestamp(as_of) if as_of is not None else True
    return out[cols].sort_values(["obs_date", "account_id"]).reset_index(drop=True)


def outcome_rates(panel: pd.DataFrame) -> pd.DataFrame:
    """How customers expanded in the past: the share of observations with each kind of expansion in the horizon.

    `panel` is `expansion.model.propensity_panel` (outcomes NaN when unknown); only observations
    with a known outcome count. Returns kind (expanded, then each play, contracted, churned),
    observations, rate, median_share (median ARR added, or lost, as a share of the starting ARR,
    among the observations with that outcome).
    """
    known = panel[panel["expanded"].notna()]
    rows = []
    for kind in ["expanded", *PLAYS, "contracted", "churned"]:
        col = known[kind]
        hit = known[col == 1]
        amount = "contraction_arr" if kind == "contracted" else ("arr_start" if kind == "churned" else "expansion_arr")
        share = (hit[amount] / hit["arr_start"]).median() if len(hit) else np.nan
        rows.append(
            {"kind": kind, "observations": int(col.notna().sum()), "rate": float(col.mean()), "median_share": share}
        )
    return pd.DataFrame(rows)
