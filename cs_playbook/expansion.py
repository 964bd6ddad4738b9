"""Expansion: what each account could still buy (whitespace) and what it did buy (outcome labels).

Three kinds of expansion (docs: ../shared/DOMAIN.md, Expansion): upsell of seats, capped by the
customer's employee count; cross-sell of other products and of other departments (department
by department contracts spread to other departments); and usage-based growth (no cap).

- `expansion_outcomes` labels history: did an account expand in the months after a date, and
  how (seat add-ons, a new department, an add-on product, a higher usage tier)? The propensity
  model (`expansion_model`) learns from these labels.
- `whitespace` prices what is left to sell from the contracts held today, the employee count
  and the price list of params/expansion.yaml, as one row per account and possible play.

Plays, the CSQL list and their reasons are in `expansion_plays`; the NRR outlook in `nrr_outlook`.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from cs_playbook.errors import CsPlaybookError
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
    "usage_trend",
    "seat_headroom",
    "whitespace",
    "whitespace_summary",
]

PLAYS = ["seat_upsell", "new_department", "cross_sell", "usage_tier"]
COMPANY_WIDE = ""  # department key of company-wide lines (empty department)


class ProductPrice(StrictModel):
    """One product of the price list: per seat (base product or add-on) or usage tiers."""

    pricing: str = Field(pattern=r"^(per_seat|usage_tiers)$")
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
    exclude_tiers: list[str] = Field(default_factory=lambda: ["BAD"])


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
    products: dict[str, ProductPrice]
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
        if len(bases) != 1:
            raise ValueError(f"exactly one product must have role: base (got {bases or 'none'})")
        if "default" not in self.addressable_share:
            raise ValueError("addressable_share needs a 'default' entry for segments not listed")
        return self

    @property
    def base_product(self) -> str:
        """The per-seat product whose seats count against the employee cap."""
        return next(p for p, spec in self.products.items() if spec.role == "base")

    def usage_products(self) -> list[str]:
        """Products priced by usage tiers."""
        return [p for p, spec in self.products.items() if spec.pricing == "usage_tiers"]

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
        }
    )
    out = held.groupby(["snapshot", "account_id", "department", "product"], as_index=False).agg(
        seats=("seats", lambda s: s.sum(min_count=1)), arr=("arr", "sum")
    )
    return out[cols]


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
    seats of a line it held grow (seat_upsell), a department it had no line for appears
    (new_department), a product it did not hold appears (cross_sell), or the ARR of a usage
    product it held grows (usage_tier). Returns account_id, obs_date, arr_start, seat_upsell,
    new_department, cross_sell, usage_tier, expanded, expansion_arr (the largest gross ARR
    added over the start, over the window), churned (no contract at a month end of the
    window), contracted (a held line shrank or ended while the account stayed), contraction_arr,
    window_end (the window's last month end), complete (window_end on or before `as_of`). Only observations with contracts at the
    start are returned: expansion is growth of existing customers.
    """
    flags = ["seat_upsell", "new_department", "cross_sell", "usage_tier"]
    cols = ["account_id", "obs_date", "arr_start", *flags, "expanded", "expansion_arr"]
    cols += ["churned", "contracted", "contraction_arr", "window_end", "complete"]
    obs = observations[["account_id", "obs_date"]].drop_duplicates().reset_index(drop=True)
    if obs.empty:
        return pd.DataFrame(columns=cols)
    obs["obs_date"] = pd.to_datetime(obs["obs_date"]).astype("datetime64[ns]")
    obs["d0"] = obs["obs_date"] - pd.Timedelta(days=1)
    ks = np.arange(1, horizon_months + 1)
    win = obs.loc[obs.index.repeat(len(ks))].reset_index(drop=True)
    win["k"] = np.tile(ks, len(obs))
    pairs = win[["d0", "k"]].drop_duplicates()
    pairs["dk"] = [d + pd.offsets.MonthEnd(int(k)) for d, k in zip(pairs["d0"], pairs["k"], strict=True)]
    win = win.merge(pairs, on=["d0", "k"])
    states = line_states(subscriptions, list(obs["d0"].unique()) + list(win["dk"].unique()))
    keys = ["account_id", "department", "product"]

    base = obs.merge(
        states.rename(columns={"snapshot": "d0", "seats": "seats0", "arr": "arr0"}), on=["account_id", "d0"]
    )
    base = base[base["arr0"] > 0]
    arr_start = base.groupby(["account_id", "obs_date"])["arr0"].sum().rename("arr_start")
    obs = obs.merge(arr_start.reset_index(), on=["account_id", "obs_date"])
    if obs.empty:
        return pd.DataFrame(columns=cols)
    win = win.merge(obs[["account_id", "obs_date"]], on=["account_id", "obs_date"])
    now = win.merge(states.rename(columns={"snapshot": "dk"}), on=["account_id", "dk"])
    base_k = base.drop(columns="d0").merge(win[["account_id", "obs_date", "k"]], on=["account_id", "obs_date"])
    full = base_k.merge(now.drop(columns=["d0", "dk"]), on=["account_id", "obs_date", "k", *keys[1:]], how="outer")
    full["arr"] = full["arr"].fillna(0.0)
    full["arr0"] = full["arr0"].fillna(0.0)
    total = full.groupby(["account_id", "obs_date", "k"])["arr"].transform("sum")
    active = total > 0

    held_products = base[["account_id", "obs_date", "product"]].drop_duplicates().assign(_p=True)
    held_depts = base.loc[base["department"] != COMPANY_WIDE, ["account_id", "obs_date", "department"]]
    held_depts = held_depts.drop_duplicates().assign(_d=True)
    full = full.merge(held_products, on=["account_id", "obs_date", "product"], how="left")
    full = full.merge(held_depts, on=["account_id", "obs_date", "department"], how="left")
    was_held = full["seats0"].notna() | (full["arr0"] > 0)
    full["seat_upsell"] = active & full["seats0"].notna() & (full["seats"] > full["seats0"])
    full["new_department"] = active & (full["arr"] > 0) & (full["department"] != COMPANY_WIDE) & full["_d"].isna()
    full["cross_sell"] = active & (full["arr"] > 0) & full["_p"].isna()
    full["usage_tier"] = active & full["product"].isin(list(usage_products)) & was_held & (full["arr"] > full["arr0"])
    full["up"] = np.where(active, (full["arr"] - full["arr0"]).clip(lower=0), 0.0)
    full["down"] = np.where(active, (full["arr0"] - full["arr"]).clip(lower=0), 0.0)
    full["active"] = active
    per_k = full.groupby(["account_id", "obs_date", "k"]).agg(
        **{f: (f, "any") for f in flags}, up=("up", "sum"), down=("down", "sum"), active=("active", "any")
    )
    per_k["contracted"] = per_k["active"] & (per_k["down"] > 0)
    per_obs = per_k.groupby(["account_id", "obs_date"]).agg(
        **{f: (f, "any") for f in flags},
        expansion_arr=("up", "max"),
        contraction_arr=("down", "max"),
        contracted=("contracted", "any"),
        months_active=("active", "sum"),
    )
    out = obs.merge(per_obs.reset_index(), on=["account_id", "obs_date"], how="left")
    for f in [*flags, "contracted"]:
        out[f] = out[f].fillna(False).astype(bool)
    out["expanded"] = out[flags].any(axis=1)
    out["expansion_arr"] = out["expansion_arr"].fillna(0.0).where(out["expanded"], 0.0)
    out["contraction_arr"] = out["contraction_arr"].fillna(0.0).where(out["contracted"], 0.0)
    out["churned"] = out["months_active"].fillna(0) < horizon_months
    out["window_end"] = out["d0"] + pd.offsets.MonthEnd(horizon_months)
    out["complete"] = out["window_end"] <= pd.Timestamp(as_of) if as_of is not None else True
    return out[cols].sort_values(["obs_date", "account_id"]).reset_index(drop=True)


