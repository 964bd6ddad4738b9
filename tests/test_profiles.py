"""Any company's data, not only the Japanese demo: the whole report on the small us-plg demo company.

A US product-led company in USD with monthly and annual terms, tiered plans, exclusive end dates
in its export and only accounts, subscriptions and events. Every notebook must either produce its
analysis or say on the page what it skipped and why; nothing may fall back on the Japanese demo's
params (yen bands, JPY ROI templates, a hand-made price list, Japanese holidays).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cs_playbook.runner import run_report


@pytest.fixture(scope="module")
def usplg_run(tmp_path_factory: pytest.TempPathFactory, usplg_dir: Path):
    """The whole report on the small us-plg company, with the project's default params."""
    reports = tmp_path_factory.mktemp("reports")
    run = run_report(data_source=str(usplg_dir), reports_dir=reports, progress=False)
    return run


def _summary(run, notebook: str) -> dict:
    return json.loads((run.path / notebook / "summary.json").read_text(encoding="utf-8"))


def test_every_notebook_runs_on_the_us_plg_company(usplg_run) -> None:
    assert usplg_run.ok, [(n.name, n.failed_source, n.error) for n in usplg_run.failed]
    state = json.loads((usplg_run.path / "quarter_state" / "state.json").read_text(encoding="utf-8"))
    assert state["currency"] == "USD"
    for nb in usplg_run.notebooks:
        summary = _summary(usplg_run, nb.name)
        assert summary["as_of"][:10] == state["as_of"]
        assert summary["headline"], f"{nb.name} has no headline line for the index"


def test_skipped_parts_are_said_on_the_page(usplg_run) -> None:
    """No PoC, BANTC, tickets or NPS tables: the pages that need them say so instead of failing or inventing."""
    poc = _summary(usplg_run, "03_poc_tracking")
    assert any("poc" in w.lower() for w in poc["warnings"])
    renewals = _summary(usplg_run, "05_renewal_management")
    assert any("bantc" in w.lower() for w in renewals["warnings"])
    roi = _summary(usplg_run, "02_roi_scenarios")
    assert any("roi model" in w.lower() for w in roi["warnings"]), roi["warnings"]


def test_no_yen_and_no_japanese_demo_figures_on_us_pages(usplg_run) -> None:
    for page in sorted(usplg_run.path.glob("*/*.html")):
        text = page.read_text(encoding="utf-8")
        assert "¥" not in text, f"{page.name} shows yen for a USD company"
    exports = [pd.read_csv(p, encoding="utf-8-sig") for p in usplg_run.path.glob("00_kpi_overview/*touch*.csv")]
    for df in exports:
        col = next((c for c in df.columns if "touch" in c), None)
        if col is not None:
            assert df[col].nunique() > 1, "every account fell in one touch band"
