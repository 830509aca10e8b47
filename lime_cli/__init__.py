"""lime-explain: LIME explanations of any classifier, from the command line."""

__version__ = "0.1.0"
