"""The quarterly run: build the quarter state once, execute every notebook on it, publish reports/<quarter>/.

Per PITFALLS: the data is validated and the quarter state built before anything is written (bad
input refuses the run with a CsPlaybookError, exit code 2); output is built in a temporary folder
and renamed into place only when complete; a failed notebook does not stop the others, and a run
with a failure is published as reports/<quarter>.failed/ so it never looks like a complete report.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cs_playbook.config import NOTEBOOKS_DIR, PROJ_ROOT, REPORTS_DIR
from cs_playbook.data.io import Dataset, load_dataset
from cs_playbook.errors import CsPlaybookError
from cs_playbook.quarters import last_complete_quarter, quarter_bounds
from cs_playbook.runner.execute import (
    DEFAULT_TIMEOUT,
    NotebookResult,
    discover_notebooks,
    ensure_kernel,
    execute_notebook,
    notebook_title,
)
from cs_playbook.runner.html import to_html
from cs_playbook.runner.index import render_index
from cs_playbook.runner.manifest import hash_files, manifest, write_json
from cs_playbook.runner.publish import publish, temp_run_dir
from cs_playbook.state import STATE_DIR, QuarterState, build_state, state_key, write_state

__all__ = ["RunResult", "run_report"]


@dataclass
class RunResult:
    """The outcome of a quarterly run and where it was published."""

    quarter: str
    path: Path
    notebooks: list[NotebookResult] = field(default_factory=list)
    as_of: str = ""  # the report's as-of date (state.as_of), the same in every summary.json
    scorecard: str = ""  # the health scorecard in use (state.scorecard)
    state_seconds: float = 0.0  # time the quarter state took to build

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


def _plan(
    quarter: str | None,
    data_source: str | None,
    params_dir: str | Path | None,
    reports_dir: Path,
    notebooks_dir: Path,
    only: list[str] | None,
    force: bool,
) -> _Plan:
    """Validate the data, resolve the quarter and the notebooks; raise CsPlaybookError on bad input."""
    from cs_playbook.params import params_dir as resolve_params_dir

    pdir = resolve_params_dir(params_dir)
    ds = load_dataset(data_source, params_dir=pdir)
    q = (quarter or last_complete_quarter(ds.as_of)).strip().upper()
    _, q_end = quarter_bounds(q)
    if q_end > ds.as_of:
        raise CsPlaybookError(f"Quarter {q} is not complete in the data (data as of {ds.as_of:%Y-%m-%d}).")
    final = reports_dir / q
    if final.exists() and not force:
        raise CsPlaybookError(f"{final} already exists; pass --force to replace it.")
    paths = discover_notebooks(notebooks_dir, only)
    if not paths:
        raise CsPlaybookError(f"No notebooks found in {notebooks_dir}")
    source = Path(ds.source) if Path(ds.source).is_absolute() else PROJ_ROOT / ds.source
    return _Plan(ds, pdir, q, final, paths, source)


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


def _run_notebook(nb_path: Path, run_dir: Path, params: dict[str, str], timeout: int, kernel: str) -> NotebookResult:
    """Execute one notebook into run_dir/<name>/ and export its HTML page; failures are recorded, not raised."""
    out_dir = run_dir / nb_path.stem
    out_dir.mkdir()
    out_nb = out_dir / nb_path.name
    res = execute_notebook(nb_path, out_nb, {**params, "output_dir": str(out_dir)}, timeout, kernel)
    res.title = notebook_title(nb_path)
    res.summary = _read_summary(out_dir)
    if res.status == "ok" and res.summary is None:
        res.status, res.error = "failed", "the notebook wrote no summary.json"
    if out_nb.exists():
        try:
            to_html(out_nb, out_dir / f"{nb_path.stem}.html")
        except Exception as err:  # a broken export is a failure of that notebook, not the run
            res.status, res.error = "failed", res.error or f"HTML export failed: {err}"
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
        {"quarter": state.quarter, "as_of": record["as_of"], "scorecard": state.scorecard, "notebooks": combined},
        ensure_ascii=False,
    )
    data = manifest(
        quarter=state.quarter,
        as_of=record["as_of"],
        started=started,
        finished=datetime.now(UTC),
        source=plan.ds.source,
        source_path=plan.source_path,
        params_dir=plan.params_dir,
        quarter_state={**record, "files": hash_files(state_files, run_dir)},
        state_seconds=state_seconds,
        notebooks=results,
    )
    write_json(run_dir / "manifest.json", data)
    page = render_index(
        state.quarter,
        record["as_of"],
        results,
        plan.ds.source,
        data_as_of=record["data_as_of"],
        scorecard=state.scorecard,
    )
    (run_dir / "index.html").write_text(page, encoding="utf-8")


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
) -> RunResult:
    """Validate the data, build the quarter state, run every notebook on it, then publish reports/<quarter>/.

    Raises CsPlaybookError (exit code 2) before anything is written when the data breaks the
    contract, the quarter is malformed, the params cannot build the quarter state, or the
    quarter's report exists and `force` is off.
    """
    plan = _plan(quarter, data_source, params_dir, reports_dir, notebooks_dir, only, force)
    kernel = ensure_kernel()
    started = datetime.now(UTC)
    steps = ["quarter state", *(p.stem for p in plan.paths)]
    with tqdm(total=len(steps), desc=f"Report {plan.quarter}", unit="step", disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        state, state_seconds = _quarter_state(plan)
        bar.update()
        run_dir = temp_run_dir(reports_dir, state.quarter)
        try:
            state_files = write_state(state, run_dir / STATE_DIR)
            params = {
                "quarter": state.quarter,
                "data_source": str(plan.source_path),
                "params_dir": str(plan.params_dir),
                "state_dir": str(run_dir / STATE_DIR),
            }
            results = []
            for nb_path in plan.paths:
                bar.set_postfix_str(nb_path.stem)
                results.append(_run_notebook(nb_path, run_dir, params, timeout, kernel))
                bar.update()
            _write_run_files(run_dir, plan, state, state_files, state_seconds, results, started)
            run = RunResult(state.quarter, plan.final, results, state.record()["as_of"], state.scorecard, state_seconds)
            if not run.ok:
                run.path = reports_dir / f"{state.quarter}.failed"
            publish(run_dir, run.path)
            return run
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
