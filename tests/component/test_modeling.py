"""transform, train, evaluate and push cores on the real penguins data."""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from kubetfx.components.config import (
    EvaluateConfig,
    PipelineConfig,
)
from kubetfx.components.contracts import read_examples
from kubetfx.components.evaluate import behavior
from kubetfx.components.evaluate import core as evaluate
from kubetfx.components.infra_validate import core as infra_validate
from kubetfx.components.ingest import core as ingest
from kubetfx.components.push import core as push
from kubetfx.components.registry import ModelRegistry
from kubetfx.components.schema import core as schema
from kubetfx.components.train import core as train
from kubetfx.components.train.export import SERVING_DEFAULT, SERVING_TF_EXAMPLE
from kubetfx.components.transform import core as transform
from tests.conftest import FAST_BEAM
from tests.modeling import prepare as _prepare
from tests.modeling import train as _train

SPLITS = ["train", "eval"]


def _evaluate(cfg, paths, model_dir, baseline, out):
    # Intervals multiply TFMA's work about 5x: tests/component/test_reports.py runs them.
    ev = cfg.evaluate.model_copy(update={"confidence_intervals": "off"})
    return evaluate.run(
        examples_uri=paths["examples"],
        model_dir=model_dir,
        baseline_dir=baseline,
        task=transform.read_task(paths["graph"]),
        schema_path=os.path.join(paths["schema"], schema.SCHEMA_FILE),
        cfg=ev,
        beam_args=FAST_BEAM,
        output_uri=str(out / "evaluation"),
        blessing_uri=str(out / "blessing"),
        report_path=str(out / "report.html"),
    )


def _raw_eval_examples(paths) -> list[bytes]:
    files = glob.glob(os.path.join(paths["examples"], "Split-eval", "*.gz"))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_transform_writes_graph_task_and_every_split(penguins):
    _, paths = penguins
    task = transform.read_task(paths["graph"])
    assert task.kind == "classification"
    assert task.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert transform.read_rows(paths["transformed"]) == ingest.read_metadata(paths["examples"]).rows
    for split in SPLITS:
        assert glob.glob(f"{paths['transformed']}/Split-{split}/transformed_examples*.gz")
    assert os.path.isdir(os.path.join(paths["graph"], "transform_fn"))


def test_no_training_serving_skew(penguins):
    """serving_default on raw features == the Keras model on Beam-transformed features ==
    serving_tf_example on the serialized examples."""
    import tensorflow_transform as tft
    import tf_keras as keras

    _, paths = penguins
    serialized = _raw_eval_examples(paths)
    no_flipper = tf.train.Example.FromString(serialized[0])
    del no_flipper.features.feature["flipper_length_mm"]  # a missing int
    serialized.append(no_flipper.SerializeToString())
    model = tf.saved_model.load(paths["model"])
    from_examples = model.signatures[SERVING_TF_EXAMPLE](examples=tf.constant(serialized))
    # Every row, missing values included: NaN / '' mean missing, for ints too.
    rows = behavior.raw_rows(serialized, model.signatures[SERVING_DEFAULT])
    inputs = model.signatures[SERVING_DEFAULT].structured_input_signature[1]
    from_raw = model.signatures[SERVING_DEFAULT](
        **{k: tf.constant(v, dtype=inputs[k].dtype) for k, v in rows.items()}
    )
    assert np.isnan(rows["flipper_length_mm"][-1])
    np.testing.assert_allclose(
        from_raw["probabilities"].numpy(), from_examples["probabilities"].numpy(), atol=1e-6
    )
    # The model on what tf.Transform's Beam job wrote for the same eval split.
    spec = tft.TFTransformOutput(paths["graph"]).transformed_feature_spec()
    files = glob.glob(f"{paths['transformed']}/Split-eval/*.gz")
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    features = tf.io.parse_example(records, spec)
    features.pop("species")
    keras_model = keras.models.load_model(paths["model"])
    from_beam = keras_model(features).numpy()
    everything = model.signatures[SERVING_TF_EXAMPLE](
        examples=tf.constant(_raw_eval_examples(paths))
    )
    # Same rows, possibly another order: compare the sorted predictions.
    np.testing.assert_allclose(
        np.sort(from_beam, axis=0), np.sort(everything["probabilities"].numpy(), axis=0), atol=1e-5
    )


