"""Nothing from data is markup: md_text, the page sanitizer, self-contained pages, and a report built on hostile names."""

from __future__ import annotations

import csv
import re
import shutil
from html.parser import HTMLParser

import nbformat
import pandas as pd
import pytest

from cs_playbook.formatting import md_text
from cs_playbook.runner.html import CONTENT_SECURITY_POLICY, clean_report_html, to_html

PAYLOADS = [
    "<script>alert(1)</script>",
    "<style>body{display:none}</style>",
    "<img src=x onerror=alert(1)>",
    "[Renew now](https://evil.example)",
    '=HYPERLINK("https://evil.example","x")',
    "<link rel=stylesheet href=https://evil.example/x.css>",
]


def _markdown_html(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return clean_report_html(markdown2html_mistune(text))


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._head = False

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self._head = True
        self.tags.append((tag, dict(attrs) | {"__in_head": "1" if self._head else ""}))

    def handle_endtag(self, tag):
        if tag == "head":
            self._head = False

    def handle_data(self, data):
        self.text.append(data)


def _dom(page: str) -> _Dom:
    d = _Dom()
    d.feed(page)
    return d


# An inline style a page sets itself (a column width): plain declarations, no url(), nothing hidden.
OWN_STYLE = re.compile(r"^(\s*[a-z-]+\s*:\s*[#%.\w -]+;?)*\s*$")


def _assert_inert(page: str, *, own_styles: bool = False) -> _Dom:
    """No active element or attribute; `own_styles`: plain inline styles a hand-built page sets are allowed."""
    d = _dom(page)
    for tag, attrs in d.tags:
        head = attrs.pop("__in_head")
        assert tag not in {"script", "iframe", "object", "embed", "form", "base", "link"}, (tag, attrs)
        if tag == "style":
            assert head, "a <style> in the body must be a Styler block"
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            raise AssertionError("meta refresh")
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name == "style" and tag != "meta":
                assert own_styles and OWN_STYLE.match(value or "") and "none" not in (value or ""), (tag, name, value)
            if name in {"href", "src", "action", "data", "content", "srcset", "poster", "formaction"}:
                # nbconvert's heading anchors (href="#<heading text>") point into the page itself
                assert (value or "").startswith("#") or "evil.example" not in (value or ""), (tag, name, value)
    return d


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_text_is_plain_text_in_markdown(payload):
    html = _markdown_html(f"First: **{md_text(payload)}** ({md_text(payload)}).")
    d = _assert_inert(html)
    assert [t for t, _ in d.tags] == ["p", "strong"]
    assert payload in "".join(d.text)


def test_md_text_blocks_headings_lists_tables_and_controls():
    for value in ["# heading", "1. item", "- item", "a | b", "`code`", "*em* _em_", "![i](https://x.example/i.png)"]:
        html = _markdown_html(md_text(value))
        assert [t for t, _ in _dom(html).tags] == ["p"], (value, html)
    assert md_text("a\nb\x00c") == "a b c"
    assert md_text(None) == ""
    assert "<" not in md_text("<b>") and "&lt;" in md_text("<b>")


def test_clean_report_html_drops_everything_active():
    dirty = (
        "<style>body{display:none}</style><link rel=stylesheet href=https://evil.example/x.css>"
        "<iframe src=https://evil.example></iframe><object data=x></object><embed src=x><form action=x>f</form>"
        "<base href=https://evil.example/><meta http-equiv=refresh content='0;url=https://evil.example'>"
        "<p style='display:none' onclick=alert(1)>text</p><img src=x onerror=alert(1)>"
        "<a href='javascript:alert(1)'>j</a><a href='JaVa&#x09;script:alert(1)'>k</a><a href='vbscript:x'>v</a>"
        "<a href='file:///etc/passwd'>f</a><a href='data:text/html,<b>x</b>'>d</a><a href='//evil.example'>p</a>"
        "<img src='data:image/svg+xml;base64,AAAA'><script>alert(1)</script>"
    )
    out = clean_report_html(dirty)
    d = _assert_inert(out)
    assert {t for t, _ in d.tags} <= {"p", "a", "img"}
    assert all("href" not in a and "src" not in a for _, a in d.tags), out
    assert "alert" not in out and "display:none" not in out


def test_clean_report_html_keeps_layout_links_images_and_styler_css():
    png = "data:image/png;base64,iVBORw0KGgo="
    ok = (
        '<style type="text/css">\n#T_ab12_row0_col1, #T_ab12_row1_col1 {\n  white-space: pre-wrap;\n  text-align: left;\n}\n'
        '</style><table id="T_ab12"><tr><td class="data">x</td></tr></table>'
        f'<h2>Title</h2><a href="https://example.com/a">a</a><a href="../other/page.html#x">b</a><img src="{png}">'
    )
    out = clean_report_html(ok)
    assert "#T_ab12_row0_col1, #T_ab12_row1_col1 { white-space: pre-wrap; text-align: left; }" in out
    assert 'href="https://example.com/a"' in out and 'href="../other/page.html#x"' in out and png in out
    assert "<h2>" in out and 'id="T_ab12"' in out
    bad_css = '<style type="text/css">#T_ab12 td { background: url(https://evil.example/x.png) }</style>'
    assert "<style" not in clean_report_html(bad_css)
    assert "<style" not in clean_report_html('<style type="text/css">#T_x { display: none }</style>')


def test_page_is_self_contained_with_csp(tmp_path):
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell("# Page\n\n" + " ".join(PAYLOADS))
    code = nbformat.v4.new_code_cell("x")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/markdown": "**" + md_text(PAYLOADS[0]) + "** " + PAYLOADS[1]}
        ),
        nbformat.v4.new_output("display_data", data={"text/html": PAYLOADS[2] + PAYLOADS[5]}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": "js"}),
    ]
    nb.cells = [md, code]
    src, target = tmp_path / "p.ipynb", tmp_path / "p.html"
    nbformat.write(nb, src)
    to_html(src, target)
    page = target.read_text(encoding="utf-8")
    low = page.lower()
    for remote in ("cdnjs", "unpkg", "jsdelivr", "mathjax", "require.js", "<script"):
        assert remote not in low, remote
    assert CONTENT_SECURITY_POLICY in page.replace("&#x27;", "'").replace("&apos;", "'")
    d = _assert_inert(page)
    assert any(t == "meta" and a.get("http-equiv") == "Content-Security-Policy" for t, a in d.tags)
    assert PAYLOADS[0] in "".join(d.text)


