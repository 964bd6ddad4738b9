"""The us-plg company's hidden story: engagement, feature adoption, and what they do at each renewal.

Each account has a hidden monthly engagement h (AR(1) around a baseline). Engagement drives
which optional features an account adopts (and drops); at every renewal the features used in the
three months before, the term and h decide churn, plan upgrades and downgrades, seat changes, term
switches and the usage-based add-on. docs/demo-company.md lists every driver and its direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cs_playbook.demo.usplg import vocab as v

N_FEATURES = len(v.FEATURES)
TIER_RANK = {t: n for n, t in enumerate(v.TIERS)}
FEATURE_MIN_TIER = np.array([TIER_RANK[f[1]] for f in v.FEATURES])
FEATURE_CHURN = np.array([f[4] for f in v.FEATURES])
AUTOMATION = [f[0] for f in v.FEATURES].index("run_automation")


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def month_index(ts: pd.Timestamp) -> int:
    """Months since vocab.BASE_MONTH."""
    return (ts.year - v.BASE_MONTH.year) * 12 + ts.month - v.BASE_MONTH.month


def month_start(t: int) -> pd.Timestamp:
    """First day of month t."""
    return v.BASE_MONTH + pd.DateOffset(months=int(t))


@dataclass
class World:
    """Everything simulated, before it is written as tables."""

    rng: np.random.Generator
    end: pd.Timestamp
    accounts: pd.DataFrame
    health: np.ndarray  # [account, month] hidden engagement h
    adopted: np.ndarray  # [account, month, feature] bool: the feature is in use (when the tier allows it)
    lines: list[dict] = field(default_factory=list)  # contract lines, end exclusive
    renewals: list[dict] = field(default_factory=list)  # one per renewal decision up to the end date

    @property
    def n_months(self) -> int:
        """Months from BASE_MONTH to the end date, inclusive."""
        return month_index(self.end) + 1


def _names(rng: np.random.Generator, n: int) -> list[str]:
    names, seen = [], set()
    while len(names) < n:
        stem = v.NAME_STEMS[rng.integers(len(v.NAME_STEMS))]
        word = v.NAME_WORDS[rng.integers(len(v.NAME_WORDS))]
        name = f"{stem} {word} {v.NAME_SUFFIXES[rng.integers(len(v.NAME_SUFFIXES))]}"
        if name in seen:
            name = f"{stem} {word} {v.REGIONS[rng.integers(len(v.REGIONS))]} {v.NAME_SUFFIXES[0]}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _owners(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    """CSM per account: every enterprise, half of mid-market, 5% of SMB; the rest the CRM's placeholder."""
    p_csm = np.select([segment == "enterprise", segment == "mid_market"], [1.0, 0.5], 0.05)
    out = np.where(rng.random(len(segment)) < 0.93, v.UNASSIGNED, "-").astype(object)
    has = rng.random(len(segment)) < p_csm
    out[has] = rng.choice(v.CSMS, size=int(has.sum()))
    return out


def simulate_accounts(rng: np.random.Generator, n: int, end: pd.Timestamp) -> pd.DataFrame:
    """Accounts: id, name, segment, industry, employees, region, csm, created_at (signup), hidden baseline mu."""
    segment = rng.choice(v.SEGMENTS, size=n, p=v.SEGMENT_WEIGHTS)
    employees = np.empty(n, dtype="int64")
    for seg, (lo, hi) in v.EMPLOYEE_RANGE.items():
        m = segment == seg
        employees[m] = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), m.sum()))).astype("int64")
    before = rng.random(n) < 0.3
    span_before = (v.DATA_START - v.BASE_MONTH).days
    span_after = (end - v.DATA_START).days - 20
    offset = np.where(
        before, rng.integers(0, span_before, n) - span_before, (span_after * rng.random(n) ** 0.9).astype(int)
    )
    created = v.DATA_START + pd.to_timedelta(offset, unit="D")
    order = np.argsort(created.to_numpy(), kind="stable")
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{n + 10001}" for n in range(n)],
            "account_name": _names(rng, n),
            "segment": segment[order],
            "industry": rng.choice(v.INDUSTRIES, size=n)[order],
            "employees": employees[order],
            "region": rng.choice(v.REGIONS, size=n, p=v.REGION_WEIGHTS)[order],
            "created_at": created[order].normalize(),
        }
    )
    accounts.insert(6, "csm", _owners(rng, accounts["segment"].to_numpy()))
    accounts["mu"] = rng.normal(0, 1, n) + 0.2 * (accounts["segment"] == "enterprise")
    return accounts


