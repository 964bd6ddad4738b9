"""Names, prices and hidden-driver coefficients of the us-plg demo company (docs/demo-company.md)."""

from __future__ import annotations

import pandas as pd

BASE_MONTH = pd.Timestamp("2023-05-01")  # history of accounts that were already customers at the start
DATA_START = pd.Timestamp("2024-11-01")
END_DATE = "2026-10-31"
CURRENCY = "USD"

SEGMENTS = ["smb", "mid_market", "enterprise"]
SEGMENT_WEIGHTS = [0.65, 0.27, 0.08]
EMPLOYEE_RANGE = {"smb": (5, 99), "mid_market": (100, 999), "enterprise": (1000, 20000)}
INDUSTRIES = [
    "Software",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Professional Services",
]
REGIONS = ["Northeast", "Midwest", "South", "West"]
REGION_WEIGHTS = [0.28, 0.18, 0.26, 0.28]
CSMS = ["Avery Chen", "Jordan Patel", "Morgan Reyes", "Taylor Brooks", "Casey Nguyen", "Riley Johnson"]
UNASSIGNED = "unassigned"  # the CRM's placeholder owner; a few rows say "-" instead
NAME_STEMS = [
    "Acme",
    "Blue",
    "Cedar",
    "Summit",
    "Harbor",
    "Northwind",
    "Brightline",
    "Granite",
    "Maple",
    "Redwood",
    "Silverline",
    "Keystone",
    "Horizon",
    "Lakeside",
    "Pioneer",
    "Evergreen",
    "Ironwood",
    "Clearwater",
    "Bluebird",
    "Copper",
    "Sterling",
    "Oakridge",
    "Riverbend",
    "Highland",
    "Stonebridge",
    "Westfield",
    "Lumen",
    "Atlas",
    "Beacon",
    "Crescent",
    "Falcon",
    "Juniper",
    "Meridian",
    "Orchard",
    "Prairie",
    "Quartz",
]
NAME_WORDS = [
    "Labs",
    "Health",
    "Logistics",
    "Capital",
    "Foods",
    "Analytics",
    "Systems",
    "Media",
    "Partners",
    "Works",
    "Robotics",
    "Energy",
]
NAME_SUFFIXES = ["Inc.", "LLC", "Corp.", "Co."]

# Plan tiers of the one product family, in order; the product value is "platform_<tier>".
FAMILY = "platform"
TIERS = ["basic", "pro", "premier"]
ADDON = "automation_credits"  # usage-based add-on: seats empty, ARR by usage band
ANNUAL_PRICE = {"basic": 180.0, "pro": 360.0, "premier": 600.0}  # USD per seat and year, annual term
MONTHLY_PRICE = {"basic": 18.0, "pro": 36.0, "premier": 60.0}  # USD per seat and month, monthly term
ADDON_BANDS = [1200.0, 3000.0, 7200.0]  # USD per year by automation usage band
SEGMENT_DISCOUNT = {"smb": 0.0, "mid_market": 0.05, "enterprise": 0.15}  # on annual terms only
TIER_WEIGHTS = {"smb": [0.6, 0.35, 0.05], "mid_market": [0.3, 0.5, 0.2], "enterprise": [0.1, 0.4, 0.5]}
MONTHLY_SHARE = {"smb": 0.75, "mid_market": 0.45, "enterprise": 0.15}  # share starting on monthly terms

CORE_EVENTS = ["view_dashboard", "edit_document", "search"]
# Optional features: (event type, lowest tier allowed, adoption intercept, adoption slope on health,
# churn log-odds while used in the 3 months before a renewal, event weight when used).
FEATURES = [
    ("invite_teammate", "basic", -2.6, 0.8, -0.7, 0.25),
    ("comment", "basic", -2.0, 0.2, 0.0, 0.6),
    ("create_report", "basic", -2.2, 0.2, 0.0, 0.5),
    ("integration_sync", "basic", -3.0, 0.9, -1.1, 0.4),
    ("export_csv", "basic", -2.6, -0.9, 1.0, 0.5),
    ("run_automation", "pro", -2.4, 0.8, -0.6, 0.5),
    ("api_call", "pro", -3.2, 0.6, -0.4, 0.8),
    ("sso_login", "premier", -1.0, 0.0, 0.0, 0.2),
]
EVENT_TYPES = CORE_EVENTS + [f[0] for f in FEATURES]
DROP_INTERCEPT, DROP_SLOPE = -3.0, -0.8  # monthly P(an adopted feature stops) = sigmoid(-3.0 - 0.8 sign(b) h)

# Churn at a renewal: logit = TERM_BASE[term] + sum(feature terms) + HEALTH_CHURN h + SEGMENT_CHURN[segment].
TERM_BASE = {"monthly": -3.8, "annual": -0.9}
HEALTH_CHURN = -0.5
SEGMENT_CHURN = {"smb": 0.2, "mid_market": 0.0, "enterprise": -0.5}
# Plan changes at a renewal: logit = base[term] + slope h (+ 0.8 while automations are used, for upgrades).
UPGRADE_BASE = {"monthly": -4.3, "annual": -1.9}
DOWNGRADE_BASE = {"monthly": -5.0, "annual": -2.6}
TO_ANNUAL, TO_MONTHLY = -3.6, -2.4  # logit of switching term at a renewal (+0.5 h to annual)
SEAT_DRIFT, SEAT_DRIFT_H, SEAT_SD = 0.015, 0.015, 0.05  # log seats change per month ~ N(drift + drift_h h, sd)
REACTIVATION = 0.06  # churned accounts that sign again 1 to 6 months later
