"""The report as a reader sees it: every page of the small demo report rendered in headless Chromium at 1280x800.

From the live DOM: the decision box is on the first screen, nothing is wider than the page, no escaped tag or
machine path shows, every link resolves, the page declares its language, Japanese text is drawn with a CJK font
(the fonts Chromium actually used, from the DevTools protocol) and no table header is a snake_case column name.
A screenshot of each page's first screen is saved in reports/_test_artifacts/browser/.

Needs Debian's `chromium` and `fonts-noto-cjk` (.ci/run installs them) and Playwright for Python (dev extras); the
test skips with a message when either is missing. Set CS_PLAYBOOK_BROWSER_REPORT to a published report folder
(e.g. reports/2026Q3) to check that report instead of building the small demo one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from cs_playbook.config import NOTEBOOKS_DIR, PROJ_ROOT, REPORTS_DIR
from cs_playbook.runner.execute import discover_notebooks
from cs_playbook.runner.html import fallback_lang

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - playwright is a dev extra
    pytest.skip(
        "browser test skipped: Playwright for Python is not installed (pip install -e '.[dev]')",
        allow_module_level=True,
    )
if CHROMIUM is None:  # pragma: no cover - .ci/run installs chromium
    pytest.skip(
        "browser test skipped: no chromium executable on PATH (Debian: apt-get install chromium fonts-noto-cjk)",
        allow_module_level=True,
    )

WIDTH, HEIGHT = 1280, 800
ARTIFACTS = Path(os.environ.get("CS_PLAYBOOK_BROWSER_ARTIFACTS") or REPORTS_DIR / "_test_artifacts" / "browser")
NOTEBOOKS = [p.stem for p in discover_notebooks(NOTEBOOKS_DIR)]
BOOKS_NOTEBOOK = "06_csm_books"
SNAKE = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")
CJK_FONT = re.compile(r"CJK|Noto Sans JP|Noto Serif JP|Hiragino|Yu Gothic|YuGothic|Meiryo|Source Han|IPA|Takao|VL ")

# Everything measured in one pass over the live page; the fonts are read afterwards through the DevTools protocol.
_MEASURE = r"""
({root}) => {
  const de = document.documentElement, out = {};
  out.lang = de.lang; out.title = document.title;
  out.scrollWidth = de.scrollWidth; out.clientWidth = de.clientWidth;
  const top = (el) => el ? el.getBoundingClientRect().top + window.scrollY : null;
  out.decisionTop = top(document.querySelector('.cs-decision'));
  const card = document.querySelector('.card');
  out.cardHeadlineTop = top(card && card.querySelector('.cs-figures, .cs-headline, .failed'));
  out.landscape = [...document.styleSheets].some((sheet) => [...sheet.cssRules].some(
    (rule) => rule instanceof CSSPageRule && /landscape/.test(rule.cssText)));
  const escaped = /<h2>|<div|\{'|<\//, esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const machine = new RegExp('\\.tmp-|/tmp/|' + esc(root));
  out.escaped = []; out.paths = [];
  const cjk = /[\u3040-\u30ff\u4e00-\u9fff]/, marks = {};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode, p = n.parentElement, t = n.nodeValue;
    if (!p || p.closest('style, script')) continue;
    if (escaped.test(t)) out.escaped.push(t.trim().slice(0, 120));
    if (machine.test(t)) out.paths.push(t.trim().slice(0, 120));
    if (!cjk.test(t) || !p.checkVisibility()) continue;  // only text drawn on screen has fonts
    const where = p.closest('.cs-decision') ? 'decision' : p.closest('th, td') ? 'table'
      : p.closest('h1, h2, h3') ? 'heading' : 'text';
    if (!marks[where]) { marks[where] = true; p.setAttribute('data-cs-cjk', where); }
  }
  out.cjkMarks = Object.keys(marks);
  for (const el of document.querySelectorAll('[href], [src]')) {
    const v = el.getAttribute('href') || el.getAttribute('src') || '';
    if (!v.startsWith('data:') && machine.test(v)) out.paths.push(v.slice(0, 120));
  }
  out.links = [...document.querySelectorAll('a[href]')].map((a) => {
    const raw = a.getAttribute('href');
    let target = null;
    if (raw.startsWith('#')) {
      const id = raw.slice(1);
      let decoded = id; try { decoded = decodeURIComponent(id); } catch (e) {}
      target = !!(document.getElementById(id) || document.getElementById(decoded) || document.getElementsByName(id).length);
    }
    return {raw, abs: a.href, target};
  });
  out.snakeHeaders = [...new Set([...document.querySelectorAll('th')].map((th) => th.textContent.trim())
    .filter((t) => /^[a-z]+(_[a-z0-9]+)+$/.test(t)))];
  out.collapsed = [...document.querySelectorAll('td')].filter((td) => td.textContent.trim().length >= 12
    && td.getBoundingClientRect().width > 0 && td.getBoundingClientRect().width < 64)
    .slice(0, 3).map((td) => `${td.textContent.trim().slice(0, 40)} (${Math.round(td.getBoundingClientRect().width)}px)`);
  out.wide = [];
  if (de.scrollWidth > de.clientWidth) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right <= de.clientWidth + 1 || r.width === 0) continue;
      let clipped = false;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; }
      }
      if (!clipped) out.wide.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
      if (out.wide.length >= 5) break;
    }
  }
  return out;
}
"""

# Printed on A4 (210 mm less 2 x 10 mm margins = 718 CSS px, 1047 px in landscape): nothing may stick out.
_PRINT_WIDTH = {"portrait": 718, "landscape": 1047}
_MEASURE_PRINT = r"""
() => {
  const w = document.documentElement.clientWidth, wide = [];
  for (const el of document.body.querySelectorAll('table, img, pre, .jp-OutputArea-output, .cs-decision')) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 1) wide.push(`${el.tagName.toLowerCase()}.${String(el.className).slice(0, 40)} ${Math.round(r.width)}px`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: w, wide: wide.slice(0, 5)};
}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The published report folder: the small demo report built once (or CS_PLAYBOOK_BROWSER_REPORT)."""
    given = os.environ.get("CS_PLAYBOOK_BROWSER_REPORT")
    if given:
        return Path(given).resolve()
    from cs_playbook.runner.run import run_report

    demo_dir = request.getfixturevalue("demo_dir")
    run = run_report(data_source=str(demo_dir), reports_dir=tmp_path_factory.mktemp("reports"), progress=False)
    return run.path


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for every page (Debian's executable, no download)."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _page_file(report: Path, name: str) -> Path:
    """The HTML file of a page name: index, a notebook, or the first CSM book the books notebook lists."""
    if name == "index":
        return report / "index.html"
    if name != "csm_book":
        return report / name / f"{name}.html"
    if BOOKS_NOTEBOOK not in NOTEBOOKS:
        pytest.skip(f"no CSM book page: notebooks/{BOOKS_NOTEBOOK}.ipynb does not exist yet")
    summary = json.loads((report / BOOKS_NOTEBOOK / "summary.json").read_text(encoding="utf-8"))
    books = summary.get("books") or []
    assert books, f"{BOOKS_NOTEBOOK}/summary.json lists no books"
    return report / BOOKS_NOTEBOOK / unquote(books[0]["page"])


def _cjk_fonts(page: Any, marks: list[str]) -> dict[str, list[str]]:
    """For each marked element with Japanese text: the platform fonts Chromium drew its glyphs with."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    used = {}
    for mark in marks:
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f'[data-cs-cjk="{mark}"]'})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        used[mark] = [f"{f['familyName']} ({f['glyphCount']})" for f in fonts if f["glyphCount"]]
    cdp.detach()
    return used


