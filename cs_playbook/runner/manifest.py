"""manifest.json: what a run read (data and params fingerprints, quarter state), with which code, and how it went."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from dataclasses import asdict
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from cs_playbook import __version__
from cs_playbook.config import PROJ_ROOT
from cs_playbook.outputs import to_jsonable
from cs_playbook.runner.execute import NotebookResult

__all__ = [
    "PACKAGES",
    "HASH_LIMIT",
    "fingerprint",
    "hash_tree",
    "hash_files",
    "versions",
    "git_commit",
    "manifest",
    "write_json",
]

PACKAGES = [
    "pandas",
    "numpy",
    "statsmodels",
    "seaborn",
    "matplotlib",
    "pandera",
    "duckdb",
    "ibis-framework",
    "papermill",
    "nbconvert",
    "pyarrow",
    "pydantic",
    "holidays",
]
HASH_LIMIT = 64 << 20  # files larger than this are fingerprinted by name, size and mtime


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes, or of name, size and mtime for very large files."""
    st = path.stat()
    if st.st_size > HASH_LIMIT:
        return "meta:" + hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """Fingerprints of every data or params file under root (or of root itself)."""
    if root.is_file():
        return {root.name: fingerprint(root)}
    return {
        str(p.relative_to(root)): fingerprint(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    }


def hash_files(files: list[Path], root: Path) -> dict[str, str]:
    """Fingerprints of the given files keyed by their path relative to root (e.g. quarter_state/state.json)."""
    return {Path(f).relative_to(root).as_posix(): fingerprint(Path(f)) for f in sorted(files)}


def versions() -> dict[str, str]:
    """Python, cs-playbook and the analysis packages' versions, for reproducing a run."""
    out = {"python": platform.python_version(), "cs-playbook": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The project's current git commit, or None outside a git checkout."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJ_ROOT, capture_output=True, text=True, timeout=5)
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def manifest(
    *,
    quarter: str,
    as_of: Any,
    started: datetime,
    finished: datetime,
    source: str,
    source_path: Path,
    params_dir: Path,
    quarter_state: dict[str, Any],
    state_seconds: float,
    notebooks: list[NotebookResult],
    partial: bool = False,
) -> dict[str, Any]:
    """The run's manifest as JSON-ready data: status, times, inputs, params, quarter state, versions, notebooks.

    `source` is the data source's name (never a machine path); inputs and params are keyed by their
    path inside the source and the params folder. Status is "failed" when a notebook failed, else
    "partial" for an `--only` run of some notebooks, else "ok".
    """
    from cs_playbook.params import display_path

    failed = any(r.status != "ok" for r in notebooks)
    return to_jsonable(
        {
            "quarter": quarter,
            "as_of": as_of,
            "status": "failed" if failed else "partial" if partial else "ok",
            "partial": partial,
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
            "source": source,
            "inputs": hash_tree(source_path) if source_path.exists() else {},
            "params_dir": display_path(params_dir),
            "params": hash_tree(params_dir),
            "quarter_state": quarter_state,
            "state_seconds": state_seconds,
            "versions": versions(),
            "git_commit": git_commit(),
            "notebooks": [{k: v for k, v in asdict(r).items() if k != "summary"} for r in notebooks],
        }
    )


def write_json(path: Path, data: Any, *, ensure_ascii: bool = True) -> None:
    """Write data (made JSON-ready by `outputs.to_jsonable`) as indented JSON."""
    path.write_text(json.dumps(to_jsonable(data), ensure_ascii=ensure_ascii, indent=2), encoding="utf-8")
