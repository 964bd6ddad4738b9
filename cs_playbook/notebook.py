"""What every notebook does first and last: load the run's data, params and quarter state, then write summary.json.

A notebook's `parameters` cell holds plain defaults (quarter, data_source, params_dir,
output_dir, state_dir); its next cell calls `setup(...)`, which resolves them here, in the
package, where they are tested. `ctx.state` is the quarter's shared state (`cs_playbook.state`):
the runner's when it passes `state_dir`, else built here (and cached) by the same function, so a
notebook opened alone in JupyterLab shows the same numbers as the quarterly run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from pydantic import BaseModel

from cs_playbook.config import REPORTS_DIR, resolve_path
from cs_playbook.data.io import Dataset, load_dataset
from cs_playbook.formatting import Formatter, md_text
from cs_playbook.health.calibration import HealthParams
from cs_playbook.i18n import Messages, messages
from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.outputs import Outputs
from cs_playbook.params import ReportParams, load_params, params_dir
from cs_playbook.state import QuarterState, load_state

__all__ = ["Context", "setup", "check_params", "params_models", "PARAMETERS_CELL", "TIER_COLUMNS"]

M = TypeVar("M", bound=BaseModel)

# The parameters cell of every notebook (papermill parses the comments as help: no "=" in them).
TIER_COLUMNS = (
    "health_tier",
    "tier",
    "rules_tier",
    "calibrated_tier",
    "health_tier_before",
    "tier_before",
    "tier_after",
)

PARAMETERS_CELL = """quarter: str = ""  # reporting quarter like 2026Q3, empty means the last complete quarter in the data
data_source: str = ""  # folder, .duckdb file or demo, empty means params/data.yaml or $CS_PLAYBOOK_DATA
params_dir: str = ""  # folder of the YAML params, empty means the project params/ folder
output_dir: str = ""  # folder for summary.json and exports, empty means reports/_lab/<notebook>/
state_dir: str = ""  # folder of the quarter state written by the runner, empty means build it here (cached)"""


@dataclass
class Context:
    """One notebook run: its quarter, dataset, params folder, outputs and warnings."""

    notebook: str
    ds: Dataset
    state: QuarterState
    params_dir: Path
    out: Outputs
    tier_labels: TierLabels
    lang: str = "ja"
    warnings: list[str] = field(default_factory=list)

    @property
    def msg(self) -> Messages:
        """The message catalog in the report's language (`params/report.yaml` lang)."""
        return messages(self.lang)

    def t(self, key: str, **values: object) -> str:
        """The catalog's text of `key` in the report's language (cs_playbook/i18n/*.yaml)."""
        return self.msg.t(key, **values)

    @property
    def fmt(self) -> Formatter:
        """Money, percent, count, date and yes/no formatting in the report's language and currency."""
        return Formatter(self.lang, self.state.currency)

    @property
    def quarter(self) -> str:
        """The reporting quarter, e.g. 2026Q3."""
        return self.state.quarter

    @property
    def quarter_start(self) -> pd.Timestamp:
        """The quarter's first day."""
        return self.state.quarter_start

    @property
    def quarter_end(self) -> pd.Timestamp:
        """The quarter's last day."""
        return self.state.quarter_end

    @property
    def as_of(self) -> pd.Timestamp:
        """The report's as-of date, the same on every page (`state.report_as_of`)."""
        return self.state.as_of

    @property
    def source_name(self) -> str:
        """The data source as shown in reports: its folder (or file) name, e.g. "demo", never a machine path."""
        text = str(self.ds.source).strip().rstrip("/")
        return Path(text).name if text and text != "demo" else "demo"

    def exports_text(self) -> str:
        """The line a page shows under its exports: the file names only (no machine path)."""
        names = sorted(set(self.out.exports))
        if not names:
            return "No exports were written."
        return f"Exports written to `{self.out.display_name}`: " + ", ".join(names)

    def tiers(self, df: pd.DataFrame, columns: tuple[str, ...] = TIER_COLUMNS) -> pd.DataFrame:
        """`df` with its tier-code columns shown as the labels of params (for a table on the page)."""
        out = df.copy()
        for col in columns:
            if col in out.columns:
                out[col] = self.tier_labels.apply(out[col].astype("string"))
        return out

    def export(self, df: pd.DataFrame, name: str, *, xlsx: bool = True) -> Path:
        """Write `df` as <name>.csv and <name>.xlsx, tier codes shown as the labels of params."""
        return self.out.table(self.tiers(df), name, xlsx=xlsx)

    def params(self, name: str, model: type[M], **overrides: Any) -> M:
        """params/<name>.yaml of this run, validated into `model`."""
        return load_params(name, model, directory=self.params_dir, source=self.ds.source, overrides=overrides or None)

    def warn(self, message: str) -> None:
        """Record a warning for the report (shown in the notebook and kept in summary.json)."""
        if message not in self.warnings:
            self.warnings.append(message)
        _show_markdown(f"> **Note:** {md_text(message)}")  # warnings can quote data values: never markup

    def require(self, *tables: str, skipping: str) -> bool:
        """True when the optional tables are present; otherwise say which part is skipped."""
        absent = [t for t in tables if not self.ds.has(t)]
        if absent:
            self.warn(
                f"{skipping} is skipped: the optional table{'s' if len(absent) > 1 else ''} "
                f"{', '.join(absent)} {'are' if len(absent) > 1 else 'is'} not in the data."
            )
            return False
        return True

    def finish(self, *, headline: dict[str, str], figures: dict[str, Any]) -> Path:
        """Write summary.json: headline (label -> formatted text for index.html) and raw figures."""
        return self.out.summary(
            {
                "notebook": self.notebook,
                "quarter": self.quarter,
                "as_of": self.state.record()["as_of"],
                "data_as_of": self.state.record()["data_as_of"],
                "scorecard": self.state.scorecard,
                "source": self.source_name,
                "headline": headline,
                "figures": figures,
                "warnings": self.warnings,
            }
        )


