"""Business rules of the modeling half, apart from TF: task, blessing, thresholds, registry."""

from __future__ import annotations

import os
import shutil

import pytest
from tensorflow_model_analysis.proto import validation_result_pb2

from kubetfx.components.config import EvaluateConfig, MetricThreshold, PipelineConfig, TrainConfig
from kubetfx.components.config_loader import load_config
from kubetfx.components.evaluate import blessing
from kubetfx.components.evaluate.core import eval_config
from kubetfx.components.registry import ModelRegistry
from kubetfx.components.transform.task import Task, resolve
from kubetfx.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("label_type", "values", "requested", "kind", "classes"),
    [
        ("string", ["Adelie", "Gentoo"], "auto", "classification", ("Adelie", "Gentoo")),
        ("int64", [0, 1], "auto", "classification", ("0", "1")),
        ("bool", [False, True], "auto", "classification", ("0", "1")),
        ("int64", list(range(500)), "auto", "regression", ()),
        ("int64", None, "auto", "regression", ()),
        ("double", None, "auto", "regression", ()),
        ("int64", [1, 2, 3], "regression", "regression", ()),
    ],
)
def test_task_inferred_from_the_label(label_type, values, requested, kind, classes):
    task = resolve(requested, "y", label_type, values, max_classes=20)
    assert (task.kind, task.classes) == (kind, classes)


@pytest.mark.parametrize(
    ("label_type", "values", "requested", "message"),
    [
        ("double", None, "classification", "needs a string or integer label"),
        ("string", ["a", "b"], "regression", "needs a numeric label"),
        ("int64", list(range(50)), "classification", "more than 20 distinct values"),
        ("string", ["only"], "auto", "fewer than 2 classes"),
    ],
)
def test_impossible_tasks_name_the_field(label_type, values, requested, message):
    with pytest.raises(ConfigError, match=message):
        resolve(requested, "y", label_type, values, max_classes=20)


@pytest.mark.parametrize(
    ("values", "classes", "expected"),
    [([1, 0], ("0", "1"), [1, -1, 0]), ([b"Gentoo", b"Adelie"], ("Adelie", "Gentoo"), [1, -1, 0])],
)
def test_class_labels_are_encoded_and_a_missing_label_stays_missing(values, classes, expected):
    """An integer label (a generated dataset's `churned`) is looked up by its text like a
    string one; a row without a label maps to -1, which training drops."""
    import tensorflow as tf

    raw = tf.sparse.SparseTensor([[0, 0], [2, 0]], tf.constant(values), [3, 1])
    encoded = Task("classification", "label", classes).encode_label(raw)
    assert encoded.numpy().tolist() == expected


def test_tpu_batch_size_must_be_a_multiple_of_8():
    with pytest.raises(ValueError, match="multiple of 8"):
        TrainConfig(strategy="tpu", batch_size=30)
    assert TrainConfig(strategy="tpu", batch_size=64).batch_size == 64
    with pytest.raises(ValueError, match="for TPUs"):
        TrainConfig(strategy="mirrored", mixed_precision="mixed_bfloat16")


def _validation(ok: bool, failed_metric: str | None = None, is_diff: bool = False):
    result = validation_result_pb2.ValidationResult(validation_ok=ok)
    if failed_metric:
        per_slice = result.metric_validations_per_slice.add()
        failure = per_slice.failures.add(message="lower_bound 0.9")
        failure.metric_key.name = failed_metric
        failure.metric_key.is_diff = is_diff
        failure.metric_value.double_value.value = 0.42
    return result


def test_blessing_fails_closed():
    assert not blessing.decide(False, _validation(True), None).blessed
    assert "no thresholds" in blessing.decide(False, _validation(True), None).reasons[0]
    assert not blessing.decide(True, None, None).blessed
    assert not blessing.decide(True, _validation(False), None).blessed


def test_blessing_names_each_failed_threshold():
    verdict = blessing.decide(True, _validation(False, "accuracy", is_diff=True), "/reg/1")
    assert not verdict.blessed
    assert verdict.reasons == [
        "change of accuracy vs champion on overall = 0.4200 fails lower_bound 0.9"
    ]
    assert verdict.baseline == "/reg/1"
    assert blessing.Blessing.from_json(verdict.to_json()) == verdict


def test_blessing_when_every_threshold_holds():
    first = blessing.decide(True, _validation(True), None)
    assert first.blessed and "value thresholds only" in first.reasons[0]
    assert "champion /reg/1" in blessing.decide(True, _validation(True), "/reg/1").reasons[0]


def test_a_failed_behavioral_check_withholds_the_blessing():
    checks = (["year set to each of [2007, 2008] leaves 100% unchanged"], ["flipper moved 40%"])
    verdict = blessing.decide(True, _validation(True), None, checks)
    assert not verdict.blessed and verdict.reasons == ["behavior: flipper moved 40%"]
    passed = blessing.decide(True, _validation(True), None, (checks[0], []))
    assert passed.blessed and passed.reasons[1].startswith("behavior: year set")


