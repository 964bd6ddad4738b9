"""The quarterly run: build the quarter state once, execute every notebook on it, publish reports/<quarter>/.

Per PITFALLS: the data is validated and the quarter state built before anything is written (bad
input refuses the run with a CsPlaybookError, exit code 2); output is built in a temporary folder
and renamed into place only when complete; a failed notebook does not stop the others, and a run
with a failure is published as reports/<quarter>.failed/ so it never looks like a complete report.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cs_playbook.config import NOTEBOOKS_DIR, PROJ_ROOT, REPORTS_DIR
from cs_playbook.data.io import Dataset, load_dataset, write_dataset
from cs_playbook.errors import CsPlaybookError
from cs_playbook.quarters import last_complete_quarter, quarter_bounds
from cs_playbook.runner.execute import (
    DEFAULT_TIMEOUT,
    NotebookResult,
    discover_notebooks,
    ensure_kernel,
    execute_notebook,
    notebook_title,
    path_replacements,
    scrub_notebook,
    scrub_text,
)
from cs_playbook.runner.html import to_html
from cs_playbook.runner.index import render_index
from cs_playbook.runner.manifest import hash_files, manifest, write_json
from cs_playbook.runner.publish import (
    check_free_space,
    check_room_to_build,
    disk_full_error,
    publish,
    quarter_lock,
    remove_stale_temps,
    temp_run_dir,
)
from cs_playbook.state import DATASET_DIR, STATE_DIR, QuarterState, build_state, state_key, write_state

__all__ = ["RunResult", "run_report", "source_name", "validate_params"]


@dataclass
class RunResult:
    """The outcome of a quarterly run and where it was published."""

    quarter: str
    path: Path
    notebooks: list[NotebookResult] = field(default_factory=list)
    as_of: str = ""  # the report's as-of date (state.as_of), the same in every summary.json
    scorecard: str = ""  # the health scorecard in use (state.scorecard)
    state_seconds: float = 0.0  # time the quarter state took to build
    partial: bool = False  # an `only` run of some notebooks, published as <quarter>.partial/

    @property
    def ok(self) -> bool:
        """True when every notebook ran without error."""
        return all(nb.status == "ok" for nb in self.notebooks)

    @property
    def failed(self) -> list[NotebookResult]:
        """The notebooks that failed."""
        return [nb for nb in self.notebooks if nb.status != "ok"]


@dataclass
class _Plan:
    """What a run will do, settled before anything is written: data, params, quarter, notebooks, target."""

    ds: Dataset
    params_dir: Path
    quarter: str
    final: Path
    paths: list[Path]
    source_path: Path
    partial: bool = False
    force: bool = False


def source_name(source: str | Path) -> str:
    """A data source as shown in reports: its folder (or file) name, e.g. "demo" or "crm-exports"."""
    text = str(source).strip().rstrip("/")
    if not text or text == "demo":
        return "demo"
    return Path(text).name


def validate_params(params_dir: Path, source: str | Path | None) -> None:
    """Every params file the notebooks use, validated by its model before any notebook runs (`notebook.check_params`)."""
    from cs_playbook.notebook import check_params

    problems = check_params(params_dir, source)
    if problems:
        raise CsPlaybookError("Report not run: the params are invalid (no notebook ran).\n" + "\n".join(problems))


def _check_quarter_has_data(ds: Dataset, quarter: str) -> None:
    """Refuse a quarter that ends before the first subscription starts, or starts after the data's as-of date."""
    q_start, q_end = quarter_bounds(quarter)
    if q_start > ds.as_of:
        raise CsPlaybookError(
            f"Quarter {quarter} starts after the data's as-of date {ds.as_of:%Y-%m-%d}: there is no data for it."
        )
    subs = getattr(ds, "subscriptions", None)
    if subs is not None and "start_date" in subs and len(subs):
        first = subs["start_date"].min()
        if first is not None and first == first and q_end < first:
            raise CsPlaybookError(
                f"Quarter {quarter} ends before the first subscription in the data starts ({first:%Y-%m-%d}): "
                "there is no data for it."
            )


