"""Run integrity: stale temp folders, file-system failures as messages, start-up retries, no machine paths.

Stand-in notebooks (fast, as in tests/test_report.py) plus one real notebook for the path leak check. The lock,
partial-run, kill and disk faults are in tests/test_faults.py; bad params and quarters in the bad-input corpus
(tests/test_bad_inputs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cs_playbook.cli import main
from cs_playbook.config import PROJ_ROOT
from cs_playbook.runner import run_report
from cs_playbook.runner.publish import remove_stale_temps
from tests.test_report import WRITE_SUMMARY, _notebook

TOKEN = "tok3n-Zq81xWv"

SHOW_PATHS = "print('data', data_source, 'out', output_dir, 'state', state_dir, 'params', params_dir)"


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "00_good.ipynb", SHOW_PATHS, WRITE_SUMMARY)
    _notebook(d / "01_other.ipynb", WRITE_SUMMARY)
    return d


def _base(reports: Path, notebooks: Path) -> list[str]:
    return ["report", "--reports-dir", str(reports), "--notebooks-dir", str(notebooks), "--no-progress"]


def _published(reports: Path) -> list[str]:
    return sorted(p.name for p in reports.iterdir() if not p.name.endswith(".lock")) if reports.exists() else []


# -- stale folders -----------------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_folders_of_dead_runs_are_removed_and_a_success_removes_failed(
    tmp_path: Path, notebooks: Path
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    stale = reports / f".2026Q2.tmp-{_dead_pid()}"
    (stale / "00_good").mkdir(parents=True)
    live = reports / f".2026Q1.tmp-{os.getppid()}"  # a live process's build is left alone
    live.mkdir()
    (reports / "2026Q2.failed").mkdir()
    (reports / "2026Q2.failed" / "index.html").write_text("old failure")
    run = run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False)
    assert run.ok
    assert not stale.exists() and live.exists()
    assert not (reports / "2026Q2.failed").exists()
    assert _published(reports) == [live.name, "2026Q2"]
    assert remove_stale_temps(reports) == []


# -- file-system failures are messages -------------------------------------------------------------------------------


def test_a_reports_dir_that_cannot_be_created_is_a_message(
    tmp_path: Path, notebooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main([*_base(blocker / "reports", notebooks), "--quarter", "2026Q2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "a-file" in err and "Traceback" not in err
    with pytest.raises(OSError):
        main([*_base(blocker / "reports", notebooks), "--quarter", "2026Q2", "--debug"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_a_read_only_reports_dir_is_a_message(
    tmp_path: Path, notebooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    reports.chmod(0o500)
    try:
        assert main([*_base(reports, notebooks), "--quarter", "2026Q2"]) == 2
        err = capsys.readouterr().err
        assert "permission denied" in err and "Traceback" not in err
    finally:
        reports.chmod(0o700)


def test_relative_paths_resolve_against_the_working_directory(
    tmp_path: Path, notebooks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        main(["report", "--reports-dir", "out", "--notebooks-dir", "notebooks", "--no-progress", "--quarter", "2026Q2"])
        == 0
    )
    assert (tmp_path / "out" / "2026Q2" / "index.html").exists()
    assert not (PROJ_ROOT / "out").exists()


# -- no machine paths in the outputs --------------------------------------------------------------------------------


def _leaks(root: Path, needles: list[str]) -> list[str]:
    found = []
    for p in root.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode("utf-8", "replace")
            found += [f"{p.relative_to(root)}: {n}" for n in needles if n in text]
    return found


@pytest.fixture
def token_data(tmp_path: Path, demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small demo copied under a folder named with a token, chosen by $CS_PLAYBOOK_DATA."""
    src = tmp_path / f"secret-{TOKEN}" / "crm-exports"
    shutil.copytree(demo_dir, src)
    monkeypatch.setenv("CS_PLAYBOOK_DATA", str(src))
    monkeypatch.setenv("CS_PLAYBOOK_API_TOKEN", TOKEN)
    return src


def test_no_token_or_machine_path_in_any_output(tmp_path: Path, notebooks: Path, token_data: Path) -> None:
    _notebook(notebooks / "02_broken.ipynb", "import pandas; pandas.read_csv('/nonexistent/' + data_source)")
    reports = tmp_path / "reports"
    run = run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False)
    assert run.path == reports / "2026Q2.failed" and [n.name for n in run.failed] == ["02_broken"]
    leaks = _leaks(run.path, [TOKEN, str(tmp_path), str(PROJ_ROOT), "site-packages/", sys.prefix + "/"])
    assert leaks == []
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["source"] == "crm-exports" and manifest["inputs"]
    page = (run.path / "00_good" / "00_good.html").read_text()
    assert "data crm-exports" in page and "out ." in page  # the paths the notebook printed, shown by name
    nb = json.loads((run.path / "00_good" / "00_good.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["data_source"] == "crm-exports"


def test_a_real_notebook_leaks_no_token_or_machine_path(tmp_path: Path, token_data: Path) -> None:
    reports = tmp_path / "reports"
    run = run_report(reports_dir=reports, only=["00_kpi_overview"], progress=False)
    assert run.ok, [(n.name, n.error) for n in run.failed]
    assert _leaks(run.path, [TOKEN, str(tmp_path), str(PROJ_ROOT)]) == []
    summary = json.loads((run.path / "00_kpi_overview" / "summary.json").read_text())
    assert summary["source"] == "crm-exports"


# -- kernel deaths ---------------------------------------------------------------------------------------------------


def test_only_kernel_start_up_failures_are_retried_and_both_are_recorded(
    tmp_path: Path, notebooks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    from cs_playbook.runner.execute import execute_notebook

    calls: list[int] = []

    def start_fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")

    monkeypatch.setattr(pm, "execute_notebook", start_fails_once)
    res = execute_notebook(notebooks / "01_other.ipynb", tmp_path / "out.ipynb", {}, 60, "python3")
    assert res.status == "ok" and res.retries == 1 and "didn't respond" in res.retry_errors[0] and len(calls) == 2

    def dies(*args, **kwargs):
        calls.append(1)
        raise DeadKernelError("Kernel died")

    calls.clear()
    monkeypatch.setattr(pm, "execute_notebook", dies)
    res = execute_notebook(notebooks / "01_other.ipynb", tmp_path / "out.ipynb", {}, 60, "python3")
    assert res.status == "failed" and res.kernel_died and res.retries == 0 and len(calls) == 1


def test_too_little_disk_space_refuses_to_publish_with_a_message(
    tmp_path: Path, notebooks: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    reports = tmp_path / "reports"
    assert main([*_base(reports, notebooks), "--quarter", "2026Q2"]) == 2
    err = capsys.readouterr().err
    assert "Not enough free disk space" in err and "Traceback" not in err
    assert _published(reports) == []  # nothing published, the temporary build removed
