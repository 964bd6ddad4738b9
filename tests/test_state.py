"""The quarter state refuses quarters the data does not cover, and reads the data source's params overlay."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from cs_playbook.config import PARAMS_DIR
from cs_playbook.errors import CsPlaybookError
from cs_playbook.state import build_state, load_state, previous_quarter, read_state, state_key, write_state


def test_the_demo_contracts_cover_the_events(demo_ds) -> None:
    # Contract lines start up to a few days before the last event, within their usual pause: as_of is the last event.
    assert demo_ds.contracts_to == demo_ds.as_of
    assert demo_ds.as_of_reason.startswith(f"as_of {demo_ds.as_of:%Y-%m-%d}: the events' last day")


def test_a_quarter_past_the_contracts_is_refused_naming_the_dates(demo_ds) -> None:
    open_q = f"{demo_ds.as_of.year}Q{demo_ds.as_of.quarter}"
    q_end = (demo_ds.as_of + pd.offsets.QuarterEnd(0)).normalize()
    with pytest.raises(CsPlaybookError) as err:
        build_state(demo_ds, quarter=open_q, params_dir=PARAMS_DIR)
    text = str(err.value)
    assert f"Quarter {open_q} ends on {q_end:%Y-%m-%d}, after the last day the contracts cover" in text
    assert f"({demo_ds.contracts_to:%Y-%m-%d})" in text and demo_ds.as_of_reason in text
    early = replace(demo_ds, contracts_to=pd.Timestamp("2026-09-15"))
    with pytest.raises(
        CsPlaybookError, match=r"2026Q3 ends on 2026-09-30, after the last day the contracts cover \(2026-09-15\)"
    ):
        build_state(early, quarter="2026Q3", params_dir=PARAMS_DIR)


def test_a_quarter_after_as_of_is_still_refused(demo_ds) -> None:
    with pytest.raises(CsPlaybookError, match="after the data's as-of date"):
        build_state(demo_ds, quarter="2030Q1", params_dir=PARAMS_DIR)


def test_the_state_reads_the_source_overlay_and_its_key_changes_with_it(demo_ds, tmp_path: Path) -> None:
    src = tmp_path / "crm"
    (src / "params").mkdir(parents=True)
    ds = replace(demo_ds, source=str(src))
    before = state_key(ds, quarter="2026Q3", params_dir=PARAMS_DIR)
    (src / "params" / "renewals.yaml").write_text("horizon_days: 45\n", encoding="utf-8")
    assert state_key(ds, quarter="2026Q3", params_dir=PARAMS_DIR) != before
    state = build_state(ds, quarter="2026Q3", params_dir=PARAMS_DIR)
    assert state.renewal_horizon_days == 45


# --- The previous quarter's state ------------------------------------------------------------------


@pytest.fixture(scope="module")
def q3_state(demo_ds):
    return build_state(demo_ds, quarter="2026Q3", params_dir=PARAMS_DIR)


def test_the_state_carries_the_previous_quarter_built_the_same_way(demo_ds, q3_state) -> None:
    prev = q3_state.previous
    assert prev is not None and prev.quarter == "2026Q2" and prev.previous is None
    assert prev.as_of == pd.Timestamp("2026-06-30") and prev.quarter_end == pd.Timestamp("2026-06-30")
    assert q3_state.record()["previous_quarter"] == "2026Q2" and prev.record()["previous_quarter"] is None
    alone = build_state(demo_ds, quarter="2026Q2", params_dir=PARAMS_DIR, with_previous=False)
    pd.testing.assert_frame_equal(prev.accounts, alone.accounts)
    assert prev.grr_forecast == alone.grr_forecast and prev.scorecard == alone.scorecard


def test_the_previous_state_round_trips_through_the_run_folder(q3_state, tmp_path: Path) -> None:
    files = write_state(q3_state, tmp_path / "quarter_state")
    assert tmp_path / "quarter_state" / "previous" / "state.json" in files
    back = read_state(tmp_path / "quarter_state")
    assert back.previous is not None and back.previous.quarter == "2026Q2" and back.previous.previous is None
    pd.testing.assert_frame_equal(back.previous.accounts, q3_state.previous.accounts, check_dtype=False)
    assert back.record() == q3_state.record()
    assert back.previous.record() == q3_state.previous.record()


def test_the_first_quarter_of_the_data_has_no_previous_one(demo_ds) -> None:
    first = demo_ds.subscriptions["start_date"].min()
    quarter = f"{first.year}Q{first.quarter}"
    state = build_state(demo_ds, quarter=quarter, params_dir=PARAMS_DIR)
    assert previous_quarter(quarter) < quarter and state.previous is None
    assert state.record()["previous_quarter"] is None and not state.warnings
    assert previous_quarter("2026Q1") == "2025Q4" and previous_quarter("2026Q3") == "2026Q2"


def test_a_cached_state_keeps_its_previous_quarter(demo_ds, tmp_path: Path, monkeypatch) -> None:
    import cs_playbook.state as state_mod

    monkeypatch.setattr(state_mod, "CACHE_DIR", tmp_path / "cache")
    built = load_state(demo_ds, quarter="2026Q3", params_dir=PARAMS_DIR)
    cached = load_state(demo_ds, quarter="2026Q3", params_dir=PARAMS_DIR)
    assert (tmp_path / "cache" / built.key / "previous" / "state.json").exists()
    assert cached.previous is not None and cached.previous.quarter == built.previous.quarter == "2026Q2"
