"""What every notebook does first and last: load the run's data, params and quarter state, then write summary.json.

A notebook's `parameters` cell holds plain defaults (quarter, data_source, params_dir,
output_dir, state_dir); its next cell calls `setup(...)`, which resolves them here, in the
package, where they are tested. `ctx.state` is the quarter's shared state (`cs_playbook.state`):
the runner's when it passes `state_dir`, else built here (and cached) by the same function, so a
notebook opened alone in JupyterLab shows the same numbers as the quarterly run.

A page speaks the report's language (`ctx.lang`, params/report.yaml) through the catalog (`ctx.t`,
cs_playbook/i18n) and `ctx.fmt`: `section` shows a heading and its intro, `decision` the box at the top (headline
figures, their change, the named actions, the checks line), `table` a page table (labels, formats, headers in the
language, data escaped), `export` a CSV for the CRM and an Excel-ready XLSX, `exports_text` the links to them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pandas as pd
from pydantic import BaseModel

from cs_playbook.config import REPORTS_DIR, resolve_path
from cs_playbook.data.io import Dataset, load_dataset, read_dataset
from cs_playbook.formatting import ColumnKinds, Formatter, column_kinds, html_table, md_text
from cs_playbook.health.calibration import HealthParams
from cs_playbook.i18n import Messages, messages
from cs_playbook.modeling.scorecard import TierLabels
from cs_playbook.outputs import Outputs
from cs_playbook.params import ReportParams, load_params, params_dir
from cs_playbook.state import DATASET_DIR, QuarterState, load_state

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

# The catalog area (cs_playbook/i18n/<area>.yaml) of each notebook's page.
NOTEBOOK_AREAS = {
    "00_kpi_overview": "kpi",
    "01_health_score_calibration": "health",
    "02_roi_scenarios": "roi",
    "03_poc_tracking": "poc",
    "04_expansion_targeting": "expansion",
    "05_renewal_management": "renewals",
}

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
    decision_record: dict[str, Any] | None = None  # what `decision` showed, for summary.json "decision"
    area: str = ""  # the page's catalog area (kpi, health...): its own column, code and check names come first

    @property
    def msg(self) -> Messages:
        """The message catalog in the report's language (`params/report.yaml` lang)."""
        return messages(self.lang)

    def t(self, key: str, **values: object) -> str:
        """The catalog's text of `key` in the report's language (cs_playbook/i18n/*.yaml)."""
        return self.msg.t(key, **values)

    def text(self, key_or_text: str, **values: object) -> str:
        """The catalog's text when `key_or_text` is a catalog key (formatted with `values`), else the text itself."""
        return self.t(key_or_text, **values) if self.msg.has(key_or_text) else key_or_text

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

    @property
    def previous(self) -> QuarterState | None:
        """The previous quarter's state (for "what changed"), None when there is no previous quarter."""
        return getattr(self.state, "previous", None)

    def exports_text(self) -> str:
        """Markdown links to this page's exports by relative file name ("Downloads: a.csv · a.xlsx"), no folder."""
        names = sorted(set(self.out.exports))
        if not names:
            return self.t("common.no_exports")
        links = [f"[{md_text(n)}]({quote(n)})" for n in names]
        return f"**{self.t('common.exports')}:** " + " · ".join(links)

    def section(self, key: str, *, level: int = 2, **values: object) -> None:
        """Show the heading t(key.title) (or t(key)) and the paragraph t(key.intro) when the catalog has it.

        `values` fill the texts' placeholders; they are data, so they are shown as inert text.
        """
        safe = {k: md_text(v) for k, v in {"quarter": self.quarter, **values}.items()}
        title = self.t(f"{key}.title", **safe) if self.msg.has(f"{key}.title") else self.t(key, **safe)
        text = f"{'#' * level} {title}"
        if self.msg.has(f"{key}.intro"):
            text += "\n\n" + self.t(f"{key}.intro", **safe)
        _show_markdown(text)

    def table_frame(
        self,
        df: pd.DataFrame,
        *,
        money: Iterable[str] = (),
        pct: Iterable[str] = (),
        dates: Iterable[str] = (),
        counts: Iterable[str] = (),
        codes: Iterable[str] | None = None,
        yes_no: Iterable[str] = (),
        max_rows: int | None = None,
    ) -> pd.DataFrame:
        """`df` as a page shows it: tier labels, codes translated, values formatted, headers in the report language.

        Columns not named in money/pct/dates/counts/yes_no get the kind their name and dtype suggest
        (`formatting.column_kinds`); `codes` limits code translation to those columns (default: every text column).
        """
        data = _plain_index(df)
        data = data.head(max_rows) if max_rows else data
        kinds = column_kinds(data, money=money, pct=pct, dates=dates, counts=counts, yes_no=yes_no)
        named = self._translate_codes(self.tiers(data), kinds, data.columns if codes is None else codes)
        shown = self.fmt.frame(named, kinds)
        shown.columns = [self.msg.column(str(c), self.area) for c in data.columns]
        return shown.reset_index(drop=True)

    def _translate_codes(self, df: pd.DataFrame, kinds: ColumnKinds, columns: Iterable[str]) -> pd.DataFrame:
        """`df` with the code values of its text `columns` in the report language (tier columns are labels already)."""
        out = df.copy()
        text = [c for c in columns if c in out.columns and not pd.api.types.is_numeric_dtype(out[c])]
        for col in text:
            if kinds.kind(col) is None and col not in TIER_COLUMNS:
                out[col] = out[col].map(lambda v: self.msg.code(v, self.area))
        return out

    def table(
        self,
        df: pd.DataFrame,
        *,
        money: Iterable[str] = (),
        pct: Iterable[str] = (),
        dates: Iterable[str] = (),
        counts: Iterable[str] = (),
        codes: Iterable[str] | None = None,
        yes_no: Iterable[str] = (),
        max_rows: int | None = None,
    ) -> None:
        """Show `df` as a page table (see `table_frame`): class cs-table, numbers right-aligned, data escaped.

        With `max_rows`, the first rows and a line saying how many there are in all.
        """
        kinds = {"money": money, "pct": pct, "dates": dates, "counts": counts, "codes": codes, "yes_no": yes_no}
        shown = self.table_frame(df, max_rows=max_rows, **kinds)  # type: ignore[arg-type]
        data = _plain_index(df)
        numeric = [
            self.msg.column(str(c), self.area)
            for c in data.columns
            if pd.api.types.is_numeric_dtype(data[c]) and not pd.api.types.is_bool_dtype(data[c])
        ]
        body = html_table(shown, numeric=numeric)
        if max_rows and len(df) > max_rows:
            note = self.t("common.showing_rows", shown=self.fmt.count(max_rows), total=self.fmt.count(len(df)))
            body += f'<p class="cs-table-note">{html.escape(note)}</p>'
        _show_html(body)

    def figure(
        self, label: str, value: object, *, change: str | None = None, direction: str | None = None
    ) -> dict[str, str | None]:
        """One headline figure for `decision`: label (a catalog key or text), value, change and its direction."""
        text = self.text(label)
        if direction not in (None, "good", "bad", "neutral"):
            raise ValueError(f"direction {direction!r} is not one of good, bad, neutral")
        return {"label": text, "value": str(value), "change": change, "direction": direction}

    def decision(
        self,
        figures: list[dict[str, Any]],
        actions: pd.DataFrame | None = None,
        *,
        checks: dict[str, bool] | None = None,
    ) -> None:
        """Show the decision box (headline figures with their change, named actions, checks) and keep it for summary.json."""
        frame = self.table_frame(actions) if actions is not None and not actions.empty else None
        self.decision_record = {
            "figures": [dict(f) for f in figures],
            "actions": frame.to_dict(orient="records") if frame is not None else [],
            "checks": dict(checks) if checks is not None else None,
        }
        parts = [_figure_html(f) for f in figures]
        box = f'<div class="cs-figures">{"".join(parts)}</div>'
        if self.previous is None:
            box += f'<p class="cs-no-previous">{html.escape(self.t("common.no_previous"))}</p>'
        if frame is not None:
            box += f"<h3>{html.escape(self.t('common.actions'))}</h3>" + html_table(
                frame, classes="cs-table cs-actions"
            )
        if checks is not None:
            box += self._checks_html(checks)[1]
        _show_html(f'<div class="cs-decision">{box}</div>')

    def _checks_html(self, checks: dict[str, bool]) -> tuple[str, str]:
        """The checks line as text and as HTML (class cs-checks cs-checks-ok or cs-checks-failed)."""
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            names = ", ".join(self.msg.named("checks", n, self.area) for n in failed)
            text = self.t("common.checks_failed", failed=len(failed), count=len(checks), names=names)
        else:
            text = self.t("common.checks_passed", count=len(checks))
        state = "cs-checks-failed" if failed else "cs-checks-ok"
        return text, f'<p class="cs-checks {state}">{html.escape(text)}</p>'

    def checks_line(self, checks: dict[str, bool]) -> str:
        """Show one line: all N consistency checks passed, or which failed (in red); return its text."""
        text, body = self._checks_html(checks)
        _show_html(body)
        return text

    def tiers(self, df: pd.DataFrame, columns: tuple[str, ...] = TIER_COLUMNS) -> pd.DataFrame:
        """`df` with its tier-code columns shown as the labels of params (for a table on the page)."""
        out = df.copy()
        for col in columns:
            if col in out.columns:
                out[col] = self.tier_labels.apply(out[col].astype("string"))
        return out

    def export(
        self,
        df: pd.DataFrame,
        name: str,
        *,
        money: Iterable[str] = (),
        pct: Iterable[str] = (),
        dates: Iterable[str] = (),
        counts: Iterable[str] = (),
        probability: Iterable[str] = (),
        sheet: str | None = None,
        xlsx: bool = True,
    ) -> Path:
        """Write <name>.csv (snake_case headers and codes, rounded) and an Excel-ready <name>.xlsx in the language.

        Tier codes show as the labels of params in both. Columns not named get the kind their name and dtype
        suggest (`formatting.column_kinds`). `sheet` is a catalog key or text; by default the catalog's
        "<area>.exports.<name>", else the name made readable.
        """
        data = self.tiers(df if isinstance(df.index, pd.RangeIndex) else df.reset_index())
        kinds = column_kinds(data, money=money, pct=[*pct, *probability], dates=dates, counts=counts)
        book = self._translate_codes(data, kinds, data.columns)
        for col in kinds.yes_no:
            book[col] = book[col].map(self.fmt.yes_no)
        title = self.msg.named("exports", name, self.area) if sheet is None else self.text(sheet)
        return self.out.table(
            data,
            name,
            xlsx=xlsx,
            kinds=kinds,
            xlsx_df=book,
            headers=[self.msg.column(str(c), self.area) for c in data.columns],
            currency=self.state.currency,
            lang=self.lang,
            sheet=title,
        )

    def params(self, name: str, model: type[M], **overrides: Any) -> M:
        """params/<name>.yaml of this run, validated into `model`."""
        return load_params(name, model, directory=self.params_dir, source=self.ds.source, overrides=overrides or None)

    def warn(self, message: str) -> None:
        """Record a warning for the report (shown in the notebook and kept in summary.json)."""
        if message not in self.warnings:
            self.warnings.append(message)
        # The label in the report's language; the message as written (it can quote data values: never markup).
        _show_markdown(f"> **{self.t('common.note')}:** {md_text(message)}")

    def require(self, *tables: str, skipping: str) -> bool:
        """True when the optional tables are present; otherwise say which part is skipped."""
        absent = [t for t in tables if not self.ds.has(t)]
        if absent:
            self.warn(self.t("common.skipped", part=self.text(skipping), tables=", ".join(absent)))
            return False
        return True

    def finish(
        self,
        *,
        headline: dict[str, str],
        figures: dict[str, Any],
        title: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write summary.json: page title and language, headline (label -> text for index.html), decision, figures.

        `title` is a catalog key or text (the page's <title>); by default the notebook's name. `extra` adds
        top-level keys the index reads (e.g. the CSM books' "books" and "changes").
        """
        page_title = self.text(title, quarter=self.quarter) if title else self.notebook
        return self.out.summary(
            {
                "notebook": self.notebook,
                "title": page_title,
                "lang": self.lang,
                "decision": self.decision_record,
                "quarter": self.quarter,
                "as_of": self.state.record()["as_of"],
                "data_as_of": self.state.record()["data_as_of"],
                "scorecard": self.state.scorecard,
                "source": self.source_name,
                "headline": headline,
                "figures": figures,
                "warnings": self.warnings,
                **(extra or {}),
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


def _figure_html(figure: dict[str, Any]) -> str:
    """One headline figure of the decision box (every value escaped; direction as class cs-good/bad/neutral)."""
    direction = figure.get("direction")
    tone = f" cs-{direction}" if direction in ("good", "bad", "neutral") else ""
    change = figure.get("change")
    body = (
        f'<div class="cs-figure-label">{html.escape(str(figure.get("label", "")))}</div>'
        f'<div class="cs-figure-value">{html.escape(str(figure.get("value", "")))}</div>'
    )
    if change:
        body += f'<div class="cs-figure-change{tone}">{html.escape(str(change))}</div>'
    return f'<div class="cs-figure{tone}">{body}</div>'


def _show_html(text: str) -> None:
    try:
        from IPython.display import HTML, display

        display(HTML(text))
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        pass


def _plain_index(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with a named index as columns; an unnamed one (row numbers left by a filter) is dropped, not shown."""
    if isinstance(df.index, pd.RangeIndex):
        return df
    return df.reset_index(drop=all(name is None for name in df.index.names))


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
    ds = None
    if state_dir:  # the run's validated tables, read back instead of validated again in every notebook
        ds = read_dataset(resolve_path(state_dir) / DATASET_DIR, source=data_source or None, params_dir=pdir)
    ds = ds or load_dataset(data_source or None, params_dir=pdir)
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
        area=NOTEBOOK_AREAS.get(notebook, ""),
    )
    for note in state.warnings:
        ctx.warn(note)
    return ctx
