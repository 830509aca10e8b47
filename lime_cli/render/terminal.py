"""Explanations as rich renderables for a terminal (plain text when piped).

Colour follows rich's detection: none when stdout is not a terminal or when
NO_COLOR is set. Signs and bars carry the meaning without colour.
"""

from __future__ import annotations

import errno
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lime_cli.explanation import Explanation, LabelExplanation
from lime_cli.render.palette import AGAINST_TERMINAL, TOWARDS_TERMINAL
from lime_cli.render.uncertainty_view import tie_notes

BAR_WIDTH = 24
MAX_CLASSES_SHOWN = 5
MAX_TEXT_SHOWN = 4000
#: The palette of every output (lime_cli/render/palette.py), in its lighter steps.
POSITIVE = TOWARDS_TERMINAL
NEGATIVE = AGAINST_TERMINAL
#: Bar cells: towards a label solid, against it shaded, so the sign reads without colour.
TOWARDS_CELL = "█"
AGAINST_CELL = "░"


def render(explanation: Explanation) -> RenderableType:
    """The whole explanation: prediction, one feature table per label, extras.

    When the explanation says how many features to show
    (``params.num_features_shown``: images fit every superpixel but show the
    strongest few), each table is cut to that many, with a note.
    """
    shown = _shown(explanation)
    # One scale for every label's bars: a label whose weights are all small gets small bars.
    scale = _scale_of([f for label in explanation.explanations for f in label.features[:shown]])
    parts: list[RenderableType] = [_prediction_table(explanation)]
    for label in explanation.explanations:
        parts.append(Text(""))
        parts.append(_label_header(label, explanation.model.get("mode", "classification")))
        parts.append(_feature_table(label, shown, scale))
        confidence = _confidence_line(label, explanation.params, shown)
        if confidence is not None:
            parts.append(confidence)
    text_view = _text_view(explanation)
    if text_view is not None:
        parts.append(Text(""))
        parts.append(text_view)
    for warning in explanation.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    title = f"{explanation.modality} · {explanation.input.get('name', '-')}"
    used = explanation.params.get("num_samples")
    how = " (auto: " + str(explanation.params.get("stop_reason")) + ")" if (
        explanation.params.get("num_samples_requested") == "auto") else ""  # fmt: skip
    # The run's particulars close the panel as a line of their own (a subtitle is
    # cut to the panel's width, and 80 piped columns hid the seed): what
    # reproduces the run first, the model's path, often long, last.
    seed = explanation.params.get("seed")
    footer = f"{used} samples{how}" + (f" · seed {seed}" if seed is not None else "")
    parts.append(Text(f"{footer} · model {explanation.model.get('path', '?')}", style="dim"))
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


#: Console width when stdout is not a terminal: wide enough that no table cell
#: (an input's name, a feature list) is cut to fit 80 columns.
PIPE_WIDTH = 100_000


class StdoutConsole(Console):
    """A console whose write to a closed pipe raises BrokenPipeError, as any write does.

    rich's own answer (stdout pointed at /dev/null, then exit 1) would skip
    the command's tidying up and say "failed"; the CLI's guard ends a run whose
    reader has gone with exit 141, like ``click.echo`` output.
    """

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def stdout_console() -> Console:
    """A console for stdout: the terminal's width, or unlimited when piped or redirected.

    rich falls back to 80 columns when stdout is not a terminal and then cuts
    table cells with an ellipsis (``sample_data/te…``); a script reading the
    output needs the whole names.
    """
    console = StdoutConsole()
    return console if console.is_terminal else StdoutConsole(width=PIPE_WIDTH)