def test_poc_card_escapes_data():
    from cs_playbook.poc.report import poc_card

    poc = pd.Series(
        {
            "poc_id": "P1",
            "name": PAYLOADS[3],
            "account_name": PAYLOADS[0],
            "objective": PAYLOADS[4],
            "verdict": "on track",
            "next_action": PAYLOADS[2],
            "csm": PAYLOADS[1],
            "end_date": "2026-01-01",
            "days_left": 3,
            "must_haves_met": 1,
            "must_haves": 2,
            "n_met": 1,
            "n_criteria": 2,
            "score": 0.5,
            "expected_score": 0.6,
            "arr_at_stake": 1e6,
        }
    )
    d = _assert_inert(_markdown_html(poc_card(poc, "JPY")))
    text = "".join(d.text)
    assert all(p in text for p in PAYLOADS[:5])
    assert all(a.get("href", "#").startswith("#") for t, a in d.tags if t == "a")


# Payloads for the report test: those above plus javascript: links, all without ';' (a PoC's scope separator).
REPORT_PAYLOADS = [
    *PAYLOADS,
    '<a href="javascript:alert(1)">pay</a>',
    "[pay here](javascript:alert(1))",
    "<iframe src=https://evil.example></iframe>",
]
# Free-text columns of the small tables (codes the contract checks or the analyses key on stay as they are).
TEXT_COLUMNS = {
    "accounts": ["account_name", "industry", "region", "csm"],
    "churn_reasons": ["reason"],
    "feature_releases": ["feature"],
    "pocs": ["name", "objective"],
    "poc_criteria": ["description"],
}
# Free text that links tables and params: every value mapped the same way everywhere (scope lists departments).
LINKED_COLUMNS = {"department": ["subscriptions", "users"], "product": ["subscriptions"]}
# Identifiers (column -> the table that defines them), mapped wherever they appear (account_id in events too).
ID_COLUMNS = {"account_id": "accounts", "subscription_id": "subscriptions", "poc_id": "pocs"}


def _hostile(values: pd.Series, salt: int) -> dict[str, str]:
    """Each distinct value -> a payload followed by the value (distinct values stay distinct)."""
    distinct = sorted(v for v in values.dropna().unique() if str(v).strip())
    return {v: f"{REPORT_PAYLOADS[(i + salt) % len(REPORT_PAYLOADS)]} {v}" for i, v in enumerate(distinct)}


def _replace_in_params(node, mapping: dict[str, str]):
    """Params values and keys equal to a mapped data value (product price list, ROI rules' departments), renamed."""
    if isinstance(node, dict):
        return {mapping.get(k, k): _replace_in_params(v, mapping) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_in_params(v, mapping) for v in node]
    return mapping.get(node, node) if isinstance(node, str) else node


