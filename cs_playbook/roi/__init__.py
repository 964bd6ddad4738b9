"""ROI scenario modeling: models, facts, cash flows, scenarios, portfolio and one-pagers."""
