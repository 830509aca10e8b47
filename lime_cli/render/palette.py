"""The one palette every output uses: towards a label in blue, against it in red.

The colours are the ends of ColorBrewer's RdBu diverging scale, which stays
distinguishable for the common forms of colour blindness (red and blue
differ in lightness and in the blue-yellow axis, unlike red and green).
Colour is never the only cue: outputs also mark the sign in shape or text
(``+``/``-``, solid against dashed outlines, solid against dotted underlines).
"""

from __future__ import annotations

#: RdBu's darkest blue and red: bars, outlines, highlights on white.
TOWARDS_RGB = (33, 102, 172)
AGAINST_RGB = (178, 24, 43)
#: Lighter steps of the same scale, for text on dark terminal backgrounds.
TOWARDS_TERMINAL = "#4393c3"
AGAINST_TERMINAL = "#d6604d"


def hex_of(rgb: tuple[int, int, int]) -> str:
    """``(33, 102, 172)`` -> ``"#2166ac"``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


TOWARDS_HEX = hex_of(TOWARDS_RGB)
AGAINST_HEX = hex_of(AGAINST_RGB)


def tint(weight: float, scale: float) -> tuple[int, int, int]:
    """The colour for ``weight`` on a scale whose largest |weight| is ``scale``:
    white at 0, the full towards/against colour at ±scale (linear in between)."""
    strength = 0.0 if scale <= 0 else min(1.0, abs(weight) / scale)
    base = TOWARDS_RGB if weight >= 0 else AGAINST_RGB
    return tuple(round(255 + (c - 255) * strength) for c in base)  # type: ignore[return-value]
