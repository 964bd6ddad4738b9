"""Every report notebook follows the conventions the runner relies on."""

from __future__ import annotations

import re

import nbformat
import pytest
from papermill.translators import PythonTranslator

from cs_playbook.config import NOTEBOOKS_DIR
from cs_playbook.runner.run import discover_notebooks

NOTEBOOKS = discover_notebooks(NOTEBOOKS_DIR)
EXPECTED = ["quarter", "data_source", "params_dir", "output_dir", "state_dir"]


def test_there_are_notebooks() -> None:
    assert [p.stem for p in NOTEBOOKS][:1] == ["00_kpi_overview"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_that_papermill_parses(path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = PythonTranslator.inspect(tagged[0])
    assert [p.name for p in params] == EXPECTED
    assert all(p.default == '""' and p.help for p in params)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_and_titled(path) -> None:
    nb = nbformat.read(path, as_version=4)
    # A title: a Markdown "# " cell first (the page shell shows it in the report language), or the page's
    # catalog title shown by ctx.section("<area>.page", level=1) in the first cells.
    first = nb.cells[0]
    assert (first.cell_type == "markdown" and first.source.startswith("# ")) or any(
        c.cell_type == "code" and re.search(r'ctx\.section\("\w+\.page", level=1', c.source) for c in nb.cells[:3]
    ), f"{path.name}: no title"
    for c in nb.cells:
        if c.cell_type == "code" and "nbval-check-output" not in c.metadata.get("tags", []):
            assert not c.outputs, f"{path.name}: stored outputs make diffs unreadable"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_consistency_checks_are_compared_by_nbval(path) -> None:
    # nbval --nbval-lax compares only tagged cells that keep an output: an empty one is never checked.
    nb = nbformat.read(path, as_version=4)
    checks = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checks, f"{path.name}: no consistency-check cell tagged nbval-check-output"
    for c in checks:
        assert c.execution_count is not None and c.outputs, f"{path.name}: the check cell keeps no expected output"
        text = "".join(o.get("text", "") for o in c.outputs)
        assert "True" in text and "False" not in text


def test_notebooks_are_ruff_clean() -> None:
    """ruff lints the notebooks' code cells like the package (make lint runs the same check)."""
    import subprocess
    import sys

    from cs_playbook.config import NOTEBOOKS_DIR, PROJ_ROOT

    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(NOTEBOOKS_DIR)],
        cwd=PROJ_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
