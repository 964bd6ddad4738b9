"""What changed since the previous quarter: pure comparisons of two quarter states.

`QuarterState.previous` is the previous quarter's state, built by the same `build_state` from the
same data, so a change here is a change in the accounts, not in the method:

- `tier_changes`: accounts whose health tier moved, named with ARR, both probabilities and the
  measure whose contribution to the score moved most.
- `new_renewals_at_risk`: renewals in the horizon that are at risk now and were not before.
- `state_deltas`: the headline figures now, before and their difference.
- `leads_converted`: the previous quarter's expansion leads that expanded since (from the contracts).

Without a previous quarter (None) the frames are empty and the deltas carry no "before".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.expansion.outcomes import PLAYS, expansion_outcomes
from cs_playbook.formatting import Formatter
from cs_playbook.i18n import messages
from cs_playbook.modeling.scorecard import TIERS
from cs_playbook.state import QuarterState

__all__ = [
    "TIER_CHANGE_COLUMNS",
    "RENEWAL_RISK_COLUMNS",
    "LEAD_COLUMNS",
    "tier_changes",
    "driver_moves",
    "renewals_at_risk",
    "new_renewals_at_risk",
    "state_deltas",
    "deltas_record",
    "leads_converted",
    "conversion_figures",
    "delta_figures",
    "decision_figures",
    "tier_changes_consistent",
]

TIER_CHANGE_COLUMNS = [
    "account_id",
    "account_name",
    "owner",
    "arr",
    "tier_before",
    "tier_after",
    "probability_before",
    "probability_after",
    "driver",
    "driver_points_change",
]
RENEWAL_RISK_COLUMNS = [
    "account_id",
    "account_name",
    "owner",
    "next_renewal",
    "arr_renewing",
    "tier_before",
    "tier_after",
    "probability_before",
    "probability_after",
    "arr_renewing_at_risk",
    "change_reason",
]
LEAD_COLUMNS = [
    "account_id",
    "account_name",
    "owner",
    "play",
    "expected_arr",
    "converted",
    "same_play",
    "expansion_arr",
]
TIER_RANK = {tier: i for i, tier in enumerate(TIERS)}  # good < normal < bad: a higher rank is worse
# Figures of the decision box: (state_deltas name, kind of value, whether a rise is good).
DELTA_FIGURES = (
    ("arr_at_risk", "money", False),
    ("accounts_bad", "count", False),
    ("grr_forecast", "pct", True),
    ("arr_renewing_at_risk", "money", False),
)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _driver_points(accounts: pd.DataFrame) -> pd.DataFrame:
    """account_id, measure, points: each account's top drivers (driver_k with driver_k_points) in long form."""
    parts = []
    k = 1
    while f"driver_{k}" in accounts.columns:
        part = accounts[["account_id", f"driver_{k}", f"driver_{k}_points"]]
        parts.append(part.set_axis(["account_id", "measure", "points"], axis=1))
        k += 1
    if not parts:
        return pd.DataFrame({"account_id": pd.Series(dtype="string"), "measure": [], "points": []})
    out = pd.concat(parts, ignore_index=True).dropna(subset=["measure"])
    return out.groupby(["account_id", "measure"], as_index=False)["points"].sum()


