"""The Beam pieces of batch prediction: row validation, the model handler, the output rows.

Beam's TFModelHandlerNumpy/Tensor do not fit our SavedModels: they load the Keras model
(tf.keras.models.load_model, which under Keras 3 cannot read a tf_keras SavedModel at all) and
call it on one stacked array, but the Keras model takes *transformed* features: the raw-feature
path (tf.Transform graph, named [batch] tensors of several dtypes, NaN as missing) exists only
in the `serving_default` signature. `ServingModelHandler` loads the version with the model
server's own loader, once per worker process (RunInference's shared handle), and calls that
signature exactly as the server does, on batches of `batch_predict.batch_size` rows.
"""
# No `from __future__ import annotations`: Beam reads the type hints of DoFns.

import logging

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from kubetfx.components.batch_predict import formats
from kubetfx.serving.contract import Contract
from kubetfx.serving.requests import (
    SERVING_DEFAULT,
    RequestError,
    encode_tf_serving,
    parse_tf_serving,
)

log = logging.getLogger("kubetfx.batch_predict")

ERRORS = "errors"
VERSION_COLUMN = "model_version"
METRICS_NAMESPACE = "kubetfx_batch_predict"
PROGRESS_EVERY = 10_000


def read(path: str, fmt: str, contract: Contract):
    for row in formats.read_rows(path, fmt, contract):
        yield path, row


def validate(item: tuple[str, dict], contract: Contract):
    """A row -> (the row with its validated feature values, model inputs), or an error record.

    The model features go through the server's request parser as a one-row `instances`
    request (the same checks and messages as an HTTP 400); other columns ride along.
    """
    source, row = item
    names = {f.name for f in contract.features}
    instance = {name: value for name, value in row.items() if name in names}
    try:
        batch = parse_tf_serving({"instances": [instance]}, contract)
    except RequestError as e:
        Metrics.counter(METRICS_NAMESPACE, "errors").inc()
        reason = str(e).removeprefix("instances[0]: ")
        yield beam.pvalue.TaggedOutput(ERRORS, {"file": source, "error": reason, "row": row})
        return
    yield {**row, **{name: values[0] for name, values in batch.columns.items()}}, batch.inputs


class ServingModelHandler(ModelHandler):
    """RunInference through the model server's loader and `Servable.predict`."""

    def __init__(self, name: str, version: int, path: str, batch_size: int):
        super().__init__()
        self._name, self._version, self._path = name, version, path
        self._batch_size = batch_size

    def load_model(self):
        from kubetfx.serving.models import load_servable

        log.info("batch_predict: loading %s version %s on this worker", self._name, self._version)
        return load_servable(self._name, self._version, self._path)

    def run_inference(self, batch, model, inference_args=None):
        rows, inputs = zip(*batch, strict=True)
        columns = {name: np.concatenate([i[name] for i in inputs]) for name in inputs[0]}
        outputs = model.predict(SERVING_DEFAULT, columns)
        # The server's JSON encoding of each output, so values equal an online answer's.
        plain = {n: encode_tf_serving({n: v}, columnar=True)["outputs"] for n, v in outputs.items()}
        for i, row in enumerate(rows):
            yield PredictionResult(row, {n: v[i] for n, v in plain.items()}, self._version)

    def batch_elements_kwargs(self):
        # Fixed-size batches (the last of a bundle may be smaller), not Beam's adaptive sizes
        # that start at one row: a batch job wants full model calls from the start.
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}


class OutputRow(beam.DoFn):
    """The input row, its predictions and the model version; logs progress per worker."""

    def setup(self):
        self._count = 0
        self._predicted = Metrics.counter(METRICS_NAMESPACE, "predicted")

    def process(self, result: PredictionResult):
        self._count += 1
        self._predicted.inc()
        if self._count % PROGRESS_EVERY == 0:
            log.info("batch_predict: %s rows predicted on this worker", f"{self._count:,}")
        yield {**result.example, **result.inference, VERSION_COLUMN: result.model_id}
