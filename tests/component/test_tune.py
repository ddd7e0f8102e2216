"""The tune step on real penguins data: a KerasTuner search whose best values train takes, the
report, and the errors a user meets; the step in the compiled pipelines."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import yaml

from kubetfx.components.config import PipelineConfig, TrainConfig, TuneConfig
from kubetfx.components.train import remote, tuning
from kubetfx.errors import ConfigError

SEARCH = {
    "enabled": True,
    "max_trials": 3,
    "epochs": 15,
    "search_space": {
        "learning_rate": {"type": "float", "min": 0.003, "max": 0.1, "sampling": "log"},
        "units": {"type": "int", "min": 8, "max": 32, "step": 8},
        "layers": {"type": "choice", "values": [1, 2]},
    },
}


def _accuracy(model_dir: str, examples: list[bytes], labels: list[str]) -> float:
    import tensorflow as tf

    fn = tf.saved_model.load(model_dir).signatures["serving_tf_example"]
    out = fn(examples=tf.constant(examples))
    classes = np.array(out["classes"]).astype(str).ravel()
    return float(np.mean(classes == np.array(labels)))


def _eval_split(examples_uri: str) -> tuple[list[bytes], list[str]]:
    import glob

    import tensorflow as tf

    files = sorted(glob.glob(f"{examples_uri}/Split-eval/*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    labels = []
    for record in records:
        example = tf.train.Example.FromString(record)
        labels.append(example.features.feature["species"].bytes_list.value[0].decode())
    return records, labels


@pytest.fixture(scope="module")
def searched(penguins, tmp_path_factory):
    cfg, paths = penguins
    cfg = cfg.model_copy(update={"tune": TuneConfig.model_validate(SEARCH)})
    out = tmp_path_factory.mktemp("tune")
    result = tuning.run_from_artifacts(
        cfg=cfg,
        transformed_uri=paths["transformed"],
        graph_uri=paths["graph"],
        output_uri=str(out / "best"),
        report_path=str(out / "report.html"),
    )
    return cfg, paths, out, result


def test_the_search_runs_every_trial_and_its_best_is_no_worse_than_untuned(searched):
    _, _, out, result = searched
    assert [t.trial_id for t in result.trials][0] == tuning.UNTUNED
    assert len(result.trials) == 1 + SEARCH["max_trials"]
    assert all(t.objective is not None and 1 <= t.epochs <= 15 for t in result.trials)
    assert result.best.objective == min(t.objective for t in result.trials)  # val_loss: lower
    assert result.best.objective <= result.untuned.objective
    for trial in result.trials[1:]:  # every value inside the search space
        assert 0.003 <= trial.values["learning_rate"] <= 0.1
        assert trial.values["units"] in (8, 16, 24, 32) and trial.values["layers"] in (1, 2)
    written = tuning.read(str(out / "best"))
    assert written == result and result.metadata()["trials"] == 4
    page = (out / "report.html").read_text()
    assert 'id="tuning-objective"' in page and "<script" not in page
    assert page.count("<rect") == len(result.trials) and "trial untuned" in page


def test_train_takes_the_best_values_and_predicts_at_least_as_well(searched):
    """The measured claim: the tuned model's eval accuracy is at least the untuned one's."""
    from tests.modeling import train

    cfg, paths, out, result = searched
    best = types.SimpleNamespace(path=str(out / "best"))
    tuned = remote.tuned(cfg=cfg, best_hyperparameters=best)
    values = result.best.values
    assert tuned.train.learning_rate == pytest.approx(values["learning_rate"])
    assert tuned.train.hidden_units[0] == values["units"]
    assert len(tuned.train.hidden_units) == values["layers"]
    assert tuned.train.hyperparameters == values
    assert (
        remote.tuned(cfg=cfg, best_hyperparameters=None) is cfg
    )  # no tune step: train as configured
    model_dir = train(tuned, paths, "tuned-model")
    examples, labels = _eval_split(paths["examples"])
    after, before = (_accuracy(d, examples, labels) for d in (model_dir, paths["model"]))
    print(f"eval accuracy: tuned {after:.4f}, untuned {before:.4f}; best {values}")
    assert after >= before


def test_apply_turns_units_and_layers_into_a_funnel_and_keeps_custom_values():
    cfg = TrainConfig()
    tuned = tuning.apply(cfg, {"units": 48, "layers": 3, "batch_size": 64.0, "my_gamma": 0.5})
    assert tuned.hidden_units == [48, 24, 12] and tuned.batch_size == 64
    assert tuned.hyperparameters["my_gamma"] == 0.5  # what a user's build_model reads
    assert tuning.untuned_values(cfg, TuneConfig()) == {
        "learning_rate": 0.01, "units": 32, "layers": 2, "dropout": 0.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "space, message",
    [
        ({"gamma": {"type": "float", "min": 0, "max": 1}}, "not hyperparameters of the built-in"),
    ],
)
def test_a_hyperparameter_the_model_cannot_take_is_refused(space, message):
    tune = TuneConfig.model_validate({"search_space": space})
    with pytest.raises(ConfigError, match=message):
        tuning.check_space(tune, TrainConfig())
    tuning.check_space(tune, TrainConfig(module_file="my_model.py"))  # a user model may


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"type": "float", "min": 0.0, "max": 1.0, "sampling": "log"}, "'log' needs min > 0"),
        ({"type": "choice"}, "needs values"),
        ({"type": "int", "min": 5, "max": 5}, "needs min < max"),
    ],
)
def test_bad_search_space_entries_name_the_fix(spec, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig.model_validate({"tune": {"search_space": {"units": spec}}})


def test_an_objective_the_history_lacks_names_the_choices(penguins):
    cfg, paths = penguins
    cfg = cfg.model_copy(update={"tune": TuneConfig(enabled=True, objective="val_accuracy")})
    run_trial = tuning.trial_runner(
        cfg=cfg, transformed_uri=paths["transformed"], graph_uri=paths["graph"]
    )
    with pytest.raises(ConfigError, match="tune.objective: 'val_accuracy' is not in the train"):
        run_trial({"learning_rate": 0.01}, 1)


@pytest.mark.parametrize("target", ["local", "kubeflow", "vertex"])
def test_the_tune_step_feeds_train_only_when_enabled(tmp_path, target):
    from kubetfx.pipelines import catalog

    def train_inputs(enabled: bool) -> dict:
        cfg = PipelineConfig.model_validate(
            {"tune": {"enabled": enabled}, "pipeline_root": "gs://b/root"}
        )
        out = tmp_path / f"{enabled}.yaml"
        catalog.compile_pipeline(cfg, target, str(out))
        spec = yaml.safe_load(out.read_text())
        dags = [spec["root"], *spec["components"].values()]
        tasks = {n: t for d in dags for n, t in d.get("dag", {}).get("tasks", {}).items()}
        return tasks, tasks["train"]["inputs"].get("artifacts", {})

    tasks, inputs = train_inputs(True)
    assert inputs["best_hyperparameters"]["taskOutputArtifact"] == {
        "outputArtifactKey": "best_hyperparameters",
        "producerTask": "tune",
    }
    assert set(tasks["tune"]["inputs"]["artifacts"]) == {"transformed_examples", "transform_graph"}
    tasks, inputs = train_inputs(False)
    assert "tune" not in tasks and "best_hyperparameters" not in inputs


def test_the_result_round_trips_as_json():
    trial = tuning.Trial("1", {"units": 8}, 0.5, 3, 1.0)
    result = tuning.SearchResult("val_loss", False, "random", "local", trial, [trial])
    assert tuning.SearchResult.from_json(result.to_json()) == result
    assert json.loads(result.to_json())["best"]["values"] == {"units": 8}
