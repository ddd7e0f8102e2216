"""Reading TFMA's output into plain dicts: metrics per slice with their confidence intervals
and what is undefined where, and the curves the report draws.

Undefined is not zero. TFMA answers 0 for the AUC of a class a slice does not hold (or holds
only), and a precision of 1 where the model predicted the class for no row; those values are
dropped and named under "undefined" with the reason, as are NaNs, so every reader (blessing,
summary, registry metadata, `kubetfx runs compare`) sees them missing, never as a number.
"""

from __future__ import annotations

import dataclasses
import math

from kubetfx.components.contracts import Task

MAX_POINTS = 200  # per curve: enough for a 420 px figure


def _slice_name(slice_key) -> str:
    return ", ".join(f"{k}={v}" for k, v in slice_key) or "overall"


def _class_index(sub_key: str) -> int | None:
    kind, _, index = sub_key.partition(":")
    return int(index) if kind == "classId" and index.isdigit() else None


def _class_suffix(sub_key: str, classes: tuple[str, ...]) -> str:
    if not sub_key:
        return ""
    index = _class_index(sub_key)
    if index is not None and index < len(classes):
        return f"[{classes[index]}]"
    return f"[{sub_key}]"


def _number(raw) -> float | None:
    """A finite float, or None (NaN, 'NaN' as TFMA writes it in a bounded value, missing)."""
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _value_and_interval(value) -> tuple[float | None, list[float] | None]:
    """TFMA's metric value: {'doubleValue': v}, or with confidence intervals on
    {'boundedValue': {'value', 'lowerBound', 'upperBound'}}."""
    if not isinstance(value, dict):
        return None, None
    if "boundedValue" in value:
        bounded = value["boundedValue"]
        low, high = _number(bounded.get("lowerBound")), _number(bounded.get("upperBound"))
        interval = [low, high] if low is not None and high is not None else None
        return _number(bounded.get("value")), interval
    return _number(value.get("doubleValue")), None


@dataclasses.dataclass
class SliceMetrics:
    """One model's metrics: {slice: {metric[class]: value}}, the 95% interval of each where
    TFMA computed one, and {slice: {metric: why it is undefined}}."""

    values: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    intervals: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)
    undefined: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def put(self, slice_name: str, name: str, value, interval=None, why: str = "") -> None:
        values = self.values.setdefault(slice_name, {})
        if value is None or why:
            values.pop(name, None)
            self.intervals.get(slice_name, {}).pop(name, None)
            why = why or "undefined on this slice (not a number)"
            self.undefined.setdefault(slice_name, {})[name] = why
            return
        values[name] = float(value)
        self.undefined.get(slice_name, {}).pop(name, None)
        if interval:
            self.intervals.setdefault(slice_name, {})[name] = interval


def _counts(matrix: dict) -> tuple[float, float, float, float]:
    keys = ("truePositives", "falsePositives", "trueNegatives", "falseNegatives")
    return tuple(float(matrix.get(k, 0.0)) for k in keys)


def _undefined_reasons(matrix: dict, name: str) -> dict[str, str]:
    """Per-class metrics a binarized confusion matrix (one class against the rest, at the
    decision threshold) shows to be undefined on its slice, with the reason."""
    tp, fp, tn, fn = _counts(matrix)
    reasons = {}
    if tp + fn == 0:
        for metric in ("auc", "recall", "calibration"):
            reasons[metric] = f"no {name} in this slice"
    elif fp + tn == 0:
        reasons["auc"] = f"only {name} in this slice"
    if tp + fp == 0:
        reasons["precision"] = f"the model predicted {name} for no row of this slice"
    return reasons


def _nearest(matrices: list[dict], threshold: float) -> dict:
    return min(matrices, key=lambda m: abs(m.get("threshold", 0.0) - threshold), default={})


