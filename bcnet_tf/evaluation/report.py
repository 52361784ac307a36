"""One self-contained HTML report per evaluation or cross-validation (pictures
embedded as data URIs), laid out like a paper's results section: a paragraph of
headline numbers with their 95 % intervals, tables, figures with captions, then the
data, model and configuration.

Text is built as plain text and escaped exactly once, where it enters the markup
(``_table``, ``_paragraph``), so what a reader sees is the text itself."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from bcnet_tf.evaluation.bootstrap import bootstrap_text, interval_text
from bcnet_tf.io import atomic_write_text

_STYLE = """
body { font-family: Georgia, serif; max-width: 60rem; margin: 2rem auto; color: #222;
       line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-style: italic; font-size: 0.9rem; }
pre { font-size: 0.75rem; overflow-x: auto; background: #f7f7f7; padding: 0.6rem; }
.note { color: #a00; }
"""

_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_precision": "Precision (macro)",
    "macro_recall": "Recall / sensitivity (macro)",
    "macro_specificity": "Specificity (macro)",
    "macro_f1": "F1 (macro)",
    "weighted_f1": "F1 (weighted)",
    "gmean": "G-mean",
    "iba": "IBA (alpha 0.1, squared)",
    "roc_auc_macro": "ROC-AUC (one-vs-rest, macro)",
}

_CLASS_SCORES = ("precision", "recall", "specificity", "f1", "roc_auc")


def _number(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"  # NaN != NaN


def _with_interval(summary: dict[str, Any], key: str) -> str:
    """The value and, when there is one, its interval (``0.812 (95 % CI ...)``), as
    plain text."""
    value, interval = _number(summary["metrics"][key]), interval_text(summary, key)
    return f"{value} (95 % CI {interval})" if key in summary["intervals"] else value


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """An HTML table of plain-text cells, each escaped once here."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _paragraph(text: str, css_class: str | None = None) -> str:
    """A paragraph of plain text, escaped once here."""
    opening = f'<p class="{css_class}">' if css_class else "<p>"
    return f"{opening}{html.escape(text)}</p>"


def _headline(summary: dict[str, Any]) -> str:
    m = summary["metrics"]
    text = (
        f"On the {summary['split']} part of {summary['data']} ({m['n']} images"
        + (f", {m['patients']} patients" if "patients" in m else "")
        + f"), {summary['architecture']} reached an accuracy of "
        f"{_with_interval(summary, 'accuracy')}, a balanced accuracy of "
        f"{_with_interval(summary, 'balanced_accuracy')}, a macro F1 of "
        f"{_with_interval(summary, 'macro_f1')} and a one-vs-rest ROC-AUC of "
        f"{_with_interval(summary, 'roc_auc_macro')}"
    )
    if "patients" in m:
        text += (
            f"; patient-level accuracy was {_number(m['patient_accuracy'])} and the patient "
            f"recognition rate {_number(m['patient_recognition_rate'])}"
        )
    text += "."
    if bootstrap := bootstrap_text(summary):
        text += f" {bootstrap}"
    if summary["tta"]:
        text += " Predictions average flips and 90° rotations (test-time augmentation)."
    calibration = summary["calibration"]
    text += f" The expected calibration error was {_number(calibration['before']['ece'])}"
    if "temperature" in calibration:
        text += (
            f", {_number(calibration['after']['ece'])} after temperature scaling "
            f"(T = {calibration['temperature']:.2f}, fitted on the validation part)"
        )
    return _paragraph(f"{text}.")


def _interval_header(summary: dict[str, Any]) -> str:
    """``95 % CI (n = 12 patients)``: how many groups the intervals rest on."""
    facts = summary["bootstrap"]
    if summary["intervals"] and "groups" in facts:
        return f"95 % CI (n = {facts['groups']} {facts['unit']}s)"
    return "95 % CI"


def _image(out_dir: Path, name: str) -> str:
    data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'


def _figures(out_dir: Path, summary: dict[str, Any]) -> list[str]:
    return [
        f"<figure>{_image(out_dir, name)}<figcaption>Figure {number}. "
        f"{html.escape(title)}.</figcaption></figure>"
        for number, (title, name) in enumerate(summary.get("pictures", {}).items(), 1)
    ]


def _page(title: str, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def render_report(out_dir: Path, summary: dict[str, Any]) -> str:
    """The report's HTML for an evaluation folder and its ``metrics.json`` summary."""
    m = summary["metrics"]
    metric_rows = [
        [label, _number(m[key]), interval_text(summary, key)] for key, label in _LABELS.items()
    ]
    class_rows = [
        [name, *(_number(scores[k]) for k in _CLASS_SCORES), scores["support"]]
        for name, scores in m["per_class"].items()
    ]
    parts = [
        f"<h1>Results: {html.escape(summary['architecture'])} on "
        f"{html.escape(Path(summary['data']).name)} ({html.escape(summary['split'])})</h1>",
        '<p class="note">Research use only; not a medical device.</p>',
        _headline(summary),
        "<h2>Metrics</h2>",
        _table(["metric", "value", _interval_header(summary)], metric_rows),
        _table(["class", *_CLASS_SCORES, "support"], class_rows),
        "<h2>Figures</h2>",
    ]
    parts += _figures(out_dir, summary)
    parts.append("<h2>Data and split</h2>")
    parts.append(
        _paragraph(
            f"Dataset {summary['data']} (layout {summary['layout']}); "
            f"evaluated part: {summary['split']}."
        )
    )
    split_summary = summary.get("split_summary") or {summary["split"]: summary["class_counts"]}
    names = summary["class_names"]
    parts.append(
        _table(
            ["part", *names, "total"],
            [[part, *c.values(), sum(c.values())] for part, c in split_summary.items()],
        )
    )
    parts.append("<h2>Model</h2>")
    parts.append(
        _paragraph(
            f"{summary['architecture']}, {summary['parameters']:,} parameters, input "
            f"{summary['image_size'][0]}\N{MULTIPLICATION SIGN}{summary['image_size'][1]} RGB; "
            f"file {summary['model']}."
        )
    )
    parts.append(f"<pre>{html.escape(summary.get('model_summary', ''))}</pre>")
    if summary.get("config"):
        parts.append("<h2>Training configuration</h2>")
        parts.append(_table(["setting", "value"], [[k, v] for k, v in summary["config"].items()]))
    return _page(f"bcnet_tf evaluation: {summary['architecture']}", parts)


def write_report(out_dir: Path, summary: dict[str, Any]) -> Path:
    """Write ``report.html`` into ``out_dir``, atomically."""
    return atomic_write_text(out_dir / "report.html", render_report(out_dir, summary))


def render_cv_report(out_dir: Path, summary: dict[str, Any]) -> str:
    """The HTML of a cross-validation report and its ``cv_report.json`` summary."""
    config, protocol = summary["config"], summary["protocol"]
    folds, m = summary["folds"], summary["metrics"]
    names = list(_LABELS)
    text = (
        f"{config['model']} on {summary['data']}, {protocol}: over "
        f"{len(summary['per_fold'])} folds the accuracy was "
        f"{_number(folds['accuracy']['mean'])} ± {_number(folds['accuracy']['sd'])} "
        f"(mean ± sd); pooled over all {m['n']} out-of-fold predictions it was "
        f"{_with_interval(summary, 'accuracy')}, the macro F1 "
        f"{_with_interval(summary, 'macro_f1')} and the ROC-AUC "
        f"{_with_interval(summary, 'roc_auc_macro')}."
    )
    if bootstrap := bootstrap_text(summary):
        text += f" {bootstrap}"
    parts = [
        f"<h1>Cross-validation: {html.escape(config['model'])} on "
        f"{html.escape(Path(summary['data']).name)}</h1>",
        f"<p><strong>Protocol: {html.escape(protocol)}</strong></p>",
        '<p class="note">Research use only; not a medical device.</p>',
    ]
    if summary["leaking"]:
        parts.append(
            _paragraph(
                "This protocol splits images, not patients or near-duplicate groups: copies "
                "of one lesion are trained on and tested on, so these numbers are "
                "optimistic. It is reported only to measure that optimism.",
                "note",
            )
        )
    parts += [
        _paragraph(text),
        "<h2>Per fold</h2>",
        _table(
            ["repeat", "fold", "images", *(_LABELS[k] for k in names)],
            [
                [f["repeat"], f["fold"], f["n"], *(_number(f[k]) for k in names)]
                for f in summary["per_fold"]
            ],
        ),
        "<h2>Over the folds and pooled</h2>",
        _table(
            ["metric", "mean ± sd over folds", "pooled", _interval_header(summary)],
            [
                [
                    label,
                    f"{_number(folds[k]['mean'])} ± {_number(folds[k]['sd'])}",
                    _number(m[k]),
                    interval_text(summary, k),
                ]
                for k, label in _LABELS.items()
            ],
        ),
        "<h2>Figures</h2>",
        *_figures(out_dir, summary),
        "<h2>Training configuration (every fold)</h2>",
        _table(["setting", "value"], [[k, v] for k, v in config.items()]),
    ]
    return _page(f"bcnet_tf cross-validation: {protocol}", parts)


def write_cv_report(out_dir: Path, summary: dict[str, Any]) -> Path:
    """Write a cross-validation's ``report.html`` into ``out_dir``, atomically."""
    return atomic_write_text(out_dir / "report.html", render_cv_report(out_dir, summary))
