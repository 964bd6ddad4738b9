"""Benchmark: the 4-quarter cumulative outlook simulation (expansion.outlook) on N accounts, batched vs all at once.

The simulation runs in memory-bounded batches; the other variant runs all simulations at once.

Run by hand: `python benchmarks/nrr_outlook.py [--accounts 50000] [--simulations 2000]`. Each variant
runs in its own process so peak memory (max RSS) is measured separately. A different batch size draws
different futures from the same seed, so the two outlooks agree only within Monte Carlo error: the
largest gap of the cumulative NRR is printed. Prints account-simulations per second, peak memory and
the ratios. Asserts nothing about speed.
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


def inputs(n: int, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    """Synthetic customers: lognormal ARR, renewals spread over the year, probabilities like the demo's."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "account_id": [f"A{i:07d}" for i in range(n)],
            "arr": np.exp(rng.normal(13.5, 1.2, n)),
            "segment": rng.choice(["enterprise", "mid_market", "smb"], n, p=[0.1, 0.3, 0.6]),
            "renewal_quarter": rng.integers(0, 5, n),
            "p_churn": rng.beta(1.5, 9, n),
            "p_expansion_1": rng.beta(2, 3, n),
            "p_expansion_2": rng.beta(2, 3, n),
            "p_contraction_1": rng.beta(1, 12, n),
            "p_contraction_2": rng.beta(1, 12, n),
        }
    )
    ratios = {
        "expansion": {"all": rng.gamma(2.0, 0.12, 4000)},
        "contraction": {"all": np.clip(rng.beta(2, 5, 800), 0, 1)},
    }
    return df, ratios


def run(accounts: int, simulations: int, batch: int) -> dict:
    from cs_playbook.expansion import outlook as nrr_outlook

    df, ratios = inputs(accounts)
    nrr_outlook.BATCH = batch
    t = time.perf_counter()
    sims = nrr_outlook.simulate_outlook(df, ratios, simulations=simulations, seed=7)
    elapsed = time.perf_counter() - t
    summary = nrr_outlook.outlook_summary(sims, start_quarter="2026Q3")
    return {
        "seconds": elapsed,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "nrr_cum": summary["nrr_cum"].round(10).tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--simulations", type=int, default=2000)
    ap.add_argument("--variant", choices=["batched", "all_at_once"], default=None)
    args = ap.parse_args()
    if args.variant:
        from cs_playbook.expansion import outlook as nrr_outlook

        batch = nrr_outlook.BATCH if args.variant == "batched" else args.simulations
        print(json.dumps(run(args.accounts, args.simulations, batch)))
        return
    results = {}
    for variant in ("batched", "all_at_once"):
        cmd = [sys.executable, __file__, "--accounts", str(args.accounts), "--simulations", str(args.simulations)]
        out = subprocess.run([*cmd, "--variant", variant], capture_output=True, text=True, check=True)
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    b, a = results["batched"], results["all_at_once"]
    cells = args.accounts * args.simulations
    print(f"4-quarter cumulative outlook: {args.accounts:,} accounts x {args.simulations:,} simulations x 4 quarters")
    for name, r in results.items():
        print(
            f"  {name:12s} {r['seconds']:7.2f} s  {cells / r['seconds'] / 1e6:7.2f} M account-simulations/s  peak {r['peak_mb']:8.0f} MB"
        )
    print(
        f"  batched vs all at once: time x{b['seconds'] / a['seconds']:.2f}, peak memory x{b['peak_mb'] / a['peak_mb']:.2f}"
    )
    gap = max(abs(x - y) for x, y in zip(b["nrr_cum"], a["nrr_cum"], strict=True))
    print(f"  largest gap of the cumulative NRR between the two: {gap * 100:.3f} points (Monte Carlo error)")


if __name__ == "__main__":
    main()
