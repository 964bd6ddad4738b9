"""Notebooks in parallel (`--jobs N`): they really overlap, results keep run order, a failure stays isolated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import WRITE_SUMMARY, _notebook

from cs_playbook.cli import main
from cs_playbook.runner import run_report

# Each stand-in notebook records when it ran, then writes its summary.
TIMED = "import time\nstarted = time.time()\ntime.sleep(2)\nended = time.time()\n" + WRITE_SUMMARY.replace(
    "summary = {", "summary = {'ran': [started, ended], "
)


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "00_first.ipynb", TIMED)
    _notebook(d / "01_broken.ipynb", "raise ValueError('boom in cell')")
    _notebook(d / "02_second.ipynb", TIMED)
    _notebook(d / "03_third.ipynb", TIMED)
    return d


def _ran(run_dir: Path, name: str) -> tuple[float, float]:
    started, ended = json.loads((run_dir / name / "summary.json").read_text())["ran"]
    return started, ended


def test_jobs_run_notebooks_at_once_in_run_order_with_failures_isolated(tmp_path: Path, notebooks: Path) -> None:
    run = run_report("2026Q2", reports_dir=tmp_path / "reports", notebooks_dir=notebooks, progress=False, jobs=3)
    assert [nb.name for nb in run.notebooks] == ["00_first", "01_broken", "02_second", "03_third"]
    assert [nb.status for nb in run.notebooks] == ["ok", "failed", "ok", "ok"]
    assert "boom in cell" in run.notebooks[1].error
    spans = [_ran(run.path, name) for name in ("00_first", "02_second", "03_third")]
    # At least two of the three good notebooks ran at the same time.
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert [nb["name"] for nb in manifest["notebooks"]] == ["00_first", "01_broken", "02_second", "03_third"]


def test_one_job_runs_the_notebooks_one_after_another(tmp_path: Path, notebooks: Path) -> None:
    run = run_report(
        "2026Q2",
        reports_dir=tmp_path / "reports",
        notebooks_dir=notebooks,
        progress=False,
        jobs=1,
        only=["00_first", "02_second"],
    )
    first, second = _ran(run.path, "00_first"), _ran(run.path, "02_second")
    assert first[1] <= second[0]


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_whole_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--jobs", value])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_the_pool_starts_the_longest_notebooks_of_the_last_run_first(tmp_path: Path) -> None:
    from cs_playbook.runner.run import longest_first

    paths = [tmp_path / f"{name}.ipynb" for name in ("00_kpi", "01_health", "02_roi", "07_new")]
    reports = tmp_path / "reports"
    assert longest_first(paths, reports) == paths  # no earlier run: the run order
    (reports / "2026Q2").mkdir(parents=True)
    runs = [{"name": "00_kpi", "duration_s": 12.0}, {"name": "01_health", "duration_s": 30.5}]
    runs.append({"name": "02_roi", "duration_s": 12.0})
    (reports / "2026Q2" / "manifest.json").write_text(json.dumps({"notebooks": runs}))
    # A notebook the last run did not have starts first; equal times keep the run order.
    assert [p.stem for p in longest_first(paths, reports)] == ["07_new", "01_health", "00_kpi", "02_roi"]
    (reports / "2026Q2" / "manifest.json").write_text("{not json")
    assert longest_first(paths, reports) == paths
