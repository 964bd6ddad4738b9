"""The book of business: one row per account with its owner, and the owners' actions for the next 30 days.

Every account of the quarter state lands in exactly one book: its CSM's, or the one unassigned book
when the account has no CSM (placeholder owners such as "unassigned" or "-" are already missing,
`data.meaning.normalise_owners`). Tiers, probabilities and ARR are the state's; renewal dates,
deadlines, next steps, plays and PoCs come from the analyses' tables (`books.inputs.BookInputs`).
"""

from __future__ import annotations

import pandas as pd

from cs_playbook.books.inputs import BookInputs
from cs_playbook.books.owners import owner_of

__all__ = ["ACCOUNT_COLUMNS", "ACTION_COLUMNS", "ACTION_CODES", "book_accounts", "book_actions", "first_actions"]

ACCOUNT_COLUMNS = [
    "owner",
    "account_id",
    "account_name",
    "segment",
    "health_tier",
    "churn_probability",
    "arr",
    "arr_at_risk",
    "next_renewal",
    "decision_deadline",
    "auto_renew",
    "arr_renewing",
    "arr_renewing_at_risk",
    "next_step",
    "next_step_due",
    "prevention_mode",
    "act_by",
    "expansion_play",
    "expansion_expected_arr",
    "open_pocs",
    "poc_arr_at_stake",
]
ACTION_COLUMNS = ["owner", "due", "action", "account_id", "account_name", "renewal_date", "detail", "arr", "overdue"]
# What an action row asks for (codes, translated on the page): in the order a CSM works through a day.
ACTION_CODES = (
    "schedule_step",
    "contact_now",
    "decision_deadline",
    "department_contact",
    "poc_decision",
    "expansion_play",
)


def _first_renewal(calendar: pd.DataFrame) -> pd.DataFrame:
    """Per account, its first renewal in the horizon: renewal_date, decision_deadline, auto_renew."""
    cols = ["account_id", "renewal_date", "decision_deadline", "auto_renew"]
    if calendar.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    first = calendar.sort_values(["account_id", "renewal_date", "arr"], ascending=[True, True, False])
    return first.drop_duplicates("account_id")[cols]


def _next_steps(schedule: pd.DataFrame | None, first: pd.DataFrame) -> pd.DataFrame:
    """The next schedule step of each account's first renewal: account_id, next_step, next_step_due."""
    cols = ["account_id", "next_step", "next_step_due"]
    if schedule is None or schedule.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    steps = schedule.merge(first[["account_id", "renewal_date"]], on=["account_id", "renewal_date"])
    return steps.rename(columns={"next_due": "next_step_due"})[cols]


def _plays(targets: pd.DataFrame) -> pd.DataFrame:
    """The best expansion play of each unguarded account: account_id, expansion_play, expansion_expected_arr."""
    open_ = targets[~targets["guarded"].astype(bool)]
    return open_.rename(columns={"play": "expansion_play", "expected_arr": "expansion_expected_arr"})[
        ["account_id", "expansion_play", "expansion_expected_arr"]
    ].drop_duplicates("account_id")


def _pocs(pocs: pd.DataFrame | None) -> pd.DataFrame:
    """Open PoCs per account: open_pocs (their names) and poc_arr_at_stake."""
    cols = ["account_id", "open_pocs", "poc_arr_at_stake"]
    if pocs is None or pocs.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    out = pocs.groupby("account_id", as_index=False).agg(
        open_pocs=("name", lambda s: ", ".join(sorted(map(str, s)))), poc_arr_at_stake=("arr_at_stake", "sum")
    )
    return out[cols]


def book_accounts(accounts: pd.DataFrame, inputs: BookInputs) -> pd.DataFrame:
    """Every account of the quarter state (`QuarterState.accounts`) with its book's columns (ACCOUNT_COLUMNS).

    owner: the CSM, or None for the unassigned book; next_renewal and decision_deadline: the first
    renewal in the horizon; next_step: its schedule's next step not done; prevention_mode and
    act_by: churn prevention (renewals.prevention); expansion_play: the best play of an account the
    churn guard does not hold back; open_pocs: the names of its open PoCs. Largest ARR at risk first
    within each owner.
    """
    first = _first_renewal(inputs.calendar)
    pri = inputs.priorities.rename(columns={"mode": "prevention_mode"})[["account_id", "prevention_mode", "act_by"]]
    out = accounts.assign(owner=owner_of(accounts["csm"]))
    out = out.merge(first.drop(columns="renewal_date"), on="account_id", how="left")
    out = out.merge(_next_steps(inputs.schedule, first), on="account_id", how="left")
    out = out.merge(pri.drop_duplicates("account_id"), on="account_id", how="left")
    out = out.merge(_plays(inputs.targets), on="account_id", how="left")
    out = out.merge(_pocs(inputs.pocs), on="account_id", how="left")
    out["account_id"] = out["account_id"].astype("string")
    out["auto_renew"] = out["auto_renew"].astype("boolean")
    out["poc_arr_at_stake"] = pd.to_numeric(out["poc_arr_at_stake"], errors="coerce").fillna(0.0)
    for col in ("next_renewal", "decision_deadline", "next_step_due", "act_by"):
        out[col] = pd.to_datetime(out[col])
    key = out["owner"].fillna("\uffff")  # the unassigned book last
    out = out.assign(_key=key).sort_values(["_key", "arr_at_risk", "account_id"], ascending=[True, False, True])
    return out[ACCOUNT_COLUMNS].reset_index(drop=True)


