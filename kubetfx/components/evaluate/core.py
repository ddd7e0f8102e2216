"""Evaluator: TFMA over the eval split, sliced, with fairness metrics and the champion gate.

The candidate (and the champion, when the registry has one) are evaluated in one Beam
pipeline through their `serving_tf_example` signature, on the raw eval examples: exactly
what serving sees. The label is added to each example as `__label__` (class index or float
target) for TFMA to read.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import (
    METRICS_FILE,
    SCHEMA_FILE,
    SERVING_TF_EXAMPLE,
    Task,
    default_slices,
    examples_pattern,
    headline,
    load_schema,
    read_examples,
    read_task,
)
from kubetfx.components.evaluate import behavior
from kubetfx.components.evaluate import blessing as blessing_rules
from kubetfx.components.evaluate.config import EvaluateConfig, MetricThreshold
from kubetfx.errors import ConfigError, DataError

LABEL_KEY = "__label__"
CANDIDATE, BASELINE = "candidate", "baseline"
PROGRESS_EVERY = 20_000
FAIRNESS_MODULE = "fairness_indicators.fairness_indicators_metrics"
# TFMA's metrics with their accumulators filled faster, and two read off those accumulators
# (kubetfx/components/evaluate/metrics.py).
METRICS_MODULE = "kubetfx.components.evaluate.metrics"
# Metrics a threshold may name, per task: (TFMA class, its config, its module: "" for TFMA's).
THRESHOLD_METRICS = {
    "classification": {
        "accuracy": ("ConfusionMatrixAccuracy", {"name": "accuracy"}, METRICS_MODULE),
        "example_count": ("ExampleCount", {}, ""),
    },
    "regression": {
        "mean_squared_error": ("MeanSquaredError", {"name": "mean_squared_error"}, ""),
        "mean_absolute_error": ("MeanAbsoluteError", {"name": "mean_absolute_error"}, ""),
        "example_count": ("ExampleCount", {}, ""),
    },
}


def _add_thresholds(metric, spec, with_baseline: bool, tfma) -> None:
    """Gate on the overall slice only; slices are reported, not gated (small ones are noisy)."""
    if spec.lower is not None or spec.upper is not None:
        value = metric.per_slice_thresholds.add()
        value.slicing_specs.add()
        if spec.lower is not None:
            value.threshold.value_threshold.lower_bound.value = spec.lower
        if spec.upper is not None:
            value.threshold.value_threshold.upper_bound.value = spec.upper
    if spec.change and with_baseline:
        change = metric.per_slice_thresholds.add()
        change.slicing_specs.add()
        higher = spec.change == "higher_is_better"
        direction = tfma.MetricDirection
        change.threshold.change_threshold.direction = (
            direction.HIGHER_IS_BETTER if higher else direction.LOWER_IS_BETTER
        )
        # Inclusive in TFMA: "at least as good" passes when the change is exactly 0.
        change.threshold.change_threshold.absolute.value = (
            -spec.tolerance if higher else spec.tolerance
        )


def eval_config(task: Task, cfg: EvaluateConfig, slices: list[str], with_baseline: bool):
    """The TFMA EvalConfig: model specs, slices, metrics and thresholds from the config."""
    import tensorflow_model_analysis as tfma

    prediction_key = "probabilities" if task.is_classification else "predictions"
    models = [(CANDIDATE, False)] + ([(BASELINE, True)] if with_baseline else [])
    config = tfma.EvalConfig()
    # The model's own compiled metrics (loss...) are not reported, and computing them loads the
    # model once per combiner: with confidence intervals, 20 times over.
    config.options.include_default_metrics.value = False
    if cfg.confidence_intervals != "off":
        methods = tfma.ConfidenceIntervalOptions
        config.options.compute_confidence_intervals.value = True
        jackknife = cfg.confidence_intervals == "jackknife"
        config.options.confidence_intervals.method = (
            methods.JACKKNIFE if jackknife else methods.POISSON_BOOTSTRAP
        )
    for name, is_baseline in models:
        config.model_specs.add(
            name=name,
            signature_name=SERVING_TF_EXAMPLE,
            label_key=LABEL_KEY,
            prediction_key=prediction_key,
            is_baseline=is_baseline,
        )
    config.slicing_specs.add()  # overall
    for feature in sorted({*slices, *cfg.sensitive_features}):
        config.slicing_specs.add(feature_keys=[feature])
    allowed = THRESHOLD_METRICS[task.kind]
    unknown = sorted(set(cfg.thresholds) - set(allowed))
    if unknown:
        raise ConfigError(
            f"evaluate.thresholds: {unknown} cannot be thresholds for a {task.kind}; "
            f"use {sorted(allowed)}"
        )
    overall = config.metrics_specs.add()
    for name, (class_name, metric_config, module) in allowed.items():
        metric = overall.metrics.add(
            class_name=class_name, config=json.dumps(metric_config), module=module
        )
        if name in cfg.thresholds:
            _add_thresholds(metric, cfg.thresholds[name], with_baseline, tfma)
    if task.is_classification:
        # Also the accumulator accuracy is read from (its diagonal at threshold 0).
        overall.metrics.add(class_name="FastMultiClassConfusionMatrixPlot", module=METRICS_MODULE)
        per_class = config.metrics_specs.add()
        per_class.binarize.class_ids.values.extend(range(task.num_classes))
        # Precision and recall at the decision threshold are read from ConfusionMatrixPlot
        # (results.slice_metrics): it shares AUC's histogram, where Precision and Recall
        # metrics would add an exact per-example pass costing about a fifth of the step.
        # AUC on the plot's 1,000 thresholds (TFMA's default for AUC is 10,000): both read the
        # same 10,000-bucket histogram, and with the same thresholds they share one set of
        # confusion matrices, which confidence intervals recompute for every jackknife sample;
        # AUC moves by less than 1e-3 (Keras's own AUC uses 200).
        fast = {"module": METRICS_MODULE}  # TFMA's metrics, their accumulators filled faster
        per_class.metrics.add(
            class_name="FastAUC", config=json.dumps({"num_thresholds": 1000}), **fast
        )
        per_class.metrics.add(class_name="FastConfusionMatrixPlot", **fast)
        # TFMA's Calibration from the same histogram, not a per-example pass of its own.
        per_class.metrics.add(class_name="HistogramCalibration", module=METRICS_MODULE)
        # The report's calibration figure: 10 buckets of predicted probability per class.
        per_class.metrics.add(
            class_name="FastCalibrationPlot", config=json.dumps({"num_buckets": 10}), **fast
        )
        if cfg.sensitive_features:
            per_class.metrics.add(
                class_name="FairnessIndicators",
                module=FAIRNESS_MODULE,
                config=json.dumps({"thresholds": [cfg.decision_threshold]}),
            )
    else:
        overall.metrics.add(class_name="Calibration")
    return config


def extractors(models, config) -> list:
    """TFMA's default extractors, then one that drops what no metric reads once each example
    has its predictions and slice keys: its raw record, its parsed features and the model
    outputs other than the one evaluated (class_ids, classes). Each extract is copied once
    per slice it is in, and pickled whenever Beam moves it between stages (the jackknife's
    20 partitions, another worker)."""
    import apache_beam as beam
    import tensorflow_model_analysis as tfma

    outputs = {spec.name: spec.prediction_key for spec in config.model_specs}
    if len(outputs) == 1:  # TFMA keys a lone model's predictions by no name
        outputs = {"": next(iter(outputs.values()))}
    lean = beam.Map(_lean, (tfma.FEATURES_KEY, tfma.INPUT_KEY), tfma.PREDICTIONS_KEY, outputs)
    keep = tfma.default_extractors(eval_shared_model=models, eval_config=config)
    return [*keep, tfma.extractors.Extractor(stage_name="DropUnreadExtracts", ptransform=lean)]


def _lean(extracts: dict, drop: tuple[str, ...], predictions: str, outputs: dict) -> dict:
    lean = {k: v for k, v in extracts.items() if k not in drop}
    found = lean.get(predictions)
    if isinstance(found, dict):
        if "" in outputs:
            lean[predictions] = _only(found, outputs[""])
        else:
            lean[predictions] = {m: _only(found.get(m), outputs.get(m, "")) for m in found}
    return lean


def _only(outputs, key: str):
    """A model's outputs reduced to `key`; anything not a dict holding it, unchanged."""
    return {key: outputs[key]} if isinstance(outputs, dict) and key in outputs else outputs