def test_determinism_same_seed_same_metrics(penguins):
    cfg, paths = penguins
    quick = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 5})})
    first = _train(quick, paths, "det-a")
    second = _train(quick, paths, "det-b")
    examples = tf.constant(_raw_eval_examples(paths))
    a = tf.saved_model.load(first).signatures[SERVING_TF_EXAMPLE](examples=examples)
    b = tf.saved_model.load(second).signatures[SERVING_TF_EXAMPLE](examples=examples)
    np.testing.assert_allclose(a["probabilities"].numpy(), b["probabilities"].numpy(), atol=1e-5)


def test_behavior_invariance_and_direction(penguins):
    cfg, paths = penguins
    model = tf.saved_model.load(paths["model"])
    rows = behavior.raw_rows(_raw_eval_examples(paths), model.signatures[SERVING_DEFAULT])
    classes = transform.read_task(paths["graph"]).classes
    for check in cfg.evaluate.invariance:
        assert behavior.invariance(model, rows, check) >= check.min_agreement, check
    for check in cfg.evaluate.directional:
        assert behavior.directional(model, rows, check, classes) >= check.min_fraction, check
    # The test can fail: a feature that matters is not invariant.
    from kubetfx.components.config import InvarianceCheck

    assert (
        behavior.invariance(
            model, rows, InvarianceCheck(feature="bill_length_mm", values=[35.0, 55.0])
        )
        < 0.8
    )


def test_blessed_first_then_a_worse_model_is_gated(penguins, tmp_path):
    cfg, paths = penguins
    first = _evaluate(cfg, paths, paths["model"], None, tmp_path / "first")
    assert first.blessing.blessed, first.blessing.reasons
    # The configured behavioral checks ran on the eval split and are part of the blessing.
    behavior_reasons = [r for r in first.blessing.reasons if r.startswith("behavior: ")]
    assert len(behavior_reasons) == 2 and "year set to each of" in behavior_reasons[0]
    assert first.metrics["overall"]["accuracy"] >= 0.9
    assert {"island=Biscoe", "sex=male"} <= set(first.metrics)
    assert any(
        k.startswith("fairness_indicators_metrics/false_positive_rate")
        for k in first.metrics["sex=female"]
    )
    assert (tmp_path / "first" / "blessing" / "BLESSED").exists()
    assert "<table" in (tmp_path / "first" / "report.html").read_text()

    registry = ModelRegistry(str(tmp_path / "registry"), "penguins")
    infra = str(tmp_path / "infra")  # infra validation itself: test_infra_validate.py
    infra_validate.write_blessing(infra_validate.InfraResult(True, ["answers match"]), infra)
    pushed = push.run(
        model_dir=paths["model"],
        blessing_uri=str(tmp_path / "first" / "blessing"),
        infra_blessing_uri=infra,
        registry=registry,
        metadata={"run": "good"},
    )
    assert pushed.pushed and registry.champion()["version"] == pushed.version

    untrained_cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 0})})
    worse = _train(untrained_cfg, paths, "untrained")
    second = _evaluate(cfg, paths, worse, registry.champion_path(), tmp_path / "second")
    assert not second.blessing.blessed
    assert any("accuracy" in reason for reason in second.blessing.reasons)
    assert second.baseline_metrics["accuracy"] >= 0.9
    assert (tmp_path / "second" / "blessing" / "NOT_BLESSED").exists()
    before = (registry.versions(), registry.champion())
    refused = push.run(
        model_dir=worse,
        blessing_uri=str(tmp_path / "second" / "blessing"),
        infra_blessing_uri=infra,
        registry=registry,
        metadata={"run": "worse"},
    )
    assert not refused.pushed and "not blessed" in refused.reason
    assert (registry.versions(), registry.champion()) == before


