"""Health score: observations and outcomes, the rules scorecard, calibration, the scorer in use."""
