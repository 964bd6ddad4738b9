"""Expansion targeting: outcomes, whitespace, propensity, plays and the NRR outlook."""
