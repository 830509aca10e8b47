"""Bar charts of an explanation's weights (``--out x.png`` / ``--out x.svg``).

For text and tabular explanations (an image's ``.png`` is its own picture,
see lime_cli/image/writers.py). One chart per (input, label), named like the
image pictures: PATH itself for one, PATH-<input>-<label>.png for several.

The chart: the shown features top to bottom by rank, bars towards the label
in solid blue and against it in hatched red (the palette of every output),
whiskers for the 95% interval when the explanation carries one, a tied rank
marked ``≈``, and a title naming the input, the label and its probability.
Drawn with matplotlib's object API (no pyplot: no global state, no display
needed), written atomically; SVGs carry no date so reruns give the same file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

from lime_cli.explanation import Explanation, LabelExplanation
from lime_cli.render.palette import AGAINST_HEX, TOWARDS_HEX

WIDTH_INCHES = 8.0
ROW_INCHES = 0.32
DPI = 110
MAX_NAME = 48


def write_chart(path: str, explanations: list[Explanation]) -> None:
    """``--out FILE.png|.svg``: a bar chart per (input, label)."""
    import os

    from lime_cli.image.writers import label_paths
    from lime_cli.output import atomic_write

    kind = "svg" if os.path.splitext(path)[1].lower() == ".svg" else "png"
    for target, explanation, label in label_paths(path, explanations):
        atomic_write(target, _bytes_writer(chart_bytes(explanation, label, kind)))


def _bytes_writer(data: bytes) -> Callable[[IO[bytes]], object]:
    return lambda fh: fh.write(data)


def chart_bytes(e: Explanation, label: LabelExplanation, kind: str = "png") -> bytes:
    """The chart for one label as PNG or SVG file contents."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = e.params.get("num_features_shown")
    features = label.features[: int(shown)] if shown is not None else label.features
    # One scale per input: every label's chart has the same x range.
    scale = max((abs(f.weight) for lab in e.explanations for f in lab.features), default=0.0)
    for f in features:
        interval = f.info.get("interval")
        if isinstance(interval, (list, tuple)) and len(interval) == 2:
            scale = max(scale, abs(float(interval[0])), abs(float(interval[1])))
    scale = scale * 1.1 or 1.0
    height = 1.3 + ROW_INCHES * max(len(features), 1)
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rows = list(range(len(features)))
    weights = [f.weight for f in features]
    bars = axes.barh(
        rows,
        weights,
        color=[TOWARDS_HEX if w >= 0 else "white" for w in weights],
        edgecolor=[TOWARDS_HEX if w >= 0 else AGAINST_HEX for w in weights],
        linewidth=1.2,
    )
    for bar, w in zip(bars, weights):
        if w < 0:
            bar.set_hatch("////")
    errors = _whiskers(features)
    if errors is not None:
        axes.errorbar(weights, rows, xerr=errors, fmt="none", ecolor="#222", capsize=3, lw=1)
    axes.set_yticks(rows, [_label_text(e, f, rank) for rank, f in enumerate(features, 1)])
    axes.invert_yaxis()
    axes.axvline(0, color="#555", linewidth=0.8)
    axes.set_xlim(-scale, scale)
    towards = "effect on the value" if label.label == "value" else f"towards {label.label}"
    axes.set_xlabel(_safe(f"← against · weight · {towards} →"))
    axes.spines[["top", "right"]].set_visible(False)
    figure.suptitle(_safe(_title(e, label)), x=0.01, ha="left", fontsize=10)
    if not features:
        axes.text(0, 0, "(no features)", ha="center")
    buffer = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if kind == "svg" else {}
    import matplotlib

    # Text stays text in an SVG (searchable, smaller); no random ids between runs.
    with matplotlib.rc_context({"svg.hashsalt": "lime-explain", "svg.fonttype": "none"}):
        figure.savefig(buffer, format=kind, metadata=metadata)
    return buffer.getvalue()


def _whiskers(features: list[Any]) -> Any:
    """(2, n) distances below and above each weight, or None without intervals."""
    lows, highs, any_interval = [], [], False
    for f in features:
        interval = f.info.get("interval")
        if isinstance(interval, (list, tuple)) and len(interval) == 2:
            any_interval = True
            lows.append(max(0.0, f.weight - float(interval[0])))
            highs.append(max(0.0, float(interval[1]) - f.weight))
        else:
            lows.append(0.0)
            highs.append(0.0)
    return [lows, highs] if any_interval else None


def _title(e: Explanation, label: LabelExplanation) -> str:
    name = str(e.input.get("name", "input"))
    probs = e.prediction.get("probabilities", {})
    if label.label in probs:
        what = f"why {label.label!r} (probability {float(probs[label.label]):.3f})"
    elif "value" in e.prediction:
        what = f"why the predicted value {float(e.prediction['value']):.4g}"
    else:
        what = f"why {label.label!r}"
    seed = e.params.get("seed")
    line = f"{what} · score {label.score:.2f}" + (f" · seed {seed}" if seed is not None else "")
    stability = getattr(label, "stability", None)
    if isinstance(stability, (int, float)):
        line += f" · stability {stability:.2f}"
    if e.modality == "tabular":
        line += " · [the row's value]"
    return f"{_short(name, 90)}\n{line}"


def _label_text(e: Explanation, f: Any, rank: int) -> str:
    name = f.feature if f.feature.strip() and f.feature == f.feature.strip() else repr(f.feature)
    if e.modality == "tabular":
        column, values = f.info.get("column"), e.input.get("values", {})
        if column in values:
            value = values[column]
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            if shown not in name.split():
                name = f"{name}  [{shown}]"
    tie = " ≈" if f.info.get("tied") else ""
    return _safe(f"{rank}. {_short(name, MAX_NAME)}{tie}")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe(text: str) -> str:
    """No mathtext: a feature such as ``$5`` is drawn as written."""
    return text.replace("$", r"\$")
