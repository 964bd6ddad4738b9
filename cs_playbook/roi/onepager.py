"""One printable page per account for the customer's decision maker: the ROI case in plain business language.

"Producing results" and "results being understood" differ [003]: each page states the success
scenario, the business-contribution number, the logic and facts with their sources, the three
scenarios, the range from the simulation, the payback and what has been realized so far. It
is one self-contained HTML file (no scripts, CSS page breaks, every value escaped), in
Japanese because the customer reads it; internal signals (health, renewal risk) stay out.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from cs_playbook.formatting import fmt_money
from cs_playbook.roi.model import CompiledModel, RoiParams
from cs_playbook.roi.portfolio import RoiResults
from cs_playbook.roi.scenarios import SCENARIOS

__all__ = ["fmt_amount", "fmt_value", "unit_ja", "logic_lines", "render_one_pagers"]

SOURCE_JA = {"customer-stated": "お客様提示", "measured": "実測（利用ログ）", "assumption": "前提（要確認）"}
SCENARIO_JA = {"conservative": "控えめ", "base": "標準", "optimistic": "楽観"}
UNIT_JA = {
    "hour": "時間",
    "hours": "時間",
    "minute": "分",
    "minutes": "分",
    "user": "人",
    "users": "人",
    "week": "週",
    "weeks": "週",
    "year": "年",
    "month": "月",
    "months": "月",
    "day": "日",
    "days": "日",
    "opportunity": "件",
    "opportunities": "件",
    "report": "件",
    "reports": "件",
    "JPY": "円",
}
_SHARE_UNITS = {"share", "ratio", "fraction", "%", "percent", "pct"}

CSS = """
@page { size: A4; margin: 11mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Hiragino Kaku Gothic ProN", "Yu Gothic", Meiryo, "IPAexGothic", sans-serif;
       font-size: 9pt; color: #222; margin: 0; line-height: 1.45; }
.page { break-after: page; page-break-after: always; padding: 2mm 0; }
.page:last-child { break-after: auto; page-break-after: auto; }
h1 { font-size: 15pt; margin: 0 0 1mm; }
h2 { font-size: 10.5pt; margin: 3.5mm 0 1mm; border-left: 4px solid #1565c0; padding-left: 2mm; }
.meta, .foot { color: #666; font-size: 8pt; }
.kpis { display: flex; gap: 3mm; margin: 2mm 0; }
.kpi { flex: 1; border: 1px solid #cfd8dc; border-radius: 2mm; padding: 1.5mm 2.5mm; }
.kpi b { display: block; font-size: 13pt; color: #0d47a1; }
.kpi span { color: #555; font-size: 8pt; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 0.8mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eceff1; font-weight: normal; }
td.n, th.n { text-align: right; white-space: nowrap; }
.logic { margin: 0.5mm 0; }
.src { white-space: nowrap; }
.bar { position: relative; height: 3.2mm; background: #f5f5f5; }
.bar i { position: absolute; top: 0; bottom: 0; }
.bar .lo { background: #ef9a9a; }
.bar .hi { background: #90caf9; }
.bar .mid { background: #37474f; width: 1px; }
.toc td { padding: 0.6mm 1.5mm; }
a { color: #0d47a1; text-decoration: none; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_amount(value: float, currency: str = "JPY") -> str:
    """Money for a Japanese reader: 1.2億円, 3,450万円, 8,000円 (other currencies: $1.2M)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if currency.upper() != "JPY":
        return fmt_money(value, currency)
    sign = "−" if value < 0 else ""
    v = abs(float(value))
    if v >= 1e8:
        return f"{sign}{v / 1e8:,.2f}億円"
    if v >= 1e4:
        return f"{sign}{v / 1e4:,.0f}万円"
    return f"{sign}{v:,.0f}円"


def unit_ja(unit: str) -> str:
    """hour/user/week -> 時間/人/週 (unknown words kept)."""
    parts = str(unit or "").replace(" ", "").split("/")
    return "/".join(UNIT_JA.get(p, p) for p in parts if p)


def fmt_value(value: float, unit: str) -> str:
    """An input value with its unit: 70%, 4,500円/時間, 1.5時間/人/週."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    u = str(unit or "").strip()
    if u in _SHARE_UNITS:
        share = value / 100 if u in {"%", "percent", "pct"} else value
        return f"{share * 100:,.1f}%".replace(".0%", "%")
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    if u.startswith("JPY"):
        rest = unit_ja(u[3:].lstrip("/")) if u != "JPY" else ""
        return f"{number}円" + (f"/{rest}" if rest else "")
    return f"{number}{unit_ja(u)}"


def _pct(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:,.0f}%"


def _payback(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "期間内に回収せず"
    return "契約時に回収" if value == 0 else f"{int(value)}か月目"


def logic_lines(model: CompiledModel, values: dict[str, float]) -> list[tuple[str, str]]:
    """(label, formula in words with base values) for each derived quantity and benefit, in order."""
    spec = model.spec
    names = {n: f"{i.label or n}（{fmt_value(values.get(n, float('nan')), i.unit)}）" for n, i in spec.inputs.items()}
    for d in model.derived_order:
        names[d] = spec.derived[d].label or d
    lines = []
    for d in model.derived_order:
        lines.append((spec.derived[d].label or d, model.formulas[d].render(names)))
    for b, item in spec.benefits.items():
        lines.append((item.label, model.formulas[f"benefits.{b}"].render(names)))
    return lines


def _row(cells: list[str], *, head: bool = False, numeric: range | set[int] | None = None) -> str:
    """A table row of already-escaped cells; `numeric` cells are right-aligned (default: all but the first)."""
    tag = "th" if head else "td"
    numeric = range(1, len(cells)) if numeric is None else numeric
    return (
        "<tr>"
        + "".join(f"<{tag}{' class=n' if i in numeric else ''}>{c}</{tag}>" for i, c in enumerate(cells))
        + "</tr>"
    )


def _tornado_bars(rows: list[dict], currency: str) -> str:
    if not rows:
        return "<p>前提の幅による影響はありません（すべて確定値）。</p>"
    ends = [r["npv_low"] for r in rows] + [r["npv_high"] for r in rows] + [rows[0]["npv_base"]]
    lo, hi = float(min(ends)), float(max(ends))
    span = hi - lo or 1.0

    def x(v: float) -> float:
        return round(100 * (v - lo) / span, 2)

    base = x(float(rows[0]["npv_base"]))
    out = [
        '<table><tr><th>前提</th><th class=n>不利な側</th><th style="width:38%">正味現在価値への影響</th>'
        "<th class=n>有利な側</th></tr>"
    ]
    for r in rows:
        worse, better = sorted([r["npv_low"], r["npv_high"]])
        left, right = x(worse), x(better)
        bar = (
            f'<div class="bar"><i class="lo" style="left:{left}%;width:{max(base - left, 0):.2f}%"></i>'
            f'<i class="hi" style="left:{base}%;width:{max(right - base, 0):.2f}%"></i>'
            f'<i class="mid" style="left:{base}%"></i></div>'
        )
        out.append(
            f"<tr><td>{_e(r['label'])}</td><td class=n>{_e(fmt_amount(worse, currency))}</td>"
            f"<td>{bar}</td><td class=n>{_e(fmt_amount(better, currency))}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _period(params: RoiParams) -> str:
    """The horizon in words: 3年間, or 30か月."""
    years = params.horizon_months / 12
    return f"{years:g}年間" if float(years).is_integer() else f"{params.horizon_months}か月"


def _facts_section(model: CompiledModel, rows: dict[str, list[dict]], base: dict, currency: str) -> list[str]:
    """Contribution numbers, the logic with base values, and every input with its three values and source."""
    inp = {r["input"]: r for r in rows["inputs"]}
    sv = {r["input"]: r for r in rows["values"]}
    parts = ["<h2>事業貢献数値（定着後の年額・標準ケース）</h2><p>"]
    contrib = []
    if base["cost_reduction_annual"]:
        contrib.append(f"コスト削減 <b>{_e(fmt_amount(base['cost_reduction_annual'], currency))}</b>/年")
    if base["revenue_increase_annual"]:
        contrib.append(f"売上増加による粗利 <b>{_e(fmt_amount(base['revenue_increase_annual'], currency))}</b>/年")
    parts.append("　＋　".join(contrib) or "—")
    parts.append("</p><h2>ロジックとファクト</h2>")
    for label, text in logic_lines(model, {n: float(r["base"]) for n, r in sv.items()}):
        parts.append(f'<p class="logic">■ {_e(label)} ＝ {_e(text)}</p>')
    parts.append(
        "<table>" + _row(["項目", "控えめ", "標準", "楽観", "根拠", "出典・備考"], head=True, numeric={1, 2, 3})
    )
    for n in model.input_names:
        row = inp[n]
        note = row["note"] or ""
        if row["source"] == "measured":
            note = f"{note}（{int(row['months_observed'])}か月の実績: 最小〜最大を幅とする）"
        cells = [_e(row["label"])] + [_e(fmt_value(float(sv[n][s]), row["unit"])) for s in SCENARIOS]
        cells += [f'<span class="src">{_e(SOURCE_JA[row["source"]])}</span>', _e(note)]
        parts.append(_row(cells, numeric={1, 2, 3}))
    parts.append("</table>")
    return parts


def _scenario_section(sc: dict[str, dict], params: RoiParams, currency: str) -> list[str]:
    """The three scenarios side by side: benefits, costs, net, ROI, NPV and payback."""
    parts = [f"<h2>3つのシナリオ（{_e(_period(params))}）</h2><table>"]
    parts.append(_row(["", *(SCENARIO_JA[s] for s in SCENARIOS)], head=True))
    lines = [
        ("効果の合計", "benefit_total", fmt_amount),
        ("費用の合計", "cost_total", fmt_amount),
        ("　うちご契約料金", "subscription_total", fmt_amount),
        ("　うち導入・社内工数", "other_costs_total", fmt_amount),
        ("正味の効果", "net_benefit", fmt_amount),
        ("投資対効果（ROI）", "roi", None),
        (f"正味現在価値（割引率{params.discount_rate:.0%}）", "npv", fmt_amount),
        ("投資回収", "payback_month", None),
    ]
    for label, col, f in lines:
        vals = []
        for s in SCENARIOS:
            v = sc[s][col]
            vals.append(f(v, currency) if f else (_pct(v) if col == "roi" else _payback(v)))
        parts.append(_row([_e(label), *(_e(v) for v in vals)]))
    parts.append("</table>")
    return parts


def _outlook_section(rows: dict[str, list[dict]], params: RoiParams, currency: str) -> list[str]:
    """The simulated range, the inputs that move NPV most, what has been realized, and the method's footnote."""
    parts = []
    if rows["simulation"]:
        s = rows["simulation"][0]
        parts.append(
            "<h2>見込みの幅</h2>"
            f"<p>各前提を幅の中でばらつかせた {int(s['draws']):,} 通りの試算では、ROIは80%の確率で "
            f"<b>{_e(_pct(s['roi_p10']))}〜{_e(_pct(s['roi_p90']))}</b>（中央値 {_e(_pct(s['roi_p50']))}）、"
            f"プラスになる確率は <b>{_e(_pct(s['p_roi_positive']))}</b> です。</p>"
        )
    parts.append("<h2>効果を左右する前提（その前提だけを幅の端に動かしたときの正味現在価値）</h2>")
    parts.append(_tornado_bars(rows["tornado"][: params.one_pager.top_inputs], currency))
    parts.append("<h2>これまでの実績</h2>")
    if rows["realized"]:
        r = rows["realized"][0]
        parts.append(
            f"<p>{_e(pd.Timestamp(r['window_start']).strftime('%Y年%m月'))}から{int(r['window_months'])}か月間"
            f"（利用データのある期間）で、実現した効果は <b>{_e(fmt_amount(r['benefit_realized'], currency))}</b>"
            f"（ご契約時の見込み {_e(fmt_amount(r['benefit_projected'], currency))} の "
            f"{_e(_pct(r['value_realization']))}）、この期間の実績ROIは <b>{_e(_pct(r['roi_realized']))}</b>"
            f"（見込み {_e(_pct(r['roi_projected_to_date']))}）です。</p>"
        )
    else:
        parts.append("<p>実績を測る利用データがまだありません。</p>")
    parts.append(
        f'<p class="foot">ROI ＝（効果 − 費用）÷ 費用（{_e(_period(params))}、割引なし）。効果は定着までの立ち上がりを織り込み'
        f"{'、ご契約料金は年額前払い' if params.subscription_billing == 'annual' else '、ご契約料金は月額払い'}"
        "で計算。実測値は製品の利用ログ、お客様提示はヒアリングでいただいた数値、前提は当社の想定で、ご確認のうえ更新します。</p>"
    )
    return parts


def _page(res: RoiResults, account: dict, rows: dict[str, list[dict]], *, as_of: pd.Timestamp, currency: str) -> str:
    """One account's page; `rows` holds its rows of inputs, values, scenarios, simulation, realized, tornado."""
    acc = account["account_id"]
    model = res.models[account["model"]]
    sc = {str(r["scenario"]): r for r in rows["scenarios"]}
    base, sim = sc["base"], rows["simulation"]
    kpis = [
        (fmt_amount(base["benefit_annual"], currency), "年間の事業貢献（定着後・標準）"),
        (_pct(base["roi"]), f"{_period(res.params)}の投資対効果（ROI・標準）"),
        (_payback(base["payback_month"]), "投資回収（標準）"),
        (_pct(sim[0]["p_roi_positive"]) if sim else "—", "ROIがプラスになる確率"),
    ]
    parts = [
        f'<section class="page" id="{_e("acc-" + acc)}">',
        f"<h1>{_e(account['account_name'])} 様　導入効果サマリー</h1>",
        f'<p class="meta">{_e(as_of.strftime("%Y年%m月%d日"))}時点　・　{_e(model.spec.label)}　・　'
        f"ご契約（年額）{_e(fmt_amount(account['arr'], currency))}　・　お客様ID {_e(acc)}</p>",
        '<div class="kpis">' + "".join(f"<div class=kpi><b>{_e(v)}</b><span>{_e(k)}</span></div>" for v, k in kpis),
        "</div>",
        "<h2>成功シナリオ</h2>",
        f"<p>{_e(model.spec.scenario)}</p>",
        *_facts_section(model, rows, base, currency),
        *_scenario_section(sc, res.params, currency),
        *_outlook_section(rows, res.params, currency),
        "</section>",
    ]
    return "\n".join(parts)


def render_one_pagers(
    res: RoiResults,
    *,
    as_of: pd.Timestamp,
    currency: str,
    account_ids: list[str] | None = None,
    title: str = "導入効果サマリー",
) -> str:
    """One HTML document: a contents page, then one printable page per modeled account.

    `account_ids` picks and orders the accounts (default: modeled accounts, largest ARR first,
    limited by params.one_pager.max_accounts).
    """
    table = res.table[res.table["status"] == "modeled"].set_index("account_id", drop=False)
    if account_ids is None:
        account_ids = list(table.index)
        if res.params.one_pager.max_accounts:
            account_ids = account_ids[: res.params.one_pager.max_accounts]
    account_ids = [a for a in account_ids if a in table.index]
    toc = [
        '<section class="page toc"><h1>' + _e(title) + "</h1>",
        f'<p class="meta">{_e(as_of.strftime("%Y年%m月%d日"))}時点　・　{len(account_ids):,}社</p><table>',
        _row(["お客様", "シナリオ", "担当", "ROI（標準）", "投資回収"], head=True, numeric={3, 4}),
    ]
    records = {r["account_id"]: r for r in table.loc[account_ids].to_dict("records")}
    for a in account_ids:
        r = records[a]
        toc.append(
            _row(
                [
                    f'<a href="#{_e("acc-" + a)}">{_e(r["account_name"])}</a>',
                    _e(r["model_label"]),
                    _e(r["csm"] if isinstance(r["csm"], str) else "—"),
                    _e(_pct(r["roi_base"])),
                    _e(_payback(r["payback_month"])),
                ],
                numeric={3, 4},
            )
        )
    toc.append("</table></section>")
    frames = {
        "inputs": res.inputs,
        "values": res.scenario_values,
        "scenarios": res.scenarios,
        "simulation": res.simulation,
        "realized": res.realized,
        "tornado": res.tornado,
    }
    wanted = set(account_ids)
    grouped: dict[str, dict[str, list[dict]]] = {k: {} for k in frames}
    for k, df in frames.items():
        for rec in df[df["account_id"].isin(wanted)].to_dict("records"):
            grouped[k].setdefault(rec["account_id"], []).append(rec)
    pages = [
        _page(res, records[a], {k: g.get(a, []) for k, g in grouped.items()}, as_of=as_of, currency=currency)
        for a in account_ids
    ]
    return (
        '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(toc)
        + "\n"
        + "\n".join(pages)
        + "\n</body></html>\n"
    )
