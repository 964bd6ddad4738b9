"""Renewal management: business days, calendar, BANTC, churn prevention and churn review."""
