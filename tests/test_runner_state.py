"""The runner and the quarter state on real report notebooks: one state per run, the same as_of and scorecard on every page.

One run of two real notebooks (`only`) on the small demo company; tests/test_one_truth.py runs the whole report.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from cs_playbook.formatting import Formatter
from cs_playbook.i18n import messages
from cs_playbook.runner import RunResult, run_report
from cs_playbook.state import STATE_DIR, read_state

NOTEBOOKS = ["00_kpi_overview", "05_renewal_management"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> RunResult:
    """Two real notebooks of the report on the small demo, for the last complete quarter."""
    reports = tmp_path_factory.mktemp("reports")
    run = run_report(data_source=str(demo_dir), reports_dir=reports, only=NOTEBOOKS, progress=False)
    assert run.ok, [(n.name, n.failed_cell, n.failed_source, n.error) for n in run.failed]
    return run


def _state_json(run: RunResult) -> dict:
    return json.loads((run.path / STATE_DIR / "state.json").read_text(encoding="utf-8"))


def test_the_state_is_written_once_and_listed_in_the_manifest(real_run: RunResult) -> None:
    manifest = json.loads((real_run.path / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["quarter_state"]["files"]
    assert {"quarter_state/accounts.parquet", "quarter_state/state.json"} <= set(files)
    for name, digest in files.items():
        assert digest == "sha256:" + hashlib.sha256((real_run.path / name).read_bytes()).hexdigest()
    state = _state_json(real_run)
    record = {k: v for k, v in manifest["quarter_state"].items() if k != "files"}
    assert record == {k: state[k] for k in record}
    assert manifest["as_of"] == state["as_of"] == real_run.as_of and manifest["state_seconds"] > 0
    assert [n["name"] for n in manifest["notebooks"]] == NOTEBOOKS


def test_every_page_carries_the_states_as_of_and_scorecard(real_run: RunResult) -> None:
    state = _state_json(real_run)
    for name in NOTEBOOKS:
        summary = json.loads((real_run.path / name / "summary.json").read_text(encoding="utf-8"))
        assert summary["quarter"] == state["quarter"], name
        assert summary["as_of"][:10] == state["as_of"], name
        assert summary["scorecard"] == state["scorecard"], name
    index = (real_run.path / "index.html").read_text(encoding="utf-8")
    msg = messages("ja")  # the project's report language
    assert msg.t("report.as_of", as_of=Formatter("ja").date(state["as_of"])) in index
    assert msg.t("report.scorecard", name=msg.code(state["scorecard"])) in index


def test_the_runs_state_is_the_state_build_state_computes(real_run: RunResult, quarter_state) -> None:
    written = read_state(real_run.path / STATE_DIR)
    assert (written.quarter, written.as_of, written.scorecard) == (
        quarter_state.quarter,
        quarter_state.as_of,
        quarter_state.scorecard,
    )
    cols = ["account_id", "health_tier", "churn_probability", "arr_at_risk", "arr_renewing"]
    pd.testing.assert_frame_equal(
        written.accounts[cols].reset_index(drop=True), quarter_state.accounts[cols].reset_index(drop=True)
    )
