"""ROI models as analysts write them in params/roi.yaml (no code), checked and compiled.

A model states a success scenario in words, its value drivers (benefits: cost reduction or
revenue increase) and costs as formulas over named inputs, and every input with low / base /
high values, a unit and a source: `customer-stated`, `measured` (bound to a usage metric:
the facts) or `assumption`. Templates apply by rule (segment, contracted department or
product); per-account models extend a template. Formulas are parsed safely (`formula`),
units are checked, and every error names the model, the item and the input.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from cs_playbook.errors import ParamsError
from cs_playbook.params import StrictModel, error_lines
from cs_playbook.roi.formula import Formula, FormulaError, Unit, parse_unit, topological_order

__all__ = [
    "SOURCES",
    "InputSpec",
    "BenefitSpec",
    "CostSpec",
    "DerivedSpec",
    "ModelSpec",
    "AssignmentRule",
    "MonteCarloParams",
    "OnePagerParams",
    "RoiParams",
    "CompiledModel",
    "resolve_model",
    "compile_models",
    "active_lines",
    "assign_models",
    "unused_account_models",
]

PARAMS_FILE = "params/roi.yaml"
SOURCES = ("customer-stated", "measured", "assumption")
_MEASURED_ONLY = ("metric", "window_months", "aggregate", "planned", "planned_per_seat")
_STATED_ONLY = ("low", "base", "high", "distribution")


class InputSpec(StrictModel):
    """One input of a model: its values (or the usage metric it is measured by), unit and source."""

    label: str = ""  # plain-language name shown to the customer
    unit: str = ""  # e.g. hour/user/week, JPY/hour, user, share
    source: Literal["customer-stated", "measured", "assumption"]
    note: str = ""  # the fact or reasoning behind the value (shown on the one-pager)
    low: float | None = None
    base: float | None = None
    high: float | None = None
    distribution: Literal["pert", "triangular"] = "pert"  # Monte Carlo shape between low and high
    metric: str | None = None  # measured: a column of usage.account_usage (active_users, events_create_report)
    window_months: int | None = Field(None, ge=1, le=36)  # measured: last N complete months (default: top level)
    aggregate: Literal["mean", "last", "max", "min"] = "mean"  # measured: over the window's months
    planned: float | None = None  # measured: the value assumed at signing
    planned_per_seat: float | None = Field(None, ge=0)  # measured: the value assumed at signing per contracted seat

    @model_validator(mode="after")
    def _values_match_source(self) -> InputSpec:
        if self.source == "measured":
            if not self.metric:
                raise ValueError("a measured input needs `metric` (a usage metric such as active_users)")
            given = [k for k in ("low", "base", "high") if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"a measured input takes its values from the usage data: remove {', '.join(given)} "
                    "or change source to customer-stated / assumption"
                )
            if self.planned is not None and self.planned_per_seat is not None:
                raise ValueError("give either planned or planned_per_seat, not both")
            return self
        extra = [k for k in ("metric", "window_months", "planned", "planned_per_seat") if getattr(self, k) is not None]
        if extra:
            raise ValueError(f"{', '.join(extra)} only apply to measured inputs (source: measured)")
        if self.base is None:
            raise ValueError("the input has no base value")
        low = self.base if self.low is None else self.low
        high = self.base if self.high is None else self.high
        if not low <= self.base <= high:
            raise ValueError(f"values must satisfy low <= base <= high (got {low} / {self.base} / {high})")
        self.low, self.high = low, high
        return self


class BenefitSpec(StrictModel):
    """A value driver: cost reduction or revenue increase, as a formula in currency per year or month."""

    label: str
    kind: Literal["cost_reduction", "revenue_increase"]
    formula: str
    unit: str = "JPY/year"


class CostSpec(StrictModel):
    """A cost besides the subscription: one-off (unit JPY, at signing) or recurring (JPY/month, JPY/year)."""

    label: str
    formula: str
    unit: str = "JPY"


class DerivedSpec(StrictModel):
    """An intermediate quantity named for the logic chain (e.g. hours saved per year)."""

    label: str = ""
    formula: str
    unit: str | None = None  # checked when given


class ModelSpec(StrictModel):
    """A complete ROI model after its template chain is resolved."""

    label: str  # the success scenario's name
    scenario: str  # the success scenario in words, as agreed with the customer
    inputs: dict[str, InputSpec] = Field(min_length=1)
    derived: dict[str, DerivedSpec] = Field(default_factory=dict)
    benefits: dict[str, BenefitSpec] = Field(min_length=1)
    costs: dict[str, CostSpec] = Field(default_factory=dict)
    ramp: list[float] | None = None  # share of the full benefit in months 1..n after signing; 1 afterwards

    @field_validator("ramp")
    @classmethod
    def _ramp_shares(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and any(not 0 <= x <= 1 for x in v):
            raise ValueError("ramp values are shares of the full benefit, between 0 and 1")
        return v


class AssignmentRule(StrictModel):
    """Accounts a template applies to; a rule with several conditions needs all of them."""

    template: str
    segments: list[str] | None = None
    departments: list[str] | None = None  # a contract line for one of these departments
    products: list[str] | None = None  # a contract line for one of these products


class MonteCarloParams(StrictModel):
    """Size and seed of the simulation."""

    draws: int = Field(10_000, ge=100, le=1_000_000)
    seed: int = 20261124


class OnePagerParams(StrictModel):
    """Which accounts get a one-page summary in the printable HTML."""

    max_accounts: int = Field(100, ge=0)  # 0: every account with a complete model, else the largest ARR first
    top_inputs: int = Field(5, ge=1, le=20)  # inputs shown in the sensitivity bars


class RoiParams(StrictModel):
    """params/roi.yaml."""

    horizon_months: int = Field(36, ge=1, le=120)
    discount_rate: float = Field(0.08, ge=0, le=1)
    subscription_billing: Literal["annual", "monthly"] = "annual"
    ramp: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75])
    measured_window_months: int = Field(3, ge=1, le=36)
    realization_alert: float = Field(0.5, gt=0, le=1)
    realization_min_months: int = Field(3, ge=1)
    monte_carlo: MonteCarloParams = Field(default_factory=MonteCarloParams)
    one_pager: OnePagerParams = Field(default_factory=OnePagerParams)
    templates: dict[str, dict[str, Any]] = Field(default_factory=dict)  # none: "no ROI model for these accounts"
    assignment: list[AssignmentRule] = Field(default_factory=list)
    default_template: str | None = None
    accounts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    excluded: dict[str, str] = Field(default_factory=dict)

    @field_validator("accounts", "excluded", mode="before")
    @classmethod
    def _ids_are_text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            bad = [k for k in v if not isinstance(k, str)]
            if bad:
                raise ValueError(f"account ids must be quoted text in YAML ('00123'), got {bad[:3]}")
        return v

    @field_validator("ramp")
    @classmethod
    def _ramp_shares(cls, v: list[float]) -> list[float]:
        if any(not 0 <= x <= 1 for x in v):
            raise ValueError("ramp values are shares of the full benefit, between 0 and 1")
        return v

    @model_validator(mode="after")
    def _templates_exist(self) -> RoiParams:
        named = [r.template for r in self.assignment] + ([self.default_template] if self.default_template else [])
        unknown = sorted({t for t in named if t not in self.templates})
        if unknown:
            raise ValueError(f"unknown template {', '.join(unknown)} (templates: {', '.join(sorted(self.templates))})")
        return self


def _merge_input(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Field by field; switching the source drops the fields the new source does not use."""
    out = {**parent, **child}
    if "source" in child and child["source"] != parent.get("source"):
        drop = _STATED_ONLY if child["source"] == "measured" else _MEASURED_ONLY
        for key in drop:
            if key not in child:
                out.pop(key, None)
    return out


