"""The health-score notebook's summary: raw figures for summary.json, the headline for index.html, the checks.

Tier figures are keyed by tier code (good / normal / bad); `headline` is the one place here that
renders them, with the labels of params. The ARR at risk of this page is that of ALL active
accounts (`arr_at_risk_all_accounts`), distinct from the renewal page's ARR at risk of the renewals
in its horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.formatting import fmt_money, fmt_pct
from cs_playbook.health.review import GONE, PromotionImpact
from cs_playbook.health.validation import FitWindow, Validation, guard_rails
from cs_playbook.modeling.scorecard import Scorecard, TierLabels

__all__ = ["summary_figures", "headline", "guard_rail_box", "consistency_checks", "WARNING_SIGN"]

# Prefix of a headline value that must not be taken at face value (shown in red on the index).
WARNING_SIGN = "⚠ "


def summary_figures(
    *,
    observations: pd.DataFrame,
    fit: FitWindow,
    validation: Validation,
    current: pd.DataFrame,
    candidate: Scorecard,
    scorecard_in_use: str,
    impact: PromotionImpact | None,
    disagreement_count: int,
    design: str | None = None,
) -> dict:
    """Raw figures for summary.json: out-of-time figures per model, tiers today (scorer in use), the candidate.

    `observations` is `calibration.build_observations` output, `fit` its fit window; `current` is
    `review.current_tiers` of the state's accounts; `impact` is `review.promotion_impact` (None when
    the candidate could not be fitted); `design` the sentence saying which observation design was
    used and why (`design.Design.reason`). `guard_rails` is `validation.guard_rails`.
    """
    tier_rates = {
        str(model): dict(zip(part["tier"].astype(str), part["churn_rate"], strict=True))
        for model, part in validation.tiers.groupby("model", sort=False)
    }
    keys = ("auc_a", "auc_b", "diff", "lo", "hi", "p_value", "share_a_better")
    return {
        "scorecard_in_use": scorecard_in_use,
        "candidate_scorecard": candidate.name,
        "out_of_time": validation.pooled(),
        "comparison": {k: validation.comparison.get(k) for k in keys},
        "tier_churn_rate_out_of_time": tier_rates,
        "current_tiers": {
            str(r.tier): {"accounts": int(r.accounts), "arr": float(r.arr), "arr_at_risk": float(r.arr_at_risk)}
            for r in current.itertuples()
        },
        "arr_at_risk_all_accounts": float(current["arr_at_risk"].sum()),
        "candidate_thresholds": candidate.tiers.model_dump() if candidate.tiers else None,
        "points_to_double_odds": candidate.points_to_double_odds,
        "calibrated_fallback": candidate.fallback,
        "fitting": candidate.fitting,
        "promotion_impact": impact.figures if impact is not None else None,
        "disagreements": disagreement_count,
        "observations": int(len(observations)),
        "fitted_observations": int(len(fit.rows)),
        "churn_events": fit.events,
        "base_rate": fit.base_rate,
        "observation_design": design,
        "guard_rails": guard_rails(validation, candidate),
    }


def headline(figures: dict, *, currency: str, labels: TierLabels) -> dict[str, str]:
    """The few formatted figures shown on index.html (tiers named with the labels of params)."""
    out: dict[str, str] = {"Scorecard in use": figures["scorecard_in_use"]}
    cal = figures["out_of_time"].get("calibrated")
    rules = figures["out_of_time"].get("rules")
    rails = figures.get("guard_rails") or {}
    if cal:
        warn = WARNING_SIGN if rails.get("auc_interval_includes_chance") else ""
        out["Candidate AUC (out of time)"] = f"{warn}{cal['auc']:.3f} ({cal['auc_lo']:.3f}-{cal['auc_hi']:.3f})"
    if rules:
        out["Rules score AUC"] = f"{rules['auc']:.3f}"
    term = figures["out_of_time"].get("term only")
    if term:
        out["Term-only baseline AUC"] = f"{term['auc']:.3f}"
    c = figures["comparison"]
    if c.get("diff") is not None and c["diff"] == c["diff"]:
        verdict = "better" if c["lo"] > 0 else ("worse" if c["hi"] < 0 else "no clear difference")
        warn = WARNING_SIGN if rails.get("not_better_than_rules") else ""
        out["Candidate vs rules"] = f"{warn}{c['diff']:+.3f} AUC, {verdict} ({c['share_a_better']:.0%} of resamples)"
    if rails.get("do_not_promote"):
        out["Promote the candidate?"] = f"{WARNING_SIGN}No: " + "; ".join(rails["reasons"])
    rates = figures["tier_churn_rate_out_of_time"].get("calibrated", {})
    if "good" in rates and "bad" in rates:
        out[f"Churn {labels.bad} vs {labels.good} (candidate)"] = (
            f"{fmt_pct(rates['bad'], digits=0)} vs {fmt_pct(rates['good'], digits=0)}"
        )
    impact = figures.get("promotion_impact")
    if impact:
        out["Promoting the candidate would move"] = (
            f"{impact['accounts_changing_tier']:,} accounts ({fmt_money(impact['arr_changing_tier'], currency)} ARR)"
        )
    out["ARR at risk, all accounts"] = fmt_money(figures["arr_at_risk_all_accounts"], currency)
    return out


def guard_rail_box(rails: dict) -> str | None:
    """A red HTML box telling the reader not to promote the candidate, with the reasons; None when nothing is flagged."""
    if not rails.get("do_not_promote"):
        return None
    items = "".join(f"<li>{r}</li>" for r in rails["reasons"])
    return (
        '<div style="border:2px solid #c62828;background:#fdecea;color:#8e0000;padding:10px 14px;margin:8px 0;">'
        f"<strong>{WARNING_SIGN}Do not promote this candidate scorecard.</strong><ul>{items}</ul>"
        "Keep the scorecard in use; the figures of the candidate below are shown for review only.</div>"
    )


def _tiers_do_not_overlap(accounts: pd.DataFrame) -> bool:
    """True when each tier's scores form a band that does not overlap the next one."""
    by_tier = accounts.groupby("health_tier")["health_score"].agg(["min", "max"]).sort_values("min")
    return bool((by_tier["min"].shift(-1).dropna() >= by_tier["max"].iloc[:-1].to_numpy()).all())


