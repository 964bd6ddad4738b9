"""The data contract: parsing, value rules, keys, order rules, references, and docs in sync."""

from __future__ import annotations

import pandas as pd

from cs_playbook.config import PROJ_ROOT
from cs_playbook.data.contract import TABLES, check_references, validate_table


def raw(**cols: list) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in cols.items()})


def accounts(**over: list) -> pd.DataFrame:
    base = {
        "account_id": ["00123", "A2"],
        "account_name": ["株式会社サクラ", "Acme"],
        "segment": ["smb", "enterprise"],
        "industry": ["IT", None],
        "employees": ["5,000", "120"],
        "region": ["関東", None],
        "csm": ["佐藤", None],
        "created_at": ["2024/04/01", "2024-04-02"],
    }
    base.update(over)
    return raw(**base)


def subscriptions(**over: list) -> pd.DataFrame:
    base = {
        "subscription_id": ["S1", "S2"],
        "account_id": ["00123", "A2"],
        "department": ["営業部", None],
        "product": ["Platform", "Platform"],
        "start_date": ["2024-04-01", "2024-05-01"],
        "end_date": ["2025-03-31", None],
        "arr": ["¥1,200,000", "600000.5"],
        "seats": ["10", None],
        "auto_renew": ["はい", "false"],
        "currency": ["JPY", "JPY"],
    }
    base.update(over)
    return raw(**base)


