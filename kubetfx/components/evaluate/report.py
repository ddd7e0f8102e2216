"""evaluate's HTML report (the `report` artifact the Kubeflow UI shows): self-contained, no
wider than the UI's panel, figures first, then every number.

Figures (inline SVG, ids the browser test looks for): the confusion matrix (`confusion-matrix`),
ROC (`roc`) and precision-recall (`pr`) curves per class (binary: the positive class),
calibration (`calibration`), and per-slice bars with their confidence intervals and slice sizes
(`slices-<metric>`). An undefined value is a blank with the reason, never 0.
"""

from __future__ import annotations

import math

from kubetfx.components import svg
from kubetfx.components.contracts import Task

FAIRNESS_PREFIX = "fairness_indicators_metrics/"
Z95 = 1.959964


def _is_diff(name: str) -> bool:
    return name.split("[")[0].endswith("_diff")


def wilson(successes: float, n: float) -> list[float] | None:
    """Wilson's 95% score interval of a proportion: unlike a resampling interval it does not
    collapse to a point when every row of a small slice is right (15/15 -> 0.80..1)."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _bar_rows(found, metric: str, proportion: bool) -> list[dict]:
    rows = []
    ordered = sorted(found.values, key=lambda s: (s != "overall", s))
    for slice_name in ordered:
        values = found.values[slice_name]
        n = values.get("example_count")
        value = values.get(metric)
        interval = found.intervals.get(slice_name, {}).get(metric)
        kind = "TFMA"
        if proportion and value is not None and n and (not interval or interval[0] == interval[1]):
            interval, kind = wilson(value * n, n), "Wilson"
        note = found.undefined.get(slice_name, {}).get(metric) or (
            found.undefined.get(slice_name, {}).get("all metrics", "not computed")
        )
        low, high = interval or (None, None)
        rows.append(
            {
                "label": slice_name,
                "value": value,
                "low": low,
                "high": high,
                "n": n,
                "note": note,
                "kind": kind,
            }
        )
    return rows


def _slice_figures(found, task: Task) -> list[str]:
    """Bars per slice for the headline metric (and AUC per class), whiskers for intervals."""
    if task.is_classification:
        charts = [("accuracy", "accuracy", True)]
        charts += [(f"auc[{c}]", f"AUC of {c}", False) for c in task.classes]
    else:
        charts = [("mean_absolute_error", "mean absolute error", False)]
    figures = []
    for metric, label, proportion in charts:
        rows = _bar_rows(found, metric, proportion)
        if not any(r["value"] is not None for r in rows):
            continue
        fig_id = "slices-" + "".join(ch if ch.isalnum() else "-" for ch in metric).strip("-")
        hi = 1.0 if task.is_classification else None
        chart = svg.interval_bars(fig_id, f"{label} by slice", rows, hi=hi)
        wilson_rows = [r["label"] for r in rows if r["kind"] == "Wilson" and r["low"] is not None]
        caption = f"{label} per slice, n = rows in the slice; whiskers: 95% interval"
        if wilson_rows:
            caption += (
                " (Wilson score interval where TFMA's resampling interval is a single point, "
                "as it is when every row is right)"
            )
        figures.append(svg.figure(chart, caption))
    return figures


def _curve_figures(curves, task: Task) -> list[str]:
    shown = list(task.classes[1:] if task.num_classes == 2 else task.classes)
    parts = [
        svg.figure(
            svg.heatmap("confusion-matrix", "Confusion matrix", list(task.classes), curves.matrix),
            "Confusion matrix on the eval split at the argmax: rows actual, columns predicted",
        )
    ]
    roc = [(c, curves.roc[c]) for c in shown if c in curves.roc]
    pr = [(c, curves.pr[c]) for c in shown if c in curves.pr]
    calibration = [
        (c, [(x, y) for x, y, _ in curves.calibration[c]]) for c in shown if c in curves.calibration
    ]
    each = "the positive class" if task.num_classes == 2 else "each class against the rest"
    parts.append(
        svg.figure(
            svg.line_chart(
                "roc",
                "ROC",
                roc,
                x_label="false positive rate",
                y_label="true positive rate",
                diagonal=True,
            ),
            f"ROC of {each} (dashed: chance)",
        )
    )
    parts.append(
        svg.figure(
            svg.line_chart("pr", "Precision-recall", pr, x_label="recall", y_label="precision"),
            f"Precision against recall of {each}, over the decision thresholds",
        )
    )
    parts.append(
        svg.figure(
            svg.line_chart(
                "calibration",
                "Calibration",
                calibration,
                markers=True,
                diagonal=True,
                x_label="mean predicted probability",
                y_label="observed frequency",
            ),
            "Calibration: 10 buckets of predicted probability (dashed: perfectly calibrated)",
        )
    )
    notes = [f"{c}: {why}" for c, why in curves.notes.items()]
    if notes:
        parts.append('<p class="note">No curve for ' + svg.esc("; ".join(notes)) + "</p>")
    return parts


def _cell(found, slice_name: str, metric: str, notes: list[str]) -> str:
    value = found.values.get(slice_name, {}).get(metric)
    if value is None:
        why = found.undefined.get(slice_name, {}).get(metric)
        if not why:
            return "<td></td>"
        notes.append(f"{slice_name}, {metric}: {why}")
        return f'<td class="undefined" title="{svg.esc(why)}"><sup>{len(notes)}</sup></td>'
    interval = found.intervals.get(slice_name, {}).get(metric)
    bounds = f"<br><small>{interval[0]:.3g}..{interval[1]:.3g}</small>" if interval else ""
    return f'<td class="num">{value:.4g}{bounds}</td>'


def _table(found, keep, notes: list[str]) -> str:
    """Metrics as rows, slices as columns (slices are fewer): it scrolls inside the page."""
    names = sorted(
        {
            m
            for by_slice in (found.values, found.undefined)
            for s in by_slice.values()
            for m in s
            if keep(m) and m != "all metrics"
        }
    )
    if not names:
        return ""
    slices = sorted(found.values, key=lambda s: (s != "overall", s))
    head = "".join(f"<th>{svg.esc(s)}</th>" for s in slices)
    rows = [
        f"<tr><th>{svg.esc(n.removeprefix(FAIRNESS_PREFIX))}</th>"
        + "".join(_cell(found, s, n, notes) for s in slices)
        + "</tr>"
        for n in names
    ]
    return svg.scroll(f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>")


def render(found, baseline: dict, blessing, task: Task, curves, intervals: str) -> str:
    """The page: verdict, figures, then metrics by slice, fairness rates and the champion."""
    reasons = "".join(f"<li>{svg.esc(r)}</li>" for r in blessing.reasons)
    colour = "#1b7f3b" if blessing.blessed else "#b00020"
    body = [f'<p style="color:{colour};font-weight:700">{blessing.marker}</p><ul>{reasons}</ul>']
    if curves is not None:
        body += ['<h2>The overall slice</h2><div class="figs">', *_curve_figures(curves, task)]
        body.append("</div>")
    method = {
        "off": "off (evaluate.confidence_intervals)",
        "jackknife": "TFMA jackknife",
        "bootstrap": "TFMA Poisson bootstrap",
    }[intervals]
    body.append(f'<h2>Slices</h2><p class="note">95% intervals: {method}.</p>')
    body += _slice_figures(found, task)
    notes: list[str] = []
    body.append("<h2>Metrics by slice</h2>")
    main = _table(found, lambda m: not _is_diff(m) and not m.startswith(FAIRNESS_PREFIX), notes)
    body.append(main)
    fairness = _table(
        found,
        lambda m: (
            m.startswith(FAIRNESS_PREFIX)
            and not _is_diff(m)
            and ("false_positive_rate" in m or "false_negative_rate" in m)
        ),
        notes,
    )
    if fairness:
        body += ["<h2>Fairness: false positive and negative rates</h2>", fairness]
    if notes:
        items = "".join(f"<li>{svg.esc(n)}</li>" for n in notes)
        body.append('<p class="note">Blank cells are undefined, not 0:</p>')
        body.append(f'<ol class="note">{items}</ol>')
    if baseline:
        overall = found.values.get("overall", {})
        lines = "".join(
            f"<tr><th>{svg.esc(k)}</th><td>{_fmt(overall.get(k))}</td><td>{_fmt(v)}</td></tr>"
            for k, v in sorted(baseline.items())
            if not _is_diff(k) and not k.startswith(FAIRNESS_PREFIX)
        )
        body.append(
            "<h2>Against the champion</h2>"
            + svg.scroll(
                f"<table><tr><th>metric</th><th>candidate</th><th>champion</th></tr>{lines}</table>"
            )
        )
    return svg.page(f"Evaluation ({task.kind} of {task.label})", "".join(body))


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
