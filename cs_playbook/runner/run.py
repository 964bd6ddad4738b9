"""The quarterly run: execute every notebook with papermill into reports/<quarter>/.

Per PITFALLS: success is judged by the execution error, never by notebook metadata; a
timeout is set; the kernel is named; output is built in a temporary folder and renamed into
place only when complete; a failed notebook does not stop the others, and a run with a
failure is published as reports/<quarter>.failed/ so it never looks like a complete report.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
from tqdm.auto import tqdm

from cs_playbook import __version__
from cs_playbook.config import NOTEBOOKS_DIR, PROJ_ROOT, REPORTS_DIR
from cs_playbook.data.io import load_dataset
from cs_playbook.errors import CsPlaybookError
from cs_playbook.outputs import to_jsonable
from cs_playbook.quarters import last_complete_quarter, quarter_bounds

__all__ = ["NotebookResult", "RunResult", "discover_notebooks", "notebook_title", "run_report", "KERNEL_NAME"]

KERNEL_NAME = "cs-playbook"
DEFAULT_TIMEOUT = 1800
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


@dataclass
class RunResult:
    """The outcome of a quarterly run and where it was published."""

    quarter: str
    path: Path
    notebooks: list[NotebookResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every notebook ran without error."""
        return all(nb.status == "ok" for nb in self.notebooks)

    @property
    def failed(self) -> list[NotebookResult]:
        """The notebooks that failed."""
        return [nb for nb in self.notebooks if nb.status != "ok"]


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


def _execute(nb_path: Path, out_nb: Path, parameters: dict[str, str], timeout: int, kernel: str) -> NotebookResult:
    """Run one notebook; any failure is caught and described, never raised."""
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


# What a report page may contain: headings, paragraphs, lists, tables (with the <style> block pandas'
# Styler writes) and inline images. nbconvert's own sanitizer allows only bleach's dozen inline tags, so
# it escaped every heading, paragraph and table into visible "<h2>" text; this list keeps the layout
# while scripts, event handlers (onerror=...), iframes, forms and javascript: links are still removed.
REPORT_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "small",
        "span",
        "strong",
        "style",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    }
)
_GLOBAL_ATTRS = {"class", "id", "title", "style", "align"}
_TAG_ATTRS = {
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "col": {"span"},
    "ol": {"start"},
    "style": {"type"},
}


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """Attribute filter for report HTML: inline images only as data:image/..., links only http(s)/mailto/#."""
    if name not in _GLOBAL_ATTRS and name not in _TAG_ATTRS.get(tag, set()):
        return False
    if tag == "img" and name == "src":
        return value.startswith("data:image/") and not value.startswith("data:image/svg")
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#")) or "://" not in value and ":" not in value
    return True


def clean_report_html(fragment: str) -> str:
    """Sanitize a Markdown-rendered or HTML output fragment for a report page (see REPORT_TAGS)."""
    import bleach
    from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer

    css = CSSSanitizer(allowed_css_properties=[*ALLOWED_CSS_PROPERTIES, "text-align", "white-space", "min-width"])
    return bleach.clean(
        str(fragment),
        tags=REPORT_TAGS,
        attributes=_allowed_attribute,
        protocols=["http", "https", "mailto", "data"],
        css_sanitizer=css,
        strip=True,
        strip_comments=True,
    )


