"""Report pages: a code-free HTML page per executed notebook, sanitized for business readers."""

from __future__ import annotations

import html
import json
import re
import secrets
from pathlib import Path
from typing import Any

import nbformat

from cs_playbook.i18n import DEFAULT_LANG, LANGS, messages
from cs_playbook.page_style import CONTENT_SECURITY_POLICY, DECISION_CSS, FONT_STACK

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "REPORT_TAGS",
    "clean_report_html",
    "arrange_cells",
    "fallback_lang",
    "to_html",
]


# What a report page may contain: headings, paragraphs, lists, tables and inline PNG images. nbconvert's own
# sanitizer allows only bleach's dozen inline tags, so it escaped every heading, paragraph and table into visible
# "<h2>" text; this list keeps the layout while everything else from the notebook's outputs is removed: <style>,
# <link>, <script>, <iframe>, <object>, <embed>, <form>, <base>, <meta>, inline style attributes, event handlers
# (onerror=...) and every URL that is not http(s) or relative. The one <style> kept is the rule block pandas'
# Styler writes for its own table (`#T_<id>...` selectors, a few layout properties, no url(), see _styler_css).
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
_GLOBAL_ATTRS = {"class", "id", "title", "align"}
_TAG_ATTRS = {
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "col": {"span"},
    "ol": {"start"},
}
# Elements removed with their content (stripping only the tag would leave their script or CSS as visible text).
_RAW_ELEMENTS = re.compile(
    r"<(script|style|iframe|object|embed|noscript|noembed|noframes|template|textarea|title|xmp|svg|math)\b.*?</\1\s*>"
    r"|<(script|style|iframe|object|embed|noscript|noembed|noframes|template|textarea|title|xmp|svg|math)\b[^>]*>",
    re.IGNORECASE | re.DOTALL,
)
_STYLE_BLOCK = re.compile(r"<style(?:\s+type=\"text/css\")?>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_STYLER_RULE = re.compile(r"\s*((?:#T_[A-Za-z0-9_]+(?:\s+[a-z]+)?(?:\s*,\s*)?)+)\s*\{([^{}]*)\}")
_STYLER_PROPS = frozenset(
    {
        "white-space",
        "text-align",
        "min-width",
        "max-width",
        "width",
        "font-weight",
        "font-style",
        "color",
        "background-color",
        "vertical-align",
    }
)
_CSS_VALUE = re.compile(r"[#A-Za-z0-9 .,%()-]+")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _safe_url(value: str) -> bool:
    """http(s) or a relative link (no scheme, not protocol-relative); control characters never hide a scheme."""
    url = re.sub(r"[\x00-\x20\x7f]", "", value)
    if url.startswith(("//", "\\", "/\\")):
        return False
    m = _SCHEME.match(url)
    return m is None or m.group(1).lower() in ("http", "https")


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    """Attribute filter for report HTML: images only as inline PNG, links only http(s) or relative, no style."""
    if name not in _GLOBAL_ATTRS and name not in _TAG_ATTRS.get(tag, set()):
        return False
    if tag == "img" and name == "src":
        return value.startswith("data:image/png;base64,")
    if tag == "a" and name == "href":
        return _safe_url(value)
    return True


def _styler_css(css: str) -> str | None:
    """A pandas Styler rule block re-written from its parsed rules, or None when anything else is in it."""
    rules, pos = [], 0
    for m in _STYLER_RULE.finditer(css):
        if css[pos : m.start()].strip():
            return None
        decls = []
        for decl in filter(None, (d.strip() for d in m.group(2).split(";"))):
            prop, _, value = (x.strip() for x in decl.partition(":"))
            if prop.lower() not in _STYLER_PROPS or not _CSS_VALUE.fullmatch(value) or "url" in value.lower():
                return None
            decls.append(f"{prop.lower()}: {value}")
        rules.append(f"{' '.join(m.group(1).split())} {{ {'; '.join(decls)}; }}")
        pos = m.end()
    return "\n".join(rules) if rules and not css[pos:].strip() else None


def clean_report_html(fragment: str) -> str:
    """Sanitize a Markdown-rendered or HTML output fragment for a report page (see REPORT_TAGS)."""
    import bleach

    nonce = secrets.token_hex(8)
    kept: list[str] = []

    def keep_styler(m: re.Match[str]) -> str:
        css = _styler_css(m.group(1))
        if css is None:
            return ""
        kept.append(f'<style type="text/css">\n{css}\n</style>')
        return f"\n@@styler-{nonce}-{len(kept) - 1}@@\n"

    text = _RAW_ELEMENTS.sub("", _STYLE_BLOCK.sub(keep_styler, str(fragment)))
    clean = bleach.clean(
        text,
        tags=REPORT_TAGS,
        attributes=_allowed_attribute,
        protocols=["http", "https", "data"],
        strip=True,
        strip_comments=True,
    )
    for i, block in enumerate(kept):
        clean = clean.replace(f"@@styler-{nonce}-{i}@@", block, 1)
    return clean


# -- the page shell: title, back link, decision first, contents, folded appendix, CSS ----------------------------

_MONO_STACK = '"Noto Sans Mono CJK JP", ui-monospace, "DejaVu Sans Mono", monospace'
_PAGE_CSS = (
    (
        ":root { --jp-content-font-family: FONTS; --jp-ui-font-family: FONTS; --jp-code-font-family: MONO; }\n"
        "body { font-family: FONTS; color: #1f2328; margin: 0; }\n"
        + """
main { max-width: 1180px; margin: 0 auto; padding: 4px 24px 48px; box-sizing: border-box; }
.cs-nav { font-size: .9rem; padding: 10px 0 2px; }
.cs-nav a, .cs-toc a { color: #1a5fb4; text-decoration: none; }
.cs-nav a:hover, .cs-toc a:hover { text-decoration: underline; }
.cs-toc { font-size: .9rem; border-top: 1px solid #e3e6ea; border-bottom: 1px solid #e3e6ea; padding: 6px 0;
  margin: 8px 0 16px; display: flex; gap: 12px; align-items: baseline; }
.cs-toc-title { font-weight: 700; white-space: nowrap; }
.cs-toc ol { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
img { max-width: 100%; height: auto; }
.jp-OutputArea-output { overflow-x: auto; max-width: 100%; }
.jp-RenderedHTMLCommon table { table-layout: auto; max-width: none; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { min-width: 3em; max-width: 36em; overflow-wrap: break-word; }
.cs-table td { min-width: 8em; white-space: normal; }
.jp-RenderedHTMLCommon .cs-table td.cs-text, .jp-RenderedHTMLCommon .cs-table th { text-align: left; }
.jp-RenderedHTMLCommon .cs-table td.cs-num { min-width: 0; white-space: nowrap; text-align: right;
  font-variant-numeric: tabular-nums; }
.cs-table-note, .cs-no-previous { font-size: .85rem; color: #555; }
.jp-RenderedHTMLCommon .cs-actions td { min-width: 0; }
.jp-RenderedHTMLCommon .cs-actions td:last-child { min-width: 14em; }
.jp-RenderedMarkdown table td, .jp-RenderedMarkdown table th { text-align: left; }
details.cs-appendix { margin-top: 32px; border-top: 2px solid #d0d7de; padding-top: 6px; }
details.cs-appendix > summary { font-size: 1.3rem; font-weight: 700; cursor: pointer; padding: 6px 0; }
@page { size: A4; margin: 12mm 10mm; }
@media print {
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  .cs-nav, .cs-toc { display: none; }
  .jp-OutputArea-output { overflow: visible !important; }
  table { width: 100% !important; max-width: 100% !important; font-size: 8pt !important; }
  .jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th, .cs-table td { min-width: 0 !important; max-width: none;
    padding: 2px 4px !important; white-space: normal !important; overflow-wrap: anywhere; }
  img { max-width: 100% !important; break-inside: avoid; }
  .cs-decision, .cs-figure, tr, img { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
  details.cs-appendix::details-content { content-visibility: visible; display: block; }
  a { color: inherit; text-decoration: none; }
}
"""
        + DECISION_CSS
    )
    .replace("FONTS", FONT_STACK)
    .replace("MONO", _MONO_STACK)
)

# nbconvert's lab page without its CDN scripts (require.js, MathJax, Mermaid, widgets) and with a policy that
# forbids every remote load: the page embeds its CSS and images and runs no script. The shell's marker cells
# become HTML comments that no notebook content can forge (the sanitizer strips comments from every output).
_REPORT_TEMPLATE = (
    "{%- extends 'index.html.j2' -%}\n"
    "{%- block html_head -%}\n"
    '<meta http-equiv="Content-Security-Policy" content="' + CONTENT_SECURITY_POLICY + '">\n'
    "{{ super() }}\n"
    "{%- endblock html_head -%}\n"
    "{%- block html_head_js -%}{%- endblock html_head_js -%}\n"
    "{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}\n"
    "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
    "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    "{%- block any_cell -%}\n"
    "{%- if cell.metadata.get('cs_shell') -%}<!--cs:{{ cell.metadata.cs_shell }}-->"
    "{%- else -%}{{ super() }}{%- endif -%}\n"
    "{%- endblock any_cell -%}\n"
)
_SCRIPT_MIMES = ("application/javascript", "application/vnd.jupyter.widget-view+json", "text/latex")
_H1_LINE = re.compile(r"^#[ \t]+\S", re.MULTILINE)
_H2 = re.compile(r"<h2(\s[^>]*)?>(.*?)</h2\s*>", re.IGNORECASE | re.DOTALL)
_ID = re.compile(r'\bid="([^"]*)"')


def _tags(cell: Any) -> set[str]:
    return set(cell.get("metadata", {}).get("tags") or [])


def _shows_h1(cell: Any) -> bool:
    """True when the cell shows the page's title: a '# ' heading in Markdown, or an h1 in its output."""
    if cell.cell_type == "markdown":
        return bool(_H1_LINE.search(cell.source))
    for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
        data = out.get("data", {})
        if _H1_LINE.search(str(data.get("text/markdown", ""))) or "<h1" in str(data.get("text/html", "")).lower():
            return True
    return False


def _split_title(cell: Any) -> tuple[Any, list[Any]]:
    """A Markdown title cell cut after its '# ' line: the title stays on top, the rest goes below the decision."""
    if cell.cell_type != "markdown":
        return cell, []
    lines = cell.source.splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if _H1_LINE.match(ln)) + 1
    rest = "".join(lines[cut:])
    title = nbformat.from_dict({**cell, "source": "".join(lines[:cut])})
    return title, [nbformat.v4.new_markdown_cell(rest)] if rest.strip() else []


def _marker(name: str) -> Any:
    cell = nbformat.v4.new_raw_cell("")
    cell.metadata["cs_shell"] = name
    return cell


def arrange_cells(cells: list[Any]) -> list[Any]:
    """The page's order: title, cells tagged `decision`, the rest, then cells tagged `appendix` (with markers)."""
    decision = [c for c in cells if "decision" in _tags(c)]
    appendix = [c for c in cells if "appendix" in _tags(c) and "decision" not in _tags(c)]
    rest = [c for c in cells if not _tags(c) & {"decision", "appendix"}]
    at = next((i for i, c in enumerate(rest) if _shows_h1(c)), None)
    head, body = [], rest
    if at is not None:
        title, more = _split_title(rest[at])
        head, body = [*rest[:at], title], [*more, *rest[at + 1 :]]
    out = [*head, _marker("decision"), *decision, _marker("toc"), *body]
    if appendix:
        out += [_marker("appendix-open"), *appendix, _marker("appendix-close")]
    return out


def _plain(fragment: str) -> str:
    """The visible text of an HTML fragment (tags and nbconvert's ¶ anchors dropped), unescaped."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", fragment)).replace("¶", "").split())


def _section_ids(body: str) -> tuple[str, list[tuple[str, str]]]:
    """The body with an id on every h2, and the (id, text) of each for the table of contents."""
    entries: list[tuple[str, str]] = []

    def visit(m: re.Match[str]) -> str:
        attrs, inner = m.group(1) or "", m.group(2)
        found = _ID.search(attrs)
        if found is None:
            attrs = f' id="cs-section-{len(entries) + 1}"{attrs}'
            found = _ID.search(attrs)
        text = _plain(inner)
        if text:
            entries.append((html.unescape(found.group(1)), text))
        return f"<h2{attrs}>{inner}</h2>"

    return _H2.sub(visit, body), entries


def _toc(entries: list[tuple[str, str]], lang: str) -> str:
    """The page's short table of contents: one link per h2 of the body (and the appendix)."""
    if not entries:
        return ""
    items = "".join(
        f'<li><a href="#{html.escape(anchor, quote=True)}">{html.escape(text)}</a></li>' for anchor, text in entries
    )
    label = html.escape(messages(lang).t("common.contents"))
    return f'<nav class="cs-toc" aria-label="{label}"><span class="cs-toc-title">{label}</span><ol>{items}</ol></nav>'


def _shell(page: str, title: str, lang: str) -> str:
    """nbconvert's page with the shell: back link (and title when the notebook shows none), contents, appendix."""
    msg = messages(lang)
    head, found, rest = page.partition("<!--cs:decision-->")
    if not found:
        return page
    body_start = re.search(r"<main>", head) or re.search(r"<body[^>]*>", head)
    at = body_start.end() if body_start else len(head)
    top = f'<nav class="cs-nav"><a href="../index.html">← {html.escape(msg.t("common.back_to_index"))}</a></nav>'
    if "<h1" not in head[at:]:
        top += f'<h1 class="cs-title">{html.escape(title)}</h1>'
    decision, _, rest = rest.partition("<!--cs:toc-->")
    body, folded, appendix = rest.partition("<!--cs:appendix-open-->")
    body, entries = _section_ids(body)
    if folded:
        label = html.escape(msg.t("common.appendix"))
        entries.append(("cs-appendix", msg.t("common.appendix")))
        appendix = f'<details class="cs-appendix" id="cs-appendix"><summary>{label}</summary>' + appendix.replace(
            "<!--cs:appendix-close-->", "</details>", 1
        )
    page = head[:at] + top + head[at:] + decision + _toc(entries, lang) + body + appendix
    return page.replace("</head>", f'<style type="text/css">{_PAGE_CSS}</style>\n</head>', 1)


def fallback_lang(params_dir: str | Path | None = None) -> str:
    """The report language of params/report.yaml (the run's params folder if known), else the default (ja)."""
    from cs_playbook.params import ReportParams, load_params

    try:
        return load_params("report", ReportParams, directory=params_dir or None).lang
    except Exception:  # a page is still written in the default language
        return DEFAULT_LANG


def _page_facts(nb: Any, executed: Path, summary: dict[str, Any] | None) -> tuple[str, str]:
    """The page's title and language: summary.json's, else the notebook's first heading and the params' language."""
    if summary is None:
        try:
            summary = json.loads((executed.parent / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
    summary = summary if isinstance(summary, dict) else {}
    lang = summary.get("lang")
    if lang not in LANGS:
        lang = fallback_lang(nb.metadata.get("papermill", {}).get("parameters", {}).get("params_dir"))
    title = summary.get("title")
    if not isinstance(title, str) or not title.strip() or re.fullmatch(r"\d+_[a-z0-9_]+", title):
        first = next((c for c in nb.cells if c.cell_type == "markdown" and _H1_LINE.search(c.source)), None)
        line = next((ln for ln in first.source.splitlines() if _H1_LINE.match(ln)), "") if first else ""
        title = line.lstrip("#").strip().strip("*_`") or executed.stem.split("_", 1)[-1].replace("_", " ").capitalize()
    return title.strip(), lang


def _retitle(nb: Any, title: str) -> None:
    """The notebook's Markdown title (written for analysts, e.g. "更新管理 / Renewal management") becomes the page's
    title in the report language."""
    first = next((c for c in nb.cells if c.cell_type == "markdown" and _H1_LINE.search(c.source)), None)
    if first is not None:
        first.source = re.sub(r"^#[ \t]+.*$", lambda _: "# " + title, first.source, count=1, flags=re.MULTILINE)


def to_html(executed: Path, target: Path, *, summary: dict[str, Any] | None = None) -> None:
    """A code-free HTML page of an executed notebook for business readers, sanitized by `clean_report_html`.

    The page shell: `<html lang>` and `<title>` from summary.json (beside the notebook unless given), a link back
    to the index, the cells tagged `decision` right under the title, a table of contents, and the cells tagged
    `appendix` folded into one `<details>` at the end.
    """
    import jinja2
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            # stderr is for analysts; the consistency-check cell's printed values are for nbval (the page shows
            # its one checks line, displayed as HTML).
            checks = "nbval-check-output" in _tags(c)
            c.outputs = [
                o
                for o in c.get("outputs", [])
                if not (o.get("output_type") == "stream" and (o.get("name") == "stderr" or checks))
            ]
            for o in c.outputs:
                for mime in _SCRIPT_MIMES:
                    o.get("data", {}).pop(mime, None)
    nb.metadata.pop("widgets", None)
    title, lang = _page_facts(nb, executed, summary)
    nb.metadata["title"] = title
    _retitle(nb, title)
    nb.cells = arrange_cells(nb.cells)
    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        extra_loaders=[jinja2.DictLoader({"cs_report.html.j2": _REPORT_TEMPLATE})],
        template_file="cs_report.html.j2",
        mathjax_url="",
        require_js_url="",
        language_code=lang,
    )
    exporter.sanitize_html = True
    exporter.register_filter("clean_html", clean_report_html)
    body, _ = exporter.from_notebook_node(nb)
    target.write_text(_shell(body, title, lang), encoding="utf-8")