def _plan(
    quarter: str | None,
    data_source: str | None,
    params_dir: str | Path | None,
    reports_dir: Path,
    notebooks_dir: Path,
    only: list[str] | None,
    force: bool,
) -> _Plan:
    """Validate the data, every notebook's params and the quarter, find the notebooks; raise CsPlaybookError on bad input."""
    from cs_playbook.params import params_dir as resolve_params_dir

    pdir = resolve_params_dir(params_dir)
    all_paths = discover_notebooks(notebooks_dir)
    paths = discover_notebooks(notebooks_dir, only)
    if not paths:
        raise CsPlaybookError(f"No notebooks found in {notebooks_dir.name}/")
    ds = load_dataset(data_source, params_dir=pdir)
    validate_params(pdir, data_source or ds.source)
    q = (quarter or last_complete_quarter(ds.as_of)).strip().upper()
    _, q_end = quarter_bounds(q)
    _check_quarter_has_data(ds, q)
    if q_end > ds.as_of:
        raise CsPlaybookError(f"Quarter {q} is not complete in the data (data as of {ds.as_of:%Y-%m-%d}).")
    partial = bool(only) and len(paths) < len(all_paths)
    final = reports_dir / (f"{q}.partial" if partial else q)
    source = Path(ds.source) if Path(ds.source).is_absolute() else PROJ_ROOT / ds.source
    plan = _Plan(ds, pdir, q, final, paths, source, partial, force)
    _check_target(plan)
    return plan


def _check_target(plan: _Plan) -> None:
    """An existing report is replaced only with `force`; a partial run never touches the complete quarter."""
    if plan.final.exists() and not plan.force:
        raise CsPlaybookError(
            f"{plan.final.parent.name}/{plan.final.name} already exists; pass --force to replace it."
            + (
                " (An --only run is published as <quarter>.partial/ and never replaces the complete report.)"
                if plan.partial
                else ""
            )
        )


def _quarter_state(plan: _Plan) -> tuple[QuarterState, float]:
    """Build the quarter state once for every notebook; bad params or data refuse the whole run."""
    start = time.perf_counter()
    try:
        state = build_state(plan.ds, quarter=plan.quarter, params_dir=plan.params_dir)
    except CsPlaybookError as err:
        raise CsPlaybookError(
            f"Report {plan.quarter} not run: its quarter state could not be built (no notebook ran).\n{err}"
        ) from err
    state.key = state_key(plan.ds, quarter=state.quarter, params_dir=plan.params_dir)
    return state, round(time.perf_counter() - start, 2)


def _read_summary(out_dir: Path) -> dict[str, Any] | None:
    """The summary.json a notebook wrote, or None when it is missing or unreadable."""
    path = out_dir / "summary.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def _shown_params(plan: _Plan, quarter: str, name: str) -> dict[str, str]:
    """The parameters as recorded in a published notebook: names and report-relative folders, no machine path."""
    from cs_playbook.params import display_path

    return {
        "quarter": quarter,
        "data_source": source_name(plan.ds.source),
        "params_dir": display_path(plan.params_dir),
        "output_dir": f"{name}/",
        "state_dir": f"{STATE_DIR}/",
    }


def _replacements(plan: _Plan, run_dir: Path, name: str) -> list[tuple[str, str]]:
    """Machine paths of this run and their display forms (the notebook's folder, the source's name, the project)."""
    return path_replacements(
        {
            run_dir / name: ".",
            run_dir / STATE_DIR: f"../{STATE_DIR}",
            run_dir: "..",
            plan.final: "..",
            plan.source_path: source_name(plan.ds.source),
            PROJ_ROOT: ".",
        }
    )


def _run_notebook(
    nb_path: Path, run_dir: Path, plan: _Plan, params: dict[str, str], timeout: int, kernel: str
) -> NotebookResult:
    """Execute one notebook into run_dir/<name>/ and export its HTML page; failures are recorded, not raised.

    The published .ipynb and HTML carry display parameters and no machine path.
    """
    out_dir = run_dir / nb_path.stem
    out_dir.mkdir()
    out_nb = out_dir / nb_path.name
    res = execute_notebook(nb_path, out_nb, {**params, "output_dir": str(out_dir)}, timeout, kernel)
    res.title = notebook_title(nb_path)
    res.summary = _read_summary(out_dir)
    if res.status == "ok" and res.summary is None:
        res.status, res.error = "failed", "the notebook wrote no summary.json"
    repl = _replacements(plan, run_dir, nb_path.stem)
    res.error = scrub_text(res.error, repl) if res.error else res.error
    res.retry_errors = [scrub_text(e, repl) for e in res.retry_errors]
    if out_nb.exists():
        try:
            scrub_notebook(out_nb, _shown_params(plan, params["quarter"], nb_path.stem), repl)
            to_html(out_nb, out_dir / f"{nb_path.stem}.html")
        except Exception as err:  # a broken export is a failure of that notebook, not the run
            res.status, res.error = "failed", res.error or f"HTML export failed: {type(err).__name__}"
    return res


