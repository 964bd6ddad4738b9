"""Names and labels of the demo company: a Japanese B2B SaaS vendor and its customers."""

from __future__ import annotations

NAME_STEMS = [
    "サクラ",
    "ミドリ",
    "青葉",
    "富士",
    "大和",
    "東海",
    "北斗",
    "光陽",
    "日進",
    "朝日",
    "若葉",
    "白鷺",
    "瑞穂",
    "みらい",
    "アオイ",
    "ひかり",
    "双葉",
    "新星",
    "丸和",
    "昭栄",
    "共栄",
    "三和",
    "信和",
    "旭",
    "飛鳥",
    "葵",
    "明星",
    "清水",
    "松風",
    "桜井",
    "紅葉",
    "星野",
    "大洋",
    "千代田",
    "港北",
    "湘南",
    "北陸",
    "瀬戸内",
    "琵琶湖",
    "阿蘇",
]
NAME_SUFFIXES = [
    "物流",
    "製作所",
    "商事",
    "システムズ",
    "工業",
    "不動産",
    "フーズ",
    "メディカル",
    "建設",
    "電機",
    "化学",
    "証券",
    "ホールディングス",
    "テクノロジー",
    "リテール",
    "エナジー",
    "ソリューションズ",
    "薬品",
    "精機",
    "運輸",
]
INDUSTRIES = ["製造", "小売", "金融", "IT・通信", "物流", "医療", "不動産", "建設", "サービス", "食品"]
REGIONS = ["関東", "関西", "中部", "九州", "北海道", "東北", "中国", "四国"]
REGION_WEIGHTS = [0.45, 0.2, 0.12, 0.07, 0.05, 0.05, 0.03, 0.03]
CSMS = [
    "佐藤 美咲",
    "鈴木 健太",
    "高橋 愛",
    "田中 翔",
    "伊藤 優子",
    "渡辺 大輔",
    "山本 彩",
    "中村 拓也",
    "小林 真由",
    "加藤 亮",
    "吉田 結衣",
    "山田 悠真",
]
DEPARTMENTS = [
    "営業部",
    "マーケティング部",
    "カスタマーサポート部",
    "開発部",
    "人事部",
    "経理部",
    "情報システム部",
    "経営企画部",
]
SEGMENTS = ["enterprise", "mid_market", "smb"]
SEGMENT_WEIGHTS = [0.10, 0.30, 0.60]
EMPLOYEE_RANGE = {"enterprise": (1_000, 300_000), "mid_market": (200, 1_000), "smb": (30, 200)}

# Products: per-seat list prices (JPY per seat per year) and the usage-based API tiers.
PLATFORM_PRICE = 18_000
ADDON_PRICES = {"Analytics": 6_000, "Workflow": 4_000}
API_TIERS = [600_000, 1_200_000, 2_400_000]
SEGMENT_DISCOUNT = {"enterprise": 0.25, "mid_market": 0.10, "smb": 0.0}

BASE_EVENT_TYPES = [
    "login",
    "view_dashboard",
    "search",
    "create_report",
    "comment",
    "share_report",
    "export_csv",
    "workflow_run",
    "invite_user",
    "api_call",
    "edit_settings",
    "upload_file",
]
FEATURES = [  # (feature, event_type, release date)
    ("ダッシュボード共有", "share_dashboard", "2024-02-15"),
    ("モバイルアプリ", "mobile_view", "2024-06-10"),
    ("Slack連携", "slack_notify", "2024-10-01"),
    ("カスタムレポート", "custom_report", "2025-02-03"),
    ("ワークフロー自動化v2", "workflow_v2", "2025-06-16"),
    ("監査ログ", "audit_log_view", "2025-10-06"),
    ("AIサマリー", "ai_summary", "2026-03-02"),
    ("API v2", "api_v2_call", "2026-07-13"),
]
CHURN_REASONS = {
    "low_usage": "活用が定着しなかった",
    "champion": "担当者の異動",
    "budget": "予算削減",
    "competitor": "競合製品へ乗り換え",
    "downsizing": "事業縮小",
    "features": "機能不足",
}
RENEWAL_STEPS = ["power_map", "usage_review", "dissatisfaction_check", "renewal_intent", "upsell_proposal"]
MANUAL_CRITERIA = [  # (metric, description, comparator, target)
    ("time_saved_hours", "担当者1人あたり週の削減時間 (時間)", ">=", 3.0),
    ("satisfaction_score", "利用者満足度 (5段階)", ">=", 4.0),
    ("error_rate", "入力ミス率", "<=", 0.05),
]