def simulate_health(rng: np.random.Generator, mu: np.ndarray, n_months: int) -> np.ndarray:
    """Hidden monthly engagement h[account, month] = 0.8 h[t-1] + 0.2 mu + N(0, 0.35)."""
    h = np.empty((len(mu), n_months))
    h[:, 0] = mu + rng.normal(0, 0.5, len(mu))
    for t in range(1, n_months):
        h[:, t] = 0.8 * h[:, t - 1] + 0.2 * mu + rng.normal(0, 0.35, len(mu))
    return h


def simulate_adoption(rng: np.random.Generator, health: np.ndarray) -> np.ndarray:
    """adopted[account, month, feature]: adopted with P = sigmoid(a + b h), dropped with P = sigmoid(-3.0 - 0.8 sign(b) h)."""
    a, m = health.shape
    adopted = np.zeros((a, m, N_FEATURES), dtype=bool)
    intercept = np.array([f[2] for f in v.FEATURES])
    slope = np.array([f[3] for f in v.FEATURES])
    state = rng.random((a, N_FEATURES)) < sigmoid(intercept + 1.0 + slope * health[:, :1])
    for t in range(m):
        h = health[:, t : t + 1]
        start = rng.random((a, N_FEATURES)) < sigmoid(intercept + slope * h)
        stop = rng.random((a, N_FEATURES)) < sigmoid(v.DROP_INTERCEPT + v.DROP_SLOPE * np.sign(slope) * h)
        state = np.where(state, ~stop, start)
        adopted[:, t] = state
    return adopted


@dataclass
class Plan:
    """What an account holds in one term: plan tier, term, seats and add-on usage band (-1: none)."""

    tier: str
    term: str  # "monthly" or "annual"
    seats: int
    addon: int = -1


def line_arr(segment: str, plan: Plan) -> float:
    """ARR of the base line: 12 x monthly list price x seats, or the annual list price less the segment discount."""
    if plan.term == "monthly":
        return round(12 * v.MONTHLY_PRICE[plan.tier] * plan.seats, 2)
    return round(v.ANNUAL_PRICE[plan.tier] * plan.seats * (1 - v.SEGMENT_DISCOUNT[segment]), 2)


def used_features(world: World, i: int, t: int, tier: str) -> np.ndarray:
    """Features account i used in the three months before month t that its tier allows."""
    lo = max(t - 3, 0)
    used = world.adopted[i, lo:t].any(axis=0) if t > lo else world.adopted[i, t]
    return used & (TIER_RANK[tier] >= FEATURE_MIN_TIER)


def _initial_plan(rng: np.random.Generator, segment: str, employees: int) -> Plan:
    tier = str(rng.choice(v.TIERS, p=v.TIER_WEIGHTS[segment]))
    term = "monthly" if rng.random() < v.MONTHLY_SHARE[segment] else "annual"
    seats = int(np.clip(round(employees * rng.uniform(0.05, 0.35)), 1, 2000))
    return Plan(tier, term, seats)


def _term_months(term: str) -> int:
    return 1 if term == "monthly" else 12


def _add_lines(world: World, i: int, plan: Plan, start: pd.Timestamp, end: pd.Timestamp, segment: str) -> None:
    """The base line and, when held, the co-terminous add-on line of one term [start, end)."""
    base = {"i": i, "start": start, "end": end, "term": plan.term}
    world.lines.append(
        base | {"product": f"{v.FAMILY}_{plan.tier}", "arr": line_arr(segment, plan), "seats": plan.seats}
    )
    if plan.addon >= 0:
        world.lines.append(base | {"product": v.ADDON, "arr": v.ADDON_BANDS[plan.addon], "seats": None})


