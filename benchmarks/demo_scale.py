"""Scale check (by hand): generate the demo company with N events, then compute usage metrics on it.

`python benchmarks/demo_scale.py --events 100000000 --out /tmp/demo-100m` prints the time and peak
memory (max RSS) of each step, each run in its own process. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _generate(out: str, events: int) -> dict:
    from cs_playbook.demo import generate_demo

    counts = generate_demo(Path(out), n_events=events)
    return {"events": counts["events"]}


def _metrics(out: str) -> dict:
    from cs_playbook.data.io import load_dataset
    from cs_playbook.data.usage import account_usage
    from cs_playbook.params import UsageParams, load_params

    ds = load_dataset(out)
    usage = account_usage(ds.events, ds.subscriptions, load_params("usage_metrics", UsageParams))
    return {"account_months": len(usage), "events_counted": int(usage["events_total"].sum())}


def _child(step: str, out: str, events: int) -> None:
    start = time.perf_counter()
    result = _generate(out, events) if step == "generate" else _metrics(out)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--out", default="/tmp/demo-scale")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.out, args.events)
        return
    for step in ("generate", "metrics"):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", step, "--out", args.out, "--events", str(args.events)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = r.get("events", r.get("events_counted", 0)) / max(r["seconds"], 1e-9)
        print(f"{step:<9} {r['seconds']:>8.1f} s  {rate:>14,.0f} events/s  peak {r['peak_mb']:>6,} MB  {r}")


if __name__ == "__main__":
    main()
