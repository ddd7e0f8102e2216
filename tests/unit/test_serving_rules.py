"""The model server's rules without a server: request validation, routing, version policy."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from kubetfx.components.config import ServingConfig, TrafficConfig
from kubetfx.errors import LoadError, RequestError
from kubetfx.serving.contract import Contract, Feature
from kubetfx.serving.models import AVAILABLE, END, ModelManager, ModelView, Servable
from kubetfx.serving.requests import encode_tf_serving, parse_tf_serving
from kubetfx.serving.routing import route, to_challenger

FEATURES = [
    Feature("island", "string"),
    Feature("mass", "int"),
    Feature("bill", "float", required=True),
]
CONTRACT = Contract(FEATURES, frozenset({"species"}))


def _row(**change):
    return {"island": "Biscoe", "mass": 4000, "bill": 40.5, **change}


def test_instances_and_inputs_give_the_same_columns():
    # The label is in the schema but not served: a request may carry it; it is dropped.
    rows = parse_tf_serving(
        {"instances": [_row(), _row(island=None, mass=None, species="Adelie")]}, CONTRACT
    )
    cols = parse_tf_serving(
        {"inputs": {"island": ["Biscoe", None], "mass": [4000, None], "bill": [40.5, 40.5]}},
        CONTRACT,
    )
    for batch in (rows, cols):
        assert batch.size == 2 and batch.signature == "serving_default"
        assert batch.inputs["island"].tolist() == ["Biscoe", ""]
        assert batch.inputs["mass"][0] == 4000 and np.isnan(batch.inputs["mass"][1])
        assert batch.rows()[1] == {"island": None, "mass": None, "bill": 40.5}
    assert not rows.columnar and cols.columnar


@pytest.mark.parametrize(
    "body, message",
    [
        ([_row()], "JSON object"),
        ({"instances": []}, "non-empty"),
        ({"instances": [_row()], "inputs": {}}, "exactly one"),
        ({"instances": [_row(color="red")]}, "unknown feature 'color'"),
        ({"instances": [{"island": "Biscoe", "bill": 1.0}]}, "missing feature 'mass'"),
        ({"instances": [_row(mass="heavy")]}, "instances[0]: feature 'mass' must be an integer"),
        ({"instances": [_row(mass=4000.5)]}, "'mass' must be an integer"),
        ({"instances": [_row(), _row(bill=True)]}, "instances[1]: feature 'bill' must be a number"),
        ({"instances": [_row(island=3)]}, "'island' must be a string"),
        ({"instances": [_row(bill=None)]}, "'bill' is required"),
        ({"instances": ["Biscoe"]}, "instances[0] must be an object"),
        ({"inputs": {"island": ["a"], "mass": [1, 2], "bill": [1.0]}}, "same, non-zero number"),
        ({"instances": [_row()], "signature_name": "predict"}, "signature_name 'predict'"),
    ],
)
def test_bad_requests_name_the_field(body, message):
    with pytest.raises(RequestError) as e:
        parse_tf_serving(body, CONTRACT)
    assert e.value.status == 400
    assert message in str(e.value)


def _example(**features) -> str:
    import tensorflow as tf

    feature = {}
    for name, value in features.items():
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    data = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    return base64.b64encode(data).decode()


def test_b64_examples_are_validated_and_decoded_for_the_log():
    good = _example(island="Dream", mass=3800, bill=39.0, species="Adelie")
    batch = parse_tf_serving(
        {"signature_name": "serving_tf_example", "instances": [{"b64": good}]}, CONTRACT
    )
    assert batch.signature == "serving_tf_example"
    assert batch.rows() == [{"island": "Dream", "mass": 3800, "bill": 39.0}]
    columnar = parse_tf_serving(
        {"signature_name": "serving_tf_example", "inputs": {"examples": [{"b64": good}]}},
        CONTRACT,
    )
    assert columnar.inputs["examples"].tolist() == batch.inputs["examples"].tolist()
    cases = {
        "not a base64 serialized": {"b64": "%%%"},
        "unknown feature 'color'": {"b64": _example(color="red", bill=1.0)},
        "'mass' must be a int64_list": {"b64": _example(mass=3.5, bill=1.0)},
        "required feature 'bill'": {"b64": _example(mass=1)},
        "must be {'b64'": "plain",
    }
    for message, item in cases.items():
        with pytest.raises(RequestError, match=re.escape(message)):
            parse_tf_serving(
                {"signature_name": "serving_tf_example", "instances": [item]}, CONTRACT
            )


def test_answers_in_row_and_columnar_form():
    outputs = {"class_ids": np.array([[2], [0]]), "classes": np.array([[b"Gentoo"], [b"Adelie"]])}
    rows = encode_tf_serving(outputs, columnar=False)
    assert rows == {
        "predictions": [
            {"class_ids": [2], "classes": ["Gentoo"]},
            {"class_ids": [0], "classes": ["Adelie"]},
        ]
    }
    assert encode_tf_serving(outputs, columnar=True)["outputs"]["classes"] == [
        ["Gentoo"],
        ["Adelie"],
    ]
    assert encode_tf_serving({"predictions": np.array([1.5])}, columnar=False) == {
        "predictions": [1.5]
    }


def _servable(version: int) -> Servable:
    return Servable("m", version, f"/r/m/{version}", {}, CONTRACT, 0.0)


def test_canary_share_and_sticky_keys():
    # Keys hash to fixed points: a key always lands on the same side, whatever the draw.
    keys = [f"user-{i}" for i in range(4000)]
    share = sum(to_challenger(10, k, rand=lambda: 0.0) for k in keys) / len(keys)
    assert 0.08 < share < 0.12
    assert all(
        to_challenger(10, k, lambda: 0.0) == to_challenger(10, k, lambda: 0.99) for k in keys
    )
    assert not any(to_challenger(0, k, lambda: 0.0) for k in keys[:100])
    # Without a key, the draw decides.
    assert to_challenger(10, None, lambda: 0.05) and not to_challenger(10, None, lambda: 0.5)


def test_routes_by_version_label_split_and_shadow():
    view = ModelView("m", {1: _servable(1), 2: _servable(2)}, {}, champion=1, challenger=2)
    canary = TrafficConfig(challenger_percent=50)
    assert route(view, canary, rand=lambda: 0.1).servable.version == 2
    assert route(view, canary, rand=lambda: 0.9).label == "champion"
    shadow = route(view, TrafficConfig(challenger_percent=50, mode="shadow"), rand=lambda: 0.1)
    assert (shadow.servable.version, shadow.shadow.version) == (1, 2)
    assert route(view, canary, version=2).label == "challenger"
    assert route(view, canary, label="champion").servable.version == 1
    for kwargs in ({"version": 7}, {"label": "beta"}):
        with pytest.raises(RequestError) as e:
            route(view, canary, **kwargs)
        assert e.value.status == 404
    no_champion = ModelView("m", {1: _servable(1), 2: _servable(2)}, {})
    assert route(no_champion, canary).servable.version == 2  # TF Serving: the newest


def _version(root, name, version, complete=True):
    path = root / name / str(version)
    (path / "variables").mkdir(parents=True)
    if complete:
        (path / "saved_model.pb").write_bytes(b"x")


def _champion(root, name, version):
    (root / name / "champion.json").write_text(json.dumps({"version": version}))


class FakeLoader:
    def __init__(self, broken=()):
        self.broken, self.calls = set(broken), []

    def __call__(self, name, version, path):
        self.calls.append(version)
        if version in self.broken:
            raise LoadError("truncated saved_model.pb")
        return _servable(version)


def test_policy_labels_half_written_and_failed_versions(tmp_path):
    for v in (1, 2, 3):
        _version(tmp_path, "m", v)
    _version(tmp_path, "m", 4, complete=False)  # saved_model.pb not yet written
    (tmp_path / "m" / ".staging-5").mkdir()
    _champion(tmp_path, "m", 1)
    loader = FakeLoader(broken={3})
    cfg = ServingConfig(registry=str(tmp_path), version_policy={"latest": 2})
    manager = ModelManager(cfg, loader)
    manager.refresh()
    view = manager.view("m")
    # latest 2 = {2, 3}, plus the champion 1; 3 failed: reported, never served.
    assert sorted(view.servables) == [1, 2]
    assert view.statuses[3].state == END and "truncated" in view.statuses[3].error
    assert (view.champion, view.challenger) == (1, None)  # challenger 'latest' = 3 failed
    manager.refresh()
    assert loader.calls.count(3) == 1, "an unchanged broken version is not retried"
    # The champion moves to 2; 1 is unloaded (not in the policy any more).
    _champion(tmp_path, "m", 2)
    manager.refresh()
    view = manager.view("m")
    assert view.champion == 2 and sorted(view.servables) == [2]
    assert view.statuses[2].state == AVAILABLE


def test_champion_label_waits_for_a_loaded_version(tmp_path):
    _version(tmp_path, "m", 1)
    _version(tmp_path, "m", 2)
    _champion(tmp_path, "m", 1)
    manager = ModelManager(ServingConfig(registry=str(tmp_path)), FakeLoader(broken={2}))
    manager.refresh()
    _champion(tmp_path, "m", 2)  # points at a version that cannot load
    manager.refresh()
    view = manager.view("m")
    assert view.champion == 1 and 1 in view.servables  # the old champion keeps serving


def test_specific_versions(tmp_path):
    for v in (1, 2, 3):
        _version(tmp_path, "m", v)
    cfg = ServingConfig(registry=str(tmp_path), version_policy={"specific": [1, 3]})
    manager = ModelManager(cfg, FakeLoader())
    manager.refresh()
    assert sorted(manager.view("m").servables) == [1, 3]