def print_explanation(explanation: Explanation, console: Console | None = None) -> None:
    """Print one explanation to ``console`` (stdout by default)."""
    console = console or StdoutConsole(soft_wrap=False)
    console.print(render(explanation))
    shown = _shown(explanation)
    total = max((len(label.features) for label in explanation.explanations), default=0)
    if shown is not None and total > shown:
        console.print(
            f"(the {shown} strongest of {total} features per label; "
            "--num-features shows more, --format json lists all)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def stream(explanation: Explanation, quiet: bool) -> None:
    """``--format table``: print the explanation unless ``quiet``."""
    if not quiet:
        print_explanation(explanation)


def _shown(explanation: Explanation) -> int | None:
    value = explanation.params.get("num_features_shown")
    return int(value) if value is not None else None


def _bar(
    value: float,
    scale: float,
    width: int = BAR_WIDTH,
    interval: tuple[float, float] | None = None,
) -> Text:
    """``█`` (towards) or ``░`` (against) cells for |value|, so the sign shows without
    colour; with an interval, a dim ``┄`` out to the interval's far end."""

    def cells(x: float) -> int:
        return 0 if scale <= 0 else min(width, round(abs(x) / scale * width))

    style, cell = (POSITIVE, TOWARDS_CELL) if value > 0 else (NEGATIVE, AGAINST_CELL)
    solid = max(cells(value), 1 if value else 0)
    bar = Text(cell * solid, style=style)
    if interval is not None:
        far = max(cells(interval[0]), cells(interval[1]), solid)
        bar.append("┄" * (far - solid), style=f"dim {style}")
    return bar


def _prediction_table(explanation: Explanation) -> RenderableType:
    pred = explanation.prediction
    if "value" in pred:
        return Text.assemble(("Predicted value: ", "bold"), f"{pred['value']:.6g}")
    probs: dict[str, float] = pred.get("probabilities", {})
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    # A margin classifier's decision_function squashed to [0, 1] ranks classes but
    # is not a calibrated probability: say "score" (the JSON's model.scores says how).
    scores = str(explanation.model.get("scores", "probabilities"))
    margins = scores.startswith("decision_function")
    title = f"Prediction (scores: {scores})" if margins else "Prediction"
    table = Table(title=title, title_justify="left", show_header=True, box=None)
    table.add_column("class")
    table.add_column("score" if margins else "probability", justify="right")
    table.add_column("")
    for name, p in ranked[:MAX_CLASSES_SHOWN]:
        cells = round(min(max(p, 0.0), 1.0) * BAR_WIDTH)
        table.add_row(name, f"{p:.3f}", Text("█" * cells, style="cyan"))
    if len(ranked) > MAX_CLASSES_SHOWN:
        table.add_row(f"(+{len(ranked) - MAX_CLASSES_SHOWN} more)", "", "")
    return table


def _label_header(label: LabelExplanation, mode: str) -> Text:
    what = "predicted value" if mode == "regression" else f"class {label.label!r}"
    return Text.assemble(
        ("Why ", "bold"),
        (what, "bold"),
        f"  score (weighted R²) {label.score:.3f}",
        f" · intercept {label.intercept:.3f}",
        f" · local prediction {label.local_prediction:.3f}",
        f" · model {label.model_prediction:.3f}",
    )


def _feature_table(
    label: LabelExplanation, shown: int | None = None, scale: float | None = None
) -> Table:
    """The label's features with signed weights and bars; ``scale`` is the |weight| of a
    full bar (default: this label's largest)."""
    features = label.features[:shown] if shown is not None else label.features
    with_intervals = any(f.interval is not None for f in features)
    if scale is None:
        scale = _scale_of(features)
    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("feature")
    table.add_column("weight", justify="right")
    if with_intervals:
        table.add_column("±", justify="right")
    table.add_column(f"towards {label.label}" if label.label != "value" else "effect")
    for rank, f in enumerate(features, start=1):
        style = POSITIVE if f.weight > 0 else NEGATIVE
        mark = "≈" if f.tied else ("?" if f.uncertain_rank else " ")
        cells: list[Any] = [
            f"{rank}{mark}",
            _visible(f.feature),
            Text(f"{f.weight:+.4f}", style=style),
        ]
        if with_intervals:
            half = (f.interval[1] - f.interval[0]) / 2 if f.interval else None
            cells.append(f"{half:.4f}" if half is not None else "")
        cells.append(_bar(f.weight, scale, interval=f.interval))
        table.add_row(*cells)
    if not label.features:
        table.add_row("", "(no features)", "", *([""] if with_intervals else []), "")
    return table


def _scale_of(features: list[Any]) -> float:
    """The largest |weight| or interval end: the full width of a bar."""
    return max(
        (max([abs(f.weight), *(abs(v) for v in (f.interval or ()))]) for f in features),
        default=0.0,
    )


def _confidence_line(
    label: LabelExplanation, params: dict[str, Any], shown: int | None = None
) -> Text | None:
    """Stability, ties and (for auto) the samples used, under a label's table.

    Tie chains name the features the table shows (``shown``: the first few of
    an image's superpixels) and count the rest, so a chain through all 36
    superpixels of an image does not fill the screen.
    """
    stability = label.stability
    if not stability:
        return None
    level = params.get("confidence", 0.95)
    parts = [
        f"stability {stability['value']:.2f}: expected agreement (Jaccard) between this "
        f"top {stability['k']} and a re-run's"
    ]
    parts += tie_notes(label, params, label.features[:shown] if shown else None)
    parts.append(f"± is the half-width of the {level:.0%} interval; ┄ shows its far end")
    return Text("\n".join(parts), style="dim")


def _visible(feature: str) -> str:
    """A feature that is or ends in whitespace (``--char-level``'s newline) as ``'\\n'``."""
    if feature.strip() and feature == feature.strip():
        return feature
    return repr(feature)


def _text_view(explanation: Explanation) -> RenderableType | None:
    """The document with the explaining words marked by their weight for the first label."""
    text = explanation.input.get("text")
    if not isinstance(text, str) or not explanation.explanations:
        return None
    return _MarkedText(text, explanation.explanations[0])


#: Widest line of an explained text in a table (prose is read best at this width).
TEXT_COLUMNS = 100


class _MarkedText:
    """Words coloured on a colour terminal, bracketed as ``[+word]``/``[-word]`` elsewhere."""

    def __init__(self, text: str, label: LabelExplanation) -> None:
        self.text = text
        self.label = label

    def _spans(self, limit: int) -> list[tuple[int, int, float]]:
        spans = []
        for f in self.label.features:
            if f.weight == 0:
                continue
            for pos in f.info.get("positions", []):
                if pos < limit:
                    spans.append((pos, pos + len(f.feature), f.weight))
        return sorted(spans)

    def __rich_measure__(self, console: Console, options: Any) -> Measurement:
        """As wide as the longest line, at most :data:`TEXT_COLUMNS`: a panel holding
        the text is not stretched to the console (100,000 columns when piped)."""
        shown = self.text[:MAX_TEXT_SHOWN]
        longest = max((len(line) for line in shown.splitlines()), default=0)
        heading = 60  # "Text for 'label' (words towards it in blue, away in red)"
        width = max(1, min(options.max_width, TEXT_COLUMNS, max(longest + 2, heading)))
        return Measurement(min(width, 20), width)

    def __rich_console__(self, console: Console, options: Any) -> Any:
        shown = self.text[:MAX_TEXT_SHOWN]
        plain = console.no_color or console.color_system is None
        if plain:
            pieces, last = [], 0
            for start, stop, weight in self._spans(len(shown)):
                if start < last:
                    continue
                sign = "+" if weight > 0 else "-"
                pieces += [shown[last:start], f"[{sign}{shown[start:stop]}]"]
                last = stop
            body = Text("".join(pieces) + shown[last:])
            how = "[+word] towards it, [-word] away"
        else:
            body = Text(shown)
            for start, stop, weight in self._spans(len(shown)):
                body.stylize(f"bold {POSITIVE if weight > 0 else NEGATIVE}", start, stop)
            how = "words towards it in blue, away in red"
        yield Text.assemble(("Text", "bold"), f" for {self.label.label!r} ({how})")
        yield body
        if len(self.text) > MAX_TEXT_SHOWN:
            yield Text(f"… ({len(self.text) - MAX_TEXT_SHOWN} more characters)", style="dim")


def render_pick(result: dict[str, Any], picked: list[Explanation]) -> RenderableType:
    """SP-LIME's global importance table, then the picked explanations."""
    table = Table(title="Global feature importance  I_j = sqrt(sum_i |W_ij|)",
                  title_justify="left", box=None)  # fmt: skip
    table.add_column("#", justify="right")
    table.add_column("feature")
    table.add_column("importance", justify="right")
    table.add_column("")
    rows = result["importance"][:15]
    scale = max((r["importance"] for r in rows), default=0.0)
    for rank, row in enumerate(rows, start=1):
        cells = 0 if scale <= 0 else round(row["importance"] / scale * BAR_WIDTH)
        table.add_row(str(rank), row["feature"], f"{row['importance']:.3f}",
                      Text("█" * cells, style="cyan"))  # fmt: skip
    share = result["coverage"] / result["total_importance"] if result["total_importance"] else 0.0
    summary = Text(
        f"Picked {len(picked)} of {result['inputs_explained']} explanations, covering "
        f"{share:.0%} of the total importance: "
        + ", ".join(str(p["input"]) for p in result["picked"])
    )
    return Group(table, Text(""), summary, *[render(e) for e in picked])


def render_compare(report: dict[str, Any]) -> RenderableType:
    """Per input: both models' predictions and strongest features; then what differs."""
    model_a, model_b = (m.get("path", "?") for m in report["models"])
    table = Table(title=f"A = {model_a}    B = {model_b}", title_justify="left")
    table.add_column("input")
    table.add_column("A predicts")
    table.add_column("A's strongest features")
    table.add_column("B predicts")
    table.add_column("B's strongest features")
    for row in report["inputs"]:
        cells: list[str] = [str(row["input"])]
        for side in row["explanations"]:
            if side is None:
                cells += ["(failed)", ""]
                continue
            cells.append(_predicted(side))
            features = side["explanations"][0]["features"][:5] if side["explanations"] else []
            cells.append(", ".join(f"{f['feature']} {f['weight']:+.3f}" for f in features))
        table.add_row(*cells)
    parts: list[RenderableType] = [table]
    for key, who, other in (("only_a", "A", "B"), ("only_b", "B", "A")):
        names = [f"{r['feature']} ({r['importance']:.3f})" for r in report[key]]
        parts.append(
            Text.assemble(
                (f"Relied on by {who} only (absent from {other}'s explanations): ", "bold"),
                ", ".join(names) if names else "none",
            )  # fmt: skip
        )
    return Group(*parts)


def _predicted(explanation: dict[str, Any]) -> str:
    pred = explanation["prediction"]
    if "value" in pred:
        return f"{pred['value']:.4g}"
    name = pred["predicted"]
    return f"{name} {pred['probabilities'][name]:.2f}"
