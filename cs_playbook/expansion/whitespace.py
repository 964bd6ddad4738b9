"""Whitespace: what is left to sell to each customer, priced, under the employee cap.

Upsell of seats is capped by the customer's employee count (../shared/DOMAIN.md, Expansion);
department-by-department customers can add departments; products not held can be cross-sold;
usage-priced products can move up a tier (no cap). `whitespace` prices each play's next step and
its whole potential from the contracts held today, the employee count and the price list of
params/expansion.yaml; `whitespace_by_segment` and `whitespace_summary` total it without counting
the employee cap twice; `analyse_whitespace` runs them all for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from cs_playbook.errors import CsPlaybookError
from cs_playbook.expansion.outcomes import COMPANY_WIDE, PLAYS, ExpansionParams, line_states

__all__ = [
    "usage_trend",
    "seat_headroom",
    "whitespace",
    "whitespace_summary",
    "whitespace_by_segment",
    "Whitespace",
    "analyse_whitespace",
]


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
    share = acc["segment"].map(params.addressable_share).astype("float64")
    share = share.fillna(params.addressable_share["default"])
    acc["seat_cap"] = np.minimum(np.floor(acc["employees"] * share), acc["employees"])
    acc["headroom"] = (acc["seat_cap"] - acc["seats_held"]).clip(lower=0).fillna(0.0)
    return acc[cols].sort_values("account_id").reset_index(drop=True)


def _seat_plays(acc: pd.DataFrame, params: ExpansionParams) -> pd.DataFrame:
    """Seat upsell: a step of `seat_step_share` of the seats held, within the headroom (the whitespace)."""
    step = np.minimum(np.ceil(acc["seats_held"] * params.plays.seat_step_share), acc["headroom"])
    seat = acc.assign(
        play="seat_upsell",
        product=params.base_product,
        department=acc["main_dept"],
        seats=step,
        play_arr=step * acc["seat_price"],
        whitespace_arr=acc["headroom"] * acc["seat_price"],
        detail=[
            f"cap={c:.0f}; held={h:.0f}" for c, h in zip(acc["seat_cap"].fillna(-1), acc["seats_held"], strict=True)
        ],
    )
    return seat[acc["headroom"] > 0]


def _department_plays(
    acc: pd.DataFrame, contracted: pd.DataFrame, subscriptions: pd.DataFrame, params: ExpansionParams
) -> pd.DataFrame:
    """New department: the first department without a contract, sized from the median department, within the cap."""
    catalogue = params.departments or _department_popularity(subscriptions)
    held_sets = contracted.groupby("account_id")["department"].agg(set)
    d = acc[acc["account_id"].isin(held_sets.index)].copy()
    if d.empty:
        return d
    d["free"] = [[x for x in catalogue if x not in held_sets[a]] for a in d["account_id"]]
    size = np.ceil(d["median_dept"] * params.plays.new_department_size_share)
    d["seats"] = np.minimum(size, d["headroom"])
    n_free = d["free"].map(len)
    d = d.assign(
        play="new_department",
        product=params.base_product,
        department=[f[0] if f else COMPANY_WIDE for f in d["free"]],
        play_arr=d["seats"] * d["seat_price"],
        whitespace_arr=np.minimum(size * n_free, d["headroom"]) * d["seat_price"],
        detail=["; ".join(f) for f in d["free"]],
    )
    return d[(n_free > 0) & (d["seats"] > 0)]


def _per_seat_add_on(mine: pd.DataFrame, product: str, params: ExpansionParams) -> pd.DataFrame:
    """Cross-sell of a per-seat add-on not held, on the largest department's seats (or all seats)."""
    largest = params.plays.cross_sell_scope == "largest_department"
    scope = (mine["largest_dept_seats"] if largest else mine["seats_held"]).fillna(0)
    price = _unit_price(params, product, mine["segment"])
    uncovered = (mine["seats_held"] - mine["seats_p"].fillna(0)).clip(lower=0)
    x = mine.assign(
        play="cross_sell",
        product=product,
        department=mine["main_dept"] if largest else COMPANY_WIDE,
        seats=scope,
        play_arr=scope * price,
        whitespace_arr=uncovered * price,
        detail=f"list {params.products[product].list_price:,.0f}/seat",
    )
    return x[(mine["arr_p"].fillna(0) <= 0) & (x["seats"] > 0)]


def _usage_add_on(
    mine: pd.DataFrame, product: str, params: ExpansionParams, usage: pd.DataFrame | None
) -> pd.DataFrame:
    """The next tier of a usage product held (usage_tier), or its first tier when not held (cross_sell)."""
    tiers = np.array(params.products[product].tiers)
    current = mine["arr_p"].fillna(0.0).to_numpy()
    level = np.searchsorted(tiers, current, side="right")  # tiers at or below the current ARR
    nxt = np.where(level < len(tiers), tiers[np.minimum(level, len(tiers) - 1)], np.nan)
    u = mine.assign(
        play=np.where(current > 0, "usage_tier", "cross_sell"),
        product=product,
        department=mine["main_dept"],
        seats=np.nan,
        play_arr=nxt - current,
        whitespace_arr=tiers[-1] - current,
        detail=[f"tier {lv}/{len(tiers)}" for lv in level],
    )
    if usage is not None and not usage.empty:
        chg = mine["account_id"].map(usage.set_index("account_id")["usage_change"]).astype("float64")
        u["detail"] = u["detail"] + [f"; usage {c:+.0%}" if pd.notna(c) else "" for c in chg]
    return u[u["play_arr"] > 0]


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
    acc = seat_headroom(accounts, subscriptions, params, as_of=as_of)
    return _priced_plays(acc, subscriptions, params, as_of=as_of, usage=usage)


