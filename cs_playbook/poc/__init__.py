"""PoC success-criteria tracking: criteria, usage, projections and verdicts, portfolio."""
