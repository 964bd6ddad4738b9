"""Safe arithmetic formulas with units, for the models analysts write in YAML (the ROI drivers).

A formula is parsed with `ast` and only numbers, names, + - * / ** (with a number as exponent)
and parentheses are accepted: nothing is ever `eval`ed. A unit is a product of symbols with
whole-number exponents ("hour/user/week", "JPY/year", "JPY/(user*month)"). A few units convert
to a base: minute and second to hour, year and quarter to month, "%" to a share (x 0.01), and
a number in a unit is a multiplier ("1000*JPY" for thousands of yen). Week and day never
convert: working weeks per year or working days per month are business inputs, not constants.
Values are brought to base units before evaluation (`Unit.scale`), so + and - only need equal
dimensions. Evaluation works on floats and on numpy arrays alike (vectorised Monte Carlo).
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cs_playbook.errors import CsPlaybookError

__all__ = ["FormulaError", "Unit", "parse_unit", "Formula", "topological_order"]

MAX_FORMULA_CHARS = 1000
MAX_EXPONENT = 10
# Units with a fixed conversion to a base unit: symbol -> (base symbol, how many base units).
CONVERSIONS: dict[str, tuple[str, float]] = {
    "minute": ("hour", 1 / 60),
    "min": ("hour", 1 / 60),
    "second": ("hour", 1 / 3600),
    "sec": ("hour", 1 / 3600),
    "h": ("hour", 1.0),
    "hr": ("hour", 1.0),
    "year": ("month", 12.0),
    "yr": ("month", 12.0),
    "quarter": ("month", 3.0),
    "円": ("JPY", 1.0),
    "yen": ("JPY", 1.0),
    "時間": ("hour", 1.0),
    "分": ("hour", 1 / 60),
    "年": ("month", 12.0),
    "月": ("month", 1.0),
    "週": ("week", 1.0),
    "日": ("day", 1.0),
}
DIMENSIONLESS = {"", "1", "ratio", "share", "fraction", "count", "times", "number"}
PERCENT = {"%", "percent", "pct"}


class FormulaError(CsPlaybookError):
    """A formula or unit that cannot be used; the message names the model, item and input."""


def _singular(word: str) -> str:
    """hours -> hour, opportunities -> opportunity; codes in capitals (JPY, FTE) are kept."""
    if word.isupper() or len(word) <= 3 or not word.isascii():
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Unit:
    """A unit: sorted (base symbol, exponent) pairs and the factor to base units (JPY/year: 1/12)."""

    dims: tuple[tuple[str, int], ...] = ()
    scale: float = 1.0

    @staticmethod
    def of(mapping: Mapping[str, int], scale: float = 1.0) -> Unit:
        """A unit from a symbol -> exponent mapping (zero exponents dropped)."""
        return Unit(tuple(sorted((k, v) for k, v in mapping.items() if v != 0)), float(scale))

    def __mul__(self, other: Unit) -> Unit:
        out = dict(self.dims)
        for k, v in other.dims:
            out[k] = out.get(k, 0) + v
        return Unit.of(out, self.scale * other.scale)

    def __truediv__(self, other: Unit) -> Unit:
        return self * Unit.of({k: -v for k, v in other.dims}, 1 / other.scale)

    def __pow__(self, n: int) -> Unit:
        return Unit.of({k: v * n for k, v in self.dims}, self.scale**n)

    def same_dimension(self, other: Unit) -> bool:
        """Whether two units measure the same thing (scales may differ: JPY/year and JPY/month)."""
        return self.dims == other.dims

    @property
    def dimensionless(self) -> bool:
        """True for shares, ratios and counts."""
        return not self.dims

    def __str__(self) -> str:
        if not self.dims:
            return "1"
        num = [k if v == 1 else f"{k}^{v}" for k, v in self.dims if v > 0]
        den = [k if v == -1 else f"{k}^{-v}" for k, v in self.dims if v < 0]
        return ("*".join(num) or "1") + "".join(f"/{d}" for d in den)


def _unit_of_symbol(name: str) -> Unit:
    key = _singular(name)
    if key in CONVERSIONS:
        base, factor = CONVERSIONS[key]
        return Unit.of({base: 1}, factor)
    if key in DIMENSIONLESS:
        return Unit()
    return Unit.of({key: 1})


def _unit_node(node: ast.AST, text: str) -> Unit:
    if isinstance(node, ast.Name):
        return _unit_of_symbol(node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        if node.value <= 0:
            raise FormulaError(f"unit {text!r}: a number in a unit must be positive")
        return Unit(scale=float(node.value))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
        left, right = _unit_node(node.left, text), _unit_node(node.right, text)
        return left * right if isinstance(node.op, ast.Mult) else left / right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exp = _constant_exponent(node.right)
        if exp is None or exp != int(exp):
            raise FormulaError(f"unit {text!r}: powers in units must be whole numbers")
        return _unit_node(node.left, text) ** int(exp)
    raise FormulaError(
        f"unit {text!r} is not understood: write symbols joined by * and / with whole-number powers, "
        "e.g. hour/user/week, JPY/year, JPY/(user*month), user^2"
    )


def parse_unit(text: str | None) -> Unit:
    """'hours/user/week' -> hour/user/week; '', 'share', 'count' are dimensionless; '%' is 0.01."""
    raw = "" if text is None else str(text).strip()
    if raw.lower() in DIMENSIONLESS:
        return Unit()
    if raw.lower() in PERCENT:
        return Unit(scale=0.01)
    expr = raw.replace("^", "**").replace("×", "*").replace("・", "*")
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError) as err:
        raise FormulaError(f"unit {raw!r} is not understood (e.g. hour/user/week, JPY/year)") from err
    return _unit_node(tree.body, raw)


def _constant_exponent(node: ast.AST) -> float | None:
    """The value of a number exponent (2, 0.5, -1), or None when it is not a plain number."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return sign * float(node.value)
    return None