def _renew(world: World, i: int, plan: Plan, renewal: pd.Timestamp, segment: str, employees: int) -> Plan | None:
    """The renewal decision at `renewal`: None when the account churns, else the next term's plan."""
    rng = world.rng
    t = month_index(renewal)
    h = float(world.health[i, max(t - 1, 0)])
    used = used_features(world, i, t, plan.tier)
    logit = v.TERM_BASE[plan.term] + float(FEATURE_CHURN @ used) + v.HEALTH_CHURN * h + v.SEGMENT_CHURN[segment]
    p_churn = float(sigmoid(logit)) if renewal >= v.DATA_START else 0.0  # survivors only before the data
    churn = bool(rng.random() < p_churn)
    rank = TIER_RANK[plan.tier]
    up = rng.random() < sigmoid(v.UPGRADE_BASE[plan.term] + 0.7 * h + 0.8 * used[AUTOMATION]) and rank < 2
    down = not up and rng.random() < sigmoid(v.DOWNGRADE_BASE[plan.term] - 0.8 * h) and rank > 0
    tier = v.TIERS[rank + int(up) - int(down)]
    switch = v.TO_ANNUAL + 0.5 * h if plan.term == "monthly" else v.TO_MONTHLY
    term = {"monthly": "annual", "annual": "monthly"}[plan.term] if rng.random() < sigmoid(switch) else plan.term
    months = _term_months(plan.term)
    growth = rng.normal(months * (v.SEAT_DRIFT + v.SEAT_DRIFT_H * h), v.SEAT_SD * np.sqrt(months))
    seats = int(np.clip(round(plan.seats * np.exp(growth)), 1, min(employees, 2000)))
    eligible = TIER_RANK[tier] >= TIER_RANK["pro"] and bool(used[AUTOMATION])
    addon = -1
    if eligible and (plan.addon >= 0 or rng.random() < 0.5):
        addon = int(np.digitize(h, [-0.3, 0.5]))
    if renewal <= world.end and renewal >= v.DATA_START:
        world.renewals.append(
            {
                "i": i,
                "renewal_date": renewal,
                "term": plan.term,
                "tier": plan.tier,
                "health": h,
                "p_churn": p_churn,
                "churned": churn,
                "next_tier": None if churn else tier,
                "next_term": None if churn else term,
            }
            | {f"used_{f[0]}": bool(u) for f, u in zip(v.FEATURES, used, strict=True)}
        )
    return None if churn else Plan(tier, term, seats, addon)


def _account_contracts(world: World, i: int, segment: str, employees: int, created: pd.Timestamp) -> None:
    """Every term of account i from its signup: renewals, churn and reactivation, up to the end date."""
    rng = world.rng
    plan = _initial_plan(rng, segment, employees)
    start = anchor = created
    k = 1
    while start <= world.end:
        end = anchor + pd.DateOffset(months=k * _term_months(plan.term))
        _add_lines(world, i, plan, start, end, segment)
        if end > world.end:
            return
        nxt = _renew(world, i, plan, end, segment, employees)
        if nxt is None:
            if rng.random() >= v.REACTIVATION:
                return
            start = anchor = end + pd.DateOffset(months=int(rng.integers(1, 7)))
            plan, k = Plan("basic", "monthly", max(1, plan.seats // 2)), 1
            continue
        k = k + 1 if nxt.term == plan.term else 1
        anchor = anchor if nxt.term == plan.term else end
        start, plan = end, nxt


def simulate_contracts(world: World) -> None:
    """Contract lines (exclusive ends) and renewal decisions of every account."""
    acc = world.accounts
    for i, (seg, emp, created) in enumerate(zip(acc["segment"], acc["employees"], acc["created_at"], strict=True)):
        _account_contracts(world, i, str(seg), int(emp), pd.Timestamp(created))
