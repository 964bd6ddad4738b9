"""Benchmark: ROI Monte Carlo of 10,000 draws for 1,000 accounts, vectorised vs a per-draw Python loop.

Run by hand: `python benchmarks/roi_monte_carlo.py [--accounts 1000] [--draws 10000]`. The accounts
are synthetic (lognormal ARR, seats and measured active users) but go through the real path:
the project's params/roi.yaml templates, `roi_facts.bind_inputs` on a usage table, then
`roi.monte_carlo`. The baseline draws each input as a scalar and builds each draw's
month-by-month cash flows (`roi_cashflow.cash_flows`), on a subset of accounts and draws, and
is extrapolated to the full size. Each side runs in its own process so peak memory (max RSS)
is its own. Prints time, draws per second, peak memory, the ratio and the two P50s of the
subset (they agree within sampling error). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2026-09-30")
TEMPLATES = ["report_automation_smb", "report_automation", "report_automation_enterprise", "sales_enablement"]
SHARES = [0.6, 0.25, 0.08, 0.07]


def synthetic_portfolio(n_accounts: int, draws: int, seed: int = 1):
    """Inputs, models, terms and params for n synthetic accounts, bound through the real code path."""
    from cs_playbook.params import load_params
    from cs_playbook.roi.facts import bind_inputs
    from cs_playbook.roi.model import RoiParams, compile_models

    rng = np.random.default_rng(seed)
    params = load_params("roi", RoiParams, overrides={"monte_carlo": {"draws": draws}})
    models = compile_models(params, "JPY")
    ids = np.array([f"B{i:06d}" for i in range(n_accounts)])
    seats = np.maximum(5, rng.lognormal(4.0, 1.0, n_accounts)).round()
    assignment = pd.DataFrame(
        {"account_id": ids, "model": rng.choice(TEMPLATES, n_accounts, p=SHARES), "assigned_by": "rule", "reason": ""}
    )
    terms = pd.DataFrame(
        {
            "account_id": ids,
            "arr": seats * 18_000,
            "signing_month": AS_OF.to_period("M").to_timestamp() - pd.DateOffset(months=18),
            "arr_at_signing": seats * 15_000,
            "seats_at_signing": seats,
            "months_since_signing": 19,
        }
    )
    months = pd.date_range("2026-07-01", "2026-09-01", freq="MS")
    usage = pd.DataFrame(
        {
            "account_id": np.repeat(ids, len(months)),
            "period_start": np.tile(months, n_accounts),
            "active_users": rng.poisson(np.repeat(seats * 0.3, len(months))).astype("float64"),
        }
    )
    inputs = bind_inputs(assignment, models, terms, usage, as_of=AS_OF, window_months=3)
    return inputs, models, terms, params


def per_draw_loop(inputs, models, terms, params, account_ids, draws: int, seed: int) -> dict[str, float]:
    """The straightforward way: scalar draws, one model evaluation and one cash-flow table per draw."""
    from cs_playbook.roi.cashflow import cash_flows, npv

    rng = np.random.default_rng(seed)
    arr = terms.set_index("account_id")["arr"]
    p50 = {}
    for acc in account_ids:
        rows = inputs[inputs["account_id"] == acc]
        model = models[rows["model"].iloc[0]]
        ramp = model.ramp_curve(params.horizon_months)
        rois = []
        for _ in range(draws):
            values = {}
            for r in rows.itertuples():
                x = r.base
                if r.high > r.low:
                    a = 1 + 4 * (r.base - r.low) / (r.high - r.low)
                    b = 1 + 4 * (r.high - r.base) / (r.high - r.low)
                    x = r.low + (r.high - r.low) * rng.beta(a, b)
                values[r.input] = x * model.units[r.input].scale
            amounts = model.evaluate(values)
            benefit = sum(v for k, v in amounts.items() if k.startswith("benefits."))
            recurring = sum(amounts[f"costs.{c}"] for c in model.recurring_costs)
            one_off = sum(amounts[f"costs.{c}"] for c in model.one_off_costs)
            cf = cash_flows(
                benefit,
                recurring,
                one_off,
                float(arr[acc]),
                ramp=ramp,
                billing=params.subscription_billing,
                annual_rate=params.discount_rate,
            )
            cost = cf["subscription"].sum() + cf["other_costs"].sum()
            rois.append((cf["benefit"].sum() - cost) / cost)
            npv(cf["net"].to_numpy(), params.discount_rate)
        p50[acc] = float(np.median(rois))
    return p50


def worker(kind: str, n_accounts: int, draws: int, subset: int, subset_draws: int) -> dict:
    from cs_playbook.roi import scenarios as roi

    inputs, models, terms, params = synthetic_portfolio(n_accounts, draws)
    ids = sorted(inputs["account_id"].unique())[:subset]
    start = time.perf_counter()
    if kind == "vectorized":
        sim = roi.monte_carlo(inputs, models, terms, params)
        p50 = dict(zip(sim["account_id"], sim["roi_p50"], strict=True))
        p50 = {a: float(p50[a]) for a in ids}
        cells = len(sim) * draws
    else:
        p50 = per_draw_loop(inputs, models, terms, params, ids, subset_draws, seed=5)
        cells = len(ids) * subset_draws
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "draws": cells, "peak_mb": peak_mb, "p50": p50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--subset", type=int, default=4, help="accounts in the baseline run")
    parser.add_argument("--subset-draws", type=int, default=300, help="draws per account in the baseline run")
    parser.add_argument("--worker", choices=["vectorized", "loop"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.accounts, args.draws, args.subset, args.subset_draws)))
        return
    results = {}
    for kind in ("vectorized", "loop"):
        cmd = [sys.executable, __file__, "--worker", kind, "--accounts", str(args.accounts), "--draws", str(args.draws)]
        cmd += ["--subset", str(args.subset), "--subset-draws", str(args.subset_draws)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[kind] = json.loads(out.strip().splitlines()[-1])
    vec, loop = results["vectorized"], results["loop"]
    total = args.accounts * args.draws
    loop_rate = loop["draws"] / loop["seconds"]
    loop_full = total / loop_rate
    print(f"ROI Monte Carlo: {args.accounts:,} accounts x {args.draws:,} draws = {total:,} simulated cases")
    print(
        f"  vectorised (roi.monte_carlo):   {vec['seconds']:8.2f} s   {vec['draws'] / vec['seconds']:14,.0f} draws/s"
        f"   peak RSS {vec['peak_mb']:,.0f} MB"
    )
    print(
        f"  per-draw Python loop (baseline): {loop['seconds']:7.2f} s for {loop['draws']:,} draws"
        f" ({args.subset} accounts x {args.subset_draws}) = {loop_rate:,.0f} draws/s   peak RSS {loop['peak_mb']:,.0f} MB"
    )
    print(f"  baseline extrapolated to the full size: {loop_full:,.0f} s ({loop_full / 3600:.1f} h)")
    print(f"  ratio: vectorised is {loop_full / vec['seconds']:,.0f}x faster")
    for acc in vec["p50"]:
        print(f"  P50 ROI of {acc}: vectorised {vec['p50'][acc]:.3f}, loop {loop['p50'][acc]:.3f}")


if __name__ == "__main__":
    main()
