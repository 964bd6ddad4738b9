"""Safe formulas with units: what is accepted, what is refused, and the unit arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from cs_playbook.errors import CsPlaybookError
from cs_playbook.roi.formula import Formula, FormulaError, Unit, parse_unit, topological_order


def test_units_parse_with_plurals_conversions_and_percent() -> None:
    assert str(parse_unit("hours/user/week")) == "hour/user/week"
    assert parse_unit("hours/users/weeks") == parse_unit("hour/user/week")
    assert parse_unit("opportunities/month") == parse_unit("opportunity/month")
    assert parse_unit("JPY/(user*month)") == parse_unit("JPY/user/month")
    assert str(parse_unit("user^2")) == "user^2"
    # year is 12 months, so 1 JPY/year is 1/12 JPY per month in base units.
    assert parse_unit("JPY/year").same_dimension(parse_unit("JPY/month"))
    assert parse_unit("JPY/year").scale == pytest.approx(1 / 12)
    assert parse_unit("minute").scale == pytest.approx(1 / 60) and str(parse_unit("minute")) == "hour"
    assert parse_unit("%") == Unit(scale=0.01)
    assert parse_unit("share").dimensionless and parse_unit("").dimensionless
    assert parse_unit("1000*JPY").scale == 1000.0
    assert parse_unit("円/時間") == parse_unit("JPY/hour")
    # Codes in capitals are never singularised (GBPS stays); week is never converted to months.
    assert str(parse_unit("GBPS")) == "GBPS" and parse_unit("FTEs") == parse_unit("FTE")
    assert str(parse_unit("weeks/year")) == "week/month"


@pytest.mark.parametrize("text", ["JPY)", "hour/user^0.5", "import os", "-1*JPY", "JPY + hour"])
def test_bad_units_are_refused(text: str) -> None:
    with pytest.raises(FormulaError, match="unit"):
        parse_unit(text)


def test_formula_evaluates_on_floats_and_arrays() -> None:
    f = Formula("h * users * weeks * cost * share", where="model m, benefit b")
    assert f.names == {"h", "users", "weeks", "cost", "share"}
    # 1.5 h/user/week x 10 users x 46 weeks x 4,500 JPY/h x 0.7 = 2,173,500
    assert f.evaluate({"h": 1.5, "users": 10, "weeks": 46, "cost": 4500, "share": 0.7}) == pytest.approx(2_173_500)
    out = f.evaluate({"h": np.array([1.0, 2.0]), "users": 10, "weeks": 46, "cost": 4500, "share": 1.0})
    np.testing.assert_allclose(out, [2_070_000, 4_140_000])
    assert Formula("-(a - b) / 2 + a ** 2 + b ** -1", where="x").evaluate({"a": 3.0, "b": 4.0}) == pytest.approx(
        0.5 + 9 + 0.25
    )


def test_formula_units_multiply_and_check_addition() -> None:
    units = {
        "h": parse_unit("hour/user/week"),
        "users": parse_unit("user"),
        "weeks": parse_unit("week/year"),
        "cost": parse_unit("JPY/hour"),
        "fee": parse_unit("JPY/month"),
        "admin": parse_unit("hour"),
    }
    assert Formula("h * users * weeks * cost", where="m").unit(units).same_dimension(parse_unit("JPY/year"))
    assert Formula("h * users * weeks * cost - fee", where="m").unit(units) == parse_unit("JPY/month")
    with pytest.raises(FormulaError, match=r"model m, benefit b: unit mismatch in 'fee \+ admin'"):
        Formula("fee + admin", where="model m, benefit b").unit(units)
    with pytest.raises(FormulaError, match="whole-number powers"):
        Formula("users ** 0.5", where="m").unit(units)
    assert Formula("(users / users) ** 0.5", where="m").unit(units).dimensionless


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "a.b",
        "a[0]",
        "f(a)",
        "a if b else c",
        "lambda: 1",
        "a < b",
        "True",
        "'text'",
        "a ** b",
        "2 ** 100",
        "[a, b]",
        "a and b",
    ],
)
def test_anything_but_arithmetic_is_refused(text: str) -> None:
    with pytest.raises(FormulaError, match="model m, driver d"):
        Formula(text, where="model m, driver d")


@pytest.mark.parametrize("text", ["", "a +", "a\0b", "1e400 * a", "x" * 1001])
def test_broken_formulas_are_errors_not_crashes(text: str) -> None:
    with pytest.raises(FormulaError):
        Formula(text, where="m")


def test_evaluation_errors_name_where_and_what() -> None:
    f = Formula("a / (b - c)", where="model m, cost c1")
    with pytest.raises(FormulaError, match=r"model m, cost c1: division by zero in 'a / \(b - c\)' \(b - c is 0"):
        f.evaluate({"a": 1.0, "b": 2.0, "c": 2.0})
    with pytest.raises(FormulaError, match="in some draws"):
        f.evaluate({"a": 1.0, "b": np.array([2.0, 3.0]), "c": 2.0})
    with pytest.raises(FormulaError, match="input b has no value"):
        f.evaluate({"a": 1.0, "b": None, "c": 2.0})
    with pytest.raises(FormulaError, match="input b has no value"):
        f.evaluate({"a": 1.0, "b": np.array([1.0, np.nan]), "c": 0.0})
    with pytest.raises(FormulaError, match=r"unknown name c \(did you mean cc\?\)"):
        f.evaluate({"a": 1.0, "b": 2.0, "cc": 2.0})
    with pytest.raises(FormulaError, match="no finite value"):
        Formula("a ** 0.5", where="m").evaluate({"a": -4.0})
    with pytest.raises(FormulaError, match="no finite value"):
        Formula("a ** -1", where="m").evaluate({"a": 0.0})
    with pytest.raises(FormulaError, match="overflows"):
        Formula("a * a", where="m").evaluate({"a": 1e200})
    assert issubclass(FormulaError, CsPlaybookError)  # the CLI turns it into exit code 2


def test_render_for_people_keeps_meaning() -> None:
    labels = {"h": "削減時間", "n": "利用者"}
    assert Formula("h * n * 46", where="m").render(labels) == "削減時間 × 利用者 × 46"
    assert Formula("(a + b) / (c * d) - (e - f)", where="m").render() == "(a + b) ÷ (c × d) - (e - f)"
    assert Formula("a - (b - c)", where="m").render() == "a - (b - c)"
    assert Formula("a / (b / c)", where="m").render() == "a ÷ (b ÷ c)"
    assert Formula("a / b / c", where="m").render() == "a ÷ b ÷ c"


def test_topological_order_and_cycles() -> None:
    formulas = {
        "total": Formula("part_a + part_b", where="model m, derived total"),
        "part_a": Formula("x * 2", where="model m, derived part_a"),
        "part_b": Formula("part_a + y", where="model m, derived part_b"),
    }
    order = topological_order(formulas, {"x", "y"}, where="model m")
    assert order.index("part_a") < order.index("part_b") < order.index("total")
    cyclic = {"a": Formula("b + 1", where="m, a"), "b": Formula("a * 2", where="m, b")}
    with pytest.raises(FormulaError, match="model m: circular reference a -> b -> a"):
        topological_order(cyclic, set(), where="model m")
    with pytest.raises(FormulaError, match="model m: circular reference a -> a"):
        topological_order({"a": Formula("a + 1", where="m, a")}, set(), where="model m")
    with pytest.raises(FormulaError, match="m, a: unknown name zz"):
        topological_order({"a": Formula("zz + 1", where="m, a")}, {"x"}, where="model m")
