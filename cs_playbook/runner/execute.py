"""Run one report notebook with papermill: find the notebooks, name the kernel, capture any failure.

Per PITFALLS: success is judged by the execution error, never by notebook metadata; a timeout is
set; the kernel is named; a failed notebook is described (error, failing cell, its first code
line), never raised, so the other notebooks still run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from cs_playbook.config import NOTEBOOKS_DIR
from cs_playbook.errors import CsPlaybookError

__all__ = [
    "KERNEL_NAME",
    "DEFAULT_TIMEOUT",
    "NotebookResult",
    "notebook_title",
    "discover_notebooks",
    "ensure_kernel",
    "execute_notebook",
]

KERNEL_NAME = "cs-playbook"
DEFAULT_TIMEOUT = 1800


@dataclass
class NotebookResult:
    """How one notebook ran: status, duration, the failing cell and its error, its summary."""

    name: str
    status: str  # "ok" or "failed"
    duration_s: float
    error: str | None = None
    failed_cell: int | None = None  # index in the executed notebook (papermill's injected cell counts)
    failed_source: str | None = None  # first line of the failing cell's code
    summary: dict[str, Any] | None = None
    title: str = ""  # the notebook's own title, for index.html


def notebook_title(path: Path) -> str:
    """The title of a report notebook: its first '# ' heading up to any ':' (else its file name)."""
    try:
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "markdown")
        heading = next(ln for ln in first.source.splitlines() if ln.startswith("# "))
        return heading[2:].split(":", 1)[0].strip()
    except (StopIteration, OSError, ValueError):
        return path.stem.split("_", 1)[-1].replace("_", " ").capitalize()


def discover_notebooks(directory: Path = NOTEBOOKS_DIR, only: list[str] | None = None) -> list[Path]:
    """The report's notebooks in run order (file name order), optionally only those named."""
    found = sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    if only:
        wanted = {o.removesuffix(".ipynb") for o in only}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise CsPlaybookError(
                f"Unknown notebook(s): {', '.join(sorted(unknown))}. Available: {', '.join(p.stem for p in found)}"
            )
        found = [p for p in found if p.stem in wanted]
    return found


def ensure_kernel() -> str:
    """Install the project kernel (this Python) into this environment when it is missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="cs-playbook", prefix=sys.prefix)
    return KERNEL_NAME


def execute_notebook(
    nb_path: Path, out_nb: Path, parameters: dict[str, str], timeout: int, kernel: str
) -> NotebookResult:
    """Run one notebook into `out_nb`; any failure is caught and described, never raised."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    error, cell, source = None, None, None
    for attempt in (1, 2):
        try:
            pm.execute_notebook(
                str(nb_path),
                str(out_nb),
                parameters=parameters,
                kernel_name=kernel,
                cwd=str(nb_path.parent),
                progress_bar=False,
                execution_timeout=timeout,
                request_save_on_cell_execute=False,
            )
            error, cell = None, None
            break
        except PapermillExecutionError as err:
            error, cell = f"{err.ename}: {err.evalue}", err.cell_index
            source = next((ln for ln in (err.source or "").splitlines() if ln.strip()), None)
            break
        except RuntimeError as err:  # kernel failed to start (e.g. ZMQ port race): retry once
            error = f"{type(err).__name__}: {err}"
            if attempt == 2 or "kernel" not in str(err).lower():
                break
        except Exception as err:  # timeouts, dead kernels: record and go on with the next notebook
            error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
            break
    if error and cell is None and out_nb.exists():
        cell = _first_unfinished_cell(out_nb)
    return NotebookResult(
        nb_path.stem, "failed" if error else "ok", round(time.perf_counter() - start, 2), error, cell, source
    )


def _first_unfinished_cell(out_nb: Path) -> int | None:
    """The index of the first code cell that did not complete (for timeouts and dead kernels)."""
    try:
        nb = nbformat.read(out_nb, as_version=4)
    except Exception:
        return None
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("status") != "completed":
            return i
    return None