def test_valid_tables_parse_into_their_types() -> None:
    acc, problems = validate_table(accounts(), TABLES["accounts"])
    assert problems == []
    assert acc["account_id"].tolist() == ["00123", "A2"]  # IDs keep leading zeros
    assert acc["employees"].tolist() == [5000, 120]
    assert acc["created_at"].tolist() == [pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-02")]
    subs, problems = validate_table(subscriptions(), TABLES["subscriptions"])
    assert problems == []
    assert subs["arr"].tolist() == [1_200_000.0, 600_000.5]
    assert subs["auto_renew"].tolist() == [True, False]
    assert pd.isna(subs.loc[1, "end_date"])  # open-ended is allowed


def test_booleans_accept_the_words_exports_use() -> None:
    words = ["true", "FALSE", "yes", "no", "1", "0", "はい", "いいえ"]
    df = raw(
        account_id=["a"] * 8,
        as_of=[f"2024-01-0{i + 1}" for i in range(8)],
        champion=words,
        exec_access=["true"] * 8,
        success_plan=["false"] * 8,
    )
    parsed, problems = validate_table(df, TABLES["stakeholders"])
    assert problems == []
    assert parsed["champion"].tolist() == [True, False, True, False, True, False, True, False]


def test_unparseable_values_are_reported_once_with_their_csv_line() -> None:
    subs = subscriptions(start_date=["2024-13-01", "2024-05-01"], arr=["abc", "100"], auto_renew=["maybe", "true"])
    _, problems = validate_table(subs, TABLES["subscriptions"])
    by_col = {p.column: p for p in problems}
    assert set(by_col) == {"start_date", "arr", "auto_renew"}  # not again as "value is empty"
    assert by_col["start_date"].rule == "value is not a date"
    assert by_col["start_date"].examples == ("line 2: start_date='2024-13-01'",)  # header is line 1
    assert by_col["arr"].rule == "value is not a number" and by_col["auto_renew"].rule == "value is not true/false"


def test_value_rules_keys_and_order_are_all_found_in_one_pass() -> None:
    subs = subscriptions(
        subscription_id=["S1", "S1"], arr=["-5", "100"], end_date=["2024-03-01", None], product=["Platform", None]
    )
    _, problems = validate_table(subs, TABLES["subscriptions"])
    rules = {(p.column, p.rule) for p in problems}
    assert ("arr", "value must be >= 0") in rules
    assert ("subscription_id", "key must be unique (duplicate key)") in rules
    assert ("end_date", "end_date must not be before start_date") in rules
    assert ("product", "value is empty") in rules
    dup = next(p for p in problems if p.rule.startswith("key must be unique"))
    assert dup.n_rows == 2 and dup.examples[0].startswith("line 2:")


def test_allowed_values_ranges_and_composite_keys() -> None:
    surveys = raw(account_id=["a", "a"], responded_at=["2024-01-01 10:00", "2024-01-02"], score=["11", "7"])
    _, problems = validate_table(surveys, TABLES["surveys"])
    assert [(p.column, p.rule) for p in problems] == [("score", "value must be <= 10")]
    bantc = raw(
        account_id=["a", "a"],
        assessed_at=["2024-01-01", "2024-01-01"],
        budget=["ok", "maybe"],
        authority=["ok", "ok"],
        need=["risk", "ok"],
        timeframe=["unknown", "ok"],
        competitor=["ok", "ok"],
    )
    _, problems = validate_table(bantc, TABLES["bantc"])
    rules = {(p.column, p.rule) for p in problems}
    assert ("budget", "value must be one of ok, risk, unknown") in rules
    assert ("account_id+assessed_at", "key must be unique (duplicate key)") in rules


def test_missing_column_and_empty_table() -> None:
    _, problems = validate_table(accounts().drop(columns=["segment"]), TABLES["accounts"])
    assert [(p.column, p.rule) for p in problems] == [("segment", "required column is missing")]
    assert "columns found: account_id" in problems[0].examples[0]
    _, problems = validate_table(raw(account_id=[], account_name=[]), TABLES["accounts"])
    assert problems[0].rule == "table is empty (no data rows)"


def test_references_including_a_composite_key() -> None:
    acc, _ = validate_table(accounts(), TABLES["accounts"])
    subs, _ = validate_table(subscriptions(account_id=["00123", "ZZZ"]), TABLES["subscriptions"])
    problems = check_references({"accounts": acc, "subscriptions": subs}, {"subscriptions": "subscriptions.csv"})
    assert [(p.table, p.column, p.n_rows, p.file) for p in problems] == [
        ("subscriptions", "account_id", 1, "subscriptions.csv")
    ]
    assert problems[0].examples == ("line 3: account_id='ZZZ'",)
    crit = raw(
        poc_id=["P1"],
        criterion_id=["C1"],
        description=["x"],
        metric=["active_users"],
        comparator=[">="],
        target=["3"],
        must_have=["true"],
        weight=["1"],
        source=["events"],
    )
    meas = raw(
        poc_id=["P1", "P1"], criterion_id=["C1", "C9"], measured_at=["2024-01-01", "2024-01-02"], value=["1", "2"]
    )
    c, _ = validate_table(crit, TABLES["poc_criteria"])
    m, _ = validate_table(meas, TABLES["poc_measurements"])
    problems = check_references({"poc_criteria": c, "poc_measurements": m})
    assert [(p.column, p.rule) for p in problems] == [
        ("poc_id+criterion_id", "unknown poc_id+criterion_id (not in poc_criteria)")
    ]


def test_docs_describe_every_table_and_column() -> None:
    doc = (PROJ_ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    for name, spec in TABLES.items():
        assert f"## `{name}`" in doc, name
        section = doc.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for col in spec.column_names:
            assert f"`{col}`" in section, f"{name}.{col} is not documented"


def test_contracts_coverage_and_as_of() -> None:
    from cs_playbook.data.meaning import choose_as_of, contracts_coverage

    subs = pd.DataFrame({"start_date": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-01-20", "2024-01-25"])})
    # The usual pause between new lines is 10 days: 5 days of silence is ordinary, 30 is an older export.
    assert contracts_coverage(subs, pd.Timestamp("2024-01-30")) == (pd.Timestamp("2024-01-30"), True)
    assert contracts_coverage(subs, pd.Timestamp("2024-02-24")) == (pd.Timestamp("2024-01-25"), False)
    # Renewals signed in advance start after the last event: the events' last day is as_of.
    as_of, covered, why = choose_as_of(subs, pd.Timestamp("2024-01-12 18:00"), None)
    assert (as_of, covered) == (pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-25")) and "events' last day" in why
    assert choose_as_of(subs, None, None)[0] == pd.Timestamp("2024-01-25")


def test_placeholder_owners_become_missing() -> None:
    from cs_playbook.data.meaning import normalise_owners

    acc = pd.DataFrame(
        {"csm": pd.Series(["UNASSIGNED ", "-", "none", "n/a", "", None, "佐藤", "未割当"], dtype="string")}
    )
    out, n = normalise_owners(acc)
    assert n == 6 and out["csm"].isna().sum() == 7 and out["csm"].dropna().tolist() == ["佐藤"]


def test_an_action_is_due_in_30_days_or_at_an_earlier_renewal() -> None:
    from cs_playbook.data.meaning import action_deadline

    renewals = pd.Series(pd.to_datetime(["2026-10-10", "2026-12-01", None]))
    due = action_deadline(pd.Timestamp("2026-09-30"), renewals)
    assert list(due) == [pd.Timestamp("2026-10-10"), pd.Timestamp("2026-10-30"), pd.Timestamp("2026-10-30")]
