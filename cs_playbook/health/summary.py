"""The health-score notebook's summary: raw figures for summary.json, the headline for index.html, the decision box,
the named actions and the checks.

Tier figures are keyed by tier code (good / normal / bad); `headline` and `decision_figures` render
them with the labels of params, in the report's language (texts in `cs_playbook/i18n/health.yaml`).
The ARR at risk of this page is that of ALL active accounts (`arr_at_risk_all_accounts`), distinct
from the renewal page's ARR at risk of the renewals in its horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.data.meaning import action_deadline
from cs_playbook.formatting import MISSING, Formatter, fmt_pct
from cs_playbook.health.review import GONE, PromotionImpact
from cs_playbook.health.validation import FitWindow, Validation, guard_rails
from cs_playbook.i18n import Messages, messages
from cs_playbook.modeling.scorecard import Scorecard, TierLabels

__all__ = [
    "summary_figures",
    "headline",
    "verdict",
    "decision_figures",
    "bad_actions",
    "signals_text",
    "weight_rows",
    "joined_labels",
    "guard_rail_box",
    "consistency_checks",
    "WARNING_SIGN",
]


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


def headline(figures: dict, *, currency: str, labels: TierLabels, lang: str = "en") -> dict[str, str]:
    """The few formatted figures shown on index.html (tiers named with the labels of params), in `lang`."""
    msg, fmt = messages(lang), Formatter(lang, currency)

    def h(key: str, **values: object) -> str:
        return msg.t(f"health.headline.{key}", **values)

    out: dict[str, str] = {h("scorecard_in_use"): figures["scorecard_in_use"]}
    cal = figures["out_of_time"].get("calibrated")
    rules = figures["out_of_time"].get("rules")
    rails = figures.get("guard_rails") or {}
    if cal:
        warn = WARNING_SIGN if rails.get("auc_interval_includes_chance") else ""
        out[h("candidate_auc")] = f"{warn}{cal['auc']:.3f} ({cal['auc_lo']:.3f}-{cal['auc_hi']:.3f})"
    if rules:
        out[h("rules_auc")] = f"{rules['auc']:.3f}"
    term = figures["out_of_time"].get("term only")
    if term:
        out[h("term_auc")] = f"{term['auc']:.3f}"
    c = figures["comparison"]
    if c.get("diff") is not None and c["diff"] == c["diff"]:
        word = h("better") if c["lo"] > 0 else (h("worse") if c["hi"] < 0 else h("no_difference"))
        warn = WARNING_SIGN if rails.get("not_better_than_rules") else ""
        out[h("candidate_vs_rules")] = warn + h(
            "candidate_vs_rules_value",
            diff=f"{c['diff']:+.3f}",
            verdict=word,
            share=fmt_pct(c["share_a_better"], digits=0),
        )
    if rails.get("do_not_promote"):
        out[h("promote")] = WARNING_SIGN + h("promote_no", reason=verdict(rails, figures, lang=lang)[1])
    rates = figures["tier_churn_rate_out_of_time"].get("calibrated", {})
    if "good" in rates and "bad" in rates:
        out[h("tier_churn", bad=labels.bad, good=labels.good)] = (
            f"{fmt_pct(rates['bad'], digits=0)} vs {fmt_pct(rates['good'], digits=0)}"
        )
    impact = figures.get("promotion_impact")
    if impact:
        out[h("would_move")] = h(
            "would_move_value",
            count=fmt.count(impact["accounts_changing_tier"]),
            arr=fmt.money(impact["arr_changing_tier"]),
        )
    out[h("arr_at_risk")] = fmt.money(figures["arr_at_risk_all_accounts"])
    return out


def verdict(rails: dict, figures: dict, *, lang: str = "en") -> tuple[bool, str]:
    """Promote the candidate or not, and why in one sentence (`guard_rails` flags, `summary_figures`-like figures).

    `figures` needs "comparison" (`evaluation.compare_auc` of candidate against rules) and "out_of_time"
    (pooled figures per model). The first reason of `rails["reason_codes"]` is the one given.
    """
    msg = messages(lang)
    c = figures.get("comparison") or {}

    def signed(key: str) -> str:
        v = c.get(key)
        return f"{v:+.3f}" if v is not None and v == v else "—"

    codes = rails.get("reason_codes") or []
    if not rails.get("do_not_promote"):
        return True, msg.t("health.decision.why.better", diff=signed("diff"), lo=signed("lo"), hi=signed("hi"))
    code = codes[0] if codes else "not_better"
    pooled = figures.get("out_of_time") or {}
    cal, term = pooled.get("calibrated") or {}, pooled.get("term only") or {}
    values = {
        "chance": {"lo": f"{cal.get('auc_lo', float('nan')):.3f}", "hi": f"{cal.get('auc_hi', float('nan')):.3f}"},
        "not_better": {"diff": signed("diff"), "lo": signed("lo"), "hi": signed("hi")},
        "below_term": {"term": f"{term.get('auc', float('nan')):.3f}"},
    }.get(code, {})
    return False, msg.t(f"health.decision.why.{code}", **values)


def _direction(change: float | None, *, higher_is_better: bool) -> str | None:
    if change is None or change != change:
        return None
    if abs(change) < 1e-9:
        return "neutral"
    return "good" if (change > 0) == higher_is_better else "bad"


def _tier_figures(accounts: pd.DataFrame | None) -> dict[str, float] | None:
    """ARR at risk (all accounts), bad-tier accounts and their ARR of one quarter's accounts; None without them."""
    if accounts is None:
        return None
    bad = accounts[accounts["health_tier"].astype("string") == "bad"]
    return {
        "arr_at_risk": float(accounts["arr_at_risk"].sum()),
        "bad": float(len(bad)),
        "bad_arr": float(bad["arr"].sum()),
    }