def _merge_model(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if key in ("inputs", "derived", "benefits", "costs") and isinstance(value, dict):
            section = dict(out.get(key) or {})
            for name, item in value.items():
                if item is None:  # `name: null` removes an inherited item
                    section.pop(name, None)
                elif key == "inputs" and isinstance(item, dict) and isinstance(section.get(name), dict):
                    section[name] = _merge_input(section[name], item)
                elif isinstance(item, dict) and isinstance(section.get(name), dict):
                    section[name] = {**section[name], **item}
                else:
                    section[name] = item
            out[key] = section
        else:
            out[key] = copy.deepcopy(value)
    return out


def _raw_chain(params: RoiParams, where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Follow `extends` up the template chain and merge, parents first."""
    chain = [(where, raw)]
    seen = {where}
    while "extends" in chain[-1][1]:
        parent = chain[-1][1]["extends"]
        if parent not in params.templates:
            raise ParamsError(
                f"{PARAMS_FILE}: {chain[-1][0]}: extends unknown template {parent!r} "
                f"(templates: {', '.join(sorted(params.templates))})"
            )
        key = f"templates.{parent}"
        if key in seen:
            raise ParamsError(f"{PARAMS_FILE}: {where}: templates extend each other in a circle ({parent})")
        seen.add(key)
        chain.append((key, params.templates[parent]))
    merged: dict[str, Any] = {}
    for _, part in reversed(chain):
        merged = _merge_model(merged, {k: v for k, v in part.items() if k != "extends"})
    return merged


def resolve_model(params: RoiParams, where: str) -> ModelSpec:
    """The complete model at `where` ("templates.<name>" or "accounts.<id>"), validated."""
    group, _, name = where.partition(".")
    raw = (params.templates if group == "templates" else params.accounts).get(name)
    if not isinstance(raw, dict):
        raise ParamsError(f"{PARAMS_FILE}: {where}: expected a mapping of model keys")
    merged = _raw_chain(params, where, raw)
    try:
        return ModelSpec.model_validate(merged)
    except ValidationError as err:
        lines = error_lines(err, prefix=f"{where}.")
        raise ParamsError(f"{PARAMS_FILE}: model {where} is invalid\n" + "\n".join(lines)) from err


@dataclass
class CompiledModel:
    """A checked model: parsed formulas in evaluation order, units, ramp."""

    name: str  # "report_automation" or "A00004" (a per-account model)
    where: str  # "templates.report_automation" or "accounts.A00004"
    spec: ModelSpec
    units: dict[str, Unit]  # every input and derived quantity
    formulas: dict[str, Formula]  # derived, then benefits and costs keyed "benefits.<name>" / "costs.<name>"
    derived_order: list[str]
    recurring_costs: list[str]
    one_off_costs: list[str]
    ramp: np.ndarray

    @property
    def input_names(self) -> list[str]:
        """Input names in a fixed order (Monte Carlo streams depend on it)."""
        return sorted(self.spec.inputs)

    @property
    def measured(self) -> list[str]:
        """Inputs bound to usage metrics."""
        return [n for n in self.input_names if self.spec.inputs[n].source == "measured"]

    def ramp_curve(self, months: int) -> np.ndarray:
        """Share of the full benefit in months 1..months after signing."""
        out = np.ones(months)
        n = min(months, len(self.ramp))
        out[:n] = self.ramp[:n]
        return out

    def evaluate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Benefit and cost amounts from input values in base units (floats or arrays that broadcast).

        Returns {"benefits.<name>": per month, "costs.<name>": per month or one-off}, in the currency.
        """
        env = dict(values)
        for name in self.derived_order:
            env[name] = self.formulas[name].evaluate(env)
        return {k: f.evaluate(env) for k, f in self.formulas.items() if k.startswith(("benefits.", "costs."))}

    def benefit_rate(self, values: dict[str, Any]) -> Any:
        """Full-adoption benefit per month (all benefit drivers)."""
        out = self.evaluate(values)
        return sum(v for k, v in out.items() if k.startswith("benefits."))


def _money_kind(unit: Unit, currency: str) -> str | None:
    """'one_off' for currency, 'recurring' for currency per time, else None."""
    if unit.dims == ((currency, 1),):
        return "one_off"
    if unit.same_dimension(Unit.of({currency: 1, "month": -1})):
        return "recurring"
    return None


def _compile(name: str, where: str, spec: ModelSpec, currency: str, default_ramp: list[float]) -> CompiledModel:
    units: dict[str, Unit] = {}
    for iname, inp in spec.inputs.items():
        try:
            units[iname] = parse_unit(inp.unit)
        except FormulaError as err:
            raise FormulaError(f"{PARAMS_FILE}: model {where}, input {iname}: {err}") from err
    clash = sorted(set(spec.derived) & set(spec.inputs))
    if clash:
        raise FormulaError(f"{PARAMS_FILE}: model {where}: {', '.join(clash)} is both an input and a derived quantity")
    formulas: dict[str, Formula] = {
        d: Formula(spec.derived[d].formula, where=f"{PARAMS_FILE}: model {where}, derived {d}") for d in spec.derived
    }
    order = topological_order(formulas, set(spec.inputs), where=f"{PARAMS_FILE}: model {where}")
    for d in order:
        units[d] = formulas[d].unit(units)
        declared = spec.derived[d].unit
        if declared is not None and not parse_unit(declared).same_dimension(units[d]):
            raise FormulaError(
                f"{PARAMS_FILE}: model {where}, derived {d}: the formula gives {units[d]} but the unit is {declared}"
            )
    recurring, one_off = [], []
    used: set[str] = set().union(*(f.names for f in formulas.values())) if formulas else set()
    for group, items in (("benefits", spec.benefits), ("costs", spec.costs)):
        for iname, item in items.items():
            label = f"{PARAMS_FILE}: model {where}, {group[:-1]} {iname}"
            f = Formula(item.formula, where=label)
            got = f.unit(units)
            declared = parse_unit(item.unit)
            kind = _money_kind(declared, currency)
            if kind is None or (group == "benefits" and kind != "recurring"):
                want = (
                    f"{currency}/year or {currency}/month" if group == "benefits" else f"{currency} or {currency}/year"
                )
                raise FormulaError(f"{label}: unit {item.unit!r} must be {want} (the report currency is {currency})")
            if not got.same_dimension(declared):
                raise FormulaError(f"{label}: unit mismatch: the formula gives {got} but the unit is {item.unit}")
            # Results in base units are per month (or plain currency); nothing to rescale.
            formulas[f"{group}.{iname}"] = f
            used |= f.names
            if group == "costs":
                (recurring if kind == "recurring" else one_off).append(iname)
    unused = sorted(set(spec.inputs) - used)
    if unused:
        raise FormulaError(
            f"{PARAMS_FILE}: model {where}: input {', '.join(unused)} is not used by any formula "
            "(remove it, or write `inputs: {name: null}` in a model that extends a template)"
        )
    return CompiledModel(
        name=name,
        where=where,
        spec=spec,
        units=units,
        formulas=formulas,
        derived_order=order,
        recurring_costs=recurring,
        one_off_costs=one_off,
        ramp=np.asarray(spec.ramp if spec.ramp is not None else default_ramp, dtype="float64"),
    )


def compile_models(params: RoiParams, currency: str) -> dict[str, CompiledModel]:
    """Every template and per-account model, resolved and checked; keys are template names and account ids."""
    out: dict[str, CompiledModel] = {}
    for group, names in (("templates", params.templates), ("accounts", params.accounts)):
        for name in names:
            where = f"{group}.{name}"
            out[name] = _compile(name, where, resolve_model(params, where), currency, params.ramp)
    return out


def active_lines(subscriptions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Contract lines active on `as_of` (start_date <= as_of <= end_date or open-ended)."""
    s = subscriptions
    on = (s["start_date"] <= as_of) & (s["end_date"].isna() | (s["end_date"] >= as_of))
    return s[on]


def assign_models(
    params: RoiParams, accounts: pd.DataFrame, subscriptions: pd.DataFrame, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The ROI model of every account with an active contract on `as_of`.

    Returns account_id, model (template name or account id; empty when none), assigned_by
    (account / rule <n> / default / excluded / none) and reason (why there is no model).
    Per-account models win, then the first matching rule, then default_template.
    """
    lines = active_lines(subscriptions, as_of)
    ids = sorted(lines["account_id"].unique())
    seg = accounts.set_index("account_id")["segment"].astype("string")
    depts = lines.dropna(subset=["department"]).groupby("account_id")["department"].agg(set)
    prods = lines.groupby("account_id")["product"].agg(set)
    rows = []
    for acc in ids:
        model, by, reason = None, "none", "no template matches this account (set default_template)"
        if acc in params.excluded:
            by, reason = "excluded", params.excluded[acc] or "excluded in params"
        elif acc in params.accounts:
            model, by, reason = acc, "account", ""
        else:
            for i, rule in enumerate(params.assignment, start=1):
                if (
                    (rule.segments is None or seg.get(acc) in rule.segments)
                    and (rule.departments is None or depts.get(acc, set()) & set(rule.departments))
                    and (rule.products is None or prods.get(acc, set()) & set(rule.products))
                ):
                    model, by, reason = rule.template, f"rule {i}", ""
                    break
            else:
                if params.default_template:
                    model, by, reason = params.default_template, "default", ""
        rows.append({"account_id": acc, "model": model, "assigned_by": by, "reason": reason})
    return pd.DataFrame(rows, columns=["account_id", "model", "assigned_by", "reason"])


def unused_account_models(params: RoiParams, assignment: pd.DataFrame) -> list[str]:
    """Per-account models whose account has no active contract in the data (worth a warning)."""
    active = set(assignment["account_id"])
    return sorted(a for a in params.accounts if a not in active)
