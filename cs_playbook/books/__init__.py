"""A book of business per CSM: their accounts, figures and actions for the next 30 days, as a page and a workbook.

Reads the quarter state and the analyses' tables (renewals, expansion, PoCs), so a book shows the
same tiers, probabilities and ARR as every page: `inputs` computes those tables once, `table` builds
the per-account book and the action list, `summary` the per-CSM figures and checks, `page` writes one
HTML page and one XLSX workbook per CSM under safe file names.
"""