def driver_moves(accounts: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Per account, the measure whose points moved most between two states: account_id, driver, driver_points_change.

    The move counted is the one in the direction the health score went (up: the largest gain,
    down: the largest loss; unchanged: the largest either way). The states keep each account's top
    three drivers; a measure outside a quarter's top three counts as 0 points there (it moved that
    score less than the third driver did).
    """
    now, before = _driver_points(accounts), _driver_points(previous)
    both = now.merge(before, on=["account_id", "measure"], how="outer", suffixes=("_after", "_before"))
    both["change"] = both["points_after"].fillna(0.0) - both["points_before"].fillna(0.0)
    scores = accounts[["account_id", "health_score"]].merge(
        previous[["account_id", "health_score"]], on="account_id", suffixes=("", "_before")
    )
    scores["_sign"] = np.sign(scores["health_score"] - scores["health_score_before"]).fillna(0.0)
    both = both.merge(scores[["account_id", "_sign"]], on="account_id", how="left")
    sign = both["_sign"].fillna(0.0)
    both["_size"] = (both["change"] * sign).where(sign != 0, both["change"].abs())
    top = both.sort_values(["account_id", "_size", "measure"], ascending=[True, False, True])
    top = top.drop_duplicates("account_id")
    return pd.DataFrame(
        {
            "account_id": top["account_id"].astype("string"),
            "driver": top["measure"].astype("string"),
            "driver_points_change": top["change"].round(1).astype("float64"),
        }
    ).reset_index(drop=True)


def _paired(state: QuarterState, previous: QuarterState) -> pd.DataFrame:
    """Accounts present in both states: now's columns with tier and probability before and after."""
    cols = ["account_id", "health_tier", "churn_probability"]
    before = previous.accounts[cols].set_axis(["account_id", "tier_before", "probability_before"], axis=1)
    now = state.accounts.rename(
        columns={"health_tier": "tier_after", "churn_probability": "probability_after", "csm": "owner"}
    )
    return now.merge(before, on="account_id", how="inner")


def tier_changes(state: QuarterState, previous: QuarterState | None) -> pd.DataFrame:
    """Accounts whose health tier moved since the previous quarter, largest ARR first (TIER_CHANGE_COLUMNS).

    tier_before is the previous state's tier, tier_after this state's; driver is the measure whose
    contribution to the score moved most (`driver_moves`), driver_points_change its move in points.
    """
    if previous is None:
        return _empty(TIER_CHANGE_COLUMNS)
    both = _paired(state, previous)
    moved = both[both["tier_before"].astype("string") != both["tier_after"].astype("string")]
    out = moved.merge(driver_moves(state.accounts, previous.accounts), on="account_id", how="left")
    out = out.sort_values(["arr", "account_id"], ascending=[False, True]).reset_index(drop=True)
    return out[TIER_CHANGE_COLUMNS]


def renewals_at_risk(accounts: pd.DataFrame, *, min_probability: float | None = None) -> pd.Series:
    """True for accounts renewing in the horizon whose renewal is at risk: tier bad (or probability >= min_probability)."""
    renewing = accounts["arr_renewing"].fillna(0.0) > 0
    if min_probability is None:
        risky = accounts["health_tier"].astype("string") == TIERS[-1]
    else:
        risky = accounts["churn_probability"] >= min_probability
    return (renewing & risky.fillna(False)).astype(bool)


def new_renewals_at_risk(
    state: QuarterState, previous: QuarterState | None, *, min_probability: float | None = None
) -> pd.DataFrame:
    """Renewals in the horizon at risk now that were not at risk in the previous quarter (RENEWAL_RISK_COLUMNS).

    change_reason: "worsened" (the account renewed in the previous horizon too, not at risk then),
    "newly_renewing" (its renewal was not yet in the previous horizon) or "new_account".
    """
    if previous is None:
        return _empty(RENEWAL_RISK_COLUMNS)
    now = state.accounts[renewals_at_risk(state.accounts, min_probability=min_probability)]
    before = previous.accounts.assign(
        _was_risk=renewals_at_risk(previous.accounts, min_probability=min_probability),
        _was_renewing=previous.accounts["arr_renewing"].fillna(0.0) > 0,
    )[["account_id", "health_tier", "churn_probability", "_was_risk", "_was_renewing"]]
    before = before.rename(columns={"health_tier": "tier_before", "churn_probability": "probability_before"})
    out = now.rename(columns={"health_tier": "tier_after", "churn_probability": "probability_after", "csm": "owner"})
    out = out.merge(before, on="account_id", how="left")
    out = out[~out["_was_risk"].fillna(False).astype(bool)].copy()
    out["change_reason"] = np.select(
        [out["tier_before"].isna(), out["_was_renewing"].fillna(False).astype(bool)],
        ["new_account", "worsened"],
        default="newly_renewing",
    )
    out = out.sort_values(["arr_renewing", "account_id"], ascending=[False, True]).reset_index(drop=True)
    return out[RENEWAL_RISK_COLUMNS]


