"""Benchmark: scoring 1M account-observations with a fitted health scorecard, against naive row-by-row scoring.

Run by hand: `python benchmarks/health_scoring.py [--rows 1000000] [--baseline-rows 50000]`. A scorecard is
fitted (cs_playbook.modeling.logistic.fit_logistic) on synthetic observations with every measure the calibration uses,
then each implementation runs in its own process, so peak memory (max RSS) is measured separately:

- vectorized: Scorecard.score, .probability and .contributions (the CSM export's drivers) over all rows;
- baseline: the same arithmetic row by row in Python (transform, clip, fill, standardize, weigh), the way a
  per-account loop or DataFrame.apply scores, on a subsample (it is too slow for all rows), reported as rows/s.

Both score the same first rows and the scores are checked equal. Prints seconds, rows/s and peak memory for
each, and the ratios. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MEASURES = [
    "active_user_share",
    "events_per_seat",
    "events_per_active_user",
    "feature_breadth",
    "days_since_last_activity",
    "tickets",
    "severe_ticket_share",
    "nps_score",
    "touchpoints",
    "champion",
    "exec_access",
    "success_plan",
    "bantc_budget_risk",
    "bantc_authority_risk",
    "bantc_need_risk",
    "bantc_competitor_risk",
    "tenure_days",
    "arr",
    "segment",
]


def make_observations(n: int, seed: int = 1, chunk: int = 50_000) -> pd.DataFrame:
    """n synthetic observations with the calibration's measures (fat tails, missing values, text) and an outcome.

    Generated in chunks seeded by (seed, chunk number), so the first rows are the same whatever n is.
    """
    parts = [_chunk(min(chunk, n - start), (seed, start // chunk)) for start in range(0, n, chunk)]
    return pd.concat(parts, ignore_index=True)


def _chunk(n: int, seed: tuple[int, int]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = rng.normal(size=n)  # a hidden health, as in the demo company
    share = np.clip(0.95 / (1 + np.exp(-(0.3 + 1.3 * h))) + rng.normal(0, 0.08, n), 0, 1.5)
    intensity = np.exp(0.55 * h + rng.normal(0, 0.3, n))
    df = pd.DataFrame(
        {
            "active_user_share": share,
            "events_per_seat": share * intensity,
            "events_per_active_user": np.where(share > 0.02, 1 + intensity, np.nan),
            "feature_breadth": np.round(2 + 8 / (1 + np.exp(-1.2 * h)) + rng.normal(0, 1, n)).clip(0, 18),
            "days_since_last_activity": rng.exponential(np.exp(1 - 0.8 * h)) + 1,
            "tickets": rng.poisson(np.exp(0.2 - 0.7 * h)).astype(float),
            "severe_ticket_share": np.where(rng.random(n) < 0.6, rng.beta(1, 5, n), np.nan),
            "nps_score": np.where(
                rng.random(n) < 0.8, np.clip(np.round(7.2 + 1.6 * h + rng.normal(0, 1.3, n)), 0, 10), np.nan
            ),
            "touchpoints": rng.poisson(3, n).astype(float),
            "champion": (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 1.1 * h)))).astype(float),
            "exec_access": (rng.random(n) < 1 / (1 + np.exp(-(-0.6 + 0.9 * h)))).astype(float),
            "success_plan": (rng.random(n) < 0.5).astype(float),
            "tenure_days": rng.uniform(30, 2000, n),
            "arr": np.exp(rng.normal(13.5, 1.2, n)),
            "segment": rng.choice(["enterprise", "mid_market", "smb"], size=n, p=[0.1, 0.3, 0.6]),
        }
    )
    assessed = rng.random(n) < 0.35
    for dim in ("budget", "authority", "need", "competitor"):
        risk = rng.random(n) < 1 / (1 + np.exp(-(-2 - 1.3 * h)))
        df[f"bantc_{dim}_risk"] = np.where(assessed, risk.astype(float), np.nan)
    logit = -2.3 - 1.25 * h + 1.3 * df["bantc_need_risk"].fillna(0) - 0.5 * df["champion"]
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return df


def naive_scores(sc, frame: pd.DataFrame) -> np.ndarray:
    """Score row by row in plain Python: what a per-account loop (or DataFrame.apply) does."""
    specs = {i.key: i for i in sc.inputs}
    ppl = sc.points_per_log_odds()
    out = []
    for row in frame.to_dict("records"):
        z = {}
        for key, s in specs.items():
            v = row.get(s.measure)
            if s.category is not None:
                x = 1.0 if v == s.category else 0.0
            else:
                x = float("nan") if v is None else float(v)
                if x == x and s.transform == "log1p":
                    x = math.log1p(max(x, -0.99))
                x = min(max(x, s.clip_lo), s.clip_hi) if x == x else s.fill
            z[key] = (x - s.mean) / s.sd
        eta = sc.intercept
        for t in sc.terms:
            avg = sum(d * z[k] for k, d in zip(t.inputs, t.directions, strict=True)) / len(t.inputs)
            eta += t.coef * (avg - t.mean) / t.sd
        out.append(min(100.0, max(0.0, sc.anchor_score - ppl * (eta - sc.anchor_log_odds))))
    return np.array(out)


def _child(kind: str, scorecard_path: str, rows: int, result_path: str) -> None:
    from cs_playbook.modeling.scorecard import load_scorecard

    sc = load_scorecard(Path(scorecard_path))
    frame = make_observations(rows, seed=2)
    start = time.perf_counter()
    if kind == "vectorized":
        score = sc.score(frame)
        probability = sc.probability(frame)
        contributions = sc.contributions(frame)
        extra = {"probability_mean": float(probability.mean()), "contribution_columns": int(contributions.shape[1])}
    else:
        score = naive_scores(sc, frame)
        extra = {}
    elapsed = time.perf_counter() - start
    np.save(result_path, score[:5000])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "rows": rows, "peak_mb": peak_mb, **extra}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="observations scored by the vectorized scorecard")
    parser.add_argument("--baseline-rows", type=int, default=50_000, help="observations scored row by row")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, rows, result = args.child
        _child(kind, path, int(rows), result)
        return

    import yaml

    from cs_playbook.modeling.logistic import fit_logistic

    t0 = time.perf_counter()
    train = make_observations(100_000, seed=1)
    sc = fit_logistic(train, outcome="churned", measures=MEASURES, name="benchmark")
    print(
        f"fitted a scorecard with {len(sc.terms)} terms on {len(train):,} synthetic observations "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scorecard.yaml"
        path.write_text(yaml.safe_dump(sc.model_dump(mode="json")), encoding="utf-8")
        figures = {}
        for kind, rows in (("baseline", args.baseline_rows), ("vectorized", args.rows)):
            res = Path(tmp) / f"{kind}.npy"
            proc = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(path), str(rows), str(res)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        a, b = np.load(Path(tmp) / "vectorized.npy"), np.load(Path(tmp) / "baseline.npy")
        n = min(len(a), len(b))
        same = bool(np.allclose(a[:n], b[:n], atol=1e-9))
    print(f"{'implementation':<34}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak MB':>10}")
    labels = {"baseline": "row by row in Python (baseline)", "vectorized": "Scorecard (numpy, + drivers)"}
    for kind in ("baseline", "vectorized"):
        f = figures[kind]
        print(
            f"{labels[kind]:<34}{f['rows']:>12,}{f['seconds']:>10.2f}{f['rows'] / f['seconds']:>14,.0f}{f['peak_mb']:>10,.0f}"
        )
    v, base = figures["vectorized"], figures["baseline"]
    speedup = (v["rows"] / v["seconds"]) / (base["rows"] / base["seconds"])
    print(
        f"speed-up: {speedup:,.0f}x more rows per second (the vectorized run also computes probabilities and "
        f"per-measure contributions); 1M rows row by row would take about {1e6 / (base['rows'] / base['seconds']) / 60:.1f} "
        f"min; peak memory {v['peak_mb']:,.0f} MB for {v['rows']:,} rows vs {base['peak_mb']:,.0f} MB for "
        f"{base['rows']:,}; scores identical on the first {n:,} rows: {same}"
    )


if __name__ == "__main__":
    main()