def _export_matches(exported: pd.DataFrame, accounts: pd.DataFrame, labels: TierLabels) -> bool:
    """True when the exported list holds the state's accounts with the state's tiers, shown as their labels."""
    got = exported.assign(account_id=exported["account_id"].astype(str)).set_index("account_id")["health_tier"]
    want = accounts.assign(account_id=accounts["account_id"].astype(str)).set_index("account_id")["health_tier"]
    if not got.index.is_unique or set(got.index) != set(want.index):
        return False
    shown = labels.apply(want.astype("string")).astype(str)
    return bool((got.astype(str).reindex(shown.index) == shown).all())


def consistency_checks(
    *,
    accounts: pd.DataFrame,
    exported: pd.DataFrame,
    labels: TierLabels,
    scorecard_in_use: str,
    current: pd.DataFrame,
    migration: pd.DataFrame,
    impact: PromotionImpact | None,
    candidate: Scorecard,
    fit_before: pd.Timestamp,
) -> dict[str, bool]:
    """Properties that must hold on any data; the notebook prints them and nbval compares the output.

    `accounts` is the quarter state's accounts, `exported` the CSM list as written (health_scores.csv,
    tiers as labels), `current` `review.current_tiers`, `migration` `review.migration_matrix`.
    """
    last = candidate.fitting.get("last_observation")
    impact_total = int(impact.matrix.to_numpy().sum()) if impact is not None else len(accounts)
    return {
        "every_active_account_scored_once": bool(accounts["account_id"].is_unique),
        "probabilities_between_0_and_1": bool(accounts["churn_probability"].between(0, 1).all()),
        "arr_at_risk_at_most_arr": bool((accounts["arr_at_risk"] <= accounts["arr"] + 1e-6).all()),
        "tiers_do_not_overlap": _tiers_do_not_overlap(accounts),
        "export_tiers_are_the_tiers_in_use": _export_matches(exported, accounts, labels),
        "export_names_the_scorecard_in_use": bool(set(exported["scorecard"].astype(str)) <= {scorecard_in_use}),
        "tier_table_adds_up_to_arr_at_risk_all_accounts": bool(
            np.isclose(current["arr_at_risk"].sum(), accounts["arr_at_risk"].sum())
            and int(current["accounts"].sum()) == len(accounts)
        ),
        "fit_uses_no_observation_of_the_quarter": bool(last is None or pd.Timestamp(last) < fit_before),
        "migration_counts_every_account_once": bool(
            int(migration.drop(columns=GONE).to_numpy().sum()) == len(accounts)
        ),
        "promotion_matrix_counts_every_account_once": bool(impact_total == len(accounts)),
    }
