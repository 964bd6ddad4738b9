"""Writing a demo company: dates as text and the atomic folder write shared by every demo profile."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["fmt_dates", "install_params", "sync_params", "write_folder", "PROFILE_PARAMS_DIR", "SUBSCRIPTION_COLUMNS"]

PROFILE_PARAMS_DIR = Path(__file__).parent / "params"
# Column order of subscriptions.csv, as every demo profile writes it.
SUBSCRIPTION_COLUMNS = [
    "subscription_id",
    "account_id",
    "department",
    "product",
    "start_date",
    "end_date",
    "arr",
    "seats",
    "auto_renew",
    "currency",
]


def fmt_dates(df: pd.DataFrame, dates: list[str] = (), times: list[str] = ()) -> pd.DataFrame:
    """`df` with date columns as YYYY-MM-DD, time columns as YYYY-MM-DD HH:MM:SS and booleans as true/false."""
    out = df.copy()
    for c in dates:
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    for c in times:
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d %H:%M:%S")
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "true", False: "false"})
    return out


def write_folder(out_dir: Path, fill: Callable[[Path], dict[str, int]]) -> dict[str, int]:
    """Run `fill` on a temporary sibling of out_dir, then rename it into place (replacing out_dir); its result."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        counts = fill(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def install_params(folder: Path, profile: str) -> list[str]:
    """Copy the profile's own params (cs_playbook/demo/params/<profile>/*.yaml) into folder; the files copied."""
    source = PROFILE_PARAMS_DIR / profile
    names = sorted(p.name for p in source.glob("*.yaml")) if source.is_dir() else []
    if names:
        folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(source / name, folder / name)
    return names


def sync_params(folder: Path, profile: str) -> list[str]:
    """Bring a generated demo folder's own params up to the package's (only files that differ); the files written."""
    source = PROFILE_PARAMS_DIR / profile
    written = []
    for src in sorted(source.glob("*.yaml")) if source.is_dir() else []:
        target = folder / src.name
        if target.exists() and target.read_bytes() == src.read_bytes():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
        written.append(src.name)
    return written
