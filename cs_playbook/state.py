"""The quarter's shared state, computed once per run: one as-of date, one scorer, one row per account.

Every page of the quarterly report reads the same `QuarterState`, so an account's health tier,
churn probability and ARR at risk, the as-of date, the scorecard in use and the next quarter's GRR
forecast are the same wherever they appear:

- `build_state(ds, quarter=..., params_dir=...)` computes it: usage per account and month up to
  as_of (in the engine), the scorer in use (`health.scorer`), every active account scored by it,
  its ARR and the ARR renewing in the renewal horizon, and the GRR forecast of the next quarter.
  It also computes the previous quarter's state with the same function (`QuarterState.previous`),
  so the pages can say what changed; None when the data has no previous quarter.
- The runner writes it once into the run folder (`write_state`, Parquet and JSON) before any
  notebook runs; each notebook reads it (`read_state`). A notebook opened alone in JupyterLab
  calls `load_state`, which builds the same state with the same function and caches it on disk,
  keyed by the data files, the params and the quarter.

as_of is the quarter's last day, or the data's own as-of date when the quarter is still open:
re-running a quarter later, with more data, gives the same figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cs_playbook import __version__
from cs_playbook.config import PROJ_ROOT, resolve_path
from cs_playbook.data.io import Dataset
from cs_playbook.data.usage import dataset_usage
from cs_playbook.errors import CsPlaybookError
from cs_playbook.health.calibration import HealthParams, risk_as_of
from cs_playbook.health.scorer import HealthScorer, promoted_scorecard, scorer_from_record, scorer_record
from cs_playbook.params import UsageParams, load_params, source_params_dir
from cs_playbook.quarters import last_complete_quarter, quarter_bounds, quarter_label
from cs_playbook.renewals.calendar import RenewalParams, lines_known_at, renewal_lines
from cs_playbook.renewals.churn_review import forecast_base, forecast_quarter, grr_forecast

__all__ = [
    "STATE_DIR",
    "QuarterState",
    "report_as_of",
    "build_state",
    "write_state",
    "read_state",
    "load_state",
    "state_key",
    "previous_quarter",
]

STATE_DIR = "quarter_state"  # folder of the state inside a run (reports/<quarter>/quarter_state/)
PREVIOUS_DIR = "previous"  # the previous quarter's state, inside the state's folder
DATASET_DIR = "dataset"  # the run's validated tables, inside the state's folder while the notebooks run
STATE_FORMAT = 2  # part of the cache key: a cached state of an older layout (without previous/) is rebuilt
CACHE_DIR = PROJ_ROOT / ".cache" / "quarter_state"
ACCOUNT_COLUMNS = [
    "account_id",
    "account_name",
    "segment",
    "csm",
    "arr",
    "health_score",
    "health_tier",
    "churn_probability",
    "arr_at_risk",
    "next_renewal",
    "arr_renewing",
    "arr_renewing_at_risk",
]


@dataclass
class QuarterState:
    """The shared state of one quarter's report.

    `accounts`: one row per account with an active contract on as_of: account_id, account_name,
    segment, csm, arr, health_score (0-100), health_tier (code: good / normal / bad),
    churn_probability, arr_at_risk (probability x ARR, all accounts), next_renewal (first renewal
    in the horizon, else empty), arr_renewing (ARR of the lines renewing within
    `renewal_horizon_days` of as_of), arr_renewing_at_risk (probability x ARR renewing),
    driver_1 .. driver_3 (with _value and _points), scorecard.
    `usage`: usage metrics per account and month up to as_of (`data.usage.dataset_usage`, cached on disk), or None
    without events. `grr_forecast`: the next quarter's GRR forecast (`renewals.churn_review.grr_forecast`)
    with its quarter, or None when no account had ARR at its start. `previous`: the previous quarter's
    state, built by the same `build_state` from the same data (its own `previous` is None), or None
    when the data has no previous quarter.
    """

    quarter: str
    quarter_start: pd.Timestamp
    quarter_end: pd.Timestamp
    as_of: pd.Timestamp
    data_as_of: pd.Timestamp
    currency: str
    scorer: HealthScorer
    accounts: pd.DataFrame
    usage: pd.DataFrame | None
    renewal_horizon_days: int
    grr_forecast: dict[str, Any] | None = None
    key: str = ""
    warnings: list[str] = field(default_factory=list)
    previous: QuarterState | None = None

    @property
    def scorecard(self) -> str:
        """Name of the scorecard in use ('rules' or the promoted scorecard's name)."""
        return self.scorer.name

    @property
    def risk(self) -> pd.DataFrame:
        """account_id, health_score, health_tier, churn_probability, scorecard: the accounts' health, for the analyses."""
        return self.accounts[["account_id", "health_score", "health_tier", "churn_probability", "scorecard"]].copy()

    def record(self) -> dict[str, Any]:
        """The scalar part of the state, as written to state.json and every summary.json."""
        return {
            "quarter": self.quarter,
            "as_of": self.as_of.date().isoformat(),
            "data_as_of": self.data_as_of.date().isoformat(),
            "currency": self.currency,
            "scorecard": self.scorecard,
            "scorecard_kind": self.scorer.kind,
            "renewal_horizon_days": self.renewal_horizon_days,
            "accounts": int(len(self.accounts)),
            "arr": float(self.accounts["arr"].sum()),
            "arr_at_risk": float(self.accounts["arr_at_risk"].sum()),
            "arr_renewing": float(self.accounts["arr_renewing"].sum()),
            "arr_renewing_at_risk": float(self.accounts["arr_renewing_at_risk"].sum()),
            "grr_forecast": self.grr_forecast,
            "key": self.key,
            "previous_quarter": self.previous.quarter if self.previous is not None else None,
        }


def report_as_of(quarter_end: pd.Timestamp, data_as_of: pd.Timestamp) -> pd.Timestamp:
    """The report's as-of date: the quarter's last day, or the data's as-of date while the quarter is open."""
    return min(pd.Timestamp(quarter_end).normalize(), pd.Timestamp(data_as_of).normalize())


def _renewing(subscriptions: pd.DataFrame, *, as_of: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Per account: next_renewal and arr_renewing of the lines renewing within the horizon."""
    lines = renewal_lines(subscriptions, as_of=as_of, horizon_days=horizon_days)
    if lines.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype="string"), "next_renewal": [], "arr_renewing": []})
    out = lines.groupby("account_id", as_index=False).agg(
        next_renewal=("renewal_date", "min"), arr_renewing=("arr", "sum")
    )
    out["account_id"] = out["account_id"].astype("string")
    return out


def _grr_forecast(
    subscriptions: pd.DataFrame, risk: pd.DataFrame, params: RenewalParams, *, as_of: pd.Timestamp
) -> dict[str, Any] | None:
    """The next quarter's GRR forecast from the accounts' churn probabilities, or None without a starting cohort."""
    fq = forecast_quarter(as_of)
    fq_start, fq_end = quarter_bounds(fq)
    base = forecast_base(subscriptions, quarter_start=fq_start, quarter_end=fq_end, as_of=as_of)
    if base.empty or float(base["start_arr"].sum()) <= 0:
        return None
    fc = params.forecast
    result = grr_forecast(base, risk, simulations=fc.simulations, seed=fc.seed, interval=fc.interval)
    return {"quarter": fq, **{k: float(v) if isinstance(v, int | float) else v for k, v in result.items()}}


def _check_contracts_cover(ds: Dataset, quarter: str, quarter_end: pd.Timestamp) -> None:
    """Refuse a quarter ending after the last day the contracts cover: its renewals would all look like churn."""
    covered = ds.contracts_to
    if covered is None or pd.isna(covered) or quarter_end <= covered:
        return
    raise CsPlaybookError(
        f"Quarter {quarter} ends on {quarter_end:%Y-%m-%d}, after the last day the contracts cover "
        f"({covered:%Y-%m-%d}): renewals after that day are not in the data and would count as churn. "
        "Choose an earlier quarter or export newer subscriptions "
        f"(data as of {ds.as_of:%Y-%m-%d}; {ds.as_of_reason})."
    )


def previous_quarter(quarter: str) -> str:
    """The quarter before `quarter` (2026Q1 -> 2025Q4)."""
    start, _ = quarter_bounds(quarter)
    return str(quarter_label(pd.Series([start - pd.Timedelta(days=1)])).iloc[0])


def _has_contracts_on(ds: Dataset, day: pd.Timestamp) -> bool:
    """True when a contract line is active on `day` (the data reaches back that far)."""
    subs = ds.subscriptions
    active = (subs["start_date"] <= day) & (subs["end_date"].isna() | (subs["end_date"] >= day))
    return bool(active.any())


def _previous_state(ds: Dataset, quarter: str, params_dir: str | Path | None) -> tuple[QuarterState | None, str | None]:
    """The previous quarter's state (its own `previous` None), or None and why not when it cannot be built."""
    prev = previous_quarter(quarter)
    _, prev_end = quarter_bounds(prev)
    if not _has_contracts_on(ds, prev_end):
        return None, None  # the data starts after it: nothing to compare, the pages say so
    try:
        return build_state(ds, quarter=prev, params_dir=params_dir, with_previous=False), None
    except CsPlaybookError as err:
        return None, f"The previous quarter {prev} could not be computed, so nothing is compared with it: {err}"


def build_state(
    ds: Dataset, *, quarter: str | None = None, params_dir: str | Path | None = None, with_previous: bool = True
) -> QuarterState:
    """Compute the quarter's shared state from the data and params (see `QuarterState`), with the previous quarter's."""
    q = (quarter or "").strip().upper() or last_complete_quarter(ds.as_of)
    q_start, q_end = quarter_bounds(q)
    as_of = report_as_of(q_end, ds.as_of)
    if as_of < q_start:
        raise CsPlaybookError(
            f"Quarter {q} starts on {q_start:%Y-%m-%d}, after the data's as-of date {ds.as_of:%Y-%m-%d}: "
            "choose an earlier quarter or newer data."
        )
    _check_contracts_cover(ds, q, q_end)
    hp = load_params("health_score", HealthParams, directory=params_dir, source=ds.source)
    rp = load_params("renewals", RenewalParams, directory=params_dir, source=ds.source)
    usage_params = (
        load_params("usage_metrics", UsageParams, directory=params_dir, source=ds.source) if ds.has("events") else None
    )
    usage = dataset_usage(ds, usage_params, end=as_of, params_dir=params_dir) if usage_params else None
    scorer, scored = risk_as_of(
        ds, hp, promoted=promoted_scorecard(params_dir), day=as_of, usage=usage, usage_params=usage_params
    )
    subs = lines_known_at(ds.subscriptions, as_of=as_of, data_as_of=ds.as_of)
    acc = ds.accounts[["account_id", "account_name", "segment", "csm"]].copy()
    acc["account_id"] = acc["account_id"].astype("string")
    out = scored.merge(acc, on="account_id", how="left").merge(
        _renewing(subs, as_of=as_of, horizon_days=rp.horizon_days), on="account_id", how="left"
    )
    out["arr_renewing"] = out["arr_renewing"].fillna(0.0).astype("float64")
    out["arr_at_risk"] = out["churn_probability"] * out["arr"]
    out["arr_renewing_at_risk"] = out["churn_probability"] * out["arr_renewing"]
    drivers = [c for c in out.columns if c.startswith("driver_")]
    accounts = out[[*ACCOUNT_COLUMNS, *drivers, "scorecard"]].sort_values("account_id").reset_index(drop=True)
    warnings = []
    forecast = _grr_forecast(subs, accounts, rp, as_of=as_of)
    if forecast is None:
        warnings.append(f"No account had ARR at the start of {forecast_quarter(as_of)}: there is no GRR to forecast.")
    previous, note = _previous_state(ds, q, params_dir) if with_previous else (None, None)
    warnings += [note] if note else []
    return QuarterState(
        quarter=q,
        quarter_start=q_start,
        quarter_end=q_end,
        as_of=as_of,
        data_as_of=pd.Timestamp(ds.as_of).normalize(),
        currency=ds.currency,
        scorer=scorer,
        accounts=accounts,
        usage=usage,
        renewal_horizon_days=rp.horizon_days,
        grr_forecast=forecast,
        warnings=warnings,
        previous=previous,
    )


def write_state(state: QuarterState, directory: str | Path) -> list[Path]:
    """Write the state into `directory` (accounts.parquet, usage.parquet, state.json, previous/); returns the files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = [directory / "accounts.parquet"]
    state.accounts.to_parquet(files[0], index=False)
    if state.usage is not None:
        files.append(directory / "usage.parquet")
        state.usage.to_parquet(files[-1], index=False)
    meta = {**state.record(), "scorer": scorer_record(state.scorer), "warnings": state.warnings}
    meta["quarter_start"], meta["quarter_end"] = f"{state.quarter_start:%Y-%m-%d}", f"{state.quarter_end:%Y-%m-%d}"
    files.append(directory / "state.json")
    files[-1].write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    if state.previous is not None:
        files += write_state(state.previous, directory / PREVIOUS_DIR)
    return files


def read_state(directory: str | Path) -> QuarterState:
    """The state `write_state` wrote into `directory`."""
    directory = Path(directory)
    meta_path = directory / "state.json"
    if not meta_path.exists():
        raise CsPlaybookError(f"No quarter state in {directory.name}/ (state.json is missing): rerun the report.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    accounts = pd.read_parquet(directory / "accounts.parquet")
    for col in ("account_id", "account_name", "segment", "csm", "health_tier", "scorecard"):
        if col in accounts.columns:
            accounts[col] = accounts[col].astype("string")
    usage_path = directory / "usage.parquet"
    usage = pd.read_parquet(usage_path) if usage_path.exists() else None
    if usage is not None:
        usage["account_id"] = usage["account_id"].astype("string")
    previous = read_state(directory / PREVIOUS_DIR) if (directory / PREVIOUS_DIR / "state.json").exists() else None
    return QuarterState(
        quarter=meta["quarter"],
        quarter_start=pd.Timestamp(meta["quarter_start"]),
        quarter_end=pd.Timestamp(meta["quarter_end"]),
        as_of=pd.Timestamp(meta["as_of"]),
        data_as_of=pd.Timestamp(meta["data_as_of"]),
        currency=meta["currency"],
        scorer=scorer_from_record(meta["scorer"]),
        accounts=accounts,
        usage=usage,
        renewal_horizon_days=int(meta["renewal_horizon_days"]),
        grr_forecast=meta.get("grr_forecast"),
        key=meta.get("key", ""),
        warnings=list(meta.get("warnings", [])),
        previous=previous,
    )


def _file_stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def state_key(ds: Dataset, *, quarter: str, params_dir: str | Path) -> str:
    """Cache key of a state: the package version, the quarter, the data files (name, size, time) and the params' text."""
    h = hashlib.sha256(f"{__version__}|{STATE_FORMAT}|{quarter}|{ds.source}|{ds.as_of}".encode())
    for table, name in sorted(ds.files.items()):
        path = resolve_path(name)
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        h.update(table.encode())
        for f in files:
            if f.is_file():
                h.update(_file_stamp(f).encode())
    overlay = source_params_dir(ds.source)
    for label, folder in (("project", Path(params_dir)), ("source", overlay)):
        for f in sorted(folder.glob("*.yaml")) if folder is not None else []:
            h.update(f"{label}/{f.name}".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:20]


def load_state(
    ds: Dataset,
    *,
    quarter: str | None = None,
    params_dir: str | Path,
    state_dir: str | Path | None = None,
    cache: bool = True,
) -> QuarterState:
    """The quarter state for a notebook (with its previous quarter's): the run's (`state_dir`), else built and cached."""
    if state_dir:
        return read_state(state_dir)
    q = (quarter or "").strip().upper() or last_complete_quarter(ds.as_of)
    key = state_key(ds, quarter=q, params_dir=params_dir)
    cached = CACHE_DIR / key
    if cache and (cached / "state.json").exists():
        return read_state(cached)
    state = build_state(ds, quarter=q, params_dir=params_dir)
    state.key = key
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=f".{key}."))
        try:
            write_state(state, tmp)
            os.replace(tmp, cached)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process cached it first, or the disk is read-only
    return state