def test_precision_and_recall_per_class_equal_a_direct_count(penguins, tmp_path):
    """They are read from the confusion-matrix plot at evaluate.decision_threshold."""
    cfg, paths = penguins
    at = 0.7
    cfg = cfg.model_copy(
        update={"evaluate": cfg.evaluate.model_copy(update={"decision_threshold": at})}
    )
    result = _evaluate(cfg, paths, paths["model"], None, tmp_path)
    serialized = _raw_eval_examples(paths)
    model = tf.saved_model.load(paths["model"])
    probs = model.signatures[SERVING_TF_EXAMPLE](examples=tf.constant(serialized))
    probs = probs["probabilities"].numpy()
    classes = transform.read_task(paths["graph"]).classes
    labels = [
        tf.train.Example.FromString(e).features.feature["species"].bytes_list.value[0].decode()
        for e in serialized
    ]
    overall = result.metrics["overall"]
    for k, name in enumerate(classes):
        predicted, actual = probs[:, k] > at, np.array(labels) == name
        true_positives = (predicted & actual).sum()
        assert overall[f"precision[{name}]"] == pytest.approx(true_positives / predicted.sum())
        assert overall[f"recall[{name}]"] == pytest.approx(true_positives / actual.sum())
    assert "precision[Adelie]" in result.metrics["island=Biscoe"]


def test_behavior_checks_read_at_most_behavior_rows(penguins):
    _, paths = penguins
    everything = len(_raw_eval_examples(paths))
    assert len(read_examples(paths["examples"], "eval", 5)) == 5
    assert len(read_examples(paths["examples"], "eval", 10**6)) == everything > 5


def test_no_thresholds_means_the_default_gate(penguins, tmp_path):
    """Without evaluate.thresholds the candidate must beat always-the-majority-class on the
    same eval split; the reason carries both numbers."""
    cfg, paths = penguins
    open_gate = cfg.model_copy(update={"evaluate": EvaluateConfig(slices=[])})
    result = _evaluate(open_gate, paths, paths["model"], None, tmp_path)
    species = [
        tf.train.Example.FromString(r).features.feature["species"].bytes_list.value[0].decode()
        for r in _raw_eval_examples(paths)
    ]
    top = max(sorted(set(species)), key=species.count)  # a tie goes to the first name
    majority = species.count(top) / len(species)
    assert result.blessing.gate == "default" and result.blessing.blessed
    reason = result.blessing.reasons[0]
    assert f"naive predictor (always {top!r}: {majority:.4f})" in reason
    assert f"accuracy {result.metrics['overall']['accuracy']:.4f} must be >=" in reason
    # A near-perfect bar: blessed exactly when TFMA's accuracy reaches it.
    strict = cfg.model_copy(update={"evaluate": EvaluateConfig(slices=[], naive_margin=0.999)})
    judged = _evaluate(strict, paths, paths["model"], None, tmp_path / "strict")
    required = 1 - (1 - majority) * (1 - 0.999)
    assert f"must be >= {required:.4f}" in judged.blessing.reasons[0]
    assert judged.blessing.blessed == (judged.metrics["overall"]["accuracy"] >= required)


