"""The report's words in Japanese and English: one message catalog, read from the YAML files beside this module.

Ground floor: imports nothing of the package. Each `<area>.yaml` maps a key to its texts, `{ja: ..., en: ...}`;
a key is used as "<area>.<key>" (e.g. "renewals.calendar.title"). Two files are special: `columns.yaml` names
table columns (snake_case as in the exports) and `codes.yaml` names code values (segments, touch models, modes).
An area file may also hold its own `columns:`, `codes:`, `checks:` (check names) and `exports:` (XLSX sheet names)
mappings: a name is looked up in columns.yaml / codes.yaml first, then in the page's own area, then in any area.
Texts are `str.format` templates: `t("renewals.calendar.lead", count=12)`. Quote YAML keys yes/no/on/off.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

__all__ = ["LANGS", "DEFAULT_LANG", "Messages", "catalog", "messages", "check_lang"]

LANGS = ("ja", "en")
DEFAULT_LANG = "ja"
_HERE = Path(__file__).parent
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader: 8x faster, same result


def check_lang(lang: str) -> str:
    """`lang` when it is a report language, else a ValueError naming the choices."""
    if lang not in LANGS:
        raise ValueError(f"report language {lang!r} is not one of {', '.join(LANGS)}")
    return lang


def _flatten(prefix: str, node: object, out: dict[str, dict[str, str]], source: str) -> None:
    if isinstance(node, dict) and set(node) and set(node) <= set(LANGS):
        missing = [lang for lang in LANGS if not isinstance(node.get(lang), str)]
        if missing:
            raise ValueError(f"{source}: message {prefix!r} has no {', '.join(missing)} text")
        out[prefix] = {lang: node[lang] for lang in LANGS}
        return
    if not isinstance(node, dict):
        raise ValueError(f"{source}: message {prefix!r} must be a mapping of ja/en texts or of sub-keys")
    for key, child in node.items():
        if not isinstance(key, str):  # YAML reads yes/no/on/off/null keys as booleans or None: quote them
            raise ValueError(f'{source}: key {key!r} under {prefix!r} must be text; quote it ("yes": ...)')
        _flatten(f"{prefix}.{key}", child, out, source)


@functools.cache
def catalog() -> dict[str, dict[str, str]]:
    """Every message: "<area>.<key>" -> {"ja": ..., "en": ...}, read once from the package's YAML files."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(_HERE.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        except yaml.YAMLError as err:  # name the file: a catalog author needs to know which one
            raise ValueError(f"cs_playbook/i18n/{path.name} is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"cs_playbook/i18n/{path.name} must be a mapping of message keys")
        _flatten(path.stem, data, out, path.name)
    return out


@functools.cache
def _named(kind: str, name: str, area: str = "") -> dict[str, str] | None:
    """A column or code name: "<kind>.<name>" (columns.yaml, codes.yaml), else "<area>.<kind>.<name>" of the page's
    area, else of any area."""
    cat = catalog()
    for key in (f"{kind}.{name}", f"{area}.{kind}.{name}" if area else ""):
        if key in cat:
            return cat[key]
    return _by_kind_and_name().get((kind, name))


def clear_caches() -> None:
    """Forget the lookups derived from the catalog (for tests that patch `catalog`)."""
    _named.cache_clear()
    _by_kind_and_name.cache_clear()


@functools.cache
def _by_kind_and_name() -> dict[tuple[str, str], dict[str, str]]:
    """Every area's own "<area>.<kind>.<name>" entry by (kind, name), the first area's in catalog order."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for key, entry in catalog().items():
        if key.count(".") == 2:
            _, kind, name = key.split(".")
            out.setdefault((kind, name), entry)
    return out


def _humanize(name: str) -> str:
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


class Messages:
    """The catalog in one language: `t(key)` for texts, `column(name)` for headers, `code(value)` for codes."""

    def __init__(self, lang: str = DEFAULT_LANG) -> None:
        self.lang = check_lang(lang)

    def t(self, key: str, **values: object) -> str:
        """The text of `key` in this language, formatted with `values`; a KeyError names a key the catalog lacks."""
        try:
            text = catalog()[key][self.lang]
        except KeyError:
            raise KeyError(f"message {key!r} is not in the catalog (cs_playbook/i18n/*.yaml)") from None
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        """True when the catalog has `key`."""
        return key in catalog()

    def column(self, name: str, area: str = "") -> str:
        """A table header: the column's name in this language (the page's `area` first), else the name made readable."""
        entry = _named("columns", str(name), area)
        return entry[self.lang] if entry else _humanize(name)

    def named(self, kind: str, name: str, area: str = "") -> str:
        """A named thing of `kind` ("checks", "exports", ...): "<kind>.<name>" or "<area>.<kind>.<name>", else readable."""
        entry = _named(kind, str(name), area)
        return entry[self.lang] if entry else _humanize(name)

    def code(self, value: object, area: str = "") -> object:
        """A code value (e.g. "high_touch") in this language; a list of codes ("budget, need") each translated.

        Other values pass unchanged.
        """
        if not isinstance(value, str):
            return value
        entry = _named("codes", value, area)
        if entry:
            return entry[self.lang]
        found = [_named("codes", p.strip(), area) for p in value.split(",")]
        if len(found) > 1 and all(found):
            return ("、" if self.lang == "ja" else ", ").join(e[self.lang] for e in found if e)
        return value


@functools.cache
def messages(lang: str = DEFAULT_LANG) -> Messages:
    """The catalog in `lang` (cached)."""
    return Messages(lang)
