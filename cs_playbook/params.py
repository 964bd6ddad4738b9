"""YAML parameters in `params/`, validated into typed objects with errors naming file and key.

Layering: the defaults written in each model, then the project's `params/<name>.yaml`, then
per-run overrides passed by the runner or a notebook (fight-churn style).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cs_playbook.config import PARAMS_DIR, resolve_path
from cs_playbook.errors import ParamsError

__all__ = [
    "DemoParams",
    "DataParams",
    "UsageMetric",
    "UsageParams",
    "read_yaml",
    "load_params",
    "params_dir",
    "error_lines",
]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for params: unknown keys are an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class DemoParams(StrictModel):
    """Size and seed of the generated demo company."""

    accounts: int = Field(2000, ge=20)
    events: int = Field(3_000_000, ge=1000)
    seed: int = 7
    end_date: date = date(2026, 10, 31)


class DataParams(StrictModel):
    """params/data.yaml: where the data comes from and how to read it."""

    source: str = "demo"  # "demo", a folder of CSV/Parquet files, or a .duckdb file
    as_of: date | None = None  # date the data is current to; empty = latest activity in the data
    reporting_currency: str = "JPY"
    fx_rates: dict[str, float] = Field(default_factory=dict)  # 1 unit of key = value reporting units
    rename: dict[str, dict[str, str]] = Field(default_factory=dict)  # table -> {export header: contract column}
    demo: DemoParams = Field(default_factory=DemoParams)

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, v: str) -> str:
        if not str(v).strip():
            raise ValueError("source must be 'demo', a folder or a .duckdb file")
        return str(v).strip()


class UsageMetric(StrictModel):
    """One usage metric computed in the database engine from raw events."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["count", "distinct_users", "distinct_days", "distinct_event_types", "ratio"]
    event_types: list[str] | None = None  # restrict to these event types (count / distinct kinds)
    numerator: str | None = None  # ratio: name of another metric
    denominator: str | None = None  # ratio: name of another metric, or "seats"
    description: str = ""


class UsageParams(StrictModel):
    """params/usage_metrics.yaml: the metric definitions an analyst can extend without code."""

    metrics: list[UsageMetric]
    per_event_type_counts: bool = True  # also count events of every type (events_<type>)
    change_windows: list[int] = Field(default_factory=lambda: [1, 3])


def params_dir(path: str | Path | None = None) -> Path:
    """The params folder: the given one (relative to the project root) or the project's own."""
    return resolve_path(path) if path else PARAMS_DIR


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or bad syntax is a ParamsError naming the file."""
    if not path.exists():
        raise ParamsError(f"Parameter file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_params(
    name: str, model: type[M], *, directory: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> M:
    """Load params/<name>.yaml into `model`; errors name the file, the key and what is allowed."""
    path = params_dir(directory) / f"{name}.yaml"
    data = _deep_merge(read_yaml(path), overrides or {})
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ParamsError(f"{path}: invalid parameters\n" + "\n".join(error_lines(err))) from err


def error_lines(err: ValidationError, *, prefix: str = "") -> list[str]:
    """One line per pydantic error: the dotted key (after `prefix`), the message and the value given."""
    lines = []
    for e in err.errors():
        key = prefix + (".".join(str(p) for p in e["loc"]) or "<top level>")
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"- {key}: {e['msg']}{shown}")
    return lines