def params_models() -> dict[str, type[BaseModel]]:
    """The params file of every notebook (params/<name>.yaml) and the model its notebook validates it with."""
    from cs_playbook.expansion.outcomes import ExpansionParams
    from cs_playbook.kpi.retention import KpiParams
    from cs_playbook.params import DataParams, ReportParams, UsageParams
    from cs_playbook.poc.criteria import PocParams
    from cs_playbook.renewals.calendar import RenewalParams
    from cs_playbook.roi.model import RoiParams

    return {
        "data": DataParams,
        "health_score": HealthParams,
        "roi": RoiParams,
        "poc": PocParams,
        "expansion": ExpansionParams,
        "renewals": RenewalParams,
        "kpi": KpiParams,
        "usage_metrics": UsageParams,
        "report": ReportParams,
    }


def check_params(directory: str | Path | None, source: str | Path | None) -> list[str]:
    """Load every notebook's params with its model; the problems (file and key named), empty when all are valid.

    A params file that is absent is fine when its model has defaults for everything.
    """
    from cs_playbook.errors import CsPlaybookError

    pdir = params_dir(directory)
    problems = []
    for name, model in params_models().items():
        try:
            load_params(name, model, directory=pdir, source=source)
        except CsPlaybookError as err:
            if not (pdir / f"{name}.yaml").exists() and "not found" in str(err):
                try:
                    model.model_validate({})
                    continue
                except ValueError:
                    pass
            problems.append(str(err))
    return problems


def _show_markdown(text: str) -> None:
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        pass


def setup(
    notebook: str,
    *,
    quarter: str = "",
    data_source: str = "",
    params_dir_: str = "",
    output_dir: str = "",
    state_dir: str = "",
) -> Context:
    """Resolve a notebook's parameters: load the data and the quarter state, prepare the output folder."""
    pdir = params_dir(params_dir_ or None)
    ds = load_dataset(data_source or None, params_dir=pdir)
    state = load_state(ds, quarter=quarter, params_dir=pdir, state_dir=resolve_path(state_dir) if state_dir else None)
    out_dir = resolve_path(output_dir) if output_dir else REPORTS_DIR / "_lab" / notebook
    ctx = Context(
        notebook=notebook,
        ds=ds,
        state=state,
        params_dir=pdir,
        out=Outputs(out_dir),
        tier_labels=load_params("health_score", HealthParams, directory=pdir, source=ds.source).tier_labels,
        lang=load_params("report", ReportParams, directory=pdir, source=ds.source).lang,
    )
    for note in state.warnings:
        ctx.warn(note)
    return ctx
