"""YAML parameters in `params/`, validated into typed objects with errors naming file and key.

Layering: the defaults written in each model, then the project's `params/<name>.yaml`, then the
data source's own `<source>/params/<name>.yaml` (the overlay: params that belong to that data, e.g.
the demo company's ROI templates or an export's `end_date_convention`), then per-run overrides
passed by the runner or a notebook (fight-churn style). Mappings merge key by key; lists and
scalars are replaced.

The data source is the one named by the caller, else `$CS_PLAYBOOK_DATA`, else `source` in the
project's `params/data.yaml` ("demo" = `config.DEMO_DIR`). A DuckDB file source has no overlay.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cs_playbook.config import DATA_ENV_VAR, DEMO_DIR, PARAMS_DIR, PROJ_ROOT, resolve_path
from cs_playbook.errors import ParamsError

__all__ = [
    "DemoParams",
    "DataParams",
    "UsageMetric",
    "UsageParams",
    "read_yaml",
    "load_params",
    "params_dir",
    "source_path",
    "source_params_dir",
    "display_path",
    "error_lines",
]

SOURCE_PARAMS = "params"  # folder of a data source holding its own params (the overlay)

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
    as_of: date | None = None  # date the data is current to; empty = last date covered by every required table
    end_date_convention: Literal["inclusive", "exclusive"] = "inclusive"  # exclusive: end_date is the day after
    reporting_currency: str = ""  # empty = the data's single currency
    fx_rates: dict[str, float] = Field(default_factory=dict)  # 1 unit of key = value reporting units
    rename: dict[str, dict[str, str]] = Field(default_factory=dict)  # table -> {export header: contract column}
    # How day/month-first dates are written: one strptime format ("%d/%m/%Y") or one per table.
    date_format: str | dict[str, str] = ""
    business_timezone: str = "Asia/Tokyo"  # time-zone-aware timestamps are converted to it before taking the date
    max_arr: float = Field(default=1e12, gt=0)  # largest plausible ARR of one line / PoC, in its own currency
    max_seats: int = Field(default=10_000_000, gt=0)  # largest plausible seat count of one line
    max_employees: int = Field(default=10_000_000, gt=0)  # largest plausible employee count of one account
    # Where the engine queries run: "duckdb" (in process), {duckdb: file.duckdb} or {spark: "local[2]" / master URL}.
    engine: str | dict[str, str] = "duckdb"
    demo: DemoParams = Field(default_factory=DemoParams)

    @field_validator("engine", mode="before")
    @classmethod
    def _known_engine(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()):
            return "duckdb"
        kinds = ("duckdb", "spark")
        if isinstance(v, str):
            if v.strip().lower() not in kinds:
                raise ValueError(f"unknown engine {v!r}: duckdb, {{duckdb: file.duckdb}} or {{spark: master URL}}")
            return v.strip().lower()
        if not isinstance(v, dict) or len(v) != 1 or str(next(iter(v))).strip().lower() not in kinds:
            raise ValueError("engine must be duckdb, {duckdb: file.duckdb} or {spark: 'local[2]' or a master URL}")
        kind, target = next(iter(v.items()))
        if not str(target or "").strip():
            raise ValueError(f"engine {kind}: name a file (duckdb) or a master URL (spark)")
        return {str(kind).strip().lower(): str(target).strip()}

    @field_validator("date_format", mode="before")
    @classmethod
    def _no_format(cls, v: Any) -> Any:
        return "" if v is None else v

    @field_validator("business_timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(v).strip())
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Tokyo)") from err
        return str(v).strip()

    def date_format_of(self, table: str) -> str:
        """The date format configured for `table` ("" = ISO dates only)."""
        fmt = self.date_format.get(table, "") if isinstance(self.date_format, dict) else self.date_format
        return (fmt or "").strip()

    @field_validator("reporting_currency", mode="before")
    @classmethod
    def _currency_code(cls, v: Any) -> str:
        return "" if v is None else str(v).strip().upper()

    @field_validator("end_date_convention", mode="before")
    @classmethod
    def _convention_default(cls, v: Any) -> Any:
        return "inclusive" if v is None else str(v).strip().lower()

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


class ReportParams(StrictModel):
    """params/report.yaml: how the quarterly report speaks to its readers."""

    lang: Literal["ja", "en"] = "ja"  # every heading, sentence, chart, table header and XLSX header


def params_dir(path: str | Path | None = None) -> Path:
    """The params folder: the given one (relative to the project root) or the project's own."""
    return resolve_path(path) if path else PARAMS_DIR