def test_eval_config_gates_overall_and_compares_only_with_a_champion():
    task = Task("classification", "species", ("a", "b", "c"))
    cfg = EvaluateConfig(
        thresholds={
            "accuracy": MetricThreshold(lower=0.9, change="higher_is_better", tolerance=0.01)
        },
        sensitive_features=["sex"],
    )
    alone = eval_config(task, cfg, ["island"], with_baseline=False)
    assert [m.name for m in alone.model_specs] == ["candidate"]
    accuracy = next(m for m in alone.metrics_specs[0].metrics if "accuracy" in m.config)
    assert len(accuracy.per_slice_thresholds) == 1  # value threshold only
    paired = eval_config(task, cfg, ["island"], with_baseline=True)
    assert [m.is_baseline for m in paired.model_specs] == [False, True]
    accuracy = next(m for m in paired.metrics_specs[0].metrics if "accuracy" in m.config)
    change = accuracy.per_slice_thresholds[1].threshold.change_threshold
    assert change.absolute.value == pytest.approx(-0.01)
    assert [list(s.feature_keys) for s in paired.slicing_specs] == [[], ["island"], ["sex"]]
    assert any(m.class_name == "FairnessIndicators" for m in paired.metrics_specs[1].metrics)


def test_unknown_threshold_metric_is_a_config_error():
    task = Task("regression", "y")
    cfg = EvaluateConfig(thresholds={"accuracy": MetricThreshold(lower=0.9)})
    with pytest.raises(
        ConfigError, match=r"evaluate.thresholds: \['accuracy'\].*mean_squared_error"
    ):
        eval_config(task, cfg, [], with_baseline=False)


def test_penguins_gate_comes_from_its_default_file_and_not_to_own_data():
    penguins = load_config(None)
    assert penguins.evaluate.thresholds["accuracy"].lower == 0.9
    assert penguins.evaluate.sensitive_features == ["sex"]
    assert [c.feature for c in penguins.evaluate.directional] == ["flipper_length_mm"]
    # A key the user sets replaces the file's; the others stay.
    mine = load_config(None, {"evaluate.sensitive_features": ["island"]})
    assert mine.evaluate.sensitive_features == ["island"]
    assert mine.evaluate.thresholds == penguins.evaluate.thresholds
    own = load_config(None, {"data.path": "x.csv", "data.label": "y"})
    assert own.evaluate.thresholds == {} and own.evaluate.invariance == []
    assert own.push.model_name == "x"
    # A bare PipelineConfig is the code's defaults only: no dataset's settings inside.
    assert PipelineConfig().evaluate.thresholds == {}


def _fake_model(path) -> str:
    os.makedirs(os.path.join(path, "variables"))
    for name in ("saved_model.pb", "variables/variables.index", "variables/variables.data"):
        with open(os.path.join(path, name), "w") as f:
            f.write(name)
    return str(path)


def test_registry_push_versions_and_champion(tmp_path):
    registry = ModelRegistry(str(tmp_path / "reg"), "m")
    assert registry.versions() == [] and registry.champion() is None
    model = _fake_model(tmp_path / "model")
    first = registry.push(model, {"run": "r1"})
    second = registry.push(model, {"run": "r2"})
    assert registry.versions() == [first, second] and second > first
    assert registry.champion()["version"] == second
    assert registry.metadata(first)["run"] == "r1"
    assert sorted(os.listdir(registry.version_dir(first))) == ["saved_model.pb", "variables"]
    registry.set_champion(first)  # rollback
    assert registry.champion_path() == registry.version_dir(first)


def test_an_interrupted_push_leaves_nothing_a_reader_would_load(tmp_path, monkeypatch):
    registry = ModelRegistry(str(tmp_path / "reg"), "m")
    model = _fake_model(tmp_path / "model")
    good = registry.push(model, {"run": "good"})
    before = (registry.versions(), registry.champion())

    copied = []
    real_copy = shutil.copyfile

    def dying_copy(src, dst, *args, **kwargs):
        if copied:  # the first file lands, then the machine "dies"
            raise KeyboardInterrupt("killed mid-copy")
        copied.append(dst)
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", dying_copy)
    with pytest.raises(KeyboardInterrupt):
        registry.push(model, {"run": "interrupted"})
    assert copied  # the copy had started
    assert (registry.versions(), registry.champion()) == before
    numeric = [d for d in os.listdir(registry.directory) if d.isdigit()]
    assert numeric == [str(good)]  # the half copy sits under a name TF Serving ignores


def _found():
    from kubetfx.components.evaluate.results import SliceMetrics

    found = SliceMetrics()
    found.put("overall", "accuracy", 0.95, [0.9, 0.99])
    found.put("overall", "example_count", 108.0)
    found.put("overall", "auc_diff[a]", 0.01)
    found.put("overall", "fairness_indicators_metrics/false_positive_rate@0.5[a]", 0.1)
    found.put("sex=male", "accuracy", 1.0, [1.0, 1.0])  # a resampling interval of one point
    found.put("sex=male", "example_count", 15.0)
    found.put("sex=male", "auc[a]", None, None, "no a in this slice")
    return found


