"""The layer rules of docs/architecture.md, checked on the source so a wrong import fails in CI, not in review.

Layers, bottom to top: ground floor -> data -> modeling -> analyses -> state -> notebooks -> runner/cli.
Every import is read with `ast` (module level and inside functions, absolute and relative,
`from cs_playbook import x` too), so a rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from cs_playbook.config import NOTEBOOKS_DIR, PROJ_ROOT

PACKAGE_DIR = PROJ_ROOT / "cs_playbook"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 550

GROUND = ("errors", "config", "params", "formatting", "i18n", "page_style", "quarters", "outputs")
ANALYSES = ("health", "roi", "poc", "expansion", "renewals", "kpi")
STATE_LAYER = ("state", "changes", "books")  # the quarter state, what changed, the books per CSM
TOP = ("plots", "runner", "cli", "notebook", *STATE_LAYER)  # what no lower layer may reach up to


def _mods(*names: str) -> tuple[str, ...]:
    return tuple(f"cs_playbook.{n}" for n in names)


@dataclass(frozen=True)
class Import:
    """One imported name: where (file, line), the full dotted target and the statement as written."""

    path: str
    line: int
    target: str
    statement: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


def module_name(path: Path) -> str:
    """Dotted module name of a file under the package (`__init__.py` names its package)."""
    parts = list(path.relative_to(PROJ_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, module: str, path: str, is_package: bool = False) -> list[Import]:
    """Every import in a module's source, anywhere in it, as full dotted targets (`from a import b` -> `a.b`)."""
    found = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, a.name, f"import {a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            text = ast.unparse(node)
            found += [Import(path, node.lineno, f"{base}.{a.name}" if base else a.name, text) for a in node.names]
    return found


def _files() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _all_imports() -> dict[str, list[Import]]:
    out = {}
    for f in _files():
        mod = module_name(f)
        out[mod] = imports_of(f.read_text(), mod, str(f.relative_to(PROJ_ROOT)), f.name == "__init__.py")
    return out


IMPORTS = _all_imports()


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """True when a dotted name is one of the prefixes or inside one of them."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """Imports by modules under `importers` of anything under `forbidden`."""
    return [
        str(i) for mod, found in IMPORTS.items() if within(mod, importers) for i in found if within(i.target, forbidden)
    ]


def outside(importers: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    """Package imports by modules under `importers` of anything not under `allowed` (third-party is fine)."""
    return [
        str(i)
        for mod, found in IMPORTS.items()
        if within(mod, importers)
        for i in found
        if within(i.target, _mods(*_SUBMODULES)) and not within(i.target, allowed)
    ]


# Top-level modules and subpackages of cs_playbook (`cs_playbook.__version__` is none of them).
_SUBMODULES = tuple(sorted({module_name(f).split(".")[1] for f in _files() if module_name(f) != "cs_playbook"}))

RULES = {
    "analyses never import plots, runner, cli, notebook or the state layer": (
        _mods(*ANALYSES),
        _mods("plots", "runner", "cli", "notebook", *STATE_LAYER),
    ),
    "the state layer (state, changes, books) never imports the notebook, plots, runner or cli": (
        _mods(*STATE_LAYER),
        _mods("plots", "runner", "cli", "notebook"),
    ),
    "the data layer never imports an analysis or anything above it": (
        _mods("data"),
        _mods(*ANALYSES, "modeling", *TOP),
    ),
    "modeling never imports data, an analysis or anything above it": (
        _mods("modeling"),
        _mods("data", *ANALYSES, *TOP),
    ),
    "the ground floor never imports a layer above it": (
        _mods(*GROUND),
        _mods("data", "modeling", "demo", *ANALYSES, *TOP),
    ),
    "plots never load data": (
        _mods("plots"),
        ("cs_playbook.data.io", "cs_playbook.state", "duckdb", "ibis"),
    ),
    "the runner never imports an analysis directly (it reads the state)": (
        _mods("runner"),
        _mods(*ANALYSES),
    ),
}

ALLOWED = {
    "the ground floor imports only the ground floor": (_mods(*GROUND), _mods(*GROUND)),
    "the data layer imports only the ground floor, data and the demo generator": (
        _mods("data"),
        _mods(*GROUND, "data", "demo"),
    ),
    "modeling imports only the ground floor and modeling": (_mods("modeling"), _mods(*GROUND, "modeling")),
    "the demo generator imports only the ground floor and itself": (_mods("demo"), _mods(*GROUND, "demo")),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_forbidden_imports(rule: str) -> None:
    importers, forbidden = RULES[rule]
    bad = violations(importers, forbidden)
    assert not bad, f"{rule}:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("rule", list(ALLOWED))
def test_layers_import_only_below(rule: str) -> None:
    importers, allowed = ALLOWED[rule]
    bad = outside(importers, allowed)
    assert not bad, f"{rule}:\n  " + "\n  ".join(bad)


def test_plots_never_read_files() -> None:
    bad = []
    for f in sorted((PACKAGE_DIR / "plots").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("read_csv", "read_parquet"):
                    bad.append(f"{f.relative_to(PROJ_ROOT)}:{node.lineno}: {ast.unparse(node.func)}(...)")
    assert not bad, "plots never load data, they draw what they are given:\n  " + "\n  ".join(bad)


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_long_functions() -> None:
    bad = [
        f"{f.relative_to(PROJ_ROOT)}:{fn.lineno}: {fn.name} ({fn.end_lineno - fn.lineno + 1} lines)"
        for f in _files()
        for fn in _functions(ast.parse(f.read_text()))
        if fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not bad, f"functions over {MAX_FUNCTION_LINES} lines, split them into named steps:\n  " + "\n  ".join(bad)


def test_no_long_modules() -> None:
    sizes = {f: len(f.read_text().splitlines()) for f in _files()}
    bad = [f"{f.relative_to(PROJ_ROOT)}: {n} lines" for f, n in sizes.items() if n > MAX_MODULE_LINES]
    assert not bad, f"modules over {MAX_MODULE_LINES} lines, split them by business topic:\n  " + "\n  ".join(bad)


def cell_definitions(source: str) -> list[tuple[int, str]]:
    """(line, what) of every function, class or named lambda a notebook code cell defines (magics skipped)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((node.lineno, f"{type(node).__name__} {node.name}"))
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and isinstance(node.value, ast.Lambda):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.append((node.lineno, f"lambda assigned to {', '.join(ast.unparse(t) for t in targets)}"))
    return found


NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_define_no_helpers(path: Path) -> None:
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    bad = [
        f"{path.name} cell {n} ({c.get('id', '?')}) line {line}: {what}"
        for n, c in enumerate(cells, 1)
        for line, what in cell_definitions("".join(c["source"]))
    ]
    assert not bad, "notebooks only narrate and call: move these into the package behind a test:\n  " + "\n  ".join(bad)


def test_the_import_reader_sees_every_form() -> None:
    source = (
        "import duckdb\n"
        "from cs_playbook import plots\n"
        "from . import summary\n"
        "from ..data.io import load_dataset\n"
        "def f():\n"
        "    from cs_playbook.state import build_state\n"
    )
    found = imports_of(source, "cs_playbook.health.review", "x.py")
    assert sorted((i.line, i.target) for i in found) == [
        (1, "duckdb"),
        (2, "cs_playbook.plots"),
        (3, "cs_playbook.health.summary"),
        (4, "cs_playbook.data.io.load_dataset"),
        (6, "cs_playbook.state.build_state"),
    ]
    assert cell_definitions(
        "%matplotlib inline\nf = lambda x: x\ndef g():\n    pass\nh = sorted(a, key=lambda x: x)"
    ) == [
        (2, "lambda assigned to f"),
        (3, "FunctionDef g"),
    ]


def test_architecture_doc_lists_every_module() -> None:
    """docs/architecture.md has a row for every module, and no row for a module that is gone."""
    import re

    package = PACKAGE_DIR
    rows: set[str] = set()
    for line in (PROJ_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            rows |= set(re.findall(r"`([a-z_.]+)`", line.split("|")[1]))
    modules = set()
    for f in package.rglob("*.py"):
        parts = list(f.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 or (parts and not (package / parts[0]).is_dir()):
            modules.add(".".join(parts))
    modules.add("demo")
    assert not sorted(modules - rows), f"modules without a row in docs/architecture.md: {sorted(modules - rows)}"
    stale = sorted(r for r in rows if r not in modules and not (package / r.replace(".", "/")).is_dir())
    assert not stale, f"rows for modules that no longer exist: {stale}"