def _link_problems(links: list[dict[str, Any]], file: Path) -> list[str]:
    """Links that do not resolve: a missing anchor, a missing file, or a scheme other than file/http(s)."""
    problems = []
    for link in links:
        if link["target"] is not None:
            if not link["target"]:
                problems.append(f"anchor {link['raw']} has no target")
            continue
        url = urlparse(link["abs"])
        if url.scheme == "file":
            target = Path(unquote(url.path))
            if not target.exists():
                problems.append(f"link {link['raw']} -> missing file {target.name}")
        elif url.scheme not in ("http", "https"):
            problems.append(f"link {link['raw']} has scheme {url.scheme}")
    return problems


def _problems(m: dict[str, Any], fonts: dict[str, list[str]], name: str, lang: str) -> list[str]:
    """Every check of one page that failed, as readable lines."""
    p = []
    if name == "index":
        if m["cardHeadlineTop"] is None or m["cardHeadlineTop"] >= HEIGHT:
            p.append(f"first card's headline not on the first screen (top={m['cardHeadlineTop']})")
    elif m["decisionTop"] is None:
        p.append("no decision box (.cs-decision) on the page")
    elif m["decisionTop"] >= HEIGHT:
        p.append(f"decision box starts at {m['decisionTop']:.0f}px, below the first screen ({HEIGHT}px)")
    if m["scrollWidth"] > m["clientWidth"]:
        p.append(f"horizontal overflow: {m['scrollWidth']}px > {m['clientWidth']}px: {m['wide']}")
    p += [f"text column collapsed: {t!r}" for t in m["collapsed"]]
    printed = m["print"]
    if printed["scrollWidth"] > printed["clientWidth"] or printed["wide"]:
        p.append(
            f"printed on A4, wider than the paper: {printed['scrollWidth']}px > {printed['clientWidth']}px {printed['wide']}"
        )
    p += [f"escaped markup shown as text: {t!r}" for t in m["escaped"][:5]]
    p += [f"machine or temporary path shown: {t!r}" for t in m["paths"][:5]]
    if m["lang"] != lang:
        p.append(f"<html lang> is {m['lang']!r}, expected {lang!r}")
    if not m["title"].strip() or m["title"].strip() in ("Notebook", name) or SNAKE.match(m["title"]):
        p.append(f"page title {m['title']!r} is not a title for readers")
    if lang == "ja" and not fonts:
        p.append("no Japanese text on the page")
    for where, used in fonts.items():
        if not any(CJK_FONT.search(f) for f in used):
            p.append(f"Japanese text ({where}) drawn without a CJK font: {used}")
    if m["snakeHeaders"]:
        more = f" (+{len(m['snakeHeaders']) - 12} more)" if len(m["snakeHeaders"]) > 12 else ""
        p.append(f"snake_case table headers: {', '.join(m['snakeHeaders'][:12])}{more}")
    return p