def _priced_plays(
    acc: pd.DataFrame,
    subscriptions: pd.DataFrame,
    params: ExpansionParams,
    *,
    as_of: pd.Timestamp,
    usage: pd.DataFrame | None,
) -> pd.DataFrame:
    """`whitespace` from the `seat_headroom` of the same day (`analyse_whitespace` has it already)."""
    cols = ["account_id", "play", "product", "department", "seats", "play_arr", "whitespace_arr", "current_arr"]
    cols += ["detail"]
    if acc.empty:
        return pd.DataFrame(columns=cols)
    held = line_states(subscriptions, [pd.Timestamp(as_of).normalize()]).drop(columns="snapshot")
    held = held[held["arr"] > 0]
    rows = [
        _seat_plays(acc, params),
        _department_plays(acc, held[held["department"] != COMPANY_WIDE], subscriptions, params),
    ]
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
        if spec.pricing == "per_seat":
            rows.append(_per_seat_add_on(mine, product, params))
        else:
            rows.append(_usage_add_on(mine, product, params, usage))
    rows = [r for r in rows if not r.empty]
    if not rows:
        return pd.DataFrame(columns=cols)
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


def whitespace_by_segment(ws: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Whitespace and next-step ARR per segment and play.

    Returns segment, play, accounts (with the play), whitespace_arr, counted_arr (the
    whitespace counted once: new departments draw on the employee cap that seat upsell
    already counts, so they add only what exceeds the account's seat headroom) and play_arr.
    counted_arr sums to the total of `whitespace_summary`.
    """
    df = ws.merge(accounts[["account_id", "segment"]], on="account_id", how="left")
    for col in ("whitespace_arr", "play_arr"):  # an empty or object frame must not leave str/object amounts
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    seat = df[df["play"] == "seat_upsell"].groupby("account_id")["whitespace_arr"].sum().rename("_seat_ws")
    df = df.merge(seat.reset_index(), on="account_id", how="left")
    seat_of_row = df["_seat_ws"].astype("float64").fillna(0.0)
    dept = (df["play"] == "new_department").to_numpy(dtype=bool)
    df["counted_arr"] = np.where(dept, (df["whitespace_arr"] - seat_of_row).clip(lower=0), df["whitespace_arr"])
    out = df.groupby(["segment", "play"], as_index=False).agg(
        accounts=("account_id", "nunique"),
        whitespace_arr=("whitespace_arr", "sum"),
        counted_arr=("counted_arr", "sum"),
        play_arr=("play_arr", "sum"),
    )
    return out.sort_values(["segment", "play"]).reset_index(drop=True)


@dataclass
class Whitespace:
    """Every whitespace table of one report (see the functions that build each)."""

    headroom: pd.DataFrame  # seat_headroom
    usage_change: pd.DataFrame | None  # usage_trend of the usage products (None without events)
    plays: pd.DataFrame  # whitespace: one row per account and play
    summary: pd.DataFrame  # whitespace_summary: per account, largest first
    by_segment: pd.DataFrame  # whitespace_by_segment
    at_cap: int  # customers with a known employee count and no seat headroom left
    no_employees: int  # customers without an employee count (their seat upsell is not sized)

    @property
    def current_arr(self) -> float:
        """ARR of the current customers."""
        return float(self.headroom["current_arr"].sum())

    @property
    def total_arr(self) -> float:
        """The whitespace, the employee cap counted once."""
        return float(self.summary["total_whitespace_arr"].sum())

    @property
    def next_steps_arr(self) -> float:
        """ARR of the next steps of all plays."""
        return float(self.plays["play_arr"].sum())


def analyse_whitespace(
    accounts: pd.DataFrame,
    subscriptions: pd.DataFrame,
    params: ExpansionParams,
    *,
    as_of: pd.Timestamp,
    events: ibis.Table | None = None,
) -> Whitespace:
    """The whitespace of every current customer on `as_of`: headroom, plays, per-account and per-segment totals.

    `events` (optional) gives the usage trend of usage-priced products for the reasons.
    """
    headroom = seat_headroom(accounts, subscriptions, params, as_of=as_of)
    usage_change = usage_trend(events, params.usage_event_types(), as_of=as_of) if events is not None else None
    ws = _priced_plays(headroom, subscriptions, params, as_of=as_of, usage=usage_change)  # whitespace(), headroom once
    return Whitespace(
        headroom=headroom,
        usage_change=usage_change,
        plays=ws,
        summary=whitespace_summary(ws, accounts),
        by_segment=whitespace_by_segment(ws, accounts),
        at_cap=int(((headroom["headroom"] <= 0) & headroom["employees"].notna()).sum()),
        no_employees=int(headroom["employees"].isna().sum()),
    )
