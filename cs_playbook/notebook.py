"""What every notebook does first and last: load the run's data and params, then write summary.json.

A notebook's `parameters` cell holds plain defaults (quarter, data_source, params_dir,
output_dir); its next cell calls `setup(...)`, which resolves them here, in the package,
where they are tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from pydantic import BaseModel

from cs_playbook.config import REPORTS_DIR, resolve_path
from cs_playbook.data.io import Dataset, load_dataset
from cs_playbook.outputs import Outputs
from cs_playbook.params import load_params, params_dir
from cs_playbook.quarters import last_complete_quarter, quarter_bounds

__all__ = ["Context", "setup", "PARAMETERS_CELL"]

M = TypeVar("M", bound=BaseModel)

# The parameters cell of every notebook (papermill parses the comments as help: no "=" in them).
PARAMETERS_CELL = """quarter: str = ""  # reporting quarter like 2026Q3, empty means the last complete quarter in the data
data_source: str = ""  # folder, .duckdb file or demo, empty means params/data.yaml or $CS_PLAYBOOK_DATA
params_dir: str = ""  # folder of the YAML params, empty means the project params/ folder
output_dir: str = ""  # folder for summary.json and exports, empty means reports/_lab/<notebook>/"""


@dataclass
class Context:
    """One notebook run: its quarter, dataset, params folder, outputs and warnings."""

    notebook: str
    quarter: str
    quarter_start: pd.Timestamp
    quarter_end: pd.Timestamp
    ds: Dataset
    params_dir: Path
    out: Outputs
    warnings: list[str] = field(default_factory=list)

    def params(self, name: str, model: type[M], **overrides: Any) -> M:
        """params/<name>.yaml of this run, validated into `model`."""
        return load_params(name, model, directory=self.params_dir, overrides=overrides or None)

    def warn(self, message: str) -> None:
        """Record a warning for the report (shown in the notebook and kept in summary.json)."""
        if message not in self.warnings:
            self.warnings.append(message)
        _show_markdown(f"> **Note:** {message}")

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
                "as_of": self.ds.as_of,
                "source": self.ds.source,
                "headline": headline,
                "figures": figures,
                "warnings": self.warnings,
            }
        )


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
) -> Context:
    """Resolve a notebook's parameters: load the data, pick the quarter, prepare the output folder."""
    pdir = params_dir(params_dir_ or None)
    ds = load_dataset(data_source or None, params_dir=pdir)
    q = quarter.strip().upper() if quarter else last_complete_quarter(ds.as_of)
    start, end = quarter_bounds(q)
    out_dir = resolve_path(output_dir) if output_dir else REPORTS_DIR / "_lab" / notebook
    return Context(
        notebook=notebook,
        quarter=q,
        quarter_start=start,
        quarter_end=end,
        ds=ds,
        params_dir=pdir,
        out=Outputs(out_dir),
    )
