"""Warmup requests: TF Serving's `assets.extra/tf_serving_warmup_requests`, written by push and
replayed by the server before a version answers.

The file is TF Serving's own format (a TFRecord file of `tensorflow.serving.PredictionLog`
records), so TF Serving and KServe's TensorFlow runtime replay it too. Each record is one
PredictRequest: a few eval rows as serialized tf.Examples for `serving_tf_example`, and the
same rows as feature columns for `serving_default`, with exactly the dtypes the exported
signatures take (see kubetfx/components/train/export.py: integers as float64, NaN for a
missing value). The first request after a load then costs what every later one does: the
signatures' first calls (graph optimization, kernel selection) happen during the load.
"""

from __future__ import annotations

import os

import numpy as np

from kubetfx.serving.contract import Contract

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000  # TF Serving refuses a warmup file with more
_DTYPES = {"int": np.float64, "float": np.float32, "string": object}
SERVING_DEFAULT, SERVING_TF_EXAMPLE, EXAMPLES_INPUT = (
    "serving_default",
    "serving_tf_example",
    "examples",
)


def _columns(examples: list[bytes], contract: Contract) -> dict[str, np.ndarray]:
    """The examples' serving features as the columns serving_default takes."""
    from tensorflow.core.example import example_pb2

    columns: dict[str, list] = {f.name: [] for f in contract.features}
    for data in examples:
        feature_map = example_pb2.Example.FromString(data).features.feature
        for f in contract.features:
            entry = feature_map.get(f.name)
            kind = entry.WhichOneof("kind") if entry is not None else None
            values = list(getattr(entry, kind).value) if kind else []
            if f.kind == "string":
                columns[f.name].append(values[0] if values else b"")
            else:
                columns[f.name].append(values[0] if values else float("nan"))
    return {f.name: np.array(columns[f.name], dtype=_DTYPES[f.kind]) for f in contract.features}


def records(examples: list[bytes], contract: Contract, model_name: str) -> list[bytes]:
    """Serialized PredictionLog records: the examples through both signatures."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    if not examples:
        return []
    found = []
    requests = {
        SERVING_TF_EXAMPLE: {EXAMPLES_INPUT: np.array(examples, dtype=object)},
        SERVING_DEFAULT: _columns(examples, contract),
    }
    for signature, inputs in requests.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        for name, values in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(values))
        log = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )
        found.append(log.SerializeToString())
    return found


def write(model_dir: str, serialized: list[bytes]) -> str:
    """Write the records as `{model_dir}/assets.extra/tf_serving_warmup_requests`."""
    import tensorflow as tf

    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(encode(serialized))
    return path


def encode(serialized: list[bytes]) -> bytes:
    """The records as the bytes of a TFRecord file."""
    import tempfile

    import tensorflow as tf

    if len(serialized) > MAX_RECORDS:
        raise ValueError(
            f"{len(serialized)} warmup records; TF Serving takes at most {MAX_RECORDS}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "warmup")
        with tf.io.TFRecordWriter(path) as writer:
            for record in serialized:
                writer.write(record)
        with open(path, "rb") as f:
            return f.read()


def read(model_dir: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(signature, inputs) of every warmup request of a version; [] when it has none."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(model_dir, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return []
    requests = []
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(t) for name, t in request.inputs.items()}
        requests.append((request.model_spec.signature_name or SERVING_DEFAULT, inputs))
    return requests