def _figures(state: QuarterState) -> dict[str, float | None]:
    """The headline figures of one state: ARR, accounts by tier, ARR at risk, ARR renewing at risk, GRR forecast."""
    acc = state.accounts
    tiers = acc["health_tier"].astype("string").value_counts()
    fc = state.grr_forecast
    return {
        "arr": float(acc["arr"].sum()),
        "accounts": float(len(acc)),
        **{f"accounts_{t}": float(tiers.get(t, 0)) for t in TIERS},
        "arr_at_risk": float(acc["arr_at_risk"].sum()),
        "arr_renewing": float(acc["arr_renewing"].sum()),
        "arr_renewing_at_risk": float(acc["arr_renewing_at_risk"].sum()),
        "grr_forecast": float(fc["expected_grr"]) if fc and fc.get("expected_grr") is not None else None,
    }


def state_deltas(
    state: QuarterState, previous: QuarterState | None
) -> dict[str, tuple[float | None, float | None, float | None]]:
    """figure -> (now, before, now - before) for ARR, accounts by tier, ARR at risk, ARR renewing at risk, GRR forecast.

    Without a previous quarter, before and delta are None.
    """
    now = _figures(state)
    before = _figures(previous) if previous is not None else dict.fromkeys(now)
    return {
        name: (value, before[name], value - before[name] if value is not None and before[name] is not None else None)
        for name, value in now.items()
    }


def deltas_record(deltas: dict[str, tuple[float | None, float | None, float | None]]) -> dict[str, dict]:
    """`state_deltas` as summary.json's "changes": figure -> {now, before, delta} (the index reads it)."""
    return {name: {"now": now, "before": before, "delta": delta} for name, (now, before, delta) in deltas.items()}


def leads_converted(
    leads: pd.DataFrame,
    subscriptions: pd.DataFrame,
    *,
    since: pd.Timestamp,
    until: pd.Timestamp,
    usage_products: list[str] | tuple[str, ...] = ("API",),
) -> pd.DataFrame:
    """The previous quarter's expansion leads and whether each expanded from `since` (its as-of) to `until` (LEAD_COLUMNS).

    `leads` is the previous quarter's CSQL list (`expansion.plays.csql_list` at `since`): account_id,
    account_name, owner, play, expected_arr. An account converted when its contracts grew in the
    month ends after `since` up to `until` (`expansion.outcomes.expansion_outcomes`: seats, a new
    department, a new product or a higher usage tier); same_play when the growth was the lead's play.
    """
    if leads.empty:
        return _empty(LEAD_COLUMNS)
    since, until = pd.Timestamp(since).normalize(), pd.Timestamp(until).normalize()
    months = max((until.year - since.year) * 12 + until.month - since.month, 1)
    obs = pd.DataFrame({"account_id": leads["account_id"].astype("string").unique()})
    obs["obs_date"] = since + pd.Timedelta(days=1)
    outcomes = expansion_outcomes(subscriptions, obs, horizon_months=months, usage_products=usage_products, as_of=until)
    cols = ["account_id", "expanded", "expansion_arr", *PLAYS]
    out = leads.merge(outcomes[cols].astype({"account_id": "string"}), on="account_id", how="left")
    out["converted"] = out["expanded"].fillna(False).astype(bool)
    out["expansion_arr"] = out["expansion_arr"].fillna(0.0).astype("float64")
    played = [out[p].fillna(False).astype(bool) & (out["play"] == p) for p in PLAYS]
    out["same_play"] = np.logical_or.reduce(played) if played else False
    out = out.sort_values(["converted", "expansion_arr", "expected_arr"], ascending=[False, False, False])
    return out[LEAD_COLUMNS].reset_index(drop=True)


