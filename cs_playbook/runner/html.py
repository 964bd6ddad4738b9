"""Report pages: a code-free HTML page per executed notebook, sanitized for business readers."""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["REPORT_TAGS", "clean_report_html", "to_html"]


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