def _hostile_company(demo_dir, dst) -> list[str]:
    """The small demo with a payload in every free-text value; returns the "table.column" names changed."""
    import yaml

    from cs_playbook.data.io import read_csv_any_encoding

    shutil.copytree(demo_dir, dst)
    tables = {p.stem: read_csv_any_encoding(p) for p in dst.glob("*.csv")}
    covered = []
    for salt, (table, columns) in enumerate(TEXT_COLUMNS.items()):
        for column in columns:
            mapping = _hostile(tables[table][column], salt)
            tables[table][column] = tables[table][column].map(lambda v, m=mapping: m.get(v, v))
            covered.append(f"{table}.{column}")
    linked: dict[str, str] = {}
    for column, names in LINKED_COLUMNS.items():
        values = pd.concat([tables[t][column] for t in names])
        if column == "department":
            values = pd.concat([values, tables["pocs"]["scope"].str.split(";").explode()])
        mapping = _hostile(values, len(linked))
        linked |= mapping
        for t in names:
            tables[t][column] = tables[t][column].map(lambda v, m=mapping: m.get(v, v))
            covered.append(f"{t}.{column}")
    tables["pocs"]["scope"] = tables["pocs"]["scope"].map(lambda v: ";".join(linked.get(d, d) for d in v.split(";")))
    covered.append("pocs.scope")
    # Ids are text too (a CRM's ids are whatever it exports): each mapped in every table that holds it.
    id_maps = {column: _hostile(tables[home][column], salt) for salt, (column, home) in enumerate(ID_COLUMNS.items())}
    for column, mapping in id_maps.items():
        for name, df in tables.items():
            if column in df.columns:
                df[column] = df[column].map(lambda v, m=mapping: m.get(v, v))
                covered.append(f"{name}.{column}")
    ids = id_maps["account_id"]
    for part in sorted((dst / "events").glob("*.parquet")):
        events = pd.read_parquet(part)
        events["account_id"] = events["account_id"].map(lambda v: ids.get(v, v))
        events.to_parquet(part, index=False)
    covered.append("events.account_id")
    for name, df in tables.items():
        df.to_csv(dst / f"{name}.csv", index=False, encoding="utf-8")
    for path in (dst / "params").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        path.write_text(yaml.safe_dump(_replace_in_params(data, linked), allow_unicode=True), encoding="utf-8")
    return covered


def _assert_no_link_from_data(page: str) -> None:
    for tag, attrs in _dom(page).tags:
        for name in ("href", "src", "action", "formaction", "srcset", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:text")), (tag, name, value)
            assert "evil.example" not in value or value.startswith("#"), (tag, name, value)


def _assert_no_formula_from_data(xlsx) -> int:
    """No cell of an export is a formula: text starting with '=' stays text (data_type 's'); the cells checked."""
    import openpyxl

    n = 0
    for sheet in openpyxl.load_workbook(xlsx).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                n += 1
                assert cell.data_type != "f", (xlsx.name, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    assert cell.data_type == "s", (xlsx.name, cell.coordinate, cell.value)
    return n


def test_report_with_payloads_in_every_text_column_has_no_markup_from_data(demo_dir, tmp_path):
    """Every notebook on a company whose every free-text value is a payload: nothing active on any page or export."""
    from cs_playbook.runner.run import run_report

    covered = _hostile_company(demo_dir, tmp_path / "data")
    assert len(covered) >= 20, covered
    reports = tmp_path / "reports"
    run = run_report(data_source=str(tmp_path / "data"), reports_dir=reports, progress=False)
    assert run.ok, [(n.name, n.error) for n in run.failed]
    pages = sorted(run.path.rglob("*.html"))
    expected = {run.path / "index.html", *(run.path / n.name / f"{n.name}.html" for n in run.notebooks)}
    assert expected <= set(pages)  # every notebook's page and the index (and any page a notebook adds)
    visible = ""
    for page in pages:
        text = page.read_text(encoding="utf-8")
        low = text.lower()
        assert not any(r in low for r in ("cdnjs", "unpkg", "jsdelivr", "mathjax", "require.js")), page.name
        _assert_inert(text, own_styles=True)
        _assert_no_link_from_data(text)
        visible += "".join(_dom(text).text)
    shown = [p for p in REPORT_PAYLOADS if p in visible]
    assert len(shown) >= 5, "the payloads show as plain text"
    exports = sorted(run.path.rglob("*.xlsx"))
    assert exports and sum(_assert_no_formula_from_data(x) for x in exports) > 0
    for path in run.path.rglob("*.csv"):  # a CSV opened in Excel runs a cell starting with '=' as a formula
        with path.open(encoding="utf-8-sig", newline="") as fh:
            assert not [c for row in csv.reader(fh) for c in row if c.startswith("=")], path.name
