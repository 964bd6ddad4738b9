"""Atomic publish: a run is built in a temporary folder of the reports dir and renamed into place only when complete.

Runs of one quarter never collide: `quarter_lock` holds a per-quarter lock file (fcntl) and names
the holder (pid, start time) to a second run. Temporary folders of dead runs are removed by the
next run; free disk space is checked before publishing.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cs_playbook.errors import CsPlaybookError

__all__ = [
    "temp_run_dir",
    "publish",
    "quarter_lock",
    "remove_stale_temps",
    "check_free_space",
    "check_room_to_build",
    "disk_full_error",
    "tree_size",
]

DISK_MARGIN = 16 << 20  # bytes kept free beyond the build's size


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_run_dir(reports_dir: Path, quarter: str) -> Path:
    """A fresh, empty hidden folder next to the published quarters (same file system), where this run is built."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    tmp = reports_dir / f".{quarter}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def remove_stale_temps(reports_dir: Path) -> list[Path]:
    """Remove `.<quarter>.tmp-<pid>` and `.<name>.old-<pid>` folders whose process is gone; return them."""
    removed = []
    if not reports_dir.is_dir():
        return removed
    for p in reports_dir.iterdir():
        if not p.name.startswith(".") or not p.is_dir():
            continue
        stem, sep, pid = p.name.rpartition("-")
        if not sep or not pid.isdigit() or not stem.endswith((".tmp", ".old")):
            continue
        if int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextmanager
def quarter_lock(reports_dir: Path, quarter: str) -> Iterator[Path]:
    """Hold reports_dir/.<quarter>.lock for the run; a second run raises CsPlaybookError naming the holder."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f".{quarter}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise CsPlaybookError(
                f"Report {quarter} is being built by another run ({holder}); "
                f"wait for it to finish (lock file {path.name} in the reports folder)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def tree_size(root: Path) -> int:
    """Bytes of every file under root."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def check_free_space(build: Path, reports_dir: Path) -> None:
    """Refuse to publish when the reports file system cannot hold another copy of the build (plus a margin)."""
    from cs_playbook.params import display_path

    need = tree_size(build) + DISK_MARGIN
    free = shutil.disk_usage(reports_dir).free
    if free < need:
        raise CsPlaybookError(
            f"Not enough free disk space in the reports folder {display_path(reports_dir)}/: "
            f"{free / 1e6:.1f} MB free, the report needs {need / 1e6:.1f} MB. Nothing was published."
        )


def check_room_to_build(reports_dir: Path) -> None:
    """Refuse to start a build on a reports file system with less than DISK_MARGIN free: nothing is written."""
    from cs_playbook.params import display_path

    free = shutil.disk_usage(reports_dir).free
    if free < DISK_MARGIN:
        raise CsPlaybookError(
            f"Not enough free disk space in the reports folder {display_path(reports_dir)}/: {free / 1e6:.1f} MB "
            f"free, a report needs at least {DISK_MARGIN / 1e6:.0f} MB to be built. Nothing was written."
        )


def disk_full_error(err: OSError, reports_dir: Path) -> OSError:
    """A disk-full error that names the reports folder (pyarrow's and the kernels' errors name no file)."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT) and not err.filename:
        return OSError(err.errno, os.strerror(err.errno), str(reports_dir))
    return err


def publish(tmp: Path, final: Path) -> None:
    """Move the finished folder into place, replacing an existing one only at the last moment."""
    backup = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(backup)
    try:
        tmp.rename(final)
    except BaseException:
        if backup.exists() and not final.exists():
            backup.rename(final)
        raise
    shutil.rmtree(backup, ignore_errors=True)
