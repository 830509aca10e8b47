"""Interpretable representations, one module per modality.

A domain turns one input into binary (or, for tabular data without
discretisation, real) interpretable features: it draws the perturbed sample
matrix (row 0 is the unperturbed input), maps rows back to model inputs, and
measures each sample's distance to the original.
"""
