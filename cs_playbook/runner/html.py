"""Report pages: a code-free HTML page per executed notebook, sanitized for business readers."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import nbformat

__all__ = ["CONTENT_SECURITY_POLICY", "REPORT_TAGS", "clean_report_html", "to_html"]


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
# The page may load nothing from anywhere: images are inline PNGs, styles are the page's own, no script runs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; script-src 'none'; "
    "connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
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


# nbconvert's lab page without its CDN scripts (require.js, MathJax, Mermaid, widgets) and with a policy that
# forbids every remote load: the page embeds its CSS and images and runs no script.
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
)
_SCRIPT_MIMES = ("application/javascript", "application/vnd.jupyter.widget-view+json", "text/latex")


def to_html(executed: Path, target: Path) -> None:
    """A code-free HTML page of an executed notebook for business readers, sanitized by `clean_report_html`."""
    import jinja2
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = [
                o for o in c.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
            for o in c.outputs:
                for mime in _SCRIPT_MIMES:
                    o.get("data", {}).pop(mime, None)
    nb.metadata.pop("widgets", None)
    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        extra_loaders=[jinja2.DictLoader({"cs_report.html.j2": _REPORT_TEMPLATE})],
        template_file="cs_report.html.j2",
        mathjax_url="",
        require_js_url="",
    )
    exporter.sanitize_html = True
    exporter.register_filter("clean_html", clean_report_html)
    body, _ = exporter.from_notebook_node(nb)
    target.write_text(body, encoding="utf-8")