def _deadline_actions(calendar: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Decision deadlines and department contacts that fall from `start` to `end`."""
    parts = []
    for col in ("decision_deadline", "department_contact"):
        rows = calendar[(calendar[col] >= start) & (calendar[col] <= end)]
        detail = rows["department"].astype("string") if col == "department_contact" else pd.NA
        parts.append(
            pd.DataFrame(
                {
                    "account_id": rows["account_id"],
                    "due": rows[col],
                    "action": col,
                    "renewal_date": rows["renewal_date"],
                    "detail": detail,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _step_actions(schedule: pd.DataFrame | None, end: pd.Timestamp) -> pd.DataFrame:
    """Each renewal's next schedule step due by `end` (overdue ones included)."""
    if schedule is None or schedule.empty:
        return pd.DataFrame(columns=["account_id", "due", "action", "renewal_date", "detail"])
    rows = schedule[schedule["next_due"].notna() & (schedule["next_due"] <= end)]
    return pd.DataFrame(
        {
            "account_id": rows["account_id"],
            "due": rows["next_due"],
            "action": "schedule_step",
            "renewal_date": rows["renewal_date"],
            "detail": rows["next_step"],
        }
    )


def _one_per_day(acts: pd.DataFrame) -> pd.DataFrame:
    """One row per account, action, due date and renewal: the details of its departments joined."""
    keys = ["account_id", "due", "action", "renewal_date"]
    detail = acts["detail"].astype("string")
    return (
        acts.assign(detail=detail)
        .groupby(keys, as_index=False, dropna=False, sort=False)["detail"]
        .agg(lambda s: ", ".join(dict.fromkeys(v for v in s.dropna() if v)) or pd.NA)
    )


def book_actions(book: pd.DataFrame, inputs: BookInputs, *, as_of: pd.Timestamp, days: int = 30) -> pd.DataFrame:
    """What each owner has to do in the `days` after as_of, soonest first (ACTION_COLUMNS).

    action (a code of ACTION_CODES): schedule_step (the renewal schedule's next step, overdue ones
    too), contact_now (churn prevention says act now, by act_by), decision_deadline (the
    auto-renewal decision deadline; detail: the renewal date), department_contact (detail: the
    department), poc_decision (an open PoC ends; detail: its next action) and expansion_play (a
    play within CSM capacity; no due date). overdue: the due date is before as_of.
    """
    as_of = pd.Timestamp(as_of).normalize()
    end = as_of + pd.Timedelta(days=days)
    parts = [_deadline_actions(inputs.calendar, as_of, end), _step_actions(inputs.schedule, end)]
    now = inputs.priorities[inputs.priorities["act_when"] == "now"]
    parts.append(
        pd.DataFrame(
            {
                "account_id": now["account_id"],
                "due": now["act_by"],
                "action": "contact_now",
                "renewal_date": now["renewal_date"],
                "detail": now["mode"],
            }
        )
    )
    if inputs.pocs is not None and not inputs.pocs.empty:
        ending = inputs.pocs[inputs.pocs["end_date"] <= end]
        parts.append(
            pd.DataFrame(
                {
                    "account_id": ending["account_id"],
                    "due": ending["end_date"],
                    "action": "poc_decision",
                    "detail": ending["next_action"],
                }
            )
        )
    plays = inputs.targets[inputs.targets["within_capacity"].astype(bool) & ~inputs.targets["guarded"].astype(bool)]
    parts.append(
        pd.DataFrame(
            {"account_id": plays["account_id"], "due": pd.NaT, "action": "expansion_play", "detail": plays["play"]}
        )
    )
    acts = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(len(p) for p in parts) else None
    if acts is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ACTION_COLUMNS})
    acts["account_id"] = acts["account_id"].astype("string")
    acts["due"] = pd.to_datetime(acts["due"])
    acts["renewal_date"] = pd.to_datetime(acts["renewal_date"])
    acts = _one_per_day(acts)
    acts = acts.merge(book[["account_id", "owner", "account_name", "arr"]], on="account_id", how="inner")
    acts["overdue"] = (acts["due"] < as_of).fillna(False).astype(bool)
    acts["_order"] = acts["action"].map({c: i for i, c in enumerate(ACTION_CODES)})
    acts["_owner"] = acts["owner"].fillna("\uffff")
    acts = acts.sort_values(["_owner", "due", "_order", "arr"], ascending=[True, True, True, False], na_position="last")
    acts["detail"] = acts["detail"].astype("string")
    return acts[ACTION_COLUMNS].reset_index(drop=True)


def first_actions(actions: pd.DataFrame, *, unassigned: str, n: int = 5) -> pd.DataFrame:
    """The `n` most urgent dated actions of all books (overdue first, then soonest, larger ARR first).

    Returns account_name, owner (`unassigned` for the unassigned book), due, action, detail: the decision box's list.
    """
    dated = actions[actions["due"].notna()].sort_values(["due", "arr"], ascending=[True, False]).head(n)
    out = dated[["account_name", "owner", "due", "action", "detail"]].copy()
    out["owner"] = out["owner"].astype("string").fillna(unassigned)
    return out.reset_index(drop=True)
