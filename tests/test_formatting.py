"""One rendering of every figure: 億円/万円, percent, dates, yes/no, one missing marker, tables and column kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_playbook.formatting import MISSING, Formatter, column_kinds, html_table, is_missing


def test_money_in_japanese_uses_oku_and_man_en() -> None:
    ja = Formatter("ja", "JPY")
    assert ja.money(2.5e8) == "2.5億円"
    assert ja.money(34_500_000) == "3,450万円"
    assert ja.money(8_500) == "¥8,500"
    assert ja.money(-34_500_000) == "-3,450万円"
    assert ja.money_exact(11_770_200.0) == "¥11,770,200"
    assert Formatter("en", "JPY").money(12_345_678) == "¥12.3M"
    assert Formatter("ja", "USD").money(1_200_000) == "$1.2M"  # 万円 only for yen


def test_percent_points_dates_counts_and_p_values() -> None:
    ja, en = Formatter("ja"), Formatter("en")
    assert ja.pct(0.953) == "95.3%" and ja.pct(0.012, signed=True) == "+1.2%"
    assert ja.points(0.012) == "+1.2pt" and en.points(-0.012) == "-1.2 pp"
    assert ja.date(pd.Timestamp("2026-11-01")) == "2026/11/01" and en.date("2026-11-01") == "2026-11-01"
    assert ja.count(1234.0) == "1,234"
    assert ja.p_value(1.87e-100) == "<0.001" and ja.p_value(0.0421) == "0.042"
    assert (ja.yes_no(True), en.yes_no(np.bool_(False))) == ("はい", "No")


def test_delta_carries_arrow_and_sign() -> None:
    ja = Formatter("ja")
    assert ja.delta(12_000_000) == "▲ +1,200万円"
    assert ja.delta(-0.008, kind="pct_points") == "▼ -0.8pt"
    assert ja.delta(0, kind="count") == "→ ±0"


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, pd.NaT, np.nan, "nan", "None", "n/a", ""])
def test_one_missing_marker_for_every_kind_of_missing(value: object) -> None:
    ja = Formatter("ja")
    assert is_missing(value)
    assert {ja.value(value, kind) for kind in (None, "money", "pct", "dates", "counts", "yes_no")} == {MISSING}


def test_column_kinds_follow_names_and_dtypes_unless_named() -> None:
    df = pd.DataFrame(
        {
            "account_id": ["A1"],
            "start_arr": [17_017_200.0],
            "arr_at_risk": [1.0],
            "churn_probability": [0.1234],
            "nrr_t12m": [1.05],
            "renewal_date": pd.to_datetime(["2026-11-01"]),
            "due": ["2026/11/01"],
            "auto_renew": [True],
            "n_accounts": [3],
            "health_score": [63.2],
            "p_value": [0.01],
            "new": [5.0],
            "churn_rate_pct_points": [12.0],  # a share above 10: not a fraction, so not shown as %
            "driver_1_value": [0.45],  # a signal's value, not money
            "arr_growth": [0.12],  # a ratio: never rounded to the yen
            "odds_ratio": [4.18],  # not a share: never 418%
        }
    )
    kinds = column_kinds(df, counts=["health_score"])
    assert kinds.money == ("start_arr", "arr_at_risk", "new")
    assert kinds.pct == ("churn_probability", "nrr_t12m")
    assert kinds.dates == ("renewal_date", "due")
    assert kinds.yes_no == ("auto_renew",)
    assert kinds.counts == ("health_score", "n_accounts")
    assert kinds.kind("account_id") is None and kinds.kind("p_value") is None and kinds.kind("odds_ratio") is None


def test_frame_formats_every_cell_and_html_table_escapes_data() -> None:
    df = pd.DataFrame(
        {
            "account_name": ["<script>alert(1)</script>", None],
            "arr": [17_017_200.0, np.nan],
            "churn_probability": [0.1234, np.nan],
            "renewal_date": pd.to_datetime(["2026-11-01", None]),
            "auto_renew": [True, False],
            "p_value": [1.87e-100, 0.5],
            "score": [63.256, 7.0],
        }
    )
    shown = Formatter("ja").frame(df, column_kinds(df))
    assert shown.iloc[0].tolist() == [
        "<script>alert(1)</script>",
        "1,702万円",
        "12.3%",
        "2026/11/01",
        "はい",
        "<0.001",
        "63.26",
    ]
    assert shown.iloc[1].tolist() == [MISSING, MISSING, MISSING, MISSING, "いいえ", "0.500", "7"]
    page = html_table(shown, numeric=["arr"])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.startswith('<table class="cs-table">') and '<td class="cs-num">1,702万円</td>' in page
    assert '<td class="cs-text">2026/11/01</td>' in page
    for word in ("True", "False", "nan", "None", "NaT", "n/a"):
        assert f">{word}<" not in page


def test_a_value_that_does_not_fit_its_kind_is_shown_as_it_is() -> None:
    ja = Formatter("ja")
    assert ja.value("TBD", "dates") == "TBD" and ja.value("about 5M", "money") == "about 5M"
    assert ja.value("2026/11/01", "dates") == "2026/11/01" and ja.value(np.int64(3), None) == "3"
