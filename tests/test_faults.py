"""Fault tests: a killed run, a killed kernel, two runs of one quarter, a partial run, a full disk, a read-only disk.

Real processes and real file systems: the runner is started as a subprocess (`python -m cs_playbook.cli report`)
and killed with SIGKILL; a kernel is killed from outside; the disk is a small tmpfs, mounted as root as in CI
(skipped with a message where mounting is not permitted). Stand-in notebooks (fast, as in tests/test_report.py)
run on the small demo company ($CS_PLAYBOOK_DATA, set by tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cs_playbook.cli import main
from cs_playbook.errors import CsPlaybookError
from cs_playbook.runner import run_report
from tests.test_report import WRITE_SUMMARY, _notebook

QUARTER = "2026Q3"  # the small demo's last complete quarter
CLI = [sys.executable, "-m", "cs_playbook.cli"]
WAIT_LIMIT = 300  # seconds a test waits for a run to reach a notebook (a wait, never an assertion on time)


def _base(reports: Path, notebooks: Path) -> list[str]:
    return [
        "report",
        "--reports-dir",
        str(reports),
        "--notebooks-dir",
        str(notebooks),
        "--no-progress",
        "--quarter",
        QUARTER,
        "--jobs",
        "1",
    ]


def _published(reports: Path) -> list[str]:
    """The report folders a reader sees (hidden lock and temporary folders left out)."""
    return sorted(p.name for p in reports.iterdir() if not p.name.startswith(".")) if reports.exists() else []


def _hidden(reports: Path) -> list[str]:
    return sorted(p.name for p in reports.iterdir() if p.name.startswith(".")) if reports.exists() else []


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """Two stand-in notebooks that write their summary."""
    d = tmp_path / "good"
    d.mkdir()
    _notebook(d / "00_good.ipynb", WRITE_SUMMARY)
    _notebook(d / "01_other.ipynb", WRITE_SUMMARY)
    return d


class Waiting:
    """Stand-in notebooks whose second one writes its kernel's pid to `marker`, then waits for `release`."""

    def __init__(self, root: Path) -> None:
        self.notebooks = root / "waiting"
        self.notebooks.mkdir()
        self.marker, self.release = root / "kernel.pid", root / "release"
        wait = (
            "import os, pathlib, time\n"
            f"pathlib.Path({str(self.marker)!r}).write_text(str(os.getpid()))\n"
            f"deadline = time.time() + {WAIT_LIMIT}\n"
            f"while not pathlib.Path({str(self.release)!r}).exists() and time.time() < deadline:\n"
            "    time.sleep(0.1)"
        )
        _notebook(self.notebooks / "00_good.ipynb", WRITE_SUMMARY)
        _notebook(self.notebooks / "01_wait.ipynb", wait, WRITE_SUMMARY)
        self.procs: list[subprocess.Popen] = []

    def start(self, reports: Path, *args: str) -> subprocess.Popen:
        """`cs-playbook report` in a subprocess (its own session, so the test can end it and its children)."""
        proc = subprocess.Popen(
            [*CLI, *_base(reports, self.notebooks), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kernel_pid(self, proc: subprocess.Popen) -> int:
        """Wait until the waiting notebook runs; its kernel's pid."""
        deadline = time.monotonic() + WAIT_LIMIT
        while not (self.marker.exists() and self.marker.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate()
                pytest.fail(f"the run never reached the waiting notebook (exit {proc.returncode}):\n{out}\n{err}")
            time.sleep(0.1)
        return int(self.marker.read_text())

    def end(self) -> None:
        """Release the waiting notebook and end whatever this test started and left running."""
        self.release.touch()
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.marker.exists():
            _kill_kernel(int(self.marker.read_text()))


def _kill_kernel(pid: int) -> None:
    """SIGKILL a kernel this test's run started, if it is still that kernel (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"ipykernel" in cmdline:
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def waiting(tmp_path: Path) -> Iterator[Waiting]:
    w = Waiting(tmp_path)
    yield w
    w.end()


# -- kill --------------------------------------------------------------------------------------------------------------


def test_a_killed_run_changes_no_published_quarter_and_the_next_run_cleans_up(
    tmp_path: Path, good: Path, waiting: Waiting
) -> None:
    reports = tmp_path / "reports"
    assert main(_base(reports, good)) == 0
    before = _hashes(reports / QUARTER)
    proc = waiting.start(reports, "--force")
    kernel = waiting.kernel_pid(proc)
    os.kill(proc.pid, signal.SIGKILL)  # while the second notebook runs
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    _kill_kernel(kernel)  # the orphaned kernel of the killed run
    assert _hashes(reports / QUARTER) == before and _published(reports) == [QUARTER]
    stale = reports / f".{QUARTER}.tmp-{proc.pid}"
    assert (stale / "00_good" / "summary.json").exists()  # the killed run's half-built report, hidden
    # The next run removes the dead run's folder and publishes.
    assert main([*_base(reports, good), "--force"]) == 0
    assert not stale.exists() and _hidden(reports) == [f".{QUARTER}.lock"]
    assert _published(reports) == [QUARTER] and _manifest(reports / QUARTER)["status"] == "ok"


def test_a_kernel_killed_mid_notebook_is_recorded_and_fails_the_run(tmp_path: Path, waiting: Waiting) -> None:
    reports = tmp_path / "reports"
    proc = waiting.start(reports)
    os.kill(waiting.kernel_pid(proc), signal.SIGKILL)  # as the OOM killer would
    out, err = proc.communicate(timeout=WAIT_LIMIT)
    assert proc.returncode == 1, out + err
    assert "Notebook 01_wait failed" in err and "Traceback" not in out + err
    assert _published(reports) == [f"{QUARTER}.failed"]  # never a complete-looking quarter
    manifest = _manifest(reports / f"{QUARTER}.failed")
    entries = {n["name"]: n for n in manifest["notebooks"]}
    assert manifest["status"] == "failed" and entries["00_good"]["status"] == "ok"
    assert entries["01_wait"]["status"] == "failed" and entries["01_wait"]["kernel_died"] is True
    assert entries["01_wait"]["retries"] == 0  # a kernel death mid-run is never retried
    assert "kernel" in entries["01_wait"]["error"].lower()
    index = (reports / f"{QUARTER}.failed" / "index.html").read_text(encoding="utf-8")
    assert "01_wait" in index or "Test notebook" in index


# -- lock --------------------------------------------------------------------------------------------------------------


def test_a_second_run_of_a_quarter_being_built_exits_2_naming_the_holder(
    tmp_path: Path, good: Path, waiting: Waiting, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    first = waiting.start(reports)
    waiting.kernel_pid(first)  # the first run holds the lock and is running its notebooks
    assert main(_base(reports, good)) == 2
    err = capsys.readouterr().err
    assert f"pid {first.pid}, started" in err and "Traceback" not in err
    waiting.release.touch()
    out, err = first.communicate(timeout=WAIT_LIMIT)
    assert first.returncode == 0, out + err
    assert _published(reports) == [QUARTER]  # the first run's report, untouched by the second
    assert [n["name"] for n in _manifest(reports / QUARTER)["notebooks"]] == ["00_good", "01_wait"]
    with pytest.raises(CsPlaybookError, match="already exists"):  # released; the finished quarter is kept
        run_report(QUARTER, reports_dir=reports, notebooks_dir=good, progress=False)


# -- partial runs ------------------------------------------------------------------------------------------------------


def test_only_never_replaces_a_complete_quarter_and_is_marked_partial(tmp_path: Path, good: Path) -> None:
    reports = tmp_path / "reports"
    assert main(_base(reports, good)) == 0
    before = _hashes(reports / QUARTER)
    for force in ([], ["--force"]):
        assert main([*_base(reports, good), "--only", "01_other", *force]) == 0
    assert _hashes(reports / QUARTER) == before  # the complete quarter is untouched
    assert _manifest(reports / QUARTER)["status"] == "ok"
    part = reports / f"{QUARTER}.partial"
    manifest = _manifest(part)
    assert manifest["status"] == "partial" and [n["name"] for n in manifest["notebooks"]] == ["01_other"]
    banner = re.search(r'<p class="[^"]*\bpartial\b[^"]*">([^<]*)</p>', (part / "index.html").read_text("utf-8"))
    assert banner and "01_other" in banner.group(1)  # the index says which notebooks the partial run holds
    assert json.loads((part / "summary.json").read_text(encoding="utf-8"))["partial"] is True
    # A second partial run without --force is refused (exit 2), never silently replaced.
    with pytest.raises(CsPlaybookError, match=f"{QUARTER}.partial already exists"):
        run_report(QUARTER, reports_dir=reports, notebooks_dir=good, only=["01_other"], progress=False)


# -- full and read-only disks (a real tmpfs) ---------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a tmpfs of a given size under tmp_path; skipped where mounting is not permitted; unmounted after."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk-{size}"
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command: the disk tests need a tmpfs (run as root, as in CI)")
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
        )
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (the disk tests need root, as in CI): {res.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_disk_too_small_for_a_report_is_refused_before_anything_is_written(
    tmpfs: Callable[[str], Path], good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = tmpfs("2m")
    assert main(_base(disk, good)) == 2
    err = capsys.readouterr().err
    assert "Not enough free disk space" in err and f"{disk.name}/" in err and "Traceback" not in err
    assert _published(disk) == [] and _hidden(disk) == [f".{QUARTER}.lock"]  # no build left behind


FILL_THE_DISK = (
    "import pathlib\n"
    "block = b'x' * (1 << 20)\n"
    "try:\n"
    "    with open(pathlib.Path(output_dir) / 'filler.bin', 'wb') as fh:\n"
    "        while True:\n"
    "            fh.write(block)\n"
    "            fh.flush()\n"
    "except OSError as err:\n"
    "    print('disk full:', err.errno)"
)


def test_a_disk_that_fills_up_during_the_run_is_a_message_and_nothing_is_published(
    tmpfs: Callable[[str], Path], good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = tmpfs("24m")
    _notebook(good / "01_other.ipynb", FILL_THE_DISK, WRITE_SUMMARY)
    code = main(_base(disk, good))
    err = capsys.readouterr().err
    assert code == 1, err  # a failed run (exit 1), not bad input; one message, never a traceback
    assert f"error: the disk is full: {Path(*disk.parts[-3:])}" in err and "Traceback" not in err, err
    assert _published(disk) == [] and _hidden(disk) == [f".{QUARTER}.lock"]  # nothing half-written
    assert shutil.disk_usage(disk).used < 1 << 20  # the build (and the filler in it) removed


def test_a_read_only_reports_disk_is_a_message_and_the_published_quarter_stays(
    tmpfs: Callable[[str], Path], good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = tmpfs("64m")
    assert main(_base(disk, good)) == 0
    before = _hashes(disk / QUARTER)
    res = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only here: {res.stderr.strip()}")
    capsys.readouterr()
    assert main([*_base(disk, good), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the file system is read-only") and disk.name in err and "Traceback" not in err
    assert _hashes(disk / QUARTER) == before


# -- two validations at once -------------------------------------------------------------------------------------------


def test_two_validations_of_a_cp932_export_at_once_both_succeed(tmp_path: Path) -> None:
    """Both convert the CP932 events to UTF-8 for the engine at the same moment: unique temporary names, no crash."""
    from tests.test_bad_inputs import frames, write

    folder = write(tmp_path / "cp932 export", frames(), encoding="cp932")
    events = folder / "events.csv"
    events.write_bytes(events.read_bytes() + "A1,ユーザー,2024-03-03 10:00:00,ログイン\n".encode("cp932"))
    os.utime(events)  # a new file version: neither run finds a ready copy
    procs = [
        subprocess.Popen([*CLI, "validate", "--data", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=WAIT_LIMIT), p.stdout.read().decode(), p.stderr.read().decode()) for p in procs]
    for code, out, err in results:
        assert code == 0 and re.search(r"events\s+4 rows", out), out + err
        assert "Traceback" not in err