def _label_adder(task: Task):
    """A function adding `__label__` to a serialized raw tf.Example (None: no label).

    It also prints progress to stderr every PROGRESS_EVERY examples a worker reads: TFMA
    runs at a few hundred examples a second per worker, so a large eval split takes minutes.
    """
    index = {name.encode(): i for i, name in enumerate(task.classes)}
    seen = [0]  # per worker: each Beam worker unpickles its own copy

    def add(serialized: bytes):
        import tensorflow as tf

        seen[0] += 1
        if seen[0] % PROGRESS_EVERY == 0:
            print(f"evaluate: {seen[0]:,} examples on this worker", file=sys.stderr, flush=True)
        example = tf.train.Example.FromString(serialized)
        feature = example.features.feature.get(task.label)
        kind = feature.WhichOneof("kind") if feature is not None else None
        values = getattr(feature, kind).value if kind else []
        if not values:
            return []
        raw = values[0]
        target = example.features.feature[LABEL_KEY]
        if task.is_classification:
            key = raw if isinstance(raw, bytes) else str(raw).encode()
            if key not in index:
                return []
            target.int64_list.value.append(index[key])
        else:
            target.float_list.value.append(float(raw))
        return [example.SerializeToString()]

    return add


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    blessing: blessing_rules.Blessing
    metrics: dict[str, dict[str, float]]  # slice name -> metric -> value (candidate)
    baseline_metrics: dict[str, float]  # overall metrics of the champion, if any
    baseline: str | None = None  # the champion's model directory, when there was one
    # Classification only: confusion matrix (rows actual, columns predicted) and ROC points
    # (fpr, tpr, threshold) of the positive class of a binary label.
    confusion_matrix: list[list[int]] | None = None
    classes: tuple[str, ...] = ()
    roc: list[tuple[float, float, float]] | None = None

    def headline_metrics(self) -> dict[str, float]:
        """What the Kubeflow UI's metrics table shows: the headline metrics of each slice."""
        return {
            name if slice_name == "overall" else f"{name} | {slice_name}": value
            for slice_name, values in self.metrics.items()
            for name, value in headline(values).items()
        }

    def blessing_metadata(self) -> dict:
        return {
            "blessed": self.blessing.blessed,
            "reasons": self.blessing.reasons,
            "baseline": self.baseline or "",
        }