def test_multi_worker_training_on_loopback(penguins, tmp_path):
    """Two worker processes, TF_CONFIG on loopback, MultiWorkerMirroredStrategy, through the
    same trainer entry point; the chief's export loads and predicts."""
    cfg, paths = penguins
    small = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"strategy": "multi_worker", "epochs": 2})}
    )
    config_file = tmp_path / "config.json"
    config_file.write_text(small.to_json())
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        args = [
            sys.executable, "-m", "kubetfx.components.train", "--config", str(config_file),
            "--transformed-examples", paths["transformed"], "--transform-graph", paths["graph"],
            "--schema", paths["schema"], "--model", str(tmp_path / "model"),
            "--model-run", str(tmp_path / "logs"),
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert [r["strategy"] for r in results] == ["multi_worker"] * 2
    assert [r["is_chief"] for r in results] == [True, False]
    assert results[0]["replicas"] == 2
    model = tf.saved_model.load(str(tmp_path / "model"))
    predictions = model.signatures[SERVING_TF_EXAMPLE](
        examples=tf.constant(_raw_eval_examples(paths)[:5])
    )
    assert predictions["probabilities"].shape == (5, 3)


USER_PREPROCESSING = """
import tensorflow as tf
import tensorflow_transform as tft


def preprocessing_fn(inputs):
    def dense(x, default):
        x = tf.sparse.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1])
        return tf.squeeze(tf.sparse.to_dense(x, default_value=default), axis=1)

    mass = tf.cast(dense(inputs["body_mass_g"], 4000), tf.float32)
    return {
        "mass_kg": mass / 1000.0,
        "bill_ratio": tft.scale_to_0_1(
            dense(inputs["bill_length_mm"], 44.0) / dense(inputs["bill_depth_mm"], 17.0)
        ),
        "island": tft.compute_and_apply_vocabulary(dense(inputs["island"], ""), num_oov_buckets=1),
    }
"""

USER_MODEL = """
import tf_keras as keras


def build_model(ctx):
    inputs = {n: keras.Input(shape=(), name=n, dtype="float32") for n in ctx.numeric}
    inputs.update({n: keras.Input(shape=(), name=n, dtype="int64") for n in ctx.categorical})
    parts = [keras.layers.Reshape((1,))(inputs[n]) for n in ctx.numeric]
    parts += [keras.layers.Embedding(size, 4)(inputs[n]) for n, size in ctx.categorical.items()]
    x = keras.layers.Dense(8, activation="relu")(keras.layers.concatenate(parts))
    out = keras.layers.Dense(ctx.task.num_classes, activation="softmax")(x)
    model = keras.Model(inputs, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model
"""


@pytest.mark.parametrize(
    ("label", "kind"),
    [("body_mass_g", "regression"), ("sex", "classification")],
)
def test_other_tasks_and_user_hooks(tmp_path, label, kind):
    """An integer label with many values is a regression (here with bucketized and hashed
    features); a 2-class string label is a binary classification (here with the user's own
    preprocessing_fn and model, TFX module_file style)."""
    transform_cfg, train_cfg = {}, {"epochs": 3}
    if kind == "regression":
        transform_cfg = {"bucketize": {"flipper_length_mm": 4}, "hash_buckets": {"island": 8}}
    else:
        (tmp_path / "prep.py").write_text(USER_PREPROCESSING)
        (tmp_path / "model.py").write_text(USER_MODEL)
        transform_cfg = {"module_file": str(tmp_path / "prep.py")}
        train_cfg["module_file"] = str(tmp_path / "model.py")
    cfg = PipelineConfig.model_validate(
        {
            "data": {"label": label},
            "transform": transform_cfg,
            "train": train_cfg,
            "evaluate": {"thresholds": {"example_count": {"lower": 1}}, "slices": ["island"]},
        }
    )
    paths = _prepare(tmp_path, cfg)
    task = transform.read_task(paths["graph"])
    assert task.kind == kind
    model_dir = _train(cfg, paths, "model")
    result = _evaluate(cfg, paths, model_dir, None, tmp_path / "eval")
    assert result.blessing.blessed, result.blessing.reasons
    overall = result.metrics["overall"]
    assert "island=Dream" in result.metrics
    if kind == "regression":
        assert overall["mean_absolute_error"] > 0
        return
    from kubetfx.components.evaluate import results

    evaluation = str(tmp_path / "eval" / "evaluation")
    matrix, roc = results.classification_plots(evaluation, "", task)
    assert len(matrix) == 2 and sum(map(sum, matrix)) == overall["example_count"]
    assert roc and all(0 <= fpr <= 1 and 0 <= tpr <= 1 for fpr, tpr, _ in roc)
    import tensorflow_transform as tft

    assert set(tft.TFTransformOutput(paths["graph"]).transformed_feature_spec()) == {
        "mass_kg", "bill_ratio", "island", "sex"
    }  # fmt: skip


USER_RUN_FN = """
import tensorflow_transform as tft

from kubetfx.components.train import export
from kubetfx.components.train.model import build


def run_fn(fn_args):
    model = build(fn_args.context)  # no training: the contract is what matters here
    graph = tft.TFTransformOutput(fn_args.transform_output)
    export.save(model, graph, fn_args.task, fn_args.serving_model_dir)
    with open(fn_args.serving_model_dir + "/schema_seen.txt", "w") as f:
        f.write(fn_args.schema_path)
"""


def test_user_run_fn_owns_training_and_export(penguins, tmp_path):
    cfg, paths = penguins
    (tmp_path / "trainer.py").write_text(USER_RUN_FN)
    custom = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"module_file": str(tmp_path / "trainer.py")})}
    )
    model_dir = str(tmp_path / "model")
    train.run_from_artifacts(
        cfg=custom,
        transformed_uri=paths["transformed"],
        graph_uri=paths["graph"],
        schema_uri=paths["schema"],
        model_dir=model_dir,
        model_run_dir=str(tmp_path / "logs"),
    )
    assert (tmp_path / "model" / "schema_seen.txt").read_text().endswith("schema.pbtxt")
    model = tf.saved_model.load(model_dir)
    out = model.signatures[SERVING_TF_EXAMPLE](examples=tf.constant(_raw_eval_examples(paths)[:3]))
    assert out["probabilities"].shape == (3, 3)


