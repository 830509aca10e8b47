"""Explanations as JSON (one object) and JSON Lines (one object per input)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from lime_cli.explanation import Explanation


def to_json(explanation: Explanation, *, indent: int | None = None) -> str:
    """One explanation as a JSON document (compact by default)."""
    return json.dumps(explanation.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


def to_json_file_text(explanations: Iterable[Explanation], *, lines: bool) -> str:
    """The contents of a ``.json``/``.jsonl`` file.

    A single explanation in a ``.json`` file is an indented object; several
    explanations (or any ``.jsonl`` file) are JSON Lines.
    """
    items = list(explanations)
    if len(items) == 1 and not lines:
        return to_json(items[0], indent=2) + "\n"
    return "".join(to_json(e) + "\n" for e in items)