def display_path(path: Path) -> str:
    """A file's name for messages: relative to the project root, else its last three parts (no machine path)."""
    try:
        return str(path.resolve().relative_to(PROJ_ROOT))
    except ValueError:
        return str(Path(*path.parts[-3:]))


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or bad syntax is a ParamsError naming the file."""
    if not path.exists():
        raise ParamsError(f"Parameter file not found: {display_path(path)}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{display_path(path)}: not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{display_path(path)}: expected a mapping of keys to values at the top level")
    return data


def source_path(source: str | Path | None = None, directory: str | Path | None = None) -> Path:
    """The data source: `source`, else $CS_PLAYBOOK_DATA, else `source` of <directory>/data.yaml ("demo" = DEMO_DIR)."""
    chosen = str(source).strip() if source else os.environ.get(DATA_ENV_VAR, "").strip()
    if not chosen:
        project = params_dir(directory) / "data.yaml"
        chosen = str(read_yaml(project).get("source") or "demo").strip() if project.exists() else "demo"
    return DEMO_DIR if chosen == "demo" else resolve_path(chosen)


def source_params_dir(source: str | Path | None = None, directory: str | Path | None = None) -> Path | None:
    """The data source's own params folder (<source>/params/), or None for a DuckDB file source."""
    path = source_path(source, directory)
    return None if path.suffix in (".duckdb", ".db", ".ddb") else path / SOURCE_PARAMS


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _holds(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Whether the key path `loc` is written in `data` (a list or value written there replaces everything below it)."""
    node: Any = data
    for part in loc:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return bool(loc)


def _invalid(err: ValidationError, base: Path, overlay: Path | None, overlay_data: dict[str, Any]) -> ParamsError:
    """A ParamsError naming the file that holds each bad key (the project's or the source's overlay)."""
    where = [overlay if overlay is not None and _holds(overlay_data, tuple(e["loc"])) else base for e in err.errors()]
    files = list(dict.fromkeys(where))
    lines = error_lines(err)
    if len(files) > 1:
        lines = [f"{line} (in {display_path(f)})" for line, f in zip(lines, where, strict=True)]
    names = " and ".join(display_path(f) for f in files)
    return ParamsError(f"{names}: invalid parameters\n" + "\n".join(lines))


def load_params(
    name: str,
    model: type[M],
    *,
    directory: str | Path | None = None,
    source: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> M:
    """Load params/<name>.yaml, overlaid by <source>/params/<name>.yaml, into `model`; errors name the file and key."""
    path = params_dir(directory) / f"{name}.yaml"
    src_dir = source_params_dir(source, directory)
    overlay = src_dir / f"{name}.yaml" if src_dir is not None else None
    if overlay is not None and (not overlay.is_file() or overlay.resolve() == path.resolve()):
        overlay = None
    overlay_data = read_yaml(overlay) if overlay is not None else {}
    if name == "data" and "source" in overlay_data:
        raise ParamsError(
            f"{display_path(overlay)}: source: a data source's own params cannot choose the data source "
            "(set it in the project's params/data.yaml, $CS_PLAYBOOK_DATA or --data)"
        )
    base = read_yaml(path) if overlay is None or path.exists() else {}
    data = _deep_merge(_deep_merge(base, overlay_data), overrides or {})
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _invalid(err, path, overlay, overlay_data) from err


def error_lines(err: ValidationError, *, prefix: str = "") -> list[str]:
    """One line per pydantic error: the dotted key (after `prefix`), the message and the value given."""
    lines = []
    for e in err.errors():
        key = prefix + (".".join(str(p) for p in e["loc"]) or "<top level>")
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"- {key}: {e['msg']}{shown}")
    return lines