def _write_run_files(
    run_dir: Path,
    plan: _Plan,
    state: QuarterState,
    state_files: list[Path],
    state_seconds: float,
    results: list[NotebookResult],
    started: datetime,
) -> None:
    """The run's summary.json, manifest.json and index.html, all with the quarter state's as_of."""
    record = state.record()
    combined = {r.name: r.summary for r in results}
    write_json(
        run_dir / "summary.json",
        {
            "quarter": state.quarter,
            "as_of": record["as_of"],
            "scorecard": state.scorecard,
            "partial": plan.partial,
            "notebooks": combined,
        },
        ensure_ascii=False,
    )
    data = manifest(
        quarter=state.quarter,
        as_of=record["as_of"],
        started=started,
        finished=datetime.now(UTC),
        source=source_name(plan.ds.source),
        source_path=plan.source_path,
        params_dir=plan.params_dir,
        quarter_state={**record, "files": hash_files(state_files, run_dir)},
        state_seconds=state_seconds,
        notebooks=results,
        partial=plan.partial,
    )
    write_json(run_dir / "manifest.json", data)
    page = render_index(
        state.quarter,
        record["as_of"],
        results,
        source_name(plan.ds.source),
        data_as_of=record["data_as_of"],
        scorecard=state.scorecard,
        partial=plan.partial,
    )
    (run_dir / "index.html").write_text(page, encoding="utf-8")


def _notebook_params(plan: _Plan, quarter: str, run_dir: Path) -> dict[str, str]:
    """What the notebooks are given: paths relative to the project where they can be, absolute otherwise."""
    from cs_playbook.params import display_path

    def rel(path: Path) -> str:
        shown = display_path(path)
        return shown if not Path(shown).is_absolute() and (PROJ_ROOT / shown).resolve() == path.resolve() else str(path)

    return {
        "quarter": quarter,
        "data_source": rel(plan.source_path),
        "params_dir": rel(plan.params_dir),
        "state_dir": str(run_dir / STATE_DIR),
    }


def _publish(run_dir: Path, run: RunResult, plan: _Plan, reports_dir: Path) -> None:
    """Check the free space, publish the run, and remove the stale .failed folder a successful run supersedes."""
    check_free_space(run_dir, reports_dir)
    publish(run_dir, run.path)
    if run.ok:
        shutil.rmtree(plan.final.with_name(f"{plan.final.name}.failed"), ignore_errors=True)


def run_report(
    quarter: str | None = None,
    *,
    data_source: str | None = None,
    params_dir: str | Path | None = None,
    reports_dir: Path = REPORTS_DIR,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    only: list[str] | None = None,
    force: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    progress: bool = True,
    jobs: int | None = None,
) -> RunResult:
    """Validate the data, params and quarter, build the quarter state, run the notebooks on it, then publish.

    Raises CsPlaybookError (exit code 2) before anything is written when the data breaks the
    contract, any notebook's params are invalid, the quarter is malformed or has no data, another
    run holds the quarter's lock, or the target report exists and `force` is off. An `only` run
    of some notebooks is published as reports/<quarter>.partial/ and never replaces reports/<quarter>/.
    `jobs` notebooks run at once (default: one per CPU), after the state is built.
    """
    plan = _plan(quarter, data_source, params_dir, reports_dir, notebooks_dir, only, force)
    kernel = ensure_kernel()
    with quarter_lock(reports_dir, plan.quarter):
        _check_target(plan)
        remove_stale_temps(reports_dir)
        return _locked_run(plan, reports_dir, kernel, timeout, progress, jobs or default_jobs())


