"""Scale check (by hand): the whole quarterly run on a demo company of a chosen size, with per-notebook times.

`python benchmarks/demo_scale.py --events 100000000 --out /tmp/demo-100m --jobs 1,2` generates the demo company
(kept in --out for reruns), times the usage aggregation alone, then runs `cs-playbook report` once per --jobs
value (the first value is the baseline of the ratios), and prints the wall time, the quarter state's time, each
notebook's time and the peak memory of the whole process tree (sampled every 0.2 s). `--events 0` uses the
folder as it is (e.g. --out data/demo for the bundled demo). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

CLI = str(Path(sys.executable).with_name("cs-playbook"))


def _generate(out: str, events: int, accounts: int) -> dict:
    from cs_playbook.demo import generate_demo

    counts = generate_demo(Path(out), n_events=events, n_accounts=accounts)
    return {"events": counts["events"]}


def _metrics(out: str) -> dict:
    from cs_playbook.data.io import load_dataset
    from cs_playbook.data.usage import account_usage
    from cs_playbook.params import UsageParams, load_params

    ds = load_dataset(out)
    usage = account_usage(ds.events, ds.subscriptions, load_params("usage_metrics", UsageParams))
    return {"account_months": len(usage), "events_counted": int(usage["events_total"].sum())}


def _child(step: str, out: str, events: int, accounts: int) -> None:
    start = time.perf_counter()
    result = _generate(out, events, accounts) if step == "generate" else _metrics(out)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


class TreeMemory:
    """The peak resident memory of a process and all its descendants (kernels included), sampled."""

    def __init__(self, pid: int) -> None:
        self.proc, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 1024**2


def run_report(data: str, jobs: int, reports: str) -> dict:
    """One quarterly run into `reports`: wall seconds, peak MB of the process tree, the manifest's times.

    Runs after the first find the previous run's manifest there, so the pool starts the longest notebooks
    first, as a quarterly run beside last quarter's report does.
    """
    cmd = [CLI, "report", "--data", data, "--reports-dir", reports, "--jobs", str(jobs), "--no-progress", "--force"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    memory = TreeMemory(proc.pid)
    out, _ = proc.communicate()
    wall, peak = time.perf_counter() - start, memory.stop()
    manifests = list(Path(reports).glob("*/manifest.json"))
    if proc.returncode != 0 or not manifests:
        return {"jobs": jobs, "failed": out.strip().splitlines()[-3:]}
    m = json.loads(manifests[0].read_text())
    times = {nb["name"]: nb["duration_s"] for nb in m["notebooks"]}
    return {"jobs": jobs, "wall": wall, "peak_mb": peak, "state": m.get("state_seconds"), "notebooks": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000, help="0: use --out as it is")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--out", default="/tmp/demo-scale")
    parser.add_argument("--jobs", default="1,2", help="comma-separated; the first is the baseline")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.out, args.events, args.accounts)
        return
    steps = ["metrics"] if args.events == 0 or (Path(args.out) / "accounts.csv").exists() else ["generate", "metrics"]
    for step in steps:
        cmd = [sys.executable, __file__, "--child", step, "--out", args.out, "--events", str(args.events)]
        proc = subprocess.run([*cmd, "--accounts", str(args.accounts)], capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rate = r.get("events", r.get("events_counted", 0)) / max(r["seconds"], 1e-9)
        print(f"{step:<9} {r['seconds']:>8.1f} s  {rate:>14,.0f} events/s  peak {r['peak_mb']:>6,} MB  {r}")
    with tempfile.TemporaryDirectory() as reports:
        runs = [run_report(args.out, int(j), reports) for j in args.jobs.split(",")]
    base = runs[0]
    for r in runs:
        if "failed" in r:
            print(f"report --jobs {r['jobs']}: FAILED {r['failed']}")
            continue
        ratio = r["wall"] / base["wall"] if "wall" in base else float("nan")
        print(
            f"report --jobs {r['jobs']}: {r['wall']:.0f} s wall ({ratio:.2f}x of --jobs {base['jobs']}), "
            f"quarter state {r['state']:.0f} s, peak {r['peak_mb']:,.0f} MB (all processes)"
        )
        print("    " + ", ".join(f"{name} {sec:.0f} s" for name, sec in r["notebooks"].items()))


if __name__ == "__main__":
    main()