def log_to(*, result: EvaluationResult, metrics, classification_metrics) -> None:
    """Log the result into the step's kfp Metrics and ClassificationMetrics artifacts."""
    for name, value in result.headline_metrics().items():
        metrics.log_metric(name, value)
    if result.confusion_matrix is not None:
        classification_metrics.log_confusion_matrix(list(result.classes), result.confusion_matrix)
    if result.roc:
        fpr, tpr, thresholds = (list(v) for v in zip(*result.roc, strict=True))
        classification_metrics.log_roc_curve(fpr, tpr, thresholds)


def run_from_artifacts(
    *,
    cfg: PipelineConfig,
    examples_uri: str,
    model_dir: str,
    graph_uri: str,
    schema_uri: str,
    champion_dir: str | None,
    output_uri: str,
    blessing_uri: str,
    report_path: str,
) -> EvaluationResult:
    """The evaluate step on its artifacts: the candidate against the champion (the registry's,
    imported by the pipeline; None before the first push)."""
    from kubetfx.components.step_process import skip_gc_at_exit

    skip_gc_at_exit()  # here, not in the wrapper: that is at its 30-line limit
    task = read_task(graph_uri)
    return run(
        examples_uri=examples_uri,
        model_dir=model_dir,
        baseline_dir=champion_dir,
        task=task,
        schema_path=fileio.join(schema_uri, SCHEMA_FILE),
        cfg=cfg.evaluate,
        beam_args=cfg.beam_args_for("evaluate", fileio.tree_size(examples_uri)),
        output_uri=output_uri,
        blessing_uri=blessing_uri,
        report_path=report_path,
    )


