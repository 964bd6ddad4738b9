"""Quarterly KPIs: NRR, GRR, MRR movements and their headline."""