def conversion_figures(converted: pd.DataFrame) -> dict[str, float | int | None]:
    """leads, converted, conversion_rate, converted_same_play, expansion_arr of `leads_converted`'s table."""
    n = len(converted)
    won = converted[converted["converted"].astype(bool)] if n else converted
    return {
        "leads": n,
        "converted": int(len(won)),
        "conversion_rate": float(len(won) / n) if n else None,
        "converted_same_play": int(converted["same_play"].astype(bool).sum()) if n else 0,
        "expansion_arr": float(won["expansion_arr"].sum()) if n else 0.0,
    }


def delta_figures(
    deltas: dict[str, tuple[float | None, float | None, float | None]],
    *,
    lang: str,
    currency: str,
    names: tuple[str, ...] = tuple(f[0] for f in DELTA_FIGURES),
) -> list[dict]:
    """The decision box's figures from `state_deltas`: label, value, change vs last quarter (arrow), direction.

    A rise of ARR at risk, bad-tier accounts or ARR renewing at risk is bad; a rise of the GRR forecast good.
    Without a previous quarter the change is None.
    """
    fmt, msg = Formatter(lang, currency), messages(lang)
    out = []
    for name, kind, rise_is_good in (f for f in DELTA_FIGURES if f[0] in names):
        now, _, delta = deltas[name]
        value = fmt.money(now) if kind == "money" else fmt.pct(now) if kind == "pct" else fmt.count(now)
        change = direction = None
        if delta is not None:
            shown = fmt.delta(delta, kind="pct_points" if kind == "pct" else kind)
            change = msg.t("common.vs_previous", delta=shown)
            direction = "neutral" if delta == 0 else "good" if (delta > 0) == rise_is_good else "bad"
        out.append(
            {"label": msg.t(f"changes.figures.{name}"), "value": value, "change": change, "direction": direction}
        )
    return out


def decision_figures(
    deltas: dict[str, tuple[float | None, float | None, float | None]],
    *,
    new_at_risk: pd.DataFrame,
    leads: pd.DataFrame,
    has_previous: bool,
    lang: str,
    currency: str,
) -> list[dict]:
    """Five headline figures: ARR at risk, bad-tier accounts, GRR forecast (with their change), new renewals at
    risk and last quarter's leads that expanded (counts; "—" without a previous quarter)."""
    fmt, msg = Formatter(lang, currency), messages(lang)
    out = delta_figures(deltas, lang=lang, currency=currency, names=("arr_at_risk", "accounts_bad", "grr_forecast"))
    conv = conversion_figures(leads)
    out.append(
        {
            "label": msg.t("changes.figures.new_renewals_at_risk"),
            "value": fmt.count(len(new_at_risk)) if has_previous else fmt.count(None),
            "change": msg.t("changes.figures.renewing", value=fmt.money(new_at_risk["arr_renewing"].sum()))
            if has_previous and len(new_at_risk)
            else None,
            "direction": "bad" if has_previous and len(new_at_risk) else None,
        }
    )
    out.append(
        {
            "label": msg.t("changes.figures.leads_converted"),
            "value": fmt.count(conv["converted"]) if has_previous else fmt.count(None),
            "change": msg.t("changes.figures.converted_of", leads=fmt.count(conv["leads"])) if conv["leads"] else None,
            "direction": None,
        }
    )
    return out


def tier_changes_consistent(changes: pd.DataFrame, state: QuarterState, previous: QuarterState | None) -> bool:
    """True when the tier changes are exactly the accounts of both states whose tier differs, with both tiers."""
    if previous is None:
        return changes.empty
    tiers = _paired(state, previous)[["account_id", "tier_before", "tier_after"]].astype("string")
    moved = tiers[tiers["tier_before"] != tiers["tier_after"]].sort_values("account_id").reset_index(drop=True)
    shown = changes[["account_id", "tier_before", "tier_after"]].astype("string")
    return bool(shown.sort_values("account_id").reset_index(drop=True).equals(moved))
