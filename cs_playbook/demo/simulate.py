"""The demo company's hidden story: account health over time and what it drives.

Each account has a hidden monthly health h (AR(1) around an account baseline). Health drives
usage, tickets, NPS, stakeholder strength and BANTC answers; at every renewal it (with those
signals) decides churn, contraction or expansion. docs/demo-company.md lists every driver and
its direction; tests/test_demo.py checks that the directions show in the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cs_playbook.demo import vocab

BASE_MONTH = pd.Timestamp("2020-11-01")  # history of customers that were already customers at the start
DATA_START = pd.Timestamp("2023-11-01")


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def month_index(ts: pd.Timestamp) -> int:
    """Months since BASE_MONTH."""
    return (ts.year - BASE_MONTH.year) * 12 + ts.month - BASE_MONTH.month


def month_start(t: int) -> pd.Timestamp:
    """First day of month t."""
    return BASE_MONTH + pd.DateOffset(months=int(t))


@dataclass
class World:
    """Everything simulated, before it is written as tables."""

    rng: np.random.Generator
    end: pd.Timestamp
    accounts: pd.DataFrame
    health: np.ndarray  # [account, month] hidden health
    champion: np.ndarray  # [account, month] bool
    exec_access: np.ndarray
    success_plan: np.ndarray
    lines: list[dict] = field(default_factory=list)
    renewals: list[dict] = field(default_factory=list)  # one per renewal decision up to the end date
    terms: list[dict] = field(default_factory=list)  # every contract term: account and renewal date
    churns: list[dict] = field(default_factory=list)
    pocs: list[dict] = field(default_factory=list)

    @property
    def n_months(self) -> int:
        """Months from BASE_MONTH to the end date, inclusive."""
        return month_index(self.end) + 1


def _company_names(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct company names; past the vocabulary's ~14,000 (a 20,000-account scale test), numbered branches."""
    names, seen, misses = [], set(), 0
    while len(names) < n:
        stem = vocab.NAME_STEMS[rng.integers(len(vocab.NAME_STEMS))]
        suffix = vocab.NAME_SUFFIXES[rng.integers(len(vocab.NAME_SUFFIXES))]
        name = f"株式会社{stem}{suffix}" if rng.random() < 0.7 else f"{stem}{suffix}株式会社"
        if name in seen:
            name = f"{name}（{vocab.REGIONS[rng.integers(len(vocab.REGIONS))]}）"
        if name in seen and misses < 200:
            misses += 1
            continue
        if name in seen:  # the vocabulary is used up: a numbered branch is always new
            name = f"{name}（第{len(names) + 1}）"
        misses = 0
        seen.add(name)
        names.append(name)
    return names


def simulate_accounts(rng: np.random.Generator, n: int, end: pd.Timestamp) -> pd.DataFrame:
    """Accounts with segment, size, region, CSM, creation date and hidden baseline health."""
    segment = rng.choice(vocab.SEGMENTS, size=n, p=vocab.SEGMENT_WEIGHTS)
    employees = np.empty(n, dtype="int64")
    for seg, (lo, hi) in vocab.EMPLOYEE_RANGE.items():
        mask = segment == seg
        employees[mask] = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), mask.sum())))
    existing = rng.random(n) < 0.35
    days_before = rng.integers(30, 3 * 365, n)
    last_new = (end - pd.Timedelta(days=45) - DATA_START).days
    days_after = rng.integers(0, last_new, n)
    created = np.where(
        existing,
        (DATA_START - pd.to_timedelta(days_before, "D")).to_numpy(),
        (DATA_START + pd.to_timedelta(days_after, "D")).to_numpy(),
    )
    csm_prob = np.select([segment == "enterprise", segment == "mid_market"], [1.0, 0.85], 0.35)
    has_csm = rng.random(n) < csm_prob
    csm = np.where(has_csm, rng.choice(vocab.CSMS, size=n), None)
    # Hidden baseline health: product fit plus a lift from CSM coverage (touch nudges health up).
    mu = rng.normal(0.0, 0.8, n) + 0.25 * has_csm + np.select([segment == "enterprise"], [0.2], 0.0)
    order = np.argsort(created, kind="stable")
    df = pd.DataFrame(
        {
            "segment": segment[order],
            "employees": employees[order],
            "created_at": pd.to_datetime(created[order]).normalize(),
            "csm": csm[order],
            "mu": mu[order],
            "existing": existing[order],
            "industry": rng.choice(vocab.INDUSTRIES, size=n),
            "region": rng.choice(vocab.REGIONS, size=n, p=vocab.REGION_WEIGHTS),
        }
    )
    df.insert(0, "account_id", [f"A{i + 1:05d}" for i in range(n)])
    df.insert(1, "account_name", _company_names(rng, n))
    df.loc[rng.random(n) < 0.04, "industry"] = None
    return df


