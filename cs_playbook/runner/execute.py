"""Run one report notebook with papermill: find the notebooks, name the kernel, capture any failure.

Per PITFALLS: success is judged by the execution error, never by notebook metadata; a timeout is
set; the kernel is named; a failed notebook is described (error, failing cell, its first code
line), never raised, so the other notebooks still run.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
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
    retries: int = 0  # kernel start-up failures retried (the errors are in retry_errors)
    retry_errors: list[str] = field(default_factory=list)
    kernel_died: bool = False  # the kernel died while running a cell (never retried)


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


def _is_startup_failure(err: BaseException) -> bool:
    """A kernel that failed to start (ZMQ port race, no reply): worth one retry. A dead kernel mid-run is not."""
    from nbclient.exceptions import DeadKernelError

    if isinstance(err, DeadKernelError):
        return False
    name = type(err).__name__
    return name == "ZMQError" or (isinstance(err, RuntimeError | TimeoutError) and "kernel" in str(err).lower())


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def execute_notebook(
    nb_path: Path, out_nb: Path, parameters: dict[str, str], timeout: int, kernel: str
) -> NotebookResult:
    """Run one notebook into `out_nb`; any failure is caught and described, never raised.

    Only a kernel that failed to start is retried (once); the retry is recorded in `retries` and
    `retry_errors`. A kernel that dies while running a cell fails the notebook (`kernel_died`).
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    error, cell, source, retry_errors, died = None, None, None, [], False
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
        except Exception as err:  # start-up failures retried once; timeouts and dead kernels recorded
            error = _describe(err)
            died = isinstance(err, DeadKernelError)
            if attempt == 2 or not _is_startup_failure(err):
                break
            retry_errors.append(error)
    if error and cell is None and out_nb.exists():
        cell = _first_unfinished_cell(out_nb)
    res = NotebookResult(
        nb_path.stem, "failed" if error else "ok", round(time.perf_counter() - start, 2), error, cell, source
    )
    res.retries, res.retry_errors, res.kernel_died = len(retry_errors), retry_errors, died
    return res


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


def path_replacements(named: dict[Path | str, str]) -> list[tuple[str, str]]:
    """(machine path, display text) pairs, longest first, plus the Python install and home folders.

    Every form a path takes in a notebook's JSON is covered (plain and resolved, with and without a
    trailing slash); the interpreter's prefixes become `<python>` so a traceback shows only
    project-relative frames.
    """
    import site

    pairs: dict[str, str] = {}
    for path, shown in named.items():
        for form in {str(path), str(Path(path).resolve())}:
            if form and form not in ("/", "."):
                pairs[form.rstrip("/") + "/"] = shown.rstrip("/") + "/" if shown else ""
                pairs[form.rstrip("/")] = shown
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    for prefix in prefixes:
        pairs.setdefault(str(Path(prefix)).rstrip("/") + "/", "<python>/")
    home = str(Path.home())
    if home not in ("/", ""):
        pairs.setdefault(home.rstrip("/") + "/", "~/")
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def scrub_text(text: str, replacements: list[tuple[str, str]]) -> str:
    """`text` with every machine path replaced by its display form."""
    for old, new in replacements:
        text = text.replace(old, new)
        escaped = json.dumps(old)[1:-1]
        if escaped != old:
            text = text.replace(escaped, json.dumps(new)[1:-1])
    return text


def scrub_notebook(out_nb: Path, shown_params: dict[str, str], replacements: list[tuple[str, str]]) -> None:
    """Rewrite an executed notebook for publishing: display parameters, no machine path anywhere in it."""
    nb = nbformat.read(out_nb, as_version=4)
    pm_meta = nb.metadata.get("papermill", {})
    if "parameters" in pm_meta:
        pm_meta["parameters"] = dict(shown_params)
    for key in ("input_path", "output_path"):
        if key in pm_meta:
            pm_meta[key] = Path(str(pm_meta[key])).name
    for c in nb.cells:
        if "injected-parameters" in c.get("metadata", {}).get("tags", []):
            c.source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in shown_params.items())
    text = scrub_text(nbformat.writes(nb), replacements)
    out_nb.write_text(text, encoding="utf-8")