def to_html(executed: Path, target: Path) -> None:
    """A code-free HTML page of an executed notebook for business readers, sanitized by `clean_report_html`."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = [
                o for o in c.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.sanitize_html = True
    exporter.register_filter("clean_html", clean_report_html)
    body, _ = exporter.from_notebook_node(nb)
    target.write_text(body, encoding="utf-8")


def _fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes, or of name, size and mtime for very large files."""
    st = path.stat()
    if st.st_size > HASH_LIMIT:
        return "meta:" + hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _hash_tree(root: Path) -> dict[str, str]:
    """Fingerprints of every data or params file under root (or of root itself)."""
    if root.is_file():
        return {root.name: _fingerprint(root)}
    return {
        str(p.relative_to(root)): _fingerprint(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cs-playbook": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJ_ROOT, capture_output=True, text=True, timeout=5)
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _read_summary(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / "summary.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def render_index(quarter: str, as_of: str, results: list[NotebookResult], source: str) -> str:
    """index.html: one card per notebook with its headline figures, warnings and exports."""
    cards = []
    for r in results:
        s = r.summary or {}
        title = html.escape(r.title or r.name)
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in (s.get("headline") or {}).items()
        )
        warn = "".join(f"<li>{html.escape(str(w))}</li>" for w in s.get("warnings") or [])
        exports = " · ".join(
            f'<a href="{html.escape(r.name)}/{html.escape(e)}">{html.escape(e)}</a>' for e in s.get("exports") or []
        )
        if r.status != "ok":
            status = (
                f'<p class="failed">FAILED at cell {r.failed_cell if r.failed_cell is not None else "?"}'
                f"{' (' + html.escape(r.failed_source) + ')' if r.failed_source else ''}: "
                f"{html.escape(r.error or '')}</p>"
            )
        elif not s:
            status = '<p class="failed">No summary.json was written.</p>'
        else:
            status = ""
        cards.append(
            f'<section class="card"><h2><a href="{html.escape(r.name)}/{html.escape(r.name)}.html">{title}</a></h2>'
            f"{status}<table>{rows}</table>"
            + (
                f'<details class="warn"><summary>{len(s.get("warnings") or [])} note(s) on this analysis</summary>'
                f"<ul>{warn}</ul></details>"
                if warn
                else ""
            )
            + (f'<p class="exports">Exports: {exports}</p>' if exports else "")
            + f'<p class="meta">{r.duration_s:.0f} s</p></section>'
        )
    failed = [r for r in results if r.status != "ok"]
    banner = (
        f'<p class="failed">{len(failed)} of {len(results)} notebooks failed: this report is incomplete.</p>'
        if failed
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer success report {html.escape(quarter)}</title>
<style>
body {{ font-family: system-ui, "Hiragino Sans", "Noto Sans JP", sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: .2rem; }} .sub {{ color: #666; margin-top: 0; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }}
.card {{ border: 1px solid #ddd; border-radius: 8px; padding: 1rem; }}
.card h2 {{ font-size: 1.1rem; margin: 0 0 .5rem; }} .card a {{ color: #1a5fb4; text-decoration: none; }}
table {{ border-collapse: collapse; width: 100%; }} th {{ text-align: left; font-weight: normal; color: #555; padding: 2px 8px 2px 0; }}
td {{ text-align: right; font-weight: 600; font-variant-numeric: tabular-nums; }}
.failed {{ color: #b00020; font-weight: 600; }} .warn {{ color: #8a6d00; font-size: .9rem; margin-top: .5rem; }}
.warn summary {{ cursor: pointer; }}
.exports, .meta {{ font-size: .85rem; color: #666; }}
@media print {{ .card {{ break-inside: avoid; }} }}
</style></head><body>
<h1>Customer success report {html.escape(quarter)}</h1>
<p class="sub">Data as of {html.escape(as_of)} · source {html.escape(source)} · generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>
{banner}<div class="grid">{"".join(cards)}</div>
</body></html>
"""


def _publish(tmp: Path, final: Path) -> None:
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


def run_report(
    quarter: str | None = None,
    *,
    data_source: str | None = None,
    params_dir: str | Path | None = None,
    reports_dir: Path = REPORTS_DIR,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    only: list[str] | None = None,
    force: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> RunResult:
    """Validate the data, run every notebook, then publish reports/<quarter>/ in one rename.

    Raises CsPlaybookError (exit code 2) before anything is written when the data breaks the
    contract, the quarter is malformed, or the quarter's report exists and `force` is off.
    """
    from cs_playbook.params import params_dir as resolve_params_dir

    pdir = resolve_params_dir(params_dir)
    ds = load_dataset(data_source, params_dir=pdir)
    q = (quarter or last_complete_quarter(ds.as_of)).strip().upper()
    _, q_end = quarter_bounds(q)
    if q_end > ds.as_of:
        raise CsPlaybookError(f"Quarter {q} is not complete in the data (data as of {ds.as_of:%Y-%m-%d}).")
    final = reports_dir / q
    if final.exists() and not force:
        raise CsPlaybookError(f"{final} already exists; pass --force to replace it.")
    paths = discover_notebooks(notebooks_dir, only)
    if not paths:
        raise CsPlaybookError(f"No notebooks found in {notebooks_dir}")
    kernel = ensure_kernel()

    reports_dir.mkdir(parents=True, exist_ok=True)
    tmp = reports_dir / f".{q}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    started = datetime.now(UTC)
    source_path = ds.source if Path(ds.source).is_absolute() else str(PROJ_ROOT / ds.source)
    results: list[NotebookResult] = []
    try:
        bar = tqdm(paths, desc=f"Report {q}", unit="notebook", disable=not progress)
        for nb_path in bar:
            bar.set_postfix_str(nb_path.stem)
            out_dir = tmp / nb_path.stem
            out_dir.mkdir()
            out_nb = out_dir / nb_path.name
            params = {"quarter": q, "data_source": source_path, "params_dir": str(pdir), "output_dir": str(out_dir)}
            res = _execute(nb_path, out_nb, params, timeout, kernel)
            res.title = notebook_title(nb_path)
            res.summary = _read_summary(out_dir)
            if res.status == "ok" and res.summary is None:
                res.status, res.error = "failed", "the notebook wrote no summary.json"
            if out_nb.exists():
                try:
                    to_html(out_nb, out_dir / f"{nb_path.stem}.html")
                except Exception as err:  # a broken export is a failure of that notebook, not the run
                    res.status, res.error = "failed", res.error or f"HTML export failed: {err}"
            results.append(res)
        finished = datetime.now(UTC)
        combined = {r.name: r.summary for r in results}
        (tmp / "summary.json").write_text(
            json.dumps(
                to_jsonable({"quarter": q, "as_of": ds.as_of, "notebooks": combined}), ensure_ascii=False, indent=2
            ),
            encoding="utf-8",
        )
        source_root = Path(source_path)
        manifest = {
            "quarter": q,
            "as_of": ds.as_of,
            "status": "ok" if all(r.status == "ok" for r in results) else "failed",
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
            "source": ds.source,
            "inputs": _hash_tree(source_root) if source_root.exists() else {},
            "params": _hash_tree(pdir),
            "versions": _versions(),
            "git_commit": _git_commit(),
            "notebooks": [{k: v for k, v in asdict(r).items() if k != "summary"} for r in results],
        }
        (tmp / "manifest.json").write_text(json.dumps(to_jsonable(manifest), indent=2), encoding="utf-8")
        (tmp / "index.html").write_text(render_index(q, f"{ds.as_of:%Y-%m-%d}", results, ds.source), encoding="utf-8")
        run = RunResult(q, final, results)
        if not run.ok:
            run.path = reports_dir / f"{q}.failed"
        _publish(tmp, run.path)
        return run
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