_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_PRETTY = {ast.Add: " + ", ast.Sub: " - ", ast.Mult: " × ", ast.Div: " ÷ ", ast.Pow: "^"}
_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Pow: 4}


class Formula:
    """A parsed, checked formula; `where` names it in every error ("model m, benefit b")."""

    def __init__(self, text: str, *, where: str) -> None:
        self.text = str(text).strip()
        self.where = where
        if not self.text:
            raise FormulaError(f"{where}: the formula is empty")
        if len(self.text) > MAX_FORMULA_CHARS:
            raise FormulaError(f"{where}: the formula is longer than {MAX_FORMULA_CHARS} characters")
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as err:
            raise FormulaError(f"{where}: formula {self.text!r} is not valid arithmetic ({err.msg})") from err
        except (ValueError, RecursionError) as err:
            raise FormulaError(f"{where}: formula {self.text!r} is not valid arithmetic") from err
        self._tree = tree.body
        names: set[str] = set()
        self._check(self._tree, names)
        self.names: frozenset[str] = frozenset(names)

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"

    def _check(self, node: ast.AST, names: set[str]) -> None:
        if isinstance(node, ast.BinOp) and type(node.op) in _SYMBOLS:
            if isinstance(node.op, ast.Pow):
                exp = _constant_exponent(node.right)
                if exp is None:
                    raise FormulaError(f"{self.where}: exponents must be plain numbers in {self.text!r}")
                if abs(exp) > MAX_EXPONENT:
                    raise FormulaError(f"{self.where}: exponent {exp:g} is out of range (at most {MAX_EXPONENT})")
                self._check(node.left, names)
                return
            self._check(node.left, names)
            self._check(node.right, names)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            self._check(node.operand, names)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool)
        ):
            if not math.isfinite(node.value):
                raise FormulaError(f"{self.where}: {node.value!r} is not a usable number in {self.text!r}")
        else:
            raise FormulaError(
                f"{self.where}: {ast.unparse(node)!r} is not allowed in a formula "
                "(only numbers, input names, + - * / ** and parentheses)"
            )

    def _unknown(self, known: Mapping[str, Any]) -> None:
        missing = sorted(self.names - set(known))
        if not missing:
            return
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name, list(known), n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        raise FormulaError(
            f"{self.where}: unknown name{'s' if len(missing) > 1 else ''} {', '.join(hints)} in {self.text!r}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The formula's value for inputs in base units (floats or arrays that broadcast).

        A missing or non-finite input, a division by zero or a non-finite result is a FormulaError.
        """
        self._unknown(values)
        arrays: dict[str, np.ndarray] = {}
        for name in self.names:
            v = values[name]
            arr = np.asarray(np.nan if v is None else v, dtype="float64")
            if not np.isfinite(arr).all():
                raise FormulaError(f"{self.where}: input {name} has no value (missing or not a finite number)")
            arrays[name] = arr
        with np.errstate(all="ignore"):
            out = self._eval(self._tree, arrays)
        return float(out) if np.ndim(out) == 0 else out

    def _eval(self, node: ast.AST, values: dict[str, np.ndarray]) -> np.ndarray:
        if isinstance(node, ast.Constant):
            return np.asarray(float(node.value))
        if isinstance(node, ast.Name):
            return values[node.id]
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, values)
            return -v if isinstance(node.op, ast.USub) else v
        left = self._eval(node.left, values)
        if isinstance(node.op, ast.Pow):
            out = np.power(left, _constant_exponent(node.right))
            if not np.isfinite(out).all():
                raise FormulaError(
                    f"{self.where}: {ast.unparse(node)!r} has no finite value "
                    "(zero to a negative power, a negative base with a fractional power, or overflow)"
                )
            return out
        right = self._eval(node.right, values)
        if isinstance(node.op, ast.Add):
            out = left + right
        elif isinstance(node.op, ast.Sub):
            out = left - right
        elif isinstance(node.op, ast.Mult):
            out = left * right
        else:
            if np.any(right == 0):
                raise FormulaError(
                    f"{self.where}: division by zero in {ast.unparse(node)!r} "
                    f"({ast.unparse(node.right)} is 0{' in some draws' if np.ndim(right) else ''})"
                )
            out = left / right
        if not np.isfinite(out).all():
            raise FormulaError(f"{self.where}: {ast.unparse(node)!r} overflows (the numbers are too large)")
        return out

    def unit(self, units: Mapping[str, Unit]) -> Unit:
        """The dimensions of the result (scale 1: values are in base units); + and - need equal units."""
        self._unknown(units)
        return self._unit(self._tree, units)

    def _unit(self, node: ast.AST, units: Mapping[str, Unit]) -> Unit:
        if isinstance(node, ast.Constant):
            return Unit()
        if isinstance(node, ast.Name):
            return Unit(units[node.id].dims)
        if isinstance(node, ast.UnaryOp):
            return self._unit(node.operand, units)
        left = self._unit(node.left, units)
        if isinstance(node.op, ast.Pow):
            exp = _constant_exponent(node.right)
            if left.dimensionless:
                return left
            if exp != int(exp):
                raise FormulaError(
                    f"{self.where}: {ast.unparse(node)!r}: only whole-number powers of a quantity with a unit ({left})"
                )
            return left ** int(exp)
        right = self._unit(node.right, units)
        if isinstance(node.op, ast.Add | ast.Sub):
            if not left.same_dimension(right):
                raise FormulaError(
                    f"{self.where}: unit mismatch in {ast.unparse(node)!r}: "
                    f"{ast.unparse(node.left)} is {left} but {ast.unparse(node.right)} is {right}"
                )
            return left
        return left * right if isinstance(node.op, ast.Mult) else left / right

    def render(self, labels: Mapping[str, str] | None = None) -> str:
        """The formula for people: names replaced by `labels`, × and ÷ for * and /."""
        return self._render(self._tree, labels or {}, 0)

    def _render(self, node: ast.AST, labels: Mapping[str, str], outer: int) -> str:
        if isinstance(node, ast.Constant):
            return f"{node.value:,g}" if isinstance(node.value, float) else f"{node.value:,}"
        if isinstance(node, ast.Name):
            return labels.get(node.id, node.id)
        if isinstance(node, ast.UnaryOp):
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            return sign + self._render(node.operand, labels, 3)
        prec = _PRECEDENCE[type(node.op)]
        left = self._render(node.left, labels, prec)
        # The right operand of - and / binds tighter: a - (b + c), a ÷ (b × c).
        right_prec = prec + 1 if isinstance(node.op, ast.Sub | ast.Div) else prec
        right = self._render(node.right, labels, right_prec)
        text = f"{left}{_PRETTY[type(node.op)]}{right}"
        return f"({text})" if prec < outer else text


def topological_order(formulas: Mapping[str, Formula], known: set[str], *, where: str) -> list[str]:
    """Order derived formulas so each comes after what it uses; cycles and unknown names are errors."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(path[path.index(name) :] + [name])
            raise FormulaError(f"{where}: circular reference {cycle}")
        state[name] = 1
        for dep in sorted(formulas[name].names):
            if dep in formulas:
                visit(dep, path + [name])
            elif dep not in known:
                formulas[name]._unknown({k: None for k in known | set(formulas)})
        state[name] = 2
        order.append(name)

    for name in formulas:
        visit(name, [])
    return order