# Math libraries' thread pools: in kernels that run side by side, each spawning a thread per core made the
# model fits 2-3x slower; on one thread the figures also no longer depend on the machine's core count.
KERNEL_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def default_jobs() -> int:
    """Kernels run at once by default: one per CPU the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def longest_first(paths: list[Path], reports_dir: Path) -> list[Path]:
    """The notebooks in the order to start them on a pool: longest first by the latest run's manifest.

    Starting the long notebooks first keeps the pool busy to the end (the run takes about its longest
    chain, not a long notebook started last). Notebooks the manifest does not know start first; without
    a manifest the order is the run order. Only the start order changes: every notebook's output is the same.
    """
    manifests = sorted(reports_dir.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    seconds: dict[str, float] = {}
    if manifests:
        try:
            notebooks = json.loads(manifests[-1].read_text(encoding="utf-8")).get("notebooks", [])
            seconds = {n["name"]: float(n["duration_s"]) for n in notebooks if n.get("duration_s") is not None}
        except (OSError, ValueError, TypeError, KeyError):
            seconds = {}
    return sorted(paths, key=lambda p: -seconds.get(p.stem, float("inf")))


def _run_notebooks(
    plan: _Plan, run_dir: Path, params: dict[str, str], timeout: int, kernel: str, jobs: int, bar: Any
) -> list[NotebookResult]:
    """Execute the notebooks on a pool of `jobs` kernels; results in run order whatever order they finish in.

    Each notebook runs in its own kernel process and writes only into its own folder, so one failure
    never touches another notebook, and the published files do not depend on `jobs`.
    """
    for name in KERNEL_THREADS:  # one core per kernel: the pool is the parallelism (set by hand, a value stays)
        os.environ.setdefault(name, "1")
    if jobs <= 1 or len(plan.paths) <= 1:
        results = []
        for nb_path in plan.paths:
            bar.set_postfix_str(nb_path.stem)
            results.append(_run_notebook(nb_path, run_dir, plan, params, timeout, kernel))
            bar.update()
        return results
    done: dict[str, NotebookResult] = {}
    order = longest_first(plan.paths, plan.final.parent)
    with ThreadPoolExecutor(max_workers=min(jobs, len(plan.paths)), thread_name_prefix="notebook") as pool:
        futures = {pool.submit(_run_notebook, p, run_dir, plan, params, timeout, kernel): p for p in order}
        bar.set_postfix_str(f"{min(jobs, len(plan.paths))} kernels")
        for future in as_completed(futures):
            nb_path = futures[future]
            done[nb_path.stem] = future.result()
            bar.set_postfix_str(f"{nb_path.stem} done")
            bar.update()
    return [done[p.stem] for p in plan.paths]


def _locked_run(plan: _Plan, reports_dir: Path, kernel: str, timeout: int, progress: bool, jobs: int = 1) -> RunResult:
    started = datetime.now(UTC)
    steps = ["quarter state", *(p.stem for p in plan.paths)]
    with tqdm(total=len(steps), desc=f"Report {plan.quarter}", unit="step", disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        state, state_seconds = _quarter_state(plan)
        bar.update()
        check_room_to_build(reports_dir)
        run_dir = temp_run_dir(reports_dir, state.quarter)
        try:
            state_files = write_state(state, run_dir / STATE_DIR)
            write_dataset(plan.ds, run_dir / STATE_DIR / DATASET_DIR)  # read by every notebook, not published
            plan.ds.release_engine()  # the kernels query the events from here on: the runner's engine memory is theirs
            params = _notebook_params(plan, state.quarter, run_dir)
            results = _run_notebooks(plan, run_dir, params, timeout, kernel, jobs, bar)
            _write_run_files(run_dir, plan, state, state_files, state_seconds, results, started)
            shutil.rmtree(run_dir / STATE_DIR / DATASET_DIR)  # the run's copy of the data is not published
            run = RunResult(state.quarter, plan.final, results, state.record()["as_of"], state.scorecard, state_seconds)
            run.partial = plan.partial
            if not run.ok:
                run.path = plan.final.with_name(f"{plan.final.name}.failed")
            _publish(run_dir, run, plan, reports_dir)
            return run
        except OSError as err:  # the disk filled up during the run: nothing is published, the build is removed
            named = disk_full_error(err, reports_dir)
            if named is err:
                raise
            raise named from err
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
