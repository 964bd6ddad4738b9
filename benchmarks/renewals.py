"""Renewal deadlines at scale (by hand): vectorised business-day arithmetic against a per-line loop.

`python benchmarks/renewals.py --lines 100000` prints the time to compute the decision deadline,
department contact and schedule window of N renewals (JP calendar with 年末年始), the same through a
per-line loop on a sample (the baseline, measured in the same run and scaled to N), and the whole
renewal pipeline (calendar, schedule, BANTC, priorities) on the demo company when it exists.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from cs_playbook.config import DEMO_DIR
from cs_playbook.renewals.business_days import CalendarParams, business_calendar, business_days_before
from cs_playbook.renewals.calendar import RenewalParams, renewal_deadlines


def _loop(dates: pd.Series, cal) -> list[pd.Timestamp]:
    """The baseline: one call per renewal, as a row-by-row implementation would do."""
    return [business_days_before(pd.Timestamp(d), 20, cal) for d in dates]


def _pipeline() -> dict:
    from cs_playbook.data import revenue
    from cs_playbook.data.io import load_dataset
    from cs_playbook.renewals import calendar as renewals
    from cs_playbook.renewals import churn_review
    from cs_playbook.renewals import prevention as churn_prevention

    if not (DEMO_DIR / "accounts.csv").exists():
        return {"pipeline": "skipped (no demo company in data/demo)"}
    ds = load_dataset(str(DEMO_DIR))
    p = RenewalParams()
    start = time.perf_counter()
    cal = renewals.calendar_for(ds.subscriptions, p.calendar, as_of=ds.as_of)
    calendar = renewals.renewal_calendar(ds.subscriptions, ds.accounts, cal, p, as_of=ds.as_of)
    steps = renewals.schedule_status(calendar, ds.get("activities"), p.steps, cal, as_of=ds.as_of)
    readiness = renewals.bantc_readiness(calendar, ds.get("bantc"), p.bantc, as_of=ds.as_of)
    risk = churn_review.segment_churn_risk(
        revenue.monthly_mrr(ds.subscriptions, end=ds.as_of), ds.accounts, as_of=ds.as_of
    )
    acc = churn_prevention.renewal_accounts(calendar, schedule=renewals.schedule_summary(steps), bantc=readiness)
    pr = churn_prevention.prioritise(acc, risk, cal, p.priority, as_of=ds.as_of)
    return {
        "demo_renewals": len(calendar),
        "demo_accounts": len(pr),
        "pipeline_s": round(time.perf_counter() - start, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    cal = business_calendar(CalendarParams(), years=(2024, 2031))
    dates = pd.Series(pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, args.lines), unit="D"))
    frame = pd.DataFrame({"renewal_date": dates, "department": np.where(rng.random(args.lines) < 0.5, "営業部", "")})
    start = time.perf_counter()
    out = renewal_deadlines(frame, cal, as_of=pd.Timestamp("2026-10-31"))
    vector_s = time.perf_counter() - start
    start = time.perf_counter()
    looped = _loop(dates.head(args.sample), cal)
    loop_s = (time.perf_counter() - start) * args.lines / args.sample
    same = out["decision_deadline"].head(args.sample).tolist() == looped
    print(
        json.dumps(
            {
                "lines": args.lines,
                "vectorised_all_dates_s": round(vector_s, 3),
                "loop_deadline_only_s_scaled": round(loop_s, 2),
                "speed_up": round(loop_s / vector_s, 1),
                "same_deadlines": same,
                **_pipeline(),
            }
        )
    )


if __name__ == "__main__":
    main()
