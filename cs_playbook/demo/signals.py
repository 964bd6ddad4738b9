"""Signals the hidden health drives: tickets, NPS, CSM activities, stakeholders, BANTC, churn reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.demo import vocab
from cs_playbook.demo.simulate import DATA_START, World, month_index, month_start, sigmoid


def contract_matrices(world: World) -> tuple[np.ndarray, np.ndarray]:
    """Per account and month (month-end snapshot): active contract (bool) and Platform seats held."""
    a, t_n = len(world.accounts), world.n_months
    active = np.zeros((a, t_n), dtype=bool)
    seats = np.zeros((a, t_n))
    for ln in world.lines:
        first = month_index(ln["start"])
        end = ln["end"]
        last = month_index(end) - (0 if end == end + pd.offsets.MonthEnd(0) else 1)
        last = min(last, t_n - 1)
        if last < first:
            continue
        active[ln["i"], first : last + 1] = True
        if ln["product"] == "Platform":
            seats[ln["i"], first : last + 1] += ln["seats"]
    return active, seats


def _data_months(world: World) -> range:
    return range(month_index(DATA_START), world.n_months)


def _random_times(
    rng: np.random.Generator, months: np.ndarray, end: pd.Timestamp, *, hours: bool = True
) -> pd.DatetimeIndex:
    """A random moment in each given month (business hours mostly), never after the end date."""
    starts = pd.DatetimeIndex([month_start(t) for t in np.unique(months)])
    lookup = dict(zip(np.unique(months), starts, strict=True))
    base = pd.DatetimeIndex([lookup[t] for t in months])
    days = rng.integers(0, base.days_in_month.to_numpy())
    secs = rng.integers(9 * 3600, 19 * 3600, len(months)) if hours else np.zeros(len(months), dtype=int)
    out = base + pd.to_timedelta(days, "D") + pd.to_timedelta(secs, "s")
    cap = end + pd.Timedelta(hours=18)
    return out.where(out <= cap, cap - pd.to_timedelta(rng.integers(0, 5 * 86400, len(months)), "s"))


def simulate_tickets(world: World, active: np.ndarray, seats: np.ndarray) -> pd.DataFrame:
    """Support tickets: more, and more severe, when health is low."""
    rng = world.rng
    rows_i, rows_t = [], []
    for t in _data_months(world):
        lam = 0.05 * np.power(np.maximum(seats[:, t], 1), 0.6) * np.exp(-0.7 * world.health[:, t]) * active[:, t]
        k = rng.poisson(lam)
        rows_i.append(np.repeat(np.arange(len(k)), k))
        rows_t.append(np.full(k.sum(), t))
    i, t = np.concatenate(rows_i), np.concatenate(rows_t)
    h = world.health[i, t]
    u = rng.random(len(i))
    p_crit, p_high = sigmoid(-3.6 - 0.9 * h), sigmoid(-1.9 - 0.8 * h)
    severity = np.where(
        u < p_crit, "critical", np.where(u < p_crit + p_high, "high", np.where(u < 0.6, "medium", "low"))
    )
    opened = _random_times(rng, t, world.end)
    mean_days = np.select([severity == "critical", severity == "high"], [1.5, 3.0], 6.0)
    closed = opened + pd.to_timedelta(rng.exponential(mean_days) * 86400, "s")
    closed = closed.where(closed <= world.end + pd.Timedelta(hours=23), pd.NaT)
    df = pd.DataFrame({"account_idx": i, "opened_at": opened, "severity": severity, "closed_at": closed})
    df = df.sort_values(["opened_at", "account_idx"]).reset_index(drop=True)
    df.insert(0, "ticket_id", [f"T{n + 1:06d}" for n in range(len(df))])
    return df


def simulate_surveys(world: World, active: np.ndarray) -> pd.DataFrame:
    """Quarterly NPS answers from about 45% of active accounts; higher when healthy."""
    rng = world.rng
    rows = []
    for t in _data_months(world):
        if month_start(t).month % 3 != 0:
            continue
        ask = active[:, t] & (rng.random(active.shape[0]) < 0.45)
        i = np.nonzero(ask)[0]
        score = np.clip(np.round(7.2 + 1.6 * world.health[i, t] + rng.normal(0, 1.3, len(i))), 0, 10).astype(int)
        rows.append(pd.DataFrame({"account_idx": i, "t": t, "score": score}))
    df = pd.concat(rows, ignore_index=True)
    df["responded_at"] = _random_times(rng, df["t"].to_numpy(), world.end)
    return df.drop(columns="t").sort_values(["responded_at", "account_idx"]).reset_index(drop=True)


def simulate_activities(world: World, active: np.ndarray) -> pd.DataFrame:
    """CSM touchpoints by coverage model, plus the five renewal-schedule steps before each renewal."""
    rng, acc = world.rng, world.accounts
    seg = acc["segment"].to_numpy()
    has_csm = acc["csm"].notna().to_numpy()
    rate = np.select([seg == "enterprise", seg == "mid_market"], [1.4, 0.55], 0.15) * has_csm
    csm_compliance = {c: 0.85 + 0.14 * ((k * 7) % 10) / 10 for k, c in enumerate(vocab.CSMS)}
    comp = acc["csm"].map(csm_compliance).fillna(0.9).to_numpy()
    frames = []
    first_month = active.argmax(axis=1)
    for t in _data_months(world):
        on = active[:, t]
        for kind, lam in (("meeting", rate), ("call", 0.5 * rate), ("email", 0.8 * rate + 0.3 * on)):
            k = rng.poisson(lam * on)
            i = np.repeat(np.arange(len(k)), k)
            frames.append(pd.DataFrame({"account_idx": i, "t": t, "activity_type": kind}))
        quarter_start = month_start(t).month % 3 == 1
        if quarter_start:
            i = np.nonzero(on & (seg == "enterprise") & has_csm & (rng.random(len(on)) < 0.7))[0]
            frames.append(pd.DataFrame({"account_idx": i, "t": t, "activity_type": "qbr"}))
        if month_start(t).month == 4:
            i = np.nonzero(on & (seg == "enterprise") & has_csm & (rng.random(len(on)) < 0.5))[0]
            frames.append(pd.DataFrame({"account_idx": i, "t": t, "activity_type": "ebr"}))
        i = np.nonzero(on & ((t - first_month) < 2) & has_csm)[0]
        frames.append(pd.DataFrame({"account_idx": i, "t": t, "activity_type": "onboarding"}))
    df = pd.concat(frames, ignore_index=True)
    df["occurred_at"] = _random_times(rng, df["t"].to_numpy(), world.end)
    is_meeting = df["activity_type"].isin(["meeting", "qbr", "ebr", "onboarding"]).to_numpy()
    p_notes = np.where(is_meeting, comp[df["account_idx"].to_numpy()], 0.6)
    df["notes_logged"] = rng.random(len(df)) < p_notes
    steps = _renewal_steps(world, has_csm)
    df = pd.concat([df.drop(columns="t"), steps], ignore_index=True)
    return df.sort_values(["occurred_at", "account_idx"]).reset_index(drop=True)


def _renewal_steps(world: World, has_csm: np.ndarray) -> pd.DataFrame:
    """Renewal schedule steps from three months out; often missed where the account later churns."""
    rng = world.rng
    churned = {(d["i"], d["renewal"]) for d in world.renewals if d["churn"]}
    offsets = {
        "power_map": 90,
        "usage_review": 80,
        "dissatisfaction_check": 70,
        "renewal_intent": 50,
        "upsell_proposal": 40,
    }
    rows = []
    for term in world.terms:
        i, r = term["i"], term["renewal"]
        if not has_csm[i] or r - pd.Timedelta(days=90) < DATA_START:
            continue
        h = world.health[i, min(month_index(r) - 3, world.n_months - 1)]
        p_do = 0.55 if (i, r) in churned else float(0.7 + 0.25 * sigmoid(1.5 * h))
        for step, days in offsets.items():
            if rng.random() >= p_do:
                continue
            when = (
                r
                - pd.Timedelta(days=days)
                + pd.Timedelta(days=int(rng.integers(0, 12)), hours=int(rng.integers(9, 18)))
            )
            if when <= world.end:
                rows.append(
                    {
                        "account_idx": i,
                        "occurred_at": when,
                        "activity_type": step,
                        "notes_logged": bool(rng.random() < 0.9),
                    }
                )
    return pd.DataFrame(rows, columns=["account_idx", "occurred_at", "activity_type", "notes_logged"])


def stakeholder_snapshots(world: World, active: np.ndarray) -> pd.DataFrame:
    """Quarter-end snapshots of champion, executive access and success plan while active.

    About 10% of accounts stop being updated at some point (records go stale).
    """
    rng = world.rng
    stale_from = np.where(
        rng.random(active.shape[0]) < 0.1, rng.integers(month_index(DATA_START), world.n_months, active.shape[0]), 10**6
    )
    rows = []
    for t in _data_months(world):
        if month_start(t).month % 3 != 0:
            continue
        i = np.nonzero(active[:, t] & (t < stale_from))[0]
        as_of = month_start(t) + pd.offsets.MonthEnd(0)
        if as_of > world.end:
            continue
        rows.append(
            pd.DataFrame(
                {
                    "account_idx": i,
                    "as_of": as_of,
                    "champion": world.champion[i, t],
                    "exec_access": world.exec_access[i, t],
                    "success_plan": world.success_plan[i, t],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def bantc_assessments(world: World) -> pd.DataFrame:
    """One BANTC assessment 40-90 days before most renewals; some stale, some missing."""
    from cs_playbook.demo.simulate import _bantc

    rng = world.rng
    decided = {(d["i"], d["renewal"]): d["bantc"] for d in world.renewals}
    rows = []
    for term in world.terms:
        i, r = term["i"], term["renewal"]
        u = rng.random()
        if u < 0.08:
            continue  # missing
        days = int(rng.integers(200, 300)) if u < 0.15 else int(rng.integers(40, 91))
        when = r - pd.Timedelta(days=days)
        if when < DATA_START or when > world.end:
            continue
        t = month_index(when)
        answers = decided.get((i, r)) or _bantc(rng, float(world.health[i, t]), bool(world.champion[i, t]))
        rows.append({"account_idx": i, "assessed_at": when, **answers})
    return pd.DataFrame(rows)


def churn_reasons(world: World) -> pd.DataFrame:
    """One row per churn inside the data window, with the reason as recorded in the CRM."""
    rows = [
        {"account_idx": c["i"], "churned_at": c["churned_at"], "reason": c["reason"]}
        for c in world.churns
        if c["churned_at"] >= DATA_START
    ]
    return pd.DataFrame(rows, columns=["account_idx", "churned_at", "reason"])