def decision_figures(
    accounts: pd.DataFrame,
    previous: pd.DataFrame | None,
    *,
    fell: pd.DataFrame,
    figures: dict,
    rails: dict,
    labels: TierLabels,
    currency: str,
    lang: str = "en",
) -> list[dict[str, str | None]]:
    """The decision box: ARR at risk, bad-tier accounts, accounts fallen to bad, AUC candidate / rules, the verdict.

    `accounts` and `previous` are this and the previous quarter's state accounts (None without one): the
    changes are against it. `fell` is `review.tier_migration(...).fell` (accounts gone from good to bad this
    quarter, with arr); `figures` has "comparison" and "out_of_time" (`summary_figures`), `rails` is
    `validation.guard_rails`. Each figure: label, value, change, direction (ctx.decision's form).
    """
    msg, fmt = messages(lang), Formatter(lang, currency)
    now, before = _tier_figures(accounts), _tier_figures(previous)
    d = {k: (now[k] - before[k]) if before else None for k in now}

    def fig(label: str, value: str, change: str | None = None, direction: str | None = None) -> dict:
        return {"label": label, "value": value, "change": change, "direction": direction}

    count_arr = "health.decision.count_arr"
    out = [
        fig(
            msg.t("health.decision.arr_at_risk"),
            fmt.money(now["arr_at_risk"]),
            fmt.delta(d["arr_at_risk"], kind="money") if before else None,
            _direction(d["arr_at_risk"], higher_is_better=False),
        ),
        fig(
            msg.t("health.decision.bad_accounts", bad=labels.bad),
            msg.t(count_arr, count=fmt.count(now["bad"]), arr=fmt.money(now["bad_arr"])),
            fmt.delta(d["bad"], kind="count") if before else None,
            _direction(d["bad"], higher_is_better=False),
        ),
        fig(
            msg.t("health.decision.fell", good=labels.good, bad=labels.bad),
            msg.t(count_arr, count=fmt.count(len(fell)), arr=fmt.money(float(fell["arr"].sum()) if len(fell) else 0.0)),
        ),
    ]
    cal, rules = (figures.get("out_of_time") or {}).get("calibrated"), (figures.get("out_of_time") or {}).get("rules")
    if cal and rules:
        value = msg.t("health.decision.auc_value", candidate=f"{cal['auc']:.3f}", rules=f"{rules['auc']:.3f}")
        out.append(fig(msg.t("health.decision.auc"), value))
    promote, why = verdict(rails, figures, lang=lang)
    word = msg.t("health.decision.promote" if promote else "health.decision.keep")
    out.append(fig(msg.t("health.decision.verdict"), word, why, "good" if promote else "neutral"))
    return out