def test_evaluation_report_separates_metrics_diffs_and_fairness():
    from kubetfx.components.evaluate import report

    page = report.render(
        _found(),
        {"accuracy": 0.93},
        blessing.Blessing(True, ["ok"]),
        Task("classification", "y", ("a", "b")),
        None,
        intervals="jackknife",
    )
    main, fairness = page.split("Fairness", 1)
    assert "<th>accuracy</th>" in main and "auc_diff" not in page
    assert "false_positive_rate@0.5[a]" in fairness
    assert "<td>0.95</td><td>0.93</td>" in page  # candidate beside the champion
    assert "<script" not in page and "http:" not in page.replace("http://www.w3.org/2000/svg", "")


def test_undefined_metrics_are_blank_with_the_reason_never_zero():
    from kubetfx.components.evaluate import report, results

    # TFMA's confusion matrix of class "b" on a slice holding only "a": no positive, none
    # predicted. AUC, recall and calibration are undefined there, and so is precision.
    reasons = results._undefined_reasons(
        {"truePositives": 0, "falsePositives": 0, "trueNegatives": 15, "falseNegatives": 0}, "b"
    )
    assert reasons["auc"] == reasons["recall"] == "no b in this slice"
    assert "predicted b for no row" in reasons["precision"]
    only = results._undefined_reasons({"truePositives": 15, "trueNegatives": 0}, "a")
    assert only == {"auc": "only a in this slice"}
    assert results._value_and_interval({"boundedValue": {"value": "NaN"}}) == (None, None)
    found = _found()
    assert "auc[a]" not in found.values["sex=male"]  # missing for every reader of metrics.json
    page = report.render(
        found, {}, blessing.Blessing(True, ["ok"]), Task("classification", "y", ("a", "b")),
        None, intervals="jackknife",
    )  # fmt: skip
    assert "sex=male, auc[a]: no a in this slice" in page
    assert 'id="slices-accuracy"' in page and 'class="ci"' in page and "n=15" in page
    # 15 of 15 right: the one-point interval gives way to Wilson's, 0.80..1.
    assert report.wilson(15, 15) == pytest.approx([0.796, 1.0], abs=1e-3)
    assert "[0.796, 1.000]" in page


def test_default_gate_is_the_naive_predictor_improved_by_the_margin():
    gate = blessing.classification_gate({"no": 60, "yes": 40}, margin=0.05)
    assert gate.predictor == "always 'no'" and gate.naive == pytest.approx(0.6)
    assert gate.required == pytest.approx(1 - 0.4 * 0.95)  # the error rate cut by 5%
    assert gate.held(0.62) and not gate.held(0.61)
    mse = blessing.regression_gate(mean=10.0, mean_squared_error=4.0, margin=0.1)
    assert mse.required == pytest.approx(3.6) and mse.held(3.6) and not mse.held(3.7)
    assert not mse.higher_is_better and mse.predictor == "always 10"
    with pytest.raises(DataError, match="no labelled eval rows"):
        blessing.classification_gate({}, 0.05)


def test_default_gate_blesses_with_both_numbers_in_the_reason():
    gate = blessing.classification_gate({"a": 50, "b": 30, "c": 20}, margin=0.05)
    verdict = blessing.decide(False, _validation(True), None, default_gate=(gate, 0.97))
    assert verdict.blessed and verdict.gate == "default"
    assert verdict.reasons[0].startswith("default gate held (evaluate.thresholds is empty)")
    assert "0.9700" in verdict.reasons[0] and "0.5000" in verdict.reasons[0]
    assert blessing.Blessing.from_json(verdict.to_json()) == verdict


def test_default_gate_still_fails_closed():
    gate = blessing.classification_gate({"a": 50, "b": 50}, margin=0.05)
    below = blessing.decide(False, _validation(True), None, default_gate=(gate, 0.51))
    assert not below.blessed and below.reasons[0].startswith("default gate failed")
    missing = blessing.decide(False, _validation(True), None, default_gate=(gate, None))
    assert not missing.blessed and "not computed" in missing.reasons[0]
    assert not blessing.decide(False, None, None, default_gate=(gate, 0.99)).blessed
    champion = blessing.decide(
        False, _validation(False, "accuracy", is_diff=True), "/reg/1", default_gate=(gate, 0.9)
    )
    assert not champion.blessed and "change of accuracy vs champion" in champion.reasons[1]


def test_the_default_gate_becomes_tfma_thresholds():
    from kubetfx.components.evaluate.core import gate_threshold

    accuracy = gate_threshold(blessing.classification_gate({"a": 3, "b": 1}, 0.05))
    assert accuracy.lower == pytest.approx(1 - 0.25 * 0.95) and accuracy.upper is None
    assert (accuracy.change, accuracy.tolerance) == ("higher_is_better", 0.01)
    mse = gate_threshold(blessing.regression_gate(0.0, 2.0, 0.05))
    assert mse.upper == pytest.approx(1.9) and mse.change == "lower_is_better"
    assert mse.tolerance == pytest.approx(0.02)
