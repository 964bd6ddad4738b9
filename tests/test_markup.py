"""Nothing from data is markup: md_text, the page sanitizer, self-contained pages, and a report built on hostile names."""

from __future__ import annotations

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


def _assert_inert(page: str) -> _Dom:
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
            assert not (tag != "meta" and name == "style"), (tag, name)
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


def test_report_on_hostile_names_has_no_markup_from_data(demo_dir, tmp_path):
    """The renewal and PoC pages of a company whose account and CSM names are payloads: nothing active on the page."""
    from cs_playbook.runner.run import run_report

    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    raw = (data / "accounts.csv").read_bytes()
    encoding = "cp932"  # the demo may write a Japanese CRM export's encoding
    try:
        raw.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        pass
    accounts = pd.read_csv(data / "accounts.csv", dtype=str, keep_default_na=False, encoding=encoding)
    accounts["account_name"] = [f"{PAYLOADS[i % len(PAYLOADS)]} {i}" for i in range(len(accounts))]
    if "csm" in accounts:
        accounts["csm"] = [PAYLOADS[(i + 1) % len(PAYLOADS)] if v else v for i, v in enumerate(accounts["csm"])]
    accounts.to_csv(data / "accounts.csv", index=False, encoding="utf-8" if encoding == "utf-8-sig" else encoding)
    reports = tmp_path / "reports"
    run_report(
        data_source=str(data), reports_dir=reports, only=["03_poc_tracking", "05_renewal_management"], progress=False
    )
    pages = [p for p in reports.rglob("*.html")]
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        low = text.lower()
        assert not any(r in low for r in ("cdnjs", "unpkg", "jsdelivr", "mathjax", "require.js")), page
        _assert_inert(text)
    renewal = next(p for p in pages if "05_renewal" in p.name)
    visible = "".join(_dom(renewal.read_text(encoding="utf-8")).text)
    assert any(p in visible for p in PAYLOADS), "the payload names show as text"