def run(
    *,
    examples_uri: str,
    model_dir: str,
    baseline_dir: str | None,
    task: Task,
    schema_path: str,
    cfg: EvaluateConfig,
    beam_args: list[str],
    output_uri: str,
    blessing_uri: str,
    report_path: str,
) -> EvaluationResult:
    """Evaluate, decide the blessing, write the marker, metrics.json and the HTML report."""
    import apache_beam as beam
    import tensorflow_model_analysis as tfma
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.public import tfxio

    from kubetfx.components.evaluate import report, results

    schema = load_schema(schema_path)
    slices = cfg.slices if cfg.slices is not None else default_slices(schema, task.label)
    gate = None
    if not cfg.thresholds:  # the default gate, turned into TFMA thresholds like any other
        gate = naive_gate(examples_uri, task, schema, cfg.naive_margin)
        cfg = cfg.model_copy(update={"thresholds": {gate.metric: gate_threshold(gate)}})
    config = eval_config(task, cfg, slices, with_baseline=baseline_dir is not None)
    models = [tfma.default_eval_shared_model(model_dir, eval_config=config, model_name=CANDIDATE)]
    if baseline_dir:
        models.append(
            tfma.default_eval_shared_model(baseline_dir, eval_config=config, model_name=BASELINE)
        )
    source = tfxio.TFExampleBeamRecord(
        physical_format="tfrecord",
        telemetry_descriptors=["kubetfx", "evaluate"],
        raw_record_column_name=tfma.ARROW_INPUT_COLUMN,
    )
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        _ = (
            pipeline
            | "Read"
            >> beam.io.ReadFromTFRecord(
                examples_pattern(examples_uri, "eval"),
                compression_type=beam.io.filesystem.CompressionTypes.GZIP,
            )
            | "AddLabel" >> beam.FlatMap(_label_adder(task))
            | "ToArrow" >> source.BeamSource()
            | "Evaluate"
            >> tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=models if baseline_dir else models[0],
                eval_config=config,
                output_path=output_uri,
                extractors=extractors(models if baseline_dir else models[0], config),
            )
        )
    try:
        validation = tfma.load_validation_result(output_uri)
    except Exception:  # any unreadable result fails closed (decide() says why)
        validation = None
    checks = (
        behavior.run_checks(
            model_dir, read_examples(examples_uri, "eval", cfg.behavior_rows), cfg, task.classes
        )
        if cfg.invariance or cfg.directional
        else ([], [])
    )
    at = cfg.decision_threshold
    found = results.slice_results(output_uri, candidate_key(baseline_dir), task.classes, at)
    metrics = found.values
    default_gate = (gate, metrics.get("overall", {}).get(gate.metric)) if gate else None
    decision = blessing_rules.decide(
        bool(cfg.thresholds), validation, baseline_dir, checks, default_gate
    )
    baseline_metrics = (
        results.slice_metrics(output_uri, BASELINE, task.classes, at).get("overall", {})
        if baseline_dir
        else {}
    )
    curves = (
        results.classification_curves(output_uri, candidate_key(baseline_dir), task)
        if task.is_classification
        else None
    )
    body = {
        "candidate": metrics,
        "baseline_overall": baseline_metrics,
        "intervals": found.intervals,
        "undefined": found.undefined,
    }
    fileio.write_text(
        fileio.join(output_uri, METRICS_FILE), json.dumps(body, indent=2, allow_nan=False)
    )
    fileio.write_text(
        fileio.join(blessing_uri, decision.marker), "\n".join(decision.reasons) + "\n"
    )
    fileio.write_text(fileio.join(blessing_uri, blessing_rules.RESULT_FILE), decision.to_json())
    page = report.render(
        found, baseline_metrics, decision, task, curves, intervals=cfg.confidence_intervals
    )
    fileio.write_text(report_path, page)
    return EvaluationResult(
        decision,
        metrics,
        baseline_metrics,
        baseline_dir,
        confusion_matrix=curves.matrix if curves else None,
        classes=task.classes if curves else (),
        roc=curves.binary_roc if curves else None,
    )


def gate_threshold(gate: blessing_rules.NaiveGate) -> MetricThreshold:
    """The default gate as a threshold: beat the naive predictor; against a champion, do not
    fall behind it by more than 1% (of accuracy, or of the naive squared error)."""
    if gate.higher_is_better:
        return MetricThreshold(lower=gate.required, change="higher_is_better", tolerance=0.01)
    return MetricThreshold(
        upper=gate.required, change="lower_is_better", tolerance=0.01 * gate.naive
    )


def naive_gate(examples_uri: str, task: Task, schema, margin: float) -> blessing_rules.NaiveGate:
    """The naive predictor's score on the eval split: one pass over the label column."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2

    kinds = {schema_pb2.INT: tf.int64, schema_pb2.FLOAT: tf.float32}
    dtype = next(
        (kinds.get(f.type, tf.string) for f in schema.feature if f.name == task.label), tf.string
    )
    spec = {task.label: tf.io.VarLenFeature(dtype)}
    files = fileio.glob(examples_pattern(examples_uri, "eval"))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192)
    # Counted batch by batch: memory stays flat however large the eval split.
    counts: dict[str, int] = {}
    known = set(task.classes)
    n, mean, m2 = 0, 0.0, 0.0  # count, mean and summed squared deviations, merged per batch
    for batch in records.map(lambda b: tf.io.parse_example(b, spec)):
        labels = batch[task.label].values.numpy()
        if task.is_classification:
            values, seen = np.unique(labels, return_counts=True)
            for value, count in zip(values.tolist(), seen.tolist(), strict=True):
                name = value.decode() if isinstance(value, bytes) else str(value)
                if name in known:
                    counts[name] = counts.get(name, 0) + count
        else:
            values = labels.astype(np.float64)
            if len(values):  # Chan et al.'s merge: no cancellation for large means
                b_mean = values.mean()
                delta, grown = b_mean - mean, n + len(values)
                m2 += ((values - b_mean) ** 2).sum() + delta**2 * n * len(values) / grown
                mean, n = mean + delta * len(values) / grown, grown
    if task.is_classification:
        return blessing_rules.classification_gate(counts, margin)
    if not n:
        raise DataError("evaluate: no labelled eval rows to compute the naive baseline on")
    return blessing_rules.regression_gate(mean, m2 / n, margin)


def candidate_key(baseline_dir: str | None) -> str:
    """TFMA keys a lone model's results by no name; with a baseline, by the model spec names."""
    return CANDIDATE if baseline_dir else ""
