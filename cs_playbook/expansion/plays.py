"""Expansion plays: expected ARR per play, the churn-risk guard, the CSM-capacity cut and the CSQL list.

Expected expansion ARR = P(the play's kind of expansion in the next two quarters) x the ARR of
the play's next step (`whitespace.whitespace`). Each account gets its best play with the reason
in plain words; accounts likely to churn are retained first, never targeted (send stronger
expansion messages to healthy accounts, ../shared/DOMAIN.md); the ranked list is cut at what
the CSMs can work in a quarter, and exported as CS-qualified leads (CSQL) for the CRM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.data.coverage import UNASSIGNED, csm_owner
from cs_playbook.expansion.outcomes import PLAYS, CapacityParams, ExpansionParams, GuardParams
from cs_playbook.formatting import fmt_money
from cs_playbook.modeling.scorecard import TIERS, TierLabels

__all__ = [
    "SIGNAL_ORDER",
    "play_options",
    "churn_guard",
    "guard_by_tier",
    "best_plays",
    "capacity_cut",
    "play_reasons",
    "csql_list",
    "rank_targets",
    "plays_within_capacity",
    "play_mix_text",
    "CSQL_COLUMNS",
]

CSQL_COLUMNS = ["account_id", "account_name", "owner", "play", "expected_arr", "probability", "reason"]

# Signals that can appear in a reason, in the order shown when no model contributions rank them.
SIGNAL_ORDER = [
    "poc_open",
    "active_user_share",
    "active_users_trend_3m",
    "usage_trend_3m",
    "champion",
    "exec_access",
    "success_plan",
    "nps_score",
    "renewal_in_window",
    "health_tier",
]

TEXT = {
    "ja": {
        "seat_upsell": "{product} {seats:,.0f}席追加（従業員上限まで残り{headroom:,.0f}席）",
        "new_department": "{department}へ横展開（未契約の部署 {n_free}）",
        "cross_sell": "{product}を提案（{scope}）",
        "cross_sell_usage": "{product}を提案（{tier}）",
        "usage_tier": "{product}を上位ティアへ（{tier}）",
        "poc_open": "PoC実施中",
        "active_user_share": "座席利用率{value:.0%}（上限間近）",
        "active_users_trend_3m": "アクティブユーザー{value:+.0%}（3か月）",
        "usage_trend_3m": "利用量{value:+.0%}（3か月）",
        "champion": "チャンピオンあり",
        "exec_access": "決裁者に直接アクセスあり",
        "success_plan": "成功計画（将来の目標）あり",
        "nps_score": "NPS推奨者（{value:.0f}）",
        "renewal_in_window": "更新まで{value:.0f}日（提案の好機）",
        "health_tier": "ヘルス{value}",
        "seats": "{seats:,.0f}席",
        "sep": "、",
        "join": "：",
    },
    "en": {
        "seat_upsell": "{product} +{seats:,.0f} seats ({headroom:,.0f} seats left under the employee cap)",
        "new_department": "expand to {department} ({n_free} departments without a contract)",
        "cross_sell": "offer {product} ({scope})",
        "cross_sell_usage": "offer {product} ({tier})",
        "usage_tier": "move {product} up a tier ({tier})",
        "poc_open": "PoC in flight",
        "active_user_share": "seat utilization {value:.0%} (near the limit)",
        "active_users_trend_3m": "active users {value:+.0%} over 3 months",
        "usage_trend_3m": "usage {value:+.0%} over 3 months",
        "champion": "strong champion",
        "exec_access": "direct access to the decision maker",
        "success_plan": "success plan with future goals",
        "nps_score": "NPS promoter ({value:.0f})",
        "renewal_in_window": "renewal in {value:.0f} days (time to propose)",
        "health_tier": "health {value}",
        "seats": "{seats:,.0f} seats",
        "sep": "; ",
        "join": ": ",
    },
}


def play_options(ws: pd.DataFrame, probabilities: pd.DataFrame) -> pd.DataFrame:
    """Every play of every account with its probability and expected ARR.

    `ws` is `whitespace.whitespace`; `probabilities` has account_id and p_<play> for each play
    in PLAYS (probability of that kind of expansion in the horizon). Returns the rows of `ws`
    with probability and expected_arr = probability x play_arr; accounts without a
    probability get none (NaN) and expected_arr 0.
    """
    p = probabilities.set_index("account_id")
    out = ws.copy()
    prob = np.full(len(out), np.nan)
    for play in PLAYS:
        col = f"p_{play}"
        if col in p.columns:
            mask = (out["play"] == play).to_numpy()
            prob[mask] = out.loc[mask, "account_id"].map(p[col]).to_numpy(dtype="float64")
    out["probability"] = prob
    out["expected_arr"] = (out["probability"] * out["play_arr"]).fillna(0.0)
    return out


def churn_guard(risk: pd.DataFrame, guard: GuardParams, *, labels: TierLabels | None = None) -> pd.DataFrame:
    """Which accounts are too likely to churn to be expansion targets.

    `risk` has account_id, churn_probability and optionally health_tier (code: good / normal /
    bad), e.g. `QuarterState.risk`. An account is guarded when its churn probability is at or
    above `guard.max_churn_probability` or its tier code is in `guard.exclude_tiers`. Returns
    account_id, churn_probability, health_tier (code), guarded (True: retain first, do not
    expand) and guard_reason (the tier named by `labels`, the params' words for the codes).
    """
    labels = labels or TierLabels()
    out = risk[["account_id", "churn_probability"]].copy()
    out["churn_probability"] = out["churn_probability"].astype("float64")
    out["health_tier"] = risk["health_tier"].astype("string") if "health_tier" in risk.columns else pd.NA
    high = out["churn_probability"] >= guard.max_churn_probability
    tier = out["health_tier"].isin(guard.exclude_tiers).fillna(False).astype(bool)
    out["guarded"] = high | tier
    reason = np.where(
        high,
        [f"churn probability {p:.0%} >= {guard.max_churn_probability:.0%}" for p in out["churn_probability"]],
        "",
    )
    reason = np.where(~high & tier, [f"health tier {labels.label(str(t))}" for t in out["health_tier"]], reason)
    out["guard_reason"] = reason
    return out


def guard_by_tier(guard: pd.DataFrame) -> pd.DataFrame:
    """Customers, guarded customers and mean churn probability per health tier code, best tier first.

    `guard` from `churn_guard`. Returns health_tier (code; unscored accounts last), accounts,
    guarded, mean_churn_probability.
    """
    out = (
        guard.groupby(guard["health_tier"].astype("string").fillna("n/a"), dropna=False)
        .agg(
            accounts=("account_id", "size"),
            guarded=("guarded", "sum"),
            mean_churn_probability=("churn_probability", "mean"),
        )
        .reset_index()
    )
    order = {code: i for i, code in enumerate(TIERS)}
    out["_order"] = out["health_tier"].map(order).astype("float64").fillna(len(TIERS))
    out["guarded"] = out["guarded"].astype("int64")
    return out.sort_values(["_order", "health_tier"]).drop(columns="_order").reset_index(drop=True)


def best_plays(options: pd.DataFrame, guard: pd.DataFrame) -> pd.DataFrame:
    """The play with the highest expected ARR per account, ranked, with the churn-risk guard applied.

    `options` from `play_options`, `guard` from `churn_guard`. Returns the best option per
    account with churn_probability, health_tier, guarded, guard_reason, alternatives (the
    other plays, best first) and rank (1 = highest expected ARR among unguarded accounts;
    guarded accounts have no rank). Accounts missing from `guard` are not guarded.
    """
    ranked = options.sort_values(["account_id", "expected_arr", "play_arr"], ascending=[True, False, False])
    plays: dict[object, list[str]] = {}  # account -> its plays, best first
    for a, p, q in zip(ranked["account_id"], ranked["play"], ranked["product"], strict=True):
        plays.setdefault(a, []).append(f"{p} {q}")
    best = ranked.drop_duplicates("account_id").copy()
    best["alternatives"] = [", ".join(plays[a][1:]) for a in best["account_id"]]
    best = best.merge(guard, on="account_id", how="left")
    best["guarded"] = best["guarded"].fillna(False).astype(bool)
    best["guard_reason"] = best["guard_reason"].fillna("")
    best = best.sort_values(["guarded", "expected_arr"], ascending=[True, False]).reset_index(drop=True)
    best["rank"] = pd.array(np.where(best["guarded"], pd.NA, np.arange(1, len(best) + 1)), dtype="Int64")
    return best


def capacity_cut(best: pd.DataFrame, accounts: pd.DataFrame, capacity: CapacityParams) -> pd.DataFrame:
    """Cut the ranked plays at what the CSMs can work next quarter.

    Each CSM takes their own accounts' plays in order of expected ARR, up to
    `plays_per_csm`; accounts without a CSM share `unassigned_plays` (digital / tech touch).
    Plays below `min_probability` or `min_expected_arr`, and guarded accounts, are never
    in. Returns `best` with owner, owner_rank and within_capacity.
    """
    out = best.merge(accounts[["account_id", "account_name", "csm", "segment"]], on="account_id", how="left")
    out["owner"] = csm_owner(out["csm"])
    qualified = (
        ~out["guarded"]
        & (out["probability"].fillna(0) >= capacity.min_probability)
        & (out["expected_arr"] >= capacity.min_expected_arr)
        & (out["expected_arr"] > 0)
    )
    out = out.sort_values("expected_arr", ascending=False, kind="stable")
    qualified = qualified.loc[out.index]
    ranks = out[qualified].groupby("owner").cumcount() + 1
    out["owner_rank"] = ranks.reindex(out.index).astype("Int64")
    limit = np.where(out["owner"] == UNASSIGNED, capacity.unassigned_plays, capacity.plays_per_csm)
    out["within_capacity"] = qualified & (ranks.reindex(out.index).fillna(np.inf) <= limit)
    return (
        out.drop(columns="csm").sort_values(["guarded", "expected_arr"], ascending=[True, False]).reset_index(drop=True)
    )


def _fmt(template: str, **values: object) -> str:
    try:
        return template.format(**values)
    except (ValueError, TypeError, KeyError):
        return ""


def _play_text(row: dict[str, object], text: dict[str, str], headroom: float) -> str:
    play = row["play"]
    detail = str(row.get("detail", "") or "")
    if play == "seat_upsell":
        return _fmt(text["seat_upsell"], product=row["product"], seats=row["seats"], headroom=headroom)
    if play == "new_department":
        free = [d for d in detail.split("; ") if d]
        return _fmt(text["new_department"], department=row["department"], n_free=len(free))
    tier = detail.split(";")[0]
    if play == "usage_tier":
        return _fmt(text["usage_tier"], product=row["product"], tier=tier)
    if pd.isna(row["seats"]):
        return _fmt(text["cross_sell_usage"], product=row["product"], tier=tier)
    scope = _fmt(text["seats"], seats=row["seats"])
    if row.get("department"):
        scope = f"{row['department']} {scope}"
    return _fmt(text["cross_sell"], product=row["product"], scope=scope)


def _signal_on(name: str, value: object, params: ExpansionParams) -> bool:
    """Whether a signal speaks for expansion and is worth saying."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return False
    if name == "active_user_share":
        return float(value) >= params.model.utilization_near_limit
    if name in ("active_users_trend_3m", "usage_trend_3m"):
        return float(value) >= 0.05
    if name == "nps_score":
        return float(value) >= params.model.promoter_nps
    if name == "health_tier":  # a tier code: only a good tier, when not excluded, speaks for expansion
        return str(value) == "good" and str(value) not in params.guard.exclude_tiers
    return bool(value)


def play_reasons(
    targets: pd.DataFrame,
    signals: pd.DataFrame,
    params: ExpansionParams,
    *,
    contributions: pd.DataFrame | None = None,
    max_signals: int = 3,
    labels: TierLabels | None = None,
) -> pd.Series:
    """The reason for each target's play, in plain words (Japanese or English per params).

    `targets` has account_id, play, product, department, seats, detail (a `best_plays` row);
    `signals` has account_id and any of SIGNAL_ORDER (the columns of `measures` and
    `expansion.model.expansion_signals`, and health_tier as a code), plus days_to_renewal and
    headroom (seats left under the cap). `contributions` (account_id, signal, contribution) orders
    the signals by how much each raised this account's probability; otherwise SIGNAL_ORDER is
    used. A tier is named by `labels` (the params' words for the codes). Returns one string per
    target row (same index): the play, then up to `max_signals` signals.
    """
    text = TEXT[params.reason_language]
    labels = labels or TierLabels()
    # Each account's values as a plain dict, looked up per target (a pandas row lookup per target is slow).
    quoted = [c for c in signals.columns if c in SIGNAL_ORDER or c in ("headroom", "days_to_renewal")]
    by_account = dict(zip(signals["account_id"], signals[quoted].to_dict("records"), strict=True))
    order: dict[str, list[str]] = {}
    if contributions is not None and not contributions.empty:
        c = contributions[contributions["contribution"] > 0].sort_values("contribution", ascending=False)
        order = c.groupby("account_id")["signal"].agg(list).to_dict()
    out = []
    for row in targets.to_dict("records"):
        acc = row["account_id"]
        values = by_account.get(acc, {})
        headroom = float(values["headroom"]) if "headroom" in values else np.nan
        parts = [_play_text(row, text, headroom)]
        ranked = [s for s in order.get(acc, []) if s in SIGNAL_ORDER]
        ranked += [s for s in SIGNAL_ORDER if s not in ranked]
        said = []
        for name in ranked:
            if name not in values or not _signal_on(name, values[name], params):
                continue
            value = values[name]
            if name == "renewal_in_window":  # say when: the days left
                value = values.get("days_to_renewal", np.nan)
                if pd.isna(value):
                    continue
            if name == "health_tier":
                value = labels.label(str(value))
            said.append(_fmt(text[name], value=value))
            if len(said) >= max_signals:
                break
        reason = parts[0] + (text["join"] + text["sep"].join(s for s in said if s) if said else "")
        out.append(reason)
    return pd.Series(out, index=targets.index, dtype="str")


def csql_list(cut: pd.DataFrame, params: ExpansionParams) -> pd.DataFrame:
    """CS-qualified leads for CRM import: the plays within capacity, best first.

    `cut` from `capacity_cut` with a reason column. Returns CSQL_COLUMNS (play as its label
    from params), then product, department, play_arr, current_arr, segment, health_tier,
    churn_probability, owner_rank.
    """
    leads = cut[cut["within_capacity"]].copy()
    leads["play"] = [f"{params.play_label(p)}: {prod}" for p, prod in zip(leads["play"], leads["product"], strict=True)]
    extra = ["product", "department", "play_arr", "current_arr", "segment", "health_tier", "churn_probability"]
    extra += ["owner_rank"]
    for col in extra:
        if col not in leads.columns:
            leads[col] = np.nan
    leads = leads.sort_values("expected_arr", ascending=False)
    return leads[CSQL_COLUMNS + extra].reset_index(drop=True)


def rank_targets(
    ws: pd.DataFrame,
    probabilities: pd.DataFrame,
    risk: pd.DataFrame,
    accounts: pd.DataFrame,
    signals: pd.DataFrame,
    params: ExpansionParams,
    *,
    headroom: pd.DataFrame | None = None,
    contributions: pd.DataFrame | None = None,
    labels: TierLabels | None = None,
) -> pd.DataFrame:
    """Every account's best play, guarded, ranked, cut at CSM capacity and explained.

    Chains `play_options`, `churn_guard`, `best_plays`, `capacity_cut` and `play_reasons`
    (see each). `risk` is the quarter's risk (`QuarterState.risk`: account_id, health_tier code,
    churn_probability); `signals` the scoring frame of `expansion.model`; `headroom`
    `whitespace.seat_headroom` (seats left under the cap, for the reason); `labels` the words of
    the tier codes in the reasons. Returns the `capacity_cut` columns with reason.
    """
    options = play_options(ws, probabilities)
    best = best_plays(options, churn_guard(risk, params.guard, labels=labels))
    cut = capacity_cut(best, accounts, params.capacity)
    sig = signals.drop(columns=["health_tier", "headroom"], errors="ignore")
    sig = sig.merge(risk[["account_id", "health_tier"]], on="account_id", how="left")
    if headroom is not None:
        sig = sig.merge(headroom[["account_id", "headroom"]], on="account_id", how="left")
    cut["reason"] = play_reasons(cut, sig, params, contributions=contributions, labels=labels)
    return cut


def plays_within_capacity(cut: pd.DataFrame) -> pd.DataFrame:
    """The plays within CSM capacity per kind of play: play, plays, expected_arr (largest first)."""
    inside = cut[cut["within_capacity"]]
    out = inside.groupby("play", as_index=False).agg(plays=("account_id", "size"), expected_arr=("expected_arr", "sum"))
    return out.sort_values("expected_arr", ascending=False).reset_index(drop=True)


def play_mix_text(by_play: pd.DataFrame, params: ExpansionParams, currency: str) -> str:
    """'<play>: <n> plays, <ARR>; ...' for the page, from `plays_within_capacity`."""
    return "; ".join(
        f"{params.play_label(p)}: {n:,} plays, {fmt_money(a, currency)}"
        for p, n, a in zip(by_play["play"], by_play["plays"], by_play["expected_arr"], strict=True)
    )
