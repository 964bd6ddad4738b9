"""The candidate scorecard's validation: the fit window, the out-of-time backtest against the rules score, the artefact.

The calibration notebook fits a candidate scorecard (`calibration.calibrate`) and judges it beside
the rules scorecard on the same later quarters. `validate` runs that comparison once and returns
every table the page shows (`Validation`); `scorecard_artefact` writes the figures into the
scorecard saved for review and promotion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cs_playbook.health.calibration import HealthParams, backtest
from cs_playbook.health.review import segment_figures, tier_table
from cs_playbook.modeling import evaluation
from cs_playbook.modeling.scorecard import Scorecard

__all__ = [
    "MODELS",
    "TERM_MODEL",
    "guard_rails",
    "FitWindow",
    "fit_window",
    "Validation",
    "validate",
    "weights_table",
    "scorecard_artefact",
]

# The two scores compared, and their probability columns in `calibration.backtest` output.
MODELS = {"calibrated": "calibrated_probability", "rules": "rules_probability"}
# The term-only baseline (one-variable logistic on term_months), shown in the comparison table when terms vary.
TERM_MODEL = {"term only": "term_probability"}
TIER_COLUMNS = {"calibrated": "calibrated_tier", "rules": "rules_tier"}
FIGURES = ("n", "events", "auc", "auc_lo", "auc_hi", "brier", "ece", "top_decile_lift")


@dataclass(frozen=True)
class FitWindow:
    """The observations a scorecard is fitted on: dated before `fit_before`, outcome known.

    `rows`: those observations; `events`: distinct churns (account and outcome window); `base_rate`:
    the share of rows that churned.
    """

    rows: pd.DataFrame
    events: int
    base_rate: float


def fit_window(observations: pd.DataFrame, *, fit_before: pd.Timestamp) -> FitWindow:
    """The observations dated before `fit_before` whose outcome is known, their distinct churns and churn rate."""
    rows = observations[observations["churned"].notna() & (observations["obs_date"] < fit_before)]
    events = rows.loc[rows["churned"] == 1, ["account_id", "window_end"]].drop_duplicates().shape[0]
    base = float(rows["churned"].mean()) if len(rows) else float("nan")
    return FitWindow(rows=rows, events=int(events), base_rate=base)


@dataclass
class Validation:
    """The out-of-time comparison of the calibrated and the rules score (empty tables when nothing could be tested).

    `predictions`: `calibration.backtest` output; `summary`: `evaluation.backtest_summary` (fold,
    model, figures; the "term only" baseline too when contract terms vary); `comparison`:
    `evaluation.compare_auc` (calibrated against rules); `term_comparison`: the same against the
    term-only baseline (empty when terms do not vary); `curves`,
    `lifts`: calibration curve and lift table per model (model column); `ece`: calibration error
    per model; `tiers`: `review.tier_table` per model (tier codes); `segments`: `review.segment_figures`.
    """

    predictions: pd.DataFrame
    summary: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["fold", "model", *FIGURES]))
    comparison: dict = field(default_factory=dict)
    term_comparison: dict = field(default_factory=dict)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    lifts: pd.DataFrame = field(default_factory=pd.DataFrame)
    ece: dict[str, float] = field(default_factory=dict)
    tiers: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["model", "tier", "churn_rate"]))
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def tested(self) -> bool:
        """True when at least one quarter could be predicted out of time."""
        return len(self.predictions) > 0

    @property
    def fell_back(self) -> bool:
        """True when a backtest quarter had too few earlier churns and predicted the base rate."""
        return bool(self.tested and self.predictions["calibrated_fallback"].any())

    def pooled(self) -> dict[str, dict]:
        """Per model, the figures pooled over every test quarter (n, events, AUC and interval, Brier, ECE, lift)."""
        rows = self.summary[self.summary["fold"] == "all"].set_index("model")
        return {str(m): {k: r[k] for k in FIGURES} for m, r in rows.iterrows()}

    def record(self) -> dict:
        """The validation figures kept in the scorecard artefact."""
        pooled = self.pooled()
        return {
            "folds": sorted(set(self.predictions["fold"])) if self.tested else [],
            "out_of_time": pooled,
            "auc": pooled.get("calibrated", {}).get("auc"),
            "comparison_with_rules": {k: self.comparison.get(k) for k in ("diff", "lo", "hi", "share_a_better")},
            "guard_rails": guard_rails(self),
        }


def validate(observations: pd.DataFrame, params: HealthParams, *, last_quarter: str) -> Validation:
    """Backtest the calibrated and the rules score over the quarters up to `last_quarter` and evaluate both."""
    preds = backtest(observations, params, last_quarter=last_quarter)
    if len(preds) == 0:
        return Validation(predictions=preds)
    bt = params.backtest
    y = preds["churned"]
    term_varies = "term_months" in preds.columns and preds["term_months"].nunique() > 1
    models = MODELS | (TERM_MODEL if term_varies else {})
    summary = evaluation.backtest_summary(
        preds, outcome="churned", models=models, group_col="account_id", n_boot=bt.bootstrap, seed=bt.seed
    )
    term_comparison = (
        evaluation.compare_auc(
            y,
            preds[MODELS["calibrated"]],
            preds["term_probability"],
            groups=preds["account_id"],
            n_boot=bt.bootstrap,
            seed=bt.seed,
        )
        if term_varies
        else {}
    )
    comparison = evaluation.compare_auc(
        y,
        preds[MODELS["calibrated"]],
        preds[MODELS["rules"]],
        groups=preds["account_id"],
        n_boot=bt.bootstrap,
        seed=bt.seed,
    )
    curves = pd.concat([evaluation.calibration_curve(y, preds[c]).assign(model=m) for m, c in MODELS.items()])
    lifts = pd.concat([evaluation.lift_table(y, preds[c]).assign(model=m) for m, c in MODELS.items()])
    ece = {m: evaluation.expected_calibration_error(y, preds[c]) for m, c in MODELS.items()}
    long = pd.concat([preds.assign(model=m, tier=preds[c]) for m, c in TIER_COLUMNS.items()], ignore_index=True)
    return Validation(
        predictions=preds,
        summary=summary,
        comparison=comparison,
        term_comparison=term_comparison,
        curves=curves.reset_index(drop=True),
        lifts=lifts.reset_index(drop=True),
        ece=ece,
        tiers=tier_table(long, tier_col="tier", group="model"),
        segments=segment_figures(preds, models=MODELS, n_boot=bt.bootstrap, seed=bt.seed),
    )


def guard_rails(validation: Validation, candidate: Scorecard | None = None) -> dict:
    """Whether the candidate may be promoted: flags for an out-of-time AUC interval reaching 0.5 and a candidate not
    better than the rules score (paired interval includes 0 or is below it), with the reasons in words.

    Returns tested, auc_interval_includes_chance, not_better_than_rules, below_term_only (informative),
    fell_back, do_not_promote, reasons (list of sentences) and reason_codes (the same reasons as codes:
    not_tested, chance, not_better, below_term, fell_back; the page words them in its language).
    """
    pooled = validation.pooled().get("calibrated", {}) if validation.tested else {}
    lo, auc = pooled.get("auc_lo"), pooled.get("auc")
    chance = bool(lo is None or lo != lo or lo <= 0.5)
    c = validation.comparison
    not_better = bool(c.get("lo") is None or c["lo"] != c["lo"] or c["lo"] <= 0)
    term = validation.term_comparison
    below_term = bool(term and term.get("diff") == term.get("diff") and term["diff"] < 0)
    fell_back = bool(candidate is not None and candidate.fallback is not None)
    reasons, codes = [], []
    if not validation.tested:
        reasons.append("no quarter could be tested out of time")
        codes.append("not_tested")
    elif chance:
        reasons.append(f"the out-of-time AUC interval ({lo:.3f}-{pooled.get('auc_hi'):.3f}) includes 0.5 (chance)")
        codes.append("chance")
    if validation.tested and not_better:
        reasons.append(
            "the candidate is not better than the rules score (the paired AUC difference interval includes 0 or is below it)"
        )
        codes.append("not_better")
    if below_term:
        reasons.append(f"the candidate's AUC ({auc:.3f}) is below the contract-term-only baseline")
        codes.append("below_term")
    if fell_back:
        reasons.append("the candidate fell back to the base rate")
        codes.append("fell_back")
    return {
        "tested": validation.tested,
        "auc_interval_includes_chance": chance,
        "not_better_than_rules": not_better,
        "below_term_only": below_term,
        "fell_back": fell_back,
        "do_not_promote": bool(reasons),
        "reasons": reasons,
        "reason_codes": codes,
    }


def weights_table(scorecard: Scorecard) -> pd.DataFrame:
    """The scorecard's weights (`Scorecard.weights`) with a readable label per input (measure, and category if any)."""
    w = scorecard.weights()
    w["label"] = [
        scorecard.labels.get(m, m) + ("" if i == m else f" ({i.split('=', 1)[1]})")
        for m, i in zip(w["measure"], w["input"], strict=True)
    ]
    return w


def scorecard_artefact(scorecard: Scorecard, validation: Validation) -> dict:
    """The candidate scorecard with its validation figures, as plain data for health_scorecard.yaml."""
    return scorecard.model_copy(update={"validation": validation.record()}).model_dump(mode="json")
