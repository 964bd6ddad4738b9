"""The price list of expansion targeting, fitted to the data: product families, plan tiers and observed prices.

A product family groups the plan tiers of one product: the product values `platform_basic`,
`platform_pro` and `platform_premier` are the family `platform` with three plans. The family of a
product value is `families` in params/expansion.yaml when it is listed there, else the text
before `plan_separator` (default "_") when at least two product values share that text, else the
product value itself. Plans are ranked by their observed price (per seat, or ARR for usage
products), lowest first: moving to a higher plan of a held family is an upsell of the same
product (counted with seat upsell, `expansion.outcomes`), not a cross-sell of a new product.

The price list defaults to what customers pay (`observed_prices`): per family and plan, the
median ARR per seat of the lines started in the last `price_window_months` months before as_of
(all lines started by then when there are none), or the levels of ARR for usage-priced
products (lines without seats). `products` in params/expansion.yaml only overrides it, family by
family and key by key. The base product (whose seats count against the employee cap) is the one
given `role: base`, else the per-seat family with the most ARR today.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from cs_playbook.data.io import Dataset
from cs_playbook.errors import CsPlaybookError
from cs_playbook.expansion.outcomes import ExpansionParams, ProductPrice

__all__ = ["family_map", "with_families", "observed_prices", "fit_price_list", "family_dataset", "price_table"]

MAX_USAGE_LEVELS = 6  # more distinct ARR levels than this: usage tiers are quantiles of ARR


def family_map(products: list[str] | pd.Series, params: ExpansionParams) -> dict[str, str]:
    """The family of each product value: `families`, else the shared text before `plan_separator`, else itself."""
    values = sorted({str(p) for p in pd.Series(products).dropna()})
    sep = params.plan_separator
    prefix = {p: p.split(sep, 1)[0] for p in values if sep and sep in p and p.split(sep, 1)[0]}
    shared = pd.Series(list(prefix.values())).value_counts() if prefix else pd.Series(dtype="int64")
    out = {}
    for p in values:
        if p in params.families:
            out[p] = params.families[p]
        elif p in prefix and shared.get(prefix[p], 0) >= 2:
            out[p] = prefix[p]
        else:
            out[p] = p
    return out


def _unit_value(subs: pd.DataFrame) -> pd.Series:
    """ARR per seat for seat lines, ARR for lines without seats."""
    seats = pd.to_numeric(subs["seats"], errors="coerce").astype("float64")
    arr = pd.to_numeric(subs["arr"], errors="coerce").astype("float64")
    return (arr / seats.where(seats > 0)).fillna(arr)


def with_families(subscriptions: pd.DataFrame, params: ExpansionParams) -> pd.DataFrame:
    """Subscriptions with `product` = the family, `plan` = the product value and `plan_rank` (0 = cheapest plan).

    Plans of a family are ranked by their median price over all lines (per seat, or ARR without
    seats). Already mapped subscriptions (a `plan` column) are returned unchanged.
    """
    if "plan" in subscriptions.columns:
        return subscriptions
    subs = subscriptions.copy()
    fam = family_map(subs["product"], params)
    subs["plan"] = subs["product"].astype("string").astype(object)
    subs["product"] = subs["plan"].map(lambda p: fam.get(str(p), p) if pd.notna(p) else p).astype(object)
    price = subs.assign(_v=_unit_value(subs)).groupby(["product", "plan"])["_v"].median().reset_index()
    price["plan_rank"] = price.groupby("product")["_v"].rank(method="dense").sub(1).fillna(0).astype("int64")
    subs = subs.merge(price[["product", "plan", "plan_rank"]], on=["product", "plan"], how="left")
    subs["plan_rank"] = subs["plan_rank"].fillna(0).astype("int64")
    return subs


def observed_prices(subscriptions: pd.DataFrame, params: ExpansionParams, *, as_of: pd.Timestamp) -> pd.DataFrame:
    """What customers pay, per family and plan, from the lines started in the price window before `as_of`.

    Returns product (the family), plan, plan_rank, lines, per_seat (share of lines with seats),
    price (median ARR per seat, or median ARR without seats), window_start (the first start
    date used: the window, or the first line when the window has none).
    """
    subs = with_families(subscriptions, params)
    day = pd.Timestamp(as_of).normalize()
    started = subs[subs["start_date"] <= day]
    window_start = day - pd.DateOffset(months=params.price_window_months)
    recent = started[started["start_date"] > window_start]
    rows = []
    for (product, plan), g in started.groupby(["product", "plan"]):
        use = recent[(recent["product"] == product) & (recent["plan"] == plan)]
        use = use if len(use) else g
        seats = pd.to_numeric(use["seats"], errors="coerce").astype("float64")
        rows.append(
            {
                "product": product,
                "plan": plan,
                "plan_rank": int(use["plan_rank"].iloc[0]),
                "lines": len(use),
                "per_seat": float((seats > 0).mean()),
                "price": float(_unit_value(use).median()),
                "window_start": use["start_date"].min(),
            }
        )
    cols = ["product", "plan", "plan_rank", "lines", "per_seat", "price", "window_start"]
    return pd.DataFrame(rows, columns=cols).sort_values(["product", "plan_rank", "plan"]).reset_index(drop=True)


def _usage_tiers(subs: pd.DataFrame) -> list[float]:
    """Usage tiers from the ARR of usage lines: the distinct levels when few, else quartiles and the 95th percentile."""
    arr = pd.to_numeric(subs["arr"], errors="coerce").astype("float64")
    arr = arr[arr > 0]
    levels = np.unique(arr.round(2))
    if len(levels) <= MAX_USAGE_LEVELS:
        return [float(x) for x in levels]
    return [float(x) for x in np.unique(np.quantile(arr, [0.25, 0.5, 0.75, 0.95]).round(2))]


def _observed_product(family: str, prices: pd.DataFrame, subs: pd.DataFrame) -> dict:
    """The price-list entry a family gets from the data (per seat at the entry plan's price, or usage tiers)."""
    mine = prices[prices["product"] == family]
    if float(np.average(mine["per_seat"], weights=mine["lines"])) >= 0.5:
        entry = mine.sort_values(["plan_rank", "plan"]).iloc[0]
        return {"pricing": "per_seat", "list_price": round(float(entry["price"]), 2)}
    tiers = _usage_tiers(subs[subs["product"] == family])
    return {"pricing": "usage_tiers", "tiers": tiers or [1.0]}


def fit_price_list(
    params: ExpansionParams, subscriptions: pd.DataFrame, *, as_of: pd.Timestamp
) -> tuple[ExpansionParams, pd.DataFrame]:
    """The params with a complete price list: observed prices of every family, overridden by params `products`.

    Returns the fitted params and the observed prices (`observed_prices`). A family not in the
    data keeps its params entry; params entries without `pricing` change only what they give
    (e.g. usage_event_types) on the observed entry.
    """
    subs = with_families(subscriptions, params)
    prices = observed_prices(subs, params, as_of=as_of)
    products: dict[str, ProductPrice] = {}
    for family in sorted(set(prices["product"]) | set(params.products)):
        given = params.products.get(family)
        entry = {} if given is not None and given.pricing else (_observed_product(family, prices, subs))
        entry.update(given.model_dump(exclude_unset=True) if given is not None else {})
        if "pricing" not in entry:
            raise CsPlaybookError(
                f"params/expansion.yaml: products.{family} has no pricing and is not in the subscriptions to observe it."
            )
        products[family] = ProductPrice.model_validate(entry)
    if not any(p.role == "base" for p in products.values()):
        products = _with_base(products, subs, as_of=as_of)
    return params.model_copy(update={"products": products}), prices


def _with_base(products: dict[str, ProductPrice], subs: pd.DataFrame, *, as_of: pd.Timestamp) -> dict:
    """Make the per-seat family with the most ARR active on `as_of` the base product."""
    per_seat = [f for f, p in products.items() if p.pricing == "per_seat"]
    if not per_seat:
        raise CsPlaybookError(
            "params/expansion.yaml: no product is priced per seat in the subscriptions (seats empty), so there is no "
            "base product for seat upsell. Give one product `role: base` with `pricing: per_seat` and `list_price`."
        )
    day = pd.Timestamp(as_of).normalize()
    active = subs[(subs["start_date"] <= day) & (subs["end_date"].isna() | (subs["end_date"] >= day))]
    arr = active.groupby("product")["arr"].sum().reindex(per_seat).fillna(0.0)
    base = str(arr.sort_values(ascending=False, kind="stable").index[0])
    out = dict(products)
    out[base] = out[base].model_copy(update={"role": "base"})
    return out


def family_dataset(ds: Dataset, params: ExpansionParams) -> Dataset:
    """The dataset with its subscriptions by product family (`with_families`), for the expansion analyses."""
    tables = {**ds.tables, "subscriptions": with_families(ds.subscriptions, params)}
    return dataclasses.replace(ds, tables=tables)


def price_table(params: ExpansionParams, prices: pd.DataFrame, *, given: ExpansionParams) -> pd.DataFrame:
    """The price list in use, one row per family: product, role, pricing, list_price, tiers, plans, source.

    `params` is the fitted params, `given` the params as read; plans lists each plan with its
    observed price; source is params (priced in params/expansion.yaml), observed, or observed + params.
    """
    rows = []
    for family, spec in params.products.items():
        plans = prices.loc[prices["product"] == family].sort_values("plan_rank")
        entry = given.products.get(family)
        source = "observed" if entry is None else ("params" if entry.pricing else "observed + params")
        rows.append(
            {
                "product": family,
                "role": spec.role,
                "pricing": spec.pricing,
                "list_price": spec.list_price,
                "tiers": ", ".join(f"{t:,.0f}" for t in spec.tiers),
                "plans": ", ".join(f"{p} ({v:,.0f})" for p, v in zip(plans["plan"], plans["price"], strict=True)),
                "source": source,
            }
        )
    return pd.DataFrame(rows, columns=["product", "role", "pricing", "list_price", "tiers", "plans", "source"])
