"""PoCs: land small in a few departments, then expand. A hidden PoC fit drives criteria and outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_playbook.demo import vocab
from cs_playbook.demo.simulate import DATA_START, World, month_index, sigmoid


def simulate_pocs(world: World, n_target: int) -> None:
    """PoCs in uncontracted departments of department-contracted accounts; won ones add a contract line."""
    rng, end = world.rng, world.end
    by_account: dict[int, list[dict]] = {}
    for ln in world.lines:
        by_account.setdefault(ln["i"], []).append(ln)
    candidates = [
        i
        for i, lines in by_account.items()
        if any(ln["department"] for ln in lines) and world.accounts.at[i, "segment"] != "smb"
    ]
    rng.shuffle(candidates)
    n_open = max(2, n_target // 8)
    for k, i in enumerate(candidates[:n_target]):
        lines = by_account[i]
        is_open = k < n_open
        if is_open:
            start = end - pd.Timedelta(days=int(rng.integers(10, 50)))
        else:
            start = DATA_START + pd.Timedelta(days=int(rng.integers(30, (end - DATA_START).days - 120)))
        active_lines = [ln for ln in lines if ln["start"] <= start <= ln["end"]]
        if not active_lines:
            continue
        held = {ln["department"] for ln in active_lines if ln["department"]}
        free = [d for d in vocab.DEPARTMENTS if d not in held]
        if not free:
            continue
        scope = list(rng.choice(free, size=min(len(free), int(rng.integers(1, 3))), replace=False))
        length = int(rng.choice([30, 45, 60, 90]))
        poc_end = start + pd.Timedelta(days=length)
        fit = float(rng.normal(0.3, 1.0) + 0.5 * world.health[i, month_index(start)])
        users = {d: int(rng.integers(8, 30)) for d in scope}
        poc = {
            "i": i,
            "poc_id": f"P{len(world.pocs) + 1:04d}",
            "start": start,
            "end": poc_end,
            "scope": scope,
            "fit": fit,
            "users": users,
            "is_open": is_open,
        }
        if not is_open:
            won = bool(rng.random() < sigmoid(1.1 + 1.6 * fit))
            poc["outcome"] = "won" if won else "lost"
            poc["decided_at"] = poc_end + pd.Timedelta(days=int(rng.integers(3, 30)))
            if won and poc["decided_at"] < end:
                term = max(active_lines, key=lambda ln: ln["end"])
                sign = poc["decided_at"] + pd.Timedelta(days=int(rng.integers(1, 20)))
                if sign < term["end"]:
                    for d in scope:
                        seats = users[d] + int(rng.integers(0, 10))
                        arr = float(
                            round(
                                vocab.PLATFORM_PRICE
                                * (1 - vocab.SEGMENT_DISCOUNT[world.accounts.at[i, "segment"]])
                                * seats,
                                -2,
                            )
                        )
                        world.lines.append(
                            {
                                "i": i,
                                "department": d,
                                "product": "Platform",
                                "seats": seats,
                                "start": sign,
                                "end": term["end"],
                                "arr": arr,
                            }
                        )
        else:
            poc["outcome"], poc["decided_at"] = "open", pd.NaT
        poc["arr_at_stake"] = float(sum(round(vocab.PLATFORM_PRICE * 0.85 * (n + 5), -2) for n in users.values()))
        world.pocs.append(poc)


def _poc_row(p: dict) -> dict:
    """One row of pocs (account_idx, not yet account_id)."""
    return {
        "account_idx": p["i"],
        "poc_id": p["poc_id"],
        "name": f"{'・'.join(p['scope'])} PoC",
        "objective": f"{'・'.join(p['scope'])}での定着と業務時間の削減を検証する",
        "start_date": p["start"].normalize(),
        "end_date": p["end"].normalize(),
        "scope": ";".join(p["scope"]),
        "arr_at_stake": p["arr_at_stake"],
        "outcome": p["outcome"],
        "decided_at": p["decided_at"].normalize() if pd.notna(p["decided_at"]) else pd.NaT,
    }


def _criteria_rows(p: dict, rng: np.random.Generator) -> tuple[list[dict], str]:
    """The PoC's criteria rows (three from events, one drawn manual) and the manual criterion's metric."""
    n_users = sum(p["users"].values())
    crit = [
        ("C1", "対象部署の週次アクティブ率 60%以上", "active_user_share", ">=", 0.6, True, 3.0, "events"),
        (
            "C2",
            "アクティブ利用者1人あたり週1件以上のレポート作成",
            "events_per_active_user:create_report",
            ">=",
            1.0,
            False,
            2.0,
            "events",
        ),
        (
            "C3",
            f"週次アクティブ利用者 {max(3, round(0.5 * n_users))}人以上",
            "active_users",
            ">=",
            float(max(3, round(0.5 * n_users))),
            False,
            1.0,
            "events",
        ),
    ]
    metric, desc, comp, target = vocab.MANUAL_CRITERIA[int(rng.integers(len(vocab.MANUAL_CRITERIA)))]
    crit.append(("C4", desc, metric, comp, target, bool(rng.random() < 0.5), 2.0, "manual"))
    keys = ("criterion_id", "description", "metric", "comparator", "target", "must_have", "weight", "source")
    return [{"poc_id": p["poc_id"], **dict(zip(keys, c, strict=True))} for c in crit], metric


def _manual_measurements(p: dict, metric: str, rng: np.random.Generator, end: pd.Timestamp) -> list[dict]:
    """Weekly measurements of the manual criterion C4, drifting from a start value to one set by the PoC's fit."""
    weeks = pd.date_range(p["start"] + pd.Timedelta(days=7), min(p["end"], end), freq="7D")
    final = {
        "time_saved_hours": 3.0 * np.exp(0.35 * p["fit"]),
        "satisfaction_score": np.clip(3.7 + 0.5 * p["fit"], 1, 5),
        "error_rate": 0.06 * np.exp(-0.4 * p["fit"]),
    }[metric]
    start_val = {"time_saved_hours": 0.5, "satisfaction_score": 3.0, "error_rate": 0.1}[metric]
    n_weeks = max(1, int((p["end"] - p["start"]).days // 7))
    rows = []
    for w, day in enumerate(weeks, start=1):
        frac = min(1.0, w / n_weeks) ** 0.7
        noise = rng.normal(0, 0.05 * abs(final) + 0.01)
        val = start_val + (final - start_val) * frac + noise
        if metric == "satisfaction_score":
            val = float(np.clip(val, 1, 5))
        rows.append(
            {
                "poc_id": p["poc_id"],
                "criterion_id": "C4",
                "measured_at": day.normalize(),
                "value": round(max(val, 0.0), 4),
            }
        )
    return rows


def poc_tables(world: World) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """pocs, poc_criteria and poc_measurements (manual criteria measured weekly in the window)."""
    pocs, criteria, measures = [], [], []
    for p in world.pocs:
        pocs.append(_poc_row(p))
        rows, metric = _criteria_rows(p, world.rng)
        criteria += rows
        measures += _manual_measurements(p, metric, world.rng, world.end)
    return (
        pd.DataFrame(pocs),
        pd.DataFrame(criteria),
        pd.DataFrame(measures, columns=["poc_id", "criterion_id", "measured_at", "value"]),
    )
