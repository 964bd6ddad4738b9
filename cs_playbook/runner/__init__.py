"""The quarterly run: build the quarter state once, execute the notebooks, write HTML, manifest and index, publish.

- `execute`: find the notebooks, name the kernel, run one notebook with papermill and capture its failure.
- `html`: the code-free, sanitized HTML page of an executed notebook.
- `manifest`: fingerprints of the data, params and quarter state, package versions, git commit.
- `index`: index.html, one card per notebook.
- `publish`: the temporary run folder and its atomic rename into reports/<quarter>/.
- `run`: `run_report`, the whole run.
"""

from cs_playbook.runner.execute import (
    DEFAULT_TIMEOUT,
    KERNEL_NAME,
    NotebookResult,
    discover_notebooks,
    ensure_kernel,
    execute_notebook,
    notebook_title,
)
from cs_playbook.runner.html import REPORT_TAGS, clean_report_html, to_html
from cs_playbook.runner.index import render_index
from cs_playbook.runner.manifest import fingerprint, hash_tree, manifest, versions
from cs_playbook.runner.publish import publish, temp_run_dir
from cs_playbook.runner.run import RunResult, run_report

__all__ = [
    "DEFAULT_TIMEOUT",
    "KERNEL_NAME",
    "NotebookResult",
    "RunResult",
    "REPORT_TAGS",
    "clean_report_html",
    "discover_notebooks",
    "ensure_kernel",
    "execute_notebook",
    "fingerprint",
    "hash_tree",
    "manifest",
    "notebook_title",
    "publish",
    "render_index",
    "run_report",
    "temp_run_dir",
    "to_html",
    "versions",
]
