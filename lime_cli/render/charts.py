"""Bar charts of an explanation's weights (``--out x.png`` / ``--out x.svg``).

For text and tabular explanations (an image's ``.png`` is its own picture,
see lime_cli/image/writers.py). One chart per (input, label), named like the
image pictures: PATH itself for one, PATH-<input>-<label>.png for several.

The chart: the shown features top to bottom by rank, bars towards the label
in solid blue and against it in hatched red (the palette of every output),
whiskers spanning each weight's interval when the explanation carries them
(read by :mod:`lime_cli.render.uncertainty_view`), the terminal's rank marks
(``≈`` tied, ``?`` place in the top K uncertain; both when both apply, as the
chart has no room to name the uncertain places apart) explained under the
axis, and a title naming the input, the label and its probability, with the
stability and, for ``--num-samples auto``, the samples used and why sampling
stopped.
Drawn with matplotlib's object API (no pyplot: no global state, no display
needed), written atomically; SVGs carry no date so reruns give the same file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

from lime_cli.explanation import Explanation, LabelExplanation
from lime_cli.render import uncertainty_view as uv
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
    # One scale per input: every label's chart has the same x range, wide enough
    # for every interval's far end.
    scale = max((uv.extent(lab.features) for lab in e.explanations), default=0.0)
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
    whiskers = _whiskers(features)
    if whiskers is not None:
        at, centres, halves = whiskers
        axes.errorbar(centres, at, xerr=halves, fmt="none", ecolor="#222", capsize=3, lw=1)
    axes.set_yticks(rows, [_label_text(e, f, rank) for rank, f in enumerate(features, 1)])
    axes.invert_yaxis()
    axes.axvline(0, color="#555", linewidth=0.8)
    axes.set_xlim(-scale, scale)
    towards = "effect on the value" if label.label == "value" else f"towards {label.label}"
    axes.set_xlabel(_safe(f"← against · weight · {towards} →"))
    axes.spines[["top", "right"]].set_visible(False)
    figure.suptitle(_safe(_title(e, label)), x=0.01, ha="left", fontsize=10)
    legend = _legend(e, label, features)
    if legend:
        figure.supxlabel(_safe(legend), x=0.01, ha="left", fontsize=9, color="#444")
    if not features:
        axes.text(0, 0, "(no features)", ha="center")
    buffer = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if kind == "svg" else {}
    import matplotlib

    # Text stays text in an SVG (searchable, smaller); no random ids between runs.
    with matplotlib.rc_context({"svg.hashsalt": "lime-explain", "svg.fonttype": "none"}):
        figure.savefig(buffer, format=kind, metadata=metadata)
    return buffer.getvalue()


def _whiskers(features: list[Any]) -> tuple[list[int], list[float], list[float]] | None:
    """The rows with an interval, its centre and half-width on each (a whisker from
    low to high: the interval need not be symmetric about the weight), or None
    when no feature has one."""
    rows, centres, halves = [], [], []
    for row, f in enumerate(features):
        interval = uv.interval(f)
        if interval is not None:
            low, high = interval
            rows.append(row)
            centres.append((low + high) / 2)
            halves.append(max(0.0, (high - low) / 2))
    return (rows, centres, halves) if rows else None


def _legend(e: Explanation, label: LabelExplanation, features: list[Any]) -> str:
    """A line under the chart saying what the whiskers and rank marks mean (only
    those the chart shows; ``""`` without any)."""
    parts = []
    if uv.any_interval(features):
        parts.append(f"whiskers: {uv.level(e.params):.0%} interval")
    marks = "".join(uv.all_marks(f) for f in features)
    if uv.TIED_MARK in marks:
        parts.append(f"{uv.TIED_MARK} tied with a neighbour")
    if uv.UNCERTAIN_MARK in marks:
        stability = uv.stability(label)
        top = stability.top if stability is not None else "top K"
        parts.append(f"{uv.UNCERTAIN_MARK} place in the {top} uncertain")
    return " · ".join(parts)


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
    stability = uv.stability(label)
    if stability is not None:
        line += f" · stability {stability.value:.2f}"
    run = uv.auto_run(e.params)
    if run is not None:
        line += f"\n{run.used} samples (auto" + (f": {run.reason})" if run.reason else ")")
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
    mark = uv.all_marks(f)
    return _safe(f"{rank}. {_short(name, MAX_NAME)}{' ' + mark if mark else ''}")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe(text: str) -> str:
    """No mathtext: a feature such as ``$5`` is drawn as written."""
    return text.replace("$", r"\$")
