"""CSM activity hygiene: meeting notes must be logged after every meeting [000].

A blank record for a past meeting is flagged, so the qualitative history that complements
the health score stays complete.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["MEETING_TYPES", "MeetingNotes", "meetings_without_notes", "notes_compliance", "meeting_notes"]

MEETING_TYPES = ("meeting", "qbr", "ebr", "onboarding")


def meetings_without_notes(
    activities: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    grace_days: int = 2,
    meeting_types: tuple[str, ...] | list[str] = MEETING_TYPES,
) -> pd.DataFrame:
    """Past meetings (older than `grace_days` at `as_of`) with no notes logged, newest first.

    Returns the activities rows (account_id, occurred_at, activity_type, notes_logged) plus
    days_since.
    """
    cutoff = as_of - pd.Timedelta(days=grace_days)
    past = activities[activities["activity_type"].isin(list(meeting_types)) & (activities["occurred_at"] <= cutoff)]
    missing = past[~past["notes_logged"].astype(bool)].copy()
    missing["days_since"] = (as_of - missing["occurred_at"]).dt.days
    return missing.sort_values("occurred_at", ascending=False).reset_index(drop=True)


def notes_compliance(
    activities: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    meeting_types: tuple[str, ...] | list[str] = MEETING_TYPES,
) -> pd.DataFrame:
    """Share of meetings in [start, end] with notes logged, per CSM (and a total row 'All').

    Returns csm, meetings, with_notes, without_notes, compliance.
    """
    inside = activities[
        activities["activity_type"].isin(list(meeting_types))
        & (activities["occurred_at"] >= start)
        & (activities["occurred_at"] < end + pd.Timedelta(days=1))
    ].merge(accounts[["account_id", "csm"]], on="account_id", how="left")
    inside["csm"] = inside["csm"].fillna("(unassigned)")
    inside["notes"] = inside["notes_logged"].astype(bool)
    per = inside.groupby("csm", as_index=False).agg(meetings=("notes", "size"), with_notes=("notes", "sum"))
    total = pd.DataFrame({"csm": ["All"], "meetings": [per["meetings"].sum()], "with_notes": [per["with_notes"].sum()]})
    out = pd.concat([per.sort_values("meetings", ascending=False), total], ignore_index=True)
    out["with_notes"] = out["with_notes"].astype("int64")
    out["meetings"] = out["meetings"].astype("int64")
    out["without_notes"] = out["meetings"] - out["with_notes"]
    out["compliance"] = out["with_notes"] / out["meetings"].where(out["meetings"] > 0)
    return out


@dataclass
class MeetingNotes:
    """Meeting-notes hygiene of one window, from one set of meetings: the chart and the figures agree."""

    compliance: pd.DataFrame  # notes_compliance of the meetings due by as_of
    missing: pd.DataFrame  # meetings_without_notes among the same meetings

    @property
    def meetings_without_notes(self) -> int:
        """Meetings due by as_of without notes (the 'All' row of compliance, the rows of missing)."""
        return int(len(self.missing))


def meeting_notes(
    activities: pd.DataFrame,
    accounts: pd.DataFrame,
    *,
    start: pd.Timestamp,
    as_of: pd.Timestamp,
    grace_days: int = 2,
    meeting_types: tuple[str, ...] | list[str] = MEETING_TYPES,
) -> MeetingNotes:
    """Notes compliance per CSM and the meetings without notes, over the meetings from `start` due by `as_of`.

    A meeting is due when it is older than `grace_days` at `as_of` (the rule of meetings_without_notes);
    compliance and the missing list are computed from the same meetings, so their counts agree.
    """
    as_of = pd.Timestamp(as_of).normalize()
    due = activities[
        (activities["occurred_at"] >= pd.Timestamp(start))
        & (activities["occurred_at"] <= as_of - pd.Timedelta(days=grace_days))
    ]
    return MeetingNotes(
        compliance=notes_compliance(due, accounts, start=start, end=as_of, meeting_types=meeting_types),
        missing=meetings_without_notes(due, as_of=as_of, grace_days=grace_days, meeting_types=meeting_types),
    )
