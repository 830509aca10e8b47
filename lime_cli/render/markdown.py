"""Explanations as GitHub-flavoured Markdown (``--format markdown``, ``--out x.md``).

Compact: per input a heading with the prediction, one line of settings (for
``--num-samples auto`` the samples used and why sampling stopped), the failed
checks, and a table per label (rank with the terminal's ``≈`` tied and ``?``
uncertain-place marks, feature, the row's value for tabular, weight, interval
when known, a signed bar) headed by its score and stability, with the tied
groups named under it (the uncertainty is read by
:mod:`lime_cli.render.uncertainty_view`). Meant for pull-request
comments and CI job summaries (``>> $GITHUB_STEP_SUMMARY``), where only
Markdown is rendered: the bars are characters, ``█`` towards the label and
``░`` against it, so the sign reads without colour.
"""

from __future__ import annotations

from typing import Any

from lime_cli.explanation import Explanation, LabelExplanation
from lime_cli.render import uncertainty_view as uv

BAR_WIDTH = 12
MAX_CLASSES = 3


def explanation_markdown(e: Explanation) -> str:
    """One explanation as a Markdown block (ends with a blank line)."""
    name = str(e.input.get("name", "input"))
    lines = [f"### {_inline(name)} — {_predicted(e)}", "", _settings(e), ""]
    failed = [c for c in e.checks if not c.get("passed", True)]
    if e.checks:
        if failed:
            lines += [f"- ❌ **check failed** ({_inline(c.get('rule', ''))}, label "
                      f"{_inline(c.get('label', ''))}): {_inline(c.get('message', ''))}"
                      for c in failed]  # fmt: skip
        else:
            lines.append(f"- ✅ {len(e.checks)} checks passed")
        lines.append("")
    lines += [f"> warning: {_inline(w)}" for w in e.warnings]
    if e.warnings:
        lines.append("")
    scale = max((abs(f.weight) for lab in e.explanations for f in lab.features), default=0.0)
    for label in e.explanations:
        lines += _label_table(e, label, scale)
    return "\n".join(lines) + "\n"


def stream(explanation: Explanation, quiet: bool) -> None:
    """``--format markdown``: print each explanation as it is done (even with --quiet:
    asking for Markdown on stdout is asking for it to be printed)."""
    import click

    click.echo(explanation_markdown(explanation))


def write_markdown(path: str, explanations: list[Explanation]) -> None:
    """``--out FILE.md``: every explanation, one after the other."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, "\n".join(explanation_markdown(e) for e in explanations))


def write_report_markdown(path: str, report: dict[str, Any]) -> None:
    """``pick``/``compare --out FILE.md``: the report's summary and its explanations."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, report_markdown(report))


def report_markdown(report: dict[str, Any]) -> str:
    """A pick or compare report as Markdown."""
    lines: list[str] = []
    if report.get("kind") == "pick":
        picked = [Explanation.from_dict(p["explanation"]) for p in report.get("picked", [])]
        total = report.get("total_importance") or 0.0
        share = report.get("coverage", 0.0) / total if total else 0.0
        lines += [f"## lime-explain pick: {len(picked)} of {report.get('inputs_explained', 0)} "
                  f"inputs, covering {share:.0%} of the total importance", "",
                  "| # | feature | importance |", "|--:|---|--:|"]  # fmt: skip
        for i, row in enumerate(report.get("importance", [])[:15], start=1):
            lines.append(f"| {i} | {_cell(row['feature'])} | {row['importance']:.3f} |")
        lines.append("")
        lines += [explanation_markdown(e) for e in picked]
    elif report.get("kind") == "compare":
        a, b = (str(m.get("path", "?")) for m in report.get("models", [{}, {}]))
        lines += [f"## lime-explain compare: A = `{a}`, B = `{b}`", "",
                  "| input | A predicts | B predicts |", "|---|---|---|"]  # fmt: skip
        for row in report.get("inputs", []):
            sides = [
                _predicted(Explanation.from_dict(s)) if s else "(failed)"
                for s in row.get("explanations", [])
            ]
            lines.append(f"| {_cell(str(row.get('input')))} | {' | '.join(sides)} |")
        lines.append("")
        for key, who, other in (("only_a", "A", "B"), ("only_b", "B", "A")):
            names = ", ".join(f"{_inline(r['feature'])} ({r['importance']:.3f})"
                              for r in report.get(key, []))  # fmt: skip
            lines.append(f"- **Relied on by {who} only** (absent from {other}'s explanations): "
                         f"{names or 'none'}")  # fmt: skip
    return "\n".join(lines) + "\n"


