"""Faster TFMA metrics for evaluate: the same values, less per-example work.

TFMA runs one combiner per metric computation, and each unpacks the labels and predictions
of every example again (`metric_util.to_label_prediction_example_weight`), once for every
slice the example is in and every class: on the eval split that, not the model, is most of
evaluate's time (docs/performance.md). So:

- calibration (total weighted predictions / total weighted labels, per class) and accuracy
  (argmax equals the label) have no combiner of their own: calibration is read off the
  calibration histogram AUC, ConfusionMatrixPlot and CalibrationPlot share (it keeps both
  sums per bucket), accuracy off the diagonal of the multi-class confusion matrix the
  report's matrix plot needs (at its threshold 0, predicted class = argmax). Exact.
- those two accumulators (the histogram and the multi-class matrix) are filled by TFMA's own
  combiners with a fast path for what evaluate feeds them (one model output, a class-index
  label, a probability vector, no example weights or class weights): the example's label
  and probability are read directly instead of through TFMA's general unpacking. Anything
  else takes TFMA's path unchanged.

They are TFMA metrics (EvalConfig `module` this file; the Fast* classes are TFMA's own with
the faster combiners: a class name TFMA knows would pick TFMA's class whatever the module
says), so EvalResult, the metric names and
TFMA's thresholds (the gate on accuracy) are what they were; tests/component/test_modeling.py
compares every metric of every slice with TFMA's own.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import (
    calibration_histogram,
    metric_types,
    metric_util,
    multi_class_confusion_matrix_metrics,
)

_HISTOGRAM = calibration_histogram._CalibrationHistogramCombiner
_MATRICES = multi_class_confusion_matrix_metrics._MultiClassConfusionMatrixCombiner


def _pick(value, key: str):
    """TFMA's optional lookup: value[key] when value is a mapping holding key, else value."""
    return value[key] if isinstance(value, dict) and key in value else value


def _simple(element, key, eval_config):
    """(class index of the label, probability vector) of one example for the model of `key`,
    found as TFMA finds them, or None when the example is not in the one shape the fast paths
    handle (then TFMA's own path runs)."""
    if key.output_name:
        return None
    specs = eval_config.model_specs if eval_config else []
    spec = next((s for s in specs if (s.name if len(specs) > 1 else "") == key.model_name), None)
    label_key, prediction_key = (spec.label_key, spec.prediction_key) if spec else ("", "")
    labels, predictions = element.get("labels"), element.get("predictions")
    if label_key:
        labels = _pick(labels, label_key)
    if key.model_name:
        if not isinstance(predictions, dict) or key.model_name not in predictions:
            return None
        labels, predictions = _pick(labels, key.model_name), predictions[key.model_name]
    if isinstance(predictions, dict):
        predictions = predictions.get(prediction_key) if prediction_key else None
    if not isinstance(labels, np.ndarray) or not isinstance(predictions, np.ndarray):
        return None
    if predictions.ndim != 1 or labels.size != 1 or not np.issubdtype(labels.dtype, np.integer):
        return None
    label = int(labels.reshape(-1)[0])
    return (label, predictions) if 0 <= label < predictions.size else None


class _FastHistogram(_HISTOGRAM):
    """TFMA's calibration histogram combiner; one class's (label, probability) read directly."""

    def add_input(self, accumulator, element):
        sub_key = self._key.sub_key
        simple = None
        if (
            sub_key is not None
            and sub_key.class_id is not None
            and sub_key.k is None
            and sub_key.top_k is None
            and not self._example_weighted
            and not self._class_weights
            and self._aggregation_type is None
            and self._prediction_based_bucketing
        ):
            simple = _simple(element, self._key, self._eval_config)
        if simple is None or sub_key.class_id >= simple[1].size:
            return super().add_input(accumulator, element)
        label = 1.0 if simple[0] == sub_key.class_id else 0.0
        prediction = float(simple[1][sub_key.class_id])
        index = self._bucket_index(prediction)
        bucket = accumulator.get(index)
        if bucket is None:
            accumulator[index] = calibration_histogram.Bucket(index, label, prediction, 1.0)
        else:
            bucket.weighted_labels += label
            bucket.weighted_predictions += prediction
            bucket.weighted_examples += 1.0
        return accumulator