def simulate_health(rng: np.random.Generator, accounts: pd.DataFrame, n_months: int) -> np.ndarray:
    """Hidden monthly health: h_t = 0.85 h_(t-1) + 0.15 mu + noise."""
    mu = accounts["mu"].to_numpy()
    h = np.empty((len(mu), n_months))
    h[:, 0] = mu + rng.normal(0, 0.5, len(mu))
    shocks = rng.normal(0, 0.32, (len(mu), n_months))
    for t in range(1, n_months):
        h[:, t] = 0.85 * h[:, t - 1] + 0.15 * mu + shocks[:, t]
    return h


def simulate_stakeholders(rng: np.random.Generator, health: np.ndarray, segment: np.ndarray) -> tuple[np.ndarray, ...]:
    """Champion, executive access and success plan: re-assessed each quarter, likelier when healthy."""
    a, t_n = health.shape
    ent = (segment == "enterprise").astype(float)
    out = []
    for base, slope, seg_bonus in ((0.3, 1.1, 0.0), (-0.6, 0.9, 0.7), (-0.4, 0.8, 0.3)):
        state = np.zeros((a, t_n), dtype=bool)
        state[:, 0] = rng.random(a) < sigmoid(base + slope * health[:, 0] + seg_bonus * ent)
        for t in range(1, t_n):
            redraw = (t % 3 == 0) & (rng.random(a) < 0.4)
            fresh = rng.random(a) < sigmoid(base + slope * health[:, t] + seg_bonus * ent)
            state[:, t] = np.where(redraw, fresh, state[:, t - 1])
        out.append(state)
    return tuple(out)


def _year_later(d: pd.Timestamp) -> pd.Timestamp:
    return d + pd.DateOffset(years=1) - pd.Timedelta(days=1)


def _price(seg: str, product: str, seats: int) -> float:
    disc = vocab.SEGMENT_DISCOUNT[seg] + (0.05 if seats >= 500 else 0.0)
    unit = vocab.PLATFORM_PRICE if product == "Platform" else vocab.ADDON_PRICES[product]
    return float(round(unit * (1 - disc) * seats, -2))


def _initial_lines(rng: np.random.Generator, seg: str, employees: int) -> list[dict]:
    """The first contract: departments (or company-wide), seats and add-ons."""
    share = {"enterprise": (0.001, 0.006), "mid_market": (0.03, 0.12), "smb": (0.15, 0.45)}[seg]
    total = max(5, int(employees * rng.uniform(*share)))
    per_dept = seg == "enterprise" or (seg == "mid_market" and rng.random() < 0.5)
    if per_dept:
        k = int(rng.integers(1, 4))
        depts = list(rng.choice(vocab.DEPARTMENTS, size=k, replace=False))
        split = rng.dirichlet(np.ones(k))
        seats = [max(3, int(total * s)) for s in split]
    else:
        depts, seats = [None], [total]
    lines = [{"department": d, "product": "Platform", "seats": s} for d, s in zip(depts, seats, strict=True)]
    for addon, p in (("Analytics", 0.3), ("Workflow", 0.2)):
        if rng.random() < p:
            lines.append({"department": depts[0], "product": addon, "seats": seats[0]})
    if seg != "smb" and rng.random() < 0.15:
        lines.append({"department": depts[0], "product": "API", "seats": None, "tier": int(rng.integers(0, 2))})
    return lines


def _line_arr(seg: str, line: dict) -> float:
    if line["product"] == "API":
        return float(vocab.API_TIERS[line["tier"]])
    return _price(seg, line["product"], line["seats"])


