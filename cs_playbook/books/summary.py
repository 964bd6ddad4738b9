"""Per-CSM figures of the books, the notebook's summary figures and the checks that the books cover the state."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from cs_playbook.books.owners import book_slug
from cs_playbook.modeling.scorecard import TIERS

__all__ = ["FIGURE_COLUMNS", "book_figures", "consistency_checks", "summary_record"]

FIGURE_COLUMNS = [
    "owner",
    "book",
    "accounts",
    "bad_accounts",
    "arr",
    "arr_at_risk",
    "arr_renewing",
    "arr_renewing_at_risk",
    "actions",
    "overdue_actions",
]


def book_figures(book: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """One row per book (FIGURE_COLUMNS): owner (<NA> for the unassigned book), book (its file slug), counts and ARR.

    actions counts the owner's actions of the next 30 days (`book_actions`), overdue_actions those
    already past their due date. Largest ARR at risk first; the unassigned book last.
    """
    key = book["owner"].fillna("\uffff")
    grouped = book.assign(_key=key, _bad=book["health_tier"].astype("string") == TIERS[-1]).groupby("_key")
    out = grouped.agg(
        owner=("owner", "first"),
        accounts=("account_id", "size"),
        bad_accounts=("_bad", "sum"),
        arr=("arr", "sum"),
        arr_at_risk=("arr_at_risk", "sum"),
        arr_renewing=("arr_renewing", "sum"),
        arr_renewing_at_risk=("arr_renewing_at_risk", "sum"),
    )
    acts = actions.assign(_key=actions["owner"].fillna("\uffff")).groupby("_key")
    out["actions"] = acts.size().reindex(out.index).fillna(0).astype("int64")
    out["overdue_actions"] = acts["overdue"].sum().reindex(out.index).fillna(0).astype("int64")
    out["book"] = [book_slug(o) for o in out["owner"]]
    out["bad_accounts"] = out["bad_accounts"].astype("int64")
    out = out.assign(_unassigned=out["owner"].isna()).sort_values(
        ["_unassigned", "arr_at_risk"], ascending=[True, False]
    )
    return out[FIGURE_COLUMNS].reset_index(drop=True)


def consistency_checks(
    book: pd.DataFrame, actions: pd.DataFrame, figures: pd.DataFrame, accounts: pd.DataFrame
) -> dict[str, bool]:
    """What must hold between the books and the quarter state's accounts (`QuarterState.accounts`)."""
    ids = book["account_id"].astype("string")
    same = math.isclose
    return {
        "every_account_in_exactly_one_book": bool(
            ids.is_unique and set(ids) == set(accounts["account_id"].astype("string"))
        ),
        "books_add_up_to_the_state": bool(
            same(float(figures["arr"].sum()), float(accounts["arr"].sum()), rel_tol=1e-9, abs_tol=0.5)
            and same(
                float(figures["arr_at_risk"].sum()), float(accounts["arr_at_risk"].sum()), rel_tol=1e-9, abs_tol=0.5
            )
            and same(
                float(figures["arr_renewing"].sum()), float(accounts["arr_renewing"].sum()), rel_tol=1e-9, abs_tol=0.5
            )
        ),
        "one_file_name_per_book": bool(
            figures["book"].is_unique and len(figures) == book["owner"].nunique(dropna=False)
        ),
        "actions_are_in_their_owners_book": bool(
            actions.merge(book[["account_id", "owner"]], on="account_id", suffixes=("", "_book")).pipe(
                lambda m: len(m) == len(actions) and (m["owner"].fillna("") == m["owner_book"].fillna("")).all()
            )
        ),
    }


def summary_record(figures: pd.DataFrame, *, money: Any, unassigned: str) -> list[dict[str, Any]]:
    """summary.json "books": owner (`unassigned` for the unassigned book), page, xlsx, accounts, arr_at_risk (`money`)."""
    return [
        {
            "owner": row.owner if isinstance(row.owner, str) else unassigned,
            "page": f"books/{row.book}.html",
            "xlsx": f"books/{row.book}.xlsx",
            "accounts": int(row.accounts),
            "arr_at_risk": money(row.arr_at_risk),
        }
        for row in figures.itertuples(index=False)
    ]
