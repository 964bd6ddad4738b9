"""Project paths, resolved from the package location so notebooks run from any directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PROJ_ROOT",
    "PARAMS_DIR",
    "DATA_DIR",
    "DEMO_DIR",
    "REPORTS_DIR",
    "NOTEBOOKS_DIR",
    "DATA_ENV_VAR",
    "resolve_path",
]

PROJ_ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = PROJ_ROOT / "params"
DATA_DIR = PROJ_ROOT / "data"
DEMO_DIR = DATA_DIR / "demo"
REPORTS_DIR = PROJ_ROOT / "reports"
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"

# Overrides the `source` of params/data.yaml (a folder, a .duckdb file or "demo"); the test
# suite points it at a small demo company so nbval runs the notebooks on their defaults.
DATA_ENV_VAR = "CS_PLAYBOOK_DATA"


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A path from params or the command line, relative to the project root when not absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJ_ROOT / p