def usage_trend(events: ibis.Table, event_types: list[str], *, as_of: pd.Timestamp, months: int = 3) -> pd.DataFrame:
    """Use of a usage-priced product: events in the last `months` months and the change against the months before.

    Computed in the engine. Returns account_id, usage_recent, usage_before, usage_change
    (recent / before - 1; NaN when there was no use before).
    """
    cols = ["account_id", "usage_recent", "usage_before", "usage_change"]
    if not event_types:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    mid = end - pd.DateOffset(months=months)
    start = mid - pd.DateOffset(months=months)
    e = events.filter(events.event_type.isin(event_types) & (events.event_time >= start) & (events.event_time < end))
    recent = e.event_time >= mid
    agg = (
        e.group_by("account_id")
        .aggregate(usage_recent=e.count(where=recent), usage_before=e.count(where=~recent))
        .to_pandas()
    )
    agg["usage_recent"] = agg["usage_recent"].astype("float64")
    agg["usage_before"] = agg["usage_before"].astype("float64")
    agg["usage_change"] = agg["usage_recent"] / agg["usage_before"].where(agg["usage_before"] > 0) - 1
    return agg[cols].sort_values("account_id").reset_index(drop=True)


def _unit_price(params: ExpansionParams, product: str, segment: pd.Series) -> pd.Series:
    """List price per seat less the segment's discount."""
    disc = segment.map(params.segment_discount).fillna(0.0).astype("float64")
    return (1 - disc) * float(params.products[product].list_price or 0.0)