class _FastMatrices(_MATRICES):
    """TFMA's multi-class confusion matrix combiner; the label and argmax read directly."""

    def add_input(self, accumulator, element):
        simple = None if self._example_weighted else _simple(element, self._key, self._eval_config)
        if simple is None:
            return super().add_input(accumulator, element)
        actual, predictions = simple
        predicted = int(np.argmax(predictions))
        for threshold in self._thresholds:
            matrix = accumulator.setdefault(threshold, {})
            if predictions[predicted] <= threshold:
                predicted = multi_class_confusion_matrix_metrics.NO_PREDICTED_CLASS_ID
            cell = multi_class_confusion_matrix_metrics.MatrixEntryKey(actual, predicted)
            matrix[cell] = matrix.get(cell, 0.0) + 1.0
        return accumulator


def _fast(computations):
    """`computations` with TFMA's histogram and matrix combiners swapped for the fast ones.
    Every metric swaps the same way, so TFMA still runs one combiner per histogram."""
    for computation in computations:
        combiner = getattr(computation, "combiner", None)
        for slow, fast in ((_HISTOGRAM, _FastHistogram), (_MATRICES, _FastMatrices)):
            if type(combiner) is slow:
                combiner.__class__ = fast
    return computations


class _FastCombiners:
    """Mixed into a TFMA metric: its computations, with the fast combiners swapped in."""

    def computations(self, *args, **kwargs):
        return _fast(super().computations(*args, **kwargs))


class FastAUC(_FastCombiners, tfma.metrics.AUC):
    pass


class FastConfusionMatrixPlot(_FastCombiners, tfma.metrics.ConfusionMatrixPlot):
    pass


class FastCalibrationPlot(_FastCombiners, tfma.metrics.CalibrationPlot):
    pass


class FastMultiClassConfusionMatrixPlot(_FastCombiners, tfma.metrics.MultiClassConfusionMatrixPlot):
    pass


def _calibration(
    name: str = "calibration",
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    sub_key=None,
    aggregation_type=None,
    class_weights=None,
    example_weighted: bool = False,
):
    key = metric_types.MetricKey(
        name=name,
        model_name=model_name,
        output_name=output_name,
        sub_key=sub_key,
        example_weighted=example_weighted,
    )
    # The same call (and so the same computation key) as ConfusionMatrixPlot's and AUC's.
    computations = calibration_histogram.calibration_histogram(
        eval_config=eval_config,
        model_name=model_name,
        output_name=output_name,
        sub_key=sub_key,
        aggregation_type=aggregation_type,
        class_weights=class_weights,
        example_weighted=example_weighted,
    )
    histogram = computations[-1].keys[-1]

    def result(metrics):
        buckets = metrics[histogram]
        labels = math.fsum(b.weighted_labels for b in buckets)
        predictions = math.fsum(b.weighted_predictions for b in buckets)
        return {key: float("nan") if math.isclose(labels, 0.0) else predictions / labels}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return _fast(computations)


class HistogramCalibration(metric_types.Metric):
    """TFMA's Calibration, from the shared calibration histogram."""

    def __init__(self, name: str = "calibration"):
        super().__init__(metric_util.merge_per_key_computations(_calibration), name=name)


def _accuracy(
    name: str = "accuracy",
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    example_weighted: bool = False,
):
    key = metric_types.MetricKey(
        name=name, model_name=model_name, output_name=output_name, example_weighted=example_weighted
    )
    # MultiClassConfusionMatrixPlot's own call: thresholds [0.0], the same computation key.
    computations = multi_class_confusion_matrix_metrics.multi_class_confusion_matrices(
        eval_config=eval_config,
        model_name=model_name,
        output_name=output_name,
        example_weighted=example_weighted,
    )
    matrices = computations[-1].keys[-1]

    def result(metrics):
        cells = metrics[matrices].get(0.0, {})
        total = math.fsum(cells.values())
        right = math.fsum(w for k, w in cells.items() if k.actual_class_id == k.predicted_class_id)
        return {key: float("nan") if total == 0 else right / total}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return _fast(computations)


class ConfusionMatrixAccuracy(metric_types.Metric):
    """Accuracy (argmax equals the label), from the multi-class confusion matrix."""

    def __init__(self, name: str = "accuracy"):
        super().__init__(metric_util.merge_per_key_computations(_accuracy), name=name)
