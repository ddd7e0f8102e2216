"""Reading TFMA's output into plain dicts, and the self-contained HTML report."""

from __future__ import annotations

import html
import math

from kubetfx.components.contracts import Task


def _slice_name(slice_key) -> str:
    return ", ".join(f"{k}={v}" for k, v in slice_key) or "overall"


def _class_suffix(sub_key: str, classes: tuple[str, ...]) -> str:
    if not sub_key:
        return ""
    kind, _, index = sub_key.partition(":")
    if kind == "classId" and index.isdigit() and int(index) < len(classes):
        return f"[{classes[int(index)]}]"
    return f"[{sub_key}]"


def slice_metrics(
    output_uri: str, model_name: str, classes: tuple[str, ...], threshold: float
) -> dict:
    """{slice: {metric[class]: value}} for one model; NaNs (empty slices) left out.

    Per class, precision and recall at `threshold` come from the ConfusionMatrixPlot.
    """
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(output_uri, model_name=model_name)
    out: dict[str, dict[str, float]] = {}

    def put(slice_key, sub_key: str, name: str, number) -> None:
        if isinstance(number, int | float) and not math.isnan(number):
            flat = out.setdefault(_slice_name(slice_key), {})
            flat[name + _class_suffix(sub_key, classes)] = float(number)

    for slice_key, outputs in result.slicing_metrics:
        out.setdefault(_slice_name(slice_key), {})
        for sub_keys in outputs.values():
            for sub_key, metrics in sub_keys.items():
                for name, value in metrics.items():
                    number = value.get("doubleValue") if isinstance(value, dict) else None
                    put(slice_key, sub_key, name, number)
    for slice_key, plots in result.plots:
        for sub_keys in (plots or {}).values():  # None when there are no plots (regression)
            for sub_key, plot in sub_keys.items():
                matrices = plot.get("confusionMatrixAtThresholds", {}).get("matrices", [])
                at = min(
                    matrices, key=lambda m: abs(m.get("threshold", 0.0) - threshold), default={}
                )
                for name in ("precision", "recall"):
                    if name in at:
                        put(slice_key, sub_key, name, at[name])
    return out


def classification_plots(output_uri: str, model_name: str, task: Task):
    """(confusion matrix rows=actual cols=predicted, ROC points for the positive class or None)."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(output_uri, model_name=model_name)
    overall = next((plots for key, plots in result.plots if key == ()), {})
    n = task.num_classes
    matrix = [[0] * n for _ in range(n)]
    roc = None
    for sub_keys in overall.values():
        for sub_key, plots in sub_keys.items():
            multi = plots.get("multiClassConfusionMatrixAtThresholds")
            if multi:
                for entry in multi["matrices"][0].get("entries", []):
                    actual, predicted = (
                        entry.get("actualClassId", 0),
                        entry.get("predictedClassId", 0),
                    )
                    if 0 <= actual < n and 0 <= predicted < n:
                        matrix[actual][predicted] = int(entry.get("numWeightedExamples", 0))
            binary = plots.get("confusionMatrixAtThresholds")
            if binary and n == 2 and sub_key == "classId:1":
                roc = []
                for m in binary["matrices"]:
                    tp, fp = m.get("truePositives", 0), m.get("falsePositives", 0)
                    tn, fn = m.get("trueNegatives", 0), m.get("falseNegatives", 0)
                    fpr = fp / (fp + tn) if fp + tn else 0.0
                    tpr = tp / (tp + fn) if tp + fn else 0.0
                    roc.append((fpr, tpr, float(m.get("threshold", 0.0))))
    return matrix, roc


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


FAIRNESS_PREFIX = "fairness_indicators_metrics/"


def _is_diff(name: str) -> bool:
    return name.split("[")[0].endswith("_diff")


def _table(metrics: dict, keep) -> str:
    names = sorted({m for by_slice in metrics.values() for m in by_slice if keep(m)})
    if not names:
        return ""
    head = "".join(f"<th>{html.escape(n.removeprefix(FAIRNESS_PREFIX))}</th>" for n in names)
    rows = []
    for slice_name, values in sorted(metrics.items(), key=lambda kv: kv[0] != "overall"):
        cells = "".join(f"<td>{_cell(values.get(n))}</td>" for n in names)
        rows.append(f"<tr><th>{html.escape(slice_name)}</th>{cells}</tr>")
    return f"<table><tr><th>slice</th>{head}</tr>{''.join(rows)}</table>"


def report_html(metrics: dict, baseline: dict, blessing, task: Task) -> str:
    """Metrics by slice (rows) and metric (columns), fairness rates, the verdict and the
    champion comparison."""
    main = _table(metrics, lambda m: not _is_diff(m) and not m.startswith(FAIRNESS_PREFIX))
    fairness = _table(
        metrics,
        lambda m: (
            m.startswith(FAIRNESS_PREFIX)
            and not _is_diff(m)
            and ("false_positive_rate" in m or "false_negative_rate" in m)
        ),
    )
    if fairness:
        fairness = "<h2>Fairness: false positive and negative rates</h2>" + fairness
    comparison = ""
    if baseline:
        overall = metrics.get("overall", {})
        lines = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{_cell(overall.get(k))}</td><td>{_cell(v)}</td></tr>"
            for k, v in sorted(baseline.items())
            if not _is_diff(k) and not k.startswith(FAIRNESS_PREFIX)
        )
        comparison = (
            f"<h2>Against the champion</h2><table><tr><th>metric</th><th>candidate</th>"
            f"<th>champion</th></tr>{lines}</table>"
        )
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in blessing.reasons)
    colour = "#1b7f3b" if blessing.blessed else "#b00020"
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Evaluation</title><style>'
        "body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ddd;padding:3px 6px;font-size:12px;text-align:right}"
        "th{background:#f3f3f3}</style></head><body>"
        f"<h1>Evaluation ({html.escape(task.kind)} of {html.escape(task.label)})</h1>"
        f'<p style="color:{colour};font-weight:700">{blessing.marker}</p><ul>{reasons}</ul>'
        f"<h2>Metrics by slice</h2>{main}{fairness}{comparison}</body></html>"
    )
