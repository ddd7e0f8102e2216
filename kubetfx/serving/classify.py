"""TF Serving's `:classify` and `:regress`, on the exported model's outputs.

Request (TF Serving's RESTful API): `{"signature_name": ..., "context": {features shared by
every example}, "examples": [{features}, ...]}`; a feature value is a scalar, a one-value list,
or `{"b64": ...}` for a string feature. Answers: `{"result": [[[label, score], ...], ...]}`
(every class of each example, in the model's class order) and `{"result": [value, ...]}`.

The exported model (kubetfx/components/train/export.py) has no classify or regress signature
of its own: a classifier's `serving_default` answers `probabilities` [batch, classes],
`class_ids` and `classes` (the top class's name), a regressor's `predictions` [batch]. So
`:classify` calls `serving_default` and pairs each probability with its class name, read once
per loaded version from the signature's captured class-name constant (and checked against the
`classes` it answers); `:regress` returns `predictions`.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from kubetfx.errors import RequestError
from kubetfx.serving.requests import (
    SERVING_DEFAULT,
    SERVING_TF_EXAMPLE,
    Batch,
    rows_batch,
)
from kubetfx.serving.wire import show

CLASSIFY, REGRESS = "classify", "regress"
CLASSIFICATION, REGRESSION = "classification", "regression"
_LABELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # signature -> class names


def task_of(servable) -> str | None:
    """classification, regression, or None, from the names of serving_default's outputs."""
    outputs = servable.signatures[SERVING_DEFAULT].structured_outputs
    if "probabilities" in outputs and outputs["probabilities"].shape.rank == 2:
        return CLASSIFICATION  # [batch, classes]
    if "predictions" in outputs:
        return REGRESSION
    return None


def check_task(servable, verb: str) -> None:
    """A classify call on a regression model (or the reverse) is the client's mistake."""
    task = task_of(servable)
    wanted = CLASSIFICATION if verb == CLASSIFY else REGRESSION
    if task == wanted:
        return
    if task is None:
        fix = "use :predict"
    else:
        fix = f"use :{CLASSIFY if task == CLASSIFICATION else REGRESS} or :predict"
    raise RequestError(
        f"model {servable.name!r} version {servable.version} is "
        f"{'a ' + task if task else 'neither a classification nor a regression'} model, "
        f"so it cannot :{verb}; {fix}"
    )


def parse_examples(body: Any, contract, max_rows: int | None) -> Batch:
    """A classify/regress body -> the columns serving_default takes."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object with 'examples'")
    signature = body.get("signature_name", SERVING_DEFAULT)
    if signature not in (SERVING_DEFAULT, SERVING_TF_EXAMPLE):
        raise RequestError(
            f"signature_name {show(signature)} not found; classify and regress run "
            f"{SERVING_DEFAULT!r} on the examples' features"
        )
    unknown = sorted(set(body) - {"signature_name", "context", "examples"})
    if unknown:
        raise RequestError(
            f"unknown field {show(unknown[0])}; a classify or regress request has "
            "'signature_name', 'context' and 'examples'"
        )
    examples = body.get("examples")
    if not isinstance(examples, list) or not examples:
        raise RequestError("'examples' must be a non-empty list of objects of feature values")
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise RequestError(f"'context' must be an object of feature values, got {show(context)}")
    rows = []
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            raise RequestError(
                f"examples[{i}] must be an object of feature values, got {show(example)}"
            )
        both = sorted(context.keys() & example.keys())
        if both:
            raise RequestError(
                f"examples[{i}]: feature {show(both[0])} is also in 'context'; send it in one place"
            )
        rows.append({k: _one_value(v, k, i) for k, v in {**context, **example}.items()})
    return rows_batch(rows, contract, "examples", max_rows)


def _one_value(value: Any, name: str, i: int) -> Any:
    """TF Serving's examples may wrap a value in a list; these features hold one value."""
    if not isinstance(value, list):
        return value
    if len(value) != 1:
        raise RequestError(
            f"examples[{i}]: feature {show(name)} must have one value, got a list of {len(value)}"
        )
    return value[0]


def classify_result(servable, outputs: dict[str, np.ndarray]) -> dict:
    probabilities = outputs["probabilities"]
    labels = class_labels(servable, outputs)
    return {
        "result": [
            [[label, score] for label, score in zip(labels, row, strict=True)]
            for row in probabilities.tolist()
        ]
    }


def regress_result(outputs: dict[str, np.ndarray]) -> dict:
    return {"result": outputs["predictions"].reshape(-1).tolist()}


def class_labels(servable, outputs: dict[str, np.ndarray]) -> list[str]:
    """The class names in probability order; the class index as text when the model hides them."""
    count = outputs["probabilities"].shape[-1]
    fn = servable.signatures[SERVING_DEFAULT]
    if fn not in _LABELS:
        _LABELS[fn] = _captured_labels(fn, count)
    labels = _LABELS[fn]
    if labels is not None and not _agrees(labels, outputs.get("class_ids"), outputs.get("classes")):
        labels = None  # not the constant the top class's name is gathered from
    return labels if labels is not None else [str(i) for i in range(count)]


def _agrees(labels: list[str], ids, names) -> bool:
    """Whether the model's own answer (top class id and name per example) matches `labels`."""
    if ids is None or names is None:
        return True  # nothing to check against
    ids = ids.reshape(-1).tolist()
    names = [n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names.ravel()]
    return len(ids) == len(names) and all(
        0 <= i < len(labels) and labels[i] == n for i, n in zip(ids, names, strict=True)
    )


def _captured_labels(fn, count: int) -> list[str] | None:
    """export.py gathers `classes` from a string constant of every class name, which the
    loaded signature holds among its captured inputs: the one string vector of that length."""
    import tensorflow as tf

    found = [
        t
        for t in getattr(fn, "captured_inputs", ())
        if t.dtype == tf.string and t.shape.rank == 1 and t.shape[0] == count
    ]
    if len(found) != 1:
        return None
    return [b.decode(errors="replace") for b in found[0].numpy().tolist()]
