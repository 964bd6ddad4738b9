"""Charts for the reports: seaborn on tidy data, titles that state the finding, axes with units.

`cs_playbook.plots` holds the shared style and formatters; each analysis has its own module
of chart helpers (`plots.kpi`, `plots.health`, ...). Every helper takes `ax=None` and returns
the Axes, and computes nothing that a test cannot reach through the analysis modules.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import seaborn as sns

from cs_playbook.formatting import fmt_money, fmt_pct
from cs_playbook.modeling.scorecard import TierLabels

__all__ = [
    "use_style",
    "fmt_money",
    "fmt_pct",
    "money_axis",
    "pct_axis",
    "new_ax",
    "PALETTE",
    "TIER_COLORS",
    "tier_palette",
]

PALETTE = "deep"
TIER_COLORS = {"good": "#2e7d32", "normal": "#f9a825", "bad": "#c62828"}  # by tier code


def tier_palette(labels: TierLabels) -> dict[str, str]:
    """Tier colours keyed by the labels of params, for charts whose hue is a labelled tier."""
    return {labels.label(code): color for code, color in TIER_COLORS.items()}


def use_style() -> None:
    """Seaborn theme with a Japanese-capable font, so 営業部 renders instead of empty boxes."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")
    try:
        import matplotlib_fontja  # noqa: F401  (registers IPAexGothic)

        plt.rcParams["font.family"] = ["IPAexGothic", "sans-serif"]
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    plt.rcParams["axes.titleweight"] = "normal"  # IPAexGothic has one weight; bold would warn
    plt.rcParams["axes.titlesize"] = "large"
    plt.rcParams["figure.dpi"] = 100
    plt.rcParams["axes.unicode_minus"] = False


def money_axis(ax: plt.Axes, currency: str = "JPY", *, axis: str = "y") -> plt.Axes:
    """Format an axis as compact money."""
    formatter = mticker.FuncFormatter(lambda v, _: fmt_money(v, currency, digits=2 if abs(v) >= 1e9 else 1))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)
    return ax


def pct_axis(ax: plt.Axes, *, axis: str = "y", digits: int = 0) -> plt.Axes:
    """Format an axis of shares (0-1) as percentages."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(mticker.PercentFormatter(1.0, decimals=digits))
    return ax


def new_ax(ax: plt.Axes | None = None, *, figsize: tuple[float, float] = (9, 4.5)) -> plt.Axes:
    """The given Axes, or a fresh figure's."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax
