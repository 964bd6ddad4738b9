"""Where each PoC stands: criterion trends projected to the end date, status, verdict and next action.

Each criterion's recent weekly values get a straight-line trend (statsmodels OLS); its
prediction at the end date, with a prediction interval, gives the probability that the
week at the end meets the target. Rules in params/poc.yaml (`status`) turn that into
met / on track / at risk / off track, and the criteria into the PoC's verdict and the next
action a CSM should take, in plain words (`actions`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from cs_playbook.formatting import fmt_money
from cs_playbook.poc.criteria import StatusRules, metric_bounds, parse_metric

__all__ = [
    "STATUSES",
    "meets",
    "fit_trend",
    "project_criterion",
    "criterion_status",
    "track_criteria",
    "projection_paths",
    "verdict_of",
    "poc_verdicts",
    "format_value",
    "next_actions",
]

STATUSES = ["met", "on track", "at risk", "off track", "too early", "no data", "missed"]
STATUS_RANK = {"off track": 0, "missed": 0, "no data": 1, "at risk": 2, "too early": 3, "on track": 4, "met": 5}


def meets(value: float | np.ndarray, comparator: str, target: float) -> bool | np.ndarray:
    """Whether a value meets its target under '>=' or '<='."""
    return np.greater_equal(value, target) if comparator == ">=" else np.less_equal(value, target)


def fit_trend(points: pd.DataFrame, rules: StatusRules):
    """OLS model of the last `trend_points` values: a straight line in weeks from
    `trend_min_points` values, a flat level from `min_points`, None with fewer.

    Returns a fitted statsmodels OLS result; `result.model.exog.shape[1]` is 2 for a line.
    """
    pts = points[points["value"].notna()].sort_values("week").tail(rules.trend_points)
    if len(pts) < rules.min_points:
        return None
    y = pts["value"].to_numpy(dtype="float64")
    if len(pts) >= rules.trend_min_points and pts["week"].nunique() >= 3:
        return OLS(y, add_constant(pts["week"].to_numpy(dtype="float64"), has_constant="add")).fit()
    return OLS(y, np.ones((len(y), 1))).fit()


def _design(fit, weeks: np.ndarray) -> np.ndarray:
    weeks = np.asarray(weeks, dtype="float64")
    if fit.model.exog.shape[1] == 1:
        return np.ones((len(weeks), 1))
    return add_constant(weeks, has_constant="add")


def _prediction(fit, weeks: np.ndarray, interval: float) -> dict[str, np.ndarray]:
    """Fitted mean, prediction interval and predictive sd of one new week at each of `weeks` (arrays)."""
    pred = fit.get_prediction(_design(fit, weeks))
    obs = pred.conf_int(obs=True, alpha=1 - interval)  # what summary_frame's obs_ci_lower / upper hold
    return {
        "mean": np.asarray(pred.predicted_mean),
        "lower": obs[:, 0],
        "upper": obs[:, 1],
        "sd": np.sqrt(np.asarray(pred.se_mean) ** 2 + fit.scale),
    }


def _predict(fit, weeks: np.ndarray, interval: float) -> pd.DataFrame:
    """Fitted mean, prediction interval and predictive sd of one new week at each of `weeks`."""
    return pd.DataFrame(_prediction(fit, weeks, interval))


def project_criterion(
    points: pd.DataFrame,
    *,
    end_week: float,
    comparator: str,
    target: float,
    rules: StatusRules,
    bounds: tuple[float, float] = (-np.inf, np.inf),
) -> dict[str, float]:
    """Current value, trend and the end-date projection of one criterion.

    `points` has week and value. Returns n_points, current (mean of the last
    `current_points` values), slope (per week; 0 when the model is a flat level), projected,
    lower, upper (the prediction interval of a week at `end_week`, clipped to `bounds`),
    p_meet (probability that week meets the target, from the t predictive distribution) and
    reach_week (when the trend line crosses the target, if it moves towards it). With fewer
    than `min_points` values the projection is empty.
    """
    pts = points[points["value"].notna()].sort_values("week")
    out = dict.fromkeys(["current", "slope", "projected", "lower", "upper", "p_meet", "reach_week"], np.nan)
    out["n_points"] = len(pts)
    if pts.empty:
        return out
    out["current"] = float(pts["value"].tail(rules.current_points).mean())
    fit = fit_trend(pts, rules)
    if fit is None:
        return out
    intercept = float(fit.params[0])
    slope = float(fit.params[1]) if len(fit.params) == 2 else 0.0
    pred = {k: float(v[0]) for k, v in _prediction(fit, np.array([end_week]), rules.interval).items()}
    lo, hi = bounds
    out.update(
        slope=slope,
        projected=float(np.clip(pred["mean"], lo, hi)),
        lower=float(np.clip(pred["lower"], lo, hi)),
        upper=float(np.clip(pred["upper"], lo, hi)),
    )
    if pred["sd"] > 0:
        below = float(stats.t.cdf((target - pred["mean"]) / pred["sd"], fit.df_resid))
        out["p_meet"] = 1.0 - below if comparator == ">=" else below
    else:  # the values lie exactly on the line: no doubt left
        out["p_meet"] = float(meets(pred["mean"], comparator, target))
    if (slope > 0 and comparator == ">=") or (slope < 0 and comparator == "<="):
        out["reach_week"] = (target - intercept) / slope
    return out


def criterion_status(
    *,
    n_points: int,
    current: float,
    p_meet: float,
    met_now: bool,
    ended: bool,
    rules: StatusRules,
    weeks_run: float = np.inf,
) -> str:
    """met / on track / at risk / off track for a running PoC; met / missed once it ended.

    Met: the current value meets the target and the projection does not say it will slip (its
    probability at the end stays at least `keep_met_probability`; met but slipping is at
    risk). Otherwise by the probability of meeting it at the end: on track from
    `on_track_probability`, at risk from `at_risk_probability`, off track below. Fewer than
    `min_points` values: met, or too early; no value at all: too early in the first week, no
    data after it (a manual criterion nobody measured, or no events or users for the scope).
    """
    if n_points == 0 or pd.isna(current):
        return "no data" if ended or weeks_run >= 1 else "too early"
    if ended:
        return "met" if met_now else "missed"
    if pd.isna(p_meet):
        return "met" if met_now else "too early"
    if met_now:
        return "met" if p_meet >= rules.keep_met_probability else "at risk"
    if p_meet >= rules.on_track_probability:
        return "on track"
    if p_meet >= rules.at_risk_probability:
        return "at risk"
    return "off track"


def _end_week(start: pd.Timestamp, end: pd.Timestamp) -> float:
    return ((end - start).days + 1) / 7.0


def _week_date(start: pd.Timestamp, week: float) -> pd.Timestamp:
    """The day a fractional week `week` counted from the start date is reached (week 1 ends on day 7)."""
    return start + pd.Timedelta(days=int(np.ceil(7 * float(week) - 1 - 1e-9)))


def track_criteria(
    pocs: pd.DataFrame, criteria: pd.DataFrame, series: pd.DataFrame, *, as_of: pd.Timestamp, rules: StatusRules
) -> pd.DataFrame:
    """Every criterion of every PoC against its target, projected to the PoC's end date.

    `series` from `poc.criterion_series`. Returns the criteria columns (poc_id, criterion_id,
    description, metric, comparator, target, must_have, weight, source) plus n_points,
    current, met_now, slope, projected, lower, upper, p_meet (1 or 0 once ended), reach_date,
    status, ended, scope_users and users_active (the last week's, events criteria).
    """
    p = pocs.set_index("poc_id")
    groups = dict(tuple(series.groupby(["poc_id", "criterion_id"], sort=False)))
    rows = []
    for c in criteria[criteria["poc_id"].isin(p.index)].itertuples(index=False):
        start, end = p.at[c.poc_id, "start_date"], p.at[c.poc_id, "end_date"]
        ended = bool(as_of >= end or p.at[c.poc_id, "outcome"] != "open")
        pts = groups.get((c.poc_id, c.criterion_id), series.iloc[:0])
        proj = project_criterion(
            pts,
            end_week=_end_week(start, end),
            comparator=c.comparator,
            target=c.target,
            rules=rules,
            bounds=metric_bounds(c.metric, c.source),
        )
        met_now = bool(pd.notna(proj["current"]) and meets(proj["current"], c.comparator, c.target))
        if ended and proj["n_points"]:
            proj.update(projected=proj["current"], lower=np.nan, upper=np.nan, p_meet=float(met_now))
        reach = proj.pop("reach_week")
        last = pts[pts["value"].notna()].tail(1)
        rows.append(
            {
                **c._asdict(),
                **proj,
                "met_now": met_now,
                "reach_date": _week_date(start, reach) if pd.notna(reach) and not met_now else pd.NaT,
                "status": criterion_status(
                    n_points=proj["n_points"],
                    current=proj["current"],
                    p_meet=proj["p_meet"],
                    met_now=met_now,
                    ended=ended,
                    rules=rules,
                    weeks_run=((min(as_of, end) - start).days + 1) / 7.0,
                ),
                "ended": ended,
                "scope_users": float(last["scope_users"].iloc[0]) if len(last) else np.nan,
                "users_active": float(last["users_active"].iloc[0]) if len(last) else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=[*criteria.columns, "n_points", "current", "met_now", "status"])
    out["n_points"] = out["n_points"].astype("int64")
    out["reach_date"] = pd.to_datetime(out["reach_date"]).astype("datetime64[ns]")
    return out


def projection_paths(
    pocs: pd.DataFrame,
    criteria: pd.DataFrame,
    series: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    rules: StatusRules,
    steps: int = 12,
) -> pd.DataFrame:
    """The projection band of each running criterion, from its last observed week to the end date.

    Returns poc_id, criterion_id, period_end, week, projected, lower, upper (clipped to the
    metric's range), for charts.
    """
    p = pocs.set_index("poc_id")
    rows = []
    for c in criteria[criteria["poc_id"].isin(p.index)].itertuples(index=False):
        start, end = p.at[c.poc_id, "start_date"], p.at[c.poc_id, "end_date"]
        if as_of >= end or p.at[c.poc_id, "outcome"] != "open":
            continue
        pts = series[(series["poc_id"] == c.poc_id) & (series["criterion_id"] == c.criterion_id)]
        fit = fit_trend(pts, rules)
        if fit is None:
            continue
        weeks = np.linspace(float(pts["week"].max()), _end_week(start, end), steps)
        pred = _predict(fit, weeks, rules.interval)
        lo, hi = metric_bounds(c.metric, c.source)
        rows.append(
            pd.DataFrame(
                {
                    "poc_id": c.poc_id,
                    "criterion_id": c.criterion_id,
                    "period_end": [start + pd.Timedelta(days=7 * w - 1) for w in weeks],
                    "week": weeks,
                    "projected": pred["mean"].clip(lo, hi).to_numpy(),
                    "lower": pred["lower"].clip(lo, hi).to_numpy(),
                    "upper": pred["upper"].clip(lo, hi).to_numpy(),
                }
            )
        )
    cols = ["poc_id", "criterion_id", "period_end", "week", "projected", "lower", "upper"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def verdict_of(criteria: pd.DataFrame, *, ended: bool, rules: StatusRules) -> dict[str, float | str]:
    """The verdict of one PoC from its tracked criteria (status, must_have, weight, p_meet).

    score = weight share of the criteria met now; expected_score = weight-weighted probability
    of meeting each criterion at the end (a criterion without projection counts 1 when met,
    else 0); p_must_haves = probability that every must-have is met at the end (criteria taken
    as independent). Ended: met (every must-have met and score >= pass_score) or not met.
    Running, in this order: met (as ended); off track (a must-have off track, or
    expected_score < off_track_score once every criterion has a projection); too early (a
    must-have, or with no must-haves any criterion, too early to project); at risk (a
    must-have at risk or without data, or expected_score < pass_score); else on track.
    """
    status = criteria["status"]
    w = criteria["weight"].astype("float64")
    must = criteria["must_have"].astype(bool)
    met = status == "met"
    p_end = criteria["p_meet"].astype("float64").fillna(met.astype("float64"))
    score = float((w * met).sum() / w.sum()) if w.sum() > 0 else np.nan
    expected = float((w * p_end).sum() / w.sum()) if w.sum() > 0 else np.nan
    focus = status[must] if must.any() else status
    passed = bool(met[must].all()) and score >= rules.pass_score
    projected = not status.isin(["too early"]).any()
    if ended:
        verdict = "met" if passed else "not met"
    elif passed:
        verdict = "met"
    elif (focus == "off track").any() or (projected and expected < rules.off_track_score):
        verdict = "off track"
    elif (focus == "too early").any():
        verdict = "too early"
    elif focus.isin(["at risk", "no data"]).any() or expected < rules.pass_score:
        verdict = "at risk"
    else:
        verdict = "on track"
    return {
        "n_criteria": len(criteria),
        "n_met": int(met.sum()),
        "must_haves": int(must.sum()),
        "must_haves_met": int(met[must].sum()),
        "score": score,
        "expected_score": expected,
        "p_must_haves": float(p_end[must].prod()) if must.any() else np.nan,
        "verdict": verdict,
    }


def poc_verdicts(pocs: pd.DataFrame, tracked: pd.DataFrame, *, as_of: pd.Timestamp, rules: StatusRules) -> pd.DataFrame:
    """Each PoC's verdict from its criteria (see `verdict_of`); a PoC without criteria: no criteria.

    Returns poc_id, n_criteria, n_met, must_haves, must_haves_met, score, expected_score,
    p_must_haves, verdict, ended (past its end date or decided), days_left (to the end date).
    """
    rows = []
    by_poc = dict(tuple(tracked.groupby("poc_id", sort=False))) if not tracked.empty else {}
    for r in pocs.itertuples(index=False):
        t = by_poc.get(r.poc_id)
        ended = bool(as_of >= r.end_date or r.outcome != "open")
        row = {"poc_id": r.poc_id, "ended": ended, "days_left": int((r.end_date - as_of).days)}
        if t is None or t.empty:
            row.update(n_criteria=0, n_met=0, must_haves=0, must_haves_met=0, verdict="no criteria")
        else:
            row.update(verdict_of(t, ended=ended, rules=rules))
        rows.append(row)
    cols = [
        "poc_id",
        "n_criteria",
        "n_met",
        "must_haves",
        "must_haves_met",
        "score",
        "expected_score",
        "p_must_haves",
        "verdict",
        "ended",
        "days_left",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def format_value(value: float, metric: str, source: str = "events") -> str:
    """A criterion value as a CSM reads it: shares as %, counts as whole numbers, other values to 3 digits."""
    if value is None or pd.isna(value):
        return "n/a"
    base, _ = parse_metric(metric)
    if source == "events" and base == "active_user_share":
        return f"{value:.0%}"
    if source == "events" and base in ("active_users", "events"):
        return f"{value:,.0f}"
    return f"{value:.3g}"


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _worst(t: pd.DataFrame) -> pd.Series:
    """The criterion to act on first: must-haves first, then the worst status, then the lowest probability."""
    ranked = t.assign(
        _must=~t["must_have"].astype(bool),
        _rank=t["status"].map(STATUS_RANK),
        _p=t["p_meet"].fillna(-1.0),
    ).sort_values(["_rank", "_must", "_p"])
    return ranked.iloc[0]


def next_actions(
    pocs: pd.DataFrame, verdicts: pd.DataFrame, tracked: pd.DataFrame, *, actions: dict[str, str], currency: str = "JPY"
) -> pd.DataFrame:
    """The next action for each PoC in plain words, from the templates in params/poc.yaml `actions`.

    Returns poc_id, focus_criterion (the criterion the action is about, or empty) and next_action.
    """
    p = pocs.set_index("poc_id")
    by_poc = dict(tuple(tracked.groupby("poc_id", sort=False))) if not tracked.empty else {}
    rows = []
    for v in verdicts.itertuples(index=False):
        poc = p.loc[v.poc_id]
        fill = _Blank(
            end_date=f"{poc['end_date']:%Y-%m-%d}",
            days_left=str(max(v.days_left, 0)),
            arr=fmt_money(poc["arr_at_stake"], currency),
            score=f"{v.score:.0%}" if pd.notna(v.score) else "n/a",
            must_haves_missed=str(int(v.must_haves - v.must_haves_met)) if v.n_criteria else "0",
        )
        t = by_poc.get(v.poc_id)
        focus, pace = "", None
        if v.verdict == "no criteria":
            key = "no_criteria"
        elif v.verdict == "met":
            key = "met_overdue" if v.days_left < 0 else "met"
        elif v.ended:
            key = "overdue"
        else:
            c = _worst(t)
            focus = c["criterion_id"]
            _, event_type = parse_metric(c["metric"])
            fill.update(
                description=c["description"],
                current=format_value(c["current"], c["metric"], c["source"]),
                target=format_value(c["target"], c["metric"], c["source"]),
                probability=(
                    f"{c['p_meet']:.0%} chance by {poc['end_date']:%Y-%m-%d}"
                    if pd.notna(c["p_meet"])
                    else "too early to project"
                ),
                event_type=event_type or "any",
                scope_users=f"{c['scope_users']:.0f}" if pd.notna(c["scope_users"]) else "n/a",
                inactive_users=(f"{c['scope_users'] - c['users_active']:.0f}" if pd.notna(c["scope_users"]) else "n/a"),
            )
            if c["status"] == "no data":
                key = "no_data"
            elif c["status"] in ("met", "on track"):
                key = "on_track"
            elif c["met_now"]:
                key = "slipping"
            else:
                key = parse_metric(c["metric"])[0] if c["source"] == "events" else "manual"
                if pd.notna(c["reach_date"]) and c["reach_date"] > poc["end_date"]:
                    fill.update(
                        reach_date=f"{c['reach_date']:%Y-%m-%d}",
                        weeks_late=str(int(np.ceil((c["reach_date"] - poc["end_date"]).days / 7))),
                    )
                    pace = "pace_late"
                elif pd.notna(c["slope"]) and pd.isna(c["reach_date"]) and not c["met_now"]:
                    pace = "pace_flat"
        text = actions[key].format_map(fill)
        if pace:
            text += " " + actions[pace].format_map(fill)
        rows.append({"poc_id": v.poc_id, "focus_criterion": focus, "next_action": text.strip()})
    return pd.DataFrame(rows, columns=["poc_id", "focus_criterion", "next_action"])