def seat_headroom(
    accounts: pd.DataFrame, subscriptions: pd.DataFrame, params: ExpansionParams, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Seats each current customer holds of the base product, and how many more it could buy.

    The cap is employees x addressable share of the segment (params), never above the
    employee count; headroom = cap - seats held, at least 0 (0 when the employee count is
    unknown). Seats are priced at what the account pays per seat today (list price less the
    segment discount when it holds none). Returns account_id, segment, employees, current_arr,
    seats_held, seat_price, seat_cap, headroom, departments (contracting departments of the
    base product; 0 for company-wide), median_dept and largest_dept_seats (seats),
    main_dept (the largest department, '' for company-wide).
    """
    cols = ["account_id", "segment", "employees", "current_arr", "seats_held", "seat_price", "seat_cap", "headroom"]
    cols += ["departments", "median_dept", "largest_dept_seats", "main_dept"]
    unknown = sorted(set(subscriptions["product"].dropna()) - set(params.products))
    if unknown:
        raise CsPlaybookError(
            f"params/expansion.yaml: products {unknown} are in subscriptions but not in the price list "
            f"(products: {', '.join(params.products)}). Add them with their pricing."
        )
    base_p = params.base_product
    held = line_states(subscriptions, [pd.Timestamp(as_of).normalize()])
    held = held[held["arr"] > 0]
    acc = accounts[["account_id", "segment", "employees"]].merge(
        held.groupby("account_id", as_index=False)["arr"].sum().rename(columns={"arr": "current_arr"}), on="account_id"
    )
    if acc.empty:
        return pd.DataFrame(columns=cols)
    acc["employees"] = pd.to_numeric(acc["employees"], errors="coerce").astype("float64")
    base = held[held["product"] == base_p]
    per_dept = base.groupby(["account_id", "department"], as_index=False).agg(
        seats=("seats", "sum"), arr=("arr", "sum")
    )
    named = per_dept["department"] != COMPANY_WIDE
    acc = acc.merge(
        per_dept.assign(named=named)
        .groupby("account_id")
        .agg(
            seats_held=("seats", "sum"),
            base_arr=("arr", "sum"),
            departments=("named", "sum"),
            median_dept=("seats", "median"),
            largest_dept_seats=("seats", "max"),
        ),
        on="account_id",
        how="left",
    )
    acc["seats_held"] = acc["seats_held"].fillna(0.0)
    acc["departments"] = acc["departments"].fillna(0).astype("int64")
    largest = per_dept.sort_values(["account_id", "seats", "department"], ascending=[True, False, True])
    acc = acc.merge(
        largest.drop_duplicates("account_id")[["account_id", "department"]].rename(columns={"department": "main_dept"}),
        on="account_id",
        how="left",
    )
    acc["main_dept"] = acc["main_dept"].fillna(COMPANY_WIDE)
    list_price = _unit_price(params, base_p, acc["segment"])
    acc["seat_price"] = (acc["base_arr"] / acc["seats_held"].where(acc["seats_held"] > 0)).fillna(list_price)
    share = acc["segment"].map(params.addressable_share).fillna(params.addressable_share["default"])
    acc["seat_cap"] = np.minimum(np.floor(acc["employees"] * share), acc["employees"])
    acc["headroom"] = (acc["seat_cap"] - acc["seats_held"]).clip(lower=0).fillna(0.0)
    return acc[cols].sort_values("account_id").reset_index(drop=True)


def whitespace(
    accounts: pd.DataFrame,
    subscriptions: pd.DataFrame,
    params: ExpansionParams,
    *,
    as_of: pd.Timestamp,
    usage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What is left to sell to each current customer, one row per account and play.

    Seats and prices come from `seat_headroom`; add-ons not held are priced at list price less
    the segment discount. Plays:
    - seat_upsell: more seats of the base product, a step of `seat_step_share` of the seats
      held, within the employee cap (the whitespace is all the headroom);
    - new_department: a department without a contract, for accounts that contract per
      department, sized like `new_department_size_share` of their median department, within
      the cap (the departments are proposed most often contracted first);
    - cross_sell: a per-seat add-on the account does not hold, on the seats of its largest
      department (or all seats, params), or a usage product it does not hold, at its first tier;
    - usage_tier: the next tier of a usage product it holds.
    Returns account_id, play, product, department, seats (seats the play adds; NaN for usage
    plays), play_arr (the next step, priced), whitespace_arr (the whole potential of the
    play), current_arr (the account's ARR today), detail (for the reason: the free
    departments, the tier, the usage change). `usage` (from `usage_trend`) adds the usage
    change of usage products to the detail.
    """
    cols = ["account_id", "play", "product", "department", "seats", "play_arr", "whitespace_arr", "current_arr"]
    cols += ["detail"]
    acc = seat_headroom(accounts, subscriptions, params, as_of=as_of)
    if acc.empty:
        return pd.DataFrame(columns=cols)
    base_p = params.base_product
    held = line_states(subscriptions, [pd.Timestamp(as_of).normalize()]).drop(columns="snapshot")
    held = held[held["arr"] > 0]
    contracted = held[held["department"] != COMPANY_WIDE]
    rows = []

    step = np.ceil(acc["seats_held"] * params.plays.seat_step_share)
    seat = acc.assign(
        play="seat_upsell",
        product=base_p,
        department=acc["main_dept"],
        seats=np.minimum(step, acc["headroom"]),
        play_arr=np.minimum(step, acc["headroom"]) * acc["seat_price"],
        whitespace_arr=acc["headroom"] * acc["seat_price"],
        detail=[
            f"cap={c:.0f}; held={h:.0f}" for c, h in zip(acc["seat_cap"].fillna(-1), acc["seats_held"], strict=True)
        ],
    )
    rows.append(seat[acc["headroom"] > 0])

    catalogue = params.departments or _department_popularity(subscriptions)
    held_sets = contracted.groupby("account_id")["department"].agg(set)
    d = acc[acc["account_id"].isin(held_sets.index)].copy()
    if not d.empty:
        d["free"] = [[x for x in catalogue if x not in held_sets[a]] for a in d["account_id"]]
        size = np.ceil(d["median_dept"] * params.plays.new_department_size_share)
        d["seats"] = np.minimum(size, d["headroom"])
        n_free = d["free"].map(len)
        d = d.assign(
            play="new_department",
            product=base_p,
            department=d["free"].map(lambda f: f[0] if f else COMPANY_WIDE),
            play_arr=d["seats"] * d["seat_price"],
            whitespace_arr=np.minimum(size * n_free, d["headroom"]) * d["seat_price"],
            detail=["; ".join(f) for f in d["free"]],
        )
        rows.append(d[(n_free > 0) & (d["seats"] > 0)])

    owned = held.groupby(["account_id", "product"], as_index=False).agg(seats=("seats", "sum"), arr=("arr", "sum"))
    for product, spec in params.products.items():
        if spec.role == "base":
            continue
        mine = acc.merge(
            owned[owned["product"] == product]
            .rename(columns={"seats": "seats_p", "arr": "arr_p"})
            .drop(columns="product"),
            on="account_id",
            how="left",
        )
        holds = mine["arr_p"].fillna(0) > 0
        if spec.pricing == "per_seat":
            scope = (
                mine["largest_dept_seats"]
                if params.plays.cross_sell_scope == "largest_department"
                else mine["seats_held"]
            )
            price = _unit_price(params, product, mine["segment"])
            uncovered = (mine["seats_held"] - mine["seats_p"].fillna(0)).clip(lower=0)
            x = mine.assign(
                play="cross_sell",
                product=product,
                department=np.where(
                    params.plays.cross_sell_scope == "largest_department", mine["main_dept"], COMPANY_WIDE
                ),
                seats=scope.fillna(0),
                play_arr=scope.fillna(0) * price,
                whitespace_arr=uncovered * price,
                detail=f"list {spec.list_price:,.0f}/seat",
            )
            rows.append(x[~holds & (x["seats"] > 0)])
            continue
        tiers = np.array(spec.tiers)
        current = mine["arr_p"].fillna(0.0).to_numpy()
        level = np.searchsorted(tiers, current, side="right")  # tiers at or below the current ARR
        nxt = np.where(level < len(tiers), tiers[np.minimum(level, len(tiers) - 1)], np.nan)
        u = mine.assign(
            play=np.where(holds, "usage_tier", "cross_sell"),
            product=product,
            department=mine["main_dept"],
            seats=np.nan,
            play_arr=nxt - current,
            whitespace_arr=tiers[-1] - current,
            detail=[f"tier {lv}/{len(tiers)}" for lv in level],
        )
        if usage is not None and not usage.empty:
            chg = mine["account_id"].map(usage.set_index("account_id")["usage_change"])
            u["detail"] = u["detail"] + [f"; usage {c:+.0%}" if pd.notna(c) else "" for c in chg]
        rows.append(u[(u["play_arr"] > 0)])
    out = pd.concat(rows, ignore_index=True)[cols]
    out["seats"] = out["seats"].astype("float64")
    return out.sort_values(["account_id", "play", "product"]).reset_index(drop=True)


def _department_popularity(subscriptions: pd.DataFrame) -> list[str]:
    """Departments named in contracts, most often contracted first (the order new departments are proposed in)."""
    subs = subscriptions.dropna(subset=["department"])
    counts = subs.groupby("department")["account_id"].nunique().sort_values(ascending=False, kind="stable")
    return [d for d in counts.index if str(d).strip()]


def whitespace_summary(ws: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Whitespace ARR per account by play, and in total without double counting seats.

    New departments draw on the same employee cap as seat upsell, so the total counts the
    larger of the two. Returns account_id, account_name, segment, one <play>_arr column per
    play, total_whitespace_arr; largest total first.
    """
    wide = ws.pivot_table(index="account_id", columns="play", values="whitespace_arr", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=PLAYS, fill_value=0.0).add_suffix("_arr")
    wide["total_whitespace_arr"] = (
        np.maximum(wide["seat_upsell_arr"], wide["new_department_arr"])
        + wide["cross_sell_arr"]
        + wide["usage_tier_arr"]
    )
    out = accounts[["account_id", "account_name", "segment"]].merge(wide.reset_index(), on="account_id")
    return out.sort_values("total_whitespace_arr", ascending=False).reset_index(drop=True)
