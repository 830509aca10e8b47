"""The tabular command's choice lists, importable without NumPy (for ``--help``)."""

from __future__ import annotations

#: How numeric columns are binned (lime's discretizers; ``none`` standardises).
DISCRETIZERS = ("quartile", "decile", "entropy", "none")
DISCRETIZER = "quartile"
