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
# Enough churn and expansion events for the statistical tests (fitted signs, out-of-time AUC and lift).
MEDIUM_DEMO = {"n_accounts": 1500, "n_events": 600_000, "seed": 7}
# The second profile: a small US product-led company (USD, monthly and annual terms, exclusive end dates).
USPLG_SMALL = {"profile": "us-plg", "n_accounts": 300, "n_events": 300_000, "seed": 11}


def _demo_sources_hash(spec: dict) -> str:
    import cs_playbook.demo as demo

    h = hashlib.sha256(repr(spec).encode())
    root = Path(demo.__file__).parent
    for f in sorted([*root.rglob("*.py"), *root.rglob("*.yaml")]):
        # The Japanese demo does not use the us-plg generator: editing it must not regenerate the JP caches.
        if spec.get("profile") != "us-plg" and f.relative_to(root).parts[0] == "usplg":
            continue
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cached_demo(name: str, spec: dict) -> Path:
    """A demo company cached in .cache/ by its size and the generator's source and params, generated on first use."""
    from cs_playbook.demo import generate_demo

    path = PROJ_ROOT / ".cache" / f"demo-{name}-{_demo_sources_hash(spec)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One generator at a time: parallel test sessions wait for the first one's company.
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "accounts.csv").exists():
            generate_demo(path, **spec)
    return path


def small_demo_path() -> Path:
    """The cached small demo company (the test session's default data)."""
    return cached_demo("small", SMALL_DEMO)


def pytest_configure(config: pytest.Config) -> None:
    os.environ[DATA_ENV_VAR] = str(small_demo_path())


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """Folder of the small demo company (300 accounts, 400k events)."""
    return Path(os.environ[DATA_ENV_VAR])


@pytest.fixture(scope="session")
def demo_ds(demo_dir: Path):
    """The small demo company loaded and validated."""
    from cs_playbook.data.io import load_dataset

    return load_dataset(str(demo_dir))


@pytest.fixture(scope="session")
def medium_demo_ds():
    """A 1,500-account demo company, loaded: for the tests that fit and validate models on it."""
    from cs_playbook.data.io import load_dataset

    return load_dataset(str(cached_demo("medium", MEDIUM_DEMO)))


@pytest.fixture(scope="session")
def usplg_dir() -> Path:
    """Folder of the small us-plg company (300 accounts, 300k events, exclusive end dates, USD)."""
    return cached_demo("usplg-small", USPLG_SMALL)


@pytest.fixture(scope="session")
def usplg_ds(usplg_dir: Path):
    """The small us-plg company loaded and validated (with the params overlay of its folder)."""
    from cs_playbook.data.io import load_dataset

    return load_dataset(str(usplg_dir))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator for randomized tests."""
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def quarter_state(demo_ds):
    """The small demo company's quarter state (the last complete quarter), as the runner builds it."""
    from cs_playbook.params import params_dir
    from cs_playbook.state import build_state

    return build_state(demo_ds, params_dir=params_dir(None))