def test_metrics_read_off_shared_accumulators_equal_tfma_own(penguins, tmp_path, monkeypatch):
    """accuracy and calibration (kubetfx/components/evaluate/metrics.py) and AUC on 1,000
    thresholds report what TFMA's own metrics did (bench/evaluate.py's "before") on every
    slice: AUC within its histogram's resolution, calibration to float32 rounding, the rest
    exactly. And they equal a direct count."""
    from bench.evaluate import BEFORE, earlier
    from kubetfx.components.evaluate import metrics

    cfg, paths = penguins
    found = {"fast": 0, "slow": 0}  # the fast path must be the one taken (one Beam process)

    def counted(element, key, eval_config):
        simple = real(element, key, eval_config)
        found["slow" if simple is None else "fast"] += 1
        return simple

    real = metrics._simple
    monkeypatch.setattr(metrics, "_simple", counted)
    # The model against itself as champion: two models, as a run with a champion has them.
    champion = paths["model"]
    shipped = _evaluate(cfg, paths, paths["model"], champion, tmp_path / "now")
    assert found["fast"] > 0 and found["slow"] == 0, found
    for name in ("eval_config", "extractors"):  # earlier() replaces them: undone after the test
        monkeypatch.setattr(evaluate, name, getattr(evaluate, name))
    monkeypatch.setattr(metrics, "_fast", metrics._fast)
    earlier(BEFORE)
    before = _evaluate(cfg, paths, paths["model"], champion, tmp_path / "before")
    assert shipped.metrics.keys() == before.metrics.keys()
    assert shipped.baseline_metrics == pytest.approx(before.baseline_metrics, abs=1e-3)
    for slice_name, values in before.metrics.items():
        assert shipped.metrics[slice_name].keys() == values.keys(), slice_name
        for name, value in values.items():
            if name.startswith("auc"):  # 1,000 thresholds against 10,000
                close = pytest.approx(value, abs=1e-3)
            elif name.startswith("calibration"):  # float32 predictions, summed in another order
                close = pytest.approx(value, rel=1e-6)
            else:
                close = pytest.approx(value, abs=1e-9)
            assert shipped.metrics[slice_name][name] == close, (slice_name, name)
    serialized = _raw_eval_examples(paths)
    model = tf.saved_model.load(paths["model"])
    probs = model.signatures[SERVING_TF_EXAMPLE](examples=tf.constant(serialized))
    probs = probs["probabilities"].numpy()
    classes = list(transform.read_task(paths["graph"]).classes)
    labels = np.array(
        [
            classes.index(
                tf.train.Example.FromString(e)
                .features.feature["species"]
                .bytes_list.value[0]
                .decode()
            )
            for e in serialized
        ]
    )
    overall = shipped.metrics["overall"]
    assert overall["accuracy"] == pytest.approx((probs.argmax(axis=1) == labels).mean())
    for k, name in enumerate(classes):
        expected = probs[:, k].sum() / (labels == k).sum()
        assert overall[f"calibration[{name}]"] == pytest.approx(expected, rel=1e-5)
