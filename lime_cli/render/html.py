"""Explanations as one self-contained HTML page (``--out report.html``).

The page needs nothing but itself: no scripts run, no fonts or styles are
fetched (a Content-Security-Policy forbids every request but ``data:``
images), pictures are embedded as PNG data URIs, and it prints as it shows.
One page holds any number of inputs: a table of contents, then a section per
input and per explained label. Each section shows the prediction, the
settings and seed, the checks' results and what the explanation is made of:

- text: the document with every explaining word highlighted by its signed
  weight (blue towards the label with a solid underline, red against it with
  a dotted one; the weight, rank and interval on hover);
- image: the explained picture with the strongest superpixels outlined and
  numbered as in the table (solid: towards, dashed: against), and a heatmap
  of every superpixel's weight with its colour scale;
- tabular: each condition beside the row's value, with signed bars.

Every feature table has signed bars on one scale per input (a label whose
weights are all small gets small bars), and, when the explanation carries
them (:mod:`lime_cli.render.uncertainty_view` reads them), each weight's
interval and standard error, the terminal's rank marks (``≈`` tied, ``?``
place in the top K uncertain) with the tied groups named under the table, the
label's stability, and for ``--num-samples auto`` the samples used and why
sampling stopped. The explanations' JSON is embedded (``<script
type="application/json" id="lime-explanations">``), so a program can read the
page back (:func:`explanations_from_page`).

Large runs: beyond :data:`OPEN_SECTIONS` inputs the sections after the first
ones are collapsed (``<details>``) and the table of contents becomes a summary
table (input, prediction, strongest feature, checks), so a page of a
thousand rows opens quickly and is read from its summary; see
bench/bench_report.py.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable
from typing import Any

from lime_cli.explanation import Explanation, LabelExplanation
from lime_cli.render import uncertainty_view as uv
from lime_cli.render.palette import AGAINST_HEX, TOWARDS_HEX, hex_of, tint

#: Inputs shown open; the rest are collapsed. A section is 2-5 KB of HTML and a
#: few hundred DOM nodes: 100 open sections stay well under a second to lay
#: out, while a thousand would make scrolling and printing sluggish.
OPEN_SECTIONS = 100
#: Classes listed in the prediction table (an ImageNet model has 1000).
MAX_CLASSES = 5
#: Characters of a document shown highlighted; the JSON keeps the whole text.
MAX_TEXT = 50_000
#: Superpixels outlined and numbered on a picture when the run did not say.
DEFAULT_SHOWN = 5
JSON_ID = "lime-explanations"

_CSS = f"""
:root {{ --towards: {TOWARDS_HEX}; --against: {AGAINST_HEX}; }}
body {{ font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem; color: #1a1a1a; background: #fff; }}
h1 {{ font-size: 1.5rem; margin: .5rem 0; }} h2 {{ font-size: 1.25rem; margin: 0 0 .5rem; }}
h3 {{ font-size: 1.05rem; margin: 1.2rem 0 .4rem; }}
section.input {{ border-top: 3px solid #ddd; padding-top: .8rem; margin-top: 1.5rem; }}
table {{ border-collapse: collapse; margin: .3rem 0 .8rem; }}
th, td {{ padding: .15rem .6rem .15rem 0; text-align: left; vertical-align: top; }}
th {{ font-weight: 600; border-bottom: 1px solid #bbb; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.muted {{ color: #555; }} .small {{ font-size: .85rem; }}
.bar {{ position: relative; width: 12rem; height: .9rem; background: #f3f3f3; }}
.bar .mid {{ position: absolute; left: 50%; top: 0; bottom: 0; border-left: 1px solid #888; }}
.bar .pos {{ position: absolute; left: 50%; top: .1rem; bottom: .1rem;
  background: var(--towards); }}
.bar .neg {{ position: absolute; right: 50%; top: .1rem; bottom: .1rem;
  background: repeating-linear-gradient(135deg, var(--against) 0 3px, #e8a3a8 3px 5px); }}
.bar .ci {{ position: absolute; top: .4rem; height: 0; border-top: 1px solid #000; }}
.rank-mark {{ cursor: help; }}
.pbar {{ display: inline-block; height: .7rem; background: #777; }}
.doc {{ white-space: pre-wrap; border: 1px solid #ddd; padding: .6rem .8rem; line-height: 1.7;
  max-height: 40rem; overflow: auto; }}
mark {{ color: inherit; padding: 0 .05rem; border-radius: 2px; }}
mark.t {{ border-bottom: 2px solid var(--towards); }}
mark.a {{ border-bottom: 2px dotted var(--against); }}
.legend span {{ display: inline-block; margin-right: 1.2rem; }}
.sw {{ display: inline-block; width: .9rem; height: .9rem; vertical-align: -.1rem;
  margin-right: .3rem; }}
.sw.t {{ background: var(--towards); }} .sw.a {{ border: 2px dashed var(--against); }}
.pictures {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; max-width: 20rem; }} figcaption {{ font-size: .85rem; color: #444; }}
.stack {{ position: relative; display: inline-block; line-height: 0;
  background-size: 100% 100%; image-rendering: pixelated;
  print-color-adjust: exact; -webkit-print-color-adjust: exact; }}
.stack img {{ width: 20rem; height: auto; image-rendering: pixelated; display: block; }}
.stack.grey {{ background-color: #fff; background-blend-mode: luminosity; }}
.stack.smooth, .stack.smooth img {{ image-rendering: auto; }}
.stack .n {{ position: absolute; transform: translate(-50%, -50%); font: 700 .8rem/1 sans-serif;
  color: #fff; padding: .12rem .25rem; border-radius: .6rem; }}
.n.t {{ background: var(--towards); }} .n.a {{ background: var(--against); }}
.scale {{ width: 20rem; height: .8rem; margin-top: .3rem;
  background: linear-gradient(to right, var(--against), #fff, var(--towards));
  border: 1px solid #999; }}
.scale-labels {{ width: 20rem; display: flex; justify-content: space-between; font-size: .8rem; }}
.fail {{ color: {AGAINST_HEX}; font-weight: 600; }} .pass {{ color: #1b7837; }}
.warn {{ background: #fff6d5; padding: .3rem .6rem; border-left: 4px solid #e0b000; }}
nav ol {{ padding-left: 1.4rem; }} details > summary {{ cursor: pointer; font-weight: 600; }}
@media print {{
  body {{ max-width: none; font-size: 11pt; }} .doc {{ max-height: none; overflow: visible; }}
  section.input {{ break-before: page; }} mark, .bar div, .sw, .n, .scale {{
    print-color-adjust: exact; -webkit-print-color-adjust: exact; }}
}}
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def write_html(path: str, explanations: list[Explanation]) -> None:
    """``--out FILE.html``: every explanation on one page."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, page(explanations))


def write_report_html(path: str, report: dict[str, Any]) -> None:
    """``pick``/``compare --out FILE.html``: the report's summary, then its explanations."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, report_page(report))


def page(explanations: list[Explanation], *, title: str | None = None) -> str:
    """The whole HTML document for ``explanations`` (any modalities, in order)."""
    title = title or _title(explanations)
    body = [_toc(explanations), *_sections(explanations, "input")]
    data = [e.to_dict() for e in explanations]
    return _document(title, _intro(explanations), "".join(body), data)


def report_page(report: dict[str, Any]) -> str:
    """A pick or compare report: its summary tables and the explanations it names."""
    kind = report.get("kind")
    if kind == "pick":
        picked = [Explanation.from_dict(p["explanation"]) for p in report.get("picked", [])]
        head = _pick_summary(report)
        body = [_toc(picked), *_sections(picked, "input")]
        return _document("lime-explain pick", head, "".join(body), report)
    if kind == "compare":
        return _document("lime-explain compare", _compare_summary(report),
                         _compare_sections(report), report)  # fmt: skip
    return _document("lime-explain report", "", "", report)


def explanations_from_page(text: str) -> Any:
    """The JSON a page embeds (a list of explanations, or a pick/compare report)."""
    match = re.search(
        rf'<script type="application/json" id="{JSON_ID}">(.*?)</script>', text, re.DOTALL
    )
    if match is None:
        raise ValueError("no embedded explanation JSON in this page")
    return json.loads(match.group(1))


# -- page frame ---------------------------------------------------------------------


def _document(title: str, intro: str, body: str, data: Any) -> str:
    from lime_cli.render.json import dumps

    # "<" escaped as \u003c: the JSON stays valid and cannot close its script element.
    embedded = dumps(data).replace("<", "\\u003c")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="lime-explain">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1>{intro}</header><main>{body}</main>"
        '<footer class="small muted"><p>The explanations\' JSON is embedded in this page '
        f"(<code>script#{JSON_ID}</code>); <code>lime-explain render</code> reads the same "
        "JSON saved with <code>--out x.json</code>.</p></footer>"
        f'<script type="application/json" id="{JSON_ID}">{embedded}</script>'
        "</body></html>\n"
    )


def _title(explanations: list[Explanation]) -> str:
    if len(explanations) == 1:
        return f"Why: {explanations[0].input.get('name', 'input')}"
    kinds = sorted({e.modality for e in explanations})
    return f"lime-explain: {len(explanations)} {'/'.join(kinds)} explanations"


def _intro(explanations: list[Explanation]) -> str:
    models = sorted({str(e.model.get("path", "?")) for e in explanations})
    legend = (
        '<p class="legend small"><span><i class="sw t"></i>towards the label (blue, solid)</span>'
        '<span><i class="sw a"></i>against it (red, dashed or dotted)</span></p>'
    )
    return f'<p class="muted">Model {_e(", ".join(models))}.</p>{legend}'


def _toc(explanations: list[Explanation]) -> str:
    if len(explanations) <= 1:
        return ""
    if len(explanations) > OPEN_SECTIONS:
        return _summary_table(explanations)
    items = []
    for i, e in enumerate(explanations, start=1):
        labels = ", ".join(
            f'<a href="#input-{i}-label-{j}">{_e(label.label)}</a>'
            for j, label in enumerate(e.explanations, start=1)
        )
        items.append(
            f'<li><a href="#input-{i}">{_e(e.input.get("name", f"input {i}"))}</a> '
            f'<span class="muted">{_e(_predicted_text(e))}</span>'
            f"{' · ' + labels if labels else ''}{_check_badge(e)}</li>"
        )
    return f"<nav><h2>Contents</h2><ol>{''.join(items)}</ol></nav>"


def _summary_table(explanations: list[Explanation]) -> str:
    rows = []
    for i, e in enumerate(explanations, start=1):
        top = (
            e.explanations[0].features[0] if e.explanations and e.explanations[0].features else None
        )
        rows.append(
            f'<tr><td class="num">{i}</td><td><a href="#input-{i}">'
            f"{_e(e.input.get('name', f'input {i}'))}</a></td><td>{_e(_predicted_text(e))}</td>"
            f"<td>{_e(top.feature) if top else ''}</td>"
            f'<td class="num">{_weight(top.weight) if top else ""}</td>'
            f"<td>{_check_badge(e)}</td></tr>"
        )
    return (
        f"<nav><h2>Summary of {len(explanations)} inputs</h2>"
        f'<p class="small muted">The first {OPEN_SECTIONS} sections are open; the rest are '
        "collapsed (click an input's heading to open it).</p>"
        "<table><thead><tr><th>#</th><th>input</th><th>prediction</th>"
        '<th>strongest feature</th><th class="num">weight</th><th>checks</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></nav>"
    )


def _check_badge(e: Explanation) -> str:
    if not e.checks:
        return ""
    failed = sum(1 for c in e.checks if not c.get("passed", True))
    if failed:
        return f' <span class="fail">✗ {failed} check{"s" if failed > 1 else ""} failed</span>'
    return ' <span class="pass">✓ checks passed</span>'


# -- one input ----------------------------------------------------------------------


def _sections(explanations: Iterable[Explanation], prefix: str) -> list[str]:
    return [
        _section(e, f"{prefix}-{i}", open_=i <= OPEN_SECTIONS)
        for i, e in enumerate(explanations, start=1)
    ]


def _section(e: Explanation, anchor: str, *, open_: bool = True, heading: str = "") -> str:
    name = heading or str(e.input.get("name", anchor))
    scale = max((abs(f.weight) for lab in e.explanations for f in lab.features), default=0.0)
    parts = [
        _prediction(e),
        _settings(e),
        _warnings(e),
        _checks(e),
    ]
    view: Any = None
    if e.modality == "image":
        view = _image_backdrop(e)
    if not isinstance(view, (str, type(None))):
        # The photo (or picture) once, as a CSS background every figure of the input shares.
        parts.append(
            f".pic-{anchor} {{ background-image: url(data:{view.mime};base64,{view.data}); }}".join(
                ("<style>", "</style>")
            )
        )
    for j, label in enumerate(e.explanations, start=1):
        parts.append(_label_section(e, label, f"{anchor}-label-{j}", scale, f"pic-{anchor}", view))
    inner = "".join(parts)
    head = f'<h2>{_e(name)} <span class="muted small">({_e(e.modality)})</span></h2>'
    start = f'<section class="input" id="{anchor}" data-modality="{_e(e.modality)}">'
    if open_:
        return f"{start}{head}{inner}</section>"
    summary = f"{_e(name)} — {_e(_predicted_text(e))}"
    return f"{start}<details><summary>{summary}</summary>{inner}</details></section>"


def _predicted_text(e: Explanation) -> str:
    pred = e.prediction
    if "value" in pred:
        return f"predicted value {_num(pred['value'])}"
    name = pred.get("predicted")
    p = pred.get("probabilities", {}).get(name)
    return f"predicted {name} ({p:.3f})" if isinstance(p, (int, float)) else f"predicted {name}"


def _prediction(e: Explanation) -> str:
    pred = e.prediction
    if "value" in pred:
        return f"<p><b>Predicted value:</b> {_num(pred['value'])}</p>"
    probs: dict[str, float] = pred.get("probabilities", {})
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    rows = [
        f"<tr><td>{_e(name)}{' <b>(predicted)</b>' if name == pred.get('predicted') else ''}</td>"
        f'<td class="num">{p:.3f}</td><td><span class="pbar" '
        f'style="width:{max(0.0, min(1.0, p)) * 8:.2f}rem"></span></td></tr>'
        for name, p in ranked[:MAX_CLASSES]
    ]
    more = (
        f'<tr><td class="muted" colspan="3">(+{len(ranked) - MAX_CLASSES} more classes '
        "in the JSON)</td></tr>"
        if len(ranked) > MAX_CLASSES
        else ""
    )
    return (
        '<table class="prediction"><caption style="text-align:left"><b>Prediction</b></caption>'
        '<thead><tr><th>class</th><th class="num">probability</th><th></th></tr></thead>'
        f"<tbody>{''.join(rows)}{more}</tbody></table>"
    )


#: Settings shown, in order; ``num_samples`` stands for the sample count or, for
#: ``--num-samples auto``, what was asked, the samples used and why it stopped.
_SETTING_NAMES = (
    ("seed", "seed"),
    ("num_samples", "samples"),
    ("num_features", "features"),
    ("num_features_shown", "features shown"),
    ("kernel_width", "kernel width"),
    ("feature_selection", "feature selection"),
)


def _settings(e: Explanation) -> str:
    cells = [("model", f"{e.model.get('path', '?')}"), ("model type", str(e.model.get("type", "")))]
    for key, label in _SETTING_NAMES:
        if key == "num_samples":
            cells += _sample_settings(e.params)
        elif key in e.params and e.params[key] is not None:
            cells.append((label, _num(e.params[key])))
    for key in ("discretizer", "segmenter", "num_superpixels", "training"):
        value = e.input.get(key)
        if value is not None:
            if isinstance(value, dict):
                value = value.get("name", "")
            cells.append((key.replace("_", " "), str(value)))
    body = " · ".join(f"{_e(k)} <b>{_e(v)}</b>" for k, v in cells if v)
    return f'<p class="settings small"><b>Settings:</b> {body}</p>'


def _sample_settings(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The sample count; for an auto run what was asked, the samples used, why
    sampling stopped and the rounds."""
    run = uv.auto_run(params)
    if run is None:
        count = params.get("num_samples")
        return [("samples", _num(count))] if count is not None else []
    cells = [("samples", run.requested), ("samples used", str(run.used))]
    if run.reason:
        cells.append(("stopped because", run.reason))
    if run.rounds:
        cells.append(("rounds", ", ".join(str(n) for n in run.rounds)))
    return cells


def _warnings(e: Explanation) -> str:
    return "".join(f'<p class="warn small">warning: {_e(w)}</p>' for w in e.warnings)


def _checks(e: Explanation) -> str:
    if not e.checks:
        return '<p class="small muted">No checks were run.</p>'
    rows = []
    for c in e.checks:
        ok = c.get("passed", True)
        rows.append(
            f'<tr><td class="{"pass" if ok else "fail"}">{"✓ passed" if ok else "✗ failed"}</td>'
            f"<td>{_e(c.get('rule', ''))}</td><td>{_e(c.get('label', ''))}</td>"
            f"<td>{_e(c.get('message', ''))}</td></tr>"
        )
    return (
        '<table class="checks small"><caption style="text-align:left"><b>Checks</b></caption>'
        "<thead><tr><th>result</th><th>rule</th><th>label</th><th>detail</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _label_section(
    e: Explanation,
    label: LabelExplanation,
    anchor: str,
    scale: float,
    picture_class: str = "",
    view: Any = None,
) -> str:
    mode = e.model.get("mode", "classification")
    what = "the predicted value" if mode == "regression" else f"class {label.label!r}"
    facts = [
        f"score (weighted R²) {label.score:.3f}",
        f"intercept {label.intercept:.3f}",
        f"local prediction {label.local_prediction:.3f}",
        f"model {label.model_prediction:.3f}",
    ]
    stability = uv.stability(label)
    if stability is not None:
        facts.insert(
            0,
            f"<b>stability {stability.value:.2f}</b> (expected agreement of this "
            f"{stability.top} with a re-run's, Jaccard)",
        )
    body = ""
    if e.modality == "text":
        body = _text_view(e, label, scale)
    elif e.modality == "image":
        body = _image_view(e, label, picture_class, view)
    body += _feature_table(e, label, scale)
    return (
        f'<section class="label" id="{anchor}" data-label="{_e(label.label)}">'
        f'<h3>Why {_e(what)}</h3><p class="small muted">{" · ".join(facts)}</p>{body}</section>'
    )


def _shown_features(e: Explanation, label: LabelExplanation) -> list[Any]:
    shown = e.params.get("num_features_shown")
    return label.features[: int(shown)] if shown is not None else label.features


def _feature_table(e: Explanation, label: LabelExplanation, scale: float) -> str:
    """The label's features: rank (with the ``≈``/``?`` marks), name, the row's
    value (tabular), weight, interval and standard error when known, a signed
    bar with the interval drawn over it; the tied groups named underneath."""
    features = _shown_features(e, label)
    # Bars reach the farthest interval end of the input, so no interval is cut short.
    scale = max([scale, *(uv.extent(lab.features) for lab in e.explanations)])
    has_interval = uv.any_interval(features)
    has_stderr = uv.any_stderr(features)
    stability = uv.stability(label)
    top = stability.top if stability is not None else "top K"
    level = uv.level(e.params)
    tabular = e.modality == "tabular"
    head = ['<th class="num">#</th>', "<th>feature</th>"]
    if tabular:
        head.append("<th>this row</th>")
    head.append('<th class="num">weight</th>')
    if has_interval:
        head.append(f'<th class="num">{level:.0%} interval</th>')
    if has_stderr:
        head.append('<th class="num">std. error</th>')
    towards = f"towards {label.label}" if label.label != "value" else "effect"
    head.append(f"<th>against · {_e(towards)}</th>")
    rows = []
    for rank, f in enumerate(features, start=1):
        sign = "t" if f.weight >= 0 else "a"
        cells = [
            f'<td class="num">{rank}{_rank_mark(f, level, top)}</td>',
            f'<td class="feat {sign}">{_e(_shown_name(f.feature))}</td>',
        ]
        if tabular:
            cells.append(f"<td>{_e(_row_value(e, f))}</td>")
        cells.append(f'<td class="num">{_weight(f.weight)}</td>')
        interval = uv.interval(f)
        if has_interval:
            cells.append(f'<td class="num">{_interval_text(interval)}</td>')
        if has_stderr:
            se = uv.stderr(f)
            cells.append(f'<td class="num">{se:.4f}</td>' if se is not None else "<td></td>")
        cells.append(f"<td>{_bar(f.weight, scale, interval)}</td>")
        rows.append(f'<tr data-weight="{f.weight:.6g}">{"".join(cells)}</tr>')
    if not features:
        rows.append(f'<tr><td colspan="{len(head)}">(no features)</td></tr>')
    note = ""
    if len(features) < len(label.features):
        note = (f'<p class="small muted">The {len(features)} strongest of {len(label.features)} '
                "features; the embedded JSON lists all.</p>")  # fmt: skip
    return (
        f'<table class="features"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{_uncertainty_note(e, label, features)}{note}"
    )


def _rank_mark(f: Any, level: float, top: str) -> str:
    """The terminal's mark after a rank, explained on hover: ``≈`` tied, ``?`` uncertain."""
    mark = uv.rank_mark(f)
    if mark == uv.TIED_MARK:
        why = f"tied: its order against a neighbour is not significant at {level:.0%}"
    elif mark == uv.UNCERTAIN_MARK:
        why = f"its place in the {top} is uncertain: a feature left out may take it"
    else:
        return ""
    return f' <span class="rank-mark" title="{_e(why)}">{mark}</span>'


def _uncertainty_note(e: Explanation, label: LabelExplanation, features: list[Any]) -> str:
    """The tied groups, the uncertain places and what the interval is, under a table."""
    lines = uv.tie_notes(label, e.params, features)
    if uv.any_interval(features):
        lines.append(
            f"The interval is the {uv.level(e.params):.0%} interval of each weight "
            "(the black line over its bar)."
        )
    if not lines:
        return ""
    return f'<p class="small muted uncertainty">{"<br>".join(_e(line) for line in lines)}</p>'


def _shown_name(feature: str) -> str:
    """Whitespace features escaped so they are visible (``'\\n'``, ``' '``)."""
    if feature.strip() and feature == feature.strip():
        return feature
    return repr(feature)


def _row_value(e: Explanation, f: Any) -> str:
    column = f.info.get("column")
    values = e.input.get("values", {})
    if column is not None and column in values:
        return f"{column} = {_num(values[column])}"
    if "value" in f.info:
        return _num(f.info["value"])
    return ""


def _interval_text(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f"[{_weight(interval[0])}, {_weight(interval[1])}]"


def _bar(weight: float, scale: float, interval: tuple[float, float] | None = None) -> str:
    """A diverging bar: 0 in the middle, ±scale at the ends (one scale per input)."""
    half = 50.0

    def pct(w: float) -> float:
        return 0.0 if scale <= 0 else min(half, abs(w) / scale * half)

    kind = "pos" if weight >= 0 else "neg"
    parts = [
        '<div class="mid"></div>',
        f'<div class="{kind}" style="width:{pct(weight):.2f}%"></div>',
    ]
    if interval is not None and scale > 0:
        lo, hi = (max(-scale, min(scale, v)) for v in interval)
        left = half + lo / scale * half
        parts.append(
            f'<div class="ci" style="left:{left:.2f}%;width:{(hi - lo) / scale * half:.2f}%"></div>'
        )
    label = f"{'towards' if weight >= 0 else 'against'} {abs(weight):.4f}"
    return f'<div class="bar" role="img" aria-label="{label}">{"".join(parts)}</div>'


# -- text ---------------------------------------------------------------------------


def _text_view(e: Explanation, label: LabelExplanation, scale: float) -> str:
    text = e.input.get("text")
    if not isinstance(text, str):
        return ""
    shown = text[:MAX_TEXT]
    ranks = {id(f): rank for rank, f in enumerate(label.features, start=1)}
    spans = []
    for f in label.features:
        if f.weight == 0:
            continue
        for pos in f.info.get("positions", []):
            if isinstance(pos, int) and 0 <= pos < len(shown):
                spans.append((pos, pos + len(f.feature), f))
    spans.sort(key=lambda s: (s[0], -s[1]))
    pieces, last = [], 0
    for start, stop, f in spans:
        if start < last:
            continue
        r, g, b = tint(f.weight, scale)
        # White letters on the darkest tints (luma under about 55%), black elsewhere.
        ink = ";color:#fff" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else ""
        sign = "t" if f.weight >= 0 else "a"
        hover = _hover(e, label, f, ranks[id(f)])
        pieces.append(_e(shown[last:start]))
        pieces.append(
            f'<mark class="{sign}" style="background:{hex_of((r, g, b))}{ink}" '
            f'data-weight="{f.weight:.6g}" '
            f'data-rank="{ranks[id(f)]}" title="{_e(hover)}">{_e(shown[start:stop])}</mark>'
        )
        last = stop
    pieces.append(_e(shown[last:]))
    more = ""
    if len(text) > MAX_TEXT:
        more = f'<p class="small muted">… {len(text) - MAX_TEXT} more characters (in the JSON).</p>'
    hint = "weight, rank and interval" if uv.any_interval(label.features) else "weight"
    return (
        f'<p class="small">The document, each explaining word marked by its weight for '
        f"{_e(label.label)!s} (hover for the {hint}):</p>"
        f'<div class="doc">{"".join(pieces)}</div>{more}'
    )


def _hover(e: Explanation, label: LabelExplanation, f: Any, rank: int) -> str:
    """A feature's title: ``match: +0.0597, rank 2, 95% interval [+0.0582, +0.0614],
    ≈ tied with a neighbour`` (the uncertainty when the explanation has it)."""
    figure = uv.stability(label)
    uncertainty = uv.feature_note(f, e.params, figure.k if figure is not None else None)
    return f"{f.feature}: {f.weight:+.4f}, rank {rank}" + (
        f", {uncertainty}" if uncertainty else ""
    )


# -- image --------------------------------------------------------------------------


def _image_view(e: Explanation, label: LabelExplanation, picture_class: str, view: Any) -> str:
    """The outlined picture and the heatmap over the input's backdrop (``view``: a
    :class:`lime_cli.image.page.PageView`, shared by the input's labels)."""
    import base64

    from lime_cli.image import pictures

    if view is None:
        view = _image_backdrop(e)
    if isinstance(view, str):  # the picture could not be read: why
        return f'<p class="warn small">{_e(view)}</p>'
    shown = int(e.params.get("num_features_shown") or DEFAULT_SHOWN)
    marked = [(f.index, f.weight) for f in label.features[:shown] if f.weight != 0]
    titles = {  # hover text of the numbered superpixels only, ranked as in the table
        f.index: _hover(e, label, f, rank)
        for rank, f in enumerate(label.features[:shown], start=1)
        if f.weight != 0
    }
    outline = pictures.png_bytes_rgba(
        pictures.outline_overlay(
            view.labels, marked, line=view.line, dash=view.dash, count=view.count
        )
    )
    weights = [(f.index, f.weight) for f in label.features]
    heat = pictures.png_bytes_rgba(
        pictures.heat_overlay(view.labels, weights, line=view.line, count=view.count)
    )
    top = max((abs(w) for _, w in weights), default=0.0)
    width, height = view.size
    numbers = []
    points = pictures.label_points(view.segments, [j for j, _ in marked])
    for rank, (j, w) in enumerate(marked, start=1):
        left, top_ = view.position(*points[j])
        numbers.append(
            f'<span class="n {"t" if w >= 0 else "a"}" '
            f'style="left:{left:.2f}%;top:{top_:.2f}%" '
            f'title="{_e(titles[j])}">{rank}</span>'
        )

    def uri(data: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

    alt = _e(f"{e.input.get('name', 'picture')}, {len(marked)} superpixels outlined")
    size = f'width="{width}" height="{height}"'
    stack = f"stack {picture_class}" + (" smooth" if view.smooth else "")
    return (
        f'<div class="pictures"><figure class="outlined"><div class="{stack}">'
        f'<img class="over" src="{uri(outline)}" alt="{alt}" {size}>{"".join(numbers)}</div>'
        f"<figcaption>The {len(marked)} strongest superpixels, numbered as in the table: "
        '<i class="sw t"></i>solid towards, <i class="sw a"></i>dashed against.</figcaption>'
        f'</figure><figure class="heatmap"><div class="{stack} grey">'
        f'<img class="over" src="{uri(heat)}" alt="heatmap of every superpixel\'s weight" '
        f"{size}></div>"
        f'<div class="scale" role="img" aria-label="colour scale from {-top:.4f} to {top:.4f}">'
        f'</div><div class="scale-labels"><span>{-top:+.3f} against</span><span>0</span>'
        f"<span>towards {top:+.3f}</span></div>"
        "<figcaption>Every superpixel tinted by its weight.</figcaption></figure></div>"
        f'<p class="small muted picture-note">{_e(view.caption)}</p>'
    )


def _image_backdrop(e: Explanation) -> Any:
    """The input's :class:`~lime_cli.image.page.PageView`, or why there is none (a str)."""
    from lime_cli.errors import InputError
    from lime_cli.image import pictures
    from lime_cli.image.page import page_view

    try:
        image, segments = pictures.picture_of(e)
        return page_view(e, image, segments)
    except InputError as exc:
        return exc.message


# -- pick and compare ---------------------------------------------------------------


def _pick_summary(report: dict[str, Any]) -> str:
    rows = report.get("importance", [])[:15]
    top = max((r["importance"] for r in rows), default=0.0)
    body = "".join(
        f'<tr><td class="num">{i}</td><td>{_e(r["feature"])}</td>'
        f'<td class="num">{r["importance"]:.3f}</td>'
        f"<td>{_bar(r['importance'], top)}</td></tr>"
        for i, r in enumerate(rows, start=1)
    )
    total = report.get("total_importance") or 0.0
    share = report.get("coverage", 0.0) / total if total else 0.0
    names = ", ".join(_e(str(p.get("input"))) for p in report.get("picked", []))
    return (
        f"<p>Picked {report.get('picked_count', 0)} of {report.get('inputs_explained', 0)} "
        f"explanations, covering {share:.0%} of the total importance: {names}.</p>"
        "<h2>Global feature importance</h2>"
        '<table><thead><tr><th class="num">#</th><th>feature</th><th class="num">importance</th>'
        f"<th></th></tr></thead><tbody>{body}</tbody></table>"
    )


def _compare_summary(report: dict[str, Any]) -> str:
    models = report.get("models", [{}, {}])
    names = [str(m.get("path", "?")) for m in models]
    rows = []
    for i, row in enumerate(report.get("inputs", []), start=1):
        cells = [f'<td><a href="#pair-{i}">{_e(str(row.get("input")))}</a></td>']
        for side in row.get("explanations", []):
            if side is None:
                cells.append("<td>(failed)</td><td></td>")
                continue
            e = Explanation.from_dict(side)
            feats = e.explanations[0].features[:5] if e.explanations else []
            cells.append(f"<td>{_e(_predicted_text(e))}</td>")
            cells.append(
                "<td>" + ", ".join(f"{_e(f.feature)} {_weight(f.weight)}" for f in feats) + "</td>"
            )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    only = []
    for key, who, other in (("only_a", "A", "B"), ("only_b", "B", "A")):
        items = ", ".join(
            f"{_e(r['feature'])} ({r['importance']:.3f})" for r in report.get(key, [])
        )
        only.append(
            f"<p><b>Relied on by {who} only (absent from {other}'s explanations):</b> "
            f"{items or 'none'}</p>"
        )
    return (
        f"<p>A = {_e(names[0])} · B = {_e(names[1] if len(names) > 1 else '?')}</p>"
        "<table><thead><tr><th>input</th><th>A predicts</th><th>A's strongest features</th>"
        "<th>B predicts</th><th>B's strongest features</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{''.join(only)}"
    )


def _compare_sections(report: dict[str, Any]) -> str:
    out = []
    for i, row in enumerate(report.get("inputs", []), start=1):
        sides = []
        for who, side in zip("AB", row.get("explanations", [])):
            if side is not None:
                e = Explanation.from_dict(side)
                sides.append(
                    _section(
                        e,
                        f"pair-{i}-{who.lower()}",
                        heading=f"Model {who}: {e.input.get('name', '')}",
                    )
                )
        out.append(f'<div id="pair-{i}">{"".join(sides)}</div>')
    return "".join(out)


# -- small helpers ------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _weight(value: Any) -> str:
    return f"{float(value):+.4f}"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)