def bad_actions(
    accounts: pd.DataFrame, *, as_of: pd.Timestamp, top: int = 5, currency: str = "JPY", lang: str = "en"
) -> pd.DataFrame:
    """The decision box's named actions: the `top` bad-tier accounts with the most ARR, their CSM, deadline and action.

    `accounts` is the quarter state's accounts (driver_1 is the measure that takes most points off the
    score). The deadline is `data.meaning.action_deadline` (30 days, or the next renewal if sooner). Returns
    account_name, csm, arr, churn_probability, deadline, action (texts in `lang`).
    """
    msg, fmt = messages(lang), Formatter(lang, currency)
    bad = accounts[accounts["health_tier"].astype("string") == "bad"]
    bad = bad.sort_values(["arr", "account_id"], ascending=[False, True]).head(top)
    renew = (
        pd.to_datetime(bad["next_renewal"], errors="coerce")
        if "next_renewal" in bad
        else pd.Series(pd.NaT, index=bad.index)
    )
    deadline = action_deadline(as_of, renew)
    drivers = bad["driver_1"] if "driver_1" in bad else pd.Series(np.nan, index=bad.index)
    actions = [
        msg.t("health.decision.action_none")
        if not isinstance(drv, str) or not drv
        else msg.t("health.decision.action_renewal", driver=msg.code(drv), renewal=fmt.date(r))
        if pd.notna(r) and r == d
        else msg.t("health.decision.action", driver=msg.code(drv))
        for drv, r, d in zip(drivers, renew, deadline, strict=True)
    ]
    csm = bad["csm"].astype("string").str.strip()
    return pd.DataFrame(
        {
            "account_name": bad["account_name"].fillna(bad["account_id"]).to_numpy(),
            "csm": csm.where(csm.notna() & (csm != ""), msg.t("health.decision.no_owner")).to_numpy(),
            "arr": bad["arr"].astype("float64").to_numpy(),
            "churn_probability": bad["churn_probability"].astype("float64").to_numpy(),
            "deadline": deadline.to_numpy(),
            "action": actions,
        }
    )


def signals_text(disagreements: pd.DataFrame, msg: Messages) -> pd.DataFrame:
    """`review.disagreements` with its disagreement and signals (joined by "; ") worded in `msg`'s language."""
    sep = "、" if msg.lang == "ja" else "; "
    out = disagreements.copy()
    out["disagreement"] = [msg.code(v) for v in out["disagreement"]]
    out["signals"] = [sep.join(str(msg.code(s)) for s in str(v).split("; ") if s) for v in out["signals"]]
    return out


def joined_labels(texts: pd.Series, msg: Messages, *, sep: str = " + ") -> str:
    """Texts of measure labels joined by `sep` (e.g. measure_groups' members_label), each label in words, "; " between."""
    return "; ".join(sep.join(str(msg.code(part)) for part in str(text).split(sep)) for text in texts)


def weight_rows(weights: pd.DataFrame, msg: Messages) -> pd.DataFrame:
    """`validation.weights_table` for a page table: measures in words, coefficients, odds ratios and points as numbers.

    Returns measure (the label in words), term, coef, ci_lo, ci_hi, odds_ratio, points_per_sd (text) and p_value.
    """

    def fixed(values: pd.Series, spec: str) -> list[str]:
        return [MISSING if v is None or v != v else format(float(v), spec) for v in values]

    out = weights[["label", "term", "coef", "ci_lo", "ci_hi", "odds_ratio", "points_per_sd", "p_value"]].copy()
    out["label"] = [msg.code(v) for v in out["label"]]
    for col, spec in (
        ("coef", "+.3f"),
        ("ci_lo", "+.3f"),
        ("ci_hi", "+.3f"),
        ("odds_ratio", ".2f"),
        ("points_per_sd", "+.1f"),
    ):
        out[col] = fixed(out[col], spec)
    return out.rename(columns={"label": "measure"}).reset_index(drop=True)


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
