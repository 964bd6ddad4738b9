"""The `cs-playbook` command: report, demo-data, validate, promote-scorecard. Bad input exits 2 with a message."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from cs_playbook.config import DEMO_DIR, NOTEBOOKS_DIR, REPORTS_DIR, resolve_path
from cs_playbook.errors import CsPlaybookError

__all__ = ["main"]


def _positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse turns the ValueError into a usage message, exit 2)."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _cmd_report(args: argparse.Namespace) -> int:
    from cs_playbook.runner import run_report

    run = run_report(
        args.quarter,
        data_source=_from_cwd(args.data),
        params_dir=_from_cwd(args.params),
        reports_dir=Path(_from_cwd(args.reports_dir) or REPORTS_DIR),
        notebooks_dir=Path(_from_cwd(args.notebooks_dir) or NOTEBOOKS_DIR),
        only=args.only,
        force=args.force,
        timeout=args.timeout,
        progress=not args.no_progress,
        jobs=args.jobs,
    )
    print(f"  ok     quarter state (as of {run.as_of}, scorecard {run.scorecard}, {run.state_seconds:.0f} s)")
    for nb in run.notebooks:
        mark = "ok    " if nb.status == "ok" else "FAILED"
        print(f"  {mark} {nb.name} ({nb.duration_s:.0f} s)")
    for nb in run.notebooks:
        if nb.retries or nb.kernel_died:
            print(f"  note   {nb.name}: kernel start retried {nb.retries}x; died while running: {nb.kernel_died}")
    if run.ok:
        kind = "Partial report (only the notebooks named)" if run.partial else "Report"
        print(f"{kind} {run.quarter} written to {run.path}/index.html")
        return 0
    for nb in run.failed:
        where = f"cell {nb.failed_cell}" if nb.failed_cell is not None else "no cell recorded"
        if nb.failed_source:
            where += f" ({nb.failed_source})"
        print(f"Notebook {nb.name} failed at {where}: {nb.error}", file=sys.stderr)
    print(f"Incomplete report written to {run.path}/ (the other notebooks ran).", file=sys.stderr)
    return 1


def _from_cwd(path: str | None) -> str | None:
    """A path given on the command line, resolved against the current directory ("demo" and None stay)."""
    if path is None or path.strip() in ("", "demo"):
        return path
    return str((Path.cwd() / Path(path).expanduser()).resolve())


def _cmd_demo(args: argparse.Namespace) -> int:
    from cs_playbook.demo import generate_demo

    out = resolve_path(args.out or (DEMO_DIR if args.profile == "jp" else DEMO_DIR.with_name(f"demo-{args.profile}")))
    counts = generate_demo(
        out,
        profile=args.profile,
        n_accounts=args.accounts,
        n_events=args.events,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(f"Demo company written to {out}")
    for table, n in counts.items():
        print(f"  {table:<18} {n:>12,} rows")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from cs_playbook.data.io import load_dataset

    ds = load_dataset(_from_cwd(args.data), params_dir=_from_cwd(args.params))
    print(f"Source {ds.source}: the data meets the contract (as of {ds.as_of:%Y-%m-%d}, currency {ds.currency}).")
    for name, df in ds.tables.items():
        print(f"  {name:<18} {len(df):>12,} rows  ({ds.files.get(name, '')})")
    if ds.events is not None:
        print(f"  {'events':<18} {int(ds.events.count().to_pandas()):>12,} rows  ({ds.files.get('events', '')})")
    if ds.missing_optional:
        print(f"  absent optional tables: {', '.join(ds.missing_optional)}")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from cs_playbook.health.scorer import PROMOTED_FILE, promote_scorecard
    from cs_playbook.modeling.scorecard import load_scorecard
    from cs_playbook.params import params_dir

    if args.revert:
        target = params_dir(args.params) / PROMOTED_FILE
        if target.exists():
            target.unlink()
            print(f"Removed {target}: the rules scorecard of health_score.yaml is in use again.")
        else:
            print(f"No promoted scorecard in {target.parent}: the rules scorecard is already in use.")
        return 0
    if not args.scorecard:
        raise CsPlaybookError("promote-scorecard needs the scorecard YAML to promote (or --revert)")
    target = promote_scorecard(resolve_path(args.scorecard), args.params, force=args.force)
    sc = load_scorecard(target)
    auc = sc.validation.get("auc")
    print(f"Promoted scorecard {sc.name!r} ({len(sc.terms)} terms) to {target}")
    if auc is not None:
        print(f"  out-of-time AUC {auc:.3f}; tiers GOOD from {sc.tiers.good_from:g}, BAD below {sc.tiers.bad_below:g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents the commands in README)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error"
    )
    parser = argparse.ArgumentParser(
        prog="cs-playbook", description="Customer-success analytics playbook.", parents=[common]
    )
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("report", parents=[common], help="run every notebook for a quarter into reports/<quarter>/")
    rep.add_argument("--quarter", help="e.g. 2026Q3 (default: the last complete quarter in the data)")
    rep.add_argument("--data", help="data source: folder, .duckdb file or 'demo' (default: params/data.yaml)")
    rep.add_argument("--params", help="params folder (default: params/)")
    rep.add_argument("--reports-dir", help="where quarter folders are written (default: the project's reports/)")
    rep.add_argument("--notebooks-dir", help="folder of the notebooks to run (default: the project's notebooks/)")
    rep.add_argument(
        "--only",
        nargs="+",
        metavar="NOTEBOOK",
        help="run only these notebooks (file names without .ipynb); published as <quarter>.partial/",
    )
    rep.add_argument(
        "--force", action="store_true", help="replace an existing report (or partial report) for the quarter"
    )
    rep.add_argument("--timeout", type=int, default=1800, help="seconds a single cell may run (default 1800)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.add_argument(
        "--jobs", type=_positive_int, help="notebooks run at once, each in its own kernel (default: the CPU count)"
    )
    rep.set_defaults(func=_cmd_report)

    demo = sub.add_parser("demo-data", parents=[common], help="generate a seeded demo company")
    demo.add_argument(
        "--profile",
        choices=["jp", "us-plg"],
        default="jp",
        help="jp: Japanese enterprise SaaS (default); us-plg: US product-led SaaS in USD (docs/demo-company.md)",
    )
    demo.add_argument("--out", help="output folder (default: data/demo for jp, data/demo-<profile> otherwise)")
    demo.add_argument("--accounts", type=int, help="number of accounts (default: jp 2000, us-plg 1600)")
    demo.add_argument("--events", type=int, help="number of usage events (default: jp 3,000,000, us-plg 4,000,000)")
    demo.add_argument("--seed", type=int, help="random seed (default: jp 7, us-plg 11)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=_cmd_demo)

    val = sub.add_parser("validate", parents=[common], help="check the data against the contract and list the tables")
    val.add_argument("--data", help="data source (default: params/data.yaml)")
    val.add_argument("--params", help="params folder (default: params/)")
    val.set_defaults(func=_cmd_validate)

    prom = sub.add_parser(
        "promote-scorecard",
        parents=[common],
        help="score the next runs with a reviewed health scorecard (YAML from the report)",
    )
    prom.add_argument(
        "scorecard", nargs="?", help="e.g. reports/2026Q3/01_health_score_calibration/health_scorecard.yaml"
    )
    prom.add_argument("--params", help="params folder (default: params/)")
    prom.add_argument(
        "--revert", action="store_true", help="remove the promoted scorecard: back to the rules scorecard"
    )
    prom.add_argument("--force", action="store_true", help="promote even when the scorecard's validation says not to")
    prom.set_defaults(func=_cmd_promote)
    return parser


BAD_INPUT_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EROFS, errno.EEXIST}


def _os_message(err: OSError) -> str:
    """One line for a file-system error: what went wrong and the path (by name, relative where possible)."""
    from cs_playbook.params import display_path

    what = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "the file system is read-only",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }.get(err.errno or 0, err.strerror or type(err).__name__)
    where = f": {display_path(Path(err.filename))}" if err.filename else ""
    return f"{what}{where}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; every expected failure prints one message (exit 2 bad input, 1 failed run).

    `--debug` re-raises the error to show its traceback.
    """
    import yaml

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CsPlaybookError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except yaml.YAMLError as err:
        if args.debug:
            raise
        print(f"error: a YAML file is not valid YAML: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if args.debug:
            raise
        print(f"error: {_os_message(err)}", file=sys.stderr)
        return 2 if err.errno in BAD_INPUT_ERRNOS else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
