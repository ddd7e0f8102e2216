"""Behavioral tests of a trained model (as in Made-With-ML), driven by the config.

- invariance: setting a feature that must not matter to each of several values leaves the
  prediction unchanged for at least `min_agreement` of the rows;
- directional: adding `delta` to a feature moves the chosen output the expected way for at
  least `min_fraction` of the rows.

Both call the model's `serving_default` signature on raw rows, as a client would.
"""

from __future__ import annotations

import numpy as np

from components.config import DirectionalCheck, InvarianceCheck
from components.train.export import SERVING_DEFAULT


def _predict(signature, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    inputs = signature.structured_input_signature[1]
    feed = {name: tf.constant(rows[name], dtype=spec.dtype) for name, spec in inputs.items()}
    return {k: v.numpy() for k, v in signature(**feed).items()}


def _decision(outputs: dict[str, np.ndarray]) -> np.ndarray:
    return outputs["class_ids"] if "class_ids" in outputs else outputs["predictions"]


def invariance(model, rows: dict[str, np.ndarray], check: InvarianceCheck) -> float:
    """The fraction of rows whose prediction is the same for every value of the feature."""
    signature = model.signatures[SERVING_DEFAULT]
    n = len(next(iter(rows.values())))
    decisions = []
    for value in check.values:
        changed = dict(rows, **{check.feature: np.full(n, value)})
        decisions.append(_decision(_predict(signature, changed)))
    same = np.all([np.isclose(d, decisions[0], rtol=1e-3) for d in decisions], axis=0)
    return float(same.mean())


def directional(model, rows: dict[str, np.ndarray], check: DirectionalCheck, classes) -> float:
    """The fraction of rows whose output moved the expected way (or stayed, if saturated)."""
    signature = model.signatures[SERVING_DEFAULT]
    before = _predict(signature, rows)
    moved_rows = dict(rows, **{check.feature: rows[check.feature] + check.delta})
    after = _predict(signature, moved_rows)
    if check.output == "prediction":
        old, new = before["predictions"], after["predictions"]
    else:
        index = list(classes).index(check.output)
        old, new = before["probabilities"][:, index], after["probabilities"][:, index]
    ok = new >= old - 1e-6 if check.direction == "up" else new <= old + 1e-6
    return float(ok.mean())
