"""Tabular data: CSV rows in, conditions on columns as interpretable features.

Everything specific to tables lives here: reading CSVs and training
statistics (``data``), sampling rows (``domain``) and the command.
"""
