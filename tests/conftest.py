"""Shared fixtures: one small demo company per test session, also used by nbval's notebooks.

`pytest_configure` generates it (cached by a hash of the generator's source) and points
$CS_PLAYBOOK_DATA at it before any notebook kernel starts, so nbval runs every notebook on
its parameter defaults against small, realistic data.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from cs_playbook.config import DATA_ENV_VAR, PROJ_ROOT

SMALL_DEMO = {"n_accounts": 300, "n_events": 400_000, "seed": 7}


def _demo_sources_hash() -> str:
    import cs_playbook.demo as demo

    root = Path(demo.__file__).parent if Path(demo.__file__).name == "__init__.py" else Path(demo.__file__)
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    h = hashlib.sha256(repr(SMALL_DEMO).encode())
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def small_demo_path() -> Path:
    """The cached small demo company, generated on first use."""
    from cs_playbook.demo import generate_demo

    path = PROJ_ROOT / ".cache" / f"demo-small-{_demo_sources_hash()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One generator at a time: parallel test sessions wait for the first one's company.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "accounts.csv").exists():
            generate_demo(path, **SMALL_DEMO)
    return path


def pytest_configure(config: pytest.Config) -> None:
    os.environ[DATA_ENV_VAR] = str(small_demo_path())


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """Folder of the small demo company (300 accounts, 150k events)."""
    return Path(os.environ[DATA_ENV_VAR])


@pytest.fixture(scope="session")
def demo_ds(demo_dir: Path):
    """The small demo company loaded and validated."""
    from cs_playbook.io import load_dataset

    return load_dataset(str(demo_dir))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator for randomized tests."""
    return np.random.default_rng(20261124)
