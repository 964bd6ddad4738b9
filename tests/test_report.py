"""The quarterly runner: quarter state built once, failure isolation, atomic publish, no silent overwrite, manifest, HTML.

These runs use small stand-in notebooks (fast); tests/test_runner_state.py runs real report notebooks.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cs_playbook.cli import main
from cs_playbook.config import PARAMS_DIR
from cs_playbook.errors import CsPlaybookError
from cs_playbook.formatting import Formatter
from cs_playbook.i18n import messages
from cs_playbook.runner import run_report, to_html

PARAMS_CELL = (
    'quarter: str = ""\ndata_source: str = ""\nparams_dir: str = ""\noutput_dir: str = ""\nstate_dir: str = ""'
)


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(PARAMS_CELL)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Test notebook"), p] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


WRITE_SUMMARY = (
    "import json, pathlib\n"
    "out = pathlib.Path(output_dir); out.mkdir(parents=True, exist_ok=True)\n"
    "state = json.loads((pathlib.Path(state_dir) / 'state.json').read_text())\n"
    "summary = {'headline': {'Quarter seen': quarter}, 'figures': {'q': quarter}}\n"
    "summary.update(as_of=state['as_of'], scorecard=state['scorecard'])\n"
    "(out / 'summary.json').write_text(json.dumps(summary))\n"
    "print('SECRET_CODE_MARKER' if False else 'visible output')"
)


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "00_good.ipynb", WRITE_SUMMARY)
    _notebook(d / "01_broken.ipynb", "x = 1", "raise ValueError('boom in cell')", WRITE_SUMMARY)
    _notebook(d / "02_also_good.ipynb", WRITE_SUMMARY)
    return d


def test_a_failing_notebook_does_not_stop_the_others(tmp_path: Path, notebooks: Path) -> None:
    reports = tmp_path / "reports"
    run = run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False)
    statuses = {nb.name: nb.status for nb in run.notebooks}
    assert statuses == {"00_good": "ok", "01_broken": "failed", "02_also_good": "ok"}
    broken = run.failed[0]
    # Cell 4 of the executed notebook: title, parameters, injected parameters, x = 1, raise.
    assert "boom in cell" in broken.error and broken.failed_cell == 4
    assert broken.failed_source == "raise ValueError('boom in cell')"
    # Published as .failed, never as a complete-looking quarter folder; no temp folder left.
    assert run.path == reports / "2026Q2.failed"
    assert not (reports / "2026Q2").exists()
    assert sorted(p.name for p in reports.iterdir()) == [
        ".2026Q2.lock",
        "2026Q2.failed",
    ]  # the lock file stays, unlocked
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "failed", "ok"]
    index = (run.path / "index.html").read_text()
    assert '<html lang="ja">' in index  # the report's language (params/report.yaml) when summaries name none
    assert messages("ja").t("report.failed_banner", failed=1, total=3) in index


def test_successful_run_publishes_quarter_with_manifest_index_and_code_free_html(
    tmp_path: Path, notebooks: Path
) -> None:
    (notebooks / "01_broken.ipynb").unlink()
    reports = tmp_path / "reports"
    run = run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False)
    assert run.ok and run.path == reports / "2026Q2"
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["notebooks"]["00_good"]["figures"] == {"q": "2026Q2"}
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["inputs"] and all(v.startswith(("sha256:", "meta:")) for v in manifest["inputs"].values())
    assert "data.yaml" in manifest["params"]
    assert manifest["versions"]["papermill"] and manifest["versions"]["pandas"].startswith("3.")
    assert all(n["duration_s"] > 0 for n in manifest["notebooks"])
    index = (run.path / "index.html").read_text()
    assert "Quarter seen" in index and "2026Q2" in index
    assert ">Test notebook</a></h2>" in index  # each card carries its notebook's own title
    page = (run.path / "00_good" / "00_good.html").read_text()
    assert "visible output" in page
    assert "json.dumps" not in page  # code hidden for business readers
    assert (run.path / "00_good" / "00_good.ipynb").exists()


def test_existing_quarter_is_not_replaced_without_force(tmp_path: Path, notebooks: Path) -> None:
    (notebooks / "01_broken.ipynb").unlink()
    reports = tmp_path / "reports"
    run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False)
    marker = reports / "2026Q2" / "analyst-note.txt"
    marker.write_text("keep me")
    with pytest.raises(CsPlaybookError, match="--force"):
        run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False)
    assert marker.exists()
    run_report("2026Q2", reports_dir=reports, notebooks_dir=notebooks, progress=False, force=True)
    assert not marker.exists() and (reports / "2026Q2" / "index.html").exists()
    assert sorted(p.name for p in reports.iterdir()) == [".2026Q2.lock", "2026Q2"]


def test_cli_exit_codes(tmp_path: Path, notebooks: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    base = ["report", "--reports-dir", str(reports), "--notebooks-dir", str(notebooks), "--no-progress"]
    assert main([*base, "--quarter", "2026Q2"]) == 1  # one notebook failed, the others ran
    err = capsys.readouterr().err
    assert "01_broken failed at cell 4 (raise ValueError('boom in cell'))" in err and "boom in cell" in err
    assert main([*base, "--quarter", "2026Q2", "--only", "00_good"]) == 0
    assert main([*base, "--quarter", "2026Q2", "--only", "00_good"]) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main([*base, "--quarter", "2026Q5"]) == 2
    assert "2026Q5" in capsys.readouterr().err
    assert main([*base, "--only", "no_such_notebook"]) == 2


def test_bad_data_exits_2_without_traceback_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "crm"
    src.mkdir()
    (src / "accounts.csv").write_text("account_id,account_name,segment,created_at\nA1,Acme,smb,2024-01-01\n")
    (src / "subscriptions.csv").write_text(
        "subscription_id,account_id,department,product,start_date,end_date,arr,seats,auto_renew,currency\n"
        "S1,A1,,Platform,2024-01-01,2023-12-31,-5,3,true,JPY\n"
    )
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cs_playbook.cli",
            "report",
            "--data",
            str(src),
            "--reports-dir",
            str(reports),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "subscriptions.csv" in proc.stderr and "end_date must not be before start_date" in proc.stderr
    assert "value must be >= 0" in proc.stderr and "line 2" in proc.stderr
    assert not reports.exists() or not any(reports.iterdir())


def test_report_html_renders_headings_paragraphs_and_tables_but_no_scripts(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("display(...)")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": "In **2026Q3** <img src=x onerror=alert(1)>"}),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": '<style type="text/css">#T_1 td {text-align: right;}</style>'
                '<table id="T_1"><thead><tr><th>account</th></tr></thead><tbody><tr><td>&lt;b&gt;Acme</td></tr>'
                '</tbody></table><script>alert(2)</script><a href="javascript:alert(3)">x</a>'
            },
        ),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n## Section\n\nOne sentence of prose."), code]
    executed = tmp_path / "nb.ipynb"
    nbformat.write(nb, executed)
    to_html(executed, tmp_path / "nb.html")
    page = (tmp_path / "nb.html").read_text(encoding="utf-8")
    # Layout survives sanitizing: real tags, not escaped text.
    assert '<h2 id="Section">' in page and "<p>One sentence of prose.</p>" in page
    assert "<strong>2026Q3</strong>" in page and "<th>account</th>" in page and "#T_1 td" in page
    assert "&lt;h2" not in page and "&lt;p&gt;" not in page and "&lt;th" not in page
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in page
    # Customer text stays text; scripts, handlers and javascript: links are removed.
    assert "&lt;b&gt;Acme" in page
    assert "onerror" not in page and "<script>alert" not in page and "javascript:" not in page


# -- the quarter state, built once before any notebook ---------------------------------------------------------------


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_run_builds_the_quarter_state_once_and_every_page_reads_it(tmp_path: Path, notebooks: Path) -> None:
    (notebooks / "01_broken.ipynb").unlink()
    run = run_report("2026Q2", reports_dir=tmp_path / "reports", notebooks_dir=notebooks, progress=False)
    assert run.ok, [(n.name, n.error) for n in run.notebooks]
    folder = run.path / "quarter_state"
    state = json.loads((folder / "state.json").read_text())
    assert state["quarter"] == "2026Q2" and state["as_of"] == "2026-06-30"  # the quarter end, not the data's as-of
    assert (run.as_of, run.scorecard) == (state["as_of"], state["scorecard"])
    manifest = json.loads((run.path / "manifest.json").read_text())
    files = manifest["quarter_state"]["files"]
    assert {"quarter_state/accounts.parquet", "quarter_state/state.json"} <= set(files)
    assert all(files[name] == _sha256(run.path / name) for name in files)
    assert manifest["quarter_state"]["scorecard"] == state["scorecard"] == "rules"
    assert manifest["quarter_state"]["accounts"] == state["accounts"] > 0
    assert manifest["as_of"] == manifest["quarter_state"]["as_of"] == state["as_of"]
    assert manifest["state_seconds"] > 0
    # Each notebook got the run's state folder as its state_dir parameter and read the same as_of and scorecard.
    combined = json.loads((run.path / "summary.json").read_text())
    assert combined["as_of"] == state["as_of"] and combined["scorecard"] == state["scorecard"]
    for name in ("00_good", "02_also_good"):
        summary = json.loads((run.path / name / "summary.json").read_text())
        assert (summary["as_of"], summary["scorecard"]) == (state["as_of"], state["scorecard"])
    index = (run.path / "index.html").read_text()
    msg, fmt = messages("ja"), Formatter("ja")
    as_of = msg.t("report.as_of", as_of=fmt.date(state["as_of"])) + msg.t(
        "report.data_to", date=fmt.date(state["data_as_of"])
    )
    assert as_of in index and msg.t("report.scorecard", name=msg.code("rules")) in index


def test_an_only_run_builds_the_quarter_state_too(tmp_path: Path, notebooks: Path) -> None:
    run = run_report(
        "2026Q2", reports_dir=tmp_path / "reports", notebooks_dir=notebooks, only=["02_also_good"], progress=False
    )
    assert run.ok and [n.name for n in run.notebooks] == ["02_also_good"]
    assert (run.path / "quarter_state" / "accounts.parquet").exists()
    summary = json.loads((run.path / "02_also_good" / "summary.json").read_text())
    assert summary["as_of"] == json.loads((run.path / "quarter_state" / "state.json").read_text())["as_of"]


@pytest.fixture
def bad_params(tmp_path: Path) -> Path:
    """A params folder whose health score has a word where a measure weight must be a number."""
    params = tmp_path / "params"
    shutil.copytree(PARAMS_DIR, params)
    text = (params / "health_score.yaml").read_text(encoding="utf-8")
    bad = re.sub(r"weight: [0-9.]+", "weight: heavy", text, count=1)
    assert bad != text
    (params / "health_score.yaml").write_text(bad, encoding="utf-8")
    return params


def test_a_quarter_state_that_cannot_be_built_refuses_the_run_before_any_notebook(
    tmp_path: Path, notebooks: Path, bad_params: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = tmp_path / "a-notebook-ran"
    _notebook(notebooks / "03_marker.ipynb", f"import pathlib; pathlib.Path({str(ran)!r}).touch()")
    reports = tmp_path / "reports"
    with pytest.raises(CsPlaybookError, match=r"params are invalid[\s\S]*health_score.yaml[\s\S]*weight"):
        run_report("2026Q2", params_dir=bad_params, reports_dir=reports, notebooks_dir=notebooks, progress=False)
    assert not ran.exists()
    assert not reports.exists() or not any(reports.iterdir())  # nothing published, no temporary folder left
    base = ["report", "--reports-dir", str(reports), "--notebooks-dir", str(notebooks), "--no-progress"]
    assert main([*base, "--quarter", "2026Q2", "--params", str(bad_params), "--only", "03_marker"]) == 2
    err = capsys.readouterr().err
    assert "health_score.yaml" in err and "weight" in err and "Traceback" not in err
    assert not ran.exists() and (not reports.exists() or not any(reports.iterdir()))


# -- the page shell and the index (issue 14) ---------------------------------------------------------------------


def _tagged(cell, *tags: str):
    cell.metadata["tags"] = list(tags)
    return cell


def test_page_shell_puts_the_decision_first_folds_the_appendix_and_links_its_sections(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    decision = _tagged(nbformat.v4.new_code_cell("ctx.decision(...)"), "decision")
    decision.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": '<div class="cs-decision">DECISION BOX</div>'})
    ]
    forged = nbformat.v4.new_code_cell("display(...)")
    forged.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<p>x</p><!--cs:appendix-open-->"})]
    method = _tagged(nbformat.v4.new_markdown_cell("## Method\n\nHow the model works."), "appendix")
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Renewal management\n\nINTRO paragraph."),
        nbformat.v4.new_markdown_cell("## Calendar\n\nWhat renews."),
        method,
        forged,
        decision,
        nbformat.v4.new_markdown_cell("## Exports"),
    ]
    executed = tmp_path / "05_x" / "05_x.ipynb"
    executed.parent.mkdir()
    nbformat.write(nb, executed)
    (executed.parent / "summary.json").write_text(json.dumps({"title": "Renewals <b>Q3</b>", "lang": "en"}))
    to_html(executed, tmp_path / "page.html")
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "<title>Renewals &lt;b&gt;Q3&lt;/b&gt;</title>" in page
    assert '<a href="../index.html">' in page and "Back to the report index" in page
    assert page.index("<main>") < page.index('class="cs-nav"')  # inside the page's column
    order = [page.index(s) for s in ("<h1", "DECISION BOX", 'class="cs-toc"', "INTRO", "What renews", "<details")]
    assert order == sorted(order), order
    toc = page[page.index('class="cs-toc"') : page.index("</nav>", page.index('class="cs-toc"'))]
    assert '<a href="#Calendar">Calendar</a>' in toc and '<a href="#Exports">Exports</a>' in toc
    assert '<a href="#cs-appendix">Method and detail</a>' in toc and "Method</a>" not in toc.replace("detail", "")
    folded = page[page.index('<details class="cs-appendix" id="cs-appendix">') :]
    assert folded.startswith('<details class="cs-appendix" id="cs-appendix"><summary>Method and detail</summary>')
    assert "How the model works." in folded and "What renews" not in folded
    assert page.count("<details") == 1 and "<!--cs:" not in page  # a notebook output cannot forge the shell
    assert "font-family" in page and "Noto Sans CJK JP" in page and "@media print" in page


def test_page_without_summary_takes_its_title_from_the_first_heading_and_the_language_from_params(
    tmp_path: Path,
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Health score: calibration\n\nText."), nbformat.v4.new_code_cell("1")]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    to_html(tmp_path / "nb.ipynb", tmp_path / "nb.html")
    page = (tmp_path / "nb.html").read_text(encoding="utf-8")
    assert "<title>Health score: calibration</title>" in page and '<html lang="ja">' in page
    assert messages("ja").t("common.back_to_index") in page and page.count("<h1") == 1


def test_index_shows_decision_figures_headline_warnings_and_books_escaped_without_run_times() -> None:
    from cs_playbook.runner.execute import NotebookResult
    from cs_playbook.runner.index import render_index

    summary = {
        "title": "Renewals <script>x</script>",
        "lang": "en",
        "headline": {"ARR renewing": "¥1.2M", "<b>Odd</b>": "1"},
        "decision": {
            "figures": [
                {"label": "ARR at risk", "value": "¥3.4M", "change": "▲ +¥0.2M", "direction": "bad"},
                {"label": "ARR renewing", "value": "¥1.2M", "change": None, "direction": None},
            ],
            "actions": [],
        },
        "warnings": ["<img src=x onerror=alert(1)>"],
        "exports": ["calendar.csv"],
        "books": [
            {
                "owner": "Sato <i>",
                "page": "books/sato.html",
                "xlsx": "books/sato.xlsx",
                "accounts": 12,
                "arr_at_risk": "¥1M",
            },
            {
                "owner": "Evil",
                "page": "javascript:alert(1)",
                "xlsx": "../../etc/passwd",
                "accounts": 1,
                "arr_at_risk": "—",
            },
        ],
    }
    ok = NotebookResult("05_renewals", "ok", 123.4, summary=summary, title="Renewal management")
    failed = NotebookResult("06_csm_books", "failed", 9.0, error="boom <b>", failed_cell=3)
    page = render_index("2026Q3", "2026-09-30", [ok, failed], "demo", data_as_of="2026-10-31", scorecard="rules")
    assert '<html lang="en">' in page and "<title>Customer success report 2026Q3</title>" in page
    assert "As of 2026-09-30 (data to 2026-10-31)" in page
    assert "Renewals &lt;script&gt;x&lt;/script&gt;</a></h2>" in page and "<script" not in page
    assert '<span class="cs-figure-change cs-bad">▲ +¥0.2M</span>' in page
    assert "<th>ARR renewing</th>" not in page and "<th>&lt;b&gt;Odd&lt;/b&gt;</th>" in page  # not shown twice
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "1 note(s) on this analysis" in page
    assert "<summary>More figures (1)</summary>" in page and "<summary>Downloads (1)</summary>" in page
    assert '<a href="05_renewals/calendar.csv">' in page and '<a href="05_renewals/05_renewals.html">' in page
    assert '<a href="05_renewals/books/sato.html">Sato &lt;i&gt;</a>' in page and "05_renewals/books/sato.xlsx" in page
    assert '<a href="#books">CSM books (2)' in page and '<section class="books" id="books">' in page
    assert "javascript:" not in page and "passwd" not in page and "<td>Evil</td>" in page
    assert "1 of 2 notebooks failed" in page and "boom &lt;b&gt;" in page
    assert "123" not in page and " s</p>" not in page and "UTC" not in page  # no run times


READ_HANDOFF = (
    "import json, pathlib\n"
    "from cs_playbook.data.io import read_dataset\n"
    "from cs_playbook.notebook import setup\n"
    "handoff = read_dataset(pathlib.Path(state_dir) / 'dataset', source=data_source, params_dir=params_dir)\n"
    "ctx = setup('00_handoff', quarter=quarter, data_source=data_source, params_dir_=params_dir,\n"
    "            output_dir=output_dir, state_dir=state_dir)\n"
    "same = handoff is not None and all(ctx.ds.tables[n].equals(t) for n, t in handoff.tables.items())\n"
    "ctx.out.directory.mkdir(parents=True, exist_ok=True)\n"
    "(ctx.out.directory / 'summary.json').write_text(json.dumps({'headline': {}, 'figures': {'handoff': same,\n"
    "    'accounts': len(ctx.ds.accounts), 'events': int(ctx.ds.events.count().to_pyarrow().as_py())},\n"
    "    'as_of': f'{ctx.as_of:%Y-%m-%d}', 'scorecard': ctx.state.scorecard}))\n"
)


def test_the_notebooks_read_the_runs_validated_tables_which_are_not_published(tmp_path: Path, demo_ds) -> None:
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "00_handoff.ipynb", READ_HANDOFF)
    run = run_report("2026Q2", reports_dir=tmp_path / "reports", notebooks_dir=d, progress=False)
    assert run.ok, [(n.name, n.error) for n in run.notebooks]
    figures = json.loads((run.path / "00_handoff" / "summary.json").read_text())["figures"]
    assert figures == {
        "handoff": True,
        "accounts": len(demo_ds.accounts),
        "events": int(demo_ds.events.count().to_pandas()),
    }
    assert not (run.path / "quarter_state" / "dataset").exists()  # the run's copy of the data is not published