def simulate_contracts(world: World) -> None:
    """Contract lines per account: terms, mid-term additions, renewals, churn and reactivation."""
    rng, end = world.rng, world.end
    for i, acc in enumerate(world.accounts.itertuples(index=False)):
        seg, emp = acc.segment, int(acc.employees)
        start = acc.created_at + pd.Timedelta(days=int(rng.integers(0, 20)))
        if rng.random() < 0.5:
            start = start.replace(day=1) + pd.DateOffset(months=1)  # half the contracts start on the 1st
        if start > end:
            continue
        current = _initial_lines(rng, seg, emp)
        term_start = start
        while True:
            term_end = _year_later(term_start)
            for ln in current:
                world.lines.append({"i": i, **ln, "start": term_start, "end": term_end, "arr": _line_arr(seg, ln)})
            extra = _mid_term_additions(world, i, seg, emp, current, term_start, term_end)
            renewal = term_end + pd.Timedelta(days=1)
            world.terms.append({"i": i, "renewal": renewal})
            if renewal > end:
                break
            decision = _renewal_decision(world, i, seg, renewal)
            if decision["churn"]:
                comeback = _churn(world, i, renewal, decision)
                if comeback is None:
                    break
                current = [
                    dict(ln, seats=max(3, int(ln["seats"] * 0.7)) if ln["seats"] else None) for ln in current[:1]
                ]
                term_start = comeback
                continue
            current = _renew_lines(world, i, seg, emp, current + extra, renewal)
            term_start = renewal


def _seats_held(lines: list[dict]) -> int:
    return sum(ln["seats"] or 0 for ln in lines if ln["product"] == "Platform")


def _utilization(h: float) -> float:
    """Share of seats with active users, by health (also used for events)."""
    return float(0.95 * sigmoid(0.3 + 1.3 * h))


def _mid_term_additions(
    world: World, i: int, seg: str, emp: int, current: list[dict], term_start: pd.Timestamp, term_end: pd.Timestamp
) -> list[dict]:
    """Seat add-ons bought mid-term as co-terminous lines, likelier when healthy and seats are full."""
    rng, extra = world.rng, []
    for k in (4, 8):
        d = term_start + pd.DateOffset(months=k) + pd.Timedelta(days=int(rng.integers(0, 27)))
        if d > world.end or d > term_end:
            break
        t = month_index(d)
        h = world.health[i, t]
        full = _utilization(h) > 0.8
        p = sigmoid(-3.6 + 1.0 * h + 0.7 * world.champion[i, t] + 1.0 * full)
        headroom = emp - _seats_held(current + extra)
        if rng.random() < p and headroom > 2:
            base = next(ln for ln in current if ln["product"] == "Platform")
            add = int(min(headroom, max(2, base["seats"] * rng.uniform(0.1, 0.3))))
            ln = {"department": base["department"], "product": "Platform", "seats": add}
            world.lines.append({"i": i, **ln, "start": d, "end": term_end, "arr": _line_arr(seg, ln)})
            extra.append(ln)
    return extra


def _bantc(rng: np.random.Generator, h: float, champion: bool) -> dict[str, str]:
    """BANTC answers before a renewal: risk likelier when unhealthy; unknown sometimes."""
    out = {}
    for dim, base in (("budget", -1.6), ("authority", -2.0), ("need", -2.2), ("timeframe", -2.4), ("competitor", -2.0)):
        extra = -0.8 if (dim == "authority" and champion) else 0.0
        p_risk = sigmoid(base - 1.3 * h + extra)
        u = rng.random()
        out[dim] = "risk" if u < p_risk else ("unknown" if u < p_risk + 0.08 else "ok")
    return out


def _renewal_decision(world: World, i: int, seg: str, renewal: pd.Timestamp) -> dict:
    """Churn or renew, from health, stakeholders and the BANTC answers before the renewal."""
    rng = world.rng
    t = month_index(renewal) - 1
    h = float(world.health[i, max(t - 1, 0) : t + 1].mean())
    champ, exe = bool(world.champion[i, t]), bool(world.exec_access[i, t])
    bantc = _bantc(rng, h, champ)
    risk = {k: v == "risk" for k, v in bantc.items()}
    seg_term = {"enterprise": -0.6, "mid_market": 0.0, "smb": 0.35}[seg]
    logit = (
        -2.3
        - 1.25 * h
        + 1.3 * risk["need"]
        + 0.9 * risk["authority"]
        + 0.5 * risk["budget"]
        + 0.4 * risk["competitor"]
        - 0.5 * champ
        - 0.4 * exe
        + seg_term
    )
    churn = bool(rng.random() < sigmoid(logit))
    decision = {
        "i": i,
        "renewal": renewal,
        "churn": churn,
        "health": h,
        "champion": champ,
        "bantc": bantc,
        "risk": risk,
    }
    world.renewals.append(decision)
    return decision