def _predicted(e: Explanation) -> str:
    pred = e.prediction
    if "value" in pred:
        return f"predicted value **{float(pred['value']):.4g}**"
    probs: dict[str, float] = pred.get("probabilities", {})
    name = pred.get("predicted")
    others = sorted(((n, p) for n, p in probs.items() if n != name), key=lambda kv: -kv[1])
    rest = ", ".join(f"{_inline(n)} {p:.3f}" for n, p in others[: MAX_CLASSES - 1])
    main = f"predicted **{_inline(str(name))}** ({probs.get(str(name), 0.0):.3f})"
    return f"{main}{'; ' + rest if rest else ''}"


def _settings(e: Explanation) -> str:
    p = e.params
    bits = [f"model `{e.model.get('path', '?')}`", f"seed {p.get('seed', '?')}"]
    run = uv.auto_run(p)
    if run is None:
        bits.append(f"{p.get('num_samples', '?')} samples")
    else:
        reason = f" ({_inline(run.reason)})" if run.reason else ""
        bits += [f"samples {run.requested}", f"{run.used} used{reason}"]
    return "<sub>" + " · ".join(bits) + "</sub>"


def _label_table(e: Explanation, label: LabelExplanation, scale: float) -> list[str]:
    shown = e.params.get("num_features_shown")
    features = label.features[: int(shown)] if shown is not None else label.features
    stability = uv.stability(label)
    what = "the value" if label.label == "value" else _inline(label.label)
    head = f"**Why {what}** (score {label.score:.3f}"
    head += f", stability {stability.value:.2f} for the {stability.top})" if stability else ")"
    tabular = e.modality == "tabular"
    interval = uv.any_interval(features)
    cols = ["#", "feature"] + (["this row"] if tabular else []) + ["weight"]
    cols += [f"{uv.level(e.params):.0%} interval"] if interval else []
    cols.append("")
    align = ["--:", "---"] + (["---"] if tabular else []) + ["--:"]
    align += ["--:"] if interval else []
    align.append(":--")
    out = [head, "", "| " + " | ".join(cols) + " |", "|" + "|".join(align) + "|"]
    for rank, f in enumerate(features, start=1):
        mark = uv.rank_mark(f)
        cells = [str(rank) + (f" {mark}" if mark else ""), _cell(_name(f.feature))]
        if tabular:
            cells.append(_cell(_row_value(e, f)))
        cells.append(f"{f.weight:+.4f}")
        if interval:
            iv = uv.interval(f)
            cells.append(f"[{iv[0]:+.4f}, {iv[1]:+.4f}]" if iv is not None else "")
        cells.append(_bar(f.weight, scale))
        out.append("| " + " | ".join(cells) + " |")
    if not features:
        out.append("| | (no features) |" + " |" * (len(cols) - 2))
    out.append("")
    notes = uv.tie_notes(label, e.params, features)
    if notes:
        out += ["<sub>" + "<br>".join(_inline(line) for line in notes) + "</sub>", ""]
    return out


def _row_value(e: Explanation, f: Any) -> str:
    column = f.info.get("column")
    values = e.input.get("values", {})
    return f"{column} = {values[column]}" if column in values else ""


def _bar(weight: float, scale: float) -> str:
    cells = 0 if scale <= 0 else round(abs(weight) / scale * BAR_WIDTH)
    cells = max(cells, 1 if weight else 0)
    return ("█" if weight > 0 else "░") * cells


def _name(feature: str) -> str:
    """Whitespace features escaped so they are visible (``'\\n'``)."""
    return feature if feature.strip() and feature == feature.strip() else repr(feature)


def _cell(text: str) -> str:
    """Text safe in a table cell: pipes escaped, no line breaks, Markdown inert."""
    return _inline(text).replace("|", "\\|")


def _inline(text: str) -> str:
    out = str(text).replace("\\", "\\\\").replace("\r", " ").replace("\n", " ")
    for ch in "`*_[]<>#":
        out = out.replace(ch, "\\" + ch)
    return out