def slice_results(
    output_uri: str, model_name: str, classes: tuple[str, ...], threshold: float
) -> SliceMetrics:
    """Every slice's metrics for one model. Per class, precision and recall at `threshold`
    come from the ConfusionMatrixPlot, which also tells which metrics are undefined."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(output_uri, model_name=model_name)
    out = SliceMetrics()
    for slice_key, outputs in result.slicing_metrics:
        name = _slice_name(slice_key)
        out.values.setdefault(name, {})
        for sub_keys in outputs.values():
            for sub_key, metrics in sub_keys.items():
                suffix = _class_suffix(sub_key, classes)
                for metric, value in metrics.items():
                    number, interval = _value_and_interval(value)
                    if metric.startswith("__"):  # TFMA's note on a slice it gave up on
                        out.undefined.setdefault(name, {})["all metrics"] = str(value)[:300]
                        continue
                    out.put(name, metric + suffix, number, interval)
    for slice_key, plots in result.plots:
        name = _slice_name(slice_key)
        for sub_keys in (plots or {}).values():  # None when there are no plots (regression)
            for sub_key, plot in sub_keys.items():
                matrices = plot.get("confusionMatrixAtThresholds", {}).get("matrices", [])
                if not matrices:
                    continue
                at = _nearest(matrices, threshold)
                suffix = _class_suffix(sub_key, classes)
                reasons = _undefined_reasons(at, suffix.strip("[]"))
                for metric in ("precision", "recall"):
                    out.put(
                        name,
                        metric + suffix,
                        _number(at.get(metric)),
                        None,
                        reasons.get(metric, ""),
                    )
                for metric in ("auc", "calibration"):
                    if metric in reasons:
                        out.put(name, metric + suffix, None, None, reasons[metric])
    return out


def slice_metrics(
    output_uri: str, model_name: str, classes: tuple[str, ...], threshold: float
) -> dict:
    """{slice: {metric[class]: value}} for one model; undefined values left out."""
    return slice_results(output_uri, model_name, classes, threshold).values


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    points = sorted(set(points))
    step = max(1, math.ceil(len(points) / MAX_POINTS))
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


@dataclasses.dataclass
class Curves:
    """What the report draws for a classification (overall slice): the confusion matrix
    (rows actual, columns predicted), and per class ROC, precision-recall and calibration
    points; a class whose curve is undefined (absent, or the only class) has a note instead."""

    matrix: list[list[int]]
    roc: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    pr: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    calibration: dict[str, list[tuple[float, float, float]]] = dataclasses.field(
        default_factory=dict
    )
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    binary_roc: list[tuple[float, float, float]] | None = None  # (fpr, tpr, threshold)


def _curves_of(name: str, matrices: list[dict], curves: Curves) -> list:
    roc, pr, with_threshold = [], [], []
    for m in matrices:
        tp, fp, tn, fn = _counts(m)
        if tp + fn == 0 or fp + tn == 0:
            curves.notes[name] = (
                f"no {name} in the eval split"
                if tp + fn == 0
                else (f"only {name} in the eval split")
            )
            return []
        fpr, tpr = fp / (fp + tn), tp / (tp + fn)
        roc.append((fpr, tpr))
        with_threshold.append((fpr, tpr, float(m.get("threshold", 0.0))))
        if tp + fp:
            pr.append((tpr, tp / (tp + fp)))
    curves.roc[name], curves.pr[name] = _thin(roc), _thin(pr)
    return with_threshold


def classification_curves(output_uri: str, model_name: str, task: Task) -> Curves:
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(output_uri, model_name=model_name)
    overall = next((plots for key, plots in result.plots if key == ()), {}) or {}
    n = task.num_classes
    curves = Curves([[0] * n for _ in range(n)])
    for sub_keys in overall.values():
        for sub_key, plots in sub_keys.items():
            multi = plots.get("multiClassConfusionMatrixAtThresholds")
            if multi:
                for entry in multi["matrices"][0].get("entries", []):
                    actual = entry.get("actualClassId", 0)
                    predicted = entry.get("predictedClassId", 0)
                    if 0 <= actual < n and 0 <= predicted < n:
                        curves.matrix[actual][predicted] = int(entry.get("numWeightedExamples", 0))
            index = _class_index(sub_key)
            if index is None or index >= n:
                continue
            name = task.classes[index]
            matrices = plots.get("confusionMatrixAtThresholds", {}).get("matrices", [])
            roc = _curves_of(name, matrices, curves) if matrices else []
            if n == 2 and index == 1 and roc:
                curves.binary_roc = roc
            buckets = plots.get("calibrationHistogramBuckets", {}).get("buckets", [])
            points = [
                (
                    b.get("totalWeightedRefinedPrediction", 0.0) / count,
                    b.get("totalWeightedLabel", 0.0) / count,
                    count,
                )
                for b in buckets
                if (count := float(b.get("numWeightedExamples", 0.0))) > 0
            ]
            if points:
                curves.calibration[name] = points
    return curves


def classification_plots(output_uri: str, model_name: str, task: Task):
    """(confusion matrix rows=actual cols=predicted, ROC points for the positive class or None):
    what the Kubeflow UI's ClassificationMetrics shows."""
    curves = classification_curves(output_uri, model_name, task)
    return curves.matrix, curves.binary_roc
