"""The message catalog: every entry in both languages, the same placeholders, columns and codes found by name."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
import yaml

import cs_playbook.i18n as i18n
from cs_playbook.i18n import LANGS, catalog, messages


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_every_entry_has_every_language_with_text() -> None:
    cat = catalog()
    assert len(cat) > 40  # common, columns and codes at least
    empty = [key for key, entry in cat.items() for lang in LANGS if not entry[lang].strip()]
    assert not empty, f"entries without text: {empty}"


def test_templates_format_in_both_languages_with_the_same_named_values() -> None:
    # A caller passes one set of values whatever the language: formatting every template with the placeholders of
    # both languages must work in each (a language may leave one out, e.g. ja says 万円 where en says {currency}).
    # Positional fields ({} or {0}) are not allowed: the call passes names.
    bad = {}
    for key, entry in catalog().items():
        try:
            names = _fields(entry["ja"]) | _fields(entry["en"])
        except ValueError as err:  # an unmatched brace
            bad[key] = str(err)
            continue
        if any(not n or n[0].isdigit() for n in names):
            bad[key] = f"positional field in {sorted(names)}"
            continue
        values = {n.split(".")[0].split("[")[0]: 1 for n in names}
        for lang in LANGS:
            try:
                messages(lang).t(key, **values) if values else entry[lang].format()
            except (KeyError, IndexError, ValueError, AttributeError) as err:
                bad[key] = f"{lang}: {err!r}"
    assert not bad, f"templates that do not format: {bad}"


def test_every_yaml_file_is_read_and_its_keys_are_prefixed_by_the_file_name() -> None:
    files = sorted(Path(i18n.__file__).parent.glob("*.yaml"))
    assert {"common", "columns", "codes"} <= {p.stem for p in files}
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and data, path.name
        assert any(key.startswith(f"{path.stem}.") for key in catalog()), path.name


def test_texts_columns_and_codes_in_both_languages() -> None:
    ja, en = messages("ja"), messages("en")
    assert (ja.t("common.yes"), en.t("common.yes")) == ("はい", "Yes")
    assert ja.t("common.checks_passed", count=4) == "整合性チェック: 4件すべて合格"
    assert (ja.column("arr_at_risk"), en.column("arr_at_risk")) == ("リスクARR", "ARR at risk")
    assert (ja.code("high_touch"), en.code("mid_market")) == ("ハイタッチ", "Mid-market")
    # Not in the catalog: a column is made readable, a value passes unchanged.
    assert en.column("some_new_column") == "Some new column"
    assert ja.code("株式会社テスト") == "株式会社テスト" and ja.code(3) == 3


def test_area_files_may_name_their_own_columns_codes_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {
        "zz.columns.zz_only_column": {"ja": "テスト列", "en": "Test column"},
        "zz.codes.zz_code": {"ja": "テストコード", "en": "Test code"},
        "zz.checks.zz_check": {"ja": "テスト検査", "en": "Test check"},
    }
    monkeypatch.setattr(i18n, "catalog", lambda: {**catalog(), **extra})
    i18n.clear_caches()
    try:
        ja = messages("ja")
        assert ja.column("zz_only_column") == "テスト列"
        assert ja.code("zz_code") == "テストコード"
        assert ja.named("checks", "zz_check") == "テスト検査"
        assert messages("en").named("checks", "arr_closes_zz") == "Arr closes zz"
    finally:
        i18n.clear_caches()


def test_unknown_key_and_language_are_named() -> None:
    with pytest.raises(KeyError, match="common.no_such_key"):
        messages("ja").t("common.no_such_key")
    with pytest.raises(ValueError, match="'fr'"):
        messages("fr")


def test_a_broken_catalog_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_text("title: {ja: 見出し: 壊れた, en: Broken}\n", encoding="utf-8")
    monkeypatch.setattr(i18n, "_HERE", tmp_path)
    i18n.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"broken\.yaml is not valid YAML"):
            i18n.catalog()
        (tmp_path / "broken.yaml").write_text("title: {ja: 見出し}\n", encoding="utf-8")
        with pytest.raises(ValueError, match=r"broken\.yaml: message 'broken\.title' has no en text"):
            i18n.catalog()
    finally:
        i18n.catalog.cache_clear()


def test_a_yes_key_must_be_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # YAML 1.1 reads an unquoted yes: as True: the key "common.yes" would silently not exist.
    (tmp_path / "words.yaml").write_text("yes: {ja: はい, en: 'Yes'}\n", encoding="utf-8")
    monkeypatch.setattr(i18n, "_HERE", tmp_path)
    i18n.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"words\.yaml: key True .*quote it"):
            i18n.catalog()
    finally:
        i18n.catalog.cache_clear()


def test_the_pages_area_comes_before_other_areas_and_code_lists_translate(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {
        "aa.columns.zz_deadline": {"ja": "期限A", "en": "Deadline A"},
        "bb.columns.zz_deadline": {"ja": "期限B", "en": "Deadline B"},
        "bb.codes.zz_budget": {"ja": "予算", "en": "Budget"},
        "bb.codes.zz_need": {"ja": "必要性", "en": "Need"},
    }
    monkeypatch.setattr(i18n, "catalog", lambda: {**catalog(), **extra})
    i18n.clear_caches()
    try:
        ja = messages("ja")
        assert ja.column("zz_deadline") == "期限A" and ja.column("zz_deadline", "bb") == "期限B"
        assert ja.code("zz_budget, zz_need") == "予算、必要性"
        assert messages("en").code("zz_budget,zz_need") == "Budget, Need"
        assert ja.code("zz_budget, 予算外") == "zz_budget, 予算外"  # not all codes: the text as it is
        assert ja.column("account_id", "bb") == "アカウントID"  # the shared name wins
    finally:
        i18n.clear_caches()
