"""Atomic publish: a run is built in a temporary folder and renamed into reports/<quarter>/ only when complete."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["temp_run_dir", "publish"]


def temp_run_dir(reports_dir: Path, quarter: str) -> Path:
    """A fresh, empty hidden folder next to the published quarters, where this run is built."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    tmp = reports_dir / f".{quarter}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


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
