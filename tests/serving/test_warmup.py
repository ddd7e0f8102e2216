"""Warmup requests in TF Serving's format: written from eval rows, replayed before a version
is served, and a version whose warmup fails is not served."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from kubetfx.components.push.core import warmup_files
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import LoadError
from kubetfx.serving import contract, warmup
from kubetfx.serving.models import load_servable


@pytest.fixture(scope="module")
def warm_model(penguins, tmp_path_factory) -> str:
    """The version push makes: the model plus the warmup file push writes from eval rows."""
    _, paths = penguins
    files = warmup_files(
        examples_uri=paths["examples"], model_dir=paths["model"], model_name="penguins", rows=8
    )
    registry = ModelRegistry(str(tmp_path_factory.mktemp("warm")), "penguins")
    return registry.version_dir(registry.push(paths["model"], {}, extra_files=files))


def test_push_writes_no_warmup_when_told_not_to(penguins):
    _, paths = penguins
    assert not warmup_files(
        examples_uri=paths["examples"], model_dir=paths["model"], model_name="penguins", rows=0
    )


def test_the_records_round_trip(penguins, eval_examples, tmp_path):
    _, paths = penguins
    served = contract.read(paths["model"])
    warmup.write(str(tmp_path), warmup.records(eval_examples[:3], served, "penguins"))
    assert [
        len(inputs["examples"])
        for sig, inputs in warmup.read(str(tmp_path))
        if sig == "serving_tf_example"
    ] == [3]


def test_the_file_is_tf_servings_prediction_log_with_the_signatures_dtypes(warm_model):
    import tensorflow as tf

    requests = dict(warmup.read(warm_model))
    assert set(requests) == {"serving_default", "serving_tf_example"}
    assert requests["serving_tf_example"]["examples"].shape == (8,)
    loaded = tf.saved_model.load(warm_model)
    for signature, inputs in requests.items():
        specs = loaded.signatures[signature].structured_input_signature[1]
        assert set(inputs) == set(specs)
        for name, values in inputs.items():  # what TF Serving itself requires: exact dtypes
            assert tf.as_dtype(values.dtype) == specs[name].dtype, (signature, name)
            assert values.shape == (8,)


def test_the_server_replays_it_before_serving(warm_model, eval_examples):
    servable = load_servable("penguins", 1, warm_model)
    assert servable.warmup_requests == 2
    first = servable.predict(
        "serving_tf_example", {"examples": np.array(eval_examples[:3], dtype=object)}
    )
    assert first["classes"].shape == (3,)


def test_a_failing_warmup_fails_the_load(warm_model, tmp_path):
    broken = str(tmp_path / "model")
    shutil.copytree(warm_model, broken)
    with open(os.path.join(broken, warmup.WARMUP_FILE), "wb") as f:
        f.write(b"not a TFRecord file")
    with pytest.raises(LoadError, match="warmup failed"):
        load_servable("penguins", 2, broken)


def test_no_warmup_file_means_no_warmup(penguins):
    _, paths = penguins
    assert load_servable("penguins", 3, paths["model"]).warmup_requests == 0