@pytest.mark.parametrize("name", ["index", *NOTEBOOKS, "csm_book"])
def test_page_reads_well_in_chromium_at_1280x800(report: Path, browser: Any, name: str) -> None:
    file = _page_file(report, name)
    assert file.exists(), f"{file.relative_to(report)} was not written"
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page.goto(file.as_uri(), wait_until="load")
        m = page.evaluate(_MEASURE, {"root": str(PROJ_ROOT)})
        fonts = _cjk_fonts(page, m["cjkMarks"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")
        page.emulate_media(media="print")
        paper = _PRINT_WIDTH["landscape" if m["landscape"] else "portrait"]
        page.set_viewport_size({"width": paper, "height": HEIGHT})
        m["print"] = page.evaluate(_MEASURE_PRINT)
    finally:
        page.close()
    problems = _problems(m, fonts, name, fallback_lang()) + _link_problems(m["links"], file)
    index = (report / "index.html").resolve()
    if name != "index" and not any(Path(unquote(urlparse(a["abs"]).path)) == index for a in m["links"]):
        problems.append("no link back to the report's index.html")
    assert not problems, f"{name} ({file.relative_to(report)}):\n- " + "\n- ".join(problems)


def test_the_report_is_complete(report: Path) -> None:
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    failed = [(n["name"], n.get("error")) for n in manifest["notebooks"] if n["status"] != "ok"]
    assert manifest["status"] == "ok" and not failed, failed