def _churn(world: World, i: int, renewal: pd.Timestamp, decision: dict) -> pd.Timestamp | None:
    """Record a churn and its reason; return the reactivation start date, if the account comes back."""
    rng, risk = world.rng, decision["risk"]
    weights = {
        "low_usage": 1.0 + 2.0 * (decision["health"] < -0.5),
        "champion": 0.5 + 2.0 * (not decision["champion"]),
        "budget": 0.6 + 2.0 * risk["budget"],
        "competitor": 0.4 + 2.5 * risk["competitor"],
        "downsizing": 0.4,
        "features": 0.6 + 1.5 * risk["need"],
    }
    keys = list(weights)
    p = np.array([weights[k] for k in keys])
    reason = keys[rng.choice(len(keys), p=p / p.sum())]
    clean_exit = bool(rng.random() < 0.7)
    world.churns.append(
        {"i": i, "churned_at": renewal, "reason": vocab.CHURN_REASONS[reason], "clean_exit": clean_exit}
    )
    if rng.random() < (0.2 if clean_exit else 0.05):
        back = (renewal + pd.DateOffset(months=int(rng.integers(2, 10)))).replace(day=1)
        if back <= world.end:
            return back
    return None


def _renew_lines(world: World, i: int, seg: str, emp: int, lines: list[dict], renewal: pd.Timestamp) -> list[dict]:
    """Next term's lines: seats grow or shrink, departments and add-ons are added or dropped."""
    rng = world.rng
    t = month_index(renewal) - 1
    h = float(world.health[i, t])
    champ, exe, plan = world.champion[i, t], world.exec_access[i, t], world.success_plan[i, t]
    # merge mid-term additions into their department's Platform line
    merged: dict[tuple, dict] = {}
    for ln in lines:
        key = (ln["department"], ln["product"])
        if key in merged and ln["seats"]:
            merged[key]["seats"] += ln["seats"]
        else:
            merged[key] = dict(ln)
    out = list(merged.values())
    full = _utilization(h) > 0.8
    for ln in out:
        if ln["product"] == "API":
            ln["tier"] = int(np.clip(ln["tier"] + (h > 0.5) - (h < -0.5), 0, len(vocab.API_TIERS) - 1))
            continue
        u = rng.random()
        p_up = sigmoid(-1.2 + 1.0 * h + 0.6 * champ + 0.5 * exe + 0.8 * full)
        p_down = sigmoid(-2.2 - 1.1 * h)
        if u < p_up:
            ln["seats"] = int(ln["seats"] * rng.uniform(1.1, 1.4)) + 1
        elif u < p_up + p_down:
            ln["seats"] = max(2, int(ln["seats"] * rng.uniform(0.6, 0.9)))
    depts = {ln["department"] for ln in out if ln["department"] is not None}
    if depts and len(depts) > 1 and rng.random() < sigmoid(-3.2 - 1.0 * h):
        drop = sorted(depts)[int(rng.integers(len(depts)))]
        out = [ln for ln in out if ln["department"] != drop]
    if depts and rng.random() < sigmoid(-2.0 + 0.9 * h + 0.7 * champ + 0.7 * exe):
        free = [d for d in vocab.DEPARTMENTS if d not in depts]
        if free:
            base = next(ln for ln in out if ln["product"] == "Platform")
            out.append(
                {
                    "department": free[int(rng.integers(len(free)))],
                    "product": "Platform",
                    "seats": max(3, int(base["seats"] * rng.uniform(0.3, 0.8))),
                }
            )
    owned = {ln["product"] for ln in out}
    for addon in ("Analytics", "Workflow"):
        if addon not in owned and rng.random() < sigmoid(-2.6 + 0.8 * h + 0.5 * plan):
            base = next(ln for ln in out if ln["product"] == "Platform")
            out.append({"department": base["department"], "product": addon, "seats": base["seats"]})
    # employee cap on seats, per product
    for product in ("Platform", "Analytics", "Workflow"):
        held = sum(ln["seats"] for ln in out if ln["product"] == product)
        if held > emp:
            for ln in out:
                if ln["product"] == product:
                    ln["seats"] = max(1, int(ln["seats"] * emp / held))
    return out
